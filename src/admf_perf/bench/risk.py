"""Portfolio and risk scenarios (issue 3, section 4): the per-tick calls
``IncrementalPositionTracker.on_price`` and ``CachingRiskCalculator.update``
beside an empty Python method call taking the same arguments, measured in the
same run; gate: <= 2.00x the empty call.

Both calls are eager: the compiled core (``_ext/_risk.pyx``) does all their
arithmetic in the call, nothing is deferred to a read.  Two ungated
scenarios time the call followed by a read on every tick (``total_value``,
``sharpe_ratio``) against the same empty-call floor, to show that reads stay
O(1) too.
"""
from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from typing import Any

from admf_perf.bench.scenario import Gate, Impl, Scenario, register

__all__ = ["EmptyMethods", "equity_walk", "price_ticks"]

GROUP = "risk"

SYMBOLS = 10
TICKS = 1_000
SEED = 20240603


class EmptyMethods:
    """The floor: empty Python methods with the signatures of ours."""

    __slots__ = ()

    def update(self, x: Any) -> None:
        pass

    def on_price(self, symbol: Any, price: Any) -> None:
        pass

    def read(self) -> None:
        pass


@functools.cache
def price_ticks(quick: bool = False) -> list[tuple[str, float]]:
    """``TICKS`` (symbol, price) pairs: ``SYMBOLS`` random walks around 100,
    interleaved at random (deterministic); each symbol is one ``str`` object,
    as the symbols of a data feed usually are."""
    rng = random.Random(SEED)
    names = [f"SYM{i}" for i in range(SYMBOLS)]  # one str object per symbol, as a feed's
    prices = [100.0 + i for i in range(SYMBOLS)]
    ticks = []
    for _ in range(TICKS):
        i = rng.randrange(SYMBOLS)
        prices[i] *= 1.0 + rng.gauss(0.0, 0.001)
        ticks.append((names[i], prices[i]))
    return ticks


@functools.cache
def equity_walk(quick: bool = False) -> list[float]:
    """``TICKS`` equities of a geometric random walk from 1e6 (deterministic)."""
    rng = random.Random(SEED + 1)
    equity, out = 1e6, []
    for _ in range(TICKS):
        equity *= 1.0 + rng.gauss(0.0003, 0.01)
        out.append(equity)
    return out


def _tracker() -> Mapping[str, Any]:
    from admf_perf.incremental.portfolio import IncrementalPositionTracker

    t = IncrementalPositionTracker(1e6)
    for i in range(SYMBOLS):  # open positions, long and short
        t.on_fill(f"SYM{i}", (i + 1) * (1 if i % 2 else -1) * 100.0, 100.0 + i, 1.0)
    return {"c": t}


def _calculator() -> Mapping[str, Any]:
    from admf_perf.incremental.risk import CachingRiskCalculator

    c = CachingRiskCalculator(252, name="bench")
    c.update(1e6)
    return {"c": c}


def _empty() -> Mapping[str, Any]:
    return {"c": EmptyMethods()}


_FLOOR = "empty method c.f(...)"
_GATE = Gate(2.00, (_FLOOR,), "an empty Python method call")

register(
    Scenario(
        "IncrementalPositionTracker.on_price", GROUP,
        "c.on_price(s, p): a tick of one of 10 symbols with open positions",
        "c.on_price(s, p)", price_ticks,
        Impl("admf_perf.IncrementalPositionTracker", _tracker),
        (Impl(_FLOOR, _empty),),
        gate=_GATE, var="s, p",
    ),
    Scenario(
        "CachingRiskCalculator.update", GROUP,
        "c.update(e): one equity of a random walk (eager: Welford, peak and drawdown in the call)",
        "c.update(e)", equity_walk,
        Impl("admf_perf.CachingRiskCalculator", _calculator),
        (Impl(_FLOOR, _empty),),
        gate=_GATE, var="e",
    ),
    Scenario(
        "on_price + total_value (context)", GROUP,
        "c.on_price(s, p) then c.total_value on every tick (a read of a running sum)",
        "c.on_price(s, p)\nc.total_value", price_ticks,
        Impl("admf_perf.IncrementalPositionTracker", _tracker),
        (Impl(_FLOOR, _empty, stmt="c.on_price(s, p)\nc.read()"),),
        var="s, p",
    ),
    Scenario(
        "update + sharpe_ratio (context)", GROUP,
        "c.update(e) then c.sharpe_ratio() on every bar (recomputed from the C state, then cached)",
        "c.update(e)\nc.sharpe_ratio()", equity_walk,
        Impl("admf_perf.CachingRiskCalculator", _calculator),
        (Impl(_FLOOR, _empty, stmt="c.update(e)\nc.read()"),),
        var="e",
    ),
)
