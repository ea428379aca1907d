# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
# cython: freethreading_compatible=True
"""Compiled hot paths of ``risk.py`` and ``portfolio.py``: eager O(1) updates.

Twin (specification): ``_risk_py.py``. Semantics: the module docs of
``admf_perf.risk`` (``CachingRiskCalculator``) and ``admf_perf.portfolio``
(``IncrementalPositionTracker``), which subclass these cores and add the
validation that is off the per-tick path, the defaults and the registration.

``RiskCore.update``/``update_return`` and ``PositionCore.on_price`` do all
their work when called (no pending list, nothing deferred to a read): a
float check, the validity test in C and the running statistics updated by
Welford's recurrence or by deltas.  Results are computed from the C state;
the ratios are cached (a bit mask cleared by every update).
"""

cimport cython
from cpython.exc cimport PyErr_Fetch, PyErr_Occurred, PyErr_Restore
from cpython.ref cimport Py_XDECREF
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.list cimport PyList_GET_ITEM
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.object cimport PyObject
from libc.math cimport INFINITY, NAN, copysign, fabs, isinf, log1p, pow, sqrt

from admf_perf._ext._ft cimport ADMF_FT, admf_cs, admf_cs_begin, admf_cs_end

cdef extern from "Python.h":
    # borrowed reference; NULL without an exception when absent
    PyObject* dict_lookup "PyDict_GetItemWithError"(object d, object key)
    double float_as_double "PyFloat_AsDouble"(object o) except? -1.0

cdef extern from "admf_ostree.h":
    void admf_ost_init(admf_ost* t) noexcept
    void admf_ost_free(admf_ost* t) noexcept
    int admf_ost_reserve(admf_ost* t, long long n) noexcept
    void admf_ost_insert(admf_ost* t, double v) noexcept
    double admf_ost_smallest_sum(const admf_ost* t, long long m) noexcept
    double admf_ost_quantile(const admf_ost* t, double q) noexcept


# ---------------------------------------------------------------------------
# conversions (the slow paths: a float object never takes them)
# ---------------------------------------------------------------------------

cdef double _as_double(object value, str name, bint allow_bool) except? -1.0:
    """``value`` as a C double; ``TypeError`` naming ``name`` when it is not a
    real number (``bool`` refused unless ``allow_bool``)."""
    cdef double v
    if not allow_bool and isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got bool")
    try:
        v = float_as_double(value)  # __float__, then __index__
    except TypeError:
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from None
    return v


cdef int _symbol_error(object symbol) except -1:
    """A lookup of ``symbol`` failed (its exception is set): always raises,
    a ``TypeError`` naming ``symbol`` when it is unhashable, else the
    lookup's own exception (e.g. from the key's ``__eq__``)."""
    cdef PyObject* etype
    cdef PyObject* evalue
    cdef PyObject* etb
    PyErr_Fetch(&etype, &evalue, &etb)
    try:
        hash(symbol)
    except TypeError:
        Py_XDECREF(etype)
        Py_XDECREF(evalue)
        Py_XDECREF(etb)
        raise TypeError(f"symbol must be hashable, got {type(symbol).__name__}") from None
    except BaseException:
        Py_XDECREF(etype)
        Py_XDECREF(evalue)
        Py_XDECREF(etb)
        raise
    PyErr_Restore(etype, evalue, etb)
    return -1


# ---------------------------------------------------------------------------
# CachingRiskCalculator
# ---------------------------------------------------------------------------

cdef enum:
    HAVE_SHARPE = 1
    HAVE_SORTINO = 2
    HAVE_VOL = 4
    OMEGA_SLOTS = 4


cdef double _cutoff(object cutoff) except? -1.0:
    """``cutoff`` as a fraction in [0, 1]; errors name it."""
    cdef double c = _as_double(cutoff, "cutoff", False)
    if not (c >= 0.0 and c <= 1.0):
        raise ValueError(f"cutoff must be in [0, 1], got {cutoff!r}")
    return c


