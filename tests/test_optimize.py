"""The grid search behind ``admf-perf optimize``: the top-N heap against a
full sort, the grid search against brute force (here and on worker
processes), the command's output, JSON and errors."""
from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admf_perf import cli, optimize
from admf_perf.incremental.risk import CURVE_METRICS, curve_metrics
from admf_perf.research.backtest import crossover_backtest, prepare, synthetic_bars
from admf_perf.research.optimize import OptimizationSettings, TopN, grid_pairs, parse_periods, run_grid_search
from admf_perf.resources.cpu import CPUManager
from conftest import empyrical_curve_metric, examples


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.one_of(st.integers(-5, 5).map(float), st.just(math.nan)), max_size=40), st.integers(1, 8))
def test_topn_equals_a_stable_full_sort(values, n):
    top = TopN(n, key=lambda item: item[1])
    for i, v in enumerate(values):
        top.push((i, v))
    ranked = sorted(enumerate(values), key=lambda iv: (-(-math.inf if math.isnan(iv[1]) else iv[1]), iv[0]))
    assert [i for i, _ in top.items()] == [i for i, _ in ranked[:n]]
    assert len(top) == min(n, len(values)) and top.seen == len(values)


@settings(max_examples=examples(200), deadline=None)
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


@pytest.mark.parametrize("backend", ["local", "threads"])
def test_grid_search_on_workers_equals_local(bars, backend, tmp_path):
    """Two worker processes, or two threads (the "threads" backend), find
    what one run here finds: every row, in the same order."""
    s = OptimizationSettings(top_n=4)
    local = run_grid_search(bars, FAST, SLOW, s, results=str(tmp_path / "one.csv"))
    cpu = CPUManager()
    try:
        cpu.use_backend(backend)
        parallel = run_grid_search(prepare(bars), FAST, SLOW, s, workers=2, cpu=cpu,
                                   results=str(tmp_path / "two.csv"))
        stats = cpu.task_stats()["optimize.chunk"]
    finally:
        cpu.shutdown()
    assert parallel.top == local.top and parallel.runs == local.runs
    assert parallel.backend == backend
    assert stats["count"] == parallel.grid["chunks"] and stats["failures"] == 0
    rows = [pd.read_csv(tmp_path / name).sort_values(["fast", "slow"], ignore_index=True)
            for name in ("one.csv", "two.csv")]
    pd.testing.assert_frame_equal(rows[0], rows[1])


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


# -- random search (issue 16, part 1) -------------------------------------------------------
def test_random_search_draws_the_same_trials_whatever_the_workers():
    from admf_perf.research._grid import random_subset
    from admf_perf.research.optimize import grid_pairs, run_grid_search, synthetic_bars

    bars = synthetic_bars(400, seed=11)
    fast, slow = [5, 10, 15, 20], [25, 30, 40, 60, 80]
    one = run_grid_search(bars, fast, slow, search="random", trials=7, seed=3)
    two = run_grid_search(bars, fast, slow, workers=2, search="random", trials=7, seed=3)
    assert one.runs == two.runs == 7 and one.grid["grid_size"] == 20
    assert one.top == two.top
    drawn = random_subset(grid_pairs(fast, slow), 7, 3)
    assert sorted((r["fast"], r["slow"]) for r in one.top) == sorted(drawn)
    other = run_grid_search(bars, fast, slow, search="random", trials=7, seed=4)
    assert {(r["fast"], r["slow"]) for r in other.top} != set(drawn)
    half = run_grid_search(bars, fast, slow, search="random", trials=0.5, seed=3)
    assert half.runs == 10
    with pytest.raises(ValueError, match="trials"):
        run_grid_search(bars, fast, slow, search="random")
    with pytest.raises(ValueError, match="trials"):
        run_grid_search(bars, fast, slow, trials=5)
    with pytest.raises(ValueError, match="search"):
        run_grid_search(bars, fast, slow, search="sobol", trials=5)


