"""admf-perf: the compiled performance toolkit of ADMF-Trader.

Strategic caching, incremental calculations, resource management and a
benchmark harness. Hot paths are compiled Cython modules (``admf_perf._ext``);
``COMPILED`` tells which are loaded (``ADMF_PERF_NO_EXTENSIONS=1`` selects the
pure-Python twins).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The pillars (subpackages) and, under their former flat names, the modules
# that users reach as ``admf_perf.<module>``.
from . import caching, incremental, resources
from ._ext import COMPILED
from .caching import Cache, CacheEntry, CacheKey, CacheManager, CacheStats, CacheStrategy, cached
from .caching import registry as manager
from .incremental import (
    ADX,
    APO,
    ATR,
    CCI,
    CMO,
    DEMA,
    EMA,
    KAMA,
    MACD,
    MFI,
    NATR,
    OBV,
    PPO,
    ROC,
    RSI,
    SMA,
    T3,
    TEMA,
    TRIMA,
    VWAP,
    WMA,
    Aroon,
    BollingerBands,
    CachedIndicator,
    CachedMovingAverage,
    CachingRiskCalculator,
    ChaikinOscillator,
    IncrementalCalculator,
    IncrementalPositionTracker,
    IndicatorBank,
    Momentum,
    MovingAverageCalculator,
    ParabolicSAR,
    Position,
    RollingMax,
    RollingMin,
    StdDev,
    Stochastic,
    StochRSI,
    TrueRange,
    UltimateOscillator,
    WilliamsR,
    cached_indicator,
    cached_signal,
    indicators,
    portfolio,
    risk,
)
from .resources import (
    CPUManager,
    IOManager,
    MemoryManager,
    ObjectPool,
    ResourceAwareExecutor,
    TimeSeriesArray,
    WorkerCrashedError,
    cpu,
    executor,
    fileio,
    memory,
    monitoring,
    pool,
)

if TYPE_CHECKING:
    from . import research
    from .research import backtest, optimize
    from .research.strategy import Backtest, Strategy
    from .resources import frames
    from .resources.frames import MemoryOptimizedArray, OptimizedDataFrame, iter_csv, load_csv

__version__ = "0.1.0"

#: Loaded on first use (PEP 562): these need pandas, whose import (~0.2 s) a
#: user of the caches and indicators alone should not pay.  Name -> module.
_LAZY: dict[str, str] = {
    "research": "research", "backtest": "research.backtest", "optimize": "research.optimize",
    "Strategy": "research.strategy", "Backtest": "research.strategy",
    "frames": "resources.frames", "MemoryOptimizedArray": "resources.frames",
    "OptimizedDataFrame": "resources.frames", "iter_csv": "resources.frames", "load_csv": "resources.frames",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    mod = importlib.import_module(f"{__name__}.{module}")
    value = mod if module.rsplit(".", 1)[-1] == name else getattr(mod, name)
    globals()[name] = value
    return value


def get_include() -> str:
    """The directory of the C headers and ``.pxd`` files, for Cython code that
    ``cimport``s the compiled indicators (add it to ``include_dirs``)."""
    import os

    return os.path.join(os.path.dirname(__file__), "_ext", "include")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "ADX", "APO", "ATR", "Backtest", "Strategy",
    "CCI", "CMO", "MFI", "TRIMA", "Aroon", "ChaikinOscillator", "COMPILED", "DEMA", "EMA", "KAMA",
    "MACD", "NATR", "OBV", "PPO", "ROC", "RSI", "SMA", "TEMA", "VWAP", "WMA", "BollingerBands", "CPUManager",
    "Cache", "CacheEntry", "CacheKey", "CacheManager", "CacheStats", "CacheStrategy", "CachedIndicator",
    "CachedMovingAverage", "CachingRiskCalculator", "IOManager", "IncrementalCalculator",
    "IncrementalPositionTracker", "IndicatorBank", "MemoryManager", "MemoryOptimizedArray", "Momentum",
    "MovingAverageCalculator", "ObjectPool", "OptimizedDataFrame", "Position", "ResourceAwareExecutor",
    "RollingMax", "RollingMin", "StdDev", "Stochastic", "StochRSI", "T3", "TimeSeriesArray", "TrueRange",
    "UltimateOscillator", "WilliamsR", "ParabolicSAR",
    "WorkerCrashedError", "backtest", "cached", "cached_indicator", "cached_signal", "caching", "cpu", "executor",
    "fileio", "frames", "incremental", "indicators", "iter_csv", "load_csv", "manager", "memory", "monitoring",
    "optimize", "pool", "portfolio", "research", "resources", "risk", "get_include", "__version__",
]