cdef class RiskCore:
    """Running risk statistics of an equity curve (see ``CachingRiskCalculator``).

    C state: the number of returns, the Welford mean and M2 of the excess
    returns (and of the raw returns when ``risk_free != 0``), the sum of the
    squared negative excess returns, the last equity, the running peak and the
    maximum drawdown, and the cached ratios (valid while their bit is set in
    ``have``); every raw return, which the path metrics (Calmar, stability,
    Omega) and the order statistics (VaR, CVaR, tail ratio) read when asked,
    each from where it stopped; the benchmark's running statistics.
    """

    def __cinit__(self, *args, **kwargs):
        admf_ost_init(&self.ost)

    def __dealloc__(self):
        PyMem_Free(self.rets)
        admf_ost_free(&self.ost)

    def __init__(self, double periods_per_year=252.0, double risk_free=0.0):
        if not (periods_per_year > 0.0 and periods_per_year < INFINITY):
            raise ValueError(f"periods_per_year must be finite and > 0, got {periods_per_year!r}")
        if not (fabs(risk_free) < INFINITY):
            raise ValueError(f"risk_free must be finite, got {risk_free!r}")
        self.ppy = periods_per_year
        self.sqrt_ppy = sqrt(periods_per_year)
        self.rf = risk_free
        self.has_rf = risk_free != 0.0
        self._clear()

    cdef inline void _clear(self) noexcept:
        self.started = False
        self.n = 0
        self.mean = self._m2 = 0.0
        self.rmean = self.rm2 = 0.0
        self._down = 0.0
        self.equity_ = NAN
        self.peak = NAN
        self.have = 0
        PyMem_Free(self.rets)       # reset() under memory pressure gives it back
        self.rets = NULL
        self.rcap = 0
        self.n_path = 0
        self.growth = 1.0
        self.p_peak = 100.0
        self.mdd = 0.0
        self.s_cum = self.s_mean = self.s_m2 = self.s_co = 0.0
        admf_ost_free(&self.ost)
        self.om_used = self.om_next = 0
        self.bmode = 0
        self.blevel = NAN
        self.bmean = self.bm2 = self.bco = self.amean = self.am2 = 0.0

    @cython.critical_section
    def reset(self):
        """Forget every equity and return (called by ``CacheManager.clear_all``)."""
        self._clear()

    @property
    def periods_per_year(self):
        """Periods per year (annualization factor), fixed at construction."""
        return self.ppy

    @property
    def risk_free(self):
        """Risk-free return per period, fixed at construction."""
        return self.rf

    @property
    def count(self):
        """Number of returns so far."""
        return self.n

    @property
    def equity(self):
        """The last equity, actual or implied (NaN before the first update)."""
        return self.equity_

    @property
    def has_benchmark(self):
        """Whether the updates carry a benchmark (set by the first update)."""
        return self.bmode == 1

    # -- updates ---------------------------------------------------------------
    # (CachingRiskCalculator and its subclasses get these two as method
    # descriptors the interpreter specializes: _fast_methods below)
    @cython.critical_section
    def update(self, equity, benchmark=None):
        """Add an equity value (> 0, finite); the first one is the starting
        equity. ``benchmark``: the benchmark's level at the same time (> 0,
        finite), on every update or on none."""
        _update(self, equity, benchmark)

    @cython.critical_section
    def update_return(self, r, benchmark=None):
        """Add a simple return (finite, > -1); the implied equity starts at 1.0.
        ``benchmark``: the benchmark's return over the same period."""
        _update_return(self, r, benchmark)

    cdef int _bench_mode(self, object benchmark) except -1:
        """Refuse an update whose benchmark breaks the calculator's rule: one
        on every update, or on none (the first update sets it)."""
        if benchmark is None:
            raise ValueError("benchmark is required: this calculator got one on its first update, "
                             "so every update needs one (reset() to start over)")
        if self.bmode == 2:
            raise ValueError("benchmark: this calculator started without one; a benchmark is fed "
                             "from the first update on (reset() to start over)")
        return 0

    cdef inline int _add(self, double r, double equity) except -1:
        cdef double d, x
        cdef Py_ssize_t n = self.n + 1
        cdef Py_ssize_t cap
        cdef double* grown
        if n > self.rcap:
            cap = 64 if self.rcap == 0 else 2 * self.rcap
            grown = <double*>PyMem_Realloc(self.rets, cap * sizeof(double))
            if grown == NULL:
                raise MemoryError("CachingRiskCalculator: no memory for more returns")
            self.rets = grown
            self.rcap = cap
        self.rets[n - 1] = r
        self.n = n
        if self.has_rf:
            d = r - self.rmean
            self.rmean += d / n
            self.rm2 += d * (r - self.rmean)
            x = r - self.rf
        else:
            x = r
        d = x - self.mean
        self.mean += d / n
        self._m2 += d * (x - self.mean)
        if x < 0.0:
            self._down += x * x
        self.equity_ = equity
        if equity > self.peak:
            self.peak = equity
        self.have = 0
        return 0

    cdef inline void _add_bench(self, double b) noexcept:
        """The benchmark's return ``b`` for the return ``_add`` just added."""
        cdef Py_ssize_t n = self.n
        cdef double r = self.rets[n - 1]
        cdef double d = b - self.bmean
        cdef double a = r - b
        self.bmean += d / n
        self.bm2 += d * (b - self.bmean)
        self.bco += d * ((r - self.rf) - self.mean)     # self.mean: already updated
        d = a - self.amean
        self.amean += d / n
        self.am2 += d * (a - self.amean)

    cdef void _read_path(self) noexcept:
        """Bring growth, the drawdown and the stability sums up to the last
        return. The drawdown is empyrical's: of ``100 * cumprod(1 + r)``
        against its running max, as ``(c - max) / max``."""
        cdef Py_ssize_t i
        cdef double r, y, d, c
        for i in range(self.n_path, self.n):
            r = self.rets[i]
            self.growth *= 1.0 + r
            c = self.growth * 100.0
            if c > self.p_peak:
                self.p_peak = c
            d = (c - self.p_peak) / self.p_peak
            if d < self.mdd:
                self.mdd = d
            self.s_cum += log1p(r)
            y = self.s_cum
            d = y - self.s_mean
            self.s_mean += d / (i + 1)
            self.s_m2 += d * (y - self.s_mean)
            self.s_co += 0.5 * (i + 1) * (y - self.s_mean)  # the index's deviation: (i + 1) / 2
        self.n_path = self.n

    cdef int _read_sorted(self) except -1:
        """Bring the sorted returns up to the last return."""
        cdef Py_ssize_t i
        if admf_ost_reserve(&self.ost, self.n) < 0:
            raise MemoryError("CachingRiskCalculator: no memory to sort the returns")
        for i in range(self.ost.used, self.n):
            admf_ost_insert(&self.ost, self.rets[i])
        return 0

    cdef Py_ssize_t _omega_slot(self, double required) noexcept:
        """The Omega slot of ``required`` (the least recently added one is
        replaced when all are taken), brought up to the last return."""
        cdef int j
        cdef Py_ssize_t i
        cdef double thr, x
        for j in range(self.om_used):
            if self.om_req[j] == required:
                break
        else:
            if self.om_used < OMEGA_SLOTS:
                j = self.om_used
                self.om_used += 1
            else:
                j = self.om_next
                self.om_next = (j + 1) % OMEGA_SLOTS
            self.om_req[j] = required
            self.om_pos[j] = self.om_neg[j] = 0.0
            self.om_n[j] = 0
        thr = required if self.ppy == 1.0 else pow(1.0 + required, 1.0 / self.ppy) - 1.0
        for i in range(self.om_n[j], self.n):
            x = (self.rets[i] - self.rf) - thr
            if x > 0.0:
                self.om_pos[j] += x
            elif x < 0.0:
                self.om_neg[j] += x
        self.om_n[j] = self.n
        return j

    cdef int _need_benchmark(self, str metric) except -1:
        if self.bmode == 2:
            raise ValueError(f"{metric} needs a benchmark: feed update(equity, benchmark=level) "
                             "from the first update")
        return 0

    # -- results ---------------------------------------------------------------
    @cython.critical_section
    def volatility(self):
        """Annualized standard deviation of the returns (ddof=1); NaN below 2 returns."""
        cdef double m2
        if not self.have & HAVE_VOL:
            if self.n < 2:
                self.c_vol = NAN
            else:
                m2 = self.rm2 if self.has_rf else self._m2  # of the raw returns
                self.c_vol = sqrt(m2 / (self.n - 1)) * self.sqrt_ppy
            self.have |= HAVE_VOL
        return self.c_vol

    @cython.critical_section
    def sharpe_ratio(self):
        """``mean(excess) / std(excess, ddof=1) * sqrt(periods_per_year)``."""
        cdef double std
        if not self.have & HAVE_SHARPE:
            if self.n < 2:
                self.c_sharpe = NAN
            else:
                std = sqrt(self._m2 / (self.n - 1))
                if std == 0.0:  # all excess returns equal: empyrical's _zero_dispersion_std
                    self.c_sharpe = NAN if self.mean == 0.0 else copysign(INFINITY, self.mean)
                else:
                    self.c_sharpe = self.mean / std * self.sqrt_ppy
            self.have |= HAVE_SHARPE
        return self.c_sharpe

    @cython.critical_section
    def sortino_ratio(self):
        """``mean(excess) * ppy / (sqrt(mean(min(excess, 0) ** 2)) * sqrt(ppy))``."""
        cdef double annual, downside
        if not self.have & HAVE_SORTINO:
            if self.n < 2:
                self.c_sortino = NAN
            else:
                annual = self.mean * self.ppy
                downside = sqrt(self._down / self.n) * self.sqrt_ppy
                if downside == 0.0:
                    self.c_sortino = NAN if annual == 0.0 else copysign(INFINITY, annual)
                else:
                    self.c_sortino = annual / downside
            self.have |= HAVE_SORTINO
        return self.c_sortino

    @cython.critical_section
    def max_drawdown(self):
        """Most negative drawdown so far (<= 0), of the returns' cumulative
        product (the starting value counts as a peak); NaN with no return."""
        if self.n == 0:
            return NAN
        self._read_path()
        return self.mdd

    @cython.critical_section
    def current_drawdown(self):
        """``equity / peak - 1`` now (<= 0); NaN before the first update."""
        if not self.started:
            return NAN
        return self.equity_ / self.peak - 1.0

    @cython.critical_section
    def calmar_ratio(self):
        """Annual return (``prod(1 + r) ** (ppy / n) - 1``) over ``|max_drawdown|``;
        NaN without a drawdown or when infinite."""
        cdef double out
        if self.n == 0:
            return NAN
        self._read_path()
        if not self.mdd < 0.0:
            return NAN
        out = (pow(self.growth, 1.0 / (self.n / self.ppy)) - 1.0) / fabs(self.mdd)
        return NAN if isinf(out) else out

    @cython.critical_section
    def omega_ratio(self, threshold=0.0):
        """Sum of the excess returns above the per-period threshold over the
        sum below it (``threshold``: an annual required return, > -1)."""
        cdef double req = _as_double(threshold, "threshold", False), denom
        cdef Py_ssize_t j
        if not (fabs(req) < INFINITY):
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        if self.n < 2 or (self.ppy != 1.0 and req <= -1.0):
            return NAN
        j = self._omega_slot(req)
        denom = -1.0 * self.om_neg[j]
        return self.om_pos[j] / denom if denom > 0.0 else NAN

    @cython.critical_section
    def tail_ratio(self):
        """``|95th percentile| / |5th percentile|`` of the returns."""
        if self.n == 0:
            return NAN
        self._read_sorted()
        return fabs(admf_ost_quantile(&self.ost, 95.0 / 100.0)) / fabs(admf_ost_quantile(&self.ost, 5.0 / 100.0))

    @cython.critical_section
    def value_at_risk(self, cutoff=0.05):
        """The ``cutoff`` quantile of the returns (numpy's linear interpolation)."""
        cdef double c = _cutoff(cutoff)
        if self.n == 0:
            return NAN
        self._read_sorted()
        return admf_ost_quantile(&self.ost, (100.0 * c) / 100.0)

    @cython.critical_section
    def conditional_value_at_risk(self, cutoff=0.05):
        """Mean of the ``int((n - 1) * cutoff) + 1`` lowest returns."""
        cdef double c = _cutoff(cutoff)
        cdef Py_ssize_t k
        if self.n == 0:
            return NAN
        self._read_sorted()
        k = <Py_ssize_t>((self.n - 1) * c) + 1
        return admf_ost_smallest_sum(&self.ost, k) / k

    @cython.critical_section
    def stability_of_timeseries(self):
        """R squared of the cumulative log returns against the bar index."""
        cdef double nn, sxx, rho
        if self.n < 2:
            return NAN
        self._read_path()
        nn = <double>self.n
        sxx = nn * (nn * nn - 1.0) / 12.0
        if self.s_m2 == 0.0:  # a flat curve: scipy's linregress gives r = NaN (0 if it had a slope)
            return NAN if self.s_co == 0.0 else 0.0
        rho = self.s_co / sqrt(sxx * self.s_m2)
        rho = 1.0 if rho > 1.0 else (-1.0 if rho < -1.0 else rho)
        return rho * rho

    @cython.critical_section
    def beta(self):
        """Covariance of the returns with the benchmark's over its variance;
        NaN below 2 returns or with a variance under 1e-30."""
        self._need_benchmark("beta")
        if self.n < 2 or self.bm2 / self.n < 1.0e-30:
            return NAN
        return self.bco / self.bm2

    @cython.critical_section
    def alpha(self):
        """``(1 + mean(excess - beta * benchmark excess)) ** ppy - 1``."""
        self._need_benchmark("alpha")
        if self.n < 2:
            return NAN
        return pow(1.0 + (self.mean - self.beta() * (self.bmean - self.rf)), self.ppy) - 1.0

    @cython.critical_section
    def information_ratio(self):
        """``mean(r - benchmark) / std(r - benchmark, ddof=1)`` (empyrical's
        ``excess_sharpe``, not annualized)."""
        cdef double std
        self._need_benchmark("information_ratio")
        if self.n < 2:
            return NAN
        std = sqrt(self.am2 / (self.n - 1))
        if std == 0.0:
            return NAN if self.amean == 0.0 else copysign(INFINITY, self.amean)
        return self.amean / std


