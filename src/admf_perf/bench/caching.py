"""Caching scenarios (issue 2, section 4): ``cached``, ``Cache`` and
``CacheKey`` beside functools, cachetools, cachebox and lru-dict.

Anchors are used out of the box (default options) and written exactly as ours:
same loop, same statement, same inputs.  ``ours`` uses the public API only.
"""
from __future__ import annotations

import functools
import importlib
import random
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from admf_perf.bench.floors import hit_keys
from admf_perf.bench.scenario import Gate, Impl, Scenario, register

__all__ = ["ZIPF_KEYS", "ZIPF_REQUESTS", "ZIPF_REQUESTS_QUICK", "ZIPF_S", "ZIPF_SEED", "zipf_trace"]

GROUP = "caching"

ZIPF_S = 1.0
ZIPF_KEYS = 100_000
ZIPF_REQUESTS = 1_000_000
ZIPF_REQUESTS_QUICK = 200_000
ZIPF_SEED = 20240601

GET_OR_SET = """\
v = c.get(k)
if v is None:
    c[k] = k
"""

KEY_ARGS: Mapping[str, Any] = {"args": (1, 2.0, "a"), "kwargs": {"x": 1, "y": "b"}}

Names = Mapping[str, Any]


def _mod(name: str) -> ModuleType:
    return importlib.import_module(name)


def _ap() -> Any:
    return _mod("admf_perf")


# -- inputs ---------------------------------------------------------------------------

@functools.cache
def zipf_trace(quick: bool = False) -> list[int]:
    """Zipf(``ZIPF_S``) requests over ``ZIPF_KEYS`` keys (key ``i`` has
    probability proportional to ``1 / (i + 1)``), from numpy's
    ``default_rng(ZIPF_SEED)``: the same list on every machine."""
    import numpy as np

    weights = np.arange(1, ZIPF_KEYS + 1, dtype=np.float64) ** -ZIPF_S
    rng = np.random.default_rng(ZIPF_SEED)
    n = ZIPF_REQUESTS_QUICK if quick else ZIPF_REQUESTS
    trace: list[int] = rng.choice(ZIPF_KEYS, size=n, p=weights / weights.sum()).tolist()
    return trace


@functools.cache
def _pairs(quick: bool = False) -> list[tuple[int, int]]:
    return [(k, k * 7 + 1) for k in hit_keys()]


@functools.cache
def _cycle(quick: bool = False, n: int = 4_096) -> list[int]:
    """Distinct keys in a cycle longer than the cache: every access misses."""
    return list(range(n))


@functools.cache
def _present_10k(quick: bool = False) -> list[int]:
    keys = list(range(10_000))
    random.Random(3).shuffle(keys)
    return keys


def _repeat(quick: bool = False) -> list[None]:
    return [None] * 1_000


# -- implementations ------------------------------------------------------------------

def _ident(x: Any) -> Any:
    return x


def _first(a: Any, b: Any) -> Any:
    return a


def _decorators(maxsize: int, user: Callable[..., Any]) -> tuple[Impl, tuple[Impl, ...]]:
    """``@cached(maxsize)`` and the same function under each anchor decorator."""

    def ours() -> Names:
        return {"f": _ap().cached(maxsize)(user)}

    def lru_cache() -> Names:
        return {"f": functools.lru_cache(maxsize)(user)}

    def cachebox() -> Names:
        cb = _mod("cachebox")
        return {"f": cb.cached(cb.LRUCache(maxsize))(user)}

    def cachetools() -> Names:
        ct = _mod("cachetools")
        return {"f": ct.cached(ct.LRUCache(maxsize))(user)}

    return Impl("admf_perf.cached", ours), (
        Impl("functools.lru_cache", lru_cache),
        Impl("cachebox.cached", cachebox),
        Impl("cachetools.cached", cachetools),
    )


def _store(module: str, path: str, *args: Any, fill: int = 0, **kwargs: Any) -> Callable[[], Names]:
    """Factory of ``{"c": module.path(*args, **kwargs)}``, holding keys
    ``0 .. fill-1``."""

    def factory() -> Names:
        obj: Any = _ap() if module == "admf_perf" else _mod(module)
        for part in path.split("."):
            obj = getattr(obj, part)
        c = obj(*args, **kwargs)
        for k in range(fill):
            c[k] = k
        return {"c": c}

    return factory


def _key_maker(module: str, attr: str) -> Callable[[], Names]:
    """``g(args, kwargs)`` calling ``module.attr(*args, **kwargs)``, the way
    cachebox.cached calls its ``key_maker``."""

    def factory() -> Names:
        make = getattr(_mod(module), attr)
        return {"g": lambda a, k: make(*a, **k), **KEY_ARGS}

    return factory


def _generate_key() -> Names:
    return {"g": _ap().CacheKey.generate_key, **KEY_ARGS}


