"""Context for the tables: what the cheapest possible call and lookup cost
in the same loop (no gate)."""
from __future__ import annotations

import random
from collections.abc import Mapping
from functools import cache
from typing import Any

from admf_perf.bench.scenario import FLOOR_GROUP, Impl, Scenario, register

__all__ = ["hit_keys"]


@cache
def hit_keys(quick: bool = False, distinct: int = 100, ops: int = 1_000, seed: int = 2) -> list[int]:
    """``ops`` ints drawn from ``distinct`` values, shuffled (deterministic)."""
    keys = [i % distinct for i in range(ops)]
    random.Random(seed).shuffle(keys)
    return keys


def _empty(x: object) -> None:
    pass


def _empty_call() -> Mapping[str, Any]:
    return {"f": _empty}


def _dict_hit() -> Mapping[str, Any]:
    return {"d": {k: k for k in hit_keys()}}


register(
    Scenario(
        name="floors",
        group=FLOOR_GROUP,
        op="f(k) / d.get(k) over 100 int keys (hits), the loop of the scenarios",
        stmt="f(k)",
        seq=hit_keys,
        ours=None,
        anchors=(
            Impl("empty call f(k)", _empty_call),
            Impl("dict.get(k) hit", _dict_hit, stmt="d.get(k)"),
        ),
    ),
)