# -- update and update_return ------------------------------------------------

cdef object _update(RiskCore self, object equity, object benchmark):
    cdef double e, b
    if PyFloat_CheckExact(equity):
        e = PyFloat_AS_DOUBLE(equity)
    else:
        e = _as_double(equity, "equity", True)
    if not (e > 0.0 and e < INFINITY):
        raise ValueError(f"equity must be finite and > 0, got {equity!r}")
    if benchmark is None and self.bmode != 1:
        if self.started:
            self._add(e / self.equity_ - 1.0, e)
        else:
            self.started = True
            self.bmode = 2
            self.equity_ = self.peak = e
        return None
    self._bench_mode(benchmark)
    b = _as_double(benchmark, "benchmark", True)
    if not (b > 0.0 and b < INFINITY):
        raise ValueError(f"benchmark must be finite and > 0, got {benchmark!r}")
    if self.started:
        self._add(e / self.equity_ - 1.0, e)
        self._add_bench(b / self.blevel - 1.0)
    else:
        self.started = True
        self.bmode = 1
        self.equity_ = self.peak = e
    self.blevel = b
    return None


cdef object _update_return(RiskCore self, object r, object benchmark):
    cdef double x, b = 0.0
    if PyFloat_CheckExact(r):
        x = PyFloat_AS_DOUBLE(r)
    else:
        x = _as_double(r, "r", False)
    if not (fabs(x) < INFINITY):
        raise ValueError(f"r must be finite, got {x!r}")
    if not x > -1.0:
        raise ValueError(f"r must be > -1 (equity stays positive), got {x!r}")
    if benchmark is not None or self.bmode == 1:
        self._bench_mode(benchmark)
        b = _as_double(benchmark, "benchmark", False)
        if not (b > -1.0 and b < INFINITY):
            raise ValueError(f"benchmark must be a finite return > -1, got {benchmark!r}")
    if not self.started:
        self.started = True
        self.bmode = 2 if benchmark is None else 1
        self.equity_ = self.peak = 1.0
        self.blevel = 1.0
    self._add(x, self.equity_ * (1.0 + x))
    if self.bmode == 1:
        self._add_bench(b)
        self.blevel *= 1.0 + b
    return None


