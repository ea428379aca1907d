# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
# cython: freethreading_compatible=True
"""Compiled incremental indicators (O(1) per bar), equal to TA-Lib's.

Twin (specification): ``_indicators_py.py``.  Semantics: docs/indicators.md.

Written once:
- each indicator's own part (its state, initialisation, step and, where it
  pays, a whole-array run) is in ``_ind_kernels.pxd``;
- its class is expanded from one template row (``_indicators_classes.pxi.in``
  -> ``_indicators_impl.pxi``, included at the end of this module): the
  constructor's checks, ``update``/``peek`` with its inputs, ``update_raw``;
- what every class shares is here, in ``_Indicator``: ``batch``, composition
  (``source=``), ``value``/``ready``/``count``, ``reset``, ``copy``, pickling.

State: the kernel's struct (``st``: numbers only, parameters included) and a
ring of doubles (``_ring``).  A batch saves both, runs the kernel over the
arrays without the GIL, and restores them when the kernel met a non-finite
input; while it runs, every other call on the indicator raises RuntimeError
(``_busy``) instead of racing it.  Pickles hold a versioned state of plain
numbers (the struct as a dict, the ring as a list): they load into the
pure-Python twin and back (``_indicator_state.rebuild``).
"""

cimport cython
from cpython.object cimport PyObject
from cpython.pycapsule cimport PyCapsule_GetPointer
from cpython.ref cimport Py_XDECREF
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsLong
from cpython.tuple cimport PyTuple_GET_SIZE
from libc.math cimport NAN, isfinite, isnan
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

from admf_perf._ext._ft cimport ADMF_FT, admf_cs, admf_cs_begin, admf_cs_end
from admf_perf._ext._workers cimport *

import os

import numpy as np

cimport numpy as cnp

cnp.import_array()

from admf_perf._ext._ind_kernels cimport *
from admf_perf._ext._indicator_state import check_state
from admf_perf._validate import check_int, check_real

__all__ = [
    "ADX", "APO", "ATR", "Aroon", "BollingerBands", "CCI", "ChaikinOscillator", "CMO", "DEMA", "EMA", "KAMA",
    "MACD", "MFI", "Momentum", "NATR", "OBV", "PPO", "ROC", "RSI", "RollingMax", "RollingMin", "SMA",
    "ParabolicSAR", "StdDev", "StochRSI", "Stochastic", "T3", "TEMA", "TRIMA", "TrueRange", "UltimateOscillator",
    "VWAP", "WMA", "WilliamsR",
]

#: Version of the pickled state (a tuple of plain numbers, shared with the twin).
STATE_VERSION = 4

cdef extern from "admf_ind.h":
    double admf_missing() noexcept nogil
    bint admf_is_missing(double x) noexcept nogil

cdef double MISSING = admf_missing()


# ---------------------------------------------------------------------------
# The runs and bank updates: this module's, or the AVX2 builds' (_ind_simd,
# _ind_bank_simd: the same kernels, the same bits) where the CPU has AVX2,
# unless ADMF_PERF_SIMD=0
# ---------------------------------------------------------------------------

cdef extern from "admf_ind.h":
    int admf_cpu_avx2() noexcept nogil
    void admf_fma_init() noexcept nogil

admf_fma_init()     # the fma instruction where the CPU has it (admf_ind.h)

cdef run_fn* SIMD = NULL
cdef bank_update_fn* SIMD_BANK = NULL


def _use_simd(enable=True):
    """Run ``batch`` and ``IndicatorBank.update`` through the AVX2 builds
    (``_ind_simd``, ``_ind_bank_simd``: ``enable`` true, when the CPU has AVX2
    and the modules were built) or this module's own code; returns the name
    of the runs now in use, ``"avx2"`` or ``"baseline"``.  The results are the
    same bit for bit either way (a bank takes its update when it is made)."""
    global SIMD, SIMD_BANK, RUNS
    SIMD = NULL
    SIMD_BANK = NULL
    if enable and admf_cpu_avx2():
        try:
            from admf_perf._ext import _ind_simd
        except ImportError:
            pass
        else:
            SIMD = <run_fn*>PyCapsule_GetPointer(_ind_simd.RUNS, _ind_simd.CAPSULE_NAME.encode())
        try:
            from admf_perf._ext import _ind_bank_simd
        except ImportError:
            pass
        else:
            SIMD_BANK = <bank_update_fn*>PyCapsule_GetPointer(_ind_bank_simd.BANK_UPDATES,
                                                              _ind_bank_simd.CAPSULE_NAME.encode())
    RUNS = "avx2" if SIMD != NULL else "baseline"
    return RUNS


