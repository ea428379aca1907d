"""Walk-forward analysis: optimize on a training window, trade the next test
window with the chosen parameters, move on by one test window.

``admf-perf optimize --walk-forward TRAIN:TEST[:anchored]`` (bars), for the
built-in SMA crossover and for ``--strategy``; :func:`walk_forward` is the API.

- Windows: the first trains on bars ``[0, TRAIN)`` and tests on ``[TRAIN,
  TRAIN + TEST)``; each next one starts ``TEST`` bars later. ``anchored``:
  every training window starts at bar 0 (it grows). The last test window
  ends at the data's end; one shorter than TEST is dropped.
- Each training window runs the whole search (grid or random, with the same
  options) and keeps its best parameter set by the search's metric.
- Each out-of-sample run is a fresh backtest of the test window's bars alone
  with those parameters: it starts flat (no position carried in), its
  indicators warm up inside the window, and its cash is the previous test
  window's final equity (the first one's: the starting cash). A window whose
  best has no finite score is skipped (the cash carries over unchanged).
- The stitched out-of-sample equity is the test windows' equity curves end to
  end; its statistics are the risk calculator's (Sharpe, Sortino and
  volatility annualized by ``periods_per_year``, max drawdown, total return).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._validate import check_int
from ..incremental.risk import CachingRiskCalculator

__all__ = ["WalkForwardReport", "crossover_walk_forward", "format_walk_forward", "parse_walk_forward",
           "strategy_walk_forward", "walk_forward", "windows"]


def parse_walk_forward(text: str) -> tuple[int, int, bool]:
    """``TRAIN:TEST[:anchored]`` (bars) -> ``(train, test, anchored)``."""
    parts = str(text).split(":")
    try:
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].strip().lower() != "anchored"):
            raise ValueError
        train, test = int(parts[0]), int(parts[1])
    except ValueError:
        raise ValueError(f"--walk-forward must be TRAIN:TEST[:anchored] (bars), got {text!r}") from None
    if train < 2 or test < 2:
        raise ValueError(f"--walk-forward: TRAIN and TEST must be >= 2 bars, got {text!r}")
    return train, test, len(parts) == 3


def windows(n: int, train: int, test: int, anchored: bool = False) -> list[tuple[int, int, int, int]]:
    """``(train_start, train_end, test_start, test_end)`` bar ranges (end
    exclusive) over ``n`` bars."""
    check_int(train, "train", minimum=2)
    check_int(test, "test", minimum=2)
    out = []
    start = 0
    while start + train + test <= n:
        out.append((0 if anchored else start, start + train, start + train, start + train + test))
        start += test
    if not out:
        raise ValueError(f"--walk-forward {train}:{test}: {n} bars hold no training window of {train} bars "
                         f"followed by a test window of {test}")
    return out


@dataclass
class WalkForwardReport:
    """One row per window, and the stitched out-of-sample equity's figures."""

    train: int
    test: int
    anchored: bool
    metric: str
    rows: list[dict[str, Any]]
    equity: np.ndarray = field(repr=False)
    stats: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["equity"] = [float(x) for x in self.equity]
        return out


def _stats(equity: np.ndarray, periods_per_year: float) -> dict[str, float]:
    rc = CachingRiskCalculator(periods_per_year=periods_per_year, name="walk-forward")
    for x in equity:
        rc.update(float(x))
    ret = float(equity[-1] / equity[0] - 1.0) if len(equity) else math.nan
    return {"total_return": ret, "sharpe": rc.sharpe_ratio(), "sortino": rc.sortino_ratio(),
            "volatility": rc.volatility(), "max_drawdown": rc.max_drawdown(),
            "final_equity": float(equity[-1]) if len(equity) else math.nan}


def walk_forward(data: pd.DataFrame, train: int, test: int, anchored: bool, *,
                 optimize: Callable[[pd.DataFrame], dict[str, Any] | None],
                 evaluate: Callable[[pd.DataFrame, dict[str, Any], float], tuple[np.ndarray, float]],
                 cash: float, metric: str, params: list[str], periods_per_year: float = 252.0) -> WalkForwardReport:
    """The walk-forward of ``data`` (module docs).

    ``optimize(train_bars)`` returns the best row of a search on them (its
    parameters under ``params`` and its ``"score"``), or None; ``evaluate(
    test_bars, row, cash)`` backtests them and returns ``(equity curve,
    the out-of-sample score by the same metric)``."""
    rows = []
    pieces: list[np.ndarray] = []
    carry = float(cash)
    index = data.index
    for a, b, c, d in windows(len(data), train, test, anchored):
        best = optimize(data.iloc[a:b])
        row: dict[str, Any] = {"train_start": str(index[a]), "train_end": str(index[b - 1]),
                               "test_start": str(index[c]), "test_end": str(index[d - 1])}
        if best is None or not math.isfinite(best.get("score", math.nan)):
            row.update({p: None for p in params}, in_sample=math.nan, out_of_sample=math.nan, start_cash=carry,
                       end_equity=carry)
            pieces.append(np.full(d - c, carry))
        else:
            equity, oos = evaluate(data.iloc[c:d], best, carry)
            row.update({p: best[p] for p in params}, in_sample=float(best["score"]), out_of_sample=float(oos),
                       start_cash=carry, end_equity=float(equity[-1]))
            pieces.append(np.asarray(equity, dtype=float))
            carry = float(equity[-1])
        rows.append(row)
    equity = np.concatenate(pieces)
    return WalkForwardReport(train, test, anchored, metric, rows, equity, _stats(equity, periods_per_year))


