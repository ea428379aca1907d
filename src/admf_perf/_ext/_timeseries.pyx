# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
# cython: freethreading_compatible=True
"""Compiled ``TimeSeriesArray``: int64 ns timestamps and values in two
contiguous C buffers from ``PyMem_RawMalloc``; a buffer that grows past 4 MiB
moves (Linux) to mapped pages of its own, grown by ``mremap``, which moves page
tables instead of copying (growth steps of 1/64 then cost O(1) amortized),
reported to tracemalloc with ``PyTraceMalloc_Track`` as numpy does.

Twin (specification, with the full semantics in its docstring):
``_timeseries_py.py``.  Buffers are owned by small ``_Buffer`` objects; a view
is a numpy array whose base is the ``_Buffer``, so a view keeps its buffer
alive.  Growth reallocates in place only while no view holds the buffer
(refcount 1); otherwise it copies to a new buffer, and the old view keeps
reading its old, unchanged values.  ``append`` is a tiny C path for an exact
``int`` timestamp and a ``float`` (float64) or ``int`` (int64) value; other
types take a slower conversion path.
"""

cimport cython
cimport numpy as cnp
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.long cimport PyLong_CheckExact
from cpython.number cimport PyNumber_Index
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint32_t
from libc.string cimport memcpy, memmove

from admf_perf._ext._ft cimport ADMF_FT, admf_cs, admf_cs_begin, admf_cs_end

import numpy as np

from admf_perf._ext._timeseries_py import (
    _check_capacity, _check_dtype, _to_ns, _ts_array, _value_array,
)

cnp.import_array()

cdef extern from "Python.h":
    long long PyLong_AsLongLong(object o) except? -1
    # On a borrowed pointer: ``Py_REFCNT(obj)`` on an object makes Cython
    # take a temporary reference first, so the count is never 1.
    Py_ssize_t _refcnt "Py_REFCNT"(PyObject* o)

__all__ = ["TimeSeriesArray"]

cdef extern from *:
    """
    #include <string.h>
    #include "admf_buf.h"
    /* Buffers of 4 MiB and more are mapped pages (Linux, admf_buf.h): growth
       is mremap, which moves page tables instead of copying, so growing by
       small steps (little slack) stays O(1) amortized.  tracemalloc is told
       about them (PyTraceMalloc_Track, as numpy does for its data).  Smaller
       buffers come from PyMem_RawMalloc (seen by tracemalloc directly).  A
       new buffer is malloc'd (freed blocks are reused: a fresh mapping per
       buffer would pay its page faults every time); only growth past
       TSA_MAP_MIN moves a buffer to a mapping of its own. */
    #define TSA_DOMAIN 0x41444D46u
    #define TSA_MAP_MIN ADMF_BUF_HUGE
    static char* __pyx_tsa_alloc(Py_ssize_t nbytes, int* mapped) {
        char* p;
        if (nbytes < 1) nbytes = 1;
        *mapped = 0;
        p = (char*)PyMem_RawMalloc((size_t)nbytes);
        admf_buf_hugepages(p, nbytes, 0);
        return p;
    }
    static void __pyx_tsa_free(char* p, Py_ssize_t nbytes, int mapped) {
        if (p == NULL) return;
        if (mapped) {
            PyTraceMalloc_Untrack(TSA_DOMAIN, (uintptr_t)p);
            admf_buf_unmap(p, nbytes);
            return;
        }
        PyMem_RawFree(p);
    }
    /* Resize to new_n bytes keeping the first min(old_n, new_n); NULL on
       failure (the old buffer is then untouched). */
    static char* __pyx_tsa_realloc(char* p, Py_ssize_t old_n, Py_ssize_t new_n, int* mapped) {
        char* q;
        if (new_n < 1) new_n = 1;
        if (*mapped) {
            q = admf_buf_remap(p, old_n, new_n);
            if (q == NULL) return NULL;
            PyTraceMalloc_Untrack(TSA_DOMAIN, (uintptr_t)p);
            PyTraceMalloc_Track(TSA_DOMAIN, (uintptr_t)q, (size_t)new_n);
            return q;
        }
        if (ADMF_BUF_MMAP && new_n >= TSA_MAP_MIN) {
            q = admf_buf_map(new_n);
            if (q == NULL) return NULL;
            PyTraceMalloc_Track(TSA_DOMAIN, (uintptr_t)q, (size_t)new_n);
            memcpy(q, p, (size_t)(old_n < new_n ? old_n : new_n));
            PyMem_RawFree(p);
            *mapped = 1;
            return q;
        }
        return (char*)PyMem_RawRealloc(p, (size_t)new_n);
    }
    """
    char* _buf_alloc "__pyx_tsa_alloc"(Py_ssize_t nbytes, int* mapped) noexcept nogil
    void _buf_free "__pyx_tsa_free"(char* p, Py_ssize_t nbytes, int mapped) noexcept nogil
    char* _buf_realloc "__pyx_tsa_realloc"(char* p, Py_ssize_t old_n, Py_ssize_t new_n, int* mapped) noexcept nogil

