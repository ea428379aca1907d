# Free-threaded builds: one object's lock (include/admf_ft.h). Nothing at
# all with the GIL. cimported by every compiled module that has state.
cdef extern from "admf_ft.h":
    ctypedef struct admf_cs:
        pass
    bint ADMF_FT                # 1 on a free-threaded build (a C constant)
    void admf_cs_begin(admf_cs* cs, object o) noexcept
    void admf_cs_end(admf_cs* cs) noexcept