# -- scenarios ------------------------------------------------------------------------

_hit1 = _decorators(128, _ident)
_hit2 = _decorators(128, _first)
_miss = _decorators(128, _ident)
_zipf = _decorators(1024, _ident)

register(
    Scenario(
        "cached hit f(int)", GROUP, "f(k) with one int argument, a hit (100 keys, maxsize 128)",
        "f(k)", hit_keys, *_hit1, gate=Gate(1.00, ("functools.lru_cache",), "functools"),
    ),
    Scenario(
        "cached hit f(a, b)", GROUP, "f(a, b) with two int arguments, a hit (100 keys, maxsize 128)",
        "f(a, b)", _pairs, *_hit2, gate=Gate(1.10, ("functools.lru_cache",), "functools"), var="a, b",
    ),
    Scenario(
        "cached miss+evict", GROUP, "f(k), a miss that evicts (4096 keys in a cycle, maxsize 128)",
        "f(k)", _cycle, *_miss, gate=Gate(1.30, ("functools.lru_cache",), "functools"),
    ),
    Scenario(
        "Cache.get hit (10k)", GROUP, "c.get(k), a hit in a full LRU of 10,000 int keys (shuffled)",
        "c.get(k)", _present_10k,
        Impl("admf_perf.Cache", _store("admf_perf", "Cache", 10_000, fill=10_000)),
        (
            Impl("lru.LRU", _store("lru", "LRU", 10_000, fill=10_000)),
            Impl("cachebox.LRUCache", _store("cachebox", "LRUCache", 10_000, fill=10_000)),
            Impl("cachetools.LRUCache", _store("cachetools", "LRUCache", 10_000, fill=10_000)),
        ),
        gate=Gate(1.00, ("lru.LRU", "cachebox.LRUCache"), "best of lru-dict, cachebox"),
    ),
    Scenario(
        "Cache.set+evict (LRU 1024)", GROUP, "c[k] = k, a new key into a full LRU of 1,024 (evicts)",
        "c[k] = k", _cycle,
        Impl("admf_perf.Cache", _store("admf_perf", "Cache", 1_024)),
        (
            Impl("cachebox.LRUCache", _store("cachebox", "LRUCache", 1_024)),
            Impl("cachebox.LRUCache.insert", _store("cachebox", "LRUCache", 1_024), stmt="c.insert(k, k)"),
            Impl("cachetools.LRUCache", _store("cachetools", "LRUCache", 1_024)),
            Impl("lru.LRU", _store("lru", "LRU", 1_024)),
        ),
        gate=Gate(1.00, ("cachebox.LRUCache", "cachebox.LRUCache.insert"), "cachebox"),
    ),
    Scenario(
        "Zipf LRU", GROUP, "f(k) over Zipf(1.0) requests on 100k keys, maxsize 1,024",
        "f(k)", zipf_trace, *_zipf, gate=Gate(1.10, ("functools.lru_cache",), "functools"),
    ),
    Scenario(
        "Zipf LFU", GROUP, "get-or-set over Zipf(1.0) requests on 100k keys, LFU of 1,024",
        GET_OR_SET, zipf_trace,
        Impl("admf_perf.Cache(lfu)", _store("admf_perf", "Cache", 1_024, "lfu")),
        (
            Impl("cachebox.LFUCache", _store("cachebox", "LFUCache", 1_024)),
            Impl("cachetools.LFUCache", _store("cachetools", "LFUCache", 1_024)),
        ),
        gate=Gate(0.80, ("cachebox.LFUCache",), "cachebox"),
    ),
    Scenario(
        "Zipf LRU+TTL", GROUP, "get-or-set over Zipf(1.0) requests on 100k keys, 1,024 entries, ttl 3600 s",
        GET_OR_SET, zipf_trace,
        Impl("admf_perf.Cache(lru, ttl)", _store("admf_perf", "Cache", 1_024, "lru", ttl=3600)),
        (
            Impl("cachebox.TTLCache", _store("cachebox", "TTLCache", 1_024, 3600)),
            Impl("cachetools.TTLCache", _store("cachetools", "TTLCache", 1_024, 3600)),
        ),
        gate=Gate(0.80, ("cachebox.TTLCache",), "cachebox"),
    ),
    Scenario(
        "generate_key", GROUP, "key of args (1, 2.0, 'a'), kwargs {x: 1, y: 'b'}",
        "g(args, kwargs)", _repeat,
        Impl("admf_perf.CacheKey.generate_key", _generate_key),
        (
            Impl("cachebox.make_key", _key_maker("cachebox", "make_key")),
            Impl("cachetools.keys.hashkey", _key_maker("cachetools.keys", "hashkey")),
        ),
        gate=Gate(0.60, ("cachebox.make_key",), "cachebox"),
        var="_",
    ),
)
