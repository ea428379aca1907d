# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
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
from cpython.object cimport PyObject
from libc.math cimport INFINITY, NAN, copysign, fabs, sqrt

cdef extern from "Python.h":
    # borrowed reference; NULL without an exception when absent
    PyObject* dict_lookup "PyDict_GetItemWithError"(object d, object key)
    double float_as_double "PyFloat_AsDouble"(object o) except? -1.0


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


cdef class RiskCore:
    """Running risk statistics of an equity curve (see ``CachingRiskCalculator``).

    C state: the number of returns, the Welford mean and M2 of the excess
    returns (and of the raw returns when ``risk_free != 0``), the sum of the
    squared negative excess returns, the last equity, the running peak and the
    maximum drawdown, and the cached ratios (valid while their bit is set in
    ``have``).
    """

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
        self.mdd = 0.0
        self.have = 0

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

    # -- updates ---------------------------------------------------------------
    def update(self, equity):
        """Add an equity value (> 0, finite); the first one is the starting equity."""
        cdef double e
        if PyFloat_CheckExact(equity):
            e = PyFloat_AS_DOUBLE(equity)
        else:
            e = _as_double(equity, "equity", True)
        if not (e > 0.0 and e < INFINITY):
            raise ValueError(f"equity must be finite and > 0, got {equity!r}")
        if self.started:
            self._add(e / self.equity_ - 1.0, e)
        else:
            self.started = True
            self.equity_ = self.peak = e

    def update_return(self, r):
        """Add a simple return (finite, > -1); the implied equity starts at 1.0."""
        cdef double x
        if PyFloat_CheckExact(r):
            x = PyFloat_AS_DOUBLE(r)
        else:
            x = _as_double(r, "r", False)
        if not (fabs(x) < INFINITY):
            raise ValueError(f"r must be finite, got {x!r}")
        if not x > -1.0:
            raise ValueError(f"r must be > -1 (equity stays positive), got {x!r}")
        if not self.started:
            self.started = True
            self.equity_ = self.peak = 1.0
        self._add(x, self.equity_ * (1.0 + x))

    cdef inline void _add(self, double r, double equity) noexcept:
        cdef double d, x, dd
        cdef Py_ssize_t n = self.n + 1
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
        else:
            dd = equity / self.peak - 1.0
            if dd < self.mdd:
                self.mdd = dd
        self.have = 0

    # -- results ---------------------------------------------------------------
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

    def max_drawdown(self):
        """Most negative ``equity / peak - 1`` so far (<= 0); NaN with no return."""
        return NAN if self.n == 0 else self.mdd

    def current_drawdown(self):
        """``equity / peak - 1`` now (<= 0); NaN before the first update."""
        if not self.started:
            return NAN
        return self.equity_ / self.peak - 1.0


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
    def _get(self, symbol):
        """``(quantity, avg_price, last_price, realized)`` of ``symbol``, or None."""
        cdef _Pos s = self.state.get(symbol)
        if s is None:
            return None
        return (s.qty, s.avg, s.last, s.realized)

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
