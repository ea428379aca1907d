"""The ``admf-perf`` command.

Each subcommand is a :class:`Command`: a name, a help line, a function adding
its options to an ``argparse`` parser and a function running it (returning the
exit status).  Adding a subcommand is writing those two functions and one
entry in :data:`COMMANDS`.  Heavy imports happen inside the run functions.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["COMMANDS", "Command", "build_parser", "main"]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _non_negative(kind: Callable[[str], float | int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        value = kind(text)
        if not value >= 0:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {text}")
    return value


# -- bench ----------------------------------------------------------------------------

def _bench_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--instructions", action="store_true",
                   help="deterministic mode: estimated cycles per op from valgrind's callgrind (cache "
                        "simulation on) instead of wall-clock time; needs valgrind")
    p.add_argument("--json", "--save", dest="json", metavar="PATH",
                   help="save every figure (machine, versions, figures, ratios, gates) as JSON; "
                        "a baseline for --compare")
    p.add_argument("--compare", metavar="PATH",
                   help="compare ours' per-op cost with a saved run (same mode); exit 1 on a regression")
    p.add_argument("--max-regression", type=_non_negative(float), default=3.0, metavar="PCT",
                   help="with --compare: the growth in percent that fails (default 3)")
    p.add_argument("--check", action="store_true", help="exit 1 when a ratio is over its gate (or ours cannot run)")
    p.add_argument("--strict", action="store_true",
                   help="with --check: an open goal (a gate marked for a later issue) that is missed fails too")
    p.add_argument("--quick", action="store_true", help="fewer, shorter samples and smaller inputs (CI)")
    p.add_argument("--margin", type=_non_negative(float), default=0.0, metavar="F",
                   help="noise allowance: a ratio passes when <= gate * (1 + F) (default 0: the exact goals)")
    p.add_argument("--retries", type=_non_negative(int), default=0, metavar="N",
                   help="re-measure a scenario over its gate up to N times before failing (default 0; "
                        "wall-clock mode)")
    p.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                   help="--instructions: valgrind workers at once, one per scenario group (default: "
                        "the usable CPUs, at most 2)")
    p.add_argument("--markdown", metavar="PATH", help="also write the results as a Markdown table")
    p.add_argument("--plot", metavar="PATH",
                   help="also draw the ratios against their gates (PNG; needs admf-perf[plot])")
    p.add_argument("-k", dest="select", action="append", default=[], metavar="SUBSTR",
                   help="only scenarios whose name or group contains SUBSTR (case-insensitive; repeatable)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")


def _default_jobs() -> int:
    import os

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(2, usable))


def _bench_run(args: argparse.Namespace) -> int:
    from admf_perf.bench import FLOOR_GROUP, scenarios
    from admf_perf.bench.callgrind import CallgrindError
    from admf_perf.bench.compare import BaselineError, compare, format_comparison, load_record
    from admf_perf.bench.report import (
        FAIL,
        INSTRUCTIONS,
        WALL_CLOCK,
        format_list,
        format_markdown,
        format_table,
        title,
        to_json,
        write_json,
    )
    from admf_perf.bench.runner import run, run_instructions
    from admf_perf.bench.timing import FULL, QUICK

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.list:
        print(format_list(scenarios(args.select)))
        return 0
    chosen = [s for s in scenarios(args.select) if s.group != FLOOR_GROUP]
    if not chosen:
        log(f"admf-perf bench: no scenario matches {args.select}; see --list")
        return 2
    baseline = None
    if args.compare:
        try:
            baseline = load_record(args.compare)
        except BaselineError as exc:
            log(f"admf-perf bench: error: {exc}")
            return 2
    settings = QUICK if args.quick else FULL
    mode = INSTRUCTIONS if args.instructions else WALL_CLOCK
    heading, warnings = title(args.quick, mode)
    for warning in warnings:
        log(warning)
    todo = [*scenarios(group=FLOOR_GROUP), *chosen]
    if args.instructions:
        try:
            results = run_instructions(todo, settings, args.margin, args.jobs or _default_jobs(), log)
        except CallgrindError as exc:
            log(f"admf-perf bench: error: {exc}")
            return 2
    else:
        results = run(todo, settings, args.margin, args.retries, log)
    print(format_table(results, args.margin, title=heading, strict=args.strict), flush=True)
    record = to_json(results, settings, args.margin, args.retries, mode, args.strict)
    status = 0
    if baseline is not None:
        try:
            comparison = compare(record, baseline, args.max_regression / 100.0)
        except BaselineError as exc:
            log(f"admf-perf bench: error: --compare {args.compare}: {exc}")
            return 2
        print()
        print(format_comparison(comparison, args.compare), flush=True)
        record["comparison"] = {"baseline": args.compare, **comparison.to_dict()}
        if comparison.regressions:
            status = 1
    if args.json:
        write_json(args.json, record)
        log(f"saved {args.json}")
    if args.markdown:
        from pathlib import Path

        Path(args.markdown).write_text(format_markdown(results, args.margin, heading, args.strict),
                                       encoding="utf-8")
        log(f"saved {args.markdown}")
    if args.plot:
        from admf_perf.bench.plot import write_plot

        try:
            write_plot(results, args.plot, args.margin, args.strict, heading)
        except ImportError as exc:
            log(f"admf-perf bench: error: {exc}")
            return 2
        log(f"saved {args.plot}")
    failed = [r.scenario.name for r in results if r.verdict(args.margin, args.strict) == FAIL]
    if failed and args.check:
        log(f"admf-perf bench --check: over the gate: {', '.join(failed)}")
        status = 1
    return status


# -- report ---------------------------------------------------------------------------

def _report_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interval", type=_non_negative(float), default=0.5, metavar="S",
                   help="seconds over which CPU use is measured (default 0.5)")
    p.add_argument("--json", metavar="PATH", help="also save the snapshot as JSON ('-' prints JSON instead)")


def _report_run(args: argparse.Namespace) -> int:
    import json

    from admf_perf.bench.report import write_json
    from admf_perf.resources.monitoring import format_snapshot, snapshot

    snap = snapshot(args.interval)
    if args.json == "-":
        print(json.dumps(snap, indent=2))
        return 0
    print(format_snapshot(snap))
    if args.json:
        write_json(args.json, snap)
    return 0


# -- optimize -------------------------------------------------------------------------

def _optimize_configure(p: argparse.ArgumentParser) -> None:
    from admf_perf.incremental.risk import CURVE_METRICS

    p.add_argument("--data", metavar="PATH",
                   help="OHLCV bars, CSV or Parquet (default: a built-in seeded random walk of daily bars)")
    p.add_argument("--fast", default="5:50:5", metavar="RANGE",
                   help="fast SMA periods: START:STOP[:STEP] (STOP included) or a comma list (default 5:50:5)")
    p.add_argument("--slow", default="20:200:10", metavar="RANGE",
                   help="slow SMA periods, as --fast (default 20:200:10); pairs with fast >= slow are skipped")
    p.add_argument("--metric", choices=("sharpe", "return", "drawdown", "sortino", *CURVE_METRICS),
                   default="sharpe", metavar="NAME",
                   help="rank by: sharpe (default), return, drawdown, sortino, or one of the risk "
                        "calculator's (empyrical's definitions, per bar; alpha, beta and information_ratio "
                        "against buy and hold): " + ", ".join(CURVE_METRICS))
    p.add_argument("--top", type=_positive_int, default=10, metavar="N", help="keep the N best (default 10)")
    p.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                   help="parallel worker processes (default 1: run here)")
    p.add_argument("--threads", action="store_true",
                   help="the workers are threads of this process, sharing the data (parallel on "
                        "free-threaded CPython, 3.13t and later; with the GIL they take turns)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run on a Dask cluster (tcp://host:8786, or 'local' to start a LocalCluster); "
                        "needs admf-perf[dask]")
    p.add_argument("--cash", type=float, default=10_000.0, help="starting cash (default 10000)")
    p.add_argument("--commission", type=float, default=0.0, help="commission, a fraction of each fill (default 0)")
    p.add_argument("--periods-per-year", type=float, default=None, metavar="N",
                   help="annualization of Sharpe/volatility (default 252; 252*390 for one-minute bars "
                        "when the data is intraday)")
    p.add_argument("--gc", action="store_true", help="collect garbage after every backtest")
    p.add_argument("--json", metavar="PATH", help="write the results (top N, timing, cache, resources) as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--strategy", metavar="FILE.py:Class",
                   help="search your own admf_perf.Strategy subclass (a backtesting.py strategy with its import "
                        "changed) instead of the built-in SMA crossover; give its grid with --param")
    p.add_argument("--param", action="append", default=[], metavar="NAME=RANGE",
                   help="a parameter of --strategy and its values: START:STOP[:STEP] (STOP included) or a "
                        "comma list; repeat for each parameter")
    p.add_argument("--search", choices=("grid", "random"), default="grid",
                   help="grid: every parameter set; random: --trials of them, drawn with --seed (default grid)")
    p.add_argument("--trials", type=_trials, default=None, metavar="N",
                   help="with --search random: how many parameter sets (a count, or a fraction of the grid in (0, 1])")
    p.add_argument("--seed", type=int, default=None, metavar="S",
                   help="with --search random: the seed (the same seed runs the same trials, whatever --workers)")
    p.add_argument("--constraint", metavar="EXPR",
                   help="with --strategy: keep the parameter sets for which this Python expression over the "
                        "parameters' names is true, e.g. \"n1 < n2\"")
    p.add_argument("--results", metavar="PATH",
                   help="write every run's row (parameters and metrics) to a CSV or Parquet file, as chunks finish")
    p.add_argument("--heatmap", metavar="PATH",
                   help="draw the metric over two parameters (the others at their best): .png (needs "
                        "admf-perf[plot]) or .html")
    p.add_argument("--walk-forward", metavar="TRAIN:TEST[:anchored]",
                   help="walk-forward analysis: optimize on TRAIN bars, trade the next TEST bars with the best, "
                        "move on by TEST (anchored: every training window starts at the first bar)")
    p.add_argument("--maximize", default="SQN", metavar="KEY",
                   help="with --strategy: the statistic to rank by, a key of Backtest.run()'s result "
                        "(default SQN)")


def _trials(text: str) -> int | float:
    """``--trials``: a count >= 1, or a fraction in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a count >= 1 or a fraction in (0, 1], got {text!r}") from None
    if not value > 0 or (value > 1 and value != int(value)):
        raise argparse.ArgumentTypeError(f"must be a count >= 1 or a fraction in (0, 1], got {text!r}")
    return int(value) if value >= 1 and value == int(value) and "." not in text else value


