"""Pure-Python twin of ``_strategy.pyx`` (the readable specification).

The two hot paths of :mod:`admf_perf.research.strategy`, the
backtesting.py-compatible engine:

- :func:`array_iter`: ``iter()`` of a revealed 2-D array (``upper, lower =
  self.bb``) from a list of its rows, with no IndexError to end it;
- :func:`crossover`: backtesting.py's ``backtesting.lib.crossover``, which a
  strategy calls a few times per bar;
- :func:`run_bars`: the bar loop of ``Backtest.run``: reveal one more bar of
  the data and of every indicator, let the broker fill the pending orders and
  record the equity, call the strategy's ``next()``.

:class:`PositionCore` is ``Strategy.position``'s base: its truth value and
its numbers, read from the broker (compiled: no Python frame for ``if not
self.position``).

``set_array_types(*types)`` names the ndarray subclasses ``crossover`` may
index directly (the engine's revealed arrays); any other argument goes
through backtesting.py's conversions first.
"""
from __future__ import annotations

from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ROWS_MAX", "PositionCore", "array_iter", "crossover", "run_bars", "set_array_types"]

_PLAIN: frozenset[type] = frozenset((np.ndarray,))


def set_array_types(*types: type) -> None:
    """``crossover`` indexes ndarrays of these types (and plain ndarrays) as
    they are (at most three types)."""
    global _PLAIN
    if len(types) > 3 or not all(isinstance(t, type) and issubclass(t, np.ndarray) for t in types):
        raise TypeError("set_array_types: at most three ndarray subclasses")
    _PLAIN = frozenset((np.ndarray, *types))


#: array_iter: at most this many rows are made at once (read-only: the
#: compiled core holds its own copy).
ROWS_MAX = 16


def array_iter(arr: Any) -> Any:
    """``iter(arr)`` for the engine's arrays (``_Array.__iter__``): an array
    of 2 dimensions or more and at most ``ROWS_MAX`` rows is iterated over a
    list of its rows, made as ndarray's own iteration makes them (the same
    views, of the same type). ndarray's iterator ends on an IndexError, which
    costs about half a microsecond: ``upper, lower = self.bb``, every bar.
    Anything else: ndarray's iterator (the items of a 1-D array are taken as
    it goes, as before)."""
    if not isinstance(arr, np.ndarray) or arr.ndim < 2 or arr.shape[0] > ROWS_MAX:
        return np.ndarray.__iter__(arr)
    return iter([arr[i] for i in range(arr.shape[0])])


def crossover(series1: Any, series2: Any) -> bool:
    """True if ``series1`` just crossed over (above) ``series2``: below it on
    the previous bar and above it on this one (backtesting.py's
    ``backtesting.lib.crossover``: a number is a constant series, a pandas
    Series its values, fewer than two values never cross)."""
    if type(series1) not in _PLAIN or type(series2) not in _PLAIN:
        series1 = (series1.values if isinstance(series1, pd.Series) else
                   (series1, series1) if isinstance(series1, Number) else series1)
        series2 = (series2.values if isinstance(series2, pd.Series) else
                   (series2, series2) if isinstance(series2, Number) else series2)
    try:
        return bool(series1[-2] < series2[-2] and series1[-1] > series2[-1])
    except IndexError:
        return False


def _cell(owner: Any, name: str) -> list[Any]:
    """``owner.name``, a one-item list the bar loop writes each bar into."""
    cell = getattr(owner, name)
    if type(cell) is not list or len(cell) != 1:
        raise TypeError(f"run_bars: {name} must be a one-item list")
    return cell


def run_bars(strategy: Any, data: Any, broker: Any, flat: list[tuple[str, Any]],
             stacked: list[tuple[str, Any]], start: int, n: int, equity: Any,
             closes: list[float]) -> bool:
    """Bars ``start`` to ``n - 1``: for each, reveal it (``data._shown[0]``, the
    indicators in ``flat`` (1-D) and ``stacked`` (2-D) written into the
    strategy's attributes as views up to it), fill the broker's pending
    orders, record ``equity[i]`` (cash plus the position at the close) and,
    while it is above zero, call ``strategy.next()``.  False when the money ran
    out (the broker has closed everything, as backtesting.py), else True."""
    cache = data._cache
    shown, bar = _cell(data, "_shown"), _cell(broker, "_bar")
    orders = broker.orders
    process_orders = broker._process_orders
    strategy_next = strategy.next
    for i in range(start, n):
        stop = i + 1
        shown[0] = stop
        if cache:
            cache.clear()
        for attr, ind in flat:
            setattr(strategy, attr, ind[:stop])
        for attr, ind in stacked:
            setattr(strategy, attr, ind[..., :stop])
        bar[0] = i
        if orders:
            process_orders()
        value = broker._cash + (closes[i] * broker._pos_size - broker._pos_cost)
        equity[i] = value
        if value <= 0:
            broker._out_of_money(i, equity)
            return False
        strategy_next()
    return True


class PositionCore:
    """The open position's truth value and numbers, read from its broker
    (``_pos_size``, ``_pos_cost``, ``_pos_value``, the close of bar
    ``_bar[0]``): the base of ``Strategy.position``'s class."""

    __slots__ = ("_broker",)

    def __init__(self, broker: Any) -> None:
        self._broker = broker

    def __bool__(self) -> bool:
        return self._broker._pos_size != 0

    @property
    def size(self) -> Any:
        """Units held: positive long, negative short, 0 flat."""
        return self._broker._pos_size

    @property
    def pl(self) -> Any:
        """Unrealized profit or loss in cash, at the current close."""
        b = self._broker
        return b._close_list[b._bar[0]] * b._pos_size - b._pos_cost

    @property
    def pl_pct(self) -> Any:
        """``pl`` in percent of what the open trades cost."""
        b = self._broker
        total = b._pos_value
        return ((b._close_list[b._bar[0]] * b._pos_size - b._pos_cost) / total) * 100 if total else 0

    @property
    def is_long(self) -> bool:
        return self._broker._pos_size > 0

    @property
    def is_short(self) -> bool:
        return self._broker._pos_size < 0
