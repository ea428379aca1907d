"""backtesting.py 0.6's statistics of a run (``compute_stats``), same keys,
same definitions, same values (within 1e-9; the test suite runs both).

The definitions are backtesting.py's, quirks included (its Sharpe and
Sortino are not empyrical's; ``Avg. Trade`` is a geometric mean).  The work
is numpy: the daily resampling of the equity curve (for an index without a
time zone at a daily or finer period) and each drawdown's peak, the two
places backtesting.py spends most of its statistics time; pandas keeps the
weekly, monthly and yearly resampling and time-zone-aware indexes, where its
calendar is the definition.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..incremental.risk import CURVE_METRICS, curve_metrics
from .bars import default_periods_per_year

if TYPE_CHECKING:
    from .strategy import Strategy, Trade

#: The keys of a run's statistics, in order (``Commissions [$]`` only when
#: some were paid, as backtesting.py).
STATS_KEYS = (
    "Start", "End", "Duration", "Exposure Time [%]", "Equity Final [$]", "Equity Peak [$]",
    "Commissions [$]", "Return [%]", "Buy & Hold Return [%]", "Return (Ann.) [%]",
    "Volatility (Ann.) [%]", "CAGR [%]", "Sharpe Ratio", "Sortino Ratio", "Calmar Ratio", "Alpha [%]",
    "Beta", "Max. Drawdown [%]", "Avg. Drawdown [%]", "Max. Drawdown Duration", "Avg. Drawdown Duration",
    "# Trades", "Win Rate [%]", "Best Trade [%]", "Worst Trade [%]", "Avg. Trade [%]",
    "Max. Trade Duration", "Avg. Trade Duration", "Profit Factor", "Expectancy [%]", "SQN",
    "Kelly Criterion", "_strategy", "_equity_curve", "_trades",
)


class _Stats(pd.Series):
    """The statistics Series (its repr shows every row, 5 digits)."""

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", 20, "display.max_rows", len(self),
                               "display.precision", 5):
            return super().fillna(np.nan).to_string(na_rep="--", dtype=True)


def _data_period(index: pd.Index) -> Any:
    """The median spacing of the last 100 bars (a Timedelta on a
    DatetimeIndex)."""
    if isinstance(index, pd.DatetimeIndex):
        diffs = np.diff(index[-100:].asi8)
        if not len(diffs):
            return pd.NaT
        # pandas' median of timedelta64[unit]: the float median truncated to
        # the unit (the mean of two middle spans 1 s apart, on a seconds
        # index, is the shorter one; on a nanoseconds one the same half-tick cut)
        return pd.Timedelta(int(np.median(diffs)), unit=index.unit)
    values = pd.Series(index[-100:])
    return values.diff().dropna().median()


def _drawdown_duration_peaks(dd: np.ndarray, index: pd.Index) -> tuple[pd.Series, np.ndarray]:
    """backtesting.py's ``compute_drawdown_duration_peaks``: for each
    drawdown (a run of bars between two new equity peaks, or to the end), its
    duration at the bar where it ends (NaN elsewhere), and the deepest points."""
    n = len(dd)
    iloc = np.unique(np.r_[np.flatnonzero(dd == 0), n - 1])
    prev, cur = iloc[:-1], iloc[1:]
    keep = cur > prev + 1
    prev, cur = prev[keep], cur[keep]
    if not len(cur):
        s = pd.Series(dd, index=index).replace(0, np.nan)
        return s, s.to_numpy()
    # each drawdown's deepest point: a max over [prev, cur] (segments between
    # them are reduced too, and dropped)
    bounds = np.empty(2 * len(cur), dtype=np.intp)
    bounds[0::2], bounds[1::2] = prev, cur + 1
    if bounds[-1] == n:
        bounds = bounds[:-1]
    peaks = np.fmax.reduceat(dd, bounds)[0::2]
    if isinstance(index, pd.DatetimeIndex) and index.is_unique:
        return _Durations(cur, prev, index), peaks
    # backtesting.py places both by label (a reindex on the index): a label
    # that repeats gets its drawdown's figures at each of its bars, and they
    # count once per bar in the averages
    at = index[cur]
    duration = (pd.Series(index[cur], index=at) - pd.Series(index[prev], index=at)).reindex(index)
    return duration, pd.Series(peaks, index=at).reindex(index).to_numpy()


_UNIT_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


class _Durations:
    """Time spans ``index[end] - index[start]`` on a DatetimeIndex, with
    pandas' max and mean of a timedelta Series (a NaN-free one: its mean is
    the float mean of the integer spans), and the full-length Series of them
    (at ``end``, NaT elsewhere) built only when asked."""

    def __init__(self, end: np.ndarray, start: np.ndarray, index: pd.DatetimeIndex) -> None:
        values = index.asi8
        self.spans = values[end] - values[start]
        self.end = end
        self.index = index

    def max(self) -> pd.Timedelta:
        return pd.Timedelta(int(self.spans.max()), unit=self.index.unit)

    def mean(self) -> pd.Timedelta:
        # pandas: a float64 sum over the count, truncated to the unit
        return pd.Timedelta(int(np.int64(self.spans.sum(dtype=np.float64) / len(self.spans))),
                            unit=self.index.unit)

    @property
    def series(self) -> pd.Series:
        full = np.full(len(self.index), np.iinfo(np.int64).min, dtype=np.int64)  # NaT
        full[self.end] = self.spans
        return pd.Series(full.view(f"m8[{self.index.unit}]"), index=self.index)


def _geometric_mean(returns: np.ndarray) -> float:
    r = np.where(np.isnan(returns), 0, returns) + 1
    if np.any(r <= 0):
        return 0
    return float(np.exp(np.log(r).sum() / (len(r) or np.nan)) - 1)


def _day_returns(equity: np.ndarray, index: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """``Series(equity, index).resample(freq).last().dropna().pct_change().dropna()``."""
    if freq == "D" and index.tz is None:
        days = index.values.astype("datetime64[D]")
        last = np.r_[np.flatnonzero(days[1:] != days[:-1]), len(days) - 1]
        x = equity[last]
        x = x[~np.isnan(x)]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = x[1:] / x[:-1] - 1
        return r[~np.isnan(r)]
    s = pd.Series(equity, index=index).resample(freq).last().dropna().pct_change().dropna()
    return s.to_numpy()


def _trades_frame(trades: list[Trade], index: pd.Index, strategy: Strategy | None,
                  pl: np.ndarray, returns: np.ndarray) -> pd.DataFrame:
    """backtesting.py's ``_trades`` table: one row per closed trade, then the
    value of every indicator at each trade's entry and exit."""
    if not trades:
        empty: list[Any] = []
        df = pd.DataFrame({k: empty for k in (
            "Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "SL", "TP", "PnL", "Commission",
            "ReturnPct", "EntryTime", "ExitTime")})
        df["Duration"] = df["ExitTime"] - df["EntryTime"]
        df["Tag"] = empty
        return df
    entry = np.array([t._entry_bar for t in trades])
    exit_ = np.array([t._exit_bar for t in trades])
    entry_time, exit_time = index[entry], index[exit_]
    none = [None] * len(trades)
    columns: dict[str, Any] = {
        "Size": np.array([t._size for t in trades]),
        "EntryBar": entry,
        "ExitBar": exit_,
        "EntryPrice": np.array([t._entry_price for t in trades], dtype=float),
        "ExitPrice": np.array([t._exit_price for t in trades]),   # the raw price: int64 on int data
        "SL": none,
        "TP": none,
        "PnL": pl,
        "Commission": np.array([t._commissions for t in trades]),
        "ReturnPct": returns,
        "EntryTime": entry_time,
        "ExitTime": exit_time,
        "Duration": exit_time - entry_time,
        "Tag": [t._tag for t in trades],
    }
    if strategy is not None:
        for ind in strategy._indicators:
            ind2 = np.atleast_2d(ind)
            name = ind2.name
            for i, values in enumerate(np.asarray(ind2)):
                suffix = f"_{i}" if len(ind2) > 1 else ""
                columns[f"Entry_{name}{suffix}"] = values[entry]
                columns[f"Exit_{name}{suffix}"] = values[exit_]
    return pd.DataFrame(columns)


