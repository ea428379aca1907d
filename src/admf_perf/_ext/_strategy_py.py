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

import warnings
from math import copysign
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ROWS_MAX", "BrokerCore", "Column", "CommissionCore", "OrderCore", "PositionCore", "TradeCore",
           "array_iter", "crossover", "data_len", "run_bars", "set_array_types", "strategy_closed_trades",
           "strategy_equity", "strategy_orders", "strategy_trades"]

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


# -- what a strategy reads every bar: installed as its classes' methods -------
# (``Strategy.equity = property(strategy_equity)``, ``_Data.Close =
# Column("Close")``, ``_Data.__len__ = data_len``): compiled, no Python frame.


class Column:
    """``_Data.<name>`` (a data descriptor, read-only as a property): the
    column revealed so far, from the bar's cache (``data._cache``), else made
    by ``data._get``."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    name = property(lambda self: self._name, doc="The column's name.")

    def __get__(self, data: Any, owner: Any = None) -> Any:
        if data is None:
            return self
        arr = data._cache.get(self._name)
        return data._get(self._name) if arr is None else arr

    def __set__(self, data: Any, value: Any) -> None:
        raise AttributeError(f"column {self._name!r} of the data is read-only")

    def __delete__(self, data: Any) -> None:
        raise AttributeError(f"column {self._name!r} of the data is read-only")


def data_len(data: Any) -> int:
    """``len(self.data)``: the bars revealed."""
    return data._shown[0]


def strategy_equity(strategy: Any) -> Any:
    """``Strategy.equity``: cash plus the open position marked at the current close."""
    b = strategy._broker
    return b._cash + (b._close_list[b._bar[0]] * b._pos_size - b._pos_cost)


def strategy_orders(strategy: Any) -> tuple[Any, ...]:
    """``Strategy.orders``: the orders waiting for the next fill."""
    return tuple(strategy._broker.orders)


def strategy_trades(strategy: Any) -> tuple[Any, ...]:
    """``Strategy.trades``: the open trades."""
    return tuple(strategy._broker.trades)


def strategy_closed_trades(strategy: Any) -> tuple[Any, ...]:
    """``Strategy.closed_trades``: the closed trades."""
    return tuple(strategy._broker.closed_trades)


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

    def close(self, portion: float = 1.0) -> None:
        """Close ``portion`` of every open trade at the next fill."""
        for trade in self._broker.trades:
            trade.close(portion)


# -- the broker: backtesting.py's, market orders only --------------------------
# ``admf_perf.research._broker`` builds the public classes on these cores
# (``Order(_OrderMethods, OrderCore)``, ...): the cores hold the fields and
# what the broker runs for every order; the methods classes, what a strategy
# reads now and then (properties, repr).


class _BadArgument(ValueError, AssertionError):
    """A bad argument: a ValueError naming it, and an AssertionError, as
    backtesting.py raises (it asserts)."""


#: warnings.warn's stacklevel for the broker's cancelled orders: the line
#: that called ``Backtest.run`` (above the twin's frames: _process_orders,
#: then run_bars or BrokerCore.next, Backtest._run, Backtest.run).
_STACKLEVEL = 5


def _order(o: Any) -> Any:
    """An item of the broker's orders, checked to be one (a strategy can put
    anything in the list: a clear error, never a wrong fill)."""
    if not isinstance(o, OrderCore):
        raise TypeError(f"the broker's orders hold a {type(o).__name__}, not an order")
    return o


def _trade(o: Any) -> Any:
    """An item of the broker's trades, checked to be one."""
    if not isinstance(o, TradeCore):
        raise TypeError(f"the broker's trades hold a {type(o).__name__}, not a trade")
    return o


class CommissionCore:
    """``fixed + |size| * price * relative``: backtesting.py's commission of a
    number or a ``(fixed, relative)`` tuple."""

    __slots__ = ("fixed", "relative")

    def __init__(self, fixed: Any, relative: Any) -> None:
        self.fixed, self.relative = fixed, relative

    def __call__(self, order_size: Any, price: Any) -> Any:
        return self.fixed + abs(order_size) * price * self.relative


class OrderCore:
    """A market order waiting for the next fill: its size (a float: units,
    negative for a sell; in (0, 1) a fraction of equity), the trade it
    closes (or None), its tag."""

    __slots__ = ("_broker", "_size", "_parent_trade", "_tag")

    def __init__(self, broker: Any, size: float, parent_trade: Any = None, tag: object = None) -> None:
        self._broker = broker
        self._size = float(size)
        self._parent_trade = parent_trade
        self._tag = tag

    def cancel(self) -> None:
        """Cancel the order."""
        self._broker.orders.remove(self)


