# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: freethreading_compatible=True
"""IndicatorBank's updates, compiled for AVX2 and FMA (x86-64 only).

One bar of every symbol of a bank, the class's step inline (the template's
``X_bank_update``), built a second time with ``-mavx2 -mfma``:
three-operand instructions (no register copies), the kernels' explicit
``fma`` calls as one instruction each (the baseline build tests for the
instruction at every call).  Floating-point contraction stays off and no
loop is reordered, so every result is bit for bit the baseline build's (a
test checks).  A module of its own, not ``_ind_simd``: the same inlining
room as ``_indicators`` (``setup.py``), without moving ``_ind_simd``'s runs.

``_indicators`` imports it only when the CPU has AVX2 and FMA
(``admf_cpu_avx2``) and ``ADMF_PERF_SIMD`` is not ``0``; a bank made then
updates through ``BANK_UPDATES``: a capsule of the table of
``bank_update_fn`` pointers, in the template's order
(``_indicators_classes.pxi.in``); NULL for the classes of the template's
``BANK_UPDATES_BASELINE`` (the monotonic deques' steps, slower here in
wall-clock time), whose banks keep the baseline update.

Twin: ``_ind_bank_simd_py.py`` (no table: the twin has one arithmetic).
"""
from cpython.pycapsule cimport PyCapsule_New

from admf_perf._ext._ind_kernels cimport *

include "_ind_bank_simd_table.pxi"

#: The name of the capsule ``BANK_UPDATES``.
CAPSULE_NAME = "admf_perf._ext._ind_bank_simd.BANK_UPDATES"
cdef bytes _NAME = CAPSULE_NAME.encode()

#: The table of bank updates (a ``bank_update_fn[]`` in a capsule named
#: ``CAPSULE_NAME``).
BANK_UPDATES = PyCapsule_New(<void*>BANK_UPDATES_TABLE, _NAME, NULL)
