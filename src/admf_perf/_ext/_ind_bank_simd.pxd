# cython: language_level=3
# The AVX2 build of IndicatorBank's updates (_ind_bank_simd.pyx): one
# ``bank_update_fn`` per indicator, in the template's order, in the table
# ``BANK_UPDATES_TABLE``.  _indicators takes it from the module's capsule
# ``BANK_UPDATES`` (by an import, so that the module is loaded only on a CPU
# that has AVX2), not by cimport.
from admf_perf._ext._ind_kernels cimport bank_update_fn

cdef bank_update_fn BANK_UPDATES_TABLE[34]
