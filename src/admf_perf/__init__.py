"""admf-perf: the compiled performance toolkit of ADMF-Trader.

Strategic caching, incremental calculations, resource management and a
benchmark harness. Hot paths are compiled Cython modules (``admf_perf._ext``);
``COMPILED`` tells which are loaded (``ADMF_PERF_NO_EXTENSIONS=1`` selects the
pure-Python twins).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import caching, cpu, executor, fileio, incremental, indicators, manager, memory, monitoring, pool, portfolio, risk
from ._ext import COMPILED
from .caching import Cache, CacheEntry, CacheKey, CacheStats, CacheStrategy, cached
from .incremental import IncrementalCalculator, MovingAverageCalculator
from .indicators import (
    ADX,
    ATR,
    DEMA,
    EMA,
    KAMA,
    MACD,
    OBV,
    ROC,
    RSI,
    SMA,
    TEMA,
    VWAP,
    WMA,
    BollingerBands,
    CachedIndicator,
    CachedMovingAverage,
    Momentum,
    RollingMax,
    RollingMin,
    StdDev,
    Stochastic,
    cached_indicator,
    cached_signal,
)
from .cpu import CPUManager, WorkerCrashedError
from .executor import ResourceAwareExecutor
from .fileio import IOManager
from .manager import CacheManager
from .memory import MemoryManager, TimeSeriesArray
from .pool import ObjectPool
from .portfolio import IncrementalPositionTracker, Position
from .risk import CachingRiskCalculator

if TYPE_CHECKING:
    from . import backtest, frames, optimize
    from .frames import MemoryOptimizedArray, OptimizedDataFrame, iter_csv, load_csv

__version__ = "0.1.0"

#: Loaded on first use (PEP 562): these modules need pandas, whose import
#: (~0.2 s) a user of the caches and indicators alone should not pay.
_LAZY: dict[str, str] = {
    "backtest": "backtest", "frames": "frames", "optimize": "optimize",
    "MemoryOptimizedArray": "frames", "OptimizedDataFrame": "frames", "iter_csv": "frames", "load_csv": "frames",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    mod = importlib.import_module(f"{__name__}.{module}")
    value = mod if name == module else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "ADX", "ATR", "COMPILED", "DEMA", "EMA", "KAMA", "MACD", "OBV", "ROC", "RSI", "SMA",
    "TEMA", "VWAP", "WMA", "BollingerBands", "CPUManager", "Cache", "CacheEntry", "CacheKey",
    "CacheManager", "CacheStats", "CacheStrategy", "CachedIndicator", "CachedMovingAverage",
    "CachingRiskCalculator", "IOManager", "IncrementalCalculator", "IncrementalPositionTracker",
    "MemoryManager", "MemoryOptimizedArray", "Momentum", "MovingAverageCalculator", "ObjectPool",
    "OptimizedDataFrame", "Position", "ResourceAwareExecutor", "RollingMax", "RollingMin", "StdDev",
    "Stochastic", "TimeSeriesArray", "WorkerCrashedError", "backtest", "cached", "cached_indicator", "cached_signal", "caching",
    "cpu", "executor", "fileio", "frames", "incremental", "indicators", "iter_csv", "load_csv", "manager",
    "memory", "monitoring", "optimize", "pool", "portfolio", "risk", "__version__",
]