cdef Py_ssize_t _BIG = 1 << 22
cdef Py_ssize_t _MIN_CAP = 16


@cython.final
@cython.auto_pickle(False)      # a raw pointer: Cython's pickling would read it as a C string
cdef class _Buffer:
    """Owner of one raw buffer (freed when the last view and the array let go)."""

    def __dealloc__(self):
        if self.ptr != NULL:
            _buf_free(self.ptr, self.nbytes, self.mapped)
            self.ptr = NULL

    cdef int resize(self, Py_ssize_t nbytes) except -1:
        cdef char* p = _buf_realloc(self.ptr, self.nbytes, nbytes, &self.mapped)
        if p == NULL:
            raise MemoryError()
        self.ptr = p
        self.nbytes = nbytes
        return 0


cdef _Buffer _new_buffer(Py_ssize_t nbytes):
    cdef _Buffer b = _Buffer.__new__(_Buffer)
    b.ptr = _buf_alloc(nbytes, &b.mapped)
    if b.ptr == NULL:
        raise MemoryError()
    b.nbytes = nbytes
    return b


cdef object _view(_Buffer buf, Py_ssize_t offset, Py_ssize_t nbytes, object dtype):
    """Read-only numpy view of ``buf.ptr[offset:offset+nbytes]`` as ``dtype``."""
    cdef cnp.npy_intp dims = nbytes
    cdef cnp.ndarray raw = cnp.PyArray_SimpleNewFromData(1, &dims, cnp.NPY_UINT8,
                                                         buf.ptr + offset)
    cnp.set_array_base(raw, buf)
    out = raw.view(dtype)
    out.flags.writeable = False
    return out


cdef inline int _slot(TimeSeriesArray a, int64_t t) except -1:
    """Room at ``end`` for a point at ``t``, or ValueError if ``t`` is older
    than the last point."""
    if a._end > a._start and t < a._ts[a._end - 1]:
        raise ValueError("ts must not be older than the last timestamp "
                         f"({t} < {a._ts[a._end - 1]})")
    if a._end == a._cap:
        a._make_room(1)
    return 0


cdef int _store_converted(TimeSeriesArray a, int64_t t, object value) except -1:
    """Store ``value``, converted as the twin does, at ``end`` (the slot for
    ``t`` taken again after the conversion: its Python code, or another
    thread, may have appended to ``a``)."""
    cdef cnp.ndarray v = a._converted(value)
    _slot(a, t)
    memcpy(a._vals + a._end * a._isz, cnp.PyArray_DATA(v), a._isz)
    return 0


