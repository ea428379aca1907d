"""Task statistics: per task name, counts, failures, crashes, retries and durations.

Durations are measured around ``fn`` where it ran (thread, worker process
or Dask worker) and travel back with the result; a crashed task has none.
Every update holds a lock of its own (a leaf: nothing else is called while
it is held).
"""
from __future__ import annotations

import threading


class _Stats:
    """The record of one task name."""

    __slots__ = ("count", "failures", "crashes", "retries", "timed", "total", "min", "max")

    def __init__(self) -> None:
        self.count = self.failures = self.crashes = self.retries = self.timed = 0
        self.total = 0.0
        self.min = float("inf")
        self.max = 0.0

    def as_dict(self) -> dict[str, float]:
        timed = self.timed
        return {"count": self.count, "failures": self.failures, "crashes": self.crashes,
                "retries": self.retries, "total": self.total,
                "min": self.min if timed else 0.0, "max": self.max,
                "mean": self.total / timed if timed else 0.0}


class _TaskStats:
    """The records of every task name (one per manager)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats: dict[str, _Stats] = {}

    def record(self, name: str, ok: bool, seconds: float | None, crashed: bool = False,
               retried: bool = False) -> None:
        """A finished task (``ok``: it returned; ``crashed``: its worker died),
        or with ``retried`` a task run again after a crash (nothing else counted)."""
        with self._lock:
            st = self._stats.get(name)
            if st is None:
                st = self._stats[name] = _Stats()
            if retried:
                st.retries += 1
                return
            st.count += 1
            if not ok:
                st.failures += 1
            if crashed:
                st.crashes += 1
            if seconds is not None:
                st.timed += 1
                st.total += seconds
                st.min = min(st.min, seconds)
                st.max = max(st.max, seconds)

    def as_dict(self) -> dict[str, dict[str, float]]:
        """``task_stats()``: per task name, :meth:`_Stats.as_dict`."""
        with self._lock:
            return {name: st.as_dict() for name, st in self._stats.items()}

    def reset(self) -> None:
        with self._lock:
            self._stats.clear()
