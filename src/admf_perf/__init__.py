"""admf-perf: the compiled performance toolkit of ADMF-Trader.

Strategic caching, incremental calculations, resource management and a
benchmark harness. Hot paths are compiled Cython modules (``admf_perf._ext``);
``COMPILED`` tells which are loaded (``ADMF_PERF_NO_EXTENSIONS=1`` selects the
pure-Python twins).
"""
from __future__ import annotations

from ._ext import COMPILED
from .caching import Cache, CacheEntry, CacheKey, CacheStats, CacheStrategy, cached
from .manager import CacheManager

__version__ = "0.1.0"

__all__ = [
    "COMPILED",
    "Cache",
    "CacheEntry",
    "CacheKey",
    "CacheManager",
    "CacheStats",
    "CacheStrategy",
    "cached",
    "__version__",
]
