"""``admf-perf optimize --strategy FILE.py:Class --param ...`` end to end, the
built-in crossover engine against the same strategy run through
``admf_perf.Backtest``, and the ``self.I`` cache of ``Backtest``.

- the command, on a strategy file written into ``tmp_path``: its table, its
  ``self.I`` cache line and its JSON against ``Backtest.optimize``'s heatmap
  (computed here, in this process, with the class imported independently);
  one worker against two;
- bad input: exit status 2 and one line on stderr naming the problem;
- ``crossover_backtest`` against backtesting.py's ``SmaCross`` (pandas SMA,
  ``crossover``) run through ``admf_perf.Backtest``: every trade and the equity
  curve, on the shared ORCL bars and on synthetic bars;
- ``Backtest.indicator_cache_stats`` and what a cache hit hands back.

Data: the real ORCL daily bars of ``shared/`` (skipped where absent; never
copied into the project) and the built-in synthetic bars.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from admf_perf import cli
from admf_perf.research import Backtest, Strategy, crossover, crossover_backtest, synthetic_bars
from admf_perf.research.backtest import TIE_TOLERANCE

ORCL_CSV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ohlcv" / "orcl-1995-2014-daily.csv"
RTOL = 1e-9


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------
def _capitalized(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={c: c.capitalize() for c in df.columns})


@pytest.fixture(scope="module")
def orcl() -> pd.DataFrame:
    """ORCL as backtesting.py wants it, read with plain pandas (not load_bars)."""
    if not ORCL_CSV.is_file():
        pytest.skip(f"shared data not found at {ORCL_CSV}")
    raw = pd.read_csv(ORCL_CSV, index_col="Date", parse_dates=True)
    return raw[["Open", "High", "Low", "Close", "Volume"]].astype("float64")


@pytest.fixture(scope="module")
def builtin_bars() -> pd.DataFrame:
    """What ``admf-perf optimize`` runs on without ``--data``."""
    return _capitalized(synthetic_bars(2520, 42))


# ---------------------------------------------------------------------------------------
# 1. the command on a user's strategy file
# ---------------------------------------------------------------------------------------
STRATEGY_SOURCE = '''
import numpy as np

from admf_perf import Strategy
from admf_perf.research import crossover


def SMA(values, n):
    """Simple moving average, NaN for the first n - 1 bars (numpy only)."""
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), np.nan)
    c = np.cumsum(values)
    out[n - 1:] = (c[n - 1:] - np.concatenate(([0.0], c[:-n]))) / n
    return out


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


class NotAStrategy:
    """Looks like one (parameters, init, next) but does not subclass admf_perf.Strategy."""
    n1 = 10
    n2 = 20

    def init(self):
        pass

    def next(self):
        pass
'''

#: n1 and n2 overlap: (20, 20) and (30, 30) never cross, so trade nothing (NaN score).
GRID = {"n1": [10, 20, 30], "n2": [20, 30, 40]}
GRID_ARGS = ["--param", "n1=10:30:10", "--param", "n2=20:40:10"]
PERIODS = sorted(set(GRID["n1"]) | set(GRID["n2"]))  # distinct self.I series: (SMA, Close, n)


@pytest.fixture
def strategy_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_strategy.py"
    path.write_text(STRATEGY_SOURCE)
    return path


def _import_independently(path: Path, name: str) -> type:
    """The class, from a module of our own (not the command's loader)."""
    spec = importlib.util.spec_from_file_location(f"_test_strategy_cli_{abs(hash(str(path))):x}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _heatmap(data: pd.DataFrame, cls: type, maximize: str) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, heatmap = Backtest(data, cls).optimize(**GRID, maximize=maximize, return_heatmap=True)
    return heatmap


def _ranked(heatmap: pd.Series) -> list[tuple[tuple[int, ...], float]]:
    """The heatmap's entries best first; NaN last; ties by grid position."""
    items = [(tuple(int(v) for v in k), float(s)) for k, s in heatmap.items()]
    order = sorted(range(len(items)), key=lambda i: (math.isnan(items[i][1]),
                                                     0.0 if math.isnan(items[i][1]) else -items[i][1], i))
    return [items[i] for i in order]


def _table(out: str) -> tuple[str, list[list[str]]]:
    """The header line and the rows (cells) of the printed table."""
    lines = out.splitlines()
    dash = next(i for i, line in enumerate(lines) if line.strip() and set(line.strip()) <= {"-", " "})
    rows = []
    for line in lines[dash + 1:]:
        if not line.strip():
            break
        rows.append(line.split())
    return lines[dash - 1], rows


def _same_score(reported: float | None, expected: float) -> bool:
    if math.isnan(expected):
        return reported is None
    return reported is not None and math.isclose(reported, expected, rel_tol=1e-12, abs_tol=0.0)


CACHE_LINE = re.compile(r"^cache:\s+self\.I series: (\d+) requests, (\d+) computed, hit rate ([\d.]+)%$", re.M)


@pytest.mark.parametrize(("dataset", "maximize", "top"), [
    ("builtin", None, 9),           # default SQN; the whole grid, so the NaN rows must come last
    ("orcl", "Return [%]", 4),
])
def test_strategy_command_equals_backtest_optimize(dataset, maximize, top, strategy_file, tmp_path, capsys,
                                                   request):
    data = request.getfixturevalue("builtin_bars" if dataset == "builtin" else "orcl")
    key = maximize or "SQN"
    out_json = tmp_path / "top.json"
    argv = ["optimize", "--strategy", f"{strategy_file}:SmaCross", *GRID_ARGS, "--top", str(top),
            "--json", str(out_json), "--no-progress"]
    if maximize:
        argv += ["--maximize", maximize]
    if dataset == "orcl":
        argv += ["--data", str(ORCL_CSV)]
    status = cli.main(argv)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Traceback" not in captured.err

    cls = _import_independently(strategy_file, "SmaCross")
    heatmap = _heatmap(data, cls, key)
    expected = _ranked(heatmap)
    assert sum(math.isnan(s) for _, s in expected) == 2  # (20, 20) and (30, 30): no trades

    # the JSON: the top rows' parameters and scores are the heatmap's
    saved = json.loads(out_json.read_text())
    assert saved["maximize"] == key and saved["runs"] == 9 and saved["grid"]["runs"] == 9
    assert len(saved["top"]) == top
    got = [((row["n1"], row["n2"]), row["score"]) for row in saved["top"]]
    assert [p for p, _ in got] == [p for p, _ in expected[:top]]
    for (params, score), (_, want) in zip(got, expected, strict=False):
        assert _same_score(score, want), (params, score, want)
    assert got[0][0] == tuple(int(v) for v in heatmap.idxmax())
    for row in saved["top"]:
        if row["score"] is not None:  # the reported statistic is the ranked one
            assert row[key] == row["score"]
    if top == 9:
        assert [s for _, s in got[-2:]] == [None, None]
        assert [p for p, _ in got[-2:]] == [(20, 20), (30, 30)]  # NaN rows: grid order
        assert all(s is not None for _, s in got[:-2])

    # the best row's statistics are those of a plain run with its parameters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(data, cls).run(n1=got[0][0][0], n2=got[0][0][1])
    for col in ("Return [%]", "Equity Final [$]", "Max. Drawdown [%]", "# Trades"):
        assert saved["top"][0][col] == pytest.approx(float(stats[col]), rel=1e-12), col

    # the printed table: the top N rows with their parameters, best first
    text = captured.out
    assert f"top {top} by {key}" in text
    assert "9 parameter sets" in text
    assert (f"{len(data)} bars" in text) and (("built-in" in text) if dataset == "builtin" else str(ORCL_CSV) in text)
    header, rows = _table(text)
    assert header.split()[:3] == ["#", "n1", "n2"] and key in header
    assert len(rows) == top
    for rank, (row, (params, score)) in enumerate(zip(rows, expected, strict=False), start=1):
        assert row[0] == str(rank)
        assert (int(row[1]), int(row[2])) == params
        if math.isnan(score):
            assert row[3] == "nan"
        else:
            assert float(row[3].replace(",", "")) == pytest.approx(score, rel=1e-3, abs=1e-4)

    # the self.I line: two series a run, one computed per distinct period (one Backtest here)
    m = CACHE_LINE.search(text)
    assert m, text
    requests, computed, rate = int(m[1]), int(m[2]), float(m[3])
    assert requests == 2 * 9 and computed == len(PERIODS)
    assert rate == pytest.approx(100 * (requests - computed) / requests, abs=0.05)
    assert saved["cache"] == {"indicator_requests": requests, "indicator_computed": computed,
                              "indicator_hit_rate": (requests - computed) / requests}


@pytest.mark.parametrize("threads", [False, True])
def test_strategy_command_two_workers_same_top_as_one(strategy_file, tmp_path, capsys, threads):
    tops, caches = [], []
    for workers in (1, 2):
        out_json = tmp_path / f"top{workers}.json"
        status = cli.main(["optimize", "--strategy", f"{strategy_file}:SmaCross", *GRID_ARGS, "--top", "5",
                           "--workers", str(workers), "--json", str(out_json), "--no-progress",
                           *(["--threads"] if threads and workers > 1 else [])])
        captured = capsys.readouterr()
        assert status == 0, captured.err
        saved = json.loads(out_json.read_text())
        assert saved["workers"] == workers and saved["runs"] == 9
        assert saved["backend"] == ("threads" if threads and workers > 1 else "local")
        tops.append(saved["top"])
        caches.append(saved["cache"])
        assert f"({workers} worker" in captured.out
    assert tops[1] == tops[0]  # every column of every row, in the same order
    assert len(tops[0]) == 5
    assert caches[1]["indicator_requests"] == caches[0]["indicator_requests"] == 18
    # each worker (process or thread) has its own cache: at most every distinct series once per worker
    assert len(PERIODS) <= caches[1]["indicator_computed"] <= 2 * len(PERIODS)


def test_threads_and_dask_are_two_backends(capsys):
    assert cli.main(["optimize", "--workers", "2", "--threads", "--dask", "local"]) == 2
    assert "--threads and --dask" in capsys.readouterr().err
    assert cli.main(["optimize", "--threads"]) == 2
    assert "--workers 2 or more" in capsys.readouterr().err


def test_a_threads_search_sets_the_warning_filters_once(strategy_file):
    """backtesting.py's warnings about the data (here: the index is not
    datetime) are off for the whole search, with an error filter outside
    it; the chunks on the pool threads leave the process-wide filters alone,
    and the search puts them back as they were."""
    from admf_perf.research.strategy_search import run_strategy_search
    from admf_perf.resources.cpu import CPUManager

    data = synthetic_bars(600, 3).reset_index(drop=True)
    params = [("n1", [5, 10, 15]), ("n2", [20, 30, 40])]
    one = run_strategy_search(data, f"{strategy_file}:SmaCross", params, top_n=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        before = list(warnings.filters)
        cpu = CPUManager()
        try:
            cpu.use_backend("threads")
            two = run_strategy_search(data, f"{strategy_file}:SmaCross", params, top_n=5, workers=2, cpu=cpu)
        finally:
            cpu.shutdown()
        assert warnings.filters == before
    assert two.backend == "threads"
    pd.testing.assert_frame_equal(pd.DataFrame(two.top), pd.DataFrame(one.top))   # NaN Sharpe: no dates


def test_a_strategy_search_hides_older_objects_from_the_collector(strategy_file):
    """The command's chunks run as ``Backtest.optimize``'s grid does: the
    objects alive before them frozen out of the cyclic collector's sight
    (``gc.freeze``), unfrozen after."""
    import gc

    from admf_perf.research.strategy_search import load_strategy, run_strategy_search

    strategy_file.write_text(STRATEGY_SOURCE + textwrap.dedent('''
        import gc as _gc


        class FrozenWatch(SmaCross):
            seen = []

            def next(self):
                FrozenWatch.seen.append(_gc.get_freeze_count())
                super().next()
        '''))
    data = synthetic_bars(300, 3).reset_index(drop=True)
    assert gc.get_freeze_count() == 0
    run_strategy_search(data, f"{strategy_file}:FrozenWatch", [("n1", [5, 10]), ("n2", [20, 30])], top_n=2)
    seen = load_strategy(f"{strategy_file}:FrozenWatch").seen
    assert sum(1 for n in seen if n) > len(seen) // 2 and gc.get_freeze_count() == 0   # the best's rerun: after


# ---------------------------------------------------------------------------------------
# 2. bad input: exit status 2, one line naming the problem
# ---------------------------------------------------------------------------------------
def _write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


#: (case, argv after "optimize" ({good}/{syntax}/{importerr}/{missing} are file specs), words the line names)
BAD_INPUT = [
    ("syntax error", ["--strategy", "{syntax}:SmaCross", "--param", "n1=5:10"],
     ["SyntaxError", "broken.py"]),
    ("ImportError on import", ["--strategy", "{importerr}:SmaCross", "--param", "n1=5:10"],
     ["ImportError", "talib is not installed here", "needs_talib.py"]),
    ("missing file", ["--strategy", "{missing}:SmaCross", "--param", "n1=5:10"],
     ["no such file", "nowhere.py"]),
    ("missing class", ["--strategy", "{good}:Nope", "--param", "n1=5:10"],
     ["Nope"]),
    ("not a Strategy", ["--strategy", "{good}:NotAStrategy", "--param", "n1=5:10"],
     ["NotAStrategy", "admf_perf.Strategy"]),
    ("unknown parameter", ["--strategy", "{good}:SmaCross", "--param", "n3=5:10"],
     ["n3", "SmaCross", "n1, n2"]),
    ("a method is not a parameter", ["--strategy", "{good}:SmaCross", "--param", "init=5:10"],
     ["init"]),
    ("empty range", ["--strategy", "{good}:SmaCross", "--param", "n1=5:3"],
     ["n1", "5:3"]),
    ("no value", ["--strategy", "{good}:SmaCross", "--param", "n1"],
     ["--param", "'n1'"]),
    ("not numbers", ["--strategy", "{good}:SmaCross", "--param", "n1=a:b"],
     ["n1", "a:b"]),
    ("--param without --strategy", ["--param", "n1=5:10"],
     ["--param", "--strategy"]),
    ("--strategy without --param", ["--strategy", "{good}:SmaCross"],
     ["--param"]),
    ("unknown --maximize", ["--strategy", "{good}:SmaCross", "--param", "n1=5:10", "--maximize", "Bogus"],
     ["--maximize", "Bogus"]),
    ("--maximize of a date", ["--strategy", "{good}:SmaCross", "--param", "n1=5:10", "--maximize", "Start"],
     ["Start"]),
]


@pytest.fixture
def bad_specs(tmp_path: Path, strategy_file: Path) -> dict[str, str]:
    syntax = _write(tmp_path, "broken.py", "from admf_perf import Strategy\nclass SmaCross(Strategy:\n    n1 = 1\n")
    importerr = _write(tmp_path, "needs_talib.py", """\
        from admf_perf import Strategy
        raise ImportError("talib is not installed here")
        """)
    return {"good": str(strategy_file), "syntax": str(syntax), "importerr": str(importerr),
            "missing": str(tmp_path / "nowhere.py")}


@pytest.mark.parametrize(("argv", "words"), [pytest.param(a, w, id=c) for c, a, w in BAD_INPUT])
def test_strategy_command_bad_input(argv, words, bad_specs, capsys):
    argv = [a.format(**bad_specs) for a in argv]
    status = cli.main(["optimize", "--no-progress", *argv])
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert status == 2, captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("admf-perf optimize: error: ")
    assert "Traceback" not in captured.err and captured.out == ""
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_strategy_command_maximize_a_statistic_absent_without_commission(strategy_file, capsys):
    """``Commissions [$]`` is a key of a run's statistics, present only when
    commissions were paid (as backtesting.py): without --commission the command
    must either rank by it or refuse it in one line, never raise."""
    status = cli.main(["optimize", "--no-progress", "--strategy", f"{strategy_file}:SmaCross",
                       "--param", "n1=5:10", "--maximize", "Commissions [$]"])
    captured = capsys.readouterr()
    assert status in (0, 2), captured.err
    if status == 2:
        lines = captured.err.splitlines()
        assert len(lines) == 1 and "Commissions [$]" in lines[0], captured.err


def test_strategy_command_bad_input_in_a_real_process(bad_specs):
    """The command itself: exit status 2, one stderr line, no traceback.
    (ADMF_PERF_NO_EXTENSIONS=1 keeps a missing build's import warning out of
    stderr; no compiled code runs on these paths.)"""
    env = {**os.environ, "ADMF_PERF_NO_EXTENSIONS": "1"}
    for spec, word in ((f"{bad_specs['importerr']}:SmaCross", "talib is not installed here"),
                       (f"{bad_specs['good']}:Nope", "Nope")):
        proc = subprocess.run([sys.executable, "-m", "admf_perf", "optimize", "--no-progress",
                               "--strategy", spec, "--param", "n1=5:10"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and word in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""


# ---------------------------------------------------------------------------------------
# 3. the built-in crossover engine against the same strategy through admf_perf.Backtest
# ---------------------------------------------------------------------------------------
def SMA(values, n):
    """backtesting.py's ``backtesting.test.SMA``."""
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    """backtesting.py's SmaCross example, with admf_perf's imports."""

    n1 = 10
    n2 = 20

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


#: (fast, slow): backtesting.py's example first; (3, 7) on ORCL runs out of cash
#: for whole units (orders canceled for insufficient margin) with a commission.
PAIRS = [(10, 20), (10, 30), (5, 50), (20, 60), (3, 7)]


def _run_both(data: pd.DataFrame, fast: int, slow: int, commission: float):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = Backtest(data, SmaCross, commission=commission).run(n1=fast, n2=slow)
    canceled = sum("canceled" in str(w.message) for w in caught)
    return stats, canceled, crossover_backtest(data, fast, slow, commission=commission)


def _trades_of_backtest(stats) -> list[tuple]:
    t = stats["_trades"]
    return list(zip(t["Size"].astype(int), t["EntryBar"].astype(int), t["ExitBar"].astype(int),
                    t["EntryPrice"].astype(float), t["ExitPrice"].astype(float), t["PnL"].astype(float),
                    t["Commission"].astype(float), t["ReturnPct"].astype(float), strict=True))


def _trades_of_engine(result) -> list[tuple]:
    a = result.trade_arrays
    return list(zip(a["size"].astype(int), a["entry_bar"].astype(int), a["exit_bar"].astype(int),
                    a["entry_price"].astype(float), a["exit_price"].astype(float), a["pnl"].astype(float),
                    a["commission"].astype(float), a["return_pct"].astype(float), strict=True))


TRADE_FIELDS = ("size", "entry_bar", "exit_bar", "entry_price", "exit_price", "pnl", "commission", "return_pct")


def _trade_equal(x: tuple, y: tuple) -> bool:
    exact = x[:5] == y[:5]  # units, bars and fill prices (the same opens)
    return exact and all(math.isclose(a, b, rel_tol=RTOL, abs_tol=0.0) for a, b in zip(x[5:], y[5:], strict=True))


def _first_difference(ours: list[tuple], engine: list[tuple]) -> int | None:
    for k, (x, y) in enumerate(zip(ours, engine, strict=False)):
        if not _trade_equal(x, y):
            return k
    return None if len(ours) == len(engine) else min(len(ours), len(engine))


def _describe(k: int, ours: list[tuple], engine: list[tuple]) -> str:
    def row(trades):
        return dict(zip(TRADE_FIELDS, trades[k], strict=True)) if k < len(trades) else "(none)"
    return (f"{len(ours)} trades (Backtest) vs {len(engine)} (crossover_backtest); first differing trade #{k}:\n"
            f"  Backtest:           {row(ours)}\n  crossover_backtest: {row(engine)}")


@pytest.mark.parametrize("commission", [0.002, 0.0])
@pytest.mark.parametrize(("fast", "slow"), PAIRS)
@pytest.mark.parametrize("dataset", ["orcl", "synthetic"])
def test_crossover_engine_equals_strategy_backtest(dataset, fast, slow, commission, request, builtin_bars):
    data = request.getfixturevalue("orcl") if dataset == "orcl" else builtin_bars
    stats, canceled, result = _run_both(data, fast, slow, commission)
    ours, engine = _trades_of_backtest(stats), _trades_of_engine(result)
    k = _first_difference(ours, engine)
    assert k is None, _describe(k, ours, engine)
    assert len(ours) == int(stats["# Trades"]) == result.metrics["trades"] > 0

    equity = stats["_equity_curve"]["Equity"].to_numpy()
    assert len(equity) == len(result.equity) == len(data)
    bad = np.flatnonzero(~np.isclose(result.equity, equity, rtol=RTOL, atol=0.0))
    assert bad.size == 0, (f"equity differs first at bar {bad[0]}: Backtest {equity[bad[0]]!r}, "
                           f"crossover_backtest {result.equity[bad[0]]!r}")

    # the trade left open at the end, and the orders canceled for want of cash
    left = stats["_strategy"].trades
    if result.open_trade is None:
        assert left == ()
    else:
        assert len(left) == 1
        assert (left[0].size, left[0].entry_bar, left[0].entry_price) == (
            result.open_trade.size, result.open_trade.entry_bar, result.open_trade.entry_price)
    assert canceled == result.canceled_orders
    if dataset == "orcl" and (fast, slow) == (3, 7) and commission:
        assert canceled > 0  # the case exercises cancellations


def test_crossover_engine_and_strategy_part_only_at_an_sma_tie(orcl):
    """The documented exception (docs/backtest.md, "Ties"): ORCL with periods
    2/3 has SMAs that are exactly equal; pandas' rolling mean rounds such a tie
    to a ~1e-16 gap whose sign makes a crossover for backtesting.py's rules,
    while the engine treats the pair as equal.  The two agree on every trade
    before that bar, and part at a bar whose SMAs are within TIE_TOLERANCE."""
    stats, _, result = _run_both(orcl, 2, 3, 0.0)
    ours, engine = _trades_of_backtest(stats), _trades_of_engine(result)
    k = _first_difference(ours, engine)
    assert k is not None, "they now agree on ORCL 2/3: update docs/backtest.md's tie note"
    assert k < min(len(ours), len(engine)), _describe(k, ours, engine)
    x, y = ours[k], engine[k]
    # the first fill where they act differently (an entry or an exit bar), and its signal bar
    fills = [min(a, b) for a, b in ((x[1], y[1]), (x[2], y[2])) if a != b]
    assert fills, _describe(k, ours, engine)
    signal = min(fills) - 1
    close = orcl["Close"].to_numpy()
    gap = SMA(close, 2).to_numpy()[signal] - SMA(close, 3).to_numpy()[signal]
    assert abs(gap) <= TIE_TOLERANCE * SMA(close, 3).to_numpy()[signal], _describe(k, ours, engine)


# ---------------------------------------------------------------------------------------
# 4. the self.I cache
# ---------------------------------------------------------------------------------------
def np_sma(values, n):
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), np.nan)
    c = np.cumsum(values)
    out[n - 1:] = (c[n - 1:] - np.concatenate(([0.0], c[:-n]))) / n
    return out


class CountingCross(Strategy):
    """SmaCross on np_sma; records every self.I call and the values it got."""

    n1 = 10
    n2 = 20
    calls: list = []
    seen: list = []

    def _close(self):
        return self.data.Close

    def init(self):
        close = self._close()
        type(self).calls.extend([("np_sma", self.n1), ("np_sma", self.n2)])
        self.sma1 = self.I(np_sma, close, self.n1)
        self.sma2 = self.I(np_sma, close, self.n2)
        type(self).seen.append((self.n1, self.n2, np.array(self.sma1), np.array(self.sma2)))

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


class SeriesCross(CountingCross):
    """The same, with a pandas Series argument (cannot be keyed: not cached)."""

    calls: list = []
    seen: list = []

    def _close(self):
        return self.data.Close.s


@pytest.fixture(scope="module")
def small_bars() -> pd.DataFrame:
    return _capitalized(synthetic_bars(1200, 11))


def _optimize(bt: Backtest) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, heatmap = bt.optimize(n1=[5, 10, 15], n2=[20, 30], return_heatmap=True)
    return heatmap


def _cold_heatmap(data: pd.DataFrame, cls: type) -> list[float]:
    """Each combination on a Backtest of its own: no cache shared."""
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n1 in (5, 10, 15):
            for n2 in (20, 30):
                stats = Backtest(data, cls).run(n1=n1, n2=n2)
                scores.append(float(stats["SQN"]) if stats["# Trades"] else math.nan)
    return scores


def test_indicator_cache_stats_after_optimize(small_bars):
    CountingCross.calls.clear()
    CountingCross.seen.clear()
    bt = Backtest(small_bars, CountingCross)
    assert bt.indicator_cache_stats == {"hits": 0, "misses": 0, "hit_rate": 0.0, "uncached": 0}
    heatmap = _optimize(bt)
    st = bt.indicator_cache_stats
    calls = CountingCross.calls
    # the key is (function, its arguments' keys, the data): here (np_sma, Close, n)
    distinct = set(calls)
    assert distinct == {("np_sma", n) for n in (5, 10, 15, 20, 30)}
    assert st["misses"] == len(distinct) == 5
    assert st["hits"] > 0 and st["hits"] + st["misses"] == len(calls)  # 6 grid runs + the best again
    assert st["hit_rate"] == st["hits"] / (st["hits"] + st["misses"])
    assert st["uncached"] == 0
    # cached results: the scores of runs that each computed their own indicators
    np.testing.assert_array_equal(heatmap.to_numpy(), _cold_heatmap(small_bars, CountingCross))
    # and every run saw the right values
    close = small_bars["Close"].to_numpy()
    for n1, n2, sma1, sma2 in CountingCross.seen:
        np.testing.assert_array_equal(sma1, np_sma(close, n1))
        np.testing.assert_array_equal(sma2, np_sma(close, n2))


def test_indicator_with_a_series_argument_is_uncached_and_correct(small_bars):
    CountingCross.seen.clear()
    cached = _optimize(Backtest(small_bars, CountingCross))
    SeriesCross.calls.clear()
    SeriesCross.seen.clear()
    bt = Backtest(small_bars, SeriesCross)
    heatmap = _optimize(bt)
    st = bt.indicator_cache_stats
    assert st["uncached"] == len(SeriesCross.calls) == 14
    assert st["hits"] == st["misses"] == 0 and st["hit_rate"] == 0.0
    np.testing.assert_array_equal(heatmap.to_numpy(), cached.to_numpy())
    close = small_bars["Close"].to_numpy()
    for n1, n2, sma1, sma2 in SeriesCross.seen:
        np.testing.assert_array_equal(sma1, np_sma(close, n1))
        np.testing.assert_array_equal(sma2, np_sma(close, n2))


class Mutating(Strategy):
    """Writes into its indicator in init(); records what it got first."""

    n = 10
    got: list = []

    def init(self):
        self.sma = self.I(np_sma, self.data.Close, self.n)
        type(self).got.append((np.array(self.sma), self.sma.flags.writeable))
        self.sma[:] = -1.0
        self.sma[-1] = 1e9

    def next(self):
        pass


def test_indicator_cache_hit_is_a_fresh_writable_array(small_bars):
    Mutating.got.clear()
    bt = Backtest(small_bars, Mutating)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            bt.run(n=10)
    expected = np_sma(small_bars["Close"].to_numpy(), 10)
    assert len(Mutating.got) == 3
    for values, writable in Mutating.got:  # the miss, then two hits
        assert writable
        np.testing.assert_array_equal(values, expected)
    assert bt.indicator_cache_stats["hits"] == 2 and bt.indicator_cache_stats["misses"] == 1


def ident(x):
    return np.array(x, dtype=float)


class ReversedFirst(Strategy):
    got: dict = {}

    def init(self):
        self.backwards = self.I(ident, self.data.Close[::-1])
        self.forwards = self.I(ident, self.data.Close)
        type(self).got.update(backwards=np.array(self.backwards), forwards=np.array(self.forwards))

    def next(self):
        pass


def test_indicator_cache_key_tells_a_reversed_column_from_the_column(small_bars):
    """A same-shape view of a data column (``Close[::-1]``) is not the column:
    its indicator must not be served for the column's."""
    ReversedFirst.got.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Backtest(small_bars, ReversedFirst).run()
    close = small_bars["Close"].to_numpy()
    np.testing.assert_array_equal(ReversedFirst.got["backwards"], close[::-1])
    np.testing.assert_array_equal(ReversedFirst.got["forwards"], close)


def test_strategy_command_maximize_a_risk_metric(strategy_file, builtin_bars, tmp_path, capsys):
    """``--maximize`` a risk-calculator metric: the top rows are Backtest.optimize's
    best by it, on the same grid."""
    out_json = tmp_path / "top.json"
    assert cli.main(["optimize", "--no-progress", "--strategy", f"{strategy_file}:SmaCross", *GRID_ARGS,
                     "--maximize", "stability_of_timeseries", "--top", "3", "--json", str(out_json)]) == 0
    assert "by stability_of_timeseries" in capsys.readouterr().out
    top = json.loads(out_json.read_text())["top"]
    cls = _import_independently(strategy_file, "SmaCross")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, heat = Backtest(builtin_bars, cls).optimize(maximize="stability_of_timeseries", return_heatmap=True,
                                                       **GRID)
    best = heat.dropna().sort_values(ascending=False, kind="stable")[:3]
    assert [(row["n1"], row["n2"]) for row in top] == list(best.index)
    assert [row["score"] for row in top] == pytest.approx(list(best.to_numpy()), rel=1e-12)
