"""Your own strategy on the compiled engine (issue 15): backtesting.py's
``SmaCross`` example, written once and run through ``admf_perf.Backtest`` and
through backtesting.py's ``Backtest`` on the same DataFrame, in the same run.

* ``Strategy Backtest.run SmaCross GOOG``: gate <= 0.20x backtesting.py.  One
  operation is ``Backtest(GOOG, SmaCross, commission=0.002).run()``, the
  constructor included on both sides, so each run computes its indicators
  (a new Backtest has an empty ``self.I`` cache): the first run of a
  strategy on a data set, statistics included.
* ``Strategy Backtest.optimize SmaCross GOOG, 100-point grid``: gate <= 0.05x
  backtesting.py (open).  One operation is ``optimize(n1=10 values, n2=10
  values)`` on a new Backtest: ours in this process (``workers=1``, the
  ``self.I`` cache shared by the 100 runs), backtesting.py's with its default
  process pool (every core of this machine).  Wall-clock only: a pool of
  processes is outside what callgrind measures.

GOOG (2,148 daily bars, 2004-2013) is backtesting.py's own test data; without
backtesting.py the anchors are skipped and ours runs on a synthetic walk of
the same length.  Both strategies use the same SMA function (a pandas rolling
mean, as backtesting.py's ``backtesting.test.SMA``) and the same rules; each
uses its own library's ``crossover``.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from typing import Any

from admf_perf.bench.backtest import sma_cross
from admf_perf.bench.scenario import Gate, Impl, Scenario, register

__all__ = ["GRID"]

GROUP = "strategy"
COMMISSION = 0.002
#: The optimize scenario's grid: 10 x 10 = 100 parameter sets.
GRID = {"n1": list(range(5, 55, 5)), "n2": list(range(20, 220, 20))}

Names = Mapping[str, Any]


@functools.cache
def goog_bars(quick: bool = False) -> list[Any]:
    """One DataFrame (one operation): backtesting.py's GOOG, or a synthetic
    walk of the same length without it."""
    try:
        from backtesting.test import GOOG
        return [GOOG]
    except ImportError:
        from admf_perf.research.bars import synthetic_bars

        return [synthetic_bars(2148, seed=2148, start="2004-08-19").rename(columns=str.capitalize)]


def _engine(library: str, optimize: bool) -> Names:
    """``run(df)``: a new Backtest of :func:`~admf_perf.bench.backtest.sma_cross`
    (n1=10, n2=20) on ``df`` in ``library`` (``"admf_perf"`` or
    ``"backtesting"``), then ``run()``, or ``optimize(**GRID)``."""
    if library == "admf_perf":
        from admf_perf.research import crossover
        from admf_perf.research.strategy import Backtest, Strategy
    else:
        import backtesting.backtesting as bt_module  # ImportError: the anchor is skipped
        from backtesting import Backtest, Strategy
        from backtesting.lib import crossover

        bt_module._tqdm = lambda seq, **_: seq  # no progress bar (and no tqdm cost) in the timings
    cls = sma_cross(Strategy, crossover, f"SmaCross_{library}", 10, 20)

    def run(df: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bt = Backtest(df, cls, commission=COMMISSION)
            return bt.optimize(**GRID) if optimize else bt.run()

    return {"run": run}


_BT = "backtesting.py"

register(
    Scenario(
        "Strategy Backtest.run SmaCross GOOG", GROUP,
        "Backtest(GOOG, SmaCross, commission=0.2%).run(): 2,148 daily bars, a new Backtest each time "
        "(indicators computed, statistics included)",
        "run(df)", goog_bars,
        Impl("admf_perf Backtest", functools.partial(_engine, "admf_perf", False)),
        (Impl(_BT, functools.partial(_engine, "backtesting", False)),),
        gate=Gate(0.20, (_BT,), "backtesting.py Backtest.run"),
        var="df", covers=("Backtest.run",),
    ),
    Scenario(
        "Strategy Backtest.optimize SmaCross GOOG, 100-point grid", GROUP,
        "Backtest(GOOG, SmaCross).optimize(n1=5..50, n2=20..200): 100 runs and the best's rerun; ours in "
        "one process (self.I cached across the runs), backtesting.py with its process pool",
        "run(df)", goog_bars,
        Impl("admf_perf Backtest.optimize", functools.partial(_engine, "admf_perf", True)),
        (Impl(_BT, functools.partial(_engine, "backtesting", True)),),
        gate=Gate(0.05, (_BT,), "backtesting.py Backtest.optimize", open="issue 15"),
        var="df", samples=1, deterministic=False, covers=("Backtest.optimize",),
    ),
)
