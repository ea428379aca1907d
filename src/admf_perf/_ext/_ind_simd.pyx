# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: freethreading_compatible=True
"""The indicators' whole-array runs, compiled for AVX2 and FMA (x86-64 only).

The same kernels as ``_indicators`` (``_ind_kernels.pxd``), built a second
time with ``-mavx2 -mfma``: three-operand instructions, 256-bit vectors where
a loop vectorizes, the kernels' explicit ``fma`` calls as one instruction.
Floating-point contraction stays off and no loop is reordered, so every
result is bit for bit the baseline build's (a test checks).  ``_indicators``
imports this module only when the CPU has AVX2 and FMA (``admf_cpu_avx2``)
and ``ADMF_PERF_SIMD`` is not ``0``, and then runs every
``batch`` through ``RUNS``: a capsule of the table of ``run_fn`` pointers, in
the template's order (``_indicators_classes.pxi.in``).

Twin: ``_ind_simd_py.py`` (no table: the twin has one arithmetic).
"""
from cpython.pycapsule cimport PyCapsule_New

from admf_perf._ext._ind_kernels cimport *

include "_ind_simd_table.pxi"

#: The name of the capsule ``RUNS``.
CAPSULE_NAME = "admf_perf._ext._ind_simd.RUNS"
cdef bytes _NAME = CAPSULE_NAME.encode()

#: The table of runs (a ``run_fn[]`` in a capsule named ``CAPSULE_NAME``).
RUNS = PyCapsule_New(<void*>RUNS_TABLE, _NAME, NULL)