def _optimize_run(args: argparse.Namespace) -> int:
    from admf_perf.research.optimize import (
        OptimizationSettings,
        default_periods_per_year,
        format_report,
        load_data,
        parse_periods,
        run_grid_search,
    )

    def fail(message: str) -> int:
        print(f"admf-perf optimize: error: {message}", file=sys.stderr)
        return 2

    if args.strategy or args.param:
        return _optimize_strategy(args, fail)
    if args.constraint:
        return fail("--constraint is for --strategy (the built-in crossover keeps fast < slow)")
    if args.search == "random" and args.trials is None:
        return fail("--search random needs --trials N")
    if args.search == "grid" and args.trials is not None:
        return fail("--trials is for --search random")
    try:
        fast = parse_periods(args.fast, "--fast")
        slow = parse_periods(args.slow, "--slow")
        bars, source = load_data(args.data)
        ppy = args.periods_per_year if args.periods_per_year is not None else default_periods_per_year(bars.index)
        settings = OptimizationSettings(top_n=args.top, metric=args.metric, gc_after_run=args.gc,
                                        cash=args.cash, commission=args.commission, periods_per_year=ppy)
    except (OSError, ValueError, TypeError, ImportError) as exc:
        return fail(str(exc))

    def walk(*windows: Any, **search: Any) -> Any:
        from admf_perf.research.walkforward import crossover_walk_forward
        return crossover_walk_forward(bars, fast, slow, settings, *windows, **search)

    return _search(args, fail, lambda **kw: run_grid_search(bars, fast, slow, settings, source=source, **kw),
                   walk, format_report)


