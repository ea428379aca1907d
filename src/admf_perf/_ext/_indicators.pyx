# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
"""Compiled incremental indicators (O(1) per bar), equal to TA-Lib's.

Twin (specification): ``_indicators_py.py``. Semantics: docs/indicators.md.

Every indicator keeps its whole state in C: a plain struct of scalars (the
``st`` field of each class, no pointers) and one malloc'd block of doubles
(``_buf``: ring buffers, monotonic deques).  The base class handles what is
common through that description (``_stp``/``_sts`` and ``_buf``/``_nbuf``):
``copy()``, pickling (``__reduce__`` + a state tuple holding the struct's and
the block's bytes), ``peek`` (save both, step, restore) and ``reset``.

One bar is one call of the virtual ``_step(inputs)`` (``noexcept nogil``),
which leaves the outputs in ``_out``; the batch loops call it without the
GIL.  The streaming ``update`` of the gated classes calls their inline
``_push`` directly; every input has a NaN default with a private payload
(``MISSING``), so a missing argument is found on the (already exceptional)
non-finite path and reported as the TypeError of docs/indicators.md.

Numerics (docs/indicators.md): rolling sums are Neumaier-compensated pairs.
SMA sums its per-bar differences plainly in blocks of ``SMA_FOLD`` bars and
folds each block into the pair.  StdDev/BollingerBands keep exact window
sums of x and of x*x (squares split with Veltkamp/Dekker, no fma needed) and
form the variance in double-double, so a level of 1e4 with a deviation of
1e-4 loses nothing.  Wilder smoothing and EMAs are written with one
multiply-add on the loop-carried chain (equal to TA-Lib within an ulp or so);
ATR's batch loop uses the FMA instruction when the CPU has it (bit-identical
to libm's ``fma``, which ``update`` uses).  Batch loops keep the state in
locals (registers) and write it back at the end; StdDev/BollingerBands run
in blocks of two passes; RollingMax's batch uses van Herk/Gil-Werman block
maxima once the window lies inside the array and then rebuilds its deque.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.object cimport PyObject
from cpython.ref cimport Py_XDECREF
from cpython.tuple cimport PyTuple_GET_SIZE
from libc.float cimport DBL_MAX
from libc.math cimport INFINITY, NAN, fabs, fma, isfinite, isnan, sqrt
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

from numbers import Integral, Real

import numpy as np

__all__ = [
    "ADX", "ATR", "BollingerBands", "DEMA", "EMA", "KAMA", "MACD", "Momentum", "OBV",
    "ROC", "RSI", "RollingMax", "RollingMin", "SMA", "StdDev", "Stochastic", "TEMA",
    "VWAP", "WMA",
]

ctypedef long long i64

#: TA-Lib's TA_EPSILON: its scale-aware zero tests (KAMA's sum of changes,
#: STOCH's range, a variance below (1e-14 * mean)^2) are |v| <= TA_EPS * scale.
cdef double TA_EPS = 1e-14

cdef enum:
    BLOCK = 256     # bars per block of the two-pass batch loops (StdDev, BollingerBands)


# ---------------------------------------------------------------------------
# Numeric helpers
# ---------------------------------------------------------------------------

cdef inline void neu_add(double* s, double* c, double x) noexcept nogil:
    """(s, c) += x, Neumaier."""
    cdef double t = s[0] + x
    if fabs(s[0]) >= fabs(x):
        c[0] += (s[0] - t) + x
    else:
        c[0] += (x - t) + s[0]
    s[0] = t


cdef inline void roll_add(double* s, double* c, double x, double o) noexcept nogil:
    """(s, c) += x - o exactly: the difference is split (TwoSum), then one
    compensated addition on the running pair (branch-free TwoSum, so sums
    that cross zero cost no mispredictions)."""
    cdef double d = x - o
    cdef double bb = d - x
    cdef double e = (x - (d - bb)) + (-o - bb)
    cdef double t = s[0] + d
    cdef double bp = t - s[0]
    c[0] += ((s[0] - (t - bp)) + (d - bp)) + e
    s[0] = t


cdef inline void roll_add_fast(double* s, double* c, double d) noexcept nogil:
    """(s, c) += d, Neumaier."""
    cdef double t = s[0] + d
    if fabs(s[0]) >= fabs(d):
        c[0] += (s[0] - t) + d
    else:
        c[0] += (d - t) + s[0]
    s[0] = t


cdef inline double true_range(double h, double l, double pc) noexcept nogil:
    """TA-Lib's TRANGE, in its order of comparisons."""
    cdef double r = h - l
    cdef double t = fabs(h - pc)
    r = t if t > r else r
    t = fabs(l - pc)
    return t if t > r else r


cdef struct Ema:
    i64 k          # values seen
    double sum     # seeding sum
    double v       # current EMA


cdef inline double ema_push(Ema* e, double x, i64 n, double alpha) noexcept nogil:
    """TA-Lib's EMA: the SMA of the first n values (summed in order) at
    value n, then ``prev * (1 - alpha) + x * alpha`` (TA-Lib's
    ``(x - prev) * alpha + prev`` with one operation less on the dependency
    chain; equal within an ulp or so); NaN before."""
    e.k += 1
    if e.k < n:
        e.sum += x
        return NAN
    if e.k == n:
        e.sum += x
        e.v = e.sum / <double>n
        return e.v
    e.v = e.v * (1.0 - alpha) + x * alpha
    return e.v


# ---------------------------------------------------------------------------
# Argument checking (Python level, not on the hot path)
# ---------------------------------------------------------------------------

cdef extern from *:
    """
    /* The default of every update/peek input: a NaN with a private payload, so
       a missing argument costs nothing on the hot path (it is not finite, and
       only the non-finite path looks at the payload). */
    #define ADMF_MISSING_BITS 0x7FFADF00000DEAD1ULL
    static double admf_missing(void) {
        union { unsigned long long u; double d; } v; v.u = ADMF_MISSING_BITS; return v.d;
    }
    static int admf_is_missing(double x) {
        union { unsigned long long u; double d; } v; v.d = x; return v.u == ADMF_MISSING_BITS;
    }
    """
    double admf_missing() noexcept nogil
    bint admf_is_missing(double x) noexcept nogil

cdef double MISSING = admf_missing()


cdef extern from *:
    """
    /* The (x, y, z) result of update: the tuple returned last time is reused
       when nobody else holds it any more (refcount 1: only this indicator),
       and so are its floats -- the result-tuple reuse of CPython's zip() and
       enumerate().  Not where a tuple caches its hash (3.14) or refcounts are
       not exact (free-threaded builds): there a new tuple every time. */
    static PyObject* admf_tuple3(PyObject** cache, double a, double b, double c) {
        PyObject* t = *cache;
    #if PY_VERSION_HEX < 0x030E0000 && !defined(Py_GIL_DISABLED)
        if (t != NULL && Py_REFCNT(t) == 1) {
            double v[3]; v[0] = a; v[1] = b; v[2] = c;
            for (int i = 0; i < 3; i++) {
                PyObject* f = PyTuple_GET_ITEM(t, i);
                if (Py_REFCNT(f) == 1 && PyFloat_CheckExact(f)) {
                    ((PyFloatObject*)f)->ob_fval = v[i];
                } else {
                    PyObject* nf = PyFloat_FromDouble(v[i]);
                    if (nf == NULL) return NULL;
                    PyTuple_SET_ITEM(t, i, nf);
                    Py_DECREF(f);
                }
            }
            Py_INCREF(t);
            return t;
        }
    #endif
        PyObject* nt = PyTuple_New(3);
        if (nt == NULL) return NULL;
        PyObject* f0 = PyFloat_FromDouble(a);
        PyObject* f1 = f0 ? PyFloat_FromDouble(b) : NULL;
        PyObject* f2 = f1 ? PyFloat_FromDouble(c) : NULL;
        if (f2 == NULL) { Py_XDECREF(f0); Py_XDECREF(f1); Py_DECREF(nt); return NULL; }
        PyTuple_SET_ITEM(nt, 0, f0);
        PyTuple_SET_ITEM(nt, 1, f1);
        PyTuple_SET_ITEM(nt, 2, f2);
        Py_XDECREF(t);
        Py_INCREF(nt);
        *cache = nt;
        return nt;
    }
    """
    object admf_tuple3(PyObject** cache, double a, double b, double c)


cdef object _arity_error(object self, str method, Py_ssize_t got):
    names = self._input_names()
    raise TypeError(f"{type(self).__name__}.{method}() takes {len(names)} input"
                    f"{'s' if len(names) != 1 else ''} ({', '.join(names)}), got {got}")


cdef tuple _given(tuple values, tuple more):
    """The inputs actually passed: the leading non-missing values, then more."""
    cdef list out = []
    for v in values:
        if admf_is_missing(v):
            break
        out.append(v)
    return tuple(out) + more


cdef object _nonfinite(object self, str method, tuple values, tuple more):
    """A non-finite input: TypeError when it is a missing argument, else ValueError."""
    cdef double v
    names = (<_Indicator>self)._innames
    for v in values:
        if admf_is_missing(v):
            _arity_error(self, method, len(_given(values, more)))
    if PyTuple_GET_SIZE(more):
        _arity_error(self, method, len(values) + len(more))
    for name, v in zip(names, values):
        if not isfinite(v):
            _bad_input(self, method, name, v)

