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
folds each block into the pair.  StdDev/BollingerBands sum d = x - r and d*d
around a reference r (a value of the data), and re-centre (r = the newest
value, the window's sums recomputed from its ring) when the sum of squared
deviations is within 2**-33 of the rounding the running sums may hold
(``VAR_TRIG``): amortized O(1), exact zeros on flat windows, no drift.
Wilder smoothing and EMAs are written with one multiply-add on the
loop-carried chain (equal to TA-Lib within an ulp or so); ATR keeps Wilder's
recurrence as a scaled sum (one addition on the chain, see ``atr_push``).
Batch loops keep the state in locals (registers) and write it back at the
end; StdDev/BollingerBands run in blocks of two passes (the sums, then
packed square roots); RollingMax's batch uses van Herk/Gil-Werman block
maxima once the window lies inside the array (two halves of the array side
by side) and then rebuilds its deque.  Every batch computes what ``update``
computes, bit for bit (the same inline step functions, or the same
operations in the same order).
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.object cimport PyObject
from cpython.ref cimport Py_XDECREF
from cpython.tuple cimport PyTuple_GET_SIZE
from libc.float cimport DBL_MAX
from libc.math cimport INFINITY, NAN, fabs, fma, isfinite, isnan
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
        for arr in out:
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
        cdef int nin = self._nin, nout = self._nout
        cdef const double[::1] a0 = arrs[0]
        cdef const double[::1] a1 = arrs[1] if nin > 1 else arrs[0]
        cdef const double[::1] a2 = arrs[2] if nin > 2 else arrs[0]
        outs = [np.empty(n, dtype=np.float64) for _ in range(nout)]
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

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* 1 when every a[i] is finite: (bits & exponent) + 2**52 carries into
       the sign bit exactly for an all-ones exponent (integer ops: vectorized) */
    static int admf_all_finite(const double* a, Py_ssize_t n) {
        uint64_t acc = 0, b;
        for (Py_ssize_t i = 0; i < n; i++) {
            memcpy(&b, &a[i], 8);
            acc |= (b & 0x7ff0000000000000ULL) + 0x0010000000000000ULL;
        }
        return (acc >> 63) == 0;
    }
    """
    int admf_all_finite(const double* a, Py_ssize_t n) noexcept nogil


cdef struct ATRSt:
    i64 k
    i64 j          # bar of the current block of ATR_K bars (Wilder phase)
    double pc, sum, atr
    double A       # the block's scaled sum: atr = A * alpha**(j+1) (see atr_push)


cdef enum:
    ATR_K = 32     # bars per block of the scaled Wilder recurrence


cdef inline double atr_push(ATRSt* st, i64 period, double h, double l, double c,
                            const double* tab) noexcept nogil:
    """One bar.  After the seed, Wilder's atr' = alpha * atr + tr / n
    (alpha = (n-1)/n) is kept as atr_t = alpha**(j+1) * A with
    A += tr * w[j], w[j] = (1/n) / alpha**(j+1) (tab[0:K]) and
    tab[K + j] = alpha**(j+1): one addition on the loop-carried chain; every
    ATR_K bars A restarts from the current value (all the terms are >= 0:
    no cancellation, ~K ulps).  Period 1: atr = tr."""
    cdef double tr, out
    cdef i64 j
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
        st.atr = st.sum / <double>period
        st.A = st.atr
        st.j = 0
        return st.atr
    if period == 1:
        st.atr = tr
        return tr
    j = st.j
    st.A += tr * tab[j]
    out = st.A * tab[ATR_K + j]
    j += 1
    if j == ATR_K:
        st.A = out
        j = 0
    st.j = j
    st.atr = out
    return out


@cython.final
cdef class ATR(_HLC):
    """Average true range (TA-Lib ATR: TR from bar 1, mean seed, Wilder)."""

    cdef ATRSt st
    cdef int _period
    cdef double _tab[2 * ATR_K]

    def __init__(self, period=14):
        pass   # arguments are taken by __cinit__

    def __cinit__(self, period=14):
        cdef int i
        cdef double alpha, pw = 1.0, inv
        self._period = _check_int("ATR", "period", period, 1)
        self._args = (self._period,)
        self._nout = 1
        self._nin = 3
        self._innames = ("high", "low", "close")
        self._setup(&self.st, sizeof(ATRSt), 0)
        inv = 1.0 / self._period
        alpha = (self._period - 1.0) / self._period
        for i in range(ATR_K):
            pw = pw * alpha
            self._tab[ATR_K + i] = pw
            self._tab[i] = inv / pw if pw > 0.0 else 0.0
        self._init()

    @property
    def period(self):
        return self._period

    cdef inline double _push(self, double h, double l, double c) noexcept nogil:
        return atr_push(&self.st, self._period, h, l, c, self._tab)

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
        cdef Py_ssize_t n = h.shape[0], i, e
        out = np.empty(n, dtype=np.float64)
        cdef double[::1] o = out
        cdef int bad = 0
        cdef ATRSt st = self.st
        cdef i64 p = self._period, j
        cdef const double* tab = self._tab
        cdef double hi, lo, pc, A, r, t, v = 0.0, chk = 0.0
        cdef double q[ATR_K]
        cdef Py_ssize_t t0
        if n == 0:
            return out
        cdef Py_ssize_t m
        with nogil:
            # warm-up, seed (and period 1) bar by bar, and at least one bar,
            # so that the previous close is c[i - 1] from then on
            m = 0
            while m < n and (st.k <= p or p == 1 or m == 0):
                bad |= not (isfinite(h[m]) and isfinite(l[m]) and isfinite(c[m]))
                o[m] = atr_push(&st, p, h[m], l[m], c[m], tab)
                m += 1
            # then atr_push's Wilder branch in runs up to the end of a block,
            # in two passes: tr * w[j] (independent bars: packed), then the
            # chain A += q; atr = A * alpha**(j+1).  A non-finite high or low
            # makes its true range, so A (a sum of terms >= 0, never reset
            # but to its own multiple), non-finite; a non-finite close the
            # plain sum chk: checked once, at the end
            if m < n:
                A = st.A
                j = st.j
                i = m
                while i < n:
                    e = i + (ATR_K - j)
                    if e > n:
                        e = n
                    for t0 in range(e - i):
                        hi = h[i + t0]
                        lo = l[i + t0]
                        pc = c[i + t0 - 1]
                        r = hi - lo
                        t = fabs(hi - pc)
                        r = t if t > r else r
                        t = fabs(lo - pc)
                        r = t if t > r else r
                        q[t0] = r * tab[j + t0]
                    for t0 in range(e - i):
                        chk += c[i + t0]
                        A += q[t0]
                        v = A * tab[ATR_K + j + t0]
                        o[i + t0] = v
                    j += e - i
                    if j == ATR_K:
                        A = v
                        j = 0
                    i = e
                st.pc = c[n - 1]
                st.A = A
                st.j = j
                st.atr = v
                st.k += n - m
                if not (fabs(chk) <= DBL_MAX and fabs(A) <= DBL_MAX):   # or an overflow
                    bad |= not (admf_all_finite(&h[0], n) and admf_all_finite(&l[0], n)
                                and admf_all_finite(&c[0], n))
            if not bad:
                self.st = st
                self._out[0] = o[n - 1]
                self._count += n
        if bad:
            self._bad_batch(arrs)
        return out


# ---------------------------------------------------------------------------
# StdDev and BollingerBands: shifted sums around a reference value
# ---------------------------------------------------------------------------

cdef struct VarSt:
    i64 k          # values in the window (at most n)
    i64 pos        # ring position of the oldest value (the next one to leave)
    double r       # the reference: a value of the data, set at each re-centring
    double s1, s2  # window sums of d = x - r and of d*d
    double e       # error scale: the sum of s2 over the bars since the last re-centring
    double zn      # n * (1e-14 * r)^2: m2 at or below it is rounding noise (TA-Lib)


#: re-centre when the sum of squared deviations from the mean (m2) is within
#: 2**-33 of the rounding the running sums may hold (~8 ulps of e): the
#: variance is then either rounding noise or no longer accurate enough.
cdef double VAR_TRIG = 8.0 * 2.0 ** -53 * 2.0 ** 33
#: e just after a re-centring: below 0, so a window that stays exactly flat
#: (s2 == m2 == 0) is not re-centred again; any s2 > 0 makes e positive.
cdef double VAR_E0 = -1e-300


cdef inline void renorm(double* s, double* c) noexcept nogil:
    """(s, c) -> the same exact sum with |c| <= ulp(s) / 2 (TwoSum)."""
    cdef double t = s[0] + c[0]
    cdef double bp = t - s[0]
    c[0] = (s[0] - (t - bp)) + (c[0] - bp)
    s[0] = t


cdef inline void var_resum(VarSt* st, const double* w1, i64 n1, const double* w2, i64 n2,
                           double r) noexcept nogil:
    """r = the newest value; s1, s2 recomputed from the window (w1[:n1] then
    w2[:n2], oldest first); e = 0.  A flat window gives exact zeros from
    then on."""
    cdef i64 j
    cdef double s1 = 0.0, s2 = 0.0, d
    for j in range(n1):
        d = w1[j] - r
        s1 += d
        s2 += d * d
    for j in range(n2):
        d = w2[j] - r
        s1 += d
        s2 += d * d
    st.r = r
    st.zn = <double>(n1 + n2) * ((TA_EPS * r) * (TA_EPS * r))
    st.s1 = s1
    st.s2 = s2
    st.e = VAR_E0


cdef inline void var_roll(VarSt* st, double x, double xo) noexcept nogil:
    """x enters the full window, xo leaves it."""
    cdef double d = x - st.r
    cdef double do_ = xo - st.r
    st.s1 += d - do_
    st.s2 += d * d - do_ * do_
    st.e += st.s2


cdef inline bint var_push(VarSt* st, double* ring, i64 n, double x) noexcept nogil:
    """x enters the window (ring of n values), the oldest value leaves once
    the window is full; True when it is full."""
    cdef i64 pos = st.pos
    cdef double xo = ring[pos], d
    ring[pos] = x
    pos += 1
    if pos == n:
        pos = 0
    st.pos = pos
    if st.k == n:
        var_roll(st, x, xo)
        return True
    if st.k == 0:
        st.r = x
        st.zn = <double>n * ((TA_EPS * x) * (TA_EPS * x))
    d = x - st.r
    st.s1 += d
    st.s2 += d * d
    st.e += st.s2
    st.k += 1
    return st.k == n


cdef inline bint var_stale(VarSt* st, double m2) noexcept nogil:
    """True when m2 is within 2**-33 of the rounding the running sums may
    hold (e > 0: they changed since the last re-centring): re-centre
    (amortized O(1): see VAR_TRIG)."""
    return m2 <= st.e * VAR_TRIG


cdef inline double var_m2(VarSt* st, double* ring, i64 n, double inv) noexcept nogil:
    """The window's sum of squared deviations from its mean (the mean is
    st.r + st.s1 * inv), re-centring first when needed (ring: pos is the oldest)."""
    cdef double m2 = st.s2 - st.s1 * (st.s1 * inv)
    cdef i64 pos
    if var_stale(st, m2):
        pos = st.pos
        var_resum(st, ring + pos, n - pos, ring, pos, ring[n - 1 if pos == 0 else pos - 1])
        m2 = st.s2 - st.s1 * (st.s1 * inv)
    return m2


cdef inline double var_m2_arr(VarSt* st, const double* w, i64 n, double inv) noexcept nogil:
    """var_m2 with the window in w[0:n] (oldest first): the same arithmetic."""
    cdef double m2 = st.s2 - st.s1 * (st.s1 * inv)
    if var_stale(st, m2):
        var_resum(st, w, n, w, 0, w[n - 1])
        m2 = st.s2 - st.s1 * (st.s1 * inv)
    return m2


cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif
    /* sqrt of a value known to be >= 0: the instruction, without libm's
       errno branch (correctly rounded either way: the same bits) */
    static inline double admf_sqrt(double v) {
    #if defined(__SSE2__)
        return _mm_cvtsd_f64(_mm_sqrt_sd(_mm_setzero_pd(), _mm_set_sd(v)));
    #else
        return sqrt(v);
    #endif
    }
    /* out[j] = sqrt(v[j]) * nb for v[j] >= 0: packed square roots (AVX when
       the CPU has it, else SSE2), each correctly rounded like sqrtsd: the
       same bits as admf_sqrt(v) * nb */
    #define ADMF_SQRT_BLOCK_TAIL(j) \
        for (; j < n; j++) out[j] = admf_sqrt(v[j]) * nb;
    static void admf_sqrt_block_sse2(const double* v, double* out, Py_ssize_t n, double nb) {
        Py_ssize_t j = 0;
    #if defined(__SSE2__)
        __m128d vnb = _mm_set1_pd(nb);
        for (; j + 2 <= n; j += 2)
            _mm_storeu_pd(out + j, _mm_mul_pd(_mm_sqrt_pd(_mm_loadu_pd(v + j)), vnb));
    #endif
        ADMF_SQRT_BLOCK_TAIL(j)
    }
    /* Bollinger bands from the variances v[j] >= 0 and means md[j]: the
       same operations as bb_push, packed */
    #define ADMF_BB_BLOCK_TAIL(j) \
        for (; j < n; j++) { double sd_ = admf_sqrt(v[j]), m_ = md[j]; \
            up[j] = m_ + sd_ * u; mid[j] = m_; lo[j] = m_ - sd_ * d; }
    static void admf_bb_block_sse2(const double* v, const double* md, double* up, double* mid,
                                   double* lo, Py_ssize_t n, double u, double d) {
        Py_ssize_t j = 0;
    #if defined(__SSE2__)
        __m128d vu = _mm_set1_pd(u), vd = _mm_set1_pd(d);
        for (; j + 2 <= n; j += 2) {
            __m128d sd = _mm_sqrt_pd(_mm_loadu_pd(v + j)), m = _mm_loadu_pd(md + j);
            _mm_storeu_pd(up + j, _mm_add_pd(m, _mm_mul_pd(sd, vu)));
            _mm_storeu_pd(mid + j, m);
            _mm_storeu_pd(lo + j, _mm_sub_pd(m, _mm_mul_pd(sd, vd)));
        }
    #endif
        ADMF_BB_BLOCK_TAIL(j)
    }
    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    #include <immintrin.h>
    __attribute__((target("avx")))
    static void admf_bb_block_avx(const double* v, const double* md, double* up, double* mid,
                                  double* lo, Py_ssize_t n, double u, double d) {
        Py_ssize_t j = 0;
        __m256d vu = _mm256_set1_pd(u), vd = _mm256_set1_pd(d);
        for (; j + 4 <= n; j += 4) {
            __m256d sd = _mm256_sqrt_pd(_mm256_loadu_pd(v + j)), m = _mm256_loadu_pd(md + j);
            _mm256_storeu_pd(up + j, _mm256_add_pd(m, _mm256_mul_pd(sd, vu)));
            _mm256_storeu_pd(mid + j, m);
            _mm256_storeu_pd(lo + j, _mm256_sub_pd(m, _mm256_mul_pd(sd, vd)));
        }
        ADMF_BB_BLOCK_TAIL(j)
    }
    __attribute__((target("avx")))
    static void admf_sqrt_block_avx(const double* v, double* out, Py_ssize_t n, double nb) {
        Py_ssize_t j = 0;
        __m256d vnb = _mm256_set1_pd(nb);
        for (; j + 4 <= n; j += 4)
            _mm256_storeu_pd(out + j, _mm256_mul_pd(_mm256_sqrt_pd(_mm256_loadu_pd(v + j)), vnb));
        ADMF_SQRT_BLOCK_TAIL(j)
    }
    static int admf_has_avx(void) {
        static int has_avx = -1;
        if (has_avx < 0) { __builtin_cpu_init(); has_avx = __builtin_cpu_supports("avx") ? 1 : 0; }
        return has_avx;
    }
    static void admf_sqrt_block(const double* v, double* out, Py_ssize_t n, double nb) {
        if (admf_has_avx()) admf_sqrt_block_avx(v, out, n, nb);
        else admf_sqrt_block_sse2(v, out, n, nb);
    }
    static void admf_bb_block(const double* v, const double* md, double* up, double* mid,
                              double* lo, Py_ssize_t n, double u, double d) {
        if (admf_has_avx()) admf_bb_block_avx(v, md, up, mid, lo, n, u, d);
        else admf_bb_block_sse2(v, md, up, mid, lo, n, u, d);
    }
    #else
    #define admf_sqrt_block admf_sqrt_block_sse2
    #define admf_bb_block admf_bb_block_sse2
    #endif
    """
    void admf_sqrt_block(const double* v, double* out, Py_ssize_t n, double nb) noexcept nogil
    void admf_bb_block(const double* v, const double* md, double* up, double* mid, double* lo,
                       Py_ssize_t n, double u, double d) noexcept nogil
    double admf_sqrt(double v) noexcept nogil


