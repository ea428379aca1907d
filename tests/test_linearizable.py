"""A cache shared by threads behaves as the single-threaded model does for
some order of its operations that real time allows: every ``get`` sees what
the model gives at its place in that order, and the cache ends holding the
model's entries in the model's eviction order.

This is a linearizability check (Wing and Gong, "Testing and verifying
concurrent objects", 1993; the search memoized on the state, as Lowe's
"Testing for linearizability", 2017, does): each thread records when each
operation started and returned; an operation may be placed before another
only if it started before the other returned. The search looks for one
order, consistent with those times, under which the model (an independent
few lines per policy, below) answers every ``get`` as the cache did.

On a free-threaded build (``PYTHON_GIL=0``) the threads really overlap;
with the GIL the same check runs under fast switching. No timing
assertions: the clock only orders operations.
"""
from __future__ import annotations

import random
import time

import pytest

from test_freethreading import raised, run_threads

MAX_SIZE = 3
KEYS = 6
OPS = 40
MISS = object()


# -- the model: (key, value, uses) in use order (LRU, LFU) or write order (FIFO) -------------
def model_get(policy, state, key):
    """(the answer, the next state) of ``get(key)``."""
    for i, (k, v, uses) in enumerate(state):
        if k == key:
            if policy == "fifo":
                return v, state
            return v, state[:i] + state[i + 1:] + ((k, v, uses + 1),)
    return MISS, state


def model_set(policy, state, key, value):
    """The state after ``c[key] = value`` (an overwrite is a use and a write)."""
    for i, (k, _, uses) in enumerate(state):
        if k == key:
            return state[:i] + state[i + 1:] + ((k, value, uses + 1),)
    if len(state) >= MAX_SIZE:
        if policy == "lfu":     # the fewest uses; of those, the least recently used
            victim = min(range(len(state)), key=lambda j: state[j][2])
        else:
            victim = 0
        state = state[:victim] + state[victim + 1:]
    return state + ((key, value, 1),)


def eviction_order(policy, state):
    """The model's entries, next victim first."""
    if policy == "lfu":
        return [(k, v) for _, (k, v, _) in sorted(enumerate(state), key=lambda p: (p[1][2], p[0]))]
    return [(k, v) for k, v, _ in state]


def linearize(policy, histories, final):
    """An order of the operations real time allows under which the model
    answers each ``get`` as observed and ends with ``final``; None if none.

    ``histories``: per thread, its operations in program order, each
    ``(start_ns, end_ns, kind, key, value_or_answer)``."""
    n = len(histories)
    stack = [((0,) * n, ())]
    seen = set()
    while stack:
        done, state = stack.pop()
        if (done, state) in seen:
            continue
        seen.add((done, state))
        pending = [(i, histories[i][done[i]]) for i in range(n) if done[i] < len(histories[i])]
        if not pending:
            if eviction_order(policy, state) == final:
                return True
            continue
        first_end = min(op[1] for _, op in pending)
        for i, (start, _, kind, key, value) in pending:
            if start > first_end:        # another operation returned before this one started
                continue
            if kind == "get":
                answer, nxt = model_get(policy, state, key)
                if answer is not value and answer != value:
                    continue
            else:
                nxt = model_set(policy, state, key, value)
            stack.append((done[:i] + (done[i] + 1,) + done[i + 1:], nxt))
    return None


def hammer(ap, policy, n_threads, seed):
    cache = ap.Cache(max_size=MAX_SIZE, strategy=policy)
    histories = [[] for _ in range(n_threads)]
    clock = time.perf_counter_ns

    def worker(t):
        rng = random.Random(seed * 100 + t)
        log = histories[t]

        def body():
            for i in range(OPS):
                key = rng.randrange(KEYS)
                if rng.random() < 0.5:
                    start = clock()
                    answer = cache.get(key, MISS)
                    log.append((start, clock(), "get", key, answer))
                else:
                    value = (t, i)
                    start = clock()
                    cache[key] = value
                    log.append((start, clock(), "set", key, value))
        return body

    assert not raised(run_threads([worker(t) for t in range(n_threads)]))
    return cache, histories


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo"])
def test_the_model_itself_on_one_thread(ap, policy):
    """The checker's model is the cache's, on one thread (no freedom of order):
    the search must find it, and must reject a history with one answer changed."""
    cache, histories = hammer(ap, policy, 1, seed=7)
    final = cache.items()
    assert len(final) == MAX_SIZE
    assert linearize(policy, histories, final)
    assert linearize(policy, histories, final[::-1]) is None        # another eviction order
    ops = histories[0]
    j = next(j for j, op in enumerate(ops) if op[2] == "get")
    start, end, kind, key, answer = ops[j]
    ops[j] = (start, end, kind, key, MISS if answer is not MISS else ("not", "stored"))
    assert linearize(policy, histories, final) is None


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo"])
@pytest.mark.parametrize("n_threads", [2, 4])
def test_a_shared_cache_is_linearizable(ap, fast_switching, policy, n_threads):
    for seed in range(10):
        cache, histories = hammer(ap, policy, n_threads, seed)
        assert linearize(policy, histories, cache.items()), (policy, n_threads, seed, histories)
        gets = [op for h in histories for op in h if op[2] == "get"]
        s = cache.stats()
        assert s.hits == sum(op[4] is not MISS for op in gets)
        assert s.misses == sum(op[4] is MISS for op in gets)
