# cython: language_level=3
# Declarations of the compiled indicators (_indicators.pyx), for cimport:
#
#     from admf_perf._ext._indicators cimport SMA
#     cdef SMA sma = SMA(20)
#     y = sma.update_raw(x)          # a C call: no argument parsing, no boxing
#
# Compile with admf_perf.get_include() on the include path (the kernels'
# header lives there).  Each class's state is ``st`` (its kernel's struct,
# _ind_kernels.pxd); ``update_raw`` takes finite doubles and returns the first
# output (the others in ``value``).
from cpython.object cimport PyObject

from admf_perf._ext._ind_kernels cimport *


cdef class _Indicator:
    cdef i64 _count
    cdef int _nin, _nout
    cdef int _kind            # the class's row in the template (BANK_UPDATES, BANK_RUNS: IndicatorBank)
    cdef int _busy            # a batch runs without the GIL: everything else refuses
    cdef int _slow            # _busy, or a source: update and peek take the general path
    cdef double _out[3]
    cdef double _par[4]       # the parameters, as the kernels' init takes them
    cdef double* _ring
    cdef double* _save        # scratch: the state and ring saved by peek and batch
    cdef Py_ssize_t _nring
    cdef void* _stp
    cdef size_t _sts
    cdef object _source
    cdef tuple _args, _names, _innames
    cdef PyObject* _tup       # the last result (a float or a tuple), for reuse

    cdef int _setup(self, void* stp, size_t sts, Py_ssize_t nring) except -1
    cdef void _clear(self) noexcept nogil
    cdef void _init(self) noexcept nogil
    cdef void _step(self, const double* x) noexcept nogil
    cdef int _run(self, const double** a, double** o, Py_ssize_t n) noexcept nogil
    cdef void _save_state(self) noexcept nogil
    cdef void _restore_state(self) noexcept nogil
    cdef object _result(self)
    cdef object _peek(self, const double* x)
    cdef object _result_of(self, const double* o)
    cdef object _refused(self, str method, tuple values, tuple more)
    cdef int _changed(self, str method) except -1
    cdef object _update_src(self, tuple inputs, bint peek)
    cdef int _init_source(self, object source) except -1
    cdef void _set_slow(self) noexcept
    cdef list _arrays(self, tuple arrays)
    cdef object _bad_batch(self, list arrs)
    cdef object _batch_arrays(self, list arrs, bint stepwise=*)
    cdef object _batch_src(self, tuple arrays)


include "_indicators_decl.pxi"
