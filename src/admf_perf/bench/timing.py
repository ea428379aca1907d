"""Interleaved minimum-time measurement of a scenario's implementations.

For each implementation: one call calibrates ``number`` (loop calls per sample,
so a sample lasts about ``Settings.sample_ns``); then the implementations take
turns, round-robin, one sample each per round, the starting implementation
rotating every round, so machine noise hits all of them alike.  A sample is
``number`` calls timed with ``time.perf_counter_ns``, garbage collection off
(as timeit).  The estimate of each implementation is its minimum per-op time
over all samples: noise only ever adds time.
"""
from __future__ import annotations

import gc
import itertools
import math
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from admf_perf.bench.scenario import Timed

__all__ = ["FULL", "QUICK", "Measurement", "Settings", "measure"]


@dataclass(frozen=True)
class Settings:
    """How long and how often to sample.

    ``repeats`` (rounds) is ``budget_ns`` divided by the time of one round,
    clamped to ``[min_repeats, max_repeats]``; where ``min_repeats`` rounds
    would last longer than ``long_ns`` (a round of seconds: a grid search
    beside backtesting.py's), as many rounds as fit in ``long_ns``, and never
    fewer than ``long_repeats``.  A sample that long is not moved by the
    scheduler's millisecond noise, and its minimum over three is as stable as
    a short one's over seven: this keeps the six grid-search scenarios from
    taking half of the quick run (docs/bench.md, "Sampling").
    """

    quick: bool
    sample_ns: int
    budget_ns: int
    min_repeats: int
    max_repeats: int
    long_ns: int
    long_repeats: int = 3

    def repeats(self, round_ns: int) -> int:
        """Rounds of a scenario whose round (one sample of each
        implementation) lasts ``round_ns``."""
        least = self.min_repeats
        if round_ns * least > self.long_ns:
            least = max(self.long_repeats, self.long_ns // round_ns)
        return int(min(self.max_repeats, max(least, self.budget_ns // round_ns)))


FULL = Settings(quick=False, sample_ns=2_000_000, budget_ns=3_000_000_000, min_repeats=9, max_repeats=200,
                long_ns=30_000_000_000)
QUICK = Settings(quick=True, sample_ns=1_000_000, budget_ns=1_000_000_000, min_repeats=7, max_repeats=80,
                 long_ns=10_000_000_000)


@dataclass
class Measurement:
    """Per-op times (ns) of every sample of one implementation."""

    ops: int
    number: int
    samples: list[float] = field(default_factory=list)

    @property
    def ns_per_op(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def merge(self, other: Measurement) -> None:
        """Add another run's samples (a retry extends the sample)."""
        self.samples.extend(other.samples)


@contextmanager
def _gc_off() -> Iterator[None]:
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _sample(fn: Callable[[], object], number: int) -> int:
    """Nanoseconds for ``number`` calls of ``fn``."""
    calls = itertools.repeat(None, number)
    t0 = time.perf_counter_ns()
    for _ in calls:
        fn()
    return time.perf_counter_ns() - t0


def measure(timed: Mapping[str, Timed], settings: Settings) -> dict[str, Measurement]:
    """Measure every implementation of one scenario, interleaved."""
    if not timed:
        return {}
    names = list(timed)
    with _gc_off():
        number: dict[str, int] = {}
        round_ns = 0
        for name in names:
            one = max(_sample(timed[name].fn, 1), 1)
            number[name] = max(1, math.ceil(settings.sample_ns / one))
            round_ns += number[name] * one
        repeats = settings.repeats(round_ns)
        out = {n: Measurement(ops=timed[n].ops, number=number[n]) for n in names}
        for r in range(repeats):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                t = timed[name]
                out[name].samples.append(_sample(t.fn, number[name]) / (number[name] * t.ops))
    return out
