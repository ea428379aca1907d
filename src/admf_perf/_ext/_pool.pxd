# cython: language_level=3
# Declarations of the compiled object pool (_pool.pyx), for cimport:
#
#     from admf_perf._ext._pool cimport PoolCore
#
# ``admf_perf.pool.ObjectPool`` subclasses PoolCore; the state is private (the
# twin, _pool_py.py, is the specification).
from cpython.object cimport PyObject


cdef class PoolCore:
    cdef list _free
    cdef object _factory
    cdef object _reset
    cdef Py_ssize_t _max_size
    cdef int _hook
    cdef Py_ssize_t _created, _reused, _dropped
    # the objects given out: an open-addressing set of strong references
    cdef PyObject** _tab
    cdef size_t _mask
    cdef int _shift
    cdef Py_ssize_t _used
    cdef object __weakref__

    cdef int _reserve(self) except -1
    cdef inline bint _contains(self, PyObject* p) noexcept
    cdef inline void _add(self, PyObject* p) noexcept
    cdef inline bint _discard(self, PyObject* p) noexcept
    cdef int _not_out(self, obj) except -1