cdef int _check_int(str cls, str name, object value, int minimum) except -1:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{cls}: {name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{cls}: {name} must be >= {minimum}, got {value}")
    if value > 100000:   # TA-Lib's upper bound; the buffers are sized by it
        raise ValueError(f"{cls}: {name} must be <= 100000, got {value}")
    return <int>value


cdef double _check_real(str cls, str name, object value) except? -1.0:
    cdef double v
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{cls}: {name} must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not isfinite(v):
        raise ValueError(f"{cls}: {name} must be finite, got {value!r}")
    return v


cdef object _bad_input(object self, str method, str name, double x):
    raise ValueError(f"{type(self).__name__}.{method}: input {name!r} must be finite, got {x!r}")


# ---------------------------------------------------------------------------
# Base
# ---------------------------------------------------------------------------

cdef class _Indicator:
    """State common to every indicator (see the module docstring)."""

    cdef i64 _count
    cdef int _nin, _nout
    cdef double _out[3]
    cdef double* _buf
    cdef double* _save
    cdef Py_ssize_t _nbuf
    cdef void* _stp
    cdef size_t _sts
    cdef object _source
    cdef tuple _args
    cdef tuple _innames
    cdef double _out_saved0, _out_saved1, _out_saved2
    cdef PyObject* _tup     # the last (x, y, z) result, for reuse (admf_tuple3)

    def __cinit__(self, *args, **kwargs):
        self._buf = NULL
        self._save = NULL
        self._tup = NULL
        self._nbuf = 0
        self._stp = NULL
        self._sts = 0
        self._count = 0
        self._out[0] = NAN
        self._out[1] = NAN
        self._out[2] = NAN

    def __dealloc__(self):
        free(self._buf)
        free(self._save)
        Py_XDECREF(self._tup)
        self._tup = NULL

    cdef int _setup(self, void* stp, size_t sts, Py_ssize_t nbuf) except -1:
        """Point the base at the subclass's struct and allocate the buffer
        block (and the scratch copy that peek uses)."""
        self._stp = stp
        self._sts = sts
        self._nbuf = nbuf
        self._buf = <double*>calloc(nbuf + 1, sizeof(double))
        self._save = <double*>malloc((nbuf + 1) * sizeof(double) + sts + 8)
        if self._buf == NULL or self._save == NULL:
            raise MemoryError()
        return 0

    cdef void _clear(self) noexcept nogil:
        """Fresh state (subclasses set non-zero initial fields after this)."""
        memset(self._stp, 0, self._sts)
        memset(self._buf, 0, self._nbuf * sizeof(double))
        self._count = 0
        self._out[0] = NAN
        self._out[1] = NAN
        self._out[2] = NAN

    cdef void _init(self) noexcept nogil:
        self._clear()

    cdef void _step(self, double* inp) noexcept nogil:
        pass

    cdef void _push_state(self) noexcept nogil:
        memcpy(self._save, self._buf, self._nbuf * sizeof(double))
        memcpy(<char*>(self._save + self._nbuf) + 8, self._stp, self._sts)
        memcpy(self._save + self._nbuf, &self._count, 8)
        self._out_saved0 = self._out[0]
        self._out_saved1 = self._out[1]
        self._out_saved2 = self._out[2]

    cdef void _pop_state(self) noexcept nogil:
        memcpy(self._buf, self._save, self._nbuf * sizeof(double))
        memcpy(self._stp, <char*>(self._save + self._nbuf) + 8, self._sts)
        memcpy(&self._count, self._save + self._nbuf, 8)
        self._out[0] = self._out_saved0
        self._out[1] = self._out_saved1
        self._out[2] = self._out_saved2

    cdef object _result(self):
        if self._nout == 1:
            return self._out[0]
        if self._nout == 2:
            return (self._out[0], self._out[1])
        return admf_tuple3(&self._tup, self._out[0], self._out[1], self._out[2])

    # -- public ----------------------------------------------------------------

    @property
    def value(self):
        """The last output (NaN, or a tuple of NaNs, before the first)."""
        return self._result()

    @property
    def ready(self):
        """True once the output is no longer NaN."""
        return not isnan(self._out[0])

    @property
    def count(self):
        """Bars consumed."""
        return self._count

    @property
    def source(self):
        """The indicator whose outputs feed this one, or None."""
        return self._source

    def reset(self):
        """Back to the freshly constructed state (the source too)."""
        self._init()
        if self._source is not None:
            self._source.reset()

    def copy(self):
        """An independent indicator with the same state (the source copied)."""
        cdef _Indicator other = type(self)(*self._args)
        other._copy_from(self)
        if self._source is not None:
            other._source = self._source.copy()
        return other

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    cdef void _copy_from(self, _Indicator src) noexcept:
        memcpy(self._buf, src._buf, self._nbuf * sizeof(double))
        memcpy(self._stp, src._stp, self._sts)
        self._count = src._count
        self._out[0] = src._out[0]
        self._out[1] = src._out[1]
        self._out[2] = src._out[2]

    def __reduce__(self):
        return (type(self), self._args, self.__getstate__())

    def __getstate__(self):
        return (
            1,
            self._count,
            (self._out[0], self._out[1], self._out[2]),
            PyBytes_FromStringAndSize(<char*>self._stp, self._sts),
            PyBytes_FromStringAndSize(<char*>self._buf, self._nbuf * sizeof(double)),
            self._source,
        )

    def __setstate__(self, state):
        version, count, out, st, buf, source = state
        if version != 1 or len(st) != self._sts or len(buf) != self._nbuf * sizeof(double):
            raise ValueError(f"{type(self).__name__}: incompatible pickled state")
        if source is not None:
            self._check_source(source)
        memcpy(self._stp, PyBytes_AS_STRING(st), self._sts)
        memcpy(self._buf, PyBytes_AS_STRING(buf), self._nbuf * sizeof(double))
        self._count = count
        self._out[0], self._out[1], self._out[2] = out
        self._source = source

    cdef int _check_source(self, object source) except -1:
        if not isinstance(source, _Indicator):
            raise TypeError(f"{type(self).__name__}: source must be an indicator of this "
                            f"module, got {type(source).__name__}")
        if (<_Indicator>source)._nout != 1:
            raise TypeError(f"{type(self).__name__}: source must be a single-output indicator, "
                            f"{type(source).__name__} has {(<_Indicator>source)._nout} outputs")
        if source is self:
            raise ValueError(f"{type(self).__name__}: an indicator cannot be its own source")
        return 0

    def _input_names(self):
        """Names of update's inputs (the source's when composed)."""
        if self._source is not None:
            return self._source._input_names()
        return self._innames

    def __repr__(self):
        args = ", ".join(repr(a) for a in self._args)
        src = f", source={self._source!r}" if self._source is not None else ""
        return f"{type(self).__name__}({args}{src})"

    # -- batch -----------------------------------------------------------------

    cdef list _arrays(self, tuple arrays):
        """float64 C-contiguous 1-D arrays of equal length, or TypeError/ValueError."""
        if PyTuple_GET_SIZE(arrays) != self._nin:
            raise TypeError(f"{type(self).__name__}.batch() takes {self._nin} input"
                            f"{'s' if self._nin != 1 else ''} ({', '.join(self._innames)}), "
                            f"got {PyTuple_GET_SIZE(arrays)}")
        out = []
        for name, a in zip(self._innames, arrays):
            arr = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
            if arr.ndim != 1:
                if arr.ndim == 0:
                    arr = arr.reshape(1)
                else:
                    raise ValueError(f"{type(self).__name__}.batch: {name} must be 1-D, "
                                     f"got shape {arr.shape}")
            out.append(arr)
        n = len(out[0])
        for name, arr in zip(self._innames, out):
            if len(arr) != n:
                raise ValueError(f"{type(self).__name__}.batch: arrays of different lengths "
                                 f"({', '.join(str(len(x)) for x in out)})")
        return out

    cdef object _bad_batch(self, list arrs):
        for name, arr in zip(self._innames, arrs):
            bad = np.flatnonzero(~np.isfinite(arr))
            if len(bad):
                i = int(bad[0])
                raise ValueError(f"{type(self).__name__}.batch: input {name!r} must be finite, "
                                 f"got {float(arr[i])!r} at index {i}")
        raise ValueError(f"{type(self).__name__}.batch: input is not finite")

    cdef object _wrap_outputs(self, list outs):
        if self._nout == 1:
            return outs[0]
        return tuple(outs)

    cdef object _batch_generic(self, tuple arrays, bint skip_nan):
        """Step over every row, without the GIL; on a non-finite input the
        state is restored and ValueError raised (skip_nan: NaN rows are a
        source's warm-up and are passed over, the output repeating the
        current value)."""
        cdef list arrs = self._arrays(arrays)
        cdef Py_ssize_t n = len(arrs[0]), i
        cdef int j, nin = self._nin, nout = self._nout
        cdef const double[::1] a0 = arrs[0]
        cdef const double[::1] a1 = arrs[1] if nin > 1 else arrs[0]
        cdef const double[::1] a2 = arrs[2] if nin > 2 else arrs[0]
        outs = [np.empty(n, dtype=np.float64) for j in range(nout)]
        cdef double[::1] o0 = outs[0]
        cdef double[::1] o1 = outs[1] if nout > 1 else outs[0]
        cdef double[::1] o2 = outs[2] if nout > 2 else outs[0]
        cdef double inp[3]
        cdef bint bad = False
        cdef double acc = 0.0
        if n == 0:
            return self._wrap_outputs(outs)
        with nogil:
            self._push_state()
            for i in range(n):
                inp[0] = a0[i]
                inp[1] = a1[i]
                inp[2] = a2[i]
                if skip_nan and isnan(inp[0]):
                    pass
                else:
                    acc += (inp[0] - inp[0]) + (inp[1] - inp[1]) + (inp[2] - inp[2])
                    self._step(inp)
                o0[i] = self._out[0]
                if nout > 1:
                    o1[i] = self._out[1]
                    if nout > 2:
                        o2[i] = self._out[2]
            if isnan(acc):
                bad = True
                self._pop_state()
            else:
                self._count += n
        if bad:
            self._bad_batch(arrs)
        return self._wrap_outputs(outs)


cdef class _In1(_Indicator):
    """One input ``x``; can take a single-output ``source``."""

    cdef int _init_source(self, object source) except -1:
        self._nin = 1
        self._innames = ("x",)
        if source is not None:
            self._check_source(source)
        self._source = source
        return 0

    def update(self, double x=MISSING, *more):
        """Consume one bar; return the output (NaN during warm-up)."""
        if self._source is not None or PyTuple_GET_SIZE(more):
            return self._update_src(_given((x,), more), False)
        if not isfinite(x):
            _nonfinite(self, "update", (x,), more)
        self._step(&x)
        self._count += 1
        if self._nout == 1:
            return self._out[0]
        return self._result()

    def peek(self, double x=MISSING, *more):
        """The output ``update(x)`` would return; no state changes."""
        if self._source is not None or PyTuple_GET_SIZE(more):
            return self._update_src(_given((x,), more), True)
        if not isfinite(x):
            _nonfinite(self, "peek", (x,), more)
        self._push_state()
        self._step(&x)
        r = self._result()
        self._pop_state()
        return r

    cdef object _update_src(self, tuple inputs, bint peek):
        cdef double v
        if len(inputs) != len(self._input_names()):
            _arity_error(self, "peek" if peek else "update", len(inputs))
        v = self._source.peek(*inputs) if peek else self._source.update(*inputs)
        if peek:
            if isnan(v):
                return self._result()
            self._push_state()
            self._step(&v)
            r = self._result()
            self._pop_state()
            return r
        if not isnan(v):
            self._step(&v)
        self._count += 1
        return self._result()

    def batch(self, *arrays):
        """``update`` on every element: an array (a tuple of arrays for
        several outputs), bit for bit, leaving the same state."""
        if self._source is not None:
            vals = self._source.batch(*arrays)
            return self._batch_generic((vals,), True)
        return self._batch_generic(arrays, False)


cdef class _In2(_Indicator):
    """Two inputs (OBV: close, volume; VWAP: price, volume)."""

    def update(self, double a=MISSING, double b=MISSING, *more):
        """Consume one bar; return the output."""
        cdef double inp[2]
        if not (isfinite(a) and isfinite(b)) or PyTuple_GET_SIZE(more):
            _nonfinite(self, "update", (a, b), more)
        inp[0] = a
        inp[1] = b
        self._step(inp)
        self._count += 1
        return self._out[0]

    def peek(self, double a=MISSING, double b=MISSING, *more):
        """The output ``update`` would return; no state changes."""
        cdef double inp[2]
        if not (isfinite(a) and isfinite(b)) or PyTuple_GET_SIZE(more):
            _nonfinite(self, "peek", (a, b), more)
        inp[0] = a
        inp[1] = b
        self._push_state()
        self._step(inp)
        r = self._out[0]
        self._pop_state()
        return r

    def batch(self, *arrays):
        """``update`` on every row, bit for bit, leaving the same state."""
        return self._batch_generic(arrays, False)


cdef class _HLC(_Indicator):
    """Inputs ``(high, low, close)``."""

    def update(self, double high=MISSING, double low=MISSING, double close=MISSING, *more):
        """Consume one bar; return the output (NaN during warm-up)."""
        cdef double inp[3]
        if not (isfinite(high) and isfinite(low) and isfinite(close)) or PyTuple_GET_SIZE(more):
            _nonfinite(self, "update", (high, low, close), more)
        inp[0] = high
        inp[1] = low
        inp[2] = close
        self._step(inp)
        self._count += 1
        if self._nout == 1:
            return self._out[0]
        return self._result()

    def peek(self, double high=MISSING, double low=MISSING, double close=MISSING, *more):
        """The output ``update`` would return; no state changes."""
        cdef double inp[3]
        if not (isfinite(high) and isfinite(low) and isfinite(close)) or PyTuple_GET_SIZE(more):
            _nonfinite(self, "peek", (high, low, close), more)
        inp[0] = high
        inp[1] = low
        inp[2] = close
        self._push_state()
        self._step(inp)
        r = self._result()
        self._pop_state()
        return r

    def batch(self, *arrays):
        """``update`` on every row, bit for bit, leaving the same state."""
        return self._batch_generic(arrays, False)


cdef class _Single(_In1):
    """One input, one output (float)."""


# ---------------------------------------------------------------------------
# Benchmark floor
# ---------------------------------------------------------------------------

@cython.final
cdef class _Floor:
    """The cheapest compiled update: a ``cpdef`` returning its argument."""

    cpdef double update(self, double x):
        return x


# ---------------------------------------------------------------------------
# SMA
# ---------------------------------------------------------------------------

cdef struct SMASt:
    i64 k
    i64 pos
    i64 nacc       # differences in acc
    double acc     # plain sum of the last nacc (< SMA_FOLD) differences x - o
    double s, c    # Neumaier pair: the window sum before them
    double base    # s + c


cdef enum:
    SMA_FOLD = 64


cdef inline void sma_fold(SMASt* st) noexcept nogil:
    roll_add_fast(&st.s, &st.c, st.acc)
    renorm(&st.s, &st.c)
    st.acc = 0.0
    st.nacc = 0
    st.base = st.s + st.c


cdef inline double sma_core(SMASt* st, double x, double o, i64 n, double inv) noexcept nogil:
    """x enters the window, o (0.0 before the window is full) leaves it.

    The differences x - o are summed plainly in ``acc`` and folded into the
    compensated pair every SMA_FOLD bars: the rounding of acc (a sum of at
    most 64 small differences) is ~1e-14 of a price per fold and does not
    accumulate into the pair, which is Neumaier-compensated."""
    cdef double out = NAN
    st.acc += x - o
    st.nacc += 1
    st.k += 1
    if st.k >= n:
        out = (st.base + st.acc) * inv
    if st.nacc == SMA_FOLD:
        sma_fold(st)
    return out


cdef inline double sma_push(SMASt* st, double* ring, i64 n, double x, double inv) noexcept nogil:
    cdef double o = ring[st.pos]
    ring[st.pos] = x
    st.pos += 1
    if st.pos == n:
        st.pos = 0
    return sma_core(st, x, o, n, inv)


@cython.final
cdef class SMA(_Single):
    """Simple moving average (TA-Lib SMA), compensated rolling sum."""

    cdef SMASt st
    cdef int _period
    cdef double _inv

    def __init__(self, period=30, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=30, *, source=None):
        self._period = _check_int("SMA", "period", period, 1)
        self._args = (self._period,)
        self._nout = 1
        self._init_source(source)
        self._setup(&self.st, sizeof(SMASt), self._period)
        self._inv = 1.0 / self._period
        self._init()

    @property
    def period(self):
        return self._period

    cdef inline double _push(self, double x) noexcept nogil:
        return sma_push(&self.st, self._buf, self._period, x, self._inv)

    cdef void _step(self, double* inp) noexcept nogil:
        self._out[0] = self._push(inp[0])

    def update(self, double x=MISSING, *more):
        """Consume one bar; return the output (NaN during warm-up)."""
        if self._source is not None or PyTuple_GET_SIZE(more):
            return self._update_src(_given((x,), more), False)
        if not isfinite(x):
            _nonfinite(self, "update", (x,), more)
        x = self._push(x)
        self._out[0] = x
        self._count += 1
        return x

    def batch(self, *arrays):
        """``update`` on every element, bit for bit, leaving the same state."""
        if self._source is not None:
            return _In1.batch(self, *arrays)
        cdef list arrs = self._arrays(arrays)
        cdef const double[::1] a = arrs[0]
        cdef Py_ssize_t n = a.shape[0], i, m
        out = np.empty(n, dtype=np.float64)
        cdef double[::1] o = out
        cdef double x
        cdef int bad = 0
        cdef SMASt st = self.st
        cdef double* ring = self._buf
        cdef i64 p = self._period, pos0 = self.st.pos
        cdef Py_ssize_t e, j
        cdef double acc, base
        cdef double inv = self._inv
        if n == 0:
            return out
        m = n if n < p else p
        with nogil:
            # the values leaving the window: the ring's, then the array's own
            for i in range(m):
                x = a[i]
                bad |= not isfinite(x)
                o[i] = sma_core(&st, x, ring[(pos0 + i) % p], p, inv)
            # past the first p elements the window is full: sma_core without its count check
            # past the first p elements the window is full: sma_core without
            # its checks, in runs up to the next fold
            i = m
            while i < n:
                e = i + (SMA_FOLD - st.nacc)
                if e > n:
                    e = n
                acc = st.acc
                base = st.base
                for j in range(i, e):
                    x = a[j]
                    bad |= not (fabs(x) <= DBL_MAX)
                    acc += x - a[j - p]
                    o[j] = (base + acc) * inv
                st.acc = acc
                st.nacc += e - i
                st.k += e - i
                if st.nacc == SMA_FOLD:
                    sma_fold(&st)
                i = e
            if not bad:
                for i in range(n - m, n):
                    ring[(pos0 + i) % p] = a[i]
                st.pos = (pos0 + n) % p
                self.st = st
                self._out[0] = o[n - 1]
                self._count += n
        if bad:
            self._bad_batch(arrs)
        return out


# ---------------------------------------------------------------------------
# EMA
# ---------------------------------------------------------------------------

cdef struct EMASt:
    Ema e
    double alpha


@cython.final
cdef class EMA(_Single):
    """Exponential moving average (TA-Lib EMA: SMA seed, k = 2/(period+1))."""

    cdef EMASt st
    cdef int _period

    def __init__(self, period=30, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=30, *, source=None):
        self._period = _check_int("EMA", "period", period, 1)
        self._args = (self._period,)
        self._nout = 1
        self._init_source(source)
        self._setup(&self.st, sizeof(EMASt), 0)
        self._init()

    cdef void _init(self) noexcept nogil:
        self._clear()
        self.st.alpha = 2.0 / (self._period + 1.0)

    @property
    def period(self):
        return self._period

    cdef inline double _push(self, double x) noexcept nogil:
        return ema_push(&self.st.e, x, self._period, self.st.alpha)

    cdef void _step(self, double* inp) noexcept nogil:
        self._out[0] = self._push(inp[0])

    def update(self, double x=MISSING, *more):
        """Consume one bar; return the output (NaN during warm-up)."""
        if self._source is not None or PyTuple_GET_SIZE(more):
            return self._update_src(_given((x,), more), False)
        if not isfinite(x):
            _nonfinite(self, "update", (x,), more)
        x = self._push(x)
        self._out[0] = x
        self._count += 1
        return x

    def batch(self, *arrays):
        """``update`` on every element, bit for bit, leaving the same state."""
        if self._source is not None:
            return _In1.batch(self, *arrays)
        cdef list arrs = self._arrays(arrays)
        cdef const double[::1] a = arrs[0]
        cdef Py_ssize_t n = a.shape[0], i
        out = np.empty(n, dtype=np.float64)
        cdef double[::1] o = out
        cdef double x
        cdef int bad = 0
        cdef EMASt st = self.st
        cdef double* ring = self._buf
        cdef i64 p = self._period
        if n == 0:
            return out
        with nogil:
            self._push_state()
            for i in range(n):
                x = a[i]
                bad |= not isfinite(x)
                o[i] = ema_push(&st.e, x, p, st.alpha)
            if bad:
                self._pop_state()
            else:
                self.st = st
                self._out[0] = o[n - 1]
                self._count += n
        if bad:
            self._bad_batch(arrs)
        return out


# ---------------------------------------------------------------------------
# RSI
# ---------------------------------------------------------------------------

cdef struct RSISt:
    i64 k
    double prev, gain, loss


cdef inline double rsi_push(RSISt* st, i64 period, double x, double a1,
                           double inv) noexcept nogil:
    cdef double d, t, up, dn
    cdef double n = period
    st.k += 1
    if st.k == 1:
        st.prev = x
        return NAN
    d = x - st.prev
    st.prev = x
    up = d if d > 0.0 else 0.0
    dn = -d if d < 0.0 else 0.0
    if st.k <= period:
        st.gain += up
        st.loss += dn
        return NAN
    if st.k == period + 1:
        st.gain += up
        st.loss += dn
        st.loss /= n
        st.gain /= n
    else:
        # Wilder: (prev * (n-1) + v) / n, as prev * a1 + v * inv
        st.loss = st.loss * a1 + dn * inv
        st.gain = st.gain * a1 + up * inv
    t = st.gain + st.loss
    if t != 0.0:
        return 100.0 * (st.gain / t)
    return 0.0


@cython.final
cdef class RSI(_Single):
    """Relative strength index (TA-Lib RSI: mean seed, Wilder smoothing)."""

    cdef RSISt st
    cdef int _period
    cdef double _a1, _inv

    def __init__(self, period=14, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=14, *, source=None):
        self._period = _check_int("RSI", "period", period, 2)
        self._args = (self._period,)
        self._nout = 1
        self._init_source(source)
        self._setup(&self.st, sizeof(RSISt), 0)
        self._a1 = (self._period - 1.0) / self._period
        self._inv = 1.0 / self._period
        self._init()

    @property
    def period(self):
        return self._period

    cdef inline double _push(self, double x) noexcept nogil:
        return rsi_push(&self.st, self._period, x, self._a1, self._inv)

    cdef void _step(self, double* inp) noexcept nogil:
        self._out[0] = self._push(inp[0])

    def update(self, double x=MISSING, *more):
        """Consume one bar; return the output (NaN during warm-up)."""
        if self._source is not None or PyTuple_GET_SIZE(more):
            return self._update_src(_given((x,), more), False)
        if not isfinite(x):
            _nonfinite(self, "update", (x,), more)
        x = self._push(x)
        self._out[0] = x
        self._count += 1
        return x

    def batch(self, *arrays):
        """``update`` on every element, bit for bit, leaving the same state."""
        if self._source is not None:
            return _In1.batch(self, *arrays)
        cdef list arrs = self._arrays(arrays)
        cdef const double[::1] a = arrs[0]
        cdef Py_ssize_t n = a.shape[0], i
        out = np.empty(n, dtype=np.float64)
        cdef double[::1] o = out
        cdef double x
        cdef int bad = 0
        cdef RSISt st = self.st
        cdef i64 p = self._period
        cdef double a1 = self._a1, inv = self._inv
        if n == 0:
            return out
        with nogil:
            self._push_state()
            for i in range(n):
                x = a[i]
                bad |= not isfinite(x)
                o[i] = rsi_push(&st, p, x, a1, inv)
            if bad:
                self._pop_state()
            else:
                self.st = st
                self._out[0] = o[n - 1]
                self._count += n
        if bad:
            self._bad_batch(arrs)
        return out


# ---------------------------------------------------------------------------
# ATR
# ---------------------------------------------------------------------------

cdef struct ATRSt:
    i64 k
    double pc, sum, atr


cdef extern from *:
    """
    /* Wilder smoothing of the true range over bars [i0, n): the loop of
       ATR.batch once seeded.  fma() is correctly rounded everywhere, so the
       FMA-instruction build below gives the very bits of the portable one
       (and of ATR.update, which calls libm's fma). */
    #define ADMF_ATR_LOOP(NAME, ATTR)                                              \
    ATTR static int NAME(const double* h, const double* l, const double* c,      \
                         double* o, Py_ssize_t i0, Py_ssize_t n, double* pc,      \
                         double* atr, double a1, double inv) {                    \
        double p = *pc, a = *atr; int bad = 0;                                    \
        for (Py_ssize_t i = i0; i < n; i++) {                                     \
            double hi = h[i], lo = l[i], cl = c[i];                               \
            bad |= !(fabs(hi) <= DBL_MAX) | !(fabs(lo) <= DBL_MAX)                \
                   | !(fabs(cl) <= DBL_MAX);                                      \
            double r = hi - lo, t = fabs(hi - p);                                 \
            r = t > r ? t : r;                                                    \
            t = fabs(lo - p);                                                     \
            r = t > r ? t : r;                                                    \
            p = cl;                                                               \
            a = fma(a, a1, r * inv);                                              \
            o[i] = a;                                                             \
        }                                                                         \
        *pc = p; *atr = a;                                                        \
        return bad;                                                               \
    }
    #include <float.h>
    #include <math.h>
    ADMF_ATR_LOOP(admf_atr_loop_portable, )
    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    ADMF_ATR_LOOP(admf_atr_loop_fma, __attribute__((target("fma"))))
    static int admf_atr_loop(const double* h, const double* l, const double* c,
                             double* o, Py_ssize_t i0, Py_ssize_t n, double* pc,
                             double* atr, double a1, double inv) {
        static int has_fma = -1;
        if (has_fma < 0) { __builtin_cpu_init(); has_fma = __builtin_cpu_supports("fma") ? 1 : 0; }
        if (has_fma)
            return admf_atr_loop_fma(h, l, c, o, i0, n, pc, atr, a1, inv);
        return admf_atr_loop_portable(h, l, c, o, i0, n, pc, atr, a1, inv);
    }
    #else
    #define admf_atr_loop admf_atr_loop_portable
    #endif
    """
    int admf_atr_loop(const double* h, const double* l, const double* c, double* o,
                      Py_ssize_t i0, Py_ssize_t n, double* pc, double* atr, double a1,
                      double inv) noexcept nogil


cdef inline double atr_push(ATRSt* st, i64 period, double h, double l, double c, double a1,
                           double inv) noexcept nogil:
    cdef double tr
    cdef double n = period
    st.k += 1
    if st.k == 1:
        st.pc = c
        return NAN
    tr = true_range(h, l, st.pc)
    st.pc = c
    if st.k <= period:
        st.sum += tr
        return NAN
    if st.k == period + 1:
        st.sum += tr
        st.atr = st.sum / n
        return st.atr
    st.atr = fma(st.atr, a1, tr * inv)      # (prev * (n-1) + tr) / n, one rounding
    return st.atr


@cython.final
cdef class ATR(_HLC):
    """Average true range (TA-Lib ATR: TR from bar 1, mean seed, Wilder)."""

    cdef ATRSt st
    cdef int _period
    cdef double _a1, _inv

    def __init__(self, period=14):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=14):
        self._period = _check_int("ATR", "period", period, 1)
        self._args = (self._period,)
        self._nout = 1
        self._nin = 3
        self._innames = ("high", "low", "close")
        self._setup(&self.st, sizeof(ATRSt), 0)
        self._a1 = (self._period - 1.0) / self._period
        self._inv = 1.0 / self._period
        self._init()

    @property
    def period(self):
        return self._period

    cdef inline double _push(self, double h, double l, double c) noexcept nogil:
        return atr_push(&self.st, self._period, h, l, c, self._a1, self._inv)

    cdef void _step(self, double* inp) noexcept nogil:
        self._out[0] = self._push(inp[0], inp[1], inp[2])

    def update(self, double high=MISSING, double low=MISSING, double close=MISSING, *more):
        """Consume one bar; return the output (NaN during warm-up)."""
        if not (isfinite(high) and isfinite(low) and isfinite(close)) or PyTuple_GET_SIZE(more):
            _nonfinite(self, "update", (high, low, close), more)
        high = self._push(high, low, close)
        self._out[0] = high
        self._count += 1
        return high

    def batch(self, *arrays):
        """``update`` on every row, bit for bit, leaving the same state."""
        cdef list arrs = self._arrays(arrays)
        cdef const double[::1] h = arrs[0]
        cdef const double[::1] l = arrs[1]
        cdef const double[::1] c = arrs[2]
        cdef Py_ssize_t n = h.shape[0], i
        out = np.empty(n, dtype=np.float64)
        cdef double[::1] o = out
        cdef int bad = 0
        cdef ATRSt st = self.st
        cdef i64 p = self._period
        cdef double a1 = self._a1, inv = self._inv
        if n == 0:
            return out
        cdef Py_ssize_t m
        with nogil:
            # warm-up and seed bar by bar, then the Wilder loop (FMA when the CPU has it)
            m = 0
            while m < n and st.k <= p:
                bad |= not (isfinite(h[m]) and isfinite(l[m]) and isfinite(c[m]))
                o[m] = atr_push(&st, p, h[m], l[m], c[m], a1, inv)
                m += 1
            if m < n:
                bad |= admf_atr_loop(&h[0], &l[0], &c[0], &o[0], m, n, &st.pc, &st.atr, a1, inv)
                st.k += n - m
            if not bad:
                self.st = st
                self._out[0] = o[n - 1]
                self._count += n
        if bad:
            self._bad_batch(arrs)
        return out


