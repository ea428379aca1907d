"""``IncrementalPositionTracker``: positions, cash and P&L under average-cost
accounting, O(1) per fill and per price update.

Accounting rules (``q`` the signed fill quantity, ``p`` its price, ``c`` its
commission; ``Q``/``A`` the position's quantity and average price before it):

- cash ``-= q * p + c`` (a buy spends, a sell receives; commission is paid).
- opening or adding (``Q == 0`` or ``q`` has the sign of ``Q``):
  ``A = (Q * A + q * p) / (Q + q)`` (``p`` when opening); nothing realized.
- reducing or closing (opposite sign, ``|q| <= |Q|``): realizes
  ``(p - A) * (-q)``, i.e. the price move times the closed quantity with the
  sign of the position; ``A`` is unchanged (0.0 once flat).
- flipping (opposite sign, ``|q| > |Q|``): closes the whole position, realizing
  ``(p - A) * Q``, and opens ``Q + q`` at ``A = p``.
- the commission is subtracted from the symbol's realized P&L (and cash).
- a fill marks the symbol at ``p``; ``on_price`` marks it at a new price.
- a remaining quantity within ``1e-12`` relative of zero (fractional
  quantities that do not cancel exactly in binary) is flat.
- per symbol: ``market_value = Q * last``, ``unrealized = Q * (last - A)``;
  totals: ``total_value = cash + sum(market_value)`` and, always,
  ``total_value - initial_cash == realized_pnl + unrealized_pnl``.

Symbols are any hashable key (normally a ``str``); quantities, prices and
commissions are real numbers, finite; fill prices and marks are > 0; a zero
fill quantity is a ``ValueError`` (a negative commission is a rebate).

Cost model.  The compiled core (``_ext/_risk.pyx``, ``PositionCore``;
pure-Python twin ``_ext/_risk_py.py``) keeps each symbol's state in a small C
object and the totals (market value, unrealized P&L, realized P&L, cash) as
running sums updated by deltas, never sums over symbols.  ``on_price`` is the
core's method, eager and O(1): the price checked in C, one dict lookup, the
delta ``quantity * (price - last)`` added to the totals.  ``on_fill``
validates its arguments here and applies the fill in the core, O(1); every
read is O(1) (``positions`` is O(symbols)).  Running sums drift by rounding
only: relative error ~1e-16 per event of the gross exposure, not of a net
total that cancels.
"""
from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _ext
from .._validate import finite_real

if TYPE_CHECKING:  # the stub describes both implementations
    from .._ext import _risk
else:
    _risk = _ext.load("_risk")

__all__ = ["FLAT_TOLERANCE", "IncrementalPositionTracker", "Position"]

_NAN = math.nan

#: ``|remaining| <= FLAT_TOLERANCE * max(|Q|, |q|)`` after a fill is flat.
FLAT_TOLERANCE = 1e-12


@dataclass(frozen=True, slots=True)
class Position:
    """A snapshot of one symbol's position (flat: quantity 0.0, avg_price 0.0;
    last_price NaN for a symbol never filled nor priced)."""

    symbol: Hashable
    quantity: float
    avg_price: float
    realized_pnl: float
    unrealized_pnl: float
    market_value: float
    last_price: float

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0.0




def _hashable(symbol: Any) -> Hashable:
    try:
        hash(symbol)
    except TypeError:
        raise TypeError(f"symbol must be hashable, got {type(symbol).__name__}") from None
    return symbol


class IncrementalPositionTracker(_risk.PositionCore):
    """Positions, cash and P&L from fills and price updates (module docs).

    ``on_price(symbol, price)`` (finite, > 0), ``reset()`` and the totals
    (``cash``, ``total_value``, ``market_value``, ``realized_pnl``,
    ``unrealized_pnl``) are the compiled core's, called directly.
    """

    __slots__ = ()

    def __init__(self, initial_cash: float = 0.0) -> None:
        super().__init__(finite_real(initial_cash, "initial_cash"))
        self.flat_tolerance = FLAT_TOLERANCE

    # -- events ------------------------------------------------------------------------
    def on_fill(self, symbol: Hashable, quantity: float, price: float, commission: float = 0.0) -> None:
        """Apply a fill: ``quantity`` signed (+ buys, - sells), ``price`` > 0."""
        _hashable(symbol)
        q = finite_real(quantity, "quantity")
        if q == 0.0:
            raise ValueError("quantity must be non-zero")
        p = finite_real(price, "price")
        if not p > 0.0:
            raise ValueError(f"price must be > 0, got {price!r}")
        self._fill(symbol, q, p, finite_real(commission, "commission"))

    # -- reads ---------------------------------------------------------------------------
    def position(self, symbol: Hashable) -> Position:
        """The position in ``symbol`` (flat for a symbol never filled)."""
        s = self._get(_hashable(symbol))
        if s is None:
            return Position(symbol, 0.0, 0.0, 0.0, 0.0, 0.0, _NAN)
        q, a, last, realized = s
        return Position(symbol, q, a, realized, q * (last - a), q * last, last)

    def positions(self) -> dict[Hashable, Position]:
        """``symbol -> Position`` of every non-flat position."""
        return {
            symbol: Position(symbol, q, a, realized, q * (last - a), q * last, last)
            for symbol, q, a, last, realized in self._open()
        }

    def __repr__(self) -> str:
        return (f"<IncrementalPositionTracker: {len(self._open())} open positions, "
                f"cash={self.cash!r}, total_value={self.total_value!r}>")