cdef class TimeSeriesArray:
    """Timestamps (int64 ns) and values in two contiguous buffers."""

    def __init__(self, capacity=None, dtype=np.float64):
        self._capacity = _check_capacity(capacity)
        dt = _check_dtype(dtype)
        self._dtype = dt
        self._isz = dt.itemsize
        if dt == np.dtype(np.float64):
            self._kind = 0
        elif dt == np.dtype(np.int64):
            self._kind = 1
        else:
            self._kind = 2
        self._alloc(2 * self._capacity)

    cdef int _alloc(self, Py_ssize_t cap) except -1:
        self._tsbuf = _new_buffer(cap * 8)
        self._valbuf = _new_buffer(cap * self._isz)
        self._ts = <int64_t*>self._tsbuf.ptr
        self._vals = self._valbuf.ptr
        self._cap = cap
        self._start = 0
        self._end = 0
        return 0

    cdef int _make_room(self, Py_ssize_t k) except -1:
        """Ensure ``end + k <= cap`` (``k <= capacity`` for a ring)."""
        cdef Py_ssize_t n = self._end - self._start, keep, new_cap, first
        cdef _Buffer tb, vb
        if self._capacity:
            keep = n if n < self._capacity else self._capacity
            new_cap = 2 * self._capacity
        else:
            keep = n
            if n == 0:
                new_cap = k
            else:
                new_cap = self._cap * 2 if self._cap < _BIG else self._cap + self._cap // 64
                if new_cap < n + k:
                    new_cap = n + k
            if new_cap < _MIN_CAP:
                new_cap = _MIN_CAP
        first = self._end - keep
        if keep and _refcnt(<PyObject*>self._tsbuf) == 1 and _refcnt(<PyObject*>self._valbuf) == 1:
            # points to keep and no view: move/realloc in place (an empty
            # array takes fresh buffers instead: nothing to copy)
            if first:
                memmove(self._tsbuf.ptr, self._tsbuf.ptr + first * 8, keep * 8)
                memmove(self._valbuf.ptr, self._valbuf.ptr + first * self._isz,
                        keep * self._isz)
            if new_cap != self._cap:
                self._tsbuf.resize(new_cap * 8)
                self._valbuf.resize(new_cap * self._isz)
        else:
            tb = _new_buffer(new_cap * 8)
            vb = _new_buffer(new_cap * self._isz)
            memcpy(tb.ptr, self._tsbuf.ptr + first * 8, keep * 8)
            memcpy(vb.ptr, self._valbuf.ptr + first * self._isz, keep * self._isz)
            self._tsbuf = tb
            self._valbuf = vb
        self._ts = <int64_t*>self._tsbuf.ptr
        self._vals = self._valbuf.ptr
        self._cap = new_cap
        self._start = 0
        self._end = keep
        return 0

    cdef object _converted(self, object value):
        """``value`` converted as the twin does, in a 0-d array of the dtype
        (Python code may run: ``__index__``, ``__float__``)."""
        kind = self._dtype.kind
        if kind in "iu":
            if isinstance(value, (float, np.floating)):
                raise TypeError(f"value must be an int for dtype {self._dtype}, got float")
            try:
                v = PyNumber_Index(value)   # operator.index, as the twin
            except TypeError:
                raise TypeError(f"value must be an int for dtype {self._dtype}, "
                                f"got {type(value).__name__}") from None
            info = np.iinfo(self._dtype)
            if not info.min <= v <= info.max:
                raise OverflowError(f"value {v} out of range for dtype {self._dtype}")
        else:
            if isinstance(value, (str, bytes)):
                raise TypeError(f"value must be a real number, got {type(value).__name__}")
            try:
                v = float(value)
            except TypeError:
                raise TypeError(f"value must be a real number, "
                                f"got {type(value).__name__}") from None
        return np.array(v, dtype=self._dtype)

    @cython.critical_section
    def append(self, ts, value, /):
        """Append one point; ``ts`` must not be older than the last one.

        Replaced at import by a ``METH_FASTCALL`` descriptor calling
        ``_append`` directly (the interpreter specializes such calls)."""
        self._append(ts, value)

    cdef int _append(self, object ts, object value) except -1:
        cdef int64_t t
        if PyLong_CheckExact(ts):
            t = ts  # Cython's inlined digit conversion (OverflowError past int64)
        else:
            t = _to_ns(ts)
        _slot(self, t)
        if self._kind == 0 and PyFloat_CheckExact(value):
            (<double*>self._vals)[self._end] = PyFloat_AS_DOUBLE(value)
        elif self._kind == 1 and PyLong_CheckExact(value):
            (<int64_t*>self._vals)[self._end] = <int64_t>value
        else:
            _store_converted(self, t, value)
        self._ts[self._end] = t
        self._end += 1
        if self._capacity and self._end - self._start > self._capacity:
            self._start += 1
        return 0

    @cython.critical_section
    def extend(self, timestamps, values):
        """Append arrays of points (one memcpy of each)."""
        cdef cnp.ndarray ts = np.ascontiguousarray(_ts_array(timestamps))
        cdef Py_ssize_t k = ts.shape[0], i, skip = 0
        cdef cnp.ndarray vals = np.ascontiguousarray(_value_array(values, self._dtype, k))
        cdef int64_t* tp = <int64_t*>cnp.PyArray_DATA(ts)
        if k == 0:
            return
        with nogil:         # the input alone (the state is read after: a free-threaded
            for i in range(1, k):       # build's lock is let go here)
                if tp[i] < tp[i - 1]:
                    skip = -1
                    break
        if self._end > self._start and tp[0] < self._ts[self._end - 1]:
            raise ValueError("timestamps must not be older than the last timestamp "
                             f"({tp[0]} < {self._ts[self._end - 1]})")
        if skip:
            raise ValueError("timestamps must be sorted (non-decreasing)")
        if self._capacity and k >= self._capacity:
            skip = k - self._capacity
            k = self._capacity
            self._start = self._end
        if self._end + k > self._cap:
            self._make_room(k)
        memcpy(self._ts + self._end, tp + skip, k * 8)
        memcpy(self._vals + self._end * self._isz,
               <char*>cnp.PyArray_DATA(vals) + skip * self._isz, k * self._isz)
        self._end += k
        if self._capacity and self._end - self._start > self._capacity:
            self._start = self._end - self._capacity

    @cython.critical_section
    def clear(self):
        """Remove every point (existing views keep theirs)."""
        self._alloc(2 * self._capacity)

    def __len__(self):
        return self._end - self._start

    @property
    def capacity(self):
        return self._capacity or None

    @property
    def dtype(self):
        return self._dtype

    @property
    def timestamps(self):
        """Read-only zero-copy int64 ns view, in time order."""
        with cython.critical_section(self):     # free-threaded builds: the buffer in place
            return self._ts_view(self._start, self._end - self._start)

    @property
    def values(self):
        """Read-only zero-copy view of the values, in time order."""
        with cython.critical_section(self):
            return self._val_view(self._start, self._end - self._start)

    cdef object _ts_view(self, Py_ssize_t lo, Py_ssize_t n):
        """Read-only view of the timestamps of points lo .. lo + n - 1."""
        return _view(self._tsbuf, lo * 8, n * 8, np.int64)

    cdef object _val_view(self, Py_ssize_t lo, Py_ssize_t n):
        """Read-only view of the values of points lo .. lo + n - 1."""
        return _view(self._valbuf, lo * self._isz, n * self._isz, self._dtype)

    cdef Py_ssize_t _search(self, int64_t t, bint right) noexcept:
        """First index in [start, end) with ts > t (right) or ts >= t (left)."""
        cdef Py_ssize_t lo = self._start, hi = self._end, mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self._ts[mid] < t or (right and self._ts[mid] == t):
                lo = mid + 1
            else:
                hi = mid
        return lo

    @cython.critical_section
    def between(self, start=None, end=None):
        """``(timestamps, values)`` views of the points with
        ``start <= t <= end`` (pandas' ``.loc[start:end]``; ``None``: open)."""
        cdef Py_ssize_t lo = self._start, hi = self._end
        if start is not None:
            lo = self._search(_to_ns(start, "start"), False)
        if end is not None:
            hi = self._search(_to_ns(end, "end"), True)
        if hi < lo:
            hi = lo
        return (self._ts_view(lo, hi - lo), self._val_view(lo, hi - lo))

    @cython.critical_section
    def asof(self, ts):
        """The value of the last point at or before ``ts``; ``nan`` if none."""
        cdef Py_ssize_t i = self._search(_to_ns(ts), True)
        if i == self._start:
            return float("nan")
        if self._kind == 0:
            return (<double*>self._vals)[i - 1]
        if self._kind == 1:
            return (<int64_t*>self._vals)[i - 1]
        return self._val_view(i - 1, 1)[0].item()

    @cython.critical_section
    def to_pandas(self, name=None):
        """A ``pandas.Series`` (copied) with a ``datetime64[ns]`` DatetimeIndex."""
        import pandas as pd

        ts, vals = self._snapshot()
        index = pd.DatetimeIndex(ts.view("datetime64[ns]").copy())
        return pd.Series(vals.copy(), index=index, name=name)

    cdef tuple _snapshot(self):
        """Views of the same points (numpy's copies may let the GIL go, and
        an append in between must not make them differ in length)."""
        cdef Py_ssize_t start = self._start, n = self._end - self._start
        return (self._ts_view(start, n), self._val_view(start, n))

    def __repr__(self):
        cap = f", capacity={self._capacity}" if self._capacity else ""
        return f"TimeSeriesArray(len={len(self)}, dtype={self._dtype}{cap})"

    @cython.critical_section
    def __reduce__(self):
        ts, vals = self._snapshot()
        return (type(self), (self.capacity, self._dtype.str), (ts.copy(), vals.copy()))

    @cython.critical_section
    def __setstate__(self, state):
        self.extend(state[0], state[1])