class TradeCore:
    """An open or closed trade: size (an int when opened, a float once
    reduced), entry and exit, commissions (counted once it closed)."""

    __slots__ = ("_broker", "_size", "_entry_price", "_exit_price", "_entry_bar", "_exit_bar",
                 "_tag", "_commissions")

    def __init__(self, broker: Any, size: Any, entry_price: Any, entry_bar: Any, tag: object) -> None:
        self._broker = broker
        self._size = size
        self._entry_price = entry_price
        self._exit_price: Any = None
        self._entry_bar = entry_bar
        self._exit_bar: Any = None
        self._tag = tag
        self._commissions: Any = 0

    def _copy(self, size: Any) -> Any:
        t = self._broker._trade_type(self._broker, size, self._entry_price, self._entry_bar, self._tag)
        t._exit_price, t._exit_bar, t._commissions = self._exit_price, self._exit_bar, self._commissions
        return t

    def close(self, portion: float = 1.0) -> None:
        """Place an order closing ``portion`` of the trade at the next fill."""
        if not 0 < portion <= 1:
            raise _BadArgument(f"portion must be a fraction in (0, 1], got {portion!r}")
        size = copysign(max(1, int(round(abs(self._size) * portion))), -self._size)
        b = self._broker
        b.orders.insert(0, b._order_type(b, size, self, self._tag))

    @property
    def pl(self) -> Any:
        """Profit or loss in cash (commissions counted once the trade closed)."""
        price = self._exit_price or self._broker.last_price
        return (self._size * (price - self._entry_price)) - self._commissions

    @property
    def pl_pct(self) -> Any:
        """Return as a fraction of the entry price, net of commissions."""
        price = self._exit_price or self._broker.last_price
        entry = self._entry_price
        if not entry:   # a trade entered at 0 (bad data): backtesting.py's float64 division, inf or NaN
            entry = np.float64(entry)
        gross = copysign(1, self._size) * (price / entry - 1)
        return gross - self._commissions / (abs(self._size) * entry)

    @property
    def value(self) -> Any:
        price = self._exit_price or self._broker.last_price
        return abs(self._size) * price


