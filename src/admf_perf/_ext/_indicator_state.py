"""Unpickling of indicators, whichever implementation wrote the pickle.

A pickled indicator is ``rebuild(class name, constructor arguments, state)``
where the state is plain numbers (``STATE_VERSION``, count, outputs, the
kernel's state as a dict, the ring as a list, the source): the compiled
module and its pure-Python twin write and read the same, so a pickle loads
into the implementation this process uses (``admf_perf._ext.load``).

Versions: 4 (this release) keeps Stochastic's and StochRSI's rolling
extremes of at most ``SHORT_WINDOW`` values as their windows: each value
twice, in slots ``j`` and ``j + n`` of the deque's ring (``j``: its bar
index mod n), ``head`` the next slot and ``size`` 0; 3 kept every extreme as
a monotonic deque, slot by slot, each value beside its bar index; 2 kept the
deque's values, then their indices. ``upgrade`` turns a version 2 or 3 state
into a version 4 one, so a pickle written by an earlier release loads as the
same indicator: its outputs from there on are the same bits.  (A deque has
dropped the values that can no longer be an extreme: each such bar's slot
gets the value of the next bar the deque kept, which is at least as extreme
and newer.)
"""
from __future__ import annotations

import copy
import itertools
from typing import Any

__all__ = ["check_state", "rebuild", "upgrade"]

_DEQUE_KEYS = ("k", "head", "size", "period")
SHORT_WINDOW = 8                # the kernels' SHORT_WINDOW: a window this short is kept as itself
_WINDOWS = ("Stochastic", "StochRSI")  # the classes that keep a short extreme as its window


#: the integer fields of the kernel states: parameters (the fresh state's
#: values, which the ring's layout follows), ring slots (below their dict's
#: window), lengths (up to it), flags, the resum counter, and counters
_PARAMS = frozenset({"period", "lag", "lookback", "pct", "p1", "p2", "p3"})
_SLOTS = frozenset({"pos", "head"})
_COUNT_MAX = 2 ** 53            # bar counts: exact as doubles (a deque's bar indices)
_RESUM = 256                    # the kernels' RESUM: a rolling sum's bars between exact re-sums


def check_state(fresh: Any, st: Any, ring: Any) -> None:
    """Refuse a kernel state dict and ring that ``__setstate__`` of an
    indicator like ``fresh`` (its class and arguments, freshly constructed)
    could not use safely: other fields than fresh's, a parameter other than
    its, a ring slot or length outside its window, a negative count, a deque
    whose bar indices are not increasing bars of its window (it would grow
    past its slots: the expiry of its front keeps it within them).  A
    ``ValueError`` (``TypeError`` for a field of the wrong type) names the
    field; a corrupted pickle is refused before anything changes, instead of
    steps reading and writing outside the ring."""
    name = type(fresh).__name__
    _check(name, fresh._state_dict(), st, "")
    base = 0
    for path, d in _deque_paths(st):
        n, k, head, size = d["period"], d["k"], d["head"], d["size"]
        if _is_window(name, n):                         # a window: head its next slot
            if size != 0:
                raise ValueError(f"{name}: pickled state: {path}size must be 0 (a window), got {size}")
        else:
            if size > min(k, n):
                raise ValueError(f"{name}: pickled state: {path}size must be in [0, {min(k, n)}], got {size}")
            if _kept(d, ring[base:base + 2 * n]) is None:
                bars = [ring[base + 2 * ((head + i) % n) + 1] for i in range(size)]
                raise ValueError(f"{name}: pickled state: the deque {path.rstrip('.') or 'of the state'}: "
                                 f"its bar indices must increase within [{k - n}, {k - 1}], got {bars}")
        base += 2 * n


def _is_window(name: str, n: int) -> bool:
    """Whether a rolling extreme of n values of ``name`` is kept as its window."""
    return n <= SHORT_WINDOW and name in _WINDOWS


def _kept(d: dict, pairs: list) -> dict[int, Any] | None:
    """A deque's kept values by bar index (``pairs``: its ring's 2n numbers,
    each value beside its bar index), or None unless it holds at most
    min(k, n) values whose bar indices are integers increasing within the
    window, k - n .. k - 1 (a deque that keeps them so stays within its
    slots: its front leaves the window)."""
    k, head, size, n = d["k"], d["head"], d["size"], d["period"]
    if not all(isinstance(v, int) for v in (k, head, size)) or not (0 <= head < n and 0 <= size <= min(k, n)):
        return None
    bars = [pairs[2 * ((head + i) % n) + 1] for i in range(size)]
    if not all(isinstance(b, (int, float)) and k - n <= b <= k - 1 and b == int(b) for b in bars) \
            or any(a >= b for a, b in itertools.pairwise(bars)):
        return None
    return {int(b): pairs[2 * ((head + i) % n)] for i, b in enumerate(bars)}