cdef extern from *:
    """
    #include <stdint.h>
    /* An exact int's 30-bit digits, through Cython's own PyLong macros
       (__Pyx_PyLong_SignedDigitCount, __Pyx_PyLong_Digits): Cython keeps
       them in step with each CPython's layout (ob_size up to 3.11, lv_tag
       from 3.12) and turns them off where it does not know it
       (CYTHON_USE_PYLONG_INTERNALS 0: the limited API, PyPy, ...). Macros,
       so they expand where Cython's are defined. docs/internals.md. */
    #if defined(CYTHON_USE_PYLONG_INTERNALS) && CYTHON_USE_PYLONG_INTERNALS && PyLong_SHIFT == 30
    #define TSA_INT_DIGITS 1
    #define __pyx_tsa_ndigits(o) ((Py_ssize_t)__Pyx_PyLong_SignedDigitCount(o))
    #define __pyx_tsa_digits(o) ((const uint32_t*)__Pyx_PyLong_Digits(o))
    #else
    #define TSA_INT_DIGITS 0
    #define __pyx_tsa_ndigits(o) ((Py_ssize_t)4)
    #define __pyx_tsa_digits(o) ((const uint32_t*)NULL)
    #endif
    """
    bint TSA_INT_DIGITS
    Py_ssize_t _ndigits "__pyx_tsa_ndigits"(object o) noexcept
    const uint32_t* _digits "__pyx_tsa_digits"(object o) noexcept


