"""Measure scenarios: build every implementation, time them interleaved,
re-measure a scenario that falls short of its gate (:func:`run`); or count
them under callgrind (:func:`run_instructions`, the deterministic mode)."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from admf_perf.bench import callgrind
from admf_perf.bench.report import FAIL, ImplResult, ScenarioResult
from admf_perf.bench.scenario import Scenario, Timed, Unavailable
from admf_perf.bench.timing import Measurement, Settings, measure

__all__ = ["WALL_CLOCK_ONLY", "run", "run_instructions", "run_scenario"]

#: Why a scenario has no figure in the deterministic mode.
WALL_CLOCK_ONLY = "wall-clock only (not measurable by callgrind)"

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


def _build(scenario: Scenario, quick: bool, result: ScenarioResult, log: Log) -> dict[str, Timed]:
    """Build every implementation that can run; record why the others cannot."""
    timed: dict[str, Timed] = {}
    for impl in scenario.implementations:
        entry = result.impls.setdefault(impl.name, ImplResult(impl))
        try:
            timed[impl.name] = scenario.build(impl, quick)
        except Unavailable as exc:
            entry.error = f"skipped: {exc}"
        except Exception as exc:
            entry.error = f"error: {type(exc).__name__}: {exc}"
        if entry.error and result.attempts == 1:
            log(f"  {scenario.name} / {impl.name}: {entry.error}")
    return timed


def _measure_figures(scenario: Scenario, quick: bool, result: ScenarioResult, log: Log) -> dict[str, Measurement]:
    """A measured scenario's samples: implementations in turns, ``samples``
    rounds (half in quick mode); an implementation that fails stops sampling."""
    rounds = max(1, scenario.samples // 2) if quick else scenario.samples
    out: dict[str, Measurement] = {}
    live = list(scenario.implementations)
    for _ in range(rounds):
        for impl in list(live):
            entry = result.impls.setdefault(impl.name, ImplResult(impl))
            try:
                value = scenario.measure_figure(impl, quick)
            except Unavailable as exc:
                entry.error = f"skipped: {exc}"
            except Exception as exc:
                entry.error = f"error: {type(exc).__name__}: {exc}"
            else:
                out.setdefault(impl.name, Measurement(ops=1, number=1)).samples.append(value)
                continue
            live.remove(impl)
            out.pop(impl.name, None)
            if result.attempts == 1:
                log(f"  {scenario.name} / {impl.name}: {entry.error}")
    return out


def _sample_all(scenario: Scenario, settings: Settings, result: ScenarioResult, log: Log) -> dict[str, Measurement]:
    if scenario.is_measured:
        return _measure_figures(scenario, settings.quick, result, log)
    return measure(_build(scenario, settings.quick, result, log), settings)


def run_scenario(scenario: Scenario, settings: Settings, margin: float = 0.0, retries: int = 0,
                 log: Log = _quiet) -> ScenarioResult:
    """Measure one scenario.  An implementation that cannot be built is
    recorded with its reason (an anchor is then skipped; ours fails the gate).

    While the gate fails, re-measure up to ``retries`` times with freshly
    built objects (a new memory layout, the main source of run-to-run spread
    besides machine noise); a retry adds its samples to the earlier ones, so
    each implementation keeps its minimum over all of them."""
    result = ScenarioResult(scenario)
    for name, m in _sample_all(scenario, settings, result, log).items():
        result.impls[name].measurement = m
    while result.verdict(margin) == FAIL and result.ratio is not None and result.attempts <= retries:
        log(f"  {scenario.name}: {result.ratio:.3f}x > {result.limit(margin):.3f}x, "
            f"re-measuring ({result.attempts}/{retries})")
        result.attempts += 1
        for name, m in _sample_all(scenario, settings, result, log).items():
            measurement = result.impls[name].measurement
            if measurement is None:
                result.impls[name].measurement = m
            else:
                measurement.merge(m)
    return result


def run(scenarios: Iterable[Scenario], settings: Settings, margin: float = 0.0, retries: int = 0,
        log: Log = _quiet) -> list[ScenarioResult]:
    results = []
    for scenario in scenarios:
        log(f"measuring {scenario.name} ...")
        results.append(run_scenario(scenario, settings, margin, retries, log))
    return results


def run_instructions(scenarios: Iterable[Scenario], settings: Settings, margin: float = 0.0, jobs: int = 2,
                     log: Log = _quiet) -> list[ScenarioResult]:
    """The deterministic mode: timed scenarios counted under callgrind (one
    worker process per group, ``jobs`` at a time, see
    :mod:`~admf_perf.bench.callgrind`); measured scenarios (bytes, peak RSS)
    measured natively, as in :func:`run`; wall-clock-only scenarios skipped.
    Raises :class:`~admf_perf.bench.callgrind.CallgrindError` when callgrind
    cannot run here."""
    chosen = list(scenarios)
    counted = [s for s in chosen if not s.is_measured and s.deterministic]
    figures = callgrind.measure_groups(callgrind.group_scenarios((s.worker_name, s.name) for s in counted),
                                       settings.quick, jobs, log) if counted else {}
    results = []
    for scenario in chosen:
        if scenario.is_measured:
            log(f"measuring {scenario.name} (natively: not a time) ...")
            results.append(run_scenario(scenario, settings, margin, 0, log))
            continue
        result = ScenarioResult(scenario, unit=callgrind.CYCLES_PER_OP)
        if not scenario.deterministic:
            result.skipped = WALL_CLOCK_ONLY
        else:
            for impl in scenario.implementations:
                entry = result.impls.setdefault(impl.name, ImplResult(impl))
                got = figures.get((scenario.name, impl.name), figures.get((scenario.name, "*"), "error: not measured"))
                if isinstance(got, str):
                    entry.error = got
                    if got != callgrind.CONTEXT_SKIPPED:
                        log(f"  {scenario.name} / {impl.name}: {got}")
                else:
                    entry.measurement = Measurement(ops=got.ops, number=1, samples=[got.cycles_per_op])
                    entry.events = got.per_op
                    entry.objects = {name: ir / got.ops for name, ir in sorted(got.objects.items())}
        results.append(result)
    return results