def format_walk_forward(report: WalkForwardReport) -> str:
    """The windows table and the stitched out-of-sample figures."""
    if not report.rows:
        return ""
    params = [k for k in report.rows[0] if k not in ("train_start", "train_end", "test_start", "test_end",
                                                      "in_sample", "out_of_sample", "start_cash", "end_equity")]

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return "nan" if v != v else f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return str(v)

    head = ["#", "train", "test", *params, f"in-sample {report.metric}", f"out-of-sample {report.metric}",
            "end equity"]
    body = [[str(i + 1), f"{r['train_start'][:10]}..{r['train_end'][:10]}",
             f"{r['test_start'][:10]}..{r['test_end'][:10]}", *(cell(r[p]) for p in params),
             cell(r["in_sample"]), cell(r["out_of_sample"]), cell(r["end_equity"])] for i, r in enumerate(report.rows)]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    s = report.stats
    return "\n".join([
        f"walk-forward: {len(report.rows)} windows, train {report.train} bars"
        f"{' (anchored: from the first bar)' if report.anchored else ''}, test {report.test} bars; each test "
        "window starts flat with the cash carried forward",
        line(head), line(["-" * w for w in widths]), *(line(r) for r in body),
        f"out of sample, stitched: return {s['total_return']:.2%}, Sharpe {s['sharpe']:.3f}, Sortino "
        f"{s['sortino']:.3f}, max drawdown {s['max_drawdown']:.2%}, final equity {s['final_equity']:,.2f}",
    ])


def crossover_walk_forward(bars: pd.DataFrame, fast: list[int], slow: list[int], settings: Any, train: int,
                           test: int, anchored: bool, **search: Any) -> WalkForwardReport:
    """The walk-forward of the built-in SMA crossover: each training window is
    :func:`~admf_perf.research.optimize.run_grid_search` (``search``: its
    keyword arguments), each test window :func:`crossover_backtest`."""
    from .backtest import crossover_backtest
    from .optimize import run_grid_search

    longest = max(slow)
    if test <= longest or train <= longest:
        raise ValueError(f"--walk-forward {train}:{test}: both windows must be longer than the slowest period "
                         f"({longest} bars), so its SMA exists inside them")
    key = settings.metric_key

    def optimize(train_bars: pd.DataFrame) -> dict[str, Any] | None:
        top = run_grid_search(train_bars, fast, slow, settings, **search).top
        return {**top[0], "score": top[0][key]} if top else None

    def evaluate(test_bars: pd.DataFrame, row: dict[str, Any], cash: float) -> tuple[np.ndarray, float]:
        r = crossover_backtest(test_bars, row["fast"], row["slow"], cash=cash, commission=settings.commission,
                               periods_per_year=settings.periods_per_year, curve_metrics=settings.curve_metrics)
        return r.equity, r.metrics[key]

    return walk_forward(bars, train, test, anchored, optimize=optimize, evaluate=evaluate, cash=settings.cash,
                        metric=settings.metric, params=["fast", "slow"], periods_per_year=settings.periods_per_year)


def strategy_walk_forward(bars: pd.DataFrame, spec: str, params: list[tuple[str, list[Any]]], train: int, test: int,
                          anchored: bool, *, maximize: str = "SQN", cash: float = 10_000.0,
                          commission: float = 0.0, periods_per_year: float = 252.0,
                          **search: Any) -> WalkForwardReport:
    """The walk-forward of a user's strategy: each training window is
    :func:`~admf_perf.research.strategy_search.run_strategy_search`, each
    test window a :class:`~admf_perf.Backtest` run (its score: the same
    statistic, NaN without trades)."""
    import warnings

    from .bars import OHLCV
    from .strategy import Backtest
    from .strategy_search import _stat, load_strategy, run_strategy_search

    cls = load_strategy(spec)
    bars = bars.rename(columns={c: c.capitalize() for c in bars.columns if str(c) in OHLCV})
    names = [n for n, _ in params]

    def optimize(train_bars: pd.DataFrame) -> dict[str, Any] | None:
        top = run_strategy_search(train_bars, spec, params, maximize=maximize, cash=cash, commission=commission,
                                  **search).top
        return top[0] if top else None

    def evaluate(test_bars: pd.DataFrame, row: dict[str, Any], start: float) -> tuple[np.ndarray, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            stats = Backtest(test_bars, cls, cash=start, commission=commission)._run(
                {n: row[n] for n in names}, frames=False)
        return stats["_equity"], (_stat(stats, maximize) if stats["# Trades"] else math.nan)

    return walk_forward(bars, train, test, anchored, optimize=optimize, evaluate=evaluate, cash=cash,
                        metric=maximize, params=names, periods_per_year=periods_per_year)
