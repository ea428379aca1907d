"""Pure-Python twin of ``_bench.pyx`` (the readable specification).

``measured_region(fn)`` calls ``fn()`` and returns its result.  The compiled
module runs the call inside the C function named by ``REGION_SYMBOL``, which
callgrind counts; this twin has no such symbol, so ``admf-perf bench
--instructions`` refuses to run on it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["REGION_SYMBOL", "measured_region"]

_T = TypeVar("_T")

REGION_SYMBOL = "admf_perf_bench_region"


def measured_region(fn: Callable[[], _T]) -> _T:
    """Call ``fn()`` (the compiled module does it inside the measured region)."""
    return fn()
