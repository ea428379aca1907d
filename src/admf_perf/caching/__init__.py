"""Strategic caching: ``Cache`` (LRU, LFU, FIFO, TLRU, unbounded, a TTL on every
policy), the ``cached`` decorator, ``CacheKey`` for any arguments, and the
``CacheManager`` registry every cache and cached function joins.

- :mod:`.cache`: ``Cache``, ``CacheStrategy``, ``CacheEntry``, ``CacheStats``;
- :mod:`.decorator`: ``cached``;
- :mod:`.keys`: ``CacheKey``;
- :mod:`.registry`: ``CacheManager``.

Semantics: docs/caching.md.
"""
from __future__ import annotations

from .cache import Cache, CacheEntry, CacheStats, CacheStrategy
from .decorator import cached
from .keys import CacheKey
from .registry import CacheManager

__all__ = ["Cache", "CacheEntry", "CacheKey", "CacheManager", "CacheStats", "CacheStrategy", "cached"]