def _deque_paths(st: Any, path: str = "") -> list[tuple[str, dict]]:
    """The deques of a kernel state dict in its order, each with its path
    ("hi.", "" for the state itself)."""
    if not isinstance(st, dict):
        return []
    if tuple(st) == _DEQUE_KEYS:
        return [(path, st)]
    return [d for key, v in st.items() for d in _deque_paths(v, f"{path}{key}.")]


def _check(name: str, fresh: dict, st: Any, where: str) -> None:
    if not isinstance(st, dict) or list(st) != list(fresh):
        raise ValueError(f"{name}: pickled state: {where.rstrip('.') or 'the kernel state'} must have "
                         f"the fields {list(fresh)}, got {list(st) if isinstance(st, dict) else type(st).__name__}")
    window = fresh["period"] if "period" in fresh else max((fresh[p] for p in ("p1", "p2", "p3") if p in fresh),
                                                           default=0)
    for key, want in fresh.items():
        v, field = st[key], where + key
        if isinstance(want, dict):
            _check(name, want, v, field + ".")
            continue
        if not isinstance(want, int):
            continue                    # a float: any value is safe (converted by __setstate__)
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{name}: pickled state: {field} must be an int, got {type(v).__name__}")
        if key in _PARAMS:
            if v != want:
                raise ValueError(f"{name}: pickled state: {field} is {v}, this indicator's is {want}")
            continue
        if key in _SLOTS:
            hi = window - 1
        elif key == "size":
            hi = window
        elif key == "is_long":
            hi = 1
        elif key == "since":
            hi = _RESUM - 1
        else:
            hi = _COUNT_MAX
        if not 0 <= v <= hi:
            raise ValueError(f"{name}: pickled state: {field} must be in [0, {hi}], got {v}")


def rebuild(name: str, args: tuple[Any, ...], state: tuple[Any, ...]) -> Any:
    from admf_perf._ext import load

    obj = getattr(load("_indicators"), name)(*args)
    obj.__setstate__(upgrade(state, name))
    return obj


def _deques(st: Any) -> list[dict]:
    """The deques of a kernel state dict, in its order."""
    return [d for _, d in _deque_paths(st)]


def _as_window(d: dict, pairs: list, n: int) -> list | None:
    """A version 3 deque (its ring's 2n numbers) as the window version 4
    keeps (the same 2n numbers), or None when it is not a deque that
    release wrote.  ``d`` is updated: head the next slot, size 0."""
    kept = _kept(d, pairs)
    if kept is None:
        return None
    k = d["k"]
    window = [0.0] * (2 * n)            # slots of bars not seen yet: overwritten before they count
    value = None
    for bar in range(k - 1, max(k - n, 0) - 1, -1):
        value = kept.get(bar, value)    # a dropped bar: the next bar kept (the back is bar k - 1)
        if value is None:
            return None
        window[bar % n] = window[bar % n + n] = value
    d["head"], d["size"] = k % n, 0
    return window


def upgrade(state: tuple[Any, ...], name: str) -> tuple[Any, ...]:
    """``state`` of a ``name`` in the current version: a version 2 state's
    deques (first in its ring, in its state dict's order, each ``period``
    values then ``period`` indices) interleaved slot by slot (version 3);
    a version 3 state's short deques as their windows; any other state as it
    is (``__setstate__`` names a version it cannot read)."""
    if not (isinstance(state, tuple) and len(state) == 6 and state[0] in (2, 3)):
        return state
    version, count, out, st, ring, source = state
    ring = list(ring)
    base = 0
    if version == 2:
        for n in (d["period"] for d in _deques(st)):
            if not (isinstance(n, int) and 0 < n and base + 2 * n <= len(ring)):
                return state            # not a state this release wrote: __setstate__ refuses it
            vals, idx = ring[base:base + n], ring[base + n:base + 2 * n]
            ring[base:base + 2 * n] = [x for pair in zip(vals, idx, strict=True) for x in pair]
            base += 2 * n
    st = copy.deepcopy(st)
    base = 0
    for d in _deques(st):
        n = d["period"]
        if not (isinstance(n, int) and 0 < n and base + 2 * n <= len(ring)):
            return state
        if _is_window(name, n):
            window = _as_window(d, ring[base:base + 2 * n], n)
            if window is None:
                return state
            ring[base:base + 2 * n] = window
        base += 2 * n
    return (4, count, out, st, ring, source)