#: The runs ``batch`` uses: ``"avx2"`` or ``"baseline"`` (see ``_use_simd``).
RUNS = _use_simd(os.environ.get("ADMF_PERF_SIMD", "1") != "0")


def _fail_scratch(Py_ssize_t k):
    """Tests: the next ``k`` scratch allocations of this module's runs fail
    (the baseline runs: see ``_use_simd``), as when memory runs out; each run
    then leaves everything as it was and ``batch`` steps bar by bar.  Returns
    how many failures were still pending."""
    global admf_scratch_failures
    cdef Py_ssize_t left = admf_scratch_failures
    admf_scratch_failures = k
    return left


cdef extern from *:
    """
    /* The result of update -- a float, or an (x, y[, z]) tuple of floats --
       is reused when nobody else holds it any more (refcount 1: only this
       indicator), its floats written in place: the result-tuple reuse of
       CPython's zip() and enumerate(), and for a float the new object and
       its deallocation saved.  Not where a tuple caches its hash (3.14) or
       refcounts are not exact (free-threaded builds): there a new object
       every time. */
    #include "admf_internals.h"
    #if PY_VERSION_HEX < 0x030E0000 && !defined(Py_GIL_DISABLED)
    #define ADMF_TUPLE_REUSE 1
    #else
    #define ADMF_TUPLE_REUSE 0
    #endif
    #if defined(__GNUC__)
    #define ADMF_NOINLINE __attribute__((noinline))
    #else
    #define ADMF_NOINLINE
    #endif
    /* admf_float1 when the last result is held elsewhere: a new float (kept
       as the next one to reuse). Out of line: the inline part below is the
       whole of the common case. */
    static ADMF_NOINLINE PyObject* admf_float1_new(PyObject** cache, double a) {
        PyObject* f = *cache;
        PyObject* nf = PyFloat_FromDouble(a);
        if (nf == NULL) return NULL;
    #if ADMF_TUPLE_REUSE
        if (admf_internals) {
            Py_XDECREF(f);
            Py_INCREF(nf);
            *cache = nf;
        }
    #endif
        return nf;
    }
    static inline PyObject* admf_float1(PyObject** cache, double a) {
    #if ADMF_TUPLE_REUSE
        PyObject* f = *cache;
        if (admf_internals && f != NULL && Py_REFCNT(f) == 1) {
            ((PyFloatObject*)f)->ob_fval = a;
            Py_INCREF(f);
            return f;
        }
    #endif
        return admf_float1_new(cache, a);
    }
    static PyObject* admf_tuple(PyObject** cache, const double* v, Py_ssize_t n) {
        PyObject* t = *cache;
        Py_ssize_t i;
    #if ADMF_TUPLE_REUSE
        if (admf_internals && t != NULL && Py_REFCNT(t) == 1) {
            for (i = 0; i < n; i++) {
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
        PyObject* nt = PyTuple_New(n);
        if (nt == NULL) return NULL;
        for (i = 0; i < n; i++) {
            PyObject* f = PyFloat_FromDouble(v[i]);
            if (f == NULL) { Py_DECREF(nt); return NULL; }
            PyTuple_SET_ITEM(nt, i, f);
        }
    #if ADMF_TUPLE_REUSE
        Py_XDECREF(t);
        Py_INCREF(nt);
        *cache = nt;
    #else
        (void)t;
    #endif
        return nt;
    }
    """
    object admf_float1(PyObject** cache, double a)
    object admf_tuple(PyObject** cache, const double* v, Py_ssize_t n)
    bint ADMF_TUPLE_REUSE
    bint admf_internals
    int admf_internals_init() noexcept


admf_internals_init()   # docs/internals.md: ADMF_PERF_PORTABLE=1 turns the internals off