# ``CachingRiskCalculator`` (incremental/risk.py) is a Python subclass of
# RiskCore, and it and each of its subclasses get ``update`` and
# ``update_return`` as METH_FASTCALL | METH_KEYWORDS method descriptors made
# for that class (PyDescr_NewMethod, public API; see admf_fastmeth.h): the
# interpreter specializes their calls on that exact type, while a call of
# Cython's def method takes the generic path (451.9 -> see docs/bench.md).

cdef extern from *:
    """
    #include "admf_fastmeth.h"
    static const char* const __pyx_risk_update_names[] = {"equity", "benchmark"};
    static const char* const __pyx_risk_update_return_names[] = {"r", "benchmark"};
    static PyMethodDef __pyx_risk_fast_defs[2] = {
        {"update", NULL, METH_FASTCALL | METH_KEYWORDS,
         "update($self, /, equity, benchmark=None)\\n--\\n\\n"
         "Add an equity value (> 0, finite); the first one is the starting equity.\\n"
         "``benchmark``: the benchmark's level at the same time (> 0, finite), on\\n"
         "every update or on none."},
        {"update_return", NULL, METH_FASTCALL | METH_KEYWORDS,
         "update_return($self, /, r, benchmark=None)\\n--\\n\\n"
         "Add a simple return (finite, > -1); the implied equity starts at 1.0.\\n"
         "``benchmark``: the benchmark's return over the same period."},
    };
    """
    ctypedef struct PyMethodDef:
        const char* ml_name
    const char** _UPDATE_NAMES "__pyx_risk_update_names"
    const char** _UPDATE_RETURN_NAMES "__pyx_risk_update_return_names"
    PyMethodDef* _FAST_DEFS "__pyx_risk_fast_defs"
    int admf_bind_args(const char* fname, const char** names, Py_ssize_t nreq, Py_ssize_t n,
                       PyObject** args, Py_ssize_t nargs, PyObject* kwnames,
                       PyObject** out) except -1
    object admf_fast_method(object tp, PyMethodDef* definition, void* impl)
    bint admf_is_fast(object d, PyMethodDef* definition) noexcept