# ---------------------------------------------------------------------------
# StdDev and BollingerBands: compensated sums of x and x*x
# ---------------------------------------------------------------------------

cdef struct VarSt:
    i64 k
    i64 pos
    double shift       # 0.0 (reserved: sums are of y = x - shift)
    double s1, c1, s2, c2


cdef inline void renorm(double* s, double* c) noexcept nogil:
    """(s, c) -> the same exact sum with |c| <= ulp(s) / 2 (TwoSum)."""
    cdef double t = s[0] + c[0]
    cdef double bp = t - s[0]
    c[0] = (s[0] - (t - bp)) + (c[0] - bp)
    s[0] = t


cdef inline double two_sq_err(double a, double p) noexcept nogil:
    """The rounding error of p = a*a (Dekker, Veltkamp split; no fma)."""
    cdef double c = 134217729.0 * a
    cdef double hi = c - (c - a)
    cdef double lo = a - hi
    return ((hi * hi - p) + 2.0 * hi * lo) + lo * lo


cdef inline bint var_push(VarSt* st, double* ring, i64 n, double x) noexcept nogil:
    """x enters the window (ring: y = x - shift in [0, n), the rounding
    error of y*y in [n, 2n)), the oldest value leaves (0.0 before the
    window is full); True once it is full.  (s1, c1) and (s2, c2) are the
    window's exact sums of y and of y*y."""
    cdef double y = x, yo, p, po, e
    p = y * y
    e = two_sq_err(y, p)
    yo = ring[st.pos]
    po = yo * yo
    st.c2 -= ring[n + st.pos]
    ring[st.pos] = y
    ring[n + st.pos] = e
    roll_add(&st.s1, &st.c1, y, yo)
    roll_add(&st.s2, &st.c2, p, po)
    st.c2 += e
    st.pos += 1
    if st.pos == n:
        st.pos = 0
        # once per window: fold the compensations into the sums (exact), so
        # they stay small and their own rounding stays negligible
        renorm(&st.s1, &st.c1)
        renorm(&st.s2, &st.c2)
    st.k += 1
    return st.k >= n