cdef extern from *:
    """
    /* Every class's update as a METH_FASTCALL | METH_KEYWORDS method
       descriptor written into the class's dict (<name>_update_fast of the
       template; docs/internals.md): the interpreter specializes its calls,
       and finite floats by position skip Cython's argument parsing. */
    #include "admf_fastmeth.h"
    static int admf_set_update(PyObject* type, void* fn, const char* doc) {
        /* lives as long as the type: a module is never unloaded */
        PyMethodDef* def = (PyMethodDef*)PyMem_RawCalloc(1, sizeof(PyMethodDef));
        if (def == NULL) { PyErr_NoMemory(); return -1; }
        def->ml_name = "update";
        def->ml_meth = (PyCFunction)(void(*)(void))fn;
        def->ml_flags = METH_FASTCALL | METH_KEYWORDS;
        def->ml_doc = doc;
        return admf_type_set_method(type, def);
    }
    """
    int admf_float_arg(PyObject* o, double* out) noexcept
    int admf_finite_n(const double* x, int n) noexcept
    int admf_real_arg(PyObject* o) noexcept
    object admf_call_with_self(object callable, object self, PyObject** args, Py_ssize_t nargs,
                               PyObject* kwnames)
    int admf_set_update(object tp, void* fn, const char* doc) except -1


def _internals_in_use():
    """Which CPython internals this module uses (docs/internals.md); all
    False under ADMF_PERF_PORTABLE=1."""
    return {"tuple_reuse": bool(ADMF_TUPLE_REUSE and admf_internals),
            "update_fastcall": bool(admf_internals)}


# ---------------------------------------------------------------------------
# Arguments (Python level, never on the hot path)
# ---------------------------------------------------------------------------

cdef i64 _param_int(str cls, str name, object value, int minimum) except? -1:
    """A period: an int in [minimum, 100000] (TA-Lib's range)."""
    cdef long v
    if type(value) is int:                    # the common case, without building the message
        v = PyLong_AsLong(value)              # OverflowError: handled below
        if minimum <= v <= 100000:
            return v
    return check_int(value, f"{cls}: {name}", minimum=minimum, maximum=100000)


cdef double _param_real(str cls, str name, object value, object minimum=None) except? -1.0:
    """A finite real (at least ``minimum`` when given)."""
    if (type(value) is float and isfinite(PyFloat_AS_DOUBLE(value))
            and (minimum is None or PyFloat_AS_DOUBLE(value) >= <double>minimum)):
        return PyFloat_AS_DOUBLE(value)
    return check_real(value, f"{cls}: {name}", minimum=minimum)


cdef inline bint _c_doubles(cnp.ndarray a):
    """A 1-D array of native, aligned, C-contiguous float64."""
    return (cnp.PyArray_TYPE(a) == cnp.NPY_DOUBLE and cnp.PyArray_NDIM(a) == 1
            and cnp.PyArray_ISCARRAY_RO(a))


cdef tuple _given(tuple values, tuple more):
    """The inputs actually passed: the leading non-missing values, then more."""
    cdef list out = []
    cdef double v
    for v in values:
        if admf_is_missing(v):
            break
        out.append(v)
    return tuple(out) + more


def _rebuild(cls, args, state):
    """Unpickle (the compiled classes' own path; pickles made by the twin load
    through ``_indicator_state.rebuild``, which picks the implementation in use)."""
    obj = cls(*args)
    obj.__setstate__(state)
    return obj


# ---------------------------------------------------------------------------
# The base class
# ---------------------------------------------------------------------------

