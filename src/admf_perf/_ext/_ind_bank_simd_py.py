"""Pure-Python twin of ``_ind_bank_simd.pyx``: the AVX2 build of
IndicatorBank's updates.

The compiled module is the bank updates built a second time for AVX2, with
the same results bit for bit; the twin has one arithmetic
(``_indicators_py``), so it has no table: ``BANK_UPDATES`` is None and a
bank steps each symbol with the class's own step.
"""
from __future__ import annotations

__all__ = ["BANK_UPDATES", "CAPSULE_NAME"]

CAPSULE_NAME = "admf_perf._ext._ind_bank_simd.BANK_UPDATES"
BANK_UPDATES = None
