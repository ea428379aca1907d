"""The grid of ``Backtest.optimize``: every parameter set scored, in this
process or in forked worker processes.

Part of :mod:`admf_perf.research.strategy`.
"""
from __future__ import annotations

import contextlib
import gc
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .strategy import Backtest


class _AttrDict(dict):  # type: ignore[type-arg]
    def __getattr__(self, item: str) -> Any:
        return self[item]


def _score_one(bt: Backtest, params: dict[str, Any], score: Callable[[pd.Series], float],
               key: str | None) -> float:
    """A run's score; NaN without trades (backtesting.py's heatmap).
    ``key``: the score reads this one statistic, so the run builds no
    frames and computes what it needs (a callable gets the whole Series)."""
    stats = bt._run(params, frames=key is None, only=key)
    if not stats["# Trades"]:
        return np.nan
    return score(stats)


_GRID: tuple[Backtest, list[dict[str, Any]], Callable[[pd.Series], float], str | None] | None = None


def _grid_chunk(bounds: tuple[int, int]) -> tuple[list[float], tuple[int, int]]:
    assert _GRID is not None
    bt, combos, score, key = _GRID
    before = bt._indicator_cache.stats()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = [_score_one(bt, combos[k], score, key) for k in range(*bounds)]
    after = bt._indicator_cache.stats()
    return out, (after.hits - before.hits, after.misses - before.misses)


_FREEZE_LOCK = threading.Lock()
#: The searches running inside the freeze this module made (0: none made).
_freezers = 0


def _after_fork_in_child() -> None:
    global _FREEZE_LOCK
    _FREEZE_LOCK = threading.Lock()     # a thread of the parent may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def _old_objects_frozen() -> Iterator[None]:
    """A search's runs make many small objects (orders, trades, tuples),
    whose allocations trigger the cyclic collector: its older generations
    would scan, again and again, every object the process held before the
    search (pandas, numpy, the caller's data), for 8-13% of a grid's time.
    So the objects alive when the first search starts are moved out of its
    sight (``gc.freeze()``) until the last one running ends
    (``gc.unfreeze()``, also on an error): searches running at once in
    threads share one freeze, and forked workers inherit it untouched.  What
    the runs make is collected as before.  Nothing is done when the
    collector is disabled or objects are already frozen by someone else
    (the caller's own ``gc.freeze()``, left as it is)."""
    global _freezers
    with _FREEZE_LOCK:
        joined = bool(_freezers) or (gc.isenabled() and not gc.get_freeze_count())
        if joined:
            if not _freezers:
                gc.freeze()
            _freezers += 1
    if not joined:
        yield
        return
    try:
        yield
    finally:
        with _FREEZE_LOCK:
            _freezers -= 1
            if not _freezers:
                gc.unfreeze()


def _run_grid(bt: Backtest, combos: list[dict[str, Any]], score: Callable[[pd.Series], float],
              workers: int, key: str | None = None) -> list[float]:
    with _old_objects_frozen():
        return _run_grid_frozen(bt, combos, score, workers, key)


def _run_grid_frozen(bt: Backtest, combos: list[dict[str, Any]], score: Callable[[pd.Series], float],
                     workers: int, key: str | None = None) -> list[float]:
    global _GRID
    import multiprocessing as mp
    workers = min(workers, len(combos))
    if workers <= 1 or "fork" not in mp.get_all_start_methods():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return [_score_one(bt, p, score, key) for p in combos]
    from concurrent.futures import ProcessPoolExecutor
    step = -(-len(combos) // (workers * 4))
    chunks = [(a, min(a + step, len(combos))) for a in range(0, len(combos), step)]
    _GRID = (bt, combos, score, key)
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            results = list(pool.map(_grid_chunk, chunks))
    finally:
        _GRID = None
    scores: list[float] = []
    for out, (hits, misses) in results:
        scores.extend(out)
        bt._remote[0] += hits
        bt._remote[1] += misses
    return scores


def random_subset(items: Sequence[Any], trials: int | float | None, seed: Any = None) -> list[Any]:
    """A random search's trials: ``trials`` of ``items`` (a count, or a
    fraction in (0, 1] of them; None: all) drawn without replacement by
    ``numpy.random.default_rng(seed)``, kept in the grid's order.  The draw
    is made once, before any run: the same seed gives the same trials
    whatever the number of workers."""
    n = len(items)
    if trials is None:
        return list(items)
    if isinstance(trials, bool) or not isinstance(trials, (int, float, np.integer, np.floating)) or not trials > 0:
        raise ValueError(f"trials must be a count >= 1 or a fraction in (0, 1], got {trials!r}")
    k = int(trials) if trials >= 1 else max(1, round(trials * n))
    if trials >= 1 and trials != int(trials):
        raise ValueError(f"trials must be a whole count >= 1 or a fraction in (0, 1], got {trials!r}")
    if k >= n:
        return list(items)
    chosen = np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
    return [items[i] for i in chosen]
