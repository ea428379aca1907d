"""admf-perf: the compiled performance toolkit of ADMF-Trader.

Strategic caching, incremental calculations, resource management and a
benchmark harness. Hot paths are compiled Cython modules (``admf_perf._ext``);
``COMPILED`` tells which are loaded (``ADMF_PERF_NO_EXTENSIONS=1`` selects the
pure-Python twins).
"""
from __future__ import annotations

from . import caching, manager, portfolio, risk
from ._ext import COMPILED
from .caching import Cache, CacheEntry, CacheKey, CacheStats, CacheStrategy, cached
from .manager import CacheManager
from .portfolio import IncrementalPositionTracker, Position
from .risk import CachingRiskCalculator

__version__ = "0.1.0"

__all__ = [
    "COMPILED", "Cache", "CacheEntry", "CacheKey", "CacheManager", "CacheStats",
    "CacheStrategy", "CachingRiskCalculator", "IncrementalPositionTracker", "Position",
    "cached", "caching", "manager", "portfolio", "risk", "__version__",
]
