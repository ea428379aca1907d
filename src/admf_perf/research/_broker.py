"""backtesting.py's broker, market orders only: ``Order``, ``Trade``,
``Position`` and the broker that fills the orders.

Part of :mod:`admf_perf.research.strategy` (semantics there and in
``docs/strategies.md``).  Each class is a methods class (what a strategy
reads now and then: properties, repr) on a core of ``_ext._strategy``
(compiled; twin ``_strategy_py``): the fields, and what the broker runs for
every order.
"""
from __future__ import annotations

from typing import Any

from .. import _ext
from .._ext._strategy_py import _BadArgument as _BadArgument  # re-exported: the one class, compiled or not

__all__ = ["Order", "Position", "Trade"]

_core = _ext.load("_strategy")

class _NotSupported(NotImplementedError):
    pass


def _refuse(feature: str) -> None:
    raise _NotSupported(
        f"{feature} is not supported by admf_perf's backtesting.py-compatible engine "
        "(market orders only: see docs/strategies.md); run this strategy with backtesting.py")


def _round5(value: Any) -> Any:
    try:
        return round(value, 5)
    except Exception:
        return value


class _OrderMethods:
    """What ``Order`` adds to its core."""

    __slots__ = ()
    _size: float
    _parent_trade: Any
    _tag: object

    def __repr__(self) -> str:
        # backtesting.py's: every field given rounded to 5 places when it can be
        # (contingent=0, a numeric tag rounded too)
        fields = (("size", self._size), ("contingent", False), ("tag", self._tag))
        return f"<Order {', '.join(f'{k}={_round5(v)!r}' for k, v in fields if v is not None)}>"

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


class _TradeMethods:
    """What ``Trade`` adds to its core (which has ``close``, ``pl``,
    ``pl_pct`` and ``value``)."""

    __slots__ = ()
    _broker: Any
    _size: Any
    _entry_price: float
    _exit_price: float | None
    _entry_bar: int
    _exit_bar: int | None
    _tag: object
    pl: Any

    def __repr__(self) -> str:
        return (f'<Trade size={self._size} time={self._entry_bar}-{self._exit_bar or ""} '
                f'price={self._entry_price}-{self._exit_price or ""} pl={self.pl:.0f}'
                f'{" tag=" + str(self._tag) if self._tag is not None else ""}>')

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


class _PositionMethods:
    """What ``Position`` adds to its core."""

    __slots__ = ()
    _broker: Any

    def __repr__(self) -> str:
        return f"<Position: {self._broker._pos_size} ({len(self._broker.trades)} trades)>"


class _BrokerMethods:
    """What the broker adds to its core: the position it shows."""

    __slots__ = ()
    _position_type: type

    def __init__(self, close: list[float], open_: list[float], index: Any, cash: float,
                 commission: Any, trade_on_close: bool, exclusive_orders: bool) -> None:
        cls = type(self)
        super().__init__(close, open_, index, cash, commission, trade_on_close,  # type: ignore[call-arg]
                         exclusive_orders, cls._order_type_, cls._trade_type_)
        self.position = cls._position_type(self)  # type: ignore[attr-defined]


_MADE: dict[tuple[Any, str], tuple[type, type, type, type, type]] = {}


def _classes(core: Any, prefix: str = "") -> tuple[type, type, type, type, type]:
    """``Order``, ``Trade``, ``Position``, the broker and the commission, on
    ``core``'s classes (compiled, or the twin's: the tests run both), each
    published as this module's ``<prefix><name>`` (a run's results pickle
    them by name); made once per core and prefix."""
    if (core, prefix) in _MADE:
        return _MADE[core, prefix]
    made = []
    for name, methods, base in (("Order", _OrderMethods, core.OrderCore), ("Trade", _TradeMethods, core.TradeCore),
                                ("Position", _PositionMethods, core.PositionCore),
                                ("_Broker", _BrokerMethods, core.BrokerCore)):
        cls = type(prefix + name, (methods, base), {"__slots__": (), "__module__": __name__,
                                                     "__doc__": _DOCS[name]})
        made.append(cls)
    commission = type(prefix + "_Commission", (core.CommissionCore,),
                      {"__slots__": (), "__module__": __name__, "__doc__": _DOCS["_Commission"],
                       "__reduce__": lambda self: (type(self), (self.fixed, self.relative))})
    made.append(commission)
    order, trade, position, broker, _ = made
    broker._order_type_, broker._trade_type_, broker._position_type = order, trade, position
    for cls in made:
        globals()[cls.__name__] = cls
    _MADE[core, prefix] = tuple(made)  # type: ignore[assignment]
    return _MADE[core, prefix]


def _install(core: Any, prefix: str = "") -> None:
    """The broker's classes (``Order``, ``Trade``, ``Position``, ``_Broker``,
    ``_Commission``) on ``core``'s cores from now on."""
    global Order, Trade, Position, _Broker, _Commission
    Order, Trade, Position, _Broker, _Commission = _classes(core, prefix)


_DOCS = {
    "Order": "A market order waiting for the next fill (``Strategy.orders``).",
    "Trade": "An open (``Strategy.trades``) or closed (``Strategy.closed_trades``) trade.",
    "Position": ("``Strategy.position``: the sum of the open trades.  Its truth value, ``size``, ``pl``, "
                 "``pl_pct``, ``is_long``, ``is_short`` and ``close()`` are the compiled core's "
                 "(``_ext._strategy.PositionCore``): a strategy's ``if self.position:`` every bar runs "
                 "no Python frame."),
    "_Broker": ("backtesting.py's broker, market orders only (margin 1, no spread, no hedging); its "
                "order processing is the compiled core's (``_ext._strategy.BrokerCore``)."),
    "_Commission": ("``fixed + |size| * price * relative``: backtesting.py's commission of a number or a "
                    "``(fixed, relative)`` tuple (a class, so a run's results pickle)."),
}

Order: Any
Trade: Any
Position: Any
_Broker: Any
_Commission: Any
_install(_core)