cdef inline double var_get4(double s1, double c1, double s2, double c2, i64 n, double inv,
                            double* mean) noexcept nogil:
    """Population variance of the window, (n*S2 - S1^2) / n^2 formed in
    double-double (no cancellation); mean[0] = the window's mean of y."""
    cdef double h1 = s1 + c1
    cdef double l1 = c1 - (h1 - s1)
    cdef double h2 = s2 + c2
    cdef double l2 = c2 - (h2 - s2)
    cdef double dn = <double>n
    cdef double P = h1 * h1
    cdef double Q = dn * h2
    cdef double Pe, Qe, c, hh, v
    mean[0] = h1 * inv
    if P <= 0.5 * Q:
        # no cancellation: the rounding of P and Q costs at most ~2 ulps
        v = ((Q - P) + (dn * l2 - 2.0 * h1 * l1)) * (inv * inv)
    else:
        Pe = two_sq_err(h1, P) + 2.0 * h1 * l1
        c = 134217729.0 * h2
        hh = c - (c - h2)
        Qe = ((dn * hh - Q) + dn * (h2 - hh)) + dn * l2   # n < 2**26: exact products
        v = ((Q - P) + (Qe - Pe)) * (inv * inv)
    return v if v > 0.0 else 0.0


cdef inline double var_get(VarSt* st, i64 n, double inv, double* mean) noexcept nogil:
    return var_get4(st.s1, st.c1, st.s2, st.c2, n, inv, mean)


