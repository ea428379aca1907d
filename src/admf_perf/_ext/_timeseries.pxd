# cython: language_level=3
# Declarations of the compiled time series (_timeseries.pyx), for cimport:
#
#     from admf_perf._ext._timeseries cimport TimeSeriesArray
#
# ``admf_perf.timeseries.TimeSeriesArray`` is this class; the state is private
# (the twin, _timeseries_py.py, is the specification).
cimport cython
from libc.stdint cimport int64_t


@cython.final
cdef class _Buffer:
    cdef char* ptr
    cdef Py_ssize_t nbytes
    cdef int mapped

    cdef int resize(self, Py_ssize_t nbytes) except -1


cdef class TimeSeriesArray:
    cdef _Buffer _tsbuf
    cdef _Buffer _valbuf
    cdef int64_t* _ts
    cdef char* _vals
    cdef Py_ssize_t _cap, _start, _end, _capacity, _isz
    cdef int _kind  # 0: float64, 1: int64, 2: other
    cdef object _dtype
    cdef object _dtype_np  # the dtype as a numpy array constructor argument

    cdef int _alloc(self, Py_ssize_t cap) except -1
    cdef int _make_room(self, Py_ssize_t k) except -1
    cdef object _converted(self, object value)
    cdef int _append(self, object ts, object value) except -1
    cdef Py_ssize_t _search(self, int64_t t, bint right) noexcept
    cdef object _ts_view(self, Py_ssize_t lo, Py_ssize_t n)
    cdef object _val_view(self, Py_ssize_t lo, Py_ssize_t n)
    cdef tuple _snapshot(self)
