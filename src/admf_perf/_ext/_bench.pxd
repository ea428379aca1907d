# The measured region of the deterministic bench (``_bench.pyx``): a C function
# callgrind finds by its symbol, ``admf_perf_bench_region``.

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #  define ADMF_PERF_NOINLINE __attribute__((noinline))
    #  define ADMF_PERF_BARRIER() __asm__ __volatile__("" ::: "memory")
    #elif defined(_MSC_VER)
    #  define ADMF_PERF_NOINLINE __declspec(noinline)
    #  define ADMF_PERF_BARRIER() _ReadWriteBarrier()
    #else
    #  define ADMF_PERF_NOINLINE
    #  define ADMF_PERF_BARRIER()
    #endif

    static ADMF_PERF_NOINLINE PyObject *admf_perf_bench_region(PyObject *fn) {
        PyObject *result;
        ADMF_PERF_BARRIER();
        result = PyObject_CallNoArgs(fn);
        ADMF_PERF_BARRIER();
        return result;
    }
    """
    object admf_perf_bench_region(object fn)
