"""Type stub of the compiled ``admf_perf._ext._bench`` (twin: ``_bench_py``)."""
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")

REGION_SYMBOL: str

def measured_region(fn: Callable[[], _T]) -> _T: ...