def _mean(a: np.ndarray) -> float:
    return float(a.mean()) if len(a) else np.nan


#: The statistics of a run's closed trades alone, in the order of the Series.
TRADE_KEYS = ("Win Rate [%]", "Best Trade [%]", "Worst Trade [%]", "Avg. Trade [%]", "Profit Factor",
              "Expectancy [%]", "SQN", "Kelly Criterion")
#: What a grid's run scored by one key needs no more than (``only=``): the
#: trades' statistics, the final equity and return, and the equity curve
#: (the risk calculator's metrics).
_CHEAP = frozenset(("# Trades", "Equity Final [$]", "Equity Peak [$]", "Return [%]", *TRADE_KEYS,
                    *CURVE_METRICS))


def _trade_stats(pl: np.ndarray, returns: Callable[[], np.ndarray] | np.ndarray,
                 only: str | None = None) -> dict[str, Any]:
    """:data:`TRADE_KEYS` from the trades' P&L and returns (or a function
    making them: read only by the keys that need them); ``only``: that key
    alone, computed as in the full set."""
    n_trades = len(pl)
    rets = (lambda: returns) if isinstance(returns, np.ndarray) else functools.cache(returns)

    def win_rate() -> Any:
        return np.nan if not n_trades else (pl > 0).mean()

    def kelly() -> Any:
        w = win_rate()
        return w - (1 - w) / (_mean(pl[pl > 0]) / -_mean(pl[pl < 0]))

    def profit_factor() -> Any:
        r = rets()
        return r[r > 0].sum() / (abs(r[r < 0].sum()) or np.nan)

    @functools.cache
    def valid() -> np.ndarray:    # pandas' max/min/mean skip NaN (a trade entered at 0)
        r = rets()
        return r[~np.isnan(r)]

    stats: dict[str, Callable[[], Any]] = {
        "Win Rate [%]": lambda: win_rate() * 100,
        "Best Trade [%]": lambda: (valid().max() if len(valid()) else np.nan) * 100,
        "Worst Trade [%]": lambda: (valid().min() if len(valid()) else np.nan) * 100,
        "Avg. Trade [%]": lambda: _geometric_mean(rets()) * 100,
        "Profit Factor": profit_factor,
        "Expectancy [%]": lambda: _mean(valid()) * 100,
        "SQN": lambda: np.sqrt(n_trades) * _mean(pl) / ((pl.std(ddof=1) if n_trades > 1 else np.nan) or np.nan),
        "Kelly Criterion": kelly,
    }
    return {k: f() for k, f in stats.items() if only is None or k == only}


