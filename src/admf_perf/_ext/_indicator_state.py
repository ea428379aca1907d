"""Unpickling of indicators, whichever implementation wrote the pickle.

A pickled indicator is ``rebuild(class name, constructor arguments, state)``
where the state is plain numbers (``STATE_VERSION``, count, outputs, the
kernel's state as a dict, the ring as a list, the source): the compiled
module and its pure-Python twin write and read the same, so a pickle loads
into the implementation this process uses (``admf_perf._ext.load``).

Versions: 3 (this release) keeps a rolling extreme's deque slot by slot,
each value beside its bar index; 2 kept the deque's values, then their
indices. ``upgrade`` turns a version 2 state into a version 3 one, so a
pickle written by the previous release loads with the same contents.
"""
from __future__ import annotations

from typing import Any

__all__ = ["rebuild", "upgrade"]

_DEQUE_KEYS = ("k", "head", "size", "period")


def rebuild(name: str, args: tuple[Any, ...], state: tuple[Any, ...]) -> Any:
    from admf_perf._ext import load

    obj = getattr(load("_indicators"), name)(*args)
    obj.__setstate__(upgrade(state))
    return obj


def _deque_periods(st: Any) -> list[int]:
    """The periods of the deques in a kernel state dict, in its order (a
    deque is a dict of exactly k, head, size and period)."""
    if not isinstance(st, dict):
        return []
    if tuple(st) == _DEQUE_KEYS:
        return [st["period"]]
    return [p for v in st.values() for p in _deque_periods(v)]


def upgrade(state: tuple[Any, ...]) -> tuple[Any, ...]:
    """``state`` in the current version: a version 2 state's deques (first
    in its ring, in its state dict's order, each ``period`` values then
    ``period`` indices) interleaved slot by slot; any other state as it is
    (``__setstate__`` names a version it cannot read)."""
    if not (isinstance(state, tuple) and len(state) == 6 and state[0] == 2):
        return state
    _, count, out, st, ring, source = state
    ring = list(ring)
    base = 0
    for n in _deque_periods(st):
        if not (isinstance(n, int) and 0 < n and base + 2 * n <= len(ring)):
            return state                # not a state this release wrote: __setstate__ refuses it
        vals, idx = ring[base:base + n], ring[base + n:base + 2 * n]
        ring[base:base + 2 * n] = [x for pair in zip(vals, idx, strict=True) for x in pair]
        base += 2 * n
    return (3, count, out, st, ring, source)