cdef inline double var_v(VarSt* st, double m2, double inv) noexcept nogil:
    """Population variance from m2; a variance below (1e-14 * level)^2 is
    rounding noise (TA-Lib): 0 (the level: the reference r, a value of the
    recent data)."""
    return 0.0 if m2 <= st.zn else m2 * inv


cdef inline double var_sd(VarSt* st, double m2, double inv) noexcept nogil:
    """Population deviation from m2 (var_v's square root)."""
    return admf_sqrt(var_v(st, m2, inv))


cdef inline double stddev_push(VarSt* st, double* ring, i64 n, double x, double inv,
                               double nbdev) noexcept nogil:
    cdef double m2
    if var_push(st, ring, n, x):
        m2 = var_m2(st, ring, n, inv)
        return var_sd(st, m2, inv) * nbdev
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
        self._setup(&self.st, sizeof(VarSt), self._period)
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
        cdef double inv = self._inv, nb = self._nbdev, m2
        cdef i64 pos0 = self.st.pos
        cdef Py_ssize_t m, i0, b
        cdef double blk[BLOCK]
        if n == 0:
            return out
        with nogil:
            # the whole array is checked first (vectorized), so the loops need not
            bad = not admf_all_finite(&a[0], n)
        if bad:
            self._bad_batch(arrs)
        with nogil:
            self._push_state()
            # the first p bars through the ring, then the window is a[i-p+1 .. i]
            m = n if n < p else p
            for i in range(m):
                x = a[i]
                bad |= not (fabs(x) <= DBL_MAX)
                o[i] = stddev_push(&st, ring, p, x, inv, nb)
            # blocks of two passes: the sums and the variances, then the
            # square roots (packed) times nb
            i0 = m
            while i0 < n:
                b = n - i0 if n - i0 < BLOCK else BLOCK
                for i in range(i0, i0 + b):
                    var_roll(&st, a[i], a[i - p])
                    m2 = var_m2_arr(&st, &a[i - p + 1], p, inv)
                    blk[i - i0] = var_v(&st, m2, inv)
                admf_sqrt_block(blk, &o[i0], b, nb)
                i0 += b
            if n > m:
                for i in range(n - p, n):
                    ring[(pos0 + i) % p] = a[i]
                st.pos = (pos0 + n) % p
            if bad:
                self._pop_state()
            else:
                self.st = st
                self._out[0] = o[n - 1]
                self._count += n
        if bad:
            self._bad_batch(arrs)
        return out