cdef inline bint _small_long(object o, int64_t* out) noexcept:
    # An exact int's value as int64 when it has at most three digits and fits
    # in 63 bits (ns timestamps since 2006 have three); False otherwise (the
    # caller then takes the general path).
    cdef Py_ssize_t size = _ndigits(o)
    cdef const uint32_t* d
    if size == 3:                       # the common case first
        d = _digits(o)
        if d[2] >= 8:
            return False
        out[0] = (<int64_t>d[2] << 60) | (<int64_t>d[1] << 30) | <int64_t>d[0]
        return True
    if size == 0:
        out[0] = 0
        return True
    if size > 3 or size < -2:
        return False
    d = _digits(o)
    if size == 1:
        out[0] = <int64_t>d[0]
    elif size == -1:
        out[0] = -<int64_t>d[0]
    elif size == 2:
        out[0] = (<int64_t>d[1] << 30) | <int64_t>d[0]
    else:                               # -2
        out[0] = -((<int64_t>d[1] << 30) | <int64_t>d[0])
    return True


cdef extern from "admf_internals.h":
    # docs/internals.md: ADMF_PERF_PORTABLE=1 turns the internals off
    bint admf_internals
    int admf_internals_init() noexcept


cdef object _append_fast(object self, object ts, object value):
    if ADMF_FT:                 # a free-threaded build appends under the array's lock
        return _append_locked(<TimeSeriesArray>self, ts, value)
    return _append_in(<TimeSeriesArray>self, ts, value)