cdef inline object _fast_call(int which, object self, PyObject** args, Py_ssize_t nargs,
                              PyObject* kwnames):
    """update (``which`` 0) or update_return (1) from a vectorcall: the
    common call (one positional) straight through, any other bound as a
    Python function's would be."""
    cdef PyObject* a[2]
    a[0] = NULL
    a[1] = <PyObject*>None
    if kwnames == NULL and nargs == 1:
        a[0] = args[0]
    else:
        admf_bind_args(_FAST_DEFS[which].ml_name, _UPDATE_RETURN_NAMES if which else _UPDATE_NAMES,
                       1, 2, args, nargs, kwnames, a)
    if ADMF_FT:                     # free-threaded builds: one update at a time
        return _update_locked(which, <RiskCore>self, a)
    if which:
        return _update_return(<RiskCore>self, <object>a[0], <object>a[1])
    return _update(<RiskCore>self, <object>a[0], <object>a[1])


cdef object _update_locked(int which, RiskCore self, PyObject** a):
    cdef admf_cs cs
    admf_cs_begin(&cs, self)
    try:
        if which:
            return _update_return(self, <object>a[0], <object>a[1])
        return _update(self, <object>a[0], <object>a[1])
    finally:
        admf_cs_end(&cs)


cdef object _update_fast(object self, PyObject** args, Py_ssize_t nargs, PyObject* kwnames):
    return _fast_call(0, self, args, nargs, kwnames)