cdef inline double var_clip(double v, double mean) noexcept nogil:
    """TA-Lib: a deviation below 1e-14 of the level is rounding noise (0)."""
    cdef double z = TA_EPS * mean
    return 0.0 if v <= z * z else v


cdef inline double stddev_out(VarSt* st, i64 n, double inv, double nbdev) noexcept nogil:
    cdef double m
    cdef double v = var_get(st, n, inv, &m)
    return sqrt(var_clip(v, st.shift + m)) * nbdev


cdef inline double stddev_push(VarSt* st, double* ring, i64 n, double x, double inv,
                               double nbdev) noexcept nogil:
    if var_push(st, ring, n, x):
        return stddev_out(st, n, inv, nbdev)
    return NAN


@cython.final
cdef class StdDev(_Single):
    """Rolling population standard deviation times nbdev (TA-Lib STDDEV)."""

    cdef VarSt st
    cdef int _period
    cdef double _inv
    cdef double _nbdev

    def __init__(self, period=5, nbdev=1.0, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=5, nbdev=1.0, *, source=None):
        self._period = _check_int("StdDev", "period", period, 2)
        self._nbdev = _check_real("StdDev", "nbdev", nbdev)
        self._args = (self._period, self._nbdev)
        self._nout = 1
        self._init_source(source)
        self._setup(&self.st, sizeof(VarSt), 2 * self._period)
        self._inv = 1.0 / self._period
        self._init()

    @property
    def period(self):
        return self._period

    @property
    def nbdev(self):
        return self._nbdev

    cdef inline double _push(self, double x) noexcept nogil:
        return stddev_push(&self.st, self._buf, self._period, x, self._inv, self._nbdev)

    cdef void _step(self, double* inp) noexcept nogil:
        self._out[0] = self._push(inp[0])

    def update(self, double x=MISSING, *more):
        """Consume one bar; return the output (NaN during warm-up)."""
        if self._source is not None or PyTuple_GET_SIZE(more):
            return self._update_src(_given((x,), more), False)
        if not isfinite(x):
            _nonfinite(self, "update", (x,), more)
        x = self._push(x)
        self._out[0] = x
        self._count += 1
        return x

    def batch(self, *arrays):
        """``update`` on every element, bit for bit, leaving the same state."""
        if self._source is not None:
            return _In1.batch(self, *arrays)
        cdef list arrs = self._arrays(arrays)
        cdef const double[::1] a = arrs[0]
        cdef Py_ssize_t n = a.shape[0], i
        out = np.empty(n, dtype=np.float64)
        cdef double[::1] o = out
        cdef double x
        cdef int bad = 0
        cdef VarSt st = self.st
        cdef double* ring = self._buf
        cdef i64 p = self._period
        cdef double inv = self._inv, nb = self._nbdev
        if n == 0:
            return out
        cdef double blk[4 * BLOCK]
        cdef double m, v, K
        cdef Py_ssize_t j, b, i0
        with nogil:
            self._push_state()
            # blocks of two passes: the sums (a short loop-carried chain),
            # then the outputs from them (independent, long chains overlap)
            i0 = 0
            while i0 < n:
                b = n - i0 if n - i0 < BLOCK else BLOCK
                for j in range(b):
                    x = a[i0 + j]
                    bad |= not isfinite(x)
                    if var_push(&st, ring, p, x):
                        blk[4 * j] = st.s1
                        blk[4 * j + 1] = st.c1
                        blk[4 * j + 2] = st.s2
                        blk[4 * j + 3] = st.c2
                    else:
                        blk[4 * j] = NAN
                K = st.shift
                for j in range(b):
                    if isnan(blk[4 * j]):
                        o[i0 + j] = NAN
                    else:
                        v = var_get4(blk[4 * j], blk[4 * j + 1], blk[4 * j + 2],
                                     blk[4 * j + 3], p, inv, &m)
                        o[i0 + j] = sqrt(var_clip(v, K + m)) * nb
                i0 += b
            if bad:
                self._pop_state()
            else:
                self.st = st
                self._out[0] = o[n - 1]
                self._count += n
        if bad:
            self._bad_batch(arrs)
        return out


