# cython: language_level=3
# The AVX2 build of the indicators' runs (_ind_simd.pyx): one ``run_fn`` per
# indicator, in the template's order, in the table ``RUNS_TABLE``.
# _indicators takes it from the module's capsule ``RUNS`` (by an import, so
# that the module is loaded only on a CPU that has AVX2), not by cimport.
from admf_perf._ext._ind_kernels cimport run_fn