def _optimize_strategy(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    """``admf-perf optimize --strategy FILE.py:Class --param NAME=RANGE ...``."""
    from admf_perf.research.optimize import load_data
    from admf_perf.research.strategy_search import (
        format_strategy_report,
        load_strategy,
        parse_param,
        run_strategy_search,
    )

    if not args.strategy:
        return fail("--param needs --strategy FILE.py:Class")
    try:
        cls = load_strategy(args.strategy)
        if not args.param:
            raise ValueError(f"--strategy {args.strategy}: give its grid with --param NAME=START:STOP[:STEP]")
        params = [parse_param(text, cls) for text in args.param]
        bars, source = load_data(args.data)
    except (OSError, ValueError, TypeError, ImportError) as exc:
        return fail(str(exc))
    common = {"maximize": args.maximize, "cash": args.cash, "commission": args.commission}

    def walk(*windows: Any, **search: Any) -> Any:
        from admf_perf.research.walkforward import strategy_walk_forward
        return strategy_walk_forward(bars, args.strategy, params, *windows, **common, **search)

    return _search(args, fail,
                   lambda **kw: run_strategy_search(bars, args.strategy, params, top_n=args.top, source=source,
                                                    **common, **kw),
                   walk, format_strategy_report, (ValueError, TypeError, AttributeError),
                   constraint=args.constraint)


def _search(args: argparse.Namespace, fail: Callable[[str], int], one: Callable[..., Any],
            walk: Callable[..., Any], text: Callable[[Any], str],
            errors: tuple[type[Exception], ...] = (ValueError,), **extra: Any) -> int:
    """What both optimize commands do once their inputs parse: the CPU
    backend (``--workers``, ``--threads``, ``--dask``), the search (``one``, with the
    progress bar, ``--results`` and ``--heatmap``; or ``walk`` with
    ``--walk-forward``'s windows), and the output (``text``, ``--json``)."""
    from admf_perf.bench.report import write_json
    from admf_perf.research.optimize import ProgressBar
    from admf_perf.resources.cpu import CPUManager

    cpu = None
    if args.dask and args.threads:
        return fail("--threads and --dask are two backends: choose one")
    if args.threads and args.workers < 2:
        return fail("--threads makes the --workers threads: give --workers 2 or more")
    if args.dask:
        cpu = CPUManager()
        try:
            cpu.use_backend("dask", address=None if args.dask == "local" else args.dask)
        except (ImportError, OSError, ValueError) as exc:
            cpu.shutdown()
            return fail(f"--dask {args.dask}: {exc}")
    elif args.workers > 1:
        cpu = CPUManager()
        if args.threads:
            cpu.use_backend("threads")
    search = {"workers": max(args.workers, 2 if args.dask else 1), "cpu": cpu, "search": args.search,
              "trials": args.trials, "seed": args.seed, **extra}
    try:
        if args.walk_forward and (args.results or args.heatmap):
            raise ValueError("--results and --heatmap are for one search, not --walk-forward")
        if args.walk_forward:
            from admf_perf.research.walkforward import format_walk_forward, parse_walk_forward
            report = walk(*parse_walk_forward(args.walk_forward), **search)
            out = format_walk_forward(report)
        else:
            report = one(progress=ProgressBar(enabled=False if args.no_progress else None),
                         results=args.results, heatmap=args.heatmap, **search)
            out = text(report)
    except errors as exc:
        return fail(str(exc))
    finally:
        if cpu is not None:
            cpu.shutdown()
    print(out, flush=True)
    if args.json:
        write_json(args.json, report.to_dict())
        print(f"saved {args.json}", file=sys.stderr)
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("bench", "benchmark this toolkit beside its anchors; gate the ratios", _bench_configure, _bench_run),
    Command("report", "print a resource snapshot: CPU, memory, this process, open files, caches",
            _report_configure, _report_run),
    Command("optimize", "grid-search an SMA crossover strategy over bar data; print the top results",
            _optimize_configure, _optimize_run),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="admf-perf", description="admf-perf: performance toolkit for ADMF-Trader.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``admf-perf``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 2
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
