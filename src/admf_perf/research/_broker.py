"""backtesting.py's broker, market orders only: ``Order``, ``Trade``,
``Position`` and the broker that fills the orders.

Part of :mod:`admf_perf.research.strategy` (semantics there and in
``docs/strategies.md``).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from math import copysign
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import _ext

if TYPE_CHECKING:
    from .strategy import Backtest

__all__ = ["Order", "Position", "Trade"]

_core = _ext.load("_strategy")
_PositionCore: Any = _core.PositionCore    # compiled (or its twin, _strategy_py.PositionCore)


class _NotSupported(NotImplementedError):
    pass


class _BadArgument(ValueError, AssertionError):
    """A bad argument: a ValueError naming it, and an AssertionError, as
    backtesting.py raises (it asserts)."""


def _refuse(feature: str) -> None:
    raise _NotSupported(
        f"{feature} is not supported by admf_perf's backtesting.py-compatible engine "
        "(market orders only: see docs/strategies.md); run this strategy with backtesting.py")


def _round5(value: Any) -> Any:
    try:
        return round(value, 5)
    except Exception:
        return value


class Order:
    """A market order waiting for the next fill (``Strategy.orders``)."""

    __slots__ = ("_broker", "_size", "_parent_trade", "_tag")

    def __init__(self, broker: _Broker, size: float, parent_trade: Trade | None = None,
                 tag: object = None) -> None:
        self._broker = broker
        self._size = size
        self._parent_trade = parent_trade
        self._tag = tag

    def __repr__(self) -> str:
        # backtesting.py's: every field given rounded to 5 places when it can be
        # (contingent=0, a numeric tag rounded too)
        fields = (("size", self._size), ("contingent", False), ("tag", self._tag))
        return f"<Order {', '.join(f'{k}={_round5(v)!r}' for k, v in fields if v is not None)}>"

    def cancel(self) -> None:
        """Cancel the order."""
        self._broker.orders.remove(self)

    size = property(lambda self: self._size, doc="Units (negative for a sell); in (0, 1): a fraction of equity.")
    limit = property(lambda self: None, doc="Always None: market orders only.")
    stop = property(lambda self: None, doc="Always None: market orders only.")
    sl = property(lambda self: None, doc="Always None: no stop-loss orders.")
    tp = property(lambda self: None, doc="Always None: no take-profit orders.")
    parent_trade = property(lambda self: self._parent_trade)
    tag = property(lambda self: self._tag)
    is_long = property(lambda self: self._size > 0)
    is_short = property(lambda self: self._size < 0)
    is_contingent = property(lambda self: False)


class Trade:
    """An open (``Strategy.trades``) or closed (``Strategy.closed_trades``) trade."""

    __slots__ = ("_broker", "_size", "_entry_price", "_exit_price", "_entry_bar", "_exit_bar",
                 "_tag", "_commissions")

    def __init__(self, broker: _Broker, size: float, entry_price: float, entry_bar: int,
                 tag: object) -> None:
        self._broker = broker
        self._size = size
        self._entry_price = entry_price
        self._exit_price: float | None = None
        self._entry_bar = entry_bar
        self._exit_bar: int | None = None
        self._tag = tag
        self._commissions: float = 0

    def __repr__(self) -> str:
        return (f'<Trade size={self._size} time={self._entry_bar}-{self._exit_bar or ""} '
                f'price={self._entry_price}-{self._exit_price or ""} pl={self.pl:.0f}'
                f'{" tag=" + str(self._tag) if self._tag is not None else ""}>')

    def _copy(self, size: float) -> Trade:
        t = Trade(self._broker, size, self._entry_price, self._entry_bar, self._tag)
        t._exit_price, t._exit_bar, t._commissions = self._exit_price, self._exit_bar, self._commissions
        return t

    def close(self, portion: float = 1.0) -> None:
        """Place an order closing ``portion`` of the trade at the next fill."""
        if not 0 < portion <= 1:
            raise _BadArgument(f"portion must be a fraction in (0, 1], got {portion!r}")
        size = copysign(max(1, int(round(abs(self._size) * portion))), -self._size)
        self._broker.orders.insert(0, Order(self._broker, size, self, self._tag))

    size = property(lambda self: self._size, doc="Units (negative for a short trade).")
    entry_price = property(lambda self: self._entry_price)
    exit_price = property(lambda self: self._exit_price)
    entry_bar = property(lambda self: self._entry_bar)
    exit_bar = property(lambda self: self._exit_bar)
    tag = property(lambda self: self._tag)
    is_long = property(lambda self: self._size > 0)
    is_short = property(lambda self: not self._size > 0)

    @property
    def sl(self) -> None:
        """Always None: no stop-loss orders (setting one is refused)."""
        return None

    @sl.setter
    def sl(self, price: float) -> None:
        _refuse("a stop-loss order (Trade.sl)")

    @property
    def tp(self) -> None:
        """Always None: no take-profit orders (setting one is refused)."""
        return None

    @tp.setter
    def tp(self, price: float) -> None:
        _refuse("a take-profit order (Trade.tp)")

    @property
    def entry_time(self) -> Any:
        return self._broker._index[self._entry_bar]

    @property
    def exit_time(self) -> Any:
        return None if self._exit_bar is None else self._broker._index[self._exit_bar]

    @property
    def pl(self) -> float:
        """Profit or loss in cash (commissions counted once the trade closed)."""
        price = self._exit_price or self._broker.last_price
        return (self._size * (price - self._entry_price)) - self._commissions

    @property
    def pl_pct(self) -> float:
        """Return as a fraction of the entry price, net of commissions."""
        price = self._exit_price or self._broker.last_price
        entry = self._entry_price
        if not entry:   # a trade entered at 0 (bad data): backtesting.py's float64 division, inf or NaN
            entry = np.float64(entry)
        gross = copysign(1, self._size) * (price / entry - 1)
        return gross - self._commissions / (abs(self._size) * entry)

    @property
    def value(self) -> float:
        price = self._exit_price or self._broker.last_price
        return abs(self._size) * price


class _PositionMethods:
    """What ``Position`` adds to its core (the compiled one, or its twin in
    the tests that run the twin)."""

    __slots__ = ()
    _broker: _Broker

    def close(self, portion: float = 1.0) -> None:
        """Close ``portion`` of every open trade at the next fill."""
        for trade in self._broker.trades:
            trade.close(portion)

    def __repr__(self) -> str:
        return f"<Position: {self._broker._pos_size} ({len(self._broker.trades)} trades)>"


class Position(_PositionMethods, _PositionCore):
    """``Strategy.position``: the sum of the open trades.  Its truth value,
    ``size``, ``pl``, ``pl_pct``, ``is_long`` and ``is_short`` are the
    compiled core's (``_ext._strategy.PositionCore``): a strategy's ``if
    self.position:`` every bar runs no Python frame."""

    __slots__ = ()


class _Broker:
    """backtesting.py's broker, market orders only (margin 1, no spread, no
    hedging).  The position's size, cost and value are summed again only when
    the open trades change."""

    def __init__(self, close: list[float], open_: list[float], index: pd.Index, cash: float,
                 commission: Callable[[float, float], float], trade_on_close: bool,
                 exclusive_orders: bool) -> None:
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
        self._fee = commission.__call__ if type(commission) is _Commission else commission
        self._trade_on_close = trade_on_close
        self._exclusive_orders = exclusive_orders
        # the current bar's index, in a one-item list: the compiled bar loop
        # writes it there (a list item, not an attribute: no setattr per bar)
        self._bar: list[int] = [0]
        self._backtest: Backtest | None = None
        self.orders: list[Order] = []
        self.trades: list[Trade] = []
        self.closed_trades: list[Trade] = []
        self.position = Position(self)
        self._pos_size: int = 0
        self._pos_cost: float = 0
        self._pos_value: float = 0

    def _trades_changed(self) -> None:
        # backtesting.py's sums: sum() from int 0 over the trades in order.
        # Its terms are numpy float64 (its prices are), which sum() adds one
        # by one, left to right, on every Python (the compensated sum of 3.12
        # and later is for exact floats only): so a plain loop here, over our
        # exact floats, never sum() (the same doubles, the same additions).
        size, cost, value = 0, 0, 0
        for t in self.trades:
            s, price = t._size, t._entry_price
            size += int(s)
            cost = cost + s * price
            value = value + abs(s) * price
        self._pos_size, self._pos_cost, self._pos_value = size, cost, value

    @property
    def last_price(self) -> float:
        return self._close_list[self._bar[0]]

    @property
    def equity(self) -> float:
        return self._cash + (self._close_list[self._bar[0]] * self._pos_size - self._pos_cost)

    def _margin_available(self) -> float:
        last = self._close_list[self._bar[0]]
        trades = self.trades
        # Trade.value / leverage, added from int 0 left to right as
        # backtesting.py's sum() of float64 terms does (_trades_changed)
        margin_used = 0
        for t in trades:
            margin_used = margin_used + abs(t._size) * last / 1.0
        return max(0, self._cash + (last * self._pos_size - self._pos_cost) - margin_used)

    def new_order(self, size: float, tag: object) -> Order:
        size = float(size)
        order = Order(self, size, None, tag)
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
            trade = order._parent_trade
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
                size = copysign(int((margin * 1.0 * abs(size))
                                    // price_plus_commission), size)
                if not size:
                    warnings.warn(
                        f"time={i}: Broker canceled the relative-sized order due to insufficient margin "
                        f"(equity={self.equity:.2f}, margin_available={margin:.2f}).",
                        category=UserWarning, stacklevel=4)
                    orders.remove(order)
                    continue
            need_size = int(size)
            is_long = order_size > 0
            for t in list(self.trades):
                if (t._size > 0) == is_long:
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
                warnings.warn(
                    f"time={i}: Broker canceled the order due to insufficient margin "
                    f"(equity={self.equity:.2f}, margin_available={margin:.2f}).",
                    category=UserWarning, stacklevel=4)
                orders.remove(order)
                continue
            if need_size:
                self._open_trade(adjusted, need_size, time_index, order._tag)
            orders.remove(order)

    def _reduce_trade(self, trade: Trade, price: float, size: float, time_index: int) -> None:
        size_left = trade._size + size
        if not size_left:
            close_trade = trade
        else:
            trade._size = size_left
            close_trade = trade._copy(-size)
            self.trades.append(close_trade)
        self._close_trade(close_trade, price, time_index)

    def _close_trade(self, trade: Trade, price: float, time_index: int) -> None:
        self.trades.remove(trade)
        trade._exit_price = price
        trade._exit_bar = time_index
        self.closed_trades.append(trade)
        commission = self._fee(trade._size, price)
        self._cash += trade.pl - commission
        trade._commissions = commission + self._fee(trade._size, trade._entry_price)
        self._trades_changed()

    def _open_trade(self, price: float, size: int, time_index: int, tag: object) -> None:
        self.trades.append(Trade(self, size, price, time_index, tag))
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
            self._close_trade(trade, self._close_list[i], i)
        self._cash = 0
        for k in range(i, len(equity_out)):
            equity_out[k] = 0


class _Commission:
    """``fixed + |size| * price * relative``: backtesting.py's commission of a
    number or a ``(fixed, relative)`` tuple (a class, so a run's results
    pickle)."""

    __slots__ = ("fixed", "relative")

    def __init__(self, fixed: float, relative: float) -> None:
        self.fixed, self.relative = fixed, relative

    def __call__(self, order_size: float, price: float) -> float:
        return self.fixed + abs(order_size) * price * self.relative

    def __reduce__(self) -> Any:
        return (_Commission, (self.fixed, self.relative))
