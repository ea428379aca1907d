"""Every result kept: --results (CSV, Parquet) and --heatmap (PNG, HTML)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from admf_perf import cli
from admf_perf.research.optimize import OptimizationSettings, run_grid_search, synthetic_bars
from admf_perf.research.results import ResultsWriter, heatmap_grid, write_heatmap


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_every_run_written(tmp_path, suffix):
    pytest.importorskip("pyarrow")
    path = tmp_path / f"r{suffix}"
    bars = synthetic_bars(500, seed=4)
    fast, slow = [5, 10, 15], [20, 40, 60]
    report = run_grid_search(bars, fast, slow, OptimizationSettings(top_n=3), workers=1, results=str(path))
    got = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert len(got) == report.runs == 9
    assert list(got.columns)[:2] == ["fast", "slow"] and "sharpe" in got and "final_equity" in got
    best = got.sort_values("sharpe", ascending=False, kind="stable").iloc[0]
    assert (best["fast"], best["slow"]) == (report.top[0]["fast"], report.top[0]["slow"])
    assert best["sharpe"] == pytest.approx(report.top[0]["sharpe"], rel=1e-15)
    # the same rows whatever the workers
    path2 = tmp_path / f"r2{suffix}"
    run_grid_search(bars, fast, slow, OptimizationSettings(top_n=3), workers=2, results=str(path2))
    got2 = pd.read_csv(path2) if suffix == ".csv" else pd.read_parquet(path2)
    key = ["fast", "slow"]
    pd.testing.assert_frame_equal(got.sort_values(key).reset_index(drop=True),
                                  got2.sort_values(key).reset_index(drop=True))


def test_results_writer_bad_suffix(tmp_path):
    with pytest.raises(ValueError, match="--results"):
        ResultsWriter(tmp_path / "r.xlsx")


def test_heatmap_grid_holds_the_others_at_their_best():
    points = [({"a": a, "b": b, "c": c}, float(a + 10 * b + 100 * c)) for a in (1, 2) for b in (1, 2, 3)
              for c in (0, 1)]
    xs, ys, z, others = heatmap_grid(points, "a", "b")
    assert xs == [1, 2] and ys == [1, 2, 3] and others == {"c": 1}
    np.testing.assert_array_equal(z, [[111, 112], [121, 122], [131, 132]])
    xs, ys, z, _ = heatmap_grid([({"a": 1, "b": 1}, math.nan), ({"a": 2, "b": 1}, 3.0)], "a", "b")
    assert math.isnan(z[0, 0]) and z[0, 1] == 3.0


def test_write_heatmap(tmp_path):
    z = np.array([[1.0, np.nan], [0.5, 2.0]])
    write_heatmap(tmp_path / "h.html", [1, 2], [10, 20], z, "x", "y", "t <b>")
    text = (tmp_path / "h.html").read_text()
    assert "t &lt;b&gt;" in text and "0.5" in text and "#eee" in text
    pytest.importorskip("matplotlib")
    write_heatmap(tmp_path / "h.png", [1, 2], [10, 20], z, "x", "y", "t")
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="--heatmap"):
        write_heatmap(tmp_path / "h.jpg", [1], [1], np.ones((1, 1)), "x", "y", "t")


def test_cli_results_and_heatmap(tmp_path, capsys):
    r, h = tmp_path / "r.csv", tmp_path / "h.html"
    assert cli.main(["optimize", "--no-progress", "--fast", "5,10", "--slow", "30,60", "--results", str(r),
                     "--heatmap", str(h)]) == 0
    assert len(pd.read_csv(r)) == 4 and "<table>" in h.read_text()
    capsys.readouterr()
    assert cli.main(["optimize", "--no-progress", "--heatmap", str(tmp_path / "h.gif")]) == 2
    assert "--heatmap" in capsys.readouterr().err
    assert cli.main(["optimize", "--no-progress", "--walk-forward", "400:300", "--results", str(r)]) == 2
    assert "--walk-forward" in capsys.readouterr().err


def test_strategy_search_results_and_heatmap(tmp_path):
    from admf_perf.research.strategy_search import _NUMERIC, run_strategy_search

    path = tmp_path / "s.py"
    path.write_text(
        "import numpy as np\nfrom admf_perf import Strategy\nfrom admf_perf.research import crossover\n\n"
        "def SMA(v, n):\n    out = np.full(len(v), np.nan)\n"
        "    c = np.cumsum(np.insert(np.asarray(v, float), 0, 0.0))\n    out[n - 1:] = (c[n:] - c[:-n]) / n\n"
        "    return out\n\nclass X(Strategy):\n    n1 = 5\n    n2 = 20\n    k = 1\n    def init(self):\n"
        "        self.a = self.I(SMA, self.data.Close, self.n1)\n"
        "        self.b = self.I(SMA, self.data.Close, self.n2)\n"
        "    def next(self):\n        if crossover(self.a, self.b):\n            self.position.close(); self.buy()\n"
        "        elif crossover(self.b, self.a):\n            self.position.close(); self.sell()\n")
    bars = synthetic_bars(400, seed=6)
    out, heat = tmp_path / "r.csv", tmp_path / "h.html"
    report = run_strategy_search(bars, f"{path}:X", [("n1", [3, 5]), ("n2", [15, 30]), ("k", [1, 2])],
                                 maximize="Return [%]", results=str(out), heatmap=str(heat))
    got = pd.read_csv(out)
    assert len(got) == 8 and set(_NUMERIC) <= set(got.columns) and "_pos" not in got
    best = got.sort_values("score", ascending=False, kind="stable").iloc[0]
    assert (best["n1"], best["n2"]) == (report.top[0]["n1"], report.top[0]["n2"])
    text = heat.read_text()
    assert f"(k={report.top[0]['k']})" in text
