"""Pure-Python twin of ``_timeseries.pyx`` (the readable specification).

``TimeSeriesArray(capacity=None, dtype=float64)``: int64 nanosecond timestamps
and values of one numeric numpy dtype, in two contiguous buffers.

Semantics shared by both implementations:

* Timestamps: ``int`` nanoseconds since the epoch (the fast path), or
  ``numpy.datetime64``, ``pandas.Timestamp``, ``datetime.datetime`` (converted
  to ns; naive means UTC wall time, as pandas does).  ``NaT`` and other types
  are refused (``ValueError``/``TypeError`` naming ``ts``).
* Order: a timestamp older than the last one raises ``ValueError``; equal
  timestamps are allowed (kept in arrival order).
* Values: a float dtype takes any real number; an integer dtype takes only
  integers (``operator.index``), never a silently truncated float.
* Growth: amortized O(1) by geometric growth (doubling, then 1/64 steps past
  4M points, so a large array wastes at most ~1.6%: past that size realloc
  moves pages (mremap) instead of copying); ``extend`` into an array
  without room allocates exactly what it needs.
* Views: ``timestamps``/``values`` are zero-copy, read-only numpy views.  A
  view is a snapshot: the buffer it points at is never freed, moved or
  rewritten while the view exists (growth or ring compaction then copies to a
  new buffer instead of reallocating in place).
* Ring buffer (``capacity=n``): only the newest ``n`` points are kept.  The
  buffers hold ``2n`` slots; the points are always the contiguous slice
  ``[start, end)`` in time order, and when ``end`` hits the end of the buffers
  the newest points move to the front (amortized O(1)), so the views are
  zero-copy in time order, never wrapped.
* ``between(start, end)``: pandas' label slicing convention, ``s.loc[start:end]``
  (both ends inclusive; ``None`` is open), as two read-only views.
* ``asof(ts)``: the value of the last point at or before ``ts`` (the last of
  equal timestamps), ``nan`` when there is none, as ``Series.asof``.
"""
from __future__ import annotations

import datetime as _dt
import operator
from typing import Any

import numpy as np

from admf_perf._ext._types import twin_locked

__all__ = ["TimeSeriesArray"]

_INT64 = np.dtype(np.int64)
_BIG = 1 << 22
_MIN_CAP = 16


def _grow(cap: int, needed: int) -> int:
    new = cap * 2 if cap < _BIG else cap + cap // 64
    return max(new, needed, _MIN_CAP)


def _to_ns(ts: Any, name: str = "ts") -> int:
    """``ts`` as int64 nanoseconds since the epoch."""
    if type(ts) is int:
        if not -(1 << 63) <= ts < (1 << 63):
            raise OverflowError(f"{name} out of the int64 nanosecond range: {ts}")
        return ts
    if isinstance(ts, bool):
        raise TypeError(f"{name} must be an int (ns), numpy.datetime64, pandas.Timestamp "
                        "or datetime, got bool")
    if isinstance(ts, np.datetime64):
        if np.isnat(ts):
            raise ValueError(f"{name} must not be NaT")
        return int(ts.astype("datetime64[ns]").astype(np.int64))
    if isinstance(ts, (int, np.integer)):
        return _to_ns(int(ts), name)
    if isinstance(ts, _dt.datetime):  # pandas.Timestamp is a datetime subclass
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        t = pd.Timestamp(ts)
        if t is pd.NaT:
            raise ValueError(f"{name} must not be NaT")
        return int(t.as_unit("ns")._value)
    if ts is not None and type(ts).__name__ == "NaTType":
        raise ValueError(f"{name} must not be NaT")
    raise TypeError(f"{name} must be an int (ns), numpy.datetime64, pandas.Timestamp "
                    f"or datetime, got {type(ts).__name__}")


def _check_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a numeric numpy dtype, got {dtype!r}") from None
    if dt.kind not in "iuf":
        raise TypeError(f"dtype must be a numeric numpy dtype (int, uint or float), got {dt}")
    return dt


