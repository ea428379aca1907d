"""Research: backtests and the optimizer over bar data.  Everything in this
folder needs pandas (``import admf_perf`` loads it on first use).

- :mod:`.bars`: the one reader of bar files (CSV through ``load_csv``, or
  Parquet), and synthetic bars;
- :mod:`.backtest`: the SMA crossover engine (equal to backtesting.py's
  ``SmaCross``), ``BarData``, ``prepare``;
- :mod:`.strategy`: ``Strategy``, ``Backtest`` and ``crossover``, the
  backtesting.py-compatible engine for your own strategies;
- :mod:`.optimize`: the grid search of ``admf-perf optimize``.

Semantics: docs/backtest.md, docs/strategies.md, docs/optimize.md.
"""
from __future__ import annotations

from .backtest import BacktestResult, BarData, crossover_backtest, prepare
from .bars import OHLCV, bar_arrays, load_bars, synthetic_bars
from .optimize import OptimizationReport, OptimizationSettings, TopN, run_grid_search
from .strategy import Backtest, Strategy, crossover

__all__ = [
    "OHLCV", "Backtest", "BacktestResult", "Strategy", "crossover",
    "BarData", "OptimizationReport", "OptimizationSettings", "TopN", "bar_arrays",
    "crossover_backtest", "load_bars", "prepare", "run_grid_search", "synthetic_bars",
]