cdef inline void bb_out(VarSt* st, i64 n, double inv, double up, double down,
                        double* out) noexcept nogil:
    cdef double m, mid, sd
    sd = var_get(st, n, inv, &m)
    mid = st.shift + m
    sd = sqrt(var_clip(sd, mid))
    out[0] = mid + sd * up
    out[1] = mid
    out[2] = mid - sd * down


cdef inline void bb_push(VarSt* st, double* ring, i64 n, double x, double inv, double up,
                         double down, double* out) noexcept nogil:
    if var_push(st, ring, n, x):
        bb_out(st, n, inv, up, down, out)


@cython.final
cdef class BollingerBands(_In1):
    """Bollinger bands (TA-Lib BBANDS, SMA middle, population deviation):
    ``(upper, middle, lower)``."""

    cdef VarSt st
    cdef int _period
    cdef double _inv
    cdef double _up, _down

    def __init__(self, period=20, nbdev_up=2.0, nbdev_down=2.0, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=20, nbdev_up=2.0, nbdev_down=2.0, *, source=None):
        self._period = _check_int("BollingerBands", "period", period, 2)
        self._up = _check_real("BollingerBands", "nbdev_up", nbdev_up)
        self._down = _check_real("BollingerBands", "nbdev_down", nbdev_down)
        self._args = (self._period, self._up, self._down)
        self._nout = 3
        self._init_source(source)
        self._setup(&self.st, sizeof(VarSt), 2 * self._period)
        self._inv = 1.0 / self._period
        self._init()

    @property
    def period(self):
        return self._period

    @property
    def nbdev_up(self):
        return self._up

    @property
    def nbdev_down(self):
        return self._down

    cdef inline void _push(self, double x) noexcept nogil:
        bb_push(&self.st, self._buf, self._period, x, self._inv, self._up, self._down, self._out)

    cdef void _step(self, double* inp) noexcept nogil:
        self._push(inp[0])

    def update(self, double x=MISSING, *more):
        """Consume one bar; return ``(upper, middle, lower)``."""
        if self._source is not None or PyTuple_GET_SIZE(more):
            return self._update_src(_given((x,), more), False)
        if not isfinite(x):
            _nonfinite(self, "update", (x,), more)
        self._push(x)
        self._count += 1
        return admf_tuple3(&self._tup, self._out[0], self._out[1], self._out[2])

    def batch(self, *arrays):
        """``update`` on every element, bit for bit, leaving the same state:
        ``(upper, middle, lower)`` arrays."""
        if self._source is not None:
            return _In1.batch(self, *arrays)
        cdef list arrs = self._arrays(arrays)
        cdef const double[::1] a = arrs[0]
        cdef Py_ssize_t n = a.shape[0], i
        up = np.empty(n, dtype=np.float64)
        mid = np.empty(n, dtype=np.float64)
        lo = np.empty(n, dtype=np.float64)
        cdef double[::1] o0 = up
        cdef double[::1] o1 = mid
        cdef double[::1] o2 = lo
        cdef double x
        cdef double res[3]
        cdef int bad = 0
        cdef VarSt st = self.st
        cdef double* ring = self._buf
        cdef i64 p = self._period
        cdef double inv = self._inv, u = self._up, d = self._down
        if n == 0:
            return (up, mid, lo)
        res[0] = self._out[0]
        res[1] = self._out[1]
        res[2] = self._out[2]
        cdef double blk[4 * BLOCK]
        cdef double m, sd, md, K
        cdef Py_ssize_t j, b, i0, last = -1
        with nogil:
            self._push_state()
            i0 = 0
            while i0 < n:
                b = n - i0 if n - i0 < BLOCK else BLOCK
                for j in range(b):
                    x = a[i0 + j]
                    bad |= not isfinite(x)
                    if var_push(&st, ring, p, x):
                        blk[4 * j] = st.s1
                        blk[4 * j + 1] = st.c1
                        blk[4 * j + 2] = st.s2
                        blk[4 * j + 3] = st.c2
                    else:
                        blk[4 * j] = NAN
                K = st.shift
                for j in range(b):
                    if isnan(blk[4 * j]):
                        o0[i0 + j] = res[0]
                        o1[i0 + j] = res[1]
                        o2[i0 + j] = res[2]
                    else:
                        sd = var_get4(blk[4 * j], blk[4 * j + 1], blk[4 * j + 2],
                                      blk[4 * j + 3], p, inv, &m)
                        md = K + m
                        sd = sqrt(var_clip(sd, md))
                        o0[i0 + j] = md + sd * u
                        o1[i0 + j] = md
                        o2[i0 + j] = md - sd * d
                        last = i0 + j
                i0 += b
            if last >= 0:
                res[0] = o0[last]
                res[1] = o1[last]
                res[2] = o2[last]
            if bad:
                self._pop_state()
            else:
                self.st = st
                self._out[0] = res[0]
                self._out[1] = res[1]
                self._out[2] = res[2]
                self._count += n
        if bad:
            self._bad_batch(arrs)
        return (up, mid, lo)


# ---------------------------------------------------------------------------
# MACD
# ---------------------------------------------------------------------------

cdef struct MACDSt:
    i64 k
    Ema fast, slow, sig
    double af, aslow, asig


@cython.final
cdef class MACD(_In1):
    """MACD (TA-Lib MACD): ``(macd, signal, hist)``; both EMAs start at bar
    ``slow-1`` (the fast one seeded with the SMA of the ``fast`` values ending
    there), all three outputs at bar ``slow+signal-2``."""

    cdef MACDSt st
    cdef int _fast, _slow, _signal

    def __init__(self, fast=12, slow=26, signal=9, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, fast=12, slow=26, signal=9, *, source=None):
        self._fast = _check_int("MACD", "fast", fast, 2)
        self._slow = _check_int("MACD", "slow", slow, 2)
        self._signal = _check_int("MACD", "signal", signal, 1)
        self._args = (self._fast, self._slow, self._signal)
        if self._slow < self._fast:     # TA-Lib swaps them
            self._fast, self._slow = self._slow, self._fast
        self._nout = 3
        self._init_source(source)
        self._setup(&self.st, sizeof(MACDSt), 0)
        self._init()

    @property
    def fast(self):
        return self._args[0]

    @property
    def slow(self):
        return self._args[1]

    @property
    def signal(self):
        return self._signal

    cdef void _init(self) noexcept nogil:
        self._clear()
        self.st.af = 2.0 / (self._fast + 1.0)
        self.st.aslow = 2.0 / (self._slow + 1.0)
        self.st.asig = 2.0 / (self._signal + 1.0)

    cdef inline void _push(self, double x) noexcept nogil:
        cdef double f, s, m, g
        self.st.k += 1
        s = ema_push(&self.st.slow, x, self._slow, self.st.aslow)
        if self.st.k <= self._slow - self._fast:
            return
        f = ema_push(&self.st.fast, x, self._fast, self.st.af)
        if isnan(s):
            return
        m = f - s
        g = ema_push(&self.st.sig, m, self._signal, self.st.asig)
        if isnan(g):
            return
        self._out[0] = m
        self._out[1] = g
        self._out[2] = m - g

    cdef void _step(self, double* inp) noexcept nogil:
        self._push(inp[0])

    def update(self, double x=MISSING, *more):
        """Consume one bar; return ``(macd, signal, hist)``."""
        if self._source is not None or PyTuple_GET_SIZE(more):
            return self._update_src(_given((x,), more), False)
        if not isfinite(x):
            _nonfinite(self, "update", (x,), more)
        self._push(x)
        self._count += 1
        return admf_tuple3(&self._tup, self._out[0], self._out[1], self._out[2])


# ---------------------------------------------------------------------------
# RollingMax / RollingMin: monotonic deque in a ring
# ---------------------------------------------------------------------------

cdef struct DequeSt:
    i64 k       # index of the next value
    i64 head    # ring position of the front
    i64 size


cdef inline double deque_push(DequeSt* st, double* vals, i64* idx, i64 n, double x,
                              bint is_max) noexcept nogil:
    """Window extremum of the last n values (the values ring ``vals`` and
    the index ring ``idx`` both have n slots)."""
    cdef i64 back
    # drop the back while it cannot be the extremum again
    while st.size > 0:
        back = st.head + st.size - 1
        if back >= n:
            back -= n
        if (vals[back] <= x) if is_max else (vals[back] >= x):
            st.size -= 1
        else:
            break
    # drop the front once it left the window
    if st.size > 0 and idx[st.head] <= st.k - n:
        st.head += 1
        if st.head == n:
            st.head = 0
        st.size -= 1
    back = st.head + st.size
    if back >= n:
        back -= n
    vals[back] = x
    idx[back] = st.k
    st.size += 1
    st.k += 1
    if st.k >= n:
        return vals[st.head]
    return NAN


cdef class _Rolling(_Single):
    cdef DequeSt st
    cdef int _period

    cdef int _make(self, str name, object period, object source) except -1:
        self._period = _check_int(name, "period", period, 2)
        self._args = (self._period,)
        self._nout = 1
        self._init_source(source)
        self._setup(&self.st, sizeof(DequeSt), 2 * self._period)
        self._init()
        return 0

    @property
    def period(self):
        return self._period


