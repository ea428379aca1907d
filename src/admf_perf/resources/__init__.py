"""Resources: memory, CPU and I/O.

- :mod:`.memory`: ``MemoryManager`` (usage, tracked allocations, pressure);
- :mod:`.pool`: ``ObjectPool``;
- :mod:`.timeseries`: ``TimeSeriesArray``;
- :mod:`.frames` (needs pandas, loaded on first use): ``MemoryOptimizedArray``,
  ``OptimizedDataFrame``, ``load_csv``, ``iter_csv``;
- :mod:`.cpu`: ``CPUManager`` (thread and process pools, recovery, Dask);
- :mod:`.fileio`: ``IOManager`` (one worker thread, atomic writes);
- :mod:`.executor`: ``ResourceAwareExecutor``;
- :mod:`.monitoring`: resource snapshots (``admf-perf report``).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .cpu import CPUManager, WorkerCrashedError
from .executor import ResourceAwareExecutor
from .fileio import IOManager
from .memory import MemoryManager
from .pool import ObjectPool
from .timeseries import TimeSeriesArray

if TYPE_CHECKING:
    from .frames import MemoryOptimizedArray, OptimizedDataFrame, iter_csv, load_csv

__all__ = [
    "CPUManager", "IOManager", "MemoryManager", "MemoryOptimizedArray", "ObjectPool", "OptimizedDataFrame",
    "ResourceAwareExecutor", "TimeSeriesArray", "WorkerCrashedError", "iter_csv", "load_csv",
]

#: The pandas-backed names, loaded on first use (PEP 562).
_FRAMES = ("MemoryOptimizedArray", "OptimizedDataFrame", "iter_csv", "load_csv")


def __getattr__(name: str) -> Any:
    if name in _FRAMES:
        value = getattr(importlib.import_module(f"{__name__}.frames"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FRAMES))