class BrokerCore:
    """backtesting.py's broker, market orders only (margin 1, no spread, no
    hedging): the pending orders, the open and closed trades, the cash, and
    the position's size, cost and value, summed again only when the open
    trades change.  ``order_type`` and ``trade_type`` are the classes it
    makes (OrderCore's and TradeCore's subclasses)."""

    __slots__ = ("_close_list", "_open_list", "_index", "_cash", "_commission", "_fee", "_trade_on_close",
                 "_exclusive_orders", "_order_type", "_trade_type", "_bar", "_backtest", "orders", "trades",
                 "closed_trades", "position", "_pos_size", "_pos_cost", "_pos_value")

    def __init__(self, close: list[float], open_: list[float], index: Any, cash: Any, commission: Any,
                 trade_on_close: bool, exclusive_orders: bool, order_type: type, trade_type: type) -> None:
        if not (isinstance(order_type, type) and issubclass(order_type, OrderCore)
                and isinstance(trade_type, type) and issubclass(trade_type, TradeCore)):
            raise TypeError("BrokerCore: order_type and trade_type must be OrderCore's and TradeCore's subclasses")
        # Python floats (the Backtest's, shared by its runs and never
        # changed): the same doubles as the arrays' (so the same sums), read
        # without boxing a numpy scalar every bar
        self._close_list = close
        self._open_list = open_
        self._index = index
        self._cash = cash
        self._commission = commission
        # the fee as a plain bound method when it is ours (calling the
        # instance would look __call__ up on its type at every fill)
        self._fee = commission.__call__ if isinstance(commission, CommissionCore) else commission
        self._trade_on_close = trade_on_close
        self._exclusive_orders = exclusive_orders
        self._order_type = order_type
        self._trade_type = trade_type
        # the current bar's index, in a one-item list: the bar loop writes it
        # there (a list item, not an attribute: no setattr per bar)
        self._bar: list[int] = [0]
        self._backtest: Any = None
        self.orders: list[Any] = []
        self.trades: list[Any] = []
        self.closed_trades: list[Any] = []
        self.position: Any = None
        self._pos_size: Any = 0
        self._pos_cost: Any = 0
        self._pos_value: Any = 0

    def _trades_changed(self) -> None:
        # backtesting.py's sums: sum() from int 0 over the trades in order.
        # Its terms are numpy float64 (its prices are), which sum() adds one
        # by one, left to right, on every Python (the compensated sum of 3.12
        # and later is for exact floats only): so a plain loop here, over our
        # exact floats, never sum() (the same doubles, the same additions).
        size, cost, value = 0, 0, 0
        for t in self.trades:
            s, price = _trade(t)._size, t._entry_price
            size += int(s)
            cost = cost + s * price
            value = value + abs(s) * price
        self._pos_size, self._pos_cost, self._pos_value = size, cost, value

    @property
    def last_price(self) -> Any:
        return self._close_list[self._bar[0]]

    @property
    def equity(self) -> Any:
        return self._cash + (self._close_list[self._bar[0]] * self._pos_size - self._pos_cost)

    def _margin_available(self) -> Any:
        last = self._close_list[self._bar[0]]
        # Trade.value / leverage, added from int 0 left to right as
        # backtesting.py's sum() of float64 terms does (_trades_changed)
        margin_used = 0
        for t in self.trades:
            margin_used = margin_used + abs(_trade(t)._size) * last / 1.0
        return max(0, self._cash + (last * self._pos_size - self._pos_cost) - margin_used)

    def new_order(self, size: Any, tag: object) -> Any:
        order = self._order_type(self, size, None, tag)
        if self._exclusive_orders:
            for o in self.orders:  # backtesting.py's loop over the live list: it skips every other order
                o.cancel()
            for t in self.trades:
                t.close()
        self.orders.append(order)
        return order

    def _process_orders(self) -> None:
        i = self._bar[0]
        if self._trade_on_close:
            price = self._close_list[i - 1]
            time_index = i - 1
        else:
            price = self._open_list[i]
            time_index = i
        orders = self.orders
        for order in list(orders):
            if order not in orders:
                continue
            trade = _order(order)._parent_trade
            if trade is not None:
                size = copysign(min(abs(trade._size), abs(order._size)), order._size)
                if trade in self.trades:
                    self._reduce_trade(trade, price, size, time_index)
                orders.remove(order)
                continue
            order_size = order._size
            # backtesting.py's _adjusted_price with no spread: a zero price is the
            # last close, times 1.0 (1 + copysign(0, size)): an int price is a float
            adjusted = (price or self._close_list[i]) * 1.0
            price_plus_commission = adjusted + self._fee(order_size, price) / abs(order_size)
            size = order_size
            margin = None       # the margin available, while no trade has changed since
            if -1 < size < 1:
                margin = self._margin_available()
                size = copysign(int((margin * 1.0 * abs(size)) // price_plus_commission), size)
                if not size:
                    self._cancel(order, "relative-sized order", i, margin)
                    continue
            need_size = int(size)
            is_long = order_size > 0
            for t in list(self.trades):
                if (_trade(t)._size > 0) == is_long:
                    continue
                margin = None
                if abs(need_size) >= abs(t._size):
                    self._close_trade(t, price, time_index)
                    need_size += t._size
                else:
                    self._reduce_trade(t, price, need_size, time_index)
                    need_size = 0
                if not need_size:
                    break
            if margin is None:
                margin = self._margin_available()
            if abs(need_size) * price_plus_commission > margin * 1.0:
                self._cancel(order, "order", i, margin)
                continue
            if need_size:
                self._open_trade(adjusted, need_size, time_index, order._tag)
            orders.remove(order)

    def _cancel(self, order: Any, what: str, i: Any, margin: Any) -> None:
        """Drop an order the margin cannot pay for, with backtesting.py's warning."""
        warnings.warn(f"time={i}: Broker canceled the {what} due to insufficient margin "
                      f"(equity={self.equity:.2f}, margin_available={margin:.2f}).",
                      category=UserWarning, stacklevel=_STACKLEVEL + 1)
        self.orders.remove(order)

    def _reduce_trade(self, trade: Any, price: Any, size: Any, time_index: Any) -> None:
        size_left = trade._size + size
        if not size_left:
            close_trade = trade
        else:
            trade._size = size_left
            close_trade = trade._copy(-size)
            self.trades.append(close_trade)
        self._close_trade(close_trade, price, time_index)

    def _close_trade(self, trade: Any, price: Any, time_index: Any) -> None:
        self.trades.remove(trade)
        trade._exit_price = price
        trade._exit_bar = time_index
        self.closed_trades.append(trade)
        commission = self._fee(trade._size, price)
        self._cash += trade.pl - commission
        trade._commissions = commission + self._fee(trade._size, trade._entry_price)
        self._trades_changed()

    def _open_trade(self, price: Any, size: Any, time_index: Any, tag: object) -> None:
        self.trades.append(self._trade_type(self, size, price, time_index, tag))
        self._trades_changed()
        self._cash -= self._fee(size, price)

    def next(self, i: int, equity_out: Any) -> bool:
        """One bar: fill the pending orders and record the equity; False
        when it is gone (backtesting.py then closes everything and stops)."""
        self._bar[0] = i
        if self.orders:
            self._process_orders()
        equity = self._cash + (self._close_list[i] * self._pos_size - self._pos_cost)
        equity_out[i] = equity
        if equity <= 0:
            self._out_of_money(i, equity_out)
            return False
        return True

    def _out_of_money(self, i: int, equity_out: Any) -> None:
        for trade in self.trades:  # backtesting.py's loop, which removes as it goes
            self._close_trade(_trade(trade), self._close_list[i], i)
        self._cash = 0
        for k in range(i, len(equity_out)):
            equity_out[k] = 0
