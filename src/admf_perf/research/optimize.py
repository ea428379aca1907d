"""Parameter optimization: the grid search behind ``admf-perf optimize``, and
the optimization-process settings (a bounded top-N heap, gc after each run).

A grid of moving-average crossover parameter sets ``(fast, slow)`` runs over
one data set (:func:`admf_perf.backtest.crossover_backtest`).  Every SMA series
the grid needs is computed once, before any run (``BarData.precompute``), and
shared by every parameter set that uses it; the prepared data is handed to
the workers once (``CPUManager.share``: once per worker process, or scattered
once to a Dask cluster), not once per run.  Runs are batched into chunks
(about eight per worker, so the workers stay busy to the end); a chunk returns
only its own best ``top_n`` rows, and :class:`TopN` merges them, so memory
stays bounded whatever the grid's size.

``workers=1`` runs the chunks in this process (no pool); more workers use the
CPUManager's process pool (or its Dask backend, ``dask=...``).
"""
from __future__ import annotations

import gc
import heapq
import itertools
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import psutil

from .._validate import check_callable, check_choice, check_real, positive_int
from ..incremental.risk import CURVE_METRICS
from ..resources.cpu import CPUManager
from ..resources.cpu.manager import THREAD_NAME_PREFIX
from ._grid import random_subset
from .backtest import BarData, crossover_backtest, prepare
from .bars import default_periods_per_year, load_bars, synthetic_bars
from .overfitting import PBO_MAX_TRIALS, format_overfitting, period_returns, search_overfitting, trial_summary
from .results import ResultsWriter, check_heatmap_path, heatmap_grid, write_heatmap

__all__ = [
    "METRICS", "OptimizationReport", "OptimizationSettings", "SearchReport", "TopN",
    "default_periods_per_year", "format_report", "grid_pairs", "parse_periods", "run_grid_search",
]

#: ``--metric`` name -> the backtest metric it ranks by, the higher the
#: better (``max_drawdown``, VaR and CVaR are negative fractions: closer to 0
#: is better). The risk calculator's :data:`~admf_perf.risk.CURVE_METRICS`
#: are computed only for the search that ranks by one (alpha, beta and the
#: information ratio against the close: buy and hold).
METRICS: dict[str, str] = {"sharpe": "sharpe", "return": "total_return", "drawdown": "max_drawdown",
                           "sortino": "sortino", **{m: m for m in CURVE_METRICS}}


class TopN:
    """The ``n`` best items seen, by ``key`` (higher is better), in O(log n)
    per push and O(n) memory.

    A NaN key ranks below every number; ties keep the item pushed first, or
    the one with the lower ``tiebreak(item)`` when given (a grid position:
    merged chunk winners then do not depend on which chunk finished first).
    ``items()`` returns the best first.
    """

    def __init__(self, n: int, key: Callable[[Any], float],
                 tiebreak: Callable[[Any], int] | None = None) -> None:
        self.n = positive_int(n, "n")
        self.key = check_callable(key, "key")
        self.tiebreak = check_callable(tiebreak, "tiebreak", allow_none=True)
        self._heap: list[tuple[float, int, Any]] = []  # min-heap of (score, -order, item)
        self._order = itertools.count()
        self.seen = 0

    @staticmethod
    def _score(value: Any) -> float:
        v = float(value)
        return -math.inf if math.isnan(v) else v

    def push(self, item: Any) -> None:
        self.seen += 1
        rank = next(self._order) if self.tiebreak is None else self.tiebreak(item)
        entry = (self._score(self.key(item)), -rank, item)
        if len(self._heap) < self.n:
            heapq.heappush(self._heap, entry)
        elif entry[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, entry)

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.push(item)

    def items(self) -> list[Any]:
        """Best first (ties: the first pushed first)."""
        return [item for _, _, item in sorted(self._heap, key=lambda e: e[:2], reverse=True)]

    def __len__(self) -> int:
        return len(self._heap)


