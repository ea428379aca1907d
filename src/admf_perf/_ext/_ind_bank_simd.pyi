"""Type stub of the compiled ``admf_perf._ext._ind_bank_simd`` (twin: ``_ind_bank_simd_py``)."""
from typing import Any

CAPSULE_NAME: str
BANK_UPDATES: Any  # a PyCapsule holding the C table of IndicatorBank's updates
