"""``TimeSeriesArray``: int64-nanosecond timestamps and values in two
contiguous buffers, appended one point at a time or in blocks, sliced by time
with a binary search, optionally a ring buffer of fixed capacity.

The class is compiled (``_ext/_timeseries.pyx``); its semantics are written
out in the pure-Python twin, ``_ext/_timeseries_py.py``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _ext

if TYPE_CHECKING:  # the stub describes both implementations
    from .._ext import _timeseries
else:
    _timeseries = _ext.load("_timeseries")

__all__ = ["TimeSeriesArray"]

TimeSeriesArray = _timeseries.TimeSeriesArray
