"""Pure-Python twin of ``_risk.pyx`` (the readable specification).

Same names and behaviour as the compiled module: ``RiskCore`` (the running
statistics behind ``CachingRiskCalculator``) and ``PositionCore`` (the
positions and running totals behind ``IncrementalPositionTracker``), both
updated eagerly, O(1) per call.
"""
from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

__all__ = ["PositionCore", "RiskCore"]

_INF = math.inf
_NAN = math.nan

_HAVE_SHARPE, _HAVE_SORTINO, _HAVE_VOL = 1, 2, 4


def _as_double(value: Any, name: str, allow_bool: bool) -> float:
    """``value`` as a float; ``TypeError`` naming ``name`` for a non-number."""
    if not allow_bool and isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got bool")
    try:
        # float() would parse a str: the compiled PyFloat_AsDouble does not
        if isinstance(value, (str, bytes, bytearray)):
            raise TypeError
        return float(value.__float__() if hasattr(value, "__float__") else value.__index__())
    except (TypeError, AttributeError):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from None


def _hashable(symbol: Any) -> None:
    try:
        hash(symbol)
    except TypeError:
        raise TypeError(f"symbol must be hashable, got {type(symbol).__name__}") from None


class RiskCore:
    """Running risk statistics of an equity curve (see ``CachingRiskCalculator``)."""

    __slots__ = ("_ppy", "_sqrt_ppy", "_rf", "_has_rf", "_started", "_n", "_mean", "_m2",
                 "_rmean", "_rm2", "_down", "_equity", "_peak", "_mdd", "_have",
                 "_c_sharpe", "_c_sortino", "_c_vol", "__weakref__")

    def __init__(self, periods_per_year: float = 252.0, risk_free: float = 0.0) -> None:
        ppy = _as_double(periods_per_year, "periods_per_year", True)
        rf = _as_double(risk_free, "risk_free", True)
        if not 0.0 < ppy < _INF:
            raise ValueError(f"periods_per_year must be finite and > 0, got {ppy!r}")
        if not -_INF < rf < _INF:
            raise ValueError(f"risk_free must be finite, got {rf!r}")
        self._ppy = ppy
        self._sqrt_ppy = math.sqrt(ppy)
        self._rf = rf
        self._has_rf = rf != 0.0
        self._c_sharpe = self._c_sortino = self._c_vol = _NAN
        self._clear()

    def _clear(self) -> None:
        self._started = False
        self._n = 0  # number of returns
        self._mean = self._m2 = 0.0  # Welford of the excess returns
        self._rmean = self._rm2 = 0.0  # Welford of the raw returns (risk_free != 0)
        self._down = 0.0  # sum of min(excess, 0) ** 2
        self._equity = _NAN  # last equity, actual or implied
        self._peak = _NAN
        self._mdd = 0.0  # most negative equity / peak - 1
        self._have = 0  # cached results: _HAVE_* bits

    def reset(self) -> None:
        """Forget every equity and return (called by ``CacheManager.clear_all``)."""
        self._clear()

    @property
    def periods_per_year(self) -> float:
        """Periods per year (annualization factor), fixed at construction."""
        return self._ppy

    @property
    def risk_free(self) -> float:
        """Risk-free return per period, fixed at construction."""
        return self._rf

    @property
    def count(self) -> int:
        """Number of returns so far."""
        return self._n

    @property
    def equity(self) -> float:
        """The last equity, actual or implied (NaN before the first update)."""
        return self._equity

    # -- updates ---------------------------------------------------------------
    def update(self, equity: Any) -> None:
        """Add an equity value (> 0, finite); the first one is the starting equity."""
        e = equity if equity.__class__ is float else _as_double(equity, "equity", True)
        if not 0.0 < e < _INF:
            raise ValueError(f"equity must be finite and > 0, got {equity!r}")
        if self._started:
            self._add(e / self._equity - 1.0, e)
        else:
            self._started = True
            self._equity = self._peak = e

    def update_return(self, r: Any) -> None:
        """Add a simple return (finite, > -1); the implied equity starts at 1.0."""
        x = r if r.__class__ is float else _as_double(r, "r", False)
        if not -_INF < x < _INF:
            raise ValueError(f"r must be finite, got {x!r}")
        if not x > -1.0:
            raise ValueError(f"r must be > -1 (equity stays positive), got {x!r}")
        if not self._started:
            self._started = True
            self._equity = self._peak = 1.0
        self._add(x, self._equity * (1.0 + x))

    def _add(self, r: float, equity: float) -> None:
        n = self._n + 1
        self._n = n
        if self._has_rf:
            d = r - self._rmean
            self._rmean += d / n
            self._rm2 += d * (r - self._rmean)
            x = r - self._rf
        else:
            x = r
        d = x - self._mean
        self._mean += d / n
        self._m2 += d * (x - self._mean)
        if x < 0.0:
            self._down += x * x
        self._equity = equity
        if equity > self._peak:
            self._peak = equity
        else:
            dd = equity / self._peak - 1.0
            if dd < self._mdd:
                self._mdd = dd
        self._have = 0

    # -- results ---------------------------------------------------------------
    def volatility(self) -> float:
        """Annualized standard deviation of the returns (ddof=1); NaN below 2 returns."""
        if not self._have & _HAVE_VOL:
            n = self._n
            if n < 2:
                self._c_vol = _NAN
            else:
                m2 = self._rm2 if self._has_rf else self._m2  # of the raw returns
                self._c_vol = math.sqrt(m2 / (n - 1)) * self._sqrt_ppy
            self._have |= _HAVE_VOL
        return self._c_vol

    def sharpe_ratio(self) -> float:
        """``mean(excess) / std(excess, ddof=1) * sqrt(periods_per_year)``."""
        if not self._have & _HAVE_SHARPE:
            n = self._n
            if n < 2:
                self._c_sharpe = _NAN
            else:
                std, mean = math.sqrt(self._m2 / (n - 1)), self._mean
                if std == 0.0:  # all excess returns equal: empyrical's _zero_dispersion_std
                    self._c_sharpe = _NAN if mean == 0.0 else math.copysign(_INF, mean)
                else:
                    self._c_sharpe = mean / std * self._sqrt_ppy
            self._have |= _HAVE_SHARPE
        return self._c_sharpe

    def sortino_ratio(self) -> float:
        """``mean(excess) * ppy / (sqrt(mean(min(excess, 0) ** 2)) * sqrt(ppy))``."""
        if not self._have & _HAVE_SORTINO:
            n = self._n
            if n < 2:
                self._c_sortino = _NAN
            else:
                annual = self._mean * self._ppy
                downside = math.sqrt(self._down / n) * self._sqrt_ppy
                if downside == 0.0:
                    self._c_sortino = _NAN if annual == 0.0 else math.copysign(_INF, annual)
                else:
                    self._c_sortino = annual / downside
            self._have |= _HAVE_SORTINO
        return self._c_sortino

    def max_drawdown(self) -> float:
        """Most negative ``equity / peak - 1`` so far (<= 0); NaN with no return."""
        return _NAN if self._n == 0 else self._mdd

    def current_drawdown(self) -> float:
        """``equity / peak - 1`` now (<= 0); NaN before the first update."""
        if not self._started:
            return _NAN
        return self._equity / self._peak - 1.0


