"""Pure-Python twin of ``_ind_simd.pyx``: the AVX2 build of the indicators'
whole-array runs.

The compiled module is the same kernels built a second time for AVX2, with the
same results bit for bit; the twin has one arithmetic (``_indicators_py``), so
it has no table: ``RUNS`` is None and ``batch`` always steps.
"""
from __future__ import annotations

__all__ = ["CAPSULE_NAME", "RUNS"]

CAPSULE_NAME = "admf_perf._ext._ind_simd.RUNS"
RUNS = None