def _check_capacity(capacity: Any) -> int:
    if capacity is None:
        return 0
    if isinstance(capacity, bool):
        raise TypeError("capacity must be None or a positive int, got bool")
    try:
        c = operator.index(capacity)
    except TypeError:
        raise TypeError(f"capacity must be None or a positive int, "
                        f"got {type(capacity).__name__}") from None
    if c <= 0:
        raise ValueError(f"capacity must be None or a positive int, got {c}")
    return c


def _ts_array(timestamps: Any) -> np.ndarray:
    arr = np.asarray(timestamps)
    if arr.ndim != 1:
        raise ValueError(f"timestamps must be one-dimensional, got {arr.ndim} dimensions")
    if arr.dtype.kind == "M":
        arr = arr.astype("datetime64[ns]")
        if np.isnat(arr).any():
            raise ValueError("timestamps must not contain NaT")
        return arr.view(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "O" or arr.size == 0:
        return np.array([_to_ns(t, "timestamps") for t in arr], dtype=np.int64)
    raise TypeError(f"timestamps must be datetime64 or integer (ns), got dtype {arr.dtype}")


def _value_array(values: Any, dtype: np.dtype, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got {arr.ndim} dimensions")
    if len(arr) != n:
        raise ValueError(f"values must have the length of timestamps ({n}), got {len(arr)}")
    if arr.size == 0:
        return arr.astype(dtype)
    if arr.dtype.kind not in "biuf" or (dtype.kind in "iu" and arr.dtype.kind == "f"):
        raise TypeError(f"values of dtype {arr.dtype} cannot be stored as {dtype}")
    return arr.astype(dtype, copy=False)


def _check_order(ts: np.ndarray, last: int | None) -> None:
    if len(ts) == 0:
        return
    if last is not None and ts[0] < last:
        raise ValueError("timestamps must not be older than the last timestamp "
                         f"({int(ts[0])} < {last})")
    if len(ts) > 1 and (ts[1:] < ts[:-1]).any():
        raise ValueError("timestamps must be sorted (non-decreasing)")


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class TimeSeriesArray:
    """Timestamps (int64 ns) and values in two contiguous buffers; see the
    module docstring for the semantics."""

    __slots__ = ("_ts", "_vals", "_start", "_end", "_capacity", "_dtype")

    def __init__(self, capacity: int | None = None, dtype: Any = np.float64) -> None:
        self._capacity = _check_capacity(capacity)
        self._dtype = _check_dtype(dtype)
        cap = 2 * self._capacity if self._capacity else 0
        self._ts = np.empty(cap, dtype=np.int64)
        self._vals = np.empty(cap, dtype=self._dtype)
        self._start = 0
        self._end = 0

    # -- growth --------------------------------------------------------------
    def _make_room(self, k: int) -> None:
        """Ensure ``end + k <= len(buffers)`` (k <= capacity for a ring)."""
        n = self._end - self._start
        if self._capacity:
            keep = min(n, self._capacity)
            new_cap = 2 * self._capacity
        else:
            keep = n
            needed = n + k
            new_cap = needed if n == 0 else _grow(len(self._ts), needed)
        # Always fresh buffers: an existing view keeps the old ones.
        ts = np.empty(new_cap, dtype=np.int64)
        vals = np.empty(new_cap, dtype=self._dtype)
        ts[:keep] = self._ts[self._end - keep:self._end]
        vals[:keep] = self._vals[self._end - keep:self._end]
        self._ts, self._vals = ts, vals
        self._start, self._end = 0, keep

    def _last(self) -> int | None:
        return int(self._ts[self._end - 1]) if self._end > self._start else None

    # -- writes --------------------------------------------------------------
    def _check_order(self, t: int) -> None:
        """ValueError if ``t`` is older than the last point."""
        if self._end > self._start and t < self._ts[self._end - 1]:
            raise ValueError("ts must not be older than the last timestamp "
                             f"({t} < {int(self._ts[self._end - 1])})")

    @twin_locked
    def append(self, ts: Any, value: Any, /) -> None:
        """Append one point; ``ts`` must not be older than the last one."""
        t = _to_ns(ts)
        self._check_order(t)
        if self._dtype.kind in "iu":
            if isinstance(value, (float, np.floating)):
                raise TypeError(f"value must be an int for dtype {self._dtype}, got float")
            try:
                v: Any = operator.index(value)
            except TypeError:
                raise TypeError(f"value must be an int for dtype {self._dtype}, "
                                f"got {type(value).__name__}") from None
            if not np.iinfo(self._dtype).min <= v <= np.iinfo(self._dtype).max:
                raise OverflowError(f"value {v} out of range for dtype {self._dtype}")
        else:
            if isinstance(value, (str, bytes)):
                raise TypeError(f"value must be a real number, got {type(value).__name__}")
            try:
                v = float(value)
            except TypeError:
                raise TypeError(f"value must be a real number, "
                                f"got {type(value).__name__}") from None
        self._check_order(t)     # __index__/__float__ may have appended to this array
        if self._end == len(self._ts):
            self._make_room(1)
        self._ts[self._end] = t
        self._vals[self._end] = v
        self._end += 1
        if self._capacity and self._end - self._start > self._capacity:
            self._start += 1

    @twin_locked
    def extend(self, timestamps: Any, values: Any) -> None:
        """Append arrays of points (numpy arrays: one copy of each, no loop)."""
        ts = _ts_array(timestamps)
        vals = _value_array(values, self._dtype, len(ts))
        _check_order(ts, self._last())
        k = len(ts)
        if k == 0:
            return
        if self._capacity and k >= self._capacity:
            ts, vals = ts[k - self._capacity:], vals[k - self._capacity:]
            k = self._capacity
            self._start = self._end  # nothing older survives
        if self._end + k > len(self._ts):
            self._make_room(k)
        self._ts[self._end:self._end + k] = ts
        self._vals[self._end:self._end + k] = vals
        self._end += k
        if self._capacity and self._end - self._start > self._capacity:
            self._start = self._end - self._capacity

    @twin_locked
    def clear(self) -> None:
        """Remove every point (existing views keep theirs)."""
        self._start = self._end = 0
        cap = 2 * self._capacity if self._capacity else 0
        self._ts = np.empty(cap, dtype=np.int64)
        self._vals = np.empty(cap, dtype=self._dtype)

    # -- reads ---------------------------------------------------------------
    def __len__(self) -> int:
        return self._end - self._start

    @property
    def capacity(self) -> int | None:
        return self._capacity or None

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def timestamps(self) -> np.ndarray:
        """Read-only zero-copy int64 ns view, in time order."""
        return _readonly(self._ts[self._start:self._end])

    @property
    def values(self) -> np.ndarray:
        """Read-only zero-copy view of the values, in time order."""
        return _readonly(self._vals[self._start:self._end])

    def between(self, start: Any = None, end: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``(timestamps, values)`` views of the points with
        ``start <= t <= end`` (pandas' ``.loc[start:end]``; ``None``: open)."""
        ts = self._ts[self._start:self._end]
        lo = 0 if start is None else int(np.searchsorted(ts, _to_ns(start, "start"), "left"))
        hi = len(ts) if end is None else int(np.searchsorted(ts, _to_ns(end, "end"), "right"))
        hi = max(lo, hi)
        return (_readonly(ts[lo:hi]), _readonly(self._vals[self._start + lo:self._start + hi]))

    def asof(self, ts: Any) -> Any:
        """The value of the last point at or before ``ts``; ``nan`` if none."""
        t = _to_ns(ts)
        i = int(np.searchsorted(self._ts[self._start:self._end], t, "right"))
        if i == 0:
            return float("nan")
        return self._vals[self._start + i - 1].item()

    @twin_locked
    def to_pandas(self, name: Any = None) -> Any:
        """A ``pandas.Series`` (copied) with a ``datetime64[ns]`` DatetimeIndex."""
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        index = pd.DatetimeIndex(self.timestamps.view("datetime64[ns]").copy())
        return pd.Series(self.values.copy(), index=index, name=name)

    def __repr__(self) -> str:
        cap = f", capacity={self._capacity}" if self._capacity else ""
        return f"TimeSeriesArray(len={len(self)}, dtype={self._dtype}{cap})"

    # -- pickling ------------------------------------------------------------
    @twin_locked
    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.capacity, self._dtype.str),
                (self.timestamps.copy(), self.values.copy()))

    @twin_locked
    def __setstate__(self, state: tuple[np.ndarray, np.ndarray]) -> None:
        self.extend(state[0], state[1])