cdef object _update_return_fast(object self, PyObject** args, Py_ssize_t nargs, PyObject* kwnames):
    return _fast_call(1, self, args, nargs, kwnames)


def _fast_methods(type cls):
    """Give ``cls`` (a Python subclass of RiskCore) ``update`` and
    ``update_return`` as method descriptors made for it, unless a class in
    its MRO defines its own. Called for ``CachingRiskCalculator`` and, by its
    ``__init_subclass__``, for each subclass."""
    cdef int which
    if not issubclass(cls, RiskCore) or cls is RiskCore:
        raise TypeError(f"cls must be a Python subclass of RiskCore, got {cls!r}")
    for which, name in enumerate(("update", "update_return")):
        for owner in cls.__mro__:
            if name in owner.__dict__:
                break
        if owner is RiskCore or admf_is_fast(owner.__dict__[name], &_FAST_DEFS[which]):
            setattr(cls, name, admf_fast_method(
                cls, &_FAST_DEFS[which], <void*>(_update_return_fast if which else _update_fast)))


# ---------------------------------------------------------------------------
# IncrementalPositionTracker
# ---------------------------------------------------------------------------

@cython.final
@cython.freelist(64)
cdef class _Pos:
    """One symbol's state."""


cdef inline _Pos _new_pos(double last):
    cdef _Pos s = _Pos.__new__(_Pos)
    s.last = last
    return s


