"""Type stub of the compiled ``admf_perf._ext._ind_simd`` (twin: ``_ind_simd_py``)."""
from typing import Any

CAPSULE_NAME: str
RUNS: Any  # a PyCapsule holding the C table of runs