def compute_stats(trades: list[Trade], equity: np.ndarray, ohlc: pd.DataFrame, arrays: dict[str, Any],
                  strategy: Strategy | None, first_trading_bar: int, risk_free_rate: float = 0.0,
                  frames: bool = True, only: str | None = None) -> Any:
    """The statistics Series of a run (backtesting.py's, key for key).

    ``frames=False``: only the statistics (a dict without ``_strategy``,
    ``_equity_curve`` and ``_trades``), what a grid's run is scored on.
    ``only`` (with ``frames=False``): the score reads this key alone; when
    it is one of the cheap ones (the trades' statistics, the final equity,
    a risk-calculator metric), the dict holds only ``# Trades``, that key
    and ``_equity``."""
    if only in _CHEAP and not frames:
        pl = np.array([t.pl for t in trades], dtype=float)
        out = {"# Trades": len(trades), "Equity Final [$]": equity[-1], "Equity Peak [$]": equity.max(),
               "Return [%]": (equity[-1] - equity[0]) / equity[0] * 100, "_equity": equity}
        if only in TRADE_KEYS:
            out.update(_trade_stats(pl, lambda: np.array([t.pl_pct for t in trades], dtype=float), only))
        return out
    index = ohlc.index
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = 1 - equity / np.maximum.accumulate(equity)
    dd_dur, dd_peaks = _drawdown_duration_peaks(dd, index)
    commissions = 0     # backtesting.py's sum() of float64 terms: left to right on every Python
    for t in trades:
        commissions = commissions + t._commissions
    n_trades = len(trades)
    pl = np.array([t.pl for t in trades], dtype=float)
    returns = np.array([t.pl_pct for t in trades], dtype=float)
    trades_df = _trades_frame(trades, index, strategy, pl, returns) if frames or not n_trades else None
    if not n_trades:
        durations: Any = trades_df["Duration"]
    elif isinstance(index, pd.DatetimeIndex):
        durations = None
    elif trades_df is not None:
        durations = trades_df["Duration"]
    else:  # the frame's column, without the frame: ExitTime - EntryTime
        durations = pd.Series(np.asarray(index[[t._exit_bar for t in trades]])
                              - np.asarray(index[[t._entry_bar for t in trades]]))

    period = _data_period(index)

    def _round_timedelta(value: Any) -> Any:
        if not isinstance(value, pd.Timedelta):
            return value
        resolution = getattr(period, "resolution_string", None) or period.resolution
        return value.ceil(resolution)

    s: dict[str, Any] = {}
    s["Start"] = index[0]
    s["End"] = index[-1]
    s["Duration"] = s["End"] - s["Start"]
    n = len(index)
    if n_trades:
        marks = np.zeros(n + 1, dtype=np.int64)
        np.add.at(marks, np.asarray([t._entry_bar for t in trades]), 1)
        np.add.at(marks, np.asarray([t._exit_bar for t in trades]) + 1, -1)
        have_position = (np.cumsum(marks[:-1]) > 0).astype(np.int64)
    else:
        have_position = np.zeros(n, dtype=np.int64)
    s["Exposure Time [%]"] = have_position.mean() * 100
    s["Equity Final [$]"] = equity[-1]
    s["Equity Peak [$]"] = equity.max()
    if commissions:
        s["Commissions [$]"] = commissions
    s["Return [%]"] = (equity[-1] - equity[0]) / equity[0] * 100
    c = np.asarray(arrays["Close"])
    s["Buy & Hold Return [%]"] = (c[-1] - c[first_trading_bar]) / c[first_trading_bar] * 100

    gmean_day_return: float = 0
    day_returns: np.ndarray = np.array(np.nan)
    annual_trading_days: float = np.nan
    is_datetime_index = isinstance(index, pd.DatetimeIndex)
    if is_datetime_index:
        freq_days = period.days
        dow = (index.asi8 // _UNIT_PER_DAY[index.unit] + 3) % 7 if index.tz is None else index.dayofweek
        have_weekends = ((dow >= 5) & (dow <= 6)).mean() > 2 / 7 * .6
        annual_trading_days = (52 if freq_days == 7 else 12 if freq_days == 31 else
                               1 if freq_days == 365 else (365 if have_weekends else 252))
        freq = {7: "W", 31: "ME", 365: "YE"}.get(freq_days, "D")
        day_returns = _day_returns(equity, index, freq)
        gmean_day_return = _geometric_mean(day_returns)

    annualized_return = (1 + gmean_day_return) ** annual_trading_days - 1
    s["Return (Ann.) [%]"] = annualized_return * 100
    if day_returns.ndim:
        var = day_returns.var(ddof=1) if len(day_returns) > 1 else np.nan
    else:
        var = np.nan
    s["Volatility (Ann.) [%]"] = np.sqrt((var + (1 + gmean_day_return) ** 2) ** annual_trading_days
                                         - (1 + gmean_day_return) ** (2 * annual_trading_days)) * 100
    if is_datetime_index:
        time_in_years = (s["Duration"].days + s["Duration"].seconds / 86400) / 365.25
        s["CAGR [%]"] = (((s["Equity Final [$]"] / equity[0]) ** (1 / time_in_years) - 1) * 100
                         if time_in_years else np.nan)
    s["Sharpe Ratio"] = ((s["Return (Ann.) [%]"] - risk_free_rate * 100)
                         / (s["Volatility (Ann.) [%]"] or np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        downside = np.clip(day_returns, -np.inf, 0) ** 2
        downside_mean = (downside.mean() if downside.ndim and len(downside) else
                         np.nan if downside.ndim else float(downside))
        s["Sortino Ratio"] = ((annualized_return - risk_free_rate)
                              / (np.sqrt(downside_mean) * np.sqrt(annual_trading_days)))
    max_dd = -np.nan_to_num(dd.max())
    s["Calmar Ratio"] = annualized_return / (-max_dd or np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        equity_log_returns = np.log(equity[1:] / equity[:-1])
        market_log_returns = np.log(c[1:] / c[:-1])
    beta = np.nan
    if len(equity_log_returns) > 1 and len(market_log_returns) > 1:
        cov_matrix = np.cov(equity_log_returns, market_log_returns)
        beta = cov_matrix[0, 1] / cov_matrix[1, 1]
    s["Alpha [%]"] = (s["Return [%]"] - risk_free_rate * 100
                      - beta * (s["Buy & Hold Return [%]"] - risk_free_rate * 100))
    s["Beta"] = beta
    s["Max. Drawdown [%]"] = max_dd * 100
    s["Avg. Drawdown [%]"] = -np.nanmean(dd_peaks) * 100 if np.any(~np.isnan(dd_peaks)) else np.nan
    if isinstance(dd_dur, _Durations):
        s["Max. Drawdown Duration"] = _round_timedelta(dd_dur.max())
        s["Avg. Drawdown Duration"] = _round_timedelta(dd_dur.mean())
        dd_dur = dd_dur.series
    else:
        s["Max. Drawdown Duration"] = _round_timedelta(dd_dur.max())
        s["Avg. Drawdown Duration"] = _round_timedelta(dd_dur.mean())
    s["# Trades"] = n_trades
    trade_stats = _trade_stats(pl, returns)
    s.update((k, trade_stats[k]) for k in TRADE_KEYS[:4])
    if durations is None:  # a DatetimeIndex and trades: the same as the column's max and mean
        d = _Durations(np.array([t._exit_bar for t in trades]), np.array([t._entry_bar for t in trades]),
                       index)
        s["Max. Trade Duration"] = _round_timedelta(d.max())
        s["Avg. Trade Duration"] = _round_timedelta(d.mean())
    else:
        s["Max. Trade Duration"] = _round_timedelta(durations.max())
        s["Avg. Trade Duration"] = _round_timedelta(durations.mean())
    s.update((k, trade_stats[k]) for k in TRADE_KEYS[4:])
    if not frames:
        s["_equity"] = equity  # a grid's run: its returns feed the search's overfitting measures
        return s
    s["_strategy"] = strategy
    s["_equity_curve"] = pd.DataFrame({"Equity": equity, "DrawdownPct": dd, "DrawdownDuration": dd_dur},
                                      index=index)
    s["_trades"] = trades_df
    return _Stats(s, dtype=object)


def _bfill(eq: np.ndarray, cash: float) -> np.ndarray:
    """pandas' ``Series(eq).bfill().fillna(cash)`` for an array whose NaNs
    lead (the bars before the first ``next``)."""
    nan = np.isnan(eq)
    if nan.any():
        first = int(nan.argmin())           # the first valid value, if any
        if not nan[first] and not nan[first:].any():    # NaNs only lead: it fills them
            eq = eq.copy()
            eq[:first] = eq[first]
            return eq
        valid = np.flatnonzero(~nan)
        if not len(valid):
            return np.full_like(eq, cash)
        # each NaN takes the next valid value
        idx = np.searchsorted(valid, np.arange(len(eq)))
        filled = np.where(idx < len(valid), eq[valid[np.minimum(idx, len(valid) - 1)]], cash)
        eq = np.where(nan, filled, eq)
    return eq


def stat_score(maximize: str, data: pd.DataFrame) -> Callable[[Mapping[str, Any]], float]:
    """The score of a run's statistics by ``maximize``: a key of them, or one
    of the risk calculator's :data:`~admf_perf.risk.CURVE_METRICS`, computed
    on the run's equity per bar (annualized by the bars' frequency: 252 a
    year for daily bars) with ``data``'s Close (buy and hold) as the
    benchmark of alpha, beta and the information ratio."""
    if maximize in CURVE_METRICS:
        close = data["Close"].to_numpy(dtype=np.float64)
        ppy = default_periods_per_year(data.index)

        def score(stats: Mapping[str, Any]) -> float:
            equity = stats["_equity"] if "_equity" in stats else stats["_equity_curve"]["Equity"].to_numpy()
            return curve_metrics((maximize,), equity, close, ppy)[maximize]
        return score
    if maximize not in STATS_KEYS:
        raise ValueError("`maximize`, if str, must match a key in pd.Series result of backtest.run() "
                         f"or be one of the risk calculator's metrics ({', '.join(CURVE_METRICS)}), "
                         f"got {maximize!r}")
    return lambda stats: stats[maximize]