# Symbols by identity. A feed hands the same str object for a symbol on every
# tick, and a dict lookup of it still costs ~180 instructions (its entry holds
# an equal but different str: a hash match, then a string compare), two
# thirds of on_price. So a small open-addressing table keyed by the object's
# address (linear probing, load <= 1/2) sits in front of ``state``: a symbol
# object found in ``state`` once maps to the same position while it is in
# the table. The same object always finds the same entry in ``state`` too
# (entries are never removed or replaced, only all cleared by reset, which
# clears this), so results are those of the dict alone.
#
# The table starts at SEEN_MIN slots and doubles while it is smaller than
# four times the number of symbols (up to SEEN_MAX); when it is half full
# and may not grow (a feed that makes a new object per tick), it is emptied.
# Probing, not a direct-mapped table: which symbols share a slot depends on
# where the allocator put them, and a collision evicting a symbol on every
# round made the cost of a tick vary from one process to the next (a 10
# symbol feed: 531 -> 555 cycles).
#
# Python lists hold the symbols and positions: the collector sees them, and
# an address is never reused while its object is in the table. The lists
# are replaced whole, never cleared slot by slot: the old ones are released
# when the table is consistent again, so a symbol's __del__ that comes back
# into the tracker finds a valid table.
cdef enum:
    SEEN_MIN_BITS = 6
    SEEN_MAX = 1 << 14


cdef extern from "admf_addr.h":
    size_t admf_addr_slot(PyObject* p, int shift) noexcept nogil


