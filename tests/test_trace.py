"""Replay the ARC paper's OLTP trace through every bounded policy.

N. Megiddo and D. S. Modha, "ARC: A Self-Tuning, Low Overhead Replacement
Cache", USENIX FAST 2003 (trace redistributed by the moka-rs cache-trace
project; see ../shared/data/README.md). One request per line, keyed by its
starting block; each request is a get-or-set. The hit count of ``Cache`` must
equal an independent reference's exactly, and LRU's must equal
``functools.lru_cache``'s.

The compiled store replays the whole trace (914,145 requests); the pure-Python
twin a prefix, to keep the file fast.
"""
from __future__ import annotations

import functools
import gzip
import heapq
from collections import OrderedDict

import pytest

TRACE_REQUESTS = 914_145
TRACE_UNIQUE = 186_880
TWIN_PREFIX = 200_000
SIZES = [1_000, 10_000]

_trace_cache: dict = {}
_ref_cache: dict = {}


def load_trace(shared_data) -> list[int]:
    if "oltp" not in _trace_cache:
        path = shared_data / "traces" / "OLTP.lis.gz"
        with gzip.open(path, "rt") as fh:
            _trace_cache["oltp"] = [int(line.split(None, 1)[0]) for line in fh if line.strip()]
    return _trace_cache["oltp"]


# -- independent references -------------------------------------------------------

def ref_lru(stream, size: int, move_on_hit: bool = True) -> int:
    """Hits of an LRU (or, without move_on_hit, a FIFO) of size entries."""
    od: OrderedDict = OrderedDict()
    hits = 0
    for k in stream:
        if k in od:
            if move_on_hit:
                od.move_to_end(k)
            hits += 1
        else:
            if len(od) >= size:
                od.popitem(last=False)
            od[k] = None
    return hits


def ref_fifo(stream, size: int) -> int:
    return ref_lru(stream, size, move_on_hit=False)


def ref_lfu(stream, size: int) -> int:
    """LFU with a lazy-deletion heap of (frequency, last use, key).

    Victim: lowest frequency, ties by least recent use; a new entry has
    frequency 1, a hit adds 1. Stale heap items (an entry's old frequency/time)
    are skipped when popped.
    """
    state: dict = {}  # key -> (freq, tick)
    heap: list = []
    hits = 0
    for tick, k in enumerate(stream):
        cur = state.get(k)
        if cur is not None:
            hits += 1
            item = (cur[0] + 1, tick)
            state[k] = item
            heapq.heappush(heap, (item[0], item[1], k))
            continue
        if len(state) >= size:
            while True:
                f, t, victim = heapq.heappop(heap)
                if state.get(victim) == (f, t):
                    del state[victim]
                    break
        state[k] = (1, tick)
        heapq.heappush(heap, (1, tick, k))
        if len(heap) > 4 * size + 1024:  # compact the stale items away
            heap = [(f, t, key) for key, (f, t) in state.items()]
            heapq.heapify(heap)
    return hits


def ref_lfu_bruteforce(stream, size: int) -> int:
    """O(n) per eviction, for checking ref_lfu on a short stream."""
    state: dict = {}
    hits = 0
    for tick, k in enumerate(stream):
        if k in state:
            hits += 1
            state[k] = (state[k][0] + 1, tick)
            continue
        if len(state) >= size:
            victim = min(state, key=lambda key: state[key])
            del state[victim]
        state[k] = (1, tick)
    return hits


def functools_hits(stream, size: int) -> int:
    f = functools.lru_cache(maxsize=size)(lambda k: k)
    for k in stream:
        f(k)
    return f.cache_info().hits


REFERENCES = {"lru": ref_lru, "fifo": ref_fifo, "lfu": ref_lfu}


def reference_hits(policy: str, stream, n: int, size: int) -> int:
    key = (policy, n, size)
    if key not in _ref_cache:
        _ref_cache[key] = REFERENCES[policy](stream, size)
    return _ref_cache[key]


def replay(cache, stream) -> int:
    """get-or-set every key; returns the hits counted by the caller."""
    missing = object()
    get = cache.get
    put = cache.set
    hits = 0
    for k in stream:
        if get(k, missing) is missing:
            put(k, k)
        else:
            hits += 1
    return hits


def _is_compiled(ap) -> bool:
    return all(ap.COMPILED.values())


# -- tests -----------------------------------------------------------------------

def test_trace_shape(shared_data):
    trace = load_trace(shared_data)
    assert len(trace) == TRACE_REQUESTS
    assert len(set(trace)) == TRACE_UNIQUE


def test_lfu_reference_agrees_with_bruteforce(shared_data):
    stream = load_trace(shared_data)[:30_000]
    for size in (10, 100, 500):
        assert ref_lfu(stream, size) == ref_lfu_bruteforce(stream, size)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo"])
def test_trace_hits_match_reference(ap, shared_data, policy, size):
    trace = load_trace(shared_data)
    n = len(trace) if _is_compiled(ap) else TWIN_PREFIX
    stream = trace[:n] if n < len(trace) else trace
    cache = ap.Cache(max_size=size, strategy=policy)
    hits = replay(cache, stream)
    expected = reference_hits(policy, stream, n, size)
    assert hits == expected
    s = cache.stats()
    assert (s.hits, s.misses, s.evictions, s.expirations) == (
        expected, n - expected, n - expected - size, 0)
    assert s.size == len(cache) == size
    cache._check()
    if policy == "lru":
        assert hits == functools_hits(stream, size)


@pytest.mark.parametrize("size", SIZES)
def test_trace_cached_function_matches_functools(ap, shared_data, size):
    """The same stream through ``@cached`` vs ``@functools.lru_cache``."""
    trace = load_trace(shared_data)
    n = len(trace) if _is_compiled(ap) else TWIN_PREFIX // 2
    stream = trace[:n]

    @ap.cached(max_size=size)
    def ours(k):
        return k

    ref = functools.lru_cache(maxsize=size)(lambda k: k)
    for k in stream:
        ours(k)
        ref(k)
    assert ours.cache_info() == ref.cache_info()
    assert ours.cache_info().hits == reference_hits("lru", trace[:n], n, size)


@pytest.mark.parametrize("size", SIZES)
def test_trace_wtinylfu_statistics(ap, shared_data, size):
    """W-TinyLFU on the OLTP trace: exact statistics; at 1,000 entries more
    hits than LRU. (At 10,000 this recency-heavy trace favours LRU, as it
    does theine: docs/caching.md has the table.)"""
    trace = load_trace(shared_data)
    n = len(trace) if _is_compiled(ap) else TWIN_PREFIX // 2
    stream = trace[:n]
    cache = ap.Cache(max_size=size, strategy="wtinylfu")
    hits = replay(cache, stream)
    if size == 1_000:
        assert hits > reference_hits("lru", stream, n, size)
    s = cache.stats()
    assert (s.hits, s.misses, s.evictions) == (hits, n - hits, n - hits - size)
    assert len(cache) == size
    cache._check()


def test_trace_wtinylfu_compiled_decides_as_the_twin(shared_data):
    """The twin is the specification: on a prefix of the trace the compiled
    store makes the same decisions (same hits, same entries in the same order)."""
    from admf_perf._ext import _cache_py, _types
    compiled = pytest.importorskip("admf_perf._ext._cache")
    stream = load_trace(shared_data)[:TWIN_PREFIX // 2]
    for size in (10, 1_000):
        stores = [m.CacheCore(size, _types.WTINYLFU) for m in (compiled, _cache_py)]
        hits = [replay(s, stream) for s in stores]
        assert hits[0] == hits[1]
        assert stores[0].keys() == stores[1].keys()