@dataclass(frozen=True)
class OptimizationSettings:
    """How a grid search runs and what it keeps.

    ``top_n`` results kept by ``metric`` (a key of :data:`METRICS`);
    ``gc_after_run`` collects garbage after every backtest
    (slower; bounds memory when runs create cycles); ``cash`` (> 0),
    ``commission`` (a fraction of each fill's value in [0, 1)) and
    ``periods_per_year`` (> 0) go to every backtest, checked here as
    :func:`~admf_perf.backtest.crossover_backtest` checks them.
    """

    top_n: int = 10
    metric: str = "sharpe"
    gc_after_run: bool = False
    cash: float = 10_000.0
    commission: float = 0.0
    periods_per_year: float = 252.0

    def __post_init__(self) -> None:
        # frozen: the checked (normalized) values are stored with object.__setattr__
        checked = {
            "top_n": positive_int(self.top_n, "top_n"),
            "metric": check_choice(self.metric, "metric", sorted(METRICS)),
            "cash": check_real(self.cash, "cash", minimum=0.0, open_minimum=True),
            "commission": check_real(self.commission, "commission"),
            "periods_per_year": check_real(self.periods_per_year, "periods_per_year", minimum=0.0,
                                           open_minimum=True),
        }
        if not 0.0 <= checked["commission"] < 1.0:
            raise ValueError(f"commission must be a fraction of the fill value in [0, 1), "
                             f"got {self.commission!r}")
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def metric_key(self) -> str:
        return METRICS[self.metric]

    @property
    def curve_metrics(self) -> tuple[str, ...]:
        """The risk calculator's metrics each backtest adds: the ranked one."""
        return (self.metric_key,) if self.metric_key in CURVE_METRICS else ()