cdef class _Indicator:
    """What every indicator shares (see the module docstring)."""

    def __cinit__(self, *args, **kwargs):
        self._ring = NULL
        self._save = NULL
        self._tup = NULL
        self._nring = 0
        self._stp = NULL
        self._sts = 0
        self._count = 0
        self._busy = self._slow = 0
        self._out[0] = self._out[1] = self._out[2] = NAN

    def __dealloc__(self):
        free(self._ring)
        free(self._save)
        Py_XDECREF(self._tup)
        self._tup = NULL

    cdef int _setup(self, void* stp, size_t sts, Py_ssize_t nring) except -1:
        """Point the base at the subclass's struct; allocate the ring (and the
        scratch that peek and batch save the state into)."""
        self._stp = stp
        self._sts = sts
        self._nring = nring
        self._ring = <double*>calloc(nring + 1, sizeof(double))
        self._save = <double*>malloc((nring + 1) * sizeof(double) + sts + 64)
        if self._ring == NULL or self._save == NULL:
            raise MemoryError()
        return 0

    cdef void _clear(self) noexcept nogil:
        memset(self._ring, 0, self._nring * sizeof(double))
        self._count = 0
        self._out[0] = self._out[1] = self._out[2] = NAN

    cdef void _init(self) noexcept nogil:
        self._clear()

    cdef void _step(self, const double* x) noexcept nogil:
        pass

    cdef int _run(self, const double** a, double** o, Py_ssize_t n) noexcept nogil:
        return 0

    cdef void _save_state(self) noexcept nogil:
        cdef char* p = <char*>self._save
        memcpy(p, self._ring, self._nring * sizeof(double))
        p += self._nring * sizeof(double)
        memcpy(p, self._stp, self._sts)
        p += self._sts
        memcpy(p, &self._count, sizeof(i64))
        memcpy(p + sizeof(i64), self._out, 3 * sizeof(double))

    cdef void _restore_state(self) noexcept nogil:
        cdef char* p = <char*>self._save
        memcpy(self._ring, p, self._nring * sizeof(double))
        p += self._nring * sizeof(double)
        memcpy(self._stp, p, self._sts)
        p += self._sts
        memcpy(&self._count, p, sizeof(i64))
        memcpy(self._out, p + sizeof(i64), 3 * sizeof(double))

    cdef object _result(self):
        if self._nout == 1:
            return admf_float1(&self._tup, self._out[0])
        return admf_tuple(&self._tup, self._out, self._nout)

    cdef object _peek(self, const double* x):
        cdef admf_cs cs
        cdef double o[3]
        admf_cs_begin(&cs, self)        # free-threaded builds: the state is
        if ADMF_FT and self._busy:      # stepped and put back under the lock
            admf_cs_end(&cs)
            self._changed("peek")
        self._save_state()
        self._step(x)
        memcpy(o, self._out, 3 * sizeof(double))   # the outputs, read under the lock
        self._restore_state()
        admf_cs_end(&cs)
        return self._result_of(o)

    cdef object _result_of(self, const double* o):
        """The outputs ``o`` as update returns them: a new float or tuple."""
        if self._nout == 1:
            return o[0]
        return tuple([o[k] for k in range(self._nout)])

    cdef int _changed(self, str method) except -1:
        """RuntimeError: another thread started a batch (or gave a source)
        between this call's checks and its step (free-threaded builds)."""
        self._check_idle(method)
        raise RuntimeError(f"{type(self).__name__}.{method}: another thread changed this indicator "
                           "during the call; use one indicator per thread")

    cdef object _refused(self, str method, tuple values, tuple more):
        """Why update/peek cannot run: busy, the wrong number of inputs, a
        non-finite input."""
        cdef double v
        self._check_idle(method)
        for v in values:
            if admf_is_missing(v) or PyTuple_GET_SIZE(more):
                self._arity_error(method, len(_given(values, more)))
        for name, v in zip(self._innames, values):
            if not isfinite(v):
                raise ValueError(f"{type(self).__name__}.{method}: input {name!r} must be finite, got {v!r}")
        self._changed(method)   # nothing wrong with the call: another thread's doing

    def _arity_error(self, method, got):
        names = self._input_names()
        raise TypeError(f"{type(self).__name__}.{method}() takes {len(names)} input"
                        f"{'s' if len(names) != 1 else ''} ({', '.join(names)}), got {got}")

    def _check_idle(self, method):
        if self._busy:
            raise RuntimeError(f"{type(self).__name__}.{method}: a batch of this indicator is running "
                               "in another thread; use one indicator per thread")

    # -- public ------------------------------------------------------------------

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

    @cython.critical_section
    def reset(self):
        """Back to the freshly constructed state (the source too)."""
        self._check_idle("reset")
        self._init()
        if self._source is not None:
            self._source.reset()

    @cython.critical_section
    def copy(self):
        """An independent indicator with the same state (the source copied)."""
        self._check_idle("copy")
        cdef _Indicator other = type(self)(*self._args)
        memcpy(other._ring, self._ring, self._nring * sizeof(double))
        memcpy(other._stp, self._stp, self._sts)
        other._count = self._count
        memcpy(other._out, self._out, 3 * sizeof(double))
        if self._source is not None:
            other._source = self._source.copy()
            other._set_slow()
        return other

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        self._check_idle("pickle")
        from admf_perf._ext._indicator_state import rebuild

        return (rebuild, (type(self).__name__, self._args, self.__getstate__()))

    @cython.critical_section
    def __getstate__(self):
        """``(STATE_VERSION, count, outputs, kernel state dict, ring list,
        source)``: plain numbers, the same in the twin."""
        cdef Py_ssize_t i
        self._check_idle("pickle")
        return (STATE_VERSION, self._count, (self._out[0], self._out[1], self._out[2]),
                self._state_dict(), [self._ring[i] for i in range(self._nring)], self._source)

    @cython.critical_section
    def __setstate__(self, state):
        cdef Py_ssize_t i
        self._check_idle("__setstate__")
        version, count, out, st, ring, source = state
        if version != STATE_VERSION or len(ring) != self._nring:
            raise ValueError(f"{type(self).__name__}: incompatible pickled state (version {version})")
        check_state(type(self)(*self._args), st, ring)  # its slots within its ring, its parameters these
        old_source = self._source
        self._save_state()
        try:                                    # all or nothing
            if source is not None:
                self._init_source(source)
            self._set_state_dict(st)
            for i in range(self._nring):
                self._ring[i] = ring[i]
            self._count = count
            self._out[0], self._out[1], self._out[2] = out
        except BaseException:
            self._restore_state()
            self._source = old_source
            self._set_slow()
            raise

    def _input_names(self):
        """Names of update's inputs (the source's when composed)."""
        if self._source is not None:
            return self._source._input_names()
        return self._innames

    def __repr__(self):
        args = ", ".join(repr(a) for a in self._args)
        src = f", source={self._source!r}" if self._source is not None else ""
        return f"{type(self).__name__}({args}{src})"

    # -- composition ---------------------------------------------------------------

    cdef int _init_source(self, object source) except -1:
        if source is None:
            self._source = None
            self._set_slow()
            return 0
        if not isinstance(source, _Indicator):
            raise TypeError(f"{type(self).__name__}: source must be an indicator of this "
                            f"module, got {type(source).__name__}")
        if (<_Indicator>source)._nout != 1:
            raise TypeError(f"{type(self).__name__}: source must be a single-output indicator, "
                            f"{type(source).__name__} has {(<_Indicator>source)._nout} outputs")
        if source is self:
            raise ValueError(f"{type(self).__name__}: an indicator cannot be its own source")
        self._source = source
        self._set_slow()
        return 0

    cdef void _set_slow(self) noexcept:
        self._slow = self._busy or self._source is not None

    cdef object _update_src(self, tuple inputs, bint peek):
        cdef double v
        self._check_idle("peek" if peek else "update")
        if len(inputs) != len(self._input_names()):
            self._arity_error("peek" if peek else "update", len(inputs))
        if self._source is None:                 # no source, one input too many
            self._arity_error("peek" if peek else "update", len(inputs))
        cdef admf_cs cs
        cdef double o[3]
        v = self._source.peek(*inputs) if peek else self._source.update(*inputs)
        if peek:
            return self._result() if isnan(v) else self._peek(&v)
        admf_cs_begin(&cs, self)        # free-threaded builds: one step at a time
        if ADMF_FT and self._busy:
            admf_cs_end(&cs)
            self._changed("update")
        if not isnan(v):
            self._step(&v)
        self._count += 1
        memcpy(o, self._out, 3 * sizeof(double))   # the outputs, read under the lock
        admf_cs_end(&cs)
        return self._result_of(o)

    # -- batch ---------------------------------------------------------------------

    cdef list _arrays(self, tuple arrays):
        """float64 C-contiguous 1-D arrays of equal length, or TypeError/ValueError."""
        names = self._innames
        if PyTuple_GET_SIZE(arrays) != self._nin:
            self._arity_error("batch", PyTuple_GET_SIZE(arrays))
        out = []
        for name, a in zip(names, arrays):
            if cnp.PyArray_CheckExact(a) and _c_doubles(<cnp.ndarray>a):
                out.append(a)                   # already what the kernels read
                continue
            try:
                arr = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{type(self).__name__}.batch: input {name!r} must be an array of "
                                f"real numbers ({exc})") from None
            if arr.ndim != 1:
                if arr.ndim == 0:
                    arr = arr.reshape(1)
                else:
                    raise ValueError(f"{type(self).__name__}.batch: input {name!r} must be 1-D, "
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
        raise ValueError(f"{type(self).__name__}.batch: input is not finite")   # pragma: no cover

    cdef object _batch_arrays(self, list arrs, bint stepwise=False):
        """Run the kernel over checked arrays (without the GIL); the outputs.
        ``stepwise``: bar by bar, as ``update`` (a composed indicator's
        non-finite source values)."""
        cdef Py_ssize_t n = len(arrs[0]), k, i
        cdef int bad = 0
        cdef const double* a[4]
        cdef double* o[3]
        cdef cnp.npy_intp dims[2]
        dims[0] = self._nout
        dims[1] = n
        if self._nout == 1:
            outs = [cnp.PyArray_EMPTY(1, &dims[1], cnp.NPY_DOUBLE, 0)]
        else:           # the rows of one block: one allocation (large ones: huge pages)
            outs = list(cnp.PyArray_EMPTY(2, dims, cnp.NPY_DOUBLE, 0))
        if n == 0:
            return outs[0] if self._nout == 1 else tuple(outs)
        for k in range(self._nin):
            a[k] = <const double*>cnp.PyArray_DATA(<cnp.ndarray>arrs[k])
        for k in range(self._nout):
            o[k] = <double*>cnp.PyArray_DATA(<cnp.ndarray>outs[k])
        with cython.critical_section(self):     # claimed by one thread (free-threaded builds)
            self._check_idle("batch")
            self._busy = self._slow = 1
        try:
            with nogil:
                self._save_state()
                if stepwise:
                    for i in range(n):
                        self._step(&a[0][i])
                        for k in range(self._nout):
                            o[k][i] = self._out[k]
                else:
                    bad = self._run(a, o, n)
                if bad:
                    self._restore_state()
                else:
                    self._count += n
                    for k in range(self._nout):
                        self._out[k] = o[k][n - 1]
        finally:
            with cython.critical_section(self):
                self._busy = 0
                self._set_slow()
        if bad:
            self._bad_batch(arrs)
        return outs[0] if self._nout == 1 else tuple(outs)

    def batch(self, *arrays):
        """``update`` on every row: an array (a tuple of arrays for several
        outputs), bit for bit, leaving the same state.  Runs without the GIL;
        meanwhile the indicator refuses every other call (RuntimeError)."""
        self._check_idle("batch")
        if self._source is not None:
            return self._batch_src(arrays)
        return self._batch_arrays(self._arrays(arrays))

    cdef object _batch_src(self, tuple arrays):
        """The source's batch, then this one's over the source's real values
        (its warm-up NaNs are skipped: the output repeats the current value)."""
        vals = self._source.batch(*arrays)
        keep = np.flatnonzero(~np.isnan(vals))
        before = self._result()
        sub = np.ascontiguousarray(vals[keep])
        # update feeds an infinite source value on; so does batch, bar by bar
        res = self._batch_arrays([sub], stepwise=not np.isfinite(sub).all())
        self._count += len(vals) - len(keep)      # every bar counts, as in update
        outs = res if self._nout > 1 else (res,)
        n = len(vals)
        first = before if self._nout > 1 else (before,)
        full = []
        for k, r in enumerate(outs):
            f = np.empty(n, dtype=np.float64)
            # every position takes the output of the last real value at or before it
            pos = np.searchsorted(keep, np.arange(n), side="right") - 1
            f[:] = np.where(pos >= 0, r[np.maximum(pos, 0)] if len(r) else NAN, first[k])
            full.append(f)
        return full[0] if self._nout == 1 else tuple(full)


cdef object _update_slow(_Indicator ind, PyObject** args, Py_ssize_t nargs, PyObject* kwnames,
                         object update):
    """Every call a class's fast ``update`` descriptor (``<name>_update_fast``
    of the template) leaves: an input that is not a real number gets the
    twin's TypeError, naming it; any other call goes to ``update``, the
    class's own. One function for every class, out of the fast path."""
    cdef Py_ssize_t k
    names = ind._innames
    for k in range(min(nargs, len(names))):
        if not admf_real_arg(args[k]):
            raise TypeError(f"{type(ind).__name__}.update: input {names[k]!r} must be real number, "
                            f"not {type(<object>args[k]).__name__}")
    return admf_call_with_self(update, ind, args, nargs, kwnames)


# ---------------------------------------------------------------------------
# Benchmark floor
# ---------------------------------------------------------------------------

@cython.final
@cython.binding(False)
cdef class _Floor:
    """The cheapest compiled update: a ``cpdef`` returning its argument, a
    plain method descriptor as the indicators' methods are."""

    cpdef double update(self, double x):
        return x


include "_indicators_impl.pxi"
include "_indicators_bank.pxi"
