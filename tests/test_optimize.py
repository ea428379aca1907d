"""The grid search behind ``admf-perf optimize``: the top-N heap against a
full sort, the grid search against brute force (here and on worker
processes), the command's output, JSON and errors."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admf_perf import cli, optimize
from admf_perf.research.backtest import crossover_backtest, prepare, synthetic_bars
from admf_perf.research.optimize import OptimizationSettings, TopN, grid_pairs, parse_periods, run_grid_search
from admf_perf.resources.cpu import CPUManager


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(-5, 5).map(float), st.just(math.nan)), max_size=40), st.integers(1, 8))
def test_topn_equals_a_stable_full_sort(values, n):
    top = TopN(n, key=lambda item: item[1])
    for i, v in enumerate(values):
        top.push((i, v))
    ranked = sorted(enumerate(values), key=lambda iv: (-(-math.inf if math.isnan(iv[1]) else iv[1]), iv[0]))
    assert [i for i, _ in top.items()] == [i for i, _ in ranked[:n]]
    assert len(top) == min(n, len(values)) and top.seen == len(values)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(-3, 3).map(float), st.just(math.nan)), max_size=30), st.integers(1, 6),
       st.randoms(use_true_random=False))
def test_topn_tiebreak_makes_the_merge_order_free(values, n, rnd):
    """Pushed in any order (chunks finishing in any order), ties resolve by grid position."""
    items = list(enumerate(values))
    rnd.shuffle(items)
    top = TopN(n, key=lambda item: item[1], tiebreak=lambda item: item[0])
    top.extend(items)
    ranked = sorted(enumerate(values), key=lambda iv: (-(-math.inf if math.isnan(iv[1]) else iv[1]), iv[0]))
    assert [i for i, _ in top.items()] == [i for i, _ in ranked[:n]]


def test_topn_validation():
    with pytest.raises(ValueError, match="n must"):
        TopN(0, key=abs)
    with pytest.raises(TypeError, match="key"):
        TopN(3, key=None)
    with pytest.raises(ValueError, match="metric"):
        OptimizationSettings(metric="calmar")
    with pytest.raises(ValueError, match="top_n"):
        OptimizationSettings(top_n=0)


@pytest.mark.parametrize(("text", "expected"), [
    ("5:20:5", [5, 10, 15, 20]), ("3:5", [3, 4, 5]), ("10,5,10", [5, 10]), (" 7 ", [7]),
])
def test_parse_periods(text, expected):
    assert parse_periods(text) == expected


@pytest.mark.parametrize("text", ["", "a", "5:1:0", "0:3", "1:2:3:4", "-2,4", "5:1"])
def test_parse_periods_rejects(text):
    with pytest.raises(ValueError, match="--fast"):
        parse_periods(text, "--fast")


def test_grid_pairs():
    assert grid_pairs([5, 10, 30], [10, 20]) == [(5, 10), (5, 20), (10, 20)]
    with pytest.raises(ValueError, match="empty"):
        grid_pairs([30], [10, 20])


@pytest.fixture(scope="module")
def bars():
    return synthetic_bars(600, seed=7)


def brute_force(bars, fast, slow, metric_key, n, **kwargs):
    rows = []
    for f, s in grid_pairs(fast, slow):
        rows.append({"fast": f, "slow": s, **crossover_backtest(bars, f, s, **kwargs).metrics})
    score = lambda row: -math.inf if math.isnan(row[metric_key]) else row[metric_key]  # noqa: E731
    return sorted(rows, key=lambda row: -score(row))[:n]


FAST, SLOW = [3, 5, 8, 13], [10, 21, 34, 55]


@pytest.mark.parametrize("metric", ["sharpe", "return", "drawdown"])
def test_grid_search_equals_brute_force(bars, metric):
    s = OptimizationSettings(top_n=5, metric=metric, commission=0.001)
    seen = []
    report = run_grid_search(bars, FAST, SLOW, s, progress=lambda done, total: seen.append((done, total)))
    expected = brute_force(bars, FAST, SLOW, s.metric_key, 5, commission=0.001)
    assert report.top == expected
    assert report.runs == len(grid_pairs(FAST, SLOW)) == 15
    assert seen[-1] == (15, 15) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    periods = set(FAST) | set(SLOW)
    assert report.cache == {"sma_requests": 30, "sma_computed": len(periods),
                            "sma_hit_rate": (30 - len(periods)) / 30}


def test_grid_search_on_worker_processes_equals_local(bars):
    s = OptimizationSettings(top_n=4)
    local = run_grid_search(bars, FAST, SLOW, s)
    cpu = CPUManager()
    try:
        parallel = run_grid_search(prepare(bars), FAST, SLOW, s, workers=2, cpu=cpu)
        stats = cpu.task_stats()["optimize.chunk"]
    finally:
        cpu.shutdown()
    assert parallel.top == local.top and parallel.runs == local.runs
    assert stats["count"] == parallel.grid["chunks"] and stats["failures"] == 0


def test_gc_after_each_run(bars, monkeypatch):
    calls = []
    monkeypatch.setattr(optimize.gc, "collect", lambda *a: calls.append(1) or 0)
    run_grid_search(bars, [5, 8], [21, 34], OptimizationSettings(gc_after_run=True))
    assert len(calls) == 4
    calls.clear()
    run_grid_search(bars, [5, 8], [21, 34], OptimizationSettings(gc_after_run=False))
    assert calls == []


def test_grid_search_validation(bars):
    with pytest.raises(ValueError, match="workers"):
        run_grid_search(bars, FAST, SLOW, workers=0)
    with pytest.raises(ValueError, match="slow period 700"):
        run_grid_search(bars, [5], [700])


def test_optimize_command_on_real_data(shared_data, tmp_path, capsys):
    data = shared_data / "ohlcv" / "orcl-1995-2014-daily.csv"
    out = tmp_path / "results.json"
    status = cli.main(["optimize", "--data", str(data), "--fast", "5,10", "--slow", "20:40:10",
                       "--top", "3", "--metric", "return", "--json", str(out), "--no-progress"])
    assert status == 0
    text = capsys.readouterr().out
    assert "6 parameter sets" in text and "5036 bars" in text and "backtests/s" in text
    saved = json.loads(out.read_text())
    from admf_perf.research.backtest import load_bars

    expected = brute_force(load_bars(data), [5, 10], [20, 30, 40], "total_return", 3)
    assert [(r["fast"], r["slow"]) for r in saved["top"]] == [(r["fast"], r["slow"]) for r in expected]
    assert saved["top"][0]["total_return"] == pytest.approx(expected[0]["total_return"], rel=1e-12)
    assert saved["runs"] == 6 and saved["settings"]["metric"] == "return"


def test_optimize_command_builtin_data(capsys):
    assert cli.main(["optimize", "--fast", "10", "--slow", "30", "--no-progress"]) == 0
    assert "built-in" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["--data", "/nonexistent/bars.csv"], "/nonexistent/bars.csv"),
    (["--fast", "x"], "--fast"),
    (["--fast", "50", "--slow", "20"], "empty"),
])
def test_optimize_command_errors(argv, message, capsys):
    assert cli.main(["optimize", "--no-progress", *argv]) == 2
    err = capsys.readouterr().err
    assert "admf-perf optimize: error:" in err and message in err


def test_optimize_command_missing_column(tmp_path, capsys):
    bad = tmp_path / "bars.csv"
    bad.write_text("Date,Open,High,Low,Volume\n2020-01-02,1,2,0.5,10\n2020-01-03,1,2,0.5,10\n")
    assert cli.main(["optimize", "--data", str(bad), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "close" in err.lower() and str(bad) in err


def test_default_periods_per_year(shared_data):
    import pandas as pd

    from admf_perf.research.backtest import load_bars
    from admf_perf.research.optimize import default_periods_per_year

    assert default_periods_per_year(load_bars(shared_data / "ohlcv" / "orcl-1995-2014-daily.csv").index) == 252.0
    minute_bars = load_bars(shared_data / "ohlcv" / "index-future-2006-1min.csv")
    assert default_periods_per_year(minute_bars.index) == 252.0 * 390
    assert default_periods_per_year(pd.RangeIndex(10)) == 252.0