def parse_periods(text: str, name: str = "periods") -> list[int]:
    """``"5:50:5"`` (start:stop:step, stop included), ``"10:30"`` (step 1) or
    ``"5,10,20"``: sorted distinct periods >= 1."""
    text = str(text).strip()
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            start, stop, step = (*parts, 1) if len(parts) == 2 else parts
            if step < 1:
                raise ValueError
            values = list(range(start, stop + 1, step))
        else:
            values = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ValueError(f"{name} must be START:STOP[:STEP] or a comma list of ints; got {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"{name} must give periods >= 1; got {text!r}")
    return sorted(set(values))


def grid_pairs(fast: Sequence[int], slow: Sequence[int]) -> list[tuple[int, int]]:
    """Every ``(f, s)`` with ``f`` in ``fast``, ``s`` in ``slow`` and ``f < s``."""
    pairs = [(f, s) for f in fast for s in slow if f < s]
    if not pairs:
        raise ValueError("the grid is empty: no fast period is below a slow period")
    return pairs


def _row(fast: int, slow: int, metrics: dict[str, float]) -> dict[str, Any]:
    return {"fast": fast, "slow": slow, **metrics}


def _run_chunk(pairs: Sequence[tuple[int, int]], data: BarData, settings: OptimizationSettings,
               every: bool = False, blocks: bool = True) -> tuple[list[dict[str, Any]], int, int, list[Any]]:
    """Backtest ``pairs``; return (the chunk's top rows, or every row with
    ``every``; runs; SMA series computed here; and each run's (pair, score,
    per-bar Sharpe, block sums, block sums of squares): the search's heatmap
    and overfitting measures, 34 numbers a run, the block moments only with
    ``blocks``)."""
    before = len(data.cached_periods)
    top = TopN(settings.top_n, key=lambda row: row[settings.metric_key])
    gc_after = settings.gc_after_run
    curve = settings.curve_metrics
    trials: list[Any] = []
    rows: list[dict[str, Any]] = []
    for fast, slow in pairs:
        result = crossover_backtest(data, fast, slow, cash=settings.cash, commission=settings.commission,
                                    periods_per_year=settings.periods_per_year, curve_metrics=curve)
        row = _row(fast, slow, result.metrics)
        if every:
            rows.append(row)
        else:
            top.push(row)
        sharpe, sums, squares = trial_summary(period_returns(result.equity))
        trials.append(((fast, slow), row[settings.metric_key], sharpe, sums if blocks else None,
                       squares if blocks else None))
        del result
        if gc_after:
            gc.collect()
    return rows if every else top.items(), len(pairs), len(data.cached_periods) - before, trials


def _pool_results(cpu: CPUManager, workers: int, chunks: list[list[tuple[int, int]]], bars: BarData,
                  settings: OptimizationSettings, every: bool = False, blocks: bool = True
                  ) -> Iterator[tuple[list[dict[str, Any]], int, int, list[Any]]]:
    """Run the chunks on ``cpu``'s process pool (``workers`` processes) or its
    Dask backend, the bars sent once; yield results as chunks finish."""
    return pool_results(cpu, workers, bars, "optimize.chunk",
                        ((_run_chunk, chunk, settings, every, blocks) for chunk in chunks))


def pool_results(cpu: CPUManager, workers: int, data: Any, task_name: str,
                 calls: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
    """Run each ``(func, first, *rest)`` of ``calls`` as ``func(first,
    handle, *rest)`` on ``cpu``'s process pool (``workers`` processes) or its
    Dask backend, where ``handle`` is ``data`` shared once with every
    worker; yield the results as the calls finish (the rest are canceled
    when the caller stops early).

    On the ``"threads"`` backend ``handle`` is ``data`` itself, and at most
    ``workers`` calls run at once on the manager's thread pool (grown to
    ``workers`` threads if smaller; never shrunk: other users share it).  A
    search run by a task of such a pool runs its calls there, one after the
    other: queued behind the task that waits for them, they would never
    start."""
    backend = cpu.backend
    if backend == "threads":
        if threading.current_thread().name.startswith(THREAD_NAME_PREFIX):
            for func, first, *rest in calls:
                yield func(first, data, *rest)
            return
        threads = cpu.pool_sizes()["threads"]
        if threads is None or threads < workers:
            cpu.init_thread_pool(workers)
        yield from _at_most(workers, (cpu.submit_task(func, first, data, *rest, task_name=task_name)
                                      for func, first, *rest in calls))
        return
    if backend == "local":
        cpu.init_process_pool(workers)
    with cpu.share(data) as handle:
        futures = [cpu.submit_task(func, first, handle, *rest, task_name=task_name, use_process=True)
                   for func, first, *rest in calls]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _at_most(n: int, submissions: Iterator[Future]) -> Iterator[Any]:
    """The results of the futures ``submissions`` makes, as they finish,
    with at most ``n`` submitted and not yet finished; when the caller
    stops early, nothing more is submitted and the unfinished are canceled.

    A future's completion submits the next one from the thread that
    completed it (its done callback): a pool thread that finishes a chunk
    takes the next at once, without waiting for this generator's thread to
    wake, collect the result and submit."""
    lock = threading.RLock()      # an already-finished future runs its callback at once, lock held
    finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
    running: set[Future] = set()
    state = {"more": True, "stopped": False, "submitted": 0, "submitting": False}

    def submit_next() -> None:     # with lock: up to n running (a loop: no recursion through done)
        state["submitting"] = True
        try:
            while not state["stopped"] and state["more"] and len(running) < n:
                try:
                    future = next(submissions, None)
                except BaseException as exc:    # noqa: BLE001 -- a failed submission: raised where results are read
                    future = Future()
                    future.set_exception(exc)
                    state["more"] = False
                if future is None:
                    state["more"] = False
                    return
                state["submitted"] += 1
                running.add(future)
                future.add_done_callback(done)
        finally:
            state["submitting"] = False

    def done(future: Future) -> None:
        finished.put(future)
        with lock:
            running.discard(future)
            if not state["submitting"]:        # else the loop above goes on
                submit_next()

    yielded = 0
    try:
        with lock:
            submit_next()
        while True:
            with lock:
                if not state["more"] and yielded == state["submitted"]:
                    break
            future = finished.get()
            yielded += 1
            yield future.result()
    finally:
        with lock:
            state["stopped"] = True
            unfinished = list(running)
        for future in unfinished:
            future.cancel()


@dataclass(kw_only=True)
class SearchReport:
    """What a search found and what it cost: the fields both searches report
    (the built-in crossover's :class:`OptimizationReport`, a user strategy's
    ``StrategySearchReport``)."""

    data: dict[str, Any]
    grid: dict[str, Any]
    top: list[dict[str, Any]]
    runs: int
    seconds: float
    workers: int
    backend: str
    cache: dict[str, Any]
    overfitting: dict[str, Any] = field(default_factory=dict)

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.seconds if self.seconds > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers as null or "inf"; a top
        row's private keys, such as its grid position, left out)."""
        out = asdict(self)
        out["runs_per_second"] = self.runs_per_second
        out["top"] = [{k: _jsonable(v) for k, v in row.items() if not k.startswith("_")} for row in self.top]
        out["overfitting"] = {k: _jsonable(v) for k, v in self.overfitting.items()}
        return out


@dataclass(kw_only=True)
class OptimizationReport(SearchReport):
    """What a grid search of the built-in crossover found and what it cost."""

    settings: OptimizationSettings
    resources: dict[str, Any] = field(default_factory=dict)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def describe_data(bars: pd.DataFrame | BarData, source: str) -> dict[str, Any]:
    index = bars.index
    return {"source": source, "bars": len(index), "start": str(index[0]), "end": str(index[-1])}


def run_grid_search(data: pd.DataFrame | BarData, fast: Sequence[int], slow: Sequence[int],
                    settings: OptimizationSettings | None = None, *, workers: int = 1,
                    cpu: CPUManager | None = None, progress: Callable[[int, int], Any] | None = None,
                    source: str = "bars", chunks_per_worker: int = 8, search: str = "grid",
                    trials: int | float | None = None, seed: int | None = None, results: str | None = None,
                    heatmap: str | None = None) -> OptimizationReport:
    """Backtest every ``(f, s)`` of :func:`grid_pairs` on ``data``; keep the
    ``settings.top_n`` best by ``settings.metric``.

    ``workers``: 1 runs here; more use ``cpu``'s process pool of that size (or
    its thread pool on the ``"threads"`` backend, or Dask when in use).  ``progress(done, total)`` is called
    as chunks finish.  ``search="random"``: ``trials`` of the pairs (a
    count, or a fraction in (0, 1]) drawn with ``seed`` before any run (the
    same trials whatever the workers).  ``results``: a CSV or Parquet path
    that gets every run's row as its chunk finishes; ``heatmap``: a PNG or
    HTML path for the metric over fast x slow.
    """
    settings = settings or OptimizationSettings()
    workers = positive_int(workers, "workers")
    check_callable(progress, "progress", allow_none=True, what="a callable(done, total)")
    pairs = grid_pairs(fast, slow)
    grid_size = len(pairs)
    check_choice(search, "search", ["grid", "random"])
    if search == "random":
        if trials is None:
            raise ValueError("a random search needs trials (--trials N: a count, or a fraction of the grid)")
        pairs = random_subset(pairs, trials, seed)
    elif trials is not None:
        raise ValueError("trials is for a random search (--search random)")
    bars = prepare(data)
    longest = max(s for _, s in pairs)
    if longest >= len(bars):
        raise ValueError(f"slow period {longest} needs more than the {len(bars)} bars of the data")
    periods = sorted({p for pair in pairs for p in pair})
    proc = psutil.Process()                       # the CPU bookkeeping (2 ms to list the children
    cpu_before, workers_before = proc.cpu_times(), _children_cpu(proc)   # here) is not the search's time
    t0 = time.perf_counter()
    computed = len(periods) - len(set(periods) & set(bars.cached_periods))
    bars.precompute(periods)                      # every SMA once, shared by the grid
    order = {pair: i for i, pair in enumerate(pairs)}
    top = TopN(settings.top_n, key=lambda row: row[settings.metric_key],
               tiebreak=lambda row: order[(row["fast"], row["slow"])])
    done = 0
    size = max(1, math.ceil(len(pairs) / (workers * max(1, chunks_per_worker))))
    chunks = [pairs[i:i + size] for i in range(0, len(pairs), size)]
    if heatmap is not None:
        check_heatmap_path(heatmap)
    every, blocks = results is not None, len(pairs) <= PBO_MAX_TRIALS
    writer = ResultsWriter(results) if results is not None else None
    if workers == 1 and (cpu is None or cpu.backend == "local"):
        backend = "local"
        outcomes: Iterable[tuple[list[dict[str, Any]], int, int, list[Any]]] = (
            _run_chunk(chunk, bars, settings, every, blocks) for chunk in chunks)
    else:
        cpu = cpu or CPUManager.get_instance()
        backend = cpu.backend
        outcomes = _pool_results(cpu, workers, chunks, bars, settings, every, blocks)
    sharpes, scores = np.full(len(pairs), np.nan), np.full(len(pairs), np.nan)
    block_sums: Any = None
    block_squares: Any = None
    try:
        for rows, n, extra, summaries in outcomes:
            for pair, score, sharpe, sums, squares in summaries:
                k = order[pair]
                sharpes[k], scores[k] = sharpe, score
                if sums is not None:
                    if block_sums is None:
                        block_sums, block_squares = np.zeros((len(sums), len(pairs))), np.zeros((len(sums), len(pairs)))
                    block_sums[:, k], block_squares[:, k] = sums, squares
            if writer is not None:
                writer.write(rows)
            top.extend(rows)
            done += n
            computed += extra
            if progress:
                progress(done, len(pairs))
    finally:
        if writer is not None:
            writer.close()
    if heatmap is not None:
        xs, ys, z, _ = heatmap_grid([({"fast": f, "slow": sl}, scores[order[(f, sl)]]) for f, sl in pairs],
                                    "slow", "fast")
        write_heatmap(heatmap, xs, ys, z, "slow", "fast", f"SMA crossover: {settings.metric} by fast x slow")
    seconds = time.perf_counter() - t0
    cpu_after, workers_after = proc.cpu_times(), _children_cpu(proc)
    own_cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    children_cpu = sum(t - workers_before.get(pid, 0.0) for pid, t in workers_after.items())
    best = top.items()                          # ties in the grid's order
    best_returns = period_returns(crossover_backtest(        # the best, once more, for its returns
        bars, best[0]["fast"], best[0]["slow"], cash=settings.cash, commission=settings.commission,
        periods_per_year=settings.periods_per_year).equity) if best else np.array([])
    overfitting = search_overfitting(sharpes, best_returns, block_sums, block_squares, (len(bars) - 1) // 16)
    requests = 2 * len(pairs)
    info = proc.memory_info()
    return OptimizationReport(
        settings=settings,
        data=describe_data(bars, source),
        grid={"fast": list(fast), "slow": list(slow), "pairs": len(pairs), "chunks": len(chunks),
              "chunk_size": size, "search": search, "grid_size": grid_size, "seed": seed},
        top=best[: settings.top_n],
        runs=done,
        seconds=seconds,
        workers=workers,
        backend=backend,
        cache={"sma_requests": requests, "sma_computed": computed,
               "sma_hit_rate": (requests - computed) / requests if requests else 0.0},
        resources={"rss": info.rss, "cpu_seconds_main": own_cpu, "cpu_seconds_workers": children_cpu,
                   "cpu_count": os.cpu_count(),
                   "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        overfitting=overfitting,
    )


def _children_cpu(proc: psutil.Process) -> dict[int, float]:
    """CPU seconds of each live child process (the pool's workers)."""
    out = {}
    for child in proc.children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue
        out[child.pid] = t.user + t.system
    return out


def load_data(path: str | None, synthetic_size: int = 2520, seed: int = 42) -> tuple[pd.DataFrame, str]:
    """Bars from ``path`` (CSV or Parquet), or the built-in seeded data set."""
    if path is None:
        return synthetic_bars(synthetic_size, seed), f"built-in: {synthetic_size} synthetic daily bars (seed {seed})"
    return load_bars(path), str(path)


class ProgressBar:
    """A one-line progress bar on a terminal (``stream``), redrawn at most
    10 times a second; silent when the stream is not a terminal."""

    def __init__(self, stream: Any = None, width: int = 30, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.t0 = time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        elapsed = now - self.t0
        filled = int(self.width * done / total) if total else self.width
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} runs, "
                          f"{rate:,.0f}/s, eta {eta:.1f}s ")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _fmt(v: Any, kind: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    if kind == "pct":
        return f"{v * 100:.2f}%"
    if kind == "money":
        return f"{v:,.2f}"
    if kind == "int":
        return f"{int(v)}"
    return f"{v:.3f}"


_COLUMNS = (("fast", "fast", "int"), ("slow", "slow", "int"), ("sharpe", "sharpe", "num"),
            ("sortino", "sortino", "num"), ("return", "total_return", "pct"),
            ("max dd", "max_drawdown", "pct"), ("trades", "trades", "int"), ("win rate", "win_rate", "pct"),
            ("final equity", "final_equity", "money"))


def format_report(report: OptimizationReport) -> str:
    """The text ``admf-perf optimize`` prints."""
    s = report.settings
    # a risk-calculator metric ranked by: its own column, after the parameters
    columns = (*_COLUMNS[:2], *((m, m, "num") for m in s.curve_metrics), *_COLUMNS[2:])
    head = ["#", *(c[0] for c in columns)]
    rows = [[str(i + 1), *(_fmt(row[key], kind) for _, key, kind in columns)] for i, row in enumerate(report.top)]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    d, g, c, r = report.data, report.grid, report.cache, report.resources
    out = [
        f"admf-perf optimize: SMA crossover, {g['pairs']} parameter sets (fast {_span(g['fast'])}, "
        f"slow {_span(g['slow'])}{_random_note(g)}) on {d['bars']} bars of {d['source']} ({d['start']} .. {d['end']})",
        f"top {len(report.top)} by {s.metric} (cash {s.cash:,.0f}, commission {s.commission:g}"
        f"{', gc after each run' if s.gc_after_run else ''})",
        "",
        line(head),
        line(["-" * w for w in widths]),
        *(line(row) for row in rows),
        "",
        f"timing:    {report.runs} backtests in {report.seconds:.3f} s = {report.runs_per_second:,.0f} "
        f"backtests/s ({report.workers} worker{'s' if report.workers > 1 else ''}, {report.backend} backend, "
        f"{g['chunks']} chunks of <= {g['chunk_size']})",
        f"cache:     SMA series: {c['sma_requests']} requests, {c['sma_computed']} computed, "
        f"hit rate {c['sma_hit_rate']:.1%}",
        f"resources: RSS {r['rss'] / 2**20:,.1f} MB; CPU {r['cpu_seconds_main']:.2f} s here + "
        f"{r['cpu_seconds_workers']:.2f} s in workers; {r['cpu_count']} CPUs"
        + (f", load {', '.join(f'{x:.2f}' for x in r['load_avg'])}" if r.get("load_avg") else ""),
    ]
    if report.overfitting:
        out.append(format_overfitting(report.overfitting))
    return "\n".join(out)


def _random_note(grid: dict[str, Any]) -> str:
    return (f"; a random search: {grid['pairs']} of the {grid['grid_size']}, seed {grid['seed']}"
            if grid.get("search") == "random" else "")


def _span(values: Sequence[int]) -> str:
    return f"{min(values)}..{max(values)}" if len(values) > 1 else str(values[0])
