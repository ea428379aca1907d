"""Memory-structure scenarios (issue 4, section 4): ``TimeSeriesArray``.

* ``TimeSeriesArray.append``: ``c.append(t, v)`` on an unbounded array beside
  ``list.append(v)`` of the same float, in the same loop; gate <= 1.50x.  The
  timestamps of the loop are all equal (allowed: equal timestamps are kept in
  arrival order), so the loop can be re-run on the same array; the array
  grows across runs as a real feed's does (amortized growth included).
* ``TimeSeriesArray.append, ring buffer (context)``: the same with
  ``capacity=4096`` (no growth), ungated.
* ``TimeSeriesArray.extend 10M``: a new array extended with 10M numpy points
  (1M with ``--quick``) beside ``np.concatenate`` copying the same two arrays,
  both copies alive until both are made, then dropped together, as the
  array's two buffers are (dropping each copy at once would let malloc hand
  the second copy the first one's warm pages: 2 x 8 MB in L3 with ``--quick``);
  gate <= 2.00x.

* ``TimeSeriesArray memory per point (10M appends)``: a measured scenario,
  bytes per point tracemalloc sees after 10M ``append`` calls, beside two
  numpy arrays holding the same points (16.0 bytes); gate <= 1.031x, i.e.
  16.5 bytes per point (growth wastes at most 1/64 past 4M points; past 4 MiB
  the buffers are mapped pages grown by ``mremap``, without copying).
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from admf_perf.bench.scenario import Gate, Impl, Scenario, register

__all__ = ["append_points", "bytes_per_point_appended", "bytes_per_point_numpy", "extend_arrays"]

GROUP = "timeseries"

T0 = 1_700_000_000_000_000_000
POINTS = 1_000
EXTEND_POINTS = 10_000_000
EXTEND_POINTS_QUICK = 1_000_000


@functools.cache
def append_points(quick: bool = False) -> list[tuple[int, float]]:
    """``POINTS`` (timestamp, price) pairs: one int timestamp (ns), distinct floats."""
    return [(T0, 100.0 + i * 0.25) for i in range(POINTS)]


@functools.cache
def extend_arrays(quick: bool = False) -> list[tuple[Any, Any]]:
    """One (timestamps, values) pair of numpy arrays (one operation)."""
    import numpy as np

    n = EXTEND_POINTS_QUICK if quick else EXTEND_POINTS
    ts = T0 + np.arange(n, dtype=np.int64) * 1_000_000
    vs = np.random.default_rng(4).normal(100.0, 1.0, n)
    return [(ts, vs)]


def _cls() -> Any:
    from admf_perf._ext import load

    return load("_timeseries").TimeSeriesArray


def _array() -> Mapping[str, Any]:
    return {"c": _cls()()}


def _ring() -> Mapping[str, Any]:
    return {"c": _cls()(capacity=4096)}


def _list() -> Mapping[str, Any]:
    return {"c": []}


def _new() -> Mapping[str, Any]:
    return {"c": _cls()}


def _concatenate() -> Mapping[str, Any]:
    import numpy as np

    return {"c": np.concatenate}


MEMORY_POINTS = 10_000_000


def bytes_per_point_appended(quick: bool = False) -> float:
    """tracemalloc's bytes per point after ``MEMORY_POINTS`` appends."""
    import itertools
    import tracemalloc

    cls = _cls()
    tracemalloc.start()
    try:
        a = cls()
        append = a.append
        for _ in itertools.repeat(None, MEMORY_POINTS):
            append(T0, 1.5)
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current / len(a)


def bytes_per_point_numpy(quick: bool = False) -> float:
    """tracemalloc's bytes per point of an int64 and a float64 numpy array."""
    import tracemalloc

    import numpy as np

    tracemalloc.start()
    try:
        ts = np.full(MEMORY_POINTS, T0, dtype=np.int64)
        vs = np.full(MEMORY_POINTS, 1.5)
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del ts, vs
    return current / MEMORY_POINTS


_NUMPY = "two numpy arrays"
_LIST = "list.append(v)"
_CONCAT = "np.concatenate"

register(
    Scenario(
        "TimeSeriesArray.append", GROUP,
        "c.append(t, v): an int ns timestamp and a float into an unbounded array",
        "c.append(t, v)", append_points,
        Impl("admf_perf TimeSeriesArray", _array),
        (Impl(_LIST, _list, stmt="c.append(v)"),),
        # Open: 1.80x in the deterministic mode (3.11; 1.62x on 3.12, 1.73x
        # on 3.13), where list.append is one specialized bytecode (no call)
        # and ours a C method call: our C body is ~55 of the ~370
        # instructions per append (list.append: ~220), the rest the loop and
        # the interpreter's call of a C method.
        gate=Gate(1.50, (_LIST,), "list.append of a float", open="issue 13"),
        var="t, v",
    ),
    Scenario(
        "TimeSeriesArray.append, ring buffer (context)", GROUP,
        "c.append(t, v) into TimeSeriesArray(capacity=4096) (no growth)",
        "c.append(t, v)", append_points,
        Impl("admf_perf TimeSeriesArray", _ring),
        (Impl(_LIST, _list, stmt="c.append(v)"),),
        var="t, v",
    ),
    Scenario(
        "TimeSeriesArray.extend 10M", GROUP,
        "c().extend(t, v): a new array extended with 10M numpy points (1M quick)",
        "c().extend(t, v)", extend_arrays,
        Impl("admf_perf TimeSeriesArray", _new),
        (Impl(_CONCAT, _concatenate, stmt="x = (c((t,)), c((v,)))\ndel x"),),
        gate=Gate(2.00, (_CONCAT,), "np.concatenate of the same arrays"),
        var="t, v",
    ),
    Scenario.measured(
        "TimeSeriesArray memory per point (10M appends)", GROUP,
        "bytes per point (tracemalloc) after 10M c.append(t, v) into an unbounded array",
        "B/point",
        Impl("admf_perf TimeSeriesArray", measure=bytes_per_point_appended),
        (Impl(_NUMPY, measure=bytes_per_point_numpy),),
        gate=Gate(16.5 / 16.0, (_NUMPY,), "two numpy arrays (16.5 B/point)"),
        samples=1,
    ),
)
