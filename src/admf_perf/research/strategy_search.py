"""``admf-perf optimize --strategy FILE.py:Class --param NAME=RANGE ...``: a
grid search over your own :class:`~admf_perf.Strategy` (a backtesting.py
strategy with its import changed), run by :class:`~admf_perf.Backtest`.

The grid runs in chunks as the built-in crossover's does
(:mod:`admf_perf.research.optimize`: the bars sent once per worker process or
scattered once to Dask, each chunk returning its own best rows, merged by a
bounded :class:`~admf_perf.research.optimize.TopN`); each process keeps one
Backtest per strategy and data set, so its chunks share the ``self.I`` cache.
Docs: ``docs/strategies.md``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._validate import positive_int
from ..incremental.risk import CURVE_METRICS
from ..resources.cpu import CPUManager
from ._grid import _AttrDict, _old_objects_frozen, random_subset
from .bars import OHLCV
from .optimize import SearchReport, TopN, _random_note, _span, describe_data, pool_results
from .overfitting import PBO_MAX_TRIALS, format_overfitting, period_returns, search_overfitting, trial_summary
from .results import ResultsWriter, check_heatmap_path, heatmap_grid, write_heatmap

__all__ = ["STRATEGY_COLUMNS", "StrategySearchReport", "StrategyTask", "format_strategy_report", "load_strategy",
           "parse_param", "run_strategy_search"]


#: The statistics a strategy search reports for each row (besides the score).
STRATEGY_COLUMNS = ("SQN", "Sharpe Ratio", "Return [%]", "Max. Drawdown [%]", "# Trades", "Win Rate [%]",
                    "Equity Final [$]")


def load_strategy(spec: str) -> type:
    """The :class:`~admf_perf.Strategy` subclass named by ``FILE.py:Class``
    (the file is imported as a module of its own)."""
    import importlib.util

    from .strategy import Strategy

    path, sep, name = str(spec).rpartition(":")
    if not sep or not path or not name:
        raise ValueError(f"--strategy must be FILE.py:Class, got {spec!r}")
    if not os.path.isfile(path):
        raise ValueError(f"--strategy {spec}: no such file: {path}")
    real = os.path.realpath(path)
    module_name = f"_admf_perf_strategy_{abs(hash(real)):x}"
    module = sys.modules.get(module_name)
    if module is None:
        loader_spec = importlib.util.spec_from_file_location(module_name, real)
        if loader_spec is None or loader_spec.loader is None:
            raise ValueError(f"--strategy {spec}: cannot import {path}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:  # the user's file: any error is one line
            del sys.modules[module_name]
            raise ValueError(f"--strategy {spec}: importing {path} failed: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, name, None)
    if cls is None:
        raise ValueError(f"--strategy {spec}: {path} has no class {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValueError(f"--strategy {spec}: {name} is not a subclass of admf_perf.Strategy")
    return cls


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _is_parameter(strategy: type, name: str) -> bool:
    """A class-level value of the strategy (not a method, a property or
    anything of Strategy's own)."""
    import inspect

    from .strategy import Strategy

    if name.startswith("_") or hasattr(Strategy, name) or not hasattr(strategy, name):
        return False
    value = inspect.getattr_static(strategy, name)
    return not (callable(value) or isinstance(value, (property, staticmethod, classmethod)))


def parse_param(text: str, strategy: type | None = None) -> tuple[str, list[int | float]]:
    """``NAME=START:STOP[:STEP]`` (STOP included; ints, or floats) or
    ``NAME=V1,V2,...``: the parameter's name and its values."""
    name, sep, spec = str(text).partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise ValueError(f"--param must be NAME=START:STOP[:STEP] or NAME=V1,V2,..., got {text!r}")
    try:
        if ":" in spec:
            parts = [_number(p) for p in spec.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            start, stop, step = (*parts, 1) if len(parts) == 2 else parts
            if not step > 0:
                raise ValueError
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            values: list[int | float] = [start + k * step for k in range(max(count, 0))]
            if any(isinstance(p, float) for p in parts):
                values = [round(v, 12) for v in values]
        else:
            values = [_number(p) for p in spec.split(",") if p.strip()]
    except ValueError:
        raise ValueError(f"--param {name}: must be START:STOP[:STEP] or a comma list of numbers, "
                         f"got {spec!r}") from None
    if not values:
        raise ValueError(f"--param {name}: {spec!r} gives no values")
    if strategy is not None and not _is_parameter(strategy, name):
        params = sorted(k for k in dir(strategy) if _is_parameter(strategy, k))
        raise ValueError(f"--param {name}: {strategy.__name__} has no parameter {name!r} "
                         f"(its parameters: {', '.join(params) or 'none'})")
    return name, values


@dataclass(frozen=True)
class StrategyTask:
    """What each chunk of a strategy search needs besides its parameter sets
    and the bars (small: sent with every chunk)."""

    path: str
    class_name: str
    cash: float
    commission: float
    maximize: str
    top_n: int
    every: bool = False      # every run's row (--results), not only the chunk's best
    blocks: bool = True      # the block moments (PBO)
    filters: bool = True     # the chunk sets the warning filters (not on threads: see _quiet)


@contextlib.contextmanager
def _quiet(here: bool = True) -> Iterator[None]:
    """backtesting.py's UserWarnings about the data off, for a search's runs.

    The filters are process-wide (``catch_warnings`` swaps them), so on the
    "threads" backend the search sets them once around all its chunks, and
    the chunks (``here=False``) leave them alone: two threads swapping them
    would restore each other's."""
    if not here:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


#: One Backtest per (strategy, settings, bars) in each process and thread
#: (the "threads" backend runs chunks side by side), so a worker's chunks
#: share its ``self.I`` cache.
_BACKTESTS: dict[tuple[Any, ...], Any] = {}


def _strategy_backtest(task: StrategyTask, bars: pd.DataFrame) -> Any:
    from .strategy import Backtest

    key = (task.path, task.class_name, task.cash, task.commission, id(bars), threading.get_ident())
    entry = _BACKTESTS.get(key)
    if entry is None:
        cls = load_strategy(f"{task.path}:{task.class_name}")
        with _quiet(task.filters):
            entry = _BACKTESTS[key] = (Backtest(bars, cls, cash=task.cash, commission=task.commission), bars)
    return entry[0]


def _strategy_chunk(combos: Sequence[tuple[int, dict[str, Any]]], bars: pd.DataFrame, task: StrategyTask
                    ) -> tuple[list[dict[str, Any]], int, int, int, list[Any]]:
    """Run ``combos`` (grid position, parameters); return (the chunk's top rows,
    runs, ``self.I`` hits, misses, and each run's (position, per-bar Sharpe,
    block sums, block sums of squares): the search's overfitting measures)."""
    bt = _strategy_backtest(task, bars)
    before = bt._indicator_cache.stats()
    from ._stats import stat_score
    top = TopN(task.top_n, key=lambda row: row["score"], tiebreak=lambda row: row["_pos"])
    score = (stat_score(task.maximize, bt._data) if task.maximize in CURVE_METRICS
             else lambda stats: _stat(stats, task.maximize))
    trials: list[Any] = []
    rows: list[dict[str, Any]] = []
    with _quiet(task.filters), _old_objects_frozen():      # as Backtest.optimize's grid
        for pos, params in combos:
            stats = bt._run(params, frames=False)  # the statistics only: no frames
            row = {"_pos": pos, **params, "score": score(stats) if stats["# Trades"] else math.nan}
            row.update({k: _stat(stats, k) for k in (_NUMERIC if task.every else STRATEGY_COLUMNS)})
            if task.every:
                rows.append(row)
            else:
                top.push(row)
            sharpe, sums, squares = trial_summary(period_returns(stats["_equity"]))
            trials.append((pos, row["score"], sharpe, sums if task.blocks else None,
                           squares if task.blocks else None))
    after = bt._indicator_cache.stats()
    return (rows if task.every else top.items(), len(combos), after.hits - before.hits,
            after.misses - before.misses, trials)


def _constraint(constraint: str | Callable[[Any], bool], names: Sequence[str]) -> Callable[[Any], bool]:
    """A callable of a parameter set: ``constraint`` itself, or a Python
    expression over the parameters' names (``"n1 < n2"``), evaluated with no
    builtins but ``abs``, ``min``, ``max`` and ``round``."""
    if callable(constraint):
        return constraint
    if not isinstance(constraint, str):
        raise TypeError(f"--constraint must be an expression or a callable, got {type(constraint).__name__}")
    try:
        code = compile(constraint, "--constraint", "eval")
    except SyntaxError as exc:
        raise ValueError(f"--constraint {constraint!r}: {exc.msg}") from None
    unknown = sorted(set(code.co_names) - set(names) - set(_SAFE))
    if unknown:
        raise ValueError(f"--constraint {constraint!r}: unknown name(s) {', '.join(unknown)} "
                         f"(the parameters: {', '.join(names)})")

    def admits(params: Any) -> bool:
        return bool(eval(code, {"__builtins__": _SAFE}, dict(params)))  # noqa: S307 (the user's own expression)
    return admits


_SAFE = {"abs": abs, "min": min, "max": max, "round": round}


def _stat(stats: dict[str, Any], key: str) -> float:
    """A numeric statistic of a run (``Commissions [$]`` is absent, as in
    backtesting.py, when none were paid: 0)."""
    if key not in stats:
        return 0.0 if key == "Commissions [$]" else math.nan
    return float(stats[key])


#: The statistics that are not numbers (dates and durations): not rankable.
_NOT_NUMERIC = frozenset(("Start", "End", "Duration", "Max. Drawdown Duration", "Avg. Drawdown Duration",
                          "Max. Trade Duration", "Avg. Trade Duration"))


def _numeric_keys() -> tuple[str, ...]:
    from ._stats import STATS_KEYS
    return tuple(k for k in STATS_KEYS if not k.startswith("_") and k not in _NOT_NUMERIC)


#: What --results writes of each run: every numeric statistic.
_NUMERIC = _numeric_keys()


@dataclass(kw_only=True)
class StrategySearchReport(SearchReport):
    """What a search over a user's strategy found and what it cost."""

    strategy: str
    maximize: str


def run_strategy_search(data: pd.DataFrame, spec: str, params: Sequence[tuple[str, Sequence[Any]]], *,
                        maximize: str = "SQN", cash: float = 10_000.0, commission: float = 0.0,
                        top_n: int = 10, workers: int = 1, cpu: CPUManager | None = None,
                        progress: Callable[[int, int], Any] | None = None,
                        source: str = "bars", chunks_per_worker: int = 8, search: str = "grid",
                        trials: int | float | None = None, seed: int | None = None,
                        constraint: str | Callable[[Any], bool] | None = None, results: str | None = None,
                        heatmap: str | None = None) -> StrategySearchReport:
    """Backtest the strategy ``FILE.py:Class`` (``spec``) over the grid of
    ``params`` (name, values) on ``data`` with :class:`~admf_perf.Backtest`;
    keep the ``top_n`` best by the statistic ``maximize`` (NaN, ranked last,
    for a run without trades, as backtesting.py's heatmap).  Workers and Dask
    as :func:`run_grid_search`."""
    from ._stats import STATS_KEYS

    cls = load_strategy(spec)
    # this toolkit's bar loaders name the columns open..volume; backtesting.py's Open..Volume
    data = data.rename(columns={c: c.capitalize() for c in data.columns if str(c) in OHLCV})
    if maximize not in CURVE_METRICS and (maximize not in STATS_KEYS or maximize.startswith("_")
                                          or maximize in _NOT_NUMERIC):
        raise ValueError(f"--maximize must be a numeric statistic of a run, one of "
                         f"{', '.join(k for k in STATS_KEYS if not k.startswith('_') and k not in _NOT_NUMERIC)}, "
                         f"or a risk metric of its equity curve, one of {', '.join(CURVE_METRICS)}; "
                         f"got {maximize!r}")
    workers = positive_int(workers, "workers")
    top_n = positive_int(top_n, "top_n")
    names = [n for n, _ in params]
    if len(set(names)) != len(names):
        raise ValueError(f"--param: a parameter is given twice: {names}")
    for name, _ in params:
        if not _is_parameter(cls, name):
            parse_param(f"{name}=0", cls)  # raises, naming the class's parameters
    combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*(v for _, v in params))]
    if constraint is not None:
        admits = _constraint(constraint, names)
        combos = [c for c in combos if admits(_AttrDict(c))]
    if not combos:
        raise ValueError("the grid is empty: give every --param at least one value"
                         + (", and a --constraint some parameter set meets" if constraint is not None else ""))
    grid_size = len(combos)
    if search not in ("grid", "random"):
        raise ValueError(f"--search must be grid or random, got {search!r}")
    if search == "random":
        if trials is None:
            raise ValueError("--search random needs --trials N (a count, or a fraction of the grid)")
        try:
            combos = random_subset(combos, trials, seed)
        except ValueError as exc:
            raise ValueError(f"--trials: {exc}") from None
    elif trials is not None:
        raise ValueError("--trials is for --search random")
    path, _, class_name = spec.rpartition(":")
    if heatmap is not None:
        check_heatmap_path(heatmap)
        if len(names) < 2:
            raise ValueError("--heatmap needs two --param (its axes)")
    writer = ResultsWriter(results) if results is not None else None
    task = StrategyTask(os.path.realpath(path), class_name, float(cash), float(commission), maximize, top_n,
                        results is not None, len(combos) <= PBO_MAX_TRIALS)
    indexed = list(enumerate(combos))
    size = max(1, math.ceil(len(indexed) / (workers * max(1, chunks_per_worker))))
    chunks = [indexed[i:i + size] for i in range(0, len(indexed), size)]
    t0 = time.perf_counter()
    if workers == 1 and (cpu is None or cpu.backend == "local"):
        backend = "local"
        outcomes: Iterable[tuple[list[dict[str, Any]], int, int, int, list[Any]]] = (
            _strategy_chunk(chunk, data, task) for chunk in chunks)
    else:
        cpu = cpu or CPUManager.get_instance()
        backend = cpu.backend
        task = dataclasses.replace(task, filters=backend != "threads")
        outcomes = _strategy_pool_results(cpu, workers, chunks, data, task)
    top = TopN(top_n, key=lambda row: row["score"], tiebreak=lambda row: row["_pos"])
    done = hits = misses = 0
    sharpes, scores = np.full(len(combos), np.nan), np.full(len(combos), np.nan)
    block_sums: Any = None
    block_squares: Any = None
    try:
        with _quiet(not task.filters):          # threads: once, here, for all the chunks
            for rows, n, h, m, summaries in outcomes:
                for pos, score, sharpe, sums, squares in summaries:
                    sharpes[pos], scores[pos] = sharpe, score
                    if sums is not None:
                        if block_sums is None:
                            block_sums = np.zeros((len(sums), len(combos)))
                            block_squares = np.zeros((len(sums), len(combos)))
                        block_sums[:, pos], block_squares[:, pos] = sums, squares
                if writer is not None:
                    writer.write([{k: v for k, v in r.items() if k != "_pos"} for r in rows])
                top.extend(rows)
                done += n
                hits += h
                misses += m
                if progress:
                    progress(done, len(combos))
    finally:
        _BACKTESTS.clear()  # this process's (the workers' go with their processes)
        if writer is not None:
            writer.close()
    if heatmap is not None:
        xs, ys, z, others = heatmap_grid([(combos[k], scores[k]) for k in range(len(combos))], names[0], names[1])
        held = ", ".join(f"{k}={v}" for k, v in others.items())
        write_heatmap(heatmap, xs, ys, z, names[0], names[1],
                      f"{cls.__name__}: {maximize} by {names[0]} x {names[1]}" + (f" ({held})" if held else ""))
    seconds = time.perf_counter() - t0          # the grid's backtests, as the built-in search's
    best = top.items()
    best_returns = np.array([])
    if best:  # the best, once more, for its returns
        with _quiet():
            best_returns = period_returns(_strategy_backtest(task, data)._run(combos[best[0]["_pos"]],
                                                                               frames=False)["_equity"])
        _BACKTESTS.clear()
    overfitting = search_overfitting(sharpes, best_returns, block_sums, block_squares, (len(data) - 1) // 16)
    lookups = hits + misses
    return StrategySearchReport(
        strategy=f"{cls.__name__} ({path})", maximize=maximize, data=describe_data(data, source),
        grid={"params": {n: list(v) for n, v in params}, "runs": len(combos), "chunks": len(chunks),
              "chunk_size": size, "search": search, "grid_size": grid_size, "seed": seed,
              "constraint": constraint if isinstance(constraint, str) or constraint is None else repr(constraint)},
        top=best, runs=done, seconds=seconds, workers=workers, backend=backend,
        cache={"indicator_requests": lookups, "indicator_computed": misses,
               "indicator_hit_rate": hits / lookups if lookups else 0.0},
        overfitting=overfitting)


def _strategy_pool_results(cpu: CPUManager, workers: int, chunks: list[Any], bars: pd.DataFrame,
                           task: StrategyTask) -> Iterator[tuple[list[dict[str, Any]], int, int, int, list[Any]]]:
    return pool_results(cpu, workers, bars, "optimize.strategy", ((_strategy_chunk, chunk, task) for chunk in chunks))


def format_strategy_report(report: StrategySearchReport) -> str:
    """The text ``admf-perf optimize --strategy`` prints."""
    names = list(report.grid["params"])
    head = ["#", *names, report.maximize, *(c for c in STRATEGY_COLUMNS if c != report.maximize)]
    keys = [*names, "score", *(c for c in STRATEGY_COLUMNS if c != report.maximize)]

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return str(v)

    rows = [[str(i + 1), *(cell(row[k]) for k in keys)] for i, row in enumerate(report.top)]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    d, g, c = report.data, report.grid, report.cache
    grid = ", ".join(f"{n} {_span(v)}" for n, v in g["params"].items())
    return "\n".join([
        f"admf-perf optimize: {report.strategy}, {g['runs']} parameter sets ({grid}"
        f"{', ' + g['constraint'] if g.get('constraint') else ''}"
        f"{_random_note({**g, 'pairs': g['runs']})}"
        f") on {d['bars']} bars of "
        f"{d['source']} ({d['start']} .. {d['end']})",
        f"top {len(report.top)} by {report.maximize} (NaN: a run without trades)",
        "",
        line(head),
        line(["-" * w for w in widths]),
        *(line(row) for row in rows),
        "",
        f"timing:    {report.runs} backtests in {report.seconds:.3f} s = {report.runs_per_second:,.0f} "
        f"backtests/s ({report.workers} worker{'s' if report.workers > 1 else ''}, {report.backend} backend, "
        f"{g['chunks']} chunks of <= {g['chunk_size']})",
        f"cache:     self.I series: {c['indicator_requests']} requests, {c['indicator_computed']} computed, "
        f"hit rate {c['indicator_hit_rate']:.1%}",
        format_overfitting(report.overfitting) if report.overfitting else "",
    ]).rstrip()