def test_random_subset():
    from admf_perf.research._grid import random_subset

    items = list(range(100))
    a = random_subset(items, 10, 42)
    assert len(a) == 10 == len(set(a)) and a == sorted(a) and a == random_subset(items, 10, 42)
    assert random_subset(items, 0.25, 1) == random_subset(items, 25, 1)
    assert random_subset(items, 500, 1) == items and random_subset(items, None) == items
    for bad in (0, -1, 2.5, "3"):
        with pytest.raises(ValueError, match="trials"):
            random_subset(items, bad, 1)


def test_backtest_optimize_random_method():
    import warnings

    from admf_perf.research import Backtest, Strategy, crossover, synthetic_bars
    from admf_perf.research._grid import random_subset

    class S(Strategy):
        n1, n2 = 5, 20

        def init(self):
            c = self.data.Close
            self.a = self.I(lambda v, n: np.convolve(v, np.ones(n) / n, "full")[: len(v)], c, self.n1)
            self.b = self.I(lambda v, n: np.convolve(v, np.ones(n) / n, "full")[: len(v)], c, self.n2)

        def next(self):
            if crossover(self.a, self.b):
                self.position.close()
                self.buy()
            elif crossover(self.b, self.a):
                self.position.close()
                self.sell()

    bt = Backtest(synthetic_bars(300, seed=5).rename(columns=str.capitalize), S)
    grid = {"n1": [3, 5, 8, 13], "n2": [10, 20, 30, 50]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, heat = bt.optimize(**grid, method="random", max_tries=6, random_state=9,
                              constraint=lambda p: p.n1 * 2 < p.n2, return_heatmap=True)
        _, heat2 = bt.optimize(**grid, method="random", max_tries=6, random_state=9, workers=2,
                               constraint=lambda p: p.n1 * 2 < p.n2, return_heatmap=True)
    admissible = [(a, b) for a in grid["n1"] for b in grid["n2"] if a * 2 < b]
    assert list(heat.index) == random_subset(admissible, 6, 9)
    pd.testing.assert_series_equal(heat, heat2)
    with pytest.raises(ValueError, match="max_tries"):
        bt.optimize(**grid, method="random")
    with pytest.raises(ValueError, match="method"):
        bt.optimize(**grid, method="bayes", max_tries=3)


@pytest.mark.parametrize("metric", CURVE_METRICS)
def test_grid_search_by_a_risk_metric(bars, metric):
    """``--metric`` by each risk-calculator metric: the ranking and values of
    empyrical's function on each run's per-bar returns (alpha, beta and the
    information ratio against the close)."""
    s = OptimizationSettings(top_n=4, metric=metric, commission=0.001)
    report = run_grid_search(bars, FAST, SLOW, s)
    close = bars["close"].to_numpy()
    runs = []
    for f, sl in grid_pairs(FAST, SLOW):
        eq = crossover_backtest(bars, f, sl, commission=0.001).equity
        runs.append(((f, sl), empyrical_curve_metric(metric, eq[1:] / eq[:-1] - 1.0, close[1:] / close[:-1] - 1.0)))
    runs.sort(key=lambda run: math.inf if math.isnan(run[1]) else -run[1])
    assert [(row["fast"], row["slow"]) for row in report.top] == [pair for pair, _ in runs[:4]]
    for row, (_, want) in zip(report.top, runs, strict=False):
        assert row[metric] == pytest.approx(want, rel=1e-9, abs=1e-15) or (math.isnan(want) and math.isnan(row[metric]))
    assert f"top 4 by {metric}" in optimize.format_report(report)


def test_crossover_backtest_curve_metrics(bars):
    r = crossover_backtest(bars, 5, 21, curve_metrics=CURVE_METRICS)
    assert set(CURVE_METRICS) <= set(r.metrics)
    assert {m: r.metrics[m] for m in CURVE_METRICS} == pytest.approx(
        curve_metrics(CURVE_METRICS, r.equity, bars["close"].to_numpy()), nan_ok=True)
    with pytest.raises(ValueError, match="curve_metrics"):
        crossover_backtest(bars, 5, 21, curve_metrics=("sharpe_ratio",))
    with pytest.raises(ValueError, match="benchmark is required"):
        curve_metrics(("beta",), r.equity)
    assert math.isnan(curve_metrics(("omega_ratio",), np.array([100.0, 0.0, 0.0]))["omega_ratio"])


def test_optimize_command_by_a_risk_metric(capsys):
    assert cli.main(["optimize", "--fast", "5,10", "--slow", "30", "--metric", "conditional_value_at_risk",
                     "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "top 2 by conditional_value_at_risk" in out and "conditional_value_at_risk  sharpe" in out


def test_searches_inside_tasks_of_the_same_thread_pool(bars):
    """Two searches run as tasks of the "threads" backend's own pool (both
    of its threads busy with them): their chunks run inline, not queued
    behind the tasks that wait for them."""
    s = OptimizationSettings(top_n=3)
    local = run_grid_search(bars, FAST, SLOW, s)
    cpu = CPUManager()
    try:
        cpu.use_backend("threads")
        cpu.init_thread_pool(2)
        futures = [cpu.submit_task(run_grid_search, prepare(bars), FAST, SLOW, s, workers=2, cpu=cpu)
                   for _ in range(2)]
        reports = [f.result(timeout=120) for f in futures]
    finally:
        cpu.shutdown()
    assert all(r.top == local.top for r in reports)


def test_threads_backend_runs_at_most_workers_chunks_and_keeps_the_pool(bars, monkeypatch):
    """workers=2 on a manager whose thread pool has 4 threads: 2 chunks at
    a time, and the pool (shared with the manager's other users) keeps 4."""
    import threading
    import time

    lock, now, peak = threading.Lock(), [0], [0]
    original = optimize._run_chunk

    def counted(*args, **kwargs):
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        try:
            time.sleep(0.02)
            return original(*args, **kwargs)
        finally:
            with lock:
                now[0] -= 1

    monkeypatch.setattr(optimize, "_run_chunk", counted)
    s = OptimizationSettings(top_n=3)
    cpu = CPUManager()
    try:
        cpu.use_backend("threads")
        cpu.init_thread_pool(4)
        report = run_grid_search(prepare(bars), FAST, SLOW, s, workers=2, cpu=cpu)
        assert cpu.pool_sizes()["threads"] == 4
    finally:
        cpu.shutdown()
    assert 1 <= peak[0] <= 2 and report.grid["chunks"] > 2
    assert report.top == run_grid_search(bars, FAST, SLOW, s).top


def test_at_most_submits_from_finishing_threads_and_stops_cleanly():
    """optimize._at_most: every result once, at most n running; a finished
    future's thread submits the next; a submission that raises is raised
    where the results are read; closing early submits nothing more and
    cancels what has not started."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        lock, now, peak, submitters = threading.Lock(), [0], [0], set()

        def job(i):
            with lock:
                now[0] += 1
                peak[0] = max(peak[0], now[0])
            try:
                return i * i
            finally:
                with lock:
                    now[0] -= 1

        def submissions(n):
            for i in range(n):
                submitters.add(threading.current_thread().name)
                yield pool.submit(job, i)

        assert sorted(optimize._at_most(2, submissions(50))) == [i * i for i in range(50)]
        assert peak[0] <= 2 and len(submitters) > 1         # later ones from the pool's threads

        def failing():
            yield pool.submit(job, 3)
            raise RuntimeError("no more workers")

        with pytest.raises(RuntimeError, match="no more workers"):
            list(optimize._at_most(2, failing()))

        gate, started = threading.Event(), []

        def blocked(i):
            started.append(i)
            if i:
                gate.wait(10)
            return i

        made = []

        def slow_submissions():
            for i in range(10):
                f = pool.submit(blocked, i)
                made.append(f)
                yield f

        results = optimize._at_most(1, slow_submissions())
        assert next(results) == 0
        deadline = time.monotonic() + 30                     # the next one starts (a pool thread
        while len(started) < 2 and time.monotonic() < deadline:  # takes it when it can), held
            time.sleep(0.001)                                # at the gate: not cancelable
        assert started == [0, 1]
        results.close()                                      # stops: nothing more submitted
        gate.set()
        made[-1].result(10)
        assert len(made) == 2 and started == [0, 1]