class _Pos:
    """One symbol's state."""

    __slots__ = ("qty", "avg", "last", "realized")

    def __init__(self, last: float) -> None:
        self.qty = 0.0
        self.avg = 0.0
        self.last = last
        self.realized = 0.0


class PositionCore:
    """Positions and running totals (see ``IncrementalPositionTracker``)."""

    __slots__ = ("_state", "_initial", "_cash", "_mv", "_upnl", "_realized", "flat_tolerance")

    def __init__(self, initial_cash: float = 0.0) -> None:
        cash = _as_double(initial_cash, "initial_cash", True)
        if not -_INF < cash < _INF:
            raise ValueError(f"initial_cash must be finite, got {cash!r}")
        self._state: dict[Hashable, _Pos] = {}
        self._initial = cash
        self.flat_tolerance = 1e-12
        self.reset()

    def reset(self) -> None:
        """Back to ``initial_cash`` and no positions."""
        self._state.clear()
        self._cash = self._initial
        self._mv = 0.0  # sum of quantity * last_price
        self._upnl = 0.0  # sum of quantity * (last_price - avg_price)
        self._realized = 0.0  # sum of realized P&L (commissions included)

    @property
    def initial_cash(self) -> float:
        return self._initial

    # -- events ----------------------------------------------------------------
    def on_price(self, symbol: Hashable, price: Any) -> None:
        """Mark ``symbol`` at ``price`` (finite, > 0)."""
        if price.__class__ is float:
            p = price
        else:
            try:
                p = _as_double(price, "price", True)
            except TypeError:
                _hashable(symbol)
                raise
        if not 0.0 < p < _INF:
            raise ValueError(f"price must be finite and > 0, got {price!r}")
        try:
            s = self._state.get(symbol)
        except TypeError:
            _hashable(symbol)
            raise
        if s is None:
            self._state[symbol] = _Pos(p)
            return
        q = s.qty
        if q != 0.0:
            d = q * (p - s.last)
            self._mv += d
            self._upnl += d
        s.last = p

    def _fill(self, symbol: Hashable, q: float, p: float, c: float) -> None:
        """Apply a validated fill (``q`` != 0, ``p`` > 0, all finite)."""
        q, p, c = float(q), float(p), float(c)
        try:
            s = self._state.get(symbol)
        except TypeError:
            _hashable(symbol)
            raise
        if s is None:
            s = self._state[symbol] = _Pos(p)
        old_q, old_a, old_last = s.qty, s.avg, s.last
        new_q = old_q + q
        if old_q == 0.0 or (old_q > 0.0) == (q > 0.0):  # open or add
            gain = 0.0
            new_a = p if old_q == 0.0 else (old_q * old_a + q * p) / new_q
        elif abs(q) <= abs(old_q):  # reduce or close
            gain = (p - old_a) * -q
            new_a = old_a
        else:  # flip: close all of old_q, open the rest at p
            gain = (p - old_a) * old_q
            new_a = p
        if abs(new_q) <= self.flat_tolerance * max(abs(old_q), abs(q)):
            new_q = new_a = 0.0
        gain -= c
        s.qty = new_q
        s.avg = new_a
        s.last = p
        s.realized += gain
        self._cash -= q * p + c
        self._realized += gain
        self._mv += new_q * p - old_q * old_last
        self._upnl += new_q * (p - new_a) - old_q * (old_last - old_a)

    # -- reads -----------------------------------------------------------------
    def _get(self, symbol: Hashable) -> tuple[float, float, float, float] | None:
        """``(quantity, avg_price, last_price, realized)`` of ``symbol``, or None."""
        s = self._state.get(symbol)
        if s is None:
            return None
        return (s.qty, s.avg, s.last, s.realized)

    def _open(self) -> list[tuple[Hashable, float, float, float, float]]:
        """``[(symbol, quantity, avg_price, last_price, realized), ...]`` of
        the non-flat positions."""
        return [(symbol, s.qty, s.avg, s.last, s.realized)
                for symbol, s in self._state.items() if s.qty != 0.0]

    @property
    def cash(self) -> float:
        """Cash: initial cash minus what fills spent (commissions included)."""
        return self._cash

    @property
    def total_value(self) -> float:
        """Cash plus the market value of every position."""
        return self._cash + self._mv

    @property
    def market_value(self) -> float:
        """Sum of the positions' market values (signed: shorts are negative)."""
        return self._mv

    @property
    def realized_pnl(self) -> float:
        """Realized P&L of every symbol, net of commissions."""
        return self._realized

    @property
    def unrealized_pnl(self) -> float:
        """Sum of ``quantity * (last_price - avg_price)``."""
        return self._upnl
