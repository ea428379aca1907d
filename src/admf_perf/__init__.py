"""admf-perf: the compiled performance toolkit of ADMF-Trader.

Strategic caching, incremental calculations, resource management and a
benchmark harness. Hot paths are compiled Cython modules (``admf_perf._ext``);
``COMPILED`` tells which are loaded (``ADMF_PERF_NO_EXTENSIONS=1`` selects the
pure-Python twins).
"""
from __future__ import annotations

from . import caching, incremental, indicators, manager, memory, pool, portfolio, risk
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
from .manager import CacheManager
from .memory import MemoryManager, TimeSeriesArray
from .pool import ObjectPool
from .portfolio import IncrementalPositionTracker, Position
from .risk import CachingRiskCalculator

__version__ = "0.1.0"

__all__ = [
    "ADX", "ATR", "COMPILED", "DEMA", "EMA", "KAMA", "MACD", "OBV", "ROC", "RSI", "SMA",
    "TEMA", "VWAP", "WMA", "BollingerBands", "Cache", "CacheEntry", "CacheKey",
    "CacheManager", "CacheStats", "CacheStrategy", "CachedIndicator", "CachedMovingAverage",
    "CachingRiskCalculator", "IncrementalCalculator", "IncrementalPositionTracker",
    "MemoryManager", "Momentum", "MovingAverageCalculator", "ObjectPool", "Position", "RollingMax", "RollingMin", "StdDev",
    "Stochastic", "TimeSeriesArray", "cached", "cached_indicator", "cached_signal", "caching", "incremental",
    "indicators", "manager", "memory", "pool", "portfolio", "risk", "__version__",
]