cdef inline bint bb_push(VarSt* st, double* ring, i64 n, double x, double inv, double up,
                         double down, double* out) noexcept nogil:
    cdef double m2, mid, sd
    if var_push(st, ring, n, x):
        m2 = var_m2(st, ring, n, inv)
        mid = st.r + st.s1 * inv
        sd = var_sd(st, m2, inv)
        out[0] = mid + sd * up
        out[1] = mid
        out[2] = mid - sd * down
        return True
    return False


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
        self._setup(&self.st, sizeof(VarSt), self._period)
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
        cdef double inv = self._inv, u = self._up, d = self._down, m2
        cdef i64 pos0 = self.st.pos
        cdef Py_ssize_t m, i0, b
        cdef double blk[2 * BLOCK]
        if n == 0:
            return (up, mid, lo)
        res[0] = self._out[0]
        res[1] = self._out[1]
        res[2] = self._out[2]
        with nogil:
            bad = not admf_all_finite(&a[0], n)
        if bad:
            self._bad_batch(arrs)
        with nogil:
            self._push_state()
            m = n if n < p else p
            for i in range(m):
                x = a[i]
                bad |= not (fabs(x) <= DBL_MAX)
                bb_push(&st, ring, p, x, inv, u, d, res)
                o0[i] = res[0]
                o1[i] = res[1]
                o2[i] = res[2]
            # blocks of two passes: the sums, variances and means, then the
            # bands (packed square roots)
            i0 = m
            while i0 < n:
                b = n - i0 if n - i0 < BLOCK else BLOCK
                for i in range(i0, i0 + b):
                    var_roll(&st, a[i], a[i - p])
                    m2 = var_m2_arr(&st, &a[i - p + 1], p, inv)
                    blk[i - i0] = var_v(&st, m2, inv)
                    blk[BLOCK + i - i0] = st.r + st.s1 * inv
                admf_bb_block(blk, blk + BLOCK, &o0[i0], &o1[i0], &o2[i0], b, u, d)
                i0 += b
            if n > m:
                res[0] = o0[n - 1]
                res[1] = o1[n - 1]
                res[2] = o2[n - 1]
                for i in range(n - p, n):
                    ring[(pos0 + i) % p] = a[i]
                st.pos = (pos0 + n) % p
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


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #include <math.h>
    /* 1 << 63 set in the result when some a[i] is not finite: (bits & exp) + 2**52
       carries into the sign bit exactly for an all-ones exponent (integer ops) */
    #define ADMF_NF(acc, ptr) do { uint64_t b_; memcpy(&b_, (ptr), 8); \\
        (acc) |= (b_ & 0x7ff0000000000000ULL) + 0x0010000000000000ULL; } while (0)
    #define ADMF_MAX(v, g) ((v) > (g) ? (v) : (g))
    /* ADMF_NF over a[0:L] (integer ops: vectorized) */
    static inline uint64_t admf_nf_run(const double* a, Py_ssize_t L) {
        uint64_t acc = 0;
        for (Py_ssize_t t = 0; t < L; t++) ADMF_NF(acc, &a[t]);
        return acc;
    }

    /* One block [bs, bs+L): prefix maxima with the previous block's suffix
       maxima sp (sp[L..] = -inf) give the outputs; its own suffix maxima go to sc. */
    static inline void admf_vh_block(const double* a, double* o, Py_ssize_t bs, Py_ssize_t L,
                                     const double* sp, double* sc, uint64_t* nf) {
        double g = -INFINITY, h = -INFINITY, v, w;
        uint64_t acc = 0;
        for (Py_ssize_t t = 0; t < L; t++) {
            v = a[bs + t];
            g = ADMF_MAX(v, g);
            w = sp[t + 1];
            o[bs + t] = ADMF_MAX(w, g);
            v = a[bs + L - 1 - t];
            h = ADMF_MAX(v, h);
            sc[L - 1 - t] = h;
        }
        *nf |= acc | admf_nf_run(a + bs, L);
    }

    /* Windows of p ending at i in [p-1, n) (n >= p), maxima by van Herk /
       Gil-Werman on blocks of p aligned at 0: two halves of the array side
       by side (four independent chains).  buf: 4 * (p + 1) doubles.
       Returns 1 when some a[i] is not finite. */
    static int admf_vhgw(const double* a, double* o, Py_ssize_t n, Py_ssize_t p, double* buf) {
        double *sa = buf, *ca = buf + (p + 1), *sb = buf + 2 * (p + 1), *cb = buf + 3 * (p + 1), *tmp;
        Py_ssize_t kf = n / p, h, ka, kb, t;
        uint64_t nf = 0;
        double ga, gb, ha, hb, v, w;
        sa[p] = ca[p] = sb[p] = cb[p] = -INFINITY;
        /* block 0: suffix maxima only */
        ha = -INFINITY;
        for (t = p - 1; t >= 0; t--) {
            v = a[t];
            ha = ADMF_MAX(v, ha);
            sa[t] = ha;
        }
        o[p - 1] = sa[0];
        nf |= admf_nf_run(a, p);
        /* region A: blocks 1 .. h-1, region B: blocks h .. kf-1 */
        h = 1 + (kf - 1) / 2;
        if (h < kf) {
            hb = -INFINITY;
            for (t = p - 1; t >= 0; t--) {   /* the suffix maxima of block h-1 */
                v = a[(h - 1) * p + t];
                hb = ADMF_MAX(v, hb);
                sb[t] = hb;
            }
        }
        ka = 1;
        kb = h;
        while (ka < h && kb < kf) {
            Py_ssize_t ba = ka * p, bb = kb * p;
            uint64_t acc = 0;
            ga = gb = ha = hb = -INFINITY;
            for (t = 0; t < p; t++) {
                v = a[ba + t];
                ga = ADMF_MAX(v, ga);
                w = sa[t + 1];
                o[ba + t] = ADMF_MAX(w, ga);
                v = a[bb + t];
                gb = ADMF_MAX(v, gb);
                w = sb[t + 1];
                o[bb + t] = ADMF_MAX(w, gb);
                v = a[ba + p - 1 - t];
                ha = ADMF_MAX(v, ha);
                ca[p - 1 - t] = ha;
                v = a[bb + p - 1 - t];
                hb = ADMF_MAX(v, hb);
                cb[p - 1 - t] = hb;
            }
            nf |= acc | admf_nf_run(a + ba, p) | admf_nf_run(a + bb, p);
            tmp = sa; sa = ca; ca = tmp;
            tmp = sb; sb = cb; cb = tmp;
            ka++;
            kb++;
        }
        while (ka < h) {   /* not reached: region B has at least as many blocks */
            admf_vh_block(a, o, ka * p, p, sa, ca, &nf);
            tmp = sa; sa = ca; ca = tmp;
            ka++;
        }
        while (kb < kf) {
            admf_vh_block(a, o, kb * p, p, sb, cb, &nf);
            tmp = sb; sb = cb; cb = tmp;
            kb++;
        }
        if (kf * p < n) {   /* the partial last block, after block kf-1 */
            double* sp = (kf - 1 >= h) ? sb : sa;
            admf_vh_block(a, o, kf * p, n - kf * p, sp, (sp == sb) ? cb : ca, &nf);
        }
        return (nf >> 63) != 0;
    }
    """
    int admf_vhgw(const double* a, double* o, Py_ssize_t n, Py_ssize_t p, double* buf) noexcept nogil


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
        cdef Py_ssize_t n = a.shape[0], i, m
        out = np.empty(n, dtype=np.float64)
        cdef double[::1] o = out
        cdef double x
        cdef int bad = 0
        cdef DequeSt st = self.st
        cdef double* hprev
        cdef double* hcur
        cdef double* ring = self._buf
        cdef i64* idx = <i64*>(self._buf + self._period)
        cdef i64 p = self._period, k0 = self.st.k
        if n == 0:
            return out
        hprev = <double*>malloc(4 * (p + 1) * sizeof(double))
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
            # van Herk / Gil-Werman on blocks of p elements aligned at 0
            # (admf_vhgw: branch-free maxima, the same values; it checks
            # the finiteness of every element)
            if n >= p:
                bad |= admf_vhgw(&a[0], &o[0], n, p, hprev)
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