cdef object _append_locked(TimeSeriesArray a, object ts, object value):
    cdef admf_cs cs
    admf_cs_begin(&cs, a)
    try:
        return _append_in(a, ts, value)
    finally:
        admf_cs_end(&cs)


cdef inline object _append_in(TimeSeriesArray a, object ts, object value):
    # The common case inline (an exact int timestamp in order, a float into
    # a float64 array with room); anything else takes _append's full path.
    cdef int64_t t
    cdef Py_ssize_t end = a._end
    if (a._kind == 0 and end < a._cap and PyFloat_CheckExact(value) and PyLong_CheckExact(ts)
            and _small_long(ts, &t) and (end == a._start or t >= a._ts[end - 1])):
        (<double*>a._vals)[end] = PyFloat_AS_DOUBLE(value)
        a._ts[end] = t
        a._end = end + 1
        if a._capacity and end + 1 - a._start > a._capacity:
            a._start += 1
        return None
    a._append(ts, value)
    return None


cdef extern from *:
    """
    #include "admf_fastmeth.h"
    static PyObject* (*__pyx_tsa_append_impl)(PyObject*, PyObject*, PyObject*) = NULL;

    static PyObject* __pyx_tsa_append_fast(PyObject* self, PyObject* const* args,
                                           Py_ssize_t nargs) {
        if (nargs != 2) {
            PyErr_Format(PyExc_TypeError,
                         "append() takes exactly 2 positional arguments (ts, value) (%zd given)",
                         nargs);
            return NULL;
        }
        return __pyx_tsa_append_impl(self, args[0], args[1]);
    }

    static PyMethodDef __pyx_tsa_append_def = {
        "append", (PyCFunction)(void(*)(void))__pyx_tsa_append_fast, METH_FASTCALL,
        "append($self, ts, value, /)\\n--\\n\\n"
        "Append one point; ``ts`` must not be older than the last one."};

    static int __pyx_tsa_install(PyObject* type, void* impl) {
        __pyx_tsa_append_impl = (PyObject* (*)(PyObject*, PyObject*, PyObject*))impl;
        return admf_type_set_method(type, &__pyx_tsa_append_def);
    }
    """
    int _install_append "__pyx_tsa_install"(object tp, void* impl) except -1


# append as a plain METH_FASTCALL method descriptor: Cython 3's def methods
# are cython_function_or_method objects, whose calls the interpreter does not
# specialize, while a METH_FASTCALL descriptor called on its exact type is
# (docs/internals.md: 2.559x -> 1.806x list.append, deterministic, 3.11).
admf_internals_init()   # docs/internals.md: ADMF_PERF_PORTABLE=1 turns the internals off
if admf_internals:      # else (ADMF_PERF_PORTABLE) Cython's def append
    _install_append(TimeSeriesArray, <void*>_append_fast)


def _internals_in_use():
    """Which CPython internals this module uses (docs/internals.md); all
    False under ADMF_PERF_PORTABLE=1."""
    return {"int_digits": bool(TSA_INT_DIGITS and admf_internals),
            "tp_dict_method": bool(admf_internals)}
