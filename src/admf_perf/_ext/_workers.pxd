# Native helper threads kept for parallel work without the GIL
# (include/admf_workers.h): IndicatorBank.batch's columns split across
# ``threads``. Declarations only; the header holds the code.
cdef extern from "admf_workers.h":
    ctypedef struct admf_worker:
        pass
    ctypedef void (*admf_part_fn)(void* ctx, Py_ssize_t part) noexcept nogil
    int admf_workers_init() noexcept
    void admf_workers_after_fork() noexcept
    Py_ssize_t admf_workers_take(admf_worker** out, Py_ssize_t k) noexcept
    void admf_workers_give(admf_worker** ws, Py_ssize_t k) noexcept
    void admf_workers_run(admf_worker** ws, Py_ssize_t k, admf_part_fn fn, void* ctx,
                          Py_ssize_t nparts) noexcept nogil
    Py_ssize_t admf_workers_count() noexcept
