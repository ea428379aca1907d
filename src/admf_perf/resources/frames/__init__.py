"""Lean pandas data: lossless downcasts of arrays and frames, chunked CSV
loading.  Everything in this folder needs pandas (and is loaded on first use
by ``admf_perf``); every rule, default and choice is in ``docs/frames.md``.
"""
from __future__ import annotations

from .csv import DEFAULT_CHUNKSIZE, iter_csv, load_csv
from .downcast import (
    DEFAULT_CATEGORY_THRESHOLD,
    MemoryOptimizedArray,
    OptimizedDataFrame,
    optimal_dtype,
)

__all__ = [
    "DEFAULT_CATEGORY_THRESHOLD",
    "DEFAULT_CHUNKSIZE",
    "MemoryOptimizedArray",
    "OptimizedDataFrame",
    "iter_csv",
    "load_csv",
    "optimal_dtype",
]
