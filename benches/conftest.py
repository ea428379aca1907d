"""pytest-benchmark suites over ``admf_perf.bench``'s scenario registry.

Run from the repo root (the package installed, or ``PYTHONPATH=src``)::

    python -m pytest benches --benchmark-only [--bench-quick]

Each test times one (scenario, implementation) pair, built by the same
``Scenario.build`` as ``admf-perf bench`` (same loop, same inputs), with
``benchmark.group`` = the scenario, so pytest-benchmark compares the
implementations of a scenario side by side.  At the end of the session the
ratios ours / anchor per group (and the gates, for orientation: the binding
check is ``admf-perf bench --check``, which interleaves the implementations)
are printed as ``admf-perf bench`` prints them.  GC is off while timing.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from admf_perf.bench import Impl, Scenario, Unavailable, scenarios
from admf_perf.bench.report import ImplResult, ScenarioResult, format_table
from admf_perf.bench.timing import Measurement

_RESULTS: dict[str, ScenarioResult] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-quick", action="store_true",
                     help="admf-perf: the inputs of `admf-perf bench --quick` (shorter Zipf trace)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # timeit's choice (and admf-perf bench's): no collection pauses while timing.
    config.option.benchmark_disable_gc = True


@pytest.fixture
def run_scenario(benchmark: Any, request: pytest.FixtureRequest) -> Callable[[Scenario, Impl], None]:
    """``run_scenario(scenario, impl)``: benchmark one implementation; an
    anchor that is not installed is skipped."""
    quick = bool(request.config.getoption("--bench-quick"))

    def run(scenario: Scenario, impl: Impl) -> None:
        if scenario.is_measured:  # a figure (MB, ...): one sample, timed once for the record
            figures: list[float] = []
            benchmark.group = scenario.name
            try:
                benchmark.pedantic(lambda: figures.append(scenario.measure_figure(impl, quick)),
                                   rounds=1, iterations=1)
            except Unavailable as exc:
                pytest.skip(f"{impl.name}: {exc}")
            benchmark.extra_info.update(implementation=impl.name, figure=figures[0], unit=scenario.unit)
            result = _RESULTS.setdefault(scenario.name, ScenarioResult(scenario))
            result.impls[impl.name] = ImplResult(impl, Measurement(1, 1, figures))
            return
        try:
            timed = scenario.build(impl, quick)
        except Unavailable as exc:
            pytest.skip(f"{impl.name}: {exc}")
        benchmark.group = scenario.name
        benchmark.extra_info.update(implementation=impl.name, ops_per_call=timed.ops)
        benchmark(timed.fn)
        stats = benchmark.stats
        if stats:  # None or empty with --benchmark-disable
            result = _RESULTS.setdefault(scenario.name, ScenarioResult(scenario))
            per_op = [seconds * 1e9 / timed.ops for seconds in stats.stats.data]
            result.impls[impl.name] = ImplResult(impl, Measurement(timed.ops, stats.iterations, per_op))

    return run


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    results = [_RESULTS[s.name] for s in scenarios() if s.name in _RESULTS]
    if not results:
        return
    terminalreporter.write_sep("-", "admf-perf: ratios ours / anchor per group")
    terminalreporter.write_line(format_table(results, note=(
        "ns/op: pytest-benchmark's minimum round / ops per call; ours/impl: ours ns/op / that "
        "implementation's (not interleaved: `admf-perf bench --check` is the gate).")))