cdef class PositionCore:
    """Positions and running totals (see ``IncrementalPositionTracker``).

    ``state`` maps symbol -> ``_Pos`` (quantity, avg_price, last_price,
    realized); cash, market value, unrealized and realized P&L are running
    sums updated by deltas.
    """

    def __cinit__(self, *args, **kwargs):
        self.state = {}
        self.flat_tolerance = 1e-12
        self._seen_empty(64 - SEEN_MIN_BITS)

    def __init__(self, double initial_cash=0.0):
        if not (fabs(initial_cash) < INFINITY):
            raise ValueError(f"initial_cash must be finite, got {initial_cash!r}")
        self.initial = initial_cash
        self.reset()

    @cython.critical_section
    def reset(self):
        """Back to ``initial_cash`` and no positions."""
        cdef list _held = [self._seen_keys, self._seen_pos]  # released on return
        self._seen_empty(self._seen_shift)
        self.state.clear()
        self.cash_ = self.initial
        self.mv = self.upnl = self.realized = 0.0

    @property
    def initial_cash(self):
        return self.initial

    # -- events ----------------------------------------------------------------
    @cython.critical_section
    def on_price(self, symbol, price):
        """Mark ``symbol`` at ``price`` (finite, > 0)."""
        cdef double p, q, d
        cdef _Pos s
        if PyFloat_CheckExact(price):
            p = PyFloat_AS_DOUBLE(price)
        else:
            p = self._price_of(symbol, price)
        if not (p > 0.0 and p < INFINITY):
            raise ValueError(f"price must be finite and > 0, got {price!r}")
        s = self._find(symbol)
        if s is None:
            self._insert(symbol, p)
            return
        q = s.qty
        if q != 0.0:
            d = q * (p - s.last)
            self.mv += d
            self.upnl += d
        s.last = p

    cdef _Pos _find(self, object symbol):
        """``symbol``'s position, or None; raises what the lookup raises
        (a TypeError naming ``symbol`` when it is unhashable)."""
        cdef size_t i = admf_addr_slot(<PyObject*>symbol, self._seen_shift)
        cdef PyObject* k
        cdef PyObject* o
        cdef _Pos s
        while True:
            k = PyList_GET_ITEM(self._seen_keys, i)
            if k == <PyObject*>symbol:
                return <_Pos>PyList_GET_ITEM(self._seen_pos, i)
            if k == <PyObject*>None:
                break
            i = (i + 1) & self._seen_mask
        o = dict_lookup(self.state, symbol)
        if o == NULL:
            if PyErr_Occurred() != NULL:
                _symbol_error(symbol)
            return None
        s = <_Pos>o
        self._seen(symbol, s)
        return s

    cdef _Pos _insert(self, object symbol, double last):
        """A new position for ``symbol``, marked at ``last``, in ``state``
        and in the identity table."""
        cdef _Pos s = _new_pos(last)
        self.state[symbol] = s
        self._seen(symbol, s)
        return s

    cdef int _seen(self, object symbol, _Pos s) except -1:
        """Put ``symbol`` -> ``s`` in the identity table (``symbol`` is not
        in it: it was just missed there, or is new). Lists it replaces are
        released on return, when the table is consistent."""
        cdef list old_keys = self._seen_keys, old_pos = self._seen_pos
        cdef size_t i, cap = self._seen_mask + 1
        if <size_t>(self._seen_used + 1) * 2 > cap:
            if cap < SEEN_MAX and cap < <size_t>4 * <size_t>len(self.state):
                self._seen_empty(self._seen_shift - 1)
                for i in range(cap):        # grown: keep what it held
                    if PyList_GET_ITEM(old_keys, i) != <PyObject*>None:
                        self._seen_put(<object>PyList_GET_ITEM(old_keys, i),
                                       <object>PyList_GET_ITEM(old_pos, i))
            else:
                self._seen_empty(self._seen_shift)
        self._seen_put(symbol, s)
        return 0

    cdef inline void _seen_put(self, object symbol, object s) noexcept:
        """Put ``symbol`` -> ``s`` in a free slot (there is room)."""
        cdef size_t i = admf_addr_slot(<PyObject*>symbol, self._seen_shift)
        while PyList_GET_ITEM(self._seen_keys, i) != <PyObject*>None:
            i = (i + 1) & self._seen_mask
        self._seen_keys[i] = symbol     # the slot held None: no __del__ runs
        self._seen_pos[i] = s
        self._seen_used += 1

    cdef int _seen_empty(self, int shift) except -1:
        """A new empty table of ``2 ** (64 - shift)`` slots. The caller
        holds the old lists until the table is consistent."""
        cdef Py_ssize_t n = (<Py_ssize_t>1) << (64 - shift)
        keys = [None] * n
        pos = [None] * n
        self._seen_keys = keys
        self._seen_pos = pos
        self._seen_shift = shift
        self._seen_mask = <size_t>(n - 1)
        self._seen_used = 0
        return 0

    cdef double _price_of(self, object symbol, object price) except? -1.0:
        try:
            return _as_double(price, "price", True)
        except TypeError:
            try:
                hash(symbol)
            except TypeError:
                raise TypeError(f"symbol must be hashable, got {type(symbol).__name__}") from None
            raise

    @cython.critical_section
    def _fill(self, symbol, double q, double p, double c):
        """Apply a validated fill (``q`` != 0, ``p`` > 0, all finite)."""
        cdef double old_q, old_a, old_last, new_q, new_a, gain
        cdef _Pos s = self._find(symbol)
        if s is None:
            s = self._insert(symbol, p)
        old_q = s.qty
        old_a = s.avg
        old_last = s.last
        new_q = old_q + q
        if old_q == 0.0 or (old_q > 0.0) == (q > 0.0):  # open or add
            gain = 0.0
            new_a = p if old_q == 0.0 else (old_q * old_a + q * p) / new_q
        elif fabs(q) <= fabs(old_q):  # reduce or close
            gain = (p - old_a) * -q
            new_a = old_a
        else:  # flip: close all of old_q, open the rest at p
            gain = (p - old_a) * old_q
            new_a = p
        if fabs(new_q) <= self.flat_tolerance * max(fabs(old_q), fabs(q)):
            new_q = new_a = 0.0
        gain -= c
        s.qty = new_q
        s.avg = new_a
        s.last = p
        s.realized += gain
        self.cash_ -= q * p + c
        self.realized += gain
        self.mv += new_q * p - old_q * old_last
        self.upnl += new_q * (p - new_a) - old_q * (old_last - old_a)

    # -- reads -----------------------------------------------------------------
    @cython.critical_section
    def _get(self, symbol):
        """``(quantity, avg_price, last_price, realized)`` of ``symbol``, or None."""
        cdef _Pos s = self.state.get(symbol)
        if s is None:
            return None
        return (s.qty, s.avg, s.last, s.realized)

    @cython.critical_section
    def _open(self):
        """``[(symbol, quantity, avg_price, last_price, realized), ...]`` of
        the non-flat positions."""
        cdef _Pos s
        return [(symbol, s.qty, s.avg, s.last, s.realized)
                for symbol, s in self.state.items() if s.qty != 0.0]

    @property
    def cash(self):
        """Cash: initial cash minus what fills spent (commissions included)."""
        return self.cash_

    @property
    def total_value(self):
        """Cash plus the market value of every position."""
        return self.cash_ + self.mv

    @property
    def market_value(self):
        """Sum of the positions' market values (signed: shorts are negative)."""
        return self.mv

    @property
    def realized_pnl(self):
        """Realized P&L of every symbol, net of commissions."""
        return self.realized

    @property
    def unrealized_pnl(self):
        """Sum of ``quantity * (last_price - avg_price)``."""
        return self.upnl