@cython.final
cdef class RollingMax(_Rolling):
    """Highest value over the last ``period`` values (TA-Lib MAX)."""

    def __init__(self, period=30, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=30, *, source=None):
        self._make("RollingMax", period, source)

    cdef inline double _push(self, double x) noexcept nogil:
        return deque_push(&self.st, self._buf, <i64*>(self._buf + self._period),
                          self._period, x, True)

    cdef void _step(self, double* inp) noexcept nogil:
        self._out[0] = self._push(inp[0])

    def update(self, double x=MISSING, *more):
        """Consume one bar; return the output (NaN during warm-up)."""
        if self._source is not None or PyTuple_GET_SIZE(more):
            return self._update_src(_given((x,), more), False)
        if not isfinite(x):
            _nonfinite(self, "update", (x,), more)
        x = self._push(x)
        self._out[0] = x
        self._count += 1
        return x

    def batch(self, *arrays):
        """``update`` on every element, bit for bit, leaving the same
        outputs and behaviour.  Once the window lies inside the array the
        maxima come from van Herk / Gil-Werman block maxima (branch-free, the
        same values); the deque is then rebuilt from the last window."""
        if self._source is not None:
            return _In1.batch(self, *arrays)
        cdef list arrs = self._arrays(arrays)
        cdef const double[::1] a = arrs[0]
        cdef Py_ssize_t n = a.shape[0], i, j, m, hi_idx, trailing
        out = np.empty(n, dtype=np.float64)
        cdef double[::1] o = out
        cdef double x, v, g, hi = 0.0
        cdef int bad = 0
        cdef DequeSt st = self.st
        cdef Py_ssize_t bs, be
        cdef double* hprev
        cdef double* hcur
        cdef double* tmp
        cdef double* ring = self._buf
        cdef i64* idx = <i64*>(self._buf + self._period)
        cdef i64 p = self._period, k0 = self.st.k
        if n == 0:
            return out
        hprev = <double*>malloc((p + 1) * sizeof(double))
        hcur = <double*>malloc((p + 1) * sizeof(double))
        if hprev == NULL or hcur == NULL:
            free(hprev)
            free(hcur)
            raise MemoryError()
        hprev[p] = -INFINITY
        hcur[p] = -INFINITY
        m = n if n < p - 1 else p - 1
        with nogil:
            self._push_state()
            for i in range(m):
                x = a[i]
                bad |= not isfinite(x)
                o[i] = deque_push(&st, ring, idx, p, x, True)
            # van Herk / Gil-Werman on blocks of p elements aligned at 0:
            # max(a[j..i]) = max(suffix max of j's block from j, prefix max
            # of i's block up to i); branch-free maxima, equal values
            if n >= p:
                bs = 0
                while bs < n:
                    be = bs + p if bs + p < n else n
                    # suffix maxima of this block: hcur[k] = max(a[bs+k .. be-1])
                    hi = a[be - 1]
                    bad |= not (fabs(hi) <= DBL_MAX)
                    hcur[be - 1 - bs] = hi
                    for j in range(be - 2, bs - 1, -1):
                        v = a[j]
                        bad |= not (fabs(v) <= DBL_MAX)
                        hi = v if v > hi else hi
                        hcur[j - bs] = hi
                    if bs == 0:
                        o[p - 1] = hcur[0]
                    else:
                        # windows ending at i in [bs, be): start j = i-p+1 in the previous block
                        g = a[bs]
                        for j in range(bs, be):
                            v = a[j]
                            g = v if v > g else g
                            v = hprev[j - bs + 1]
                            o[j] = v if v > g else g
                    tmp = hprev
                    hprev = hcur
                    hcur = tmp
                    hprev[p] = -INFINITY
                    bs = be
            if n > m:
                # the deque of the last window, as streaming would hold it
                st.head = 0
                st.size = 0
                st.k = k0 + n - p
                for i in range(n - p, n):
                    deque_push(&st, ring, idx, p, a[i], True)
            if bad:
                self._pop_state()
            else:
                self.st = st
                self._out[0] = o[n - 1]
                self._count += n
        free(hprev)
        free(hcur)
        if bad:
            self._bad_batch(arrs)
        return out


@cython.final
cdef class RollingMin(_Rolling):
    """Lowest value over the last ``period`` values (TA-Lib MIN)."""

    def __init__(self, period=30, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=30, *, source=None):
        self._make("RollingMin", period, source)

    cdef void _step(self, double* inp) noexcept nogil:
        self._out[0] = deque_push(&self.st, self._buf, <i64*>(self._buf + self._period),
                                  self._period, inp[0], False)


# ---------------------------------------------------------------------------
# ROC / Momentum
# ---------------------------------------------------------------------------

cdef struct LagSt:
    i64 k
    i64 pos


cdef class _Lag(_Single):
    cdef LagSt st
    cdef int _period

    cdef int _make(self, str name, object period, object source) except -1:
        self._period = _check_int(name, "period", period, 1)
        self._args = (self._period,)
        self._nout = 1
        self._init_source(source)
        self._setup(&self.st, sizeof(LagSt), self._period)
        self._init()
        return 0

    @property
    def period(self):
        return self._period

    cdef inline double _lag(self, double x) noexcept nogil:
        """The value ``period`` bars back (NaN while there is none)."""
        cdef double o = self._buf[self.st.pos]
        self._buf[self.st.pos] = x
        self.st.pos += 1
        if self.st.pos == self._period:
            self.st.pos = 0
        self.st.k += 1
        if self.st.k > self._period:
            return o
        return NAN


@cython.final
cdef class ROC(_Lag):
    """Rate of change in percent, ``(x / x[-period] - 1) * 100`` (TA-Lib ROC;
    0 when the old value is 0)."""

    def __init__(self, period=10, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=10, *, source=None):
        self._make("ROC", period, source)

    cdef void _step(self, double* inp) noexcept nogil:
        cdef double o = self._lag(inp[0])
        if isnan(o):
            self._out[0] = NAN
        elif o != 0.0:
            self._out[0] = ((inp[0] / o) - 1.0) * 100.0
        else:
            self._out[0] = 0.0


@cython.final
cdef class Momentum(_Lag):
    """``x - x[-period]`` (TA-Lib MOM)."""

    def __init__(self, period=10, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=10, *, source=None):
        self._make("Momentum", period, source)

    cdef void _step(self, double* inp) noexcept nogil:
        cdef double o = self._lag(inp[0])
        self._out[0] = inp[0] - o


# ---------------------------------------------------------------------------
# OBV / VWAP
# ---------------------------------------------------------------------------

cdef struct OBVSt:
    i64 k
    double prev, obv


@cython.final
cdef class OBV(_In2):
    """On-balance volume (TA-Lib OBV: starts at the first bar's volume)."""

    cdef OBVSt st

    def __cinit__(self):
        self._args = ()
        self._nout = 1
        self._nin = 2
        self._innames = ("close", "volume")
        self._setup(&self.st, sizeof(OBVSt), 0)
        self._init()

    cdef void _step(self, double* inp) noexcept nogil:
        cdef double c = inp[0], v = inp[1]
        self.st.k += 1
        if self.st.k == 1:
            self.st.obv = v
        elif c > self.st.prev:
            self.st.obv += v
        elif c < self.st.prev:
            self.st.obv -= v
        self.st.prev = c
        self._out[0] = self.st.obv


cdef struct VWAPSt:
    double pv, cpv, v, cv


@cython.final
cdef class VWAP(_In2):
    """Cumulative volume-weighted average price since construction or
    ``reset()`` (NaN while the volume sum is 0); compensated sums."""

    cdef VWAPSt st

    def __cinit__(self):
        self._args = ()
        self._nout = 1
        self._nin = 2
        self._innames = ("price", "volume")
        self._setup(&self.st, sizeof(VWAPSt), 0)
        self._init()

    cdef void _step(self, double* inp) noexcept nogil:
        cdef double p = inp[0] * inp[1]
        neu_add(&self.st.pv, &self.st.cpv, p)
        self.st.cpv += fma(inp[0], inp[1], -p)
        neu_add(&self.st.v, &self.st.cv, inp[1])
        cdef double vol = self.st.v + self.st.cv
        if vol != 0.0:
            self._out[0] = (self.st.pv + self.st.cpv) / vol
        else:
            self._out[0] = NAN


# ---------------------------------------------------------------------------
# WMA
# ---------------------------------------------------------------------------

cdef struct WMASt:
    i64 k
    i64 pos
    double s, c       # sum of the window
    double w, cw      # weighted sum (weights 1..n, newest n)


@cython.final
cdef class WMA(_Single):
    """Linearly weighted moving average (TA-Lib WMA), compensated sums."""

    cdef WMASt st
    cdef int _period

    def __init__(self, period=30, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=30, *, source=None):
        self._period = _check_int("WMA", "period", period, 1)
        self._args = (self._period,)
        self._nout = 1
        self._init_source(source)
        self._setup(&self.st, sizeof(WMASt), self._period)
        self._init()

    @property
    def period(self):
        return self._period

    cdef void _step(self, double* inp) noexcept nogil:
        cdef double x = inp[0]
        cdef double n = self._period
        cdef double o = self._buf[self.st.pos]
        cdef double p = n * x
        self._buf[self.st.pos] = x
        self.st.pos += 1
        if self.st.pos == self._period:
            self.st.pos = 0
        # W' = W - S + n*x, then S' = S - o + x
        neu_add(&self.st.w, &self.st.cw, p)
        neu_add(&self.st.w, &self.st.cw, -self.st.s)
        self.st.cw += fma(n, x, -p) - self.st.c
        roll_add(&self.st.s, &self.st.c, x, o)
        self.st.k += 1
        if self.st.k >= self._period:
            self._out[0] = (self.st.w + self.st.cw) / (n * (n + 1.0) * 0.5)


# ---------------------------------------------------------------------------
# DEMA / TEMA
# ---------------------------------------------------------------------------

cdef struct EmasSt:
    Ema e1, e2, e3
    double alpha


