"""A moving-average crossover backtest engine, equal to backtesting.py's ``SmaCross``.

The engine behind ``admf-perf optimize`` (semantics, choices and figures:
``docs/backtest.md``).  A grid search runs it many times on one data set, so
the work is split in two:

- :func:`prepare` turns OHLCV bars (a DataFrame) into a :class:`BarData`: the
  float64 numpy arrays, validated once, and a cache of SMA series by period,
  each computed once (``admf_perf.indicators.SMA(p).batch(close)``) and shared
  by every parameter set that uses it.  A ``BarData`` is picklable (with its
  cache) so it can be sent to worker processes; :meth:`BarData.precompute`
  fills the cache for a whole grid first.
- :func:`crossover_backtest` runs one (fast, slow) parameter set: the
  crossovers are found with vectorized numpy comparisons, a short Python loop
  runs once per *order* (not per bar) through an
  :class:`~admf_perf.portfolio.IncrementalPositionTracker`, the equity curve is
  built from the position segments with ``np.repeat``, and the risk metrics come
  from a :class:`~admf_perf.risk.CachingRiskCalculator` (empyrical's
  definitions, per-bar returns).

The rules are exactly those of backtesting.py 0.6's ``SmaCross`` example
(``Backtest(data, SmaCross, cash=..., commission=...)`` whose ``next()`` does
``if crossover(sma1, sma2): position.close(); buy()`` /
``elif crossover(sma2, sma1): position.close(); sell()``):

- ``crossover(a, b)`` at bar ``i``: ``a[i-1] < b[i-1] and a[i] > b[i]``
  (strict on both bars: touching without crossing is no signal).  Signals are
  looked for from bar ``slow`` on (backtesting.py's warm-up: the first bar
  where both SMAs exist, plus one).
- market orders are filled at the NEXT bar's open; a signal on the last bar is
  never filled (unless ``finalize_trades``).  An order closes the open trade
  first (even one in the same direction, after a touch-and-recross), then opens
  the new one.
- size: ``int((max(0, equity) * (1 - eps)) // (price + commission per unit))``
  whole units, ``eps`` the float epsilon (backtesting.py's ``_FULL_EQUITY``);
  an order that cannot buy one unit is canceled (counted in
  :attr:`BacktestResult.canceled_orders`; backtesting.py warns instead).
- ``commission`` is a fraction of each fill's value (``|size| * price *
  commission``), paid on entry and on exit; a trade's ``pnl`` is
  ``size * (exit - entry)`` minus both.
- the equity curve is cash plus the open position marked at each bar's close;
  bars before the first fill hold the starting cash.  If equity reaches 0 or
  less at a close, the position is closed at that close and equity is 0 from
  there on (backtesting.py's out-of-money stop).
- at the end the last trade stays open (``finalize_trades=False``, the
  default, as backtesting.py): it is not in :attr:`BacktestResult.trades` (it
  is :attr:`BacktestResult.open_trade`), and the equity curve marks it at the
  last close.  ``finalize_trades=True`` closes it as backtesting.py does, at
  the open of the last bar.

Loading bars (:func:`~admf_perf.research.bars.load_bars`, re-exported here)
and synthetic bars live in :mod:`admf_perf.research.bars`.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .._validate import check_int, check_real
from ..incremental.indicators import SMA
from ..incremental.portfolio import IncrementalPositionTracker
from ..incremental.risk import BENCHMARK_METRICS, CURVE_METRICS, CachingRiskCalculator, feed
from .bars import OHLCV, bar_arrays, load_bars, synthetic_bars

__all__ = [
    "OHLCV",
    "BacktestResult",
    "BarData",
    "METRICS",
    "OpenTrade",
    "TIE_TOLERANCE",
    "crossover_backtest",
    "load_bars",
    "prepare",
    "synthetic_bars",
]

_PRICES = OHLCV[:4]

#: backtesting.py's default order size: the whole equity, as a fraction < 1.
_FULL = 1.0 - sys.float_info.epsilon
_SYMBOL = "asset"

#: Relative gap under which the fast and slow SMA are equal (no crossing).
#: The compensated rolling sums are exact to a few ulps (~1e-15 relative);
#: distinct means of real prices differ by far more (>= 1e-6 on the shared data).
TIE_TOLERANCE = 1e-11

#: Metric names of :attr:`BacktestResult.metrics`, in order.
METRICS: tuple[str, ...] = ("total_return", "sharpe", "sortino", "volatility", "max_drawdown",
                            "trades", "win_rate", "exposure", "final_equity")


# ---------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------
def _period(value: Any, name: str) -> int:
    """A period in bars: an int >= 1."""
    period: int = check_int(value, name, minimum=1)
    return period


# ---------------------------------------------------------------------------------------
# prepared data
# ---------------------------------------------------------------------------------------
def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class BarData:
    """One data set, prepared for many backtests (see :func:`prepare`).

    ``index`` (the bars' index), ``open``, ``high``, ``low``, ``close``
    (read-only float64 arrays) and ``volume`` (or ``None``).  :meth:`sma`
    returns the SMA series of a period, computed once and cached: every
    parameter set of a grid shares it.  Picklable with its cache; safe to
    share between threads (two threads asking for a new period at once may
    both compute it; the results are equal).
    """

    __slots__ = ("index", "open", "high", "low", "close", "volume", "_sma")

    index: pd.Index
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray | None

    def __init__(self, index: pd.Index, open: np.ndarray, high: np.ndarray, low: np.ndarray,
                 close: np.ndarray, volume: np.ndarray | None = None) -> None:
        self.index = index
        self.open = _frozen(open)
        self.high = _frozen(high)
        self.low = _frozen(low)
        self.close = _frozen(close)
        self.volume = None if volume is None else _frozen(volume)
        self._sma: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.close)

    def sma(self, period: int) -> np.ndarray:
        """The ``period``-bar simple moving average of ``close`` (NaN for the
        first ``period - 1`` bars; read-only; cached)."""
        if type(period) is int:
            series = self._sma.get(period)
            if series is not None:
                return series
        p = _period(period, "period")
        if p > len(self.close):
            raise ValueError(f"period must be <= the number of bars ({len(self.close)}), got {p}")
        series = self._sma.get(p)
        if series is None:
            series = _frozen(np.asarray(SMA(p).batch(self.close), dtype=np.float64))
            self._sma[p] = series
        return series

    def precompute(self, periods: Iterable[int]) -> None:
        """Compute the SMA series of ``periods`` now (e.g. before pickling the
        data to worker processes, so no worker recomputes them)."""
        for p in periods:
            self.sma(p)

    @property
    def cached_periods(self) -> tuple[int, ...]:
        """The periods whose SMA series are cached, ascending."""
        return tuple(sorted(self._sma))

    def clear_cache(self) -> None:
        """Drop the cached SMA series."""
        self._sma.clear()

    def cache_key(self) -> tuple[Any, ...]:
        """A cheap key for ``CacheKey``: length, first and last timestamp, last close."""
        return ("BarData", len(self.close), self.index[0], self.index[-1], float(self.close[-1]))

    def to_frame(self) -> pd.DataFrame:
        """The bars as a DataFrame (the columns of :func:`load_bars`)."""
        data = {"open": self.open, "high": self.high, "low": self.low, "close": self.close}
        if self.volume is not None:
            data["volume"] = self.volume
        return pd.DataFrame(data, index=self.index).copy()

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in self.__slots__:
            value = state[name]
            if isinstance(value, np.ndarray):
                value = _frozen(value)
            elif name == "_sma":
                value = {int(k): _frozen(v) for k, v in value.items()}
            setattr(self, name, value)

    def __repr__(self) -> str:
        span = f"{self.index[0]} .. {self.index[-1]}" if len(self.index) else "empty"
        return f"<BarData: {len(self.close)} bars, {span}, cached SMA periods {list(self.cached_periods)}>"


def prepare(bars: pd.DataFrame) -> BarData:
    """Validate OHLC bars once and wrap them for many backtests.

    ``bars``: a DataFrame with columns ``open, high, low, close`` (any case,
    e.g. backtesting.py's ``Open``...; ``volume`` optional, extra columns
    ignored) and an index sorted ascending (a DatetimeIndex normally; repeated
    timestamps are allowed, as backtesting.py allows them).  The arrays are
    copied: later changes to ``bars`` do not reach the prepared data.
    Prices must be finite and > 0 (``ValueError`` naming the column and row).
    """
    if isinstance(bars, BarData):
        return bars
    if not isinstance(bars, pd.DataFrame):
        raise TypeError(f"bars must be a pandas DataFrame of OHLC bars, got {type(bars).__name__}")
    arrays = bar_arrays(bars, "bars", strict=False)
    return BarData(bars.index, arrays["open"], arrays["high"], arrays["low"],  # type: ignore[arg-type]
                   arrays["close"], arrays["volume"])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# the backtest
# ---------------------------------------------------------------------------------------
class OpenTrade(NamedTuple):
    """The trade still open at the end (``finalize_trades=False``)."""

    size: int
    entry_bar: int
    entry_time: Any
    entry_price: float
    entry_commission: float
    unrealized_pnl: float  # size * (last close - entry price), before commissions


_TRADE_COLUMNS = ("size", "entry_bar", "exit_bar", "entry_price", "exit_price", "pnl", "commission",
                  "return_pct", "entry_time", "exit_time", "duration")


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """The outcome of one :func:`crossover_backtest` run.

    ``equity``: the account equity at each bar's close (read-only float64,
    one per bar).  ``metrics``: see :data:`METRICS` and ``docs/backtest.md``.
    ``trades``: the closed trades as a DataFrame (built on first access),
    columns ``size`` (signed units), ``entry_bar``, ``exit_bar``,
    ``entry_price``, ``exit_price``, ``pnl`` (after commissions),
    ``commission`` (entry + exit), ``return_pct`` (a fraction, as
    backtesting.py's ``ReturnPct``), ``entry_time``, ``exit_time``,
    ``duration``.  ``open_trade``: the trade left open at the end, or None.
    """

    fast: int
    slow: int
    cash: float
    commission: float
    equity: np.ndarray = field(repr=False)
    metrics: dict[str, float]
    open_trade: OpenTrade | None
    canceled_orders: int
    index: pd.Index = field(repr=False)
    trade_arrays: dict[str, np.ndarray] = field(repr=False)

    @cached_property
    def trades(self) -> pd.DataFrame:
        a = self.trade_arrays
        entry_time = self.index[a["entry_bar"]]
        exit_time = self.index[a["exit_bar"]]
        return pd.DataFrame({
            "size": a["size"], "entry_bar": a["entry_bar"], "exit_bar": a["exit_bar"],
            "entry_price": a["entry_price"], "exit_price": a["exit_price"], "pnl": a["pnl"],
            "commission": a["commission"], "return_pct": a["return_pct"],
            "entry_time": entry_time, "exit_time": exit_time, "duration": exit_time - entry_time,
        }, columns=list(_TRADE_COLUMNS))

    @property
    def equity_curve(self) -> pd.Series:
        """``equity`` as a Series over the bars' index."""
        return pd.Series(self.equity, index=self.index, name="equity")


class _Ledger:
    """The order-by-order part of a run: fills through an IncrementalPositionTracker.

    State carries over between :meth:`run` calls (``finalize_trades`` adds
    one last event after the regular ones)."""

    __slots__ = ("tracker", "rel", "pos", "entry_price", "entry_bar", "entry_comm", "canceled",
                 "trades", "seg_bar", "seg_cash", "seg_pos")

    def __init__(self, cash: float, rel: float) -> None:
        self.tracker = IncrementalPositionTracker(cash)
        self.rel = rel
        self.pos = 0
        self.entry_price = 0.0
        self.entry_bar = -1
        self.entry_comm = 0.0
        self.canceled = 0
        # closed trades: size, entry bar, exit bar, entry price, exit price, entry comm, exit comm
        self.trades: list[tuple[int, int, int, float, float, float, float]] = []
        # after each event: its bar, the tracker's cash, the position
        self.seg_bar: list[int] = []
        self.seg_cash: list[float] = []
        self.seg_pos: list[int] = []

    def _close(self, bar: int, price: float) -> None:
        pos = self.pos
        exit_comm = abs(pos) * price * self.rel
        self.tracker._fill(_SYMBOL, float(-pos), price, exit_comm)
        self.trades.append((pos, self.entry_bar, bar, self.entry_price, price, self.entry_comm, exit_comm))
        self.pos = 0

    def run(self, bars: list[int], dirs: list[int], open_: np.ndarray) -> None:
        """Events: at ``bars[k]``'s open, close the open trade, then (``dirs[k]``
        +1 buy / -1 sell / 0 nothing) open a new one with the whole equity."""
        tracker, rel = self.tracker, self.rel
        # the core's fill, without on_fill's argument checks: prices were checked
        # finite and > 0 by prepare, sizes are non-zero ints, commissions finite
        on_fill = tracker._fill
        prices = open_[bars].tolist() if bars else []
        seg_bar, seg_cash, seg_pos = self.seg_bar, self.seg_cash, self.seg_pos
        for j, d, p in zip(bars, dirs, prices, strict=True):
            if self.pos:
                self._close(j, p)
            if d:
                margin = tracker.cash  # flat now: cash == equity
                if margin < 0.0:
                    margin = 0.0
                # backtesting.py: price plus commission per unit of a _FULL_EQUITY order
                adjusted = p + (_FULL * p * rel) / _FULL
                size = int((margin * _FULL) // adjusted)
                if size == 0 or size * adjusted > margin:
                    self.canceled += 1
                else:
                    comm = size * p * rel
                    pos = size if d > 0 else -size
                    on_fill(_SYMBOL, float(pos), p, comm)
                    self.pos, self.entry_price, self.entry_bar, self.entry_comm = pos, p, j, comm
            seg_bar.append(j)
            seg_cash.append(tracker.cash)
            seg_pos.append(self.pos)

    def equity(self, close: np.ndarray, cash: float) -> np.ndarray:
        """Cash plus the position at each close, from the segments between events."""
        n = len(close)
        if not self.seg_bar:
            return np.full(n, cash)
        bars = np.array(self.seg_bar)
        lengths = np.diff(bars, append=n)
        first = self.seg_bar[0]
        cash_bar = np.empty(n)
        cash_bar[:first] = cash
        cash_bar[first:] = np.repeat(np.array(self.seg_cash), lengths)
        pos_bar = np.zeros(n)
        pos_bar[first:] = np.repeat(np.array(self.seg_pos, dtype=np.float64), lengths)
        equity: np.ndarray = cash_bar + pos_bar * close
        return equity


def _signals(fast: np.ndarray, slow: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Bars ``i >= start`` where fast crosses over slow (+1) or under it (-1).

    Two means within ``TIE_TOLERANCE`` (relative) of each other are equal: the
    rounding of two rolling sums must not turn an exact tie (common with
    prices in cents or ticks) into a crossing."""
    diff = fast - slow
    tol = slow * TIE_TOLERANCE  # prices > 0; NaN during the warm-up compares False
    below = diff < -tol
    above = diff > tol
    up = below[start - 1:-1] & above[start:]
    down = above[start - 1:-1] & below[start:]
    bars = np.flatnonzero(up | down)
    return bars + start, np.where(up[bars], 1, -1)


def _returns_metrics(equity: np.ndarray, ppy: float) -> tuple[float, float, float]:
    """Sharpe, Sortino, volatility with empyrical's definitions, in numpy: only
    for a curve that hits 0 (a -100% return the streaming calculator refuses)."""
    r = equity[1:] / equity[:-1] - 1.0
    if r.size < 2:
        return math.nan, math.nan, math.nan
    sd = float(np.std(r, ddof=1))
    mean = float(np.mean(r))
    sharpe = mean / sd * math.sqrt(ppy) if sd > 0 else math.copysign(math.inf, mean) if mean else math.nan
    down = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    sortino = mean * ppy / (down * math.sqrt(ppy)) if down > 0 else (math.inf if mean > 0 else math.nan)
    return sharpe, sortino, sd * math.sqrt(ppy)


def crossover_backtest(data: BarData | pd.DataFrame, fast: int, slow: int, *,
                       cash: float = 10_000.0, commission: float = 0.0,
                       periods_per_year: float = 252.0,
                       finalize_trades: bool = False, curve_metrics: Sequence[str] = ()) -> BacktestResult:
    """Backtest the SMA crossover ``(fast, slow)`` on ``data`` with
    backtesting.py's ``SmaCross`` rules (module docs).

    ``data``: a :class:`BarData` (from :func:`prepare`; its SMA series are
    cached and shared by every run on it: the grid-search case) or a
    DataFrame of bars (prepared afresh for this run).  ``fast < slow``,
    positive ints, ``slow`` < the number of bars; ``cash`` > 0;
    ``commission`` a fraction of each fill's value in [0, 1);
    ``periods_per_year`` annualizes the per-bar Sharpe, Sortino and
    volatility (252 for daily bars).  ``finalize_trades``: close the trade
    still open at the end, as ``Backtest(..., finalize_trades=True)``.
    ``curve_metrics``: names of :data:`~admf_perf.risk.CURVE_METRICS` added
    to ``metrics`` (the calculator's, per bar, with the close as the
    benchmark; NaN after a ruin).
    """
    fast = _period(fast, "fast")
    slow = _period(slow, "slow")
    if fast >= slow:
        raise ValueError(f"fast must be < slow, got fast={fast}, slow={slow}")
    cash = check_real(cash, "cash", minimum=0.0, open_minimum=True)
    rel = check_real(commission, "commission")
    if not 0.0 <= rel < 1.0:
        raise ValueError(f"commission must be a fraction of the fill value in [0, 1), got {commission!r}")
    ppy = check_real(periods_per_year, "periods_per_year", minimum=0.0, open_minimum=True)
    if not isinstance(finalize_trades, bool):
        raise TypeError(f"finalize_trades must be a bool, got {type(finalize_trades).__name__}")
    curve_metrics = (curve_metrics,) if isinstance(curve_metrics, str) else tuple(curve_metrics)
    unknown = [m for m in curve_metrics if m not in CURVE_METRICS]
    if unknown:
        raise ValueError(f"curve_metrics must be among {', '.join(CURVE_METRICS)}; got {unknown[0]!r}")
    bars = prepare(data) if not isinstance(data, BarData) else data
    n = len(bars)
    if slow >= n:
        raise ValueError(f"slow must be < the number of bars ({n}), got {slow}")

    open_, close = bars.open, bars.close
    start = slow  # backtesting.py: 1 + the SMAs' warm-up (slow - 1 NaNs)
    sig_bars, sig_dirs = _signals(bars.sma(fast), bars.sma(slow), start)
    last_signal = int(sig_dirs[-1]) if sig_bars.size and sig_bars[-1] == n - 1 else 0
    fill = sig_bars + 1
    keep = fill < n
    events, dirs = fill[keep].tolist(), sig_dirs[keep].tolist()

    ledger = _Ledger(cash, rel)
    ledger.run(events, dirs, open_)
    equity = ledger.equity(close, cash)
    ruin = -1
    nonpositive = np.flatnonzero(equity <= 0.0)
    if nonpositive.size:  # out of money at a close: replay up to that bar, close there
        ruin = int(nonpositive[0])
        ledger = _Ledger(cash, rel)
        upto = int(np.searchsorted(fill[keep], ruin, side="right"))
        ledger.run(events[:upto], dirs[:upto], open_)
    elif finalize_trades and (ledger.pos or last_signal):
        ledger.run([n - 1], [last_signal], open_)
        equity = ledger.equity(close, cash)
        if equity[-1] <= 0.0:
            ruin = n - 1
    if ruin >= 0:
        if ledger.pos:
            ledger._close(ruin, float(close[ruin]))
        equity = ledger.equity(close, cash)
        equity[ruin:] = 0.0

    # closed trades
    if ledger.trades:
        size, eb, xb, ep, xp, ec, xc = (np.array(col) for col in zip(*ledger.trades, strict=True))
        size = size.astype(np.int64)
        comm = xc + ec
        pnl = size * (xp - ep) - comm
        ret = np.sign(size) * (xp / ep - 1.0) - comm / (np.abs(size) * ep)
        eb, xb = eb.astype(np.int64), xb.astype(np.int64)
    else:
        size = eb = xb = np.zeros(0, dtype=np.int64)
        ep = xp = comm = pnl = ret = np.zeros(0)
    trade_arrays = {"size": size, "entry_bar": eb, "exit_bar": xb, "entry_price": ep,
                    "exit_price": xp, "pnl": pnl, "commission": comm, "return_pct": ret}

    open_trade = None
    if ledger.pos:
        p = ledger.pos
        open_trade = OpenTrade(p, ledger.entry_bar, bars.index[ledger.entry_bar], ledger.entry_price,
                               ledger.entry_comm, p * (float(close[-1]) - ledger.entry_price))

    # metrics
    if ruin < 0:
        rc = CachingRiskCalculator(ppy, name="crossover_backtest")
        feed(rc, equity, close if any(m in BENCHMARK_METRICS for m in curve_metrics) else None)
        sharpe, sortino, vol = rc.sharpe_ratio(), rc.sortino_ratio(), rc.volatility()
        max_dd = rc.max_drawdown()
        curve = {m: getattr(rc, m)() for m in curve_metrics}
    else:
        sharpe, sortino, vol = _returns_metrics(equity[:ruin + 1], ppy)
        max_dd = -1.0
        curve = dict.fromkeys(curve_metrics, math.nan)
    k = len(pnl)
    if k:
        marks = np.bincount(eb, minlength=n + 1) - np.bincount(xb + 1, minlength=n + 1)
        exposure = float(np.count_nonzero(np.cumsum(marks[:n]) > 0)) / n
        win_rate = float(np.count_nonzero(pnl > 0.0)) / k
    else:
        exposure, win_rate = 0.0, math.nan
    final = float(equity[-1])
    metrics = {
        "total_return": final / cash - 1.0,
        "sharpe": sharpe,
        "sortino": sortino,
        "volatility": vol,
        "max_drawdown": max_dd,
        "trades": k,
        "win_rate": win_rate,
        "exposure": exposure,
        "final_equity": final,
        **curve,
    }
    return BacktestResult(fast, slow, cash, rel, _frozen(equity), metrics, open_trade,
                          ledger.canceled, bars.index, trade_arrays)
