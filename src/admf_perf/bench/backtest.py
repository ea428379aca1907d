"""Crossover backtest scenarios (issue 5, section 5): one SMA-crossover backtest
of ORCL daily bars (1995-2014, 5,036 bars), fast=10, slow=30, cash 10,000,
commission 0.2%, beside backtesting.py running its ``SmaCross`` example on the
same DataFrame in the same run.

* ``crossover backtest ORCL 10/30``: gate <= 0.05x backtesting.py.  One
  operation of ours is ``crossover_backtest(df, 10, 30, ...)`` on the
  DataFrame: a fresh :func:`~admf_perf.backtest.prepare` (validation, array
  copies), BOTH SMA series computed (no cache is warm), the simulation, the
  equity curve and the metrics -- everything a first run on a new data set
  does.  backtesting.py's operation is ``Backtest(df, SmaCross, ...).run()``
  (constructor included, as ours includes ``prepare``); its warnings are
  silenced and its progress bar (tqdm, when installed) disabled.
* ``crossover backtest ORCL 10/30, warm (context)``: ours on a prepared
  :class:`~admf_perf.backtest.BarData` whose SMA(10) and SMA(30) are cached,
  the grid-search case (every parameter set after the first that shares a
  period); ungated, backtesting.py shown for the ratio in the wall-clock
  mode (a context implementation: the deterministic mode counted it in the
  scenario above).

The bars come from ``../shared/data/ohlcv/orcl-1995-2014-daily.csv``
relative to the repository root (found from the working directory, else from
this file's path); without it, a synthetic random walk of the same length
is used (both implementations get the same DataFrame).  Either way the
DataFrame has backtesting.py's column names (``Open``...), which ours reads
case-insensitively.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from admf_perf.bench.scenario import Gate, Impl, Scenario, register, shared_data_file

__all__ = ["CASH", "COMMISSION", "FAST", "SLOW", "orcl_bars", "orcl_path", "sma_cross", "sma_cross_strategy"]

GROUP = "backtest"
FAST, SLOW = 10, 30
CASH = 10_000.0
COMMISSION = 0.002
ORCL_FILE = "orcl-1995-2014-daily.csv"
ORCL_BARS = 5_036

Names = Mapping[str, Any]


def orcl_path() -> Path | None:
    """The shared ORCL daily CSV (``../shared/data/ohlcv/`` beside the repo), or None."""
    return shared_data_file("ohlcv", ORCL_FILE)


@functools.cache
def orcl_bars(quick: bool = False) -> list[Any]:
    """One DataFrame (one operation): the ORCL bars with backtesting.py's
    column names, or a synthetic walk of the same length when the file is absent."""
    from admf_perf.research.backtest import load_bars, synthetic_bars

    path = orcl_path()
    bars = load_bars(path) if path is not None else synthetic_bars(ORCL_BARS, seed=5036, start="1995-01-03")
    return [bars.rename(columns=str.capitalize)]


def _ours_cold() -> Names:
    from admf_perf.research.backtest import crossover_backtest

    return {"run": functools.partial(crossover_backtest, fast=FAST, slow=SLOW, cash=CASH,
                                     commission=COMMISSION)}


def _ours_warm() -> Names:
    from admf_perf.research.backtest import crossover_backtest, prepare

    data = prepare(orcl_bars(False)[0])
    data.precompute((FAST, SLOW))

    def run(df: Any) -> Any:  # the prepared data, not df: the cache is warm
        return crossover_backtest(data, FAST, SLOW, cash=CASH, commission=COMMISSION)

    return {"run": run}


def sma(values: Any, n: int) -> Any:
    """The simple moving average the bench's strategies use: a pandas rolling
    mean, as ``backtesting.test.SMA``."""
    import pandas as pd

    return pd.Series(values).rolling(n).mean()


def sma_cross(base: type, crossover: Any, name: str = "SmaCross", n1: int = FAST, n2: int = SLOW) -> type:
    """backtesting.py's ``SmaCross`` example (its rules verbatim; SMAs of the
    close, a pandas rolling mean as ``backtesting.test.SMA``; parameters
    ``n1``, ``n2``) as a subclass of ``base`` (``admf_perf.Strategy`` or
    ``backtesting.Strategy``) using that library's ``crossover``, published
    as this module's attribute ``name`` (backtesting.py's pool pickles the
    class by name)."""

    class SmaCross(base):  # type: ignore[valid-type,misc]
        def init(self) -> None:
            self.sma1 = self.I(sma, self.data.Close, self.n1)
            self.sma2 = self.I(sma, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell()

    SmaCross.n1, SmaCross.n2 = n1, n2
    SmaCross.__name__ = SmaCross.__qualname__ = name
    SmaCross.__module__ = __name__
    globals()[name] = SmaCross
    return SmaCross


def sma_cross_strategy(fast: int = FAST, slow: int = SLOW) -> Any:
    """:func:`sma_cross` on backtesting.py with these periods: the reference
    of the bench and of ``tests/test_backtest.py``.  Raises ``ImportError``
    without backtesting.py."""
    from backtesting import Strategy
    from backtesting.lib import crossover

    return sma_cross(Strategy, crossover, "SmaCross", fast, slow)


def _backtesting() -> Names:
    import backtesting.backtesting as bt_module  # ImportError: the anchor is skipped
    from backtesting import Backtest

    bt_module._tqdm = lambda seq, **_: seq  # no progress bar (and no tqdm cost) in the timings
    SmaCross = sma_cross_strategy()

    def run(df: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Backtest(df, SmaCross, cash=CASH, commission=COMMISSION).run()

    return {"run": run}


_BT = "backtesting.py"
_OP = (f"one SMA-crossover backtest (fast={FAST}, slow={SLOW}, cash {CASH:,.0f}, commission "
       f"{COMMISSION:.1%}) over ORCL daily, {ORCL_BARS:,} bars")

register(
    Scenario(
        f"crossover backtest ORCL {FAST}/{SLOW}", GROUP,
        _OP + ": ours from the DataFrame (prepare + both SMAs + simulation + metrics) vs "
        "Backtest(df, SmaCross, ...).run()",
        "run(df)", orcl_bars,
        Impl("admf_perf crossover_backtest", _ours_cold),
        (Impl(_BT, _backtesting),),
        gate=Gate(0.05, (_BT,), "backtesting.py Backtest.run (SmaCross)"),
        var="df",
    ),
    Scenario(
        f"crossover backtest ORCL {FAST}/{SLOW}, warm (context)", GROUP,
        _OP + ": ours on a prepared BarData with both SMAs cached (a grid search's later runs)",
        "run(df)", orcl_bars,
        Impl("admf_perf crossover_backtest (warm)", _ours_warm),
        (Impl(_BT, _backtesting, context=True),),   # measured beside the cold run already
        var="df",
    ),
)