@cython.final
cdef class DEMA(_Single):
    """Double EMA ``2*e1 - e2`` (TA-Lib DEMA; every level seeded by an SMA)."""

    cdef EmasSt st
    cdef int _period

    def __init__(self, period=30, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=30, *, source=None):
        self._period = _check_int("DEMA", "period", period, 1)
        self._args = (self._period,)
        self._nout = 1
        self._init_source(source)
        self._setup(&self.st, sizeof(EmasSt), 0)
        self._init()

    cdef void _init(self) noexcept nogil:
        self._clear()
        self.st.alpha = 2.0 / (self._period + 1.0)

    @property
    def period(self):
        return self._period

    cdef void _step(self, double* inp) noexcept nogil:
        cdef double e1 = ema_push(&self.st.e1, inp[0], self._period, self.st.alpha)
        cdef double e2
        if isnan(e1):
            return
        e2 = ema_push(&self.st.e2, e1, self._period, self.st.alpha)
        if isnan(e2):
            return
        self._out[0] = (2.0 * e1) - e2


@cython.final
cdef class TEMA(_Single):
    """Triple EMA ``e3 + (3*e1 - 3*e2)`` (TA-Lib TEMA)."""

    cdef EmasSt st
    cdef int _period

    def __init__(self, period=30, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=30, *, source=None):
        self._period = _check_int("TEMA", "period", period, 1)
        self._args = (self._period,)
        self._nout = 1
        self._init_source(source)
        self._setup(&self.st, sizeof(EmasSt), 0)
        self._init()

    cdef void _init(self) noexcept nogil:
        self._clear()
        self.st.alpha = 2.0 / (self._period + 1.0)

    @property
    def period(self):
        return self._period

    cdef void _step(self, double* inp) noexcept nogil:
        cdef double e1 = ema_push(&self.st.e1, inp[0], self._period, self.st.alpha)
        cdef double e2, e3
        if isnan(e1):
            return
        e2 = ema_push(&self.st.e2, e1, self._period, self.st.alpha)
        if isnan(e2):
            return
        e3 = ema_push(&self.st.e3, e2, self._period, self.st.alpha)
        if isnan(e3):
            return
        self._out[0] = e3 + ((3.0 * e1) - (3.0 * e2))


# ---------------------------------------------------------------------------
# Stochastic
# ---------------------------------------------------------------------------

cdef struct SmaPlain:
    i64 k
    i64 pos
    double total


cdef inline double sma_plain(SmaPlain* s, double* ring, i64 n, double x) noexcept nogil:
    """TA-Lib's internal SMA (plain running total, as TA_INT_SMA)."""
    cdef double t
    ring[s.pos] = x
    s.pos += 1
    if s.pos == n:
        s.pos = 0
    s.k += 1
    s.total += x
    if s.k < n:
        return NAN
    t = s.total
    s.total -= ring[s.pos]   # the oldest of the window, next to be replaced
    return t / <double>n


cdef struct StochSt:
    DequeSt hi, lo
    SmaPlain sk, sd


@cython.final
cdef class Stochastic(_HLC):
    """Slow stochastic (TA-Lib STOCH with SMA slowing): ``(slowk, slowd)``."""

    cdef StochSt st
    cdef int _fastk, _slowk, _slowd

    def __init__(self, fastk=5, slowk=3, slowd=3):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, fastk=5, slowk=3, slowd=3):
        self._fastk = _check_int("Stochastic", "fastk", fastk, 1)
        self._slowk = _check_int("Stochastic", "slowk", slowk, 1)
        self._slowd = _check_int("Stochastic", "slowd", slowd, 1)
        self._args = (self._fastk, self._slowk, self._slowd)
        self._nout = 2
        self._nin = 3
        self._innames = ("high", "low", "close")
        self._setup(&self.st, sizeof(StochSt),
                    4 * self._fastk + self._slowk + self._slowd)
        self._init()

    @property
    def fastk(self):
        return self._fastk

    @property
    def slowk(self):
        return self._slowk

    @property
    def slowd(self):
        return self._slowd

    cdef void _step(self, double* inp) noexcept nogil:
        cdef i64 n = self._fastk
        cdef double* b = self._buf
        cdef double hh = deque_push(&self.st.hi, b, <i64*>(b + n), n, inp[0], True)
        cdef double ll = deque_push(&self.st.lo, b + 2 * n, <i64*>(b + 3 * n), n, inp[1], False)
        cdef double diff, k, sk, sd
        if isnan(hh):
            return
        diff = (hh - ll) / 100.0
        if fabs(hh - ll) <= TA_EPS * (fabs(hh) + fabs(ll)):    # TA-Lib's scale-aware zero test
            k = 0.0
        else:
            k = (inp[2] - ll) / diff
        sk = sma_plain(&self.st.sk, b + 4 * n, self._slowk, k)
        if isnan(sk):
            return
        sd = sma_plain(&self.st.sd, b + 4 * n + self._slowk, self._slowd, sk)
        if isnan(sd):
            return
        self._out[0] = sk
        self._out[1] = sd


# ---------------------------------------------------------------------------
# KAMA
# ---------------------------------------------------------------------------

cdef struct KAMASt:
    i64 k
    i64 pos
    double last, trailing, sumroc, kama


@cython.final
cdef class KAMA(_Single):
    """Kaufman adaptive moving average (TA-Lib KAMA, fast 2 / slow 30)."""

    cdef KAMASt st
    cdef int _period

    def __init__(self, period=30, *, source=None):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=30, *, source=None):
        self._period = _check_int("KAMA", "period", period, 1)
        self._args = (self._period,)
        self._nout = 1
        self._init_source(source)
        self._setup(&self.st, sizeof(KAMASt), self._period)
        self._init()

    @property
    def period(self):
        return self._period

    cdef void _step(self, double* inp) noexcept nogil:
        cdef double x = inp[0]
        cdef i64 n = self._period
        cdef i64 t = self.st.k
        cdef double old, roc, er
        cdef double cmax = 2.0 / (30.0 + 1.0)
        cdef double cdiff = 2.0 / (2.0 + 1.0) - cmax
        self.st.k += 1
        if n == 1:
            self._out[0] = x
            return
        old = self._buf[self.st.pos]          # x[t-n] once t >= n
        self._buf[self.st.pos] = x
        self.st.pos += 1
        if self.st.pos == n:
            self.st.pos = 0
        if t == 0:
            self.st.last = x
            return
        if t <= n:
            self.st.sumroc += fabs(self.st.last - x)
            if t < n:
                self.st.last = x
                return
            # first KAMA: prev = x[n-1], trailing = x[0]
            self.st.kama = self.st.last
            roc = x - old
            self.st.trailing = old
        else:
            roc = x - old
            self.st.sumroc -= fabs(self.st.trailing - old)
            self.st.sumroc += fabs(x - self.st.last)
            self.st.trailing = old
        # TA-Lib's scale-aware zero test of the sum of changes
        if self.st.sumroc <= roc or fabs(self.st.sumroc) <= TA_EPS * (fabs(x) + fabs(old)):
            er = 1.0
        else:
            er = fabs(roc / self.st.sumroc)
        er = er * cdiff + cmax
        er *= er
        self.st.kama = (x - self.st.kama) * er + self.st.kama
        self.st.last = x
        self._out[0] = self.st.kama


# ---------------------------------------------------------------------------
# ADX
# ---------------------------------------------------------------------------

cdef struct ADXSt:
    i64 k
    double ph, pl, pc, pdm, mdm, tr, sumdx, adx


@cython.final
cdef class ADX(_HLC):
    """Average directional index (TA-Lib ADX, Wilder smoothing)."""

    cdef ADXSt st
    cdef int _period

    def __init__(self, period=14):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=14):
        self._period = _check_int("ADX", "period", period, 2)
        self._args = (self._period,)
        self._nout = 1
        self._nin = 3
        self._innames = ("high", "low", "close")
        self._setup(&self.st, sizeof(ADXSt), 0)
        self._init()

    @property
    def period(self):
        return self._period

    cdef void _step(self, double* inp) noexcept nogil:
        cdef double h = inp[0], l = inp[1], c = inp[2]
        cdef double n = self._period
        cdef i64 t = self.st.k
        cdef double dp, dm, tr, mdi, pdi, s, dx
        self.st.k += 1
        if t == 0:
            self.st.ph = h
            self.st.pl = l
            self.st.pc = c
            return
        dp = h - self.st.ph
        self.st.ph = h
        dm = self.st.pl - l
        self.st.pl = l
        if t >= self._period:
            self.st.mdm -= self.st.mdm / n
            self.st.pdm -= self.st.pdm / n
        if dm > 0 and dp < dm:
            self.st.mdm += dm
        elif dp > 0 and dp > dm:
            self.st.pdm += dp
        tr = true_range(h, l, self.st.pc)
        self.st.pc = c
        if t < self._period:
            self.st.tr += tr
            return
        self.st.tr = self.st.tr - self.st.tr / n + tr
        dx = NAN
        if self.st.tr != 0.0:
            mdi = 100.0 * (self.st.mdm / self.st.tr)
            pdi = 100.0 * (self.st.pdm / self.st.tr)
            s = mdi + pdi
            if s != 0.0:
                dx = 100.0 * (fabs(mdi - pdi) / s)
        if t < 2 * self._period - 1:
            if not isnan(dx):
                self.st.sumdx += dx
            return
        if t == 2 * self._period - 1:
            if not isnan(dx):
                self.st.sumdx += dx
            self.st.adx = self.st.sumdx / n
        elif not isnan(dx):
            self.st.adx = (self.st.adx * (n - 1) + dx) / n
        self._out[0] = self.st.adx
