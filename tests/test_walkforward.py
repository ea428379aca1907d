"""Walk-forward analysis (admf_perf.research.walkforward): the windows, the
chosen parameters and the stitched out-of-sample equity, against a plain
loop over the same searches and backtests."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from admf_perf import cli
from admf_perf.research.backtest import crossover_backtest, synthetic_bars
from admf_perf.research.optimize import OptimizationSettings, run_grid_search
from admf_perf.research.walkforward import (
    crossover_walk_forward,
    parse_walk_forward,
    strategy_walk_forward,
    windows,
)


def test_windows_rolling_and_anchored():
    assert windows(9, 4, 3) == [(0, 4, 4, 7)]
    assert windows(10, 4, 3) == [(0, 4, 4, 7), (3, 7, 7, 10)]
    assert windows(13, 4, 3) == [(0, 4, 4, 7), (3, 7, 7, 10), (6, 10, 10, 13)]
    assert windows(13, 4, 3, anchored=True) == [(0, 4, 4, 7), (0, 7, 7, 10), (0, 10, 10, 13)]
    assert windows(12, 4, 3) == [(0, 4, 4, 7), (3, 7, 7, 10)]         # a short last test window is dropped
    with pytest.raises(ValueError, match="walk-forward"):
        windows(6, 4, 3)


@pytest.mark.parametrize("text, expected", [("500:250", (500, 250, False)), ("60:20:anchored", (60, 20, True)),
                                            ("60:20:ANCHORED", (60, 20, True))])
def test_parse(text, expected):
    assert parse_walk_forward(text) == expected


@pytest.mark.parametrize("bad", ["500", "a:b", "5:3:rolling", "1:5", "5:1", "5:5:anchored:x"])
def test_parse_bad(bad):
    with pytest.raises(ValueError, match="walk-forward"):
        parse_walk_forward(bad)


@pytest.mark.parametrize("anchored", [False, True])
def test_crossover_walk_forward_is_the_loop(anchored):
    bars = synthetic_bars(900, seed=8)
    fast, slow = [5, 10, 20], [30, 50]
    settings = OptimizationSettings(metric="sharpe", commission=0.001)
    report = crossover_walk_forward(bars, fast, slow, settings, 300, 150, anchored)
    cash, pieces = settings.cash, []
    assert len(report.rows) == 4
    for row, (a, b, c, d) in zip(report.rows, windows(900, 300, 150, anchored), strict=True):
        best = run_grid_search(bars.iloc[a:b], fast, slow, settings).top[0]
        assert (row["fast"], row["slow"]) == (best["fast"], best["slow"])
        assert row["in_sample"] == best["sharpe"]
        assert row["start_cash"] == cash
        r = crossover_backtest(bars.iloc[c:d], best["fast"], best["slow"], cash=cash, commission=0.001)
        assert row["out_of_sample"] == r.metrics["sharpe"] or (math.isnan(row["out_of_sample"])
                                                              and math.isnan(r.metrics["sharpe"]))
        assert row["test_start"] == str(bars.index[c]) and row["train_start"] == str(bars.index[a])
        pieces.append(r.equity)
        cash = float(r.equity[-1])
    np.testing.assert_array_equal(report.equity, np.concatenate(pieces))
    assert report.stats["final_equity"] == cash
    assert report.stats["total_return"] == pytest.approx(cash / report.equity[0] - 1)


def test_strategy_walk_forward(tmp_path):
    path = tmp_path / "s.py"
    path.write_text(
        "import numpy as np\nfrom admf_perf import Strategy\nfrom admf_perf.research import crossover\n\n"
        "def SMA(v, n):\n    out = np.full(len(v), np.nan)\n"
        "    c = np.cumsum(np.insert(np.asarray(v, float), 0, 0.0))\n    out[n - 1:] = (c[n:] - c[:-n]) / n\n"
        "    return out\n\nclass X(Strategy):\n    n1 = 5\n    n2 = 20\n    def init(self):\n"
        "        self.a = self.I(SMA, self.data.Close, self.n1)\n"
        "        self.b = self.I(SMA, self.data.Close, self.n2)\n"
        "    def next(self):\n        if crossover(self.a, self.b):\n            self.position.close(); self.buy()\n"
        "        elif crossover(self.b, self.a):\n            self.position.close(); self.sell()\n")
    bars = synthetic_bars(700, seed=2)
    report = strategy_walk_forward(bars, f"{path}:X", [("n1", [3, 5]), ("n2", [15, 30])], 300, 200, False,
                                   maximize="Return [%]")
    assert len(report.rows) == 2 and len(report.equity) == 400
    assert report.rows[1]["start_cash"] == report.rows[0]["end_equity"]
    assert report.equity[199] == report.rows[0]["end_equity"]


def test_cli_walk_forward(tmp_path, capsys):
    out = tmp_path / "wf.json"
    assert cli.main(["optimize", "--no-progress", "--fast", "5,10", "--slow", "30,60", "--walk-forward",
                     "400:300", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "walk-forward: 7 windows" in text and "out of sample, stitched" in text
    data = json.loads(out.read_text())
    assert len(data["rows"]) == 7 and len(data["equity"]) == 7 * 300
    assert cli.main(["optimize", "--no-progress", "--walk-forward", "100:50"]) == 2
    assert "longer than the slowest period" in capsys.readouterr().err
