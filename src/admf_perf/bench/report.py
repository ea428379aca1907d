"""Results of a bench run: verdicts, the table, the JSON record."""
from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from admf_perf.bench.callgrind import CYCLES_PER_OP
from admf_perf.bench.scenario import NS_PER_OP, Impl, Scenario
from admf_perf.bench.timing import Measurement, Settings

__all__ = [
    "FAIL", "INSTRUCTIONS", "NONE", "OPEN", "PASS", "WALL_CLOCK", "ImplResult", "ScenarioResult",
    "format_list", "format_markdown", "format_table", "machine_info", "package_info", "title", "to_json", "write_json",
]

PASS, FAIL, NONE, OPEN = "PASS", "FAIL", "--", "OPEN"

#: The two modes of a run: timed with ``perf_counter_ns``, or counted by callgrind.
WALL_CLOCK, INSTRUCTIONS = "wall-clock", "instructions"

#: Distributions whose versions are recorded.
DISTRIBUTIONS = ("admf-perf", "numpy", "pandas", "cachetools", "cachebox", "lru-dict", "pytest-benchmark")


@dataclass
class ImplResult:
    """One implementation's measurement, or why it has none.  ``events``:
    callgrind's events per operation, ``objects``: its instructions per
    operation in each of this package's compiled modules (deterministic
    mode)."""

    impl: Impl
    measurement: Measurement | None = None
    error: str | None = None
    events: dict[str, float] | None = None
    objects: dict[str, float] | None = None

    @property
    def figure(self) -> float | None:
        """ns/op, cycles/op, or the measured scenario's figure in its unit."""
        return self.measurement.ns_per_op if self.measurement and self.measurement.samples else None


@dataclass
class ScenarioResult:
    """A scenario's implementations measured in one process, and its gate.

    ``unit``: the unit of the figures (the scenario's own for a measured
    one; ns/op or cycles/op for a timed one).  ``skipped``: why the scenario
    was not measured in this mode (a wall-clock-only scenario in the
    deterministic mode); its verdict is then ``--``.
    """

    scenario: Scenario
    impls: dict[str, ImplResult] = field(default_factory=dict)
    attempts: int = 1
    unit: str = ""
    skipped: str | None = None

    def __post_init__(self) -> None:
        if not self.unit:
            self.unit = self.scenario.unit

    def figure(self, name: str) -> float | None:
        result = self.impls.get(name)
        return result.figure if result else None

    @property
    def ours_figure(self) -> float | None:
        ours = self.scenario.ours
        return self.figure(ours.name) if ours else None

    @property
    def reference(self) -> str | None:
        """The fastest gate anchor that was measured."""
        gate = self.scenario.gate
        measured = [(v, name) for name in (gate.anchors if gate else ()) if (v := self.figure(name)) is not None]
        return min(measured)[1] if measured else None

    def ratio_to(self, name: str) -> float | None:
        ours, other = self.ours_figure, self.figure(name)
        return ours / other if ours is not None and other else None

    @property
    def ratio(self) -> float | None:
        """ours / reference, the gated ratio."""
        ref = self.reference
        return self.ratio_to(ref) if ref else None

    def limit(self, margin: float) -> float | None:
        gate = self.scenario.gate
        return gate.max_ratio * (1.0 + margin) if gate else None

    @property
    def meets_gate(self) -> bool:
        """The ratio is within the gate itself (no margin)."""
        return self.verdict(0.0) == PASS

    def verdict(self, margin: float = 0.0, strict: bool = False) -> str:
        """PASS/FAIL against the gate (+ margin); ``--`` without a gate or
        reference anchor, or when skipped in this mode; ``OPEN`` for a miss
        of an open gate (FAIL when ``strict``).  Ours not running is a FAIL."""
        gate = self.scenario.gate
        if gate is None or self.skipped is not None:
            return NONE
        if self.ours_figure is None:
            return FAIL
        ratio, limit = self.ratio, self.limit(margin)
        if ratio is None or limit is None:
            return NONE
        if ratio <= limit:
            return PASS
        return OPEN if gate.open and not strict else FAIL


def _base_unit(results: Sequence[ScenarioResult]) -> str:
    """The unit of the timed figures of a run (ns/op, or cycles/op)."""
    units = [r.unit for r in results if not r.scenario.is_measured]
    return units[0] if units else NS_PER_OP


def _fmt_value(value: float | None, unit: str, base: str = NS_PER_OP) -> str:
    """A timed figure bare (the column says its unit); any other with its unit."""
    if value is None:
        return "-"
    return f"{value:,.1f}" if unit == base else f"{value:,.1f} {unit}"


def _fmt_ratio(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.3f}x"


def _verdict_text(result: ScenarioResult, margin: float, strict: bool) -> str:
    verdict = result.verdict(margin, strict)
    gate = result.scenario.gate
    if verdict == PASS and not result.meets_gate:
        verdict += " (margin)"
    if verdict in (OPEN, FAIL) and gate is not None and gate.open:
        verdict += f" ({gate.open})"
    elif verdict == PASS and gate is not None and gate.open:
        verdict += f" (open: {gate.open} may close it)"
    if result.attempts > 1:
        verdict += f" ({result.attempts} runs)"
    return verdict


def _rows(result: ScenarioResult, margin: float, strict: bool, base: str) -> list[list[str]]:
    s, ref = result.scenario, result.reference
    rows: list[list[str]] = []
    for impl in s.implementations:
        r = result.impls.get(impl.name) or ImplResult(impl, error=result.skipped or "not run")
        is_ours = impl is s.ours
        name = impl.name + (" *" if impl.name == ref else "")
        gate = verdict = ""
        if is_ours:
            ratio = result.ratio
            if s.gate:
                gate = s.gate.describe()
                verdict = _verdict_text(result, margin, strict)
        else:
            ratio = result.ratio_to(impl.name) if s.ours else None
        if r.error:
            gate = r.error if not gate else f"{gate}; {r.error}"
        rows.append(["" if rows else s.name, name, _fmt_value(r.figure, result.unit, base), _fmt_ratio(ratio),
                     gate, verdict])
    return rows


def _legend(results: Sequence[ScenarioResult], margin: float, strict: bool, base: str) -> list[str]:
    gated = [r.verdict(margin, strict) for r in results if r.scenario.gate]
    if base == NS_PER_OP:
        how = ("ns/op: minimum per-op time over interleaved samples, gc off, identical loop for all; "
               "a figure with a unit (MB, ...) is the minimum over its samples; ")
    else:
        how = ("cycles/op: callgrind's estimated cycles per operation, Ir + 10*(I1mr + D1mr + D1mw) + "
               "100*(ILmr + DLmr + DLmw), of one run of the loop after a warm-up run (deterministic); "
               "a figure with a unit (MB, ...) is measured natively; ")
    return [
        how + "ours/impl: ours / that implementation's.",
        "* gate reference (fastest measured anchor of the gate); PASS when ours/reference <= gate"
        + (f" x {1 + margin:.2f} (margin {margin:g}; '(margin)': over the gate itself)" if margin else "")
        + "; OPEN: an open goal (the issue named meets it) not met yet" + (", failing (--strict)" if strict else "")
        + ".",
        f"gates: {gated.count(PASS)} PASS, {gated.count(FAIL)} FAIL, {gated.count(OPEN)} OPEN, "
        f"{gated.count(NONE)} --",
    ]


def format_table(results: Sequence[ScenarioResult], margin: float = 0.0, title: str | None = None,
                 note: str | None = None, strict: bool = False) -> str:
    """One table: a block of rows per scenario, ours first, then the anchors."""
    base = _base_unit(results)
    head = ["scenario", "implementation", base, "ours/impl", "gate", "result"]
    body = [row for result in results for row in [*_rows(result, margin, strict, base), []]][:-1]
    widths = [max(len(r[i]) for r in [head, *body] if r) for i in range(len(head))]
    right = {2, 3}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [title] if title else []
    out += [line(head), line(["-" * w for w in widths])]
    out += [line(r) if r else "" for r in body]
    legend = _legend(results, margin, strict, base)
    if note:
        legend[0] = note
    return "\n".join([*out, "", *legend])


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(results: Sequence[ScenarioResult], margin: float = 0.0, title: str | None = None,
                    strict: bool = False) -> str:
    """A Markdown table, one row per scenario (ours, the gate's reference
    anchor, the ratio, the gate, the verdict), to paste into a pull request."""
    base = _base_unit(results)
    lines = [f"### {title}", ""] if title else []
    lines += ["| scenario | ours | reference | ratio | gate | result |", "|---|---:|---|---:|---|---|"]
    for r in results:
        s = r.scenario
        if s.ours is None:
            continue
        ref = r.reference
        ref_text = f"{ref}: {_fmt_value(r.figure(ref), r.unit, base)}" if ref else "-"
        ours = _fmt_value(r.ours_figure, r.unit, base) if r.skipped is None else r.skipped
        verdict = _verdict_text(r, margin, strict) if s.gate else "--"
        if verdict.startswith(FAIL):
            verdict = f"**{verdict}**"
        lines.append(f"| {_md(s.name)} | {ours} | {_md(ref_text)} | {_fmt_ratio(r.ratio)} | "
                     f"{_md(s.gate.describe()) if s.gate else ''} | {verdict} |")
    lines += ["", *(f"{_md(text)}" for text in _legend(results, margin, strict, base))]
    return "\n".join(lines) + "\n"


def format_list(scenarios: Iterable[Scenario]) -> str:
    lines = []
    for s in scenarios:
        gate = f"gate {s.gate.describe()} ({', '.join(s.gate.anchors)})" if s.gate else "no gate"
        lines.append(f"{s.name}  [{s.group}]  {gate}")
        lines.append(f"    op: {s.op}")
        lines.append(f"    implementations: {', '.join(i.name for i in s.implementations)}")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": {
            "implementation": platform.python_implementation(),
            "version": platform.python_version(),
            "compiler": platform.python_compiler(),
            "executable": sys.executable,
        },
    }
    if hasattr(os, "sched_getaffinity"):
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        info["loadavg"] = list(os.getloadavg())
    return info


def package_info() -> dict[str, Any]:
    """Distribution versions, and which admf_perf hot paths are compiled."""
    versions = {}
    for dist in DISTRIBUTIONS:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    import admf_perf

    return {
        "versions": versions,
        "admf_perf": {
            "version": getattr(admf_perf, "__version__", None),
            "path": os.path.dirname(admf_perf.__file__ or ""),
            "compiled": dict(getattr(admf_perf, "COMPILED", {})),
        },
    }


def title(quick: bool, mode: str = WALL_CLOCK) -> tuple[str, list[str]]:
    """The table's first line (what was measured, where) and warnings (hot
    paths that are not compiled)."""
    info = package_info()["admf_perf"]
    compiled: dict[str, bool] = info["compiled"]
    slow = sorted(name for name, ok in compiled.items() if not ok)
    if slow:
        build = f"NOT compiled: {', '.join(slow)}, pure-Python twins"
    else:
        build = "compiled: " + (", ".join(sorted(compiled)) or "none reported")
    line = (f"admf-perf bench: admf_perf {info['version']} ({build}), {platform.python_implementation()} "
            f"{platform.python_version()}, {platform.machine()}, {'quick' if quick else 'full'} mode, {mode}")
    warnings = [f"warning: admf_perf hot paths not compiled: {', '.join(slow)}"] if slow else []
    return line, warnings


def to_json(results: Sequence[ScenarioResult], settings: Settings, margin: float, retries: int,
            mode: str = WALL_CLOCK, strict: bool = False) -> dict[str, Any]:
    """The record of a run: one entry per scenario, with every
    implementation's figure and the ratio.  ``ns_per_op`` is the figure of a
    wall-clock run (or a measured scenario's figure in its unit, as
    ``figure``); a deterministic run fills ``cycles_per_op``,
    ``events_per_op`` and ``objects_ir_per_op`` (which of this package's
    compiled modules the loop ran, :mod:`admf_perf.bench.affected`)
    instead."""
    scenarios = []
    for result in results:
        s = result.scenario
        impls = []
        for impl in s.implementations:
            r = result.impls.get(impl.name) or ImplResult(impl, error=result.skipped or "not run")
            m = r.measurement
            counted = result.unit == CYCLES_PER_OP
            impls.append({
                "name": impl.name,
                "role": "ours" if impl is s.ours else ("anchor" if s.ours else "floor"),
                "figure": r.figure,
                "ns_per_op": None if counted else r.figure,
                "cycles_per_op": r.figure if counted else None,
                "events_per_op": r.events,
                "objects_ir_per_op": r.objects,
                "median_ns_per_op": m.median if m and m.samples and not counted else None,
                "ratio_ours_over_this": None if impl is s.ours else result.ratio_to(impl.name),
                "ops_per_call": m.ops if m else None,
                "calls_per_sample": m.number if m else None,
                "samples_ns_per_op": list(m.samples) if m and not counted else [],
                "error": r.error,
            })
        scenarios.append({
            "name": s.name,
            "group": s.group,
            "op": s.op,
            "unit": result.unit,
            "fingerprint": s.fingerprint(),
            "worker": s.worker_name,
            "deterministic": s.deterministic,
            "covers": list(s.covers),
            "skipped": result.skipped,
            "gate": None if s.gate is None else {
                "max_ratio": s.gate.max_ratio,
                "anchors": list(s.gate.anchors),
                "label": s.gate.label,
                "open": s.gate.open,
                "limit_with_margin": result.limit(margin),
            },
            "reference": result.reference,
            "ratio": result.ratio,
            "result": result.verdict(margin, strict),
            "meets_gate_without_margin": result.meets_gate if s.gate else None,
            "attempts": result.attempts,
            "implementations": impls,
        })
    return {
        "tool": "admf-perf bench",
        "mode": mode,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        **package_info(),
        "settings": {
            "quick": settings.quick,
            "margin": margin,
            "retries": retries,
            "strict": strict,
            "sample_ns": settings.sample_ns,
            "budget_ns": settings.budget_ns,
            "min_repeats": settings.min_repeats,
            "max_repeats": settings.max_repeats,
            "long_ns": settings.long_ns,
            "long_repeats": settings.long_repeats,
            "timer": "callgrind (estimated cycles)" if mode == INSTRUCTIONS else "time.perf_counter_ns",
        },
        "scenarios": scenarios,
        "summary": {
            verdict: [r.scenario.name for r in results if r.scenario.gate and r.verdict(margin, strict) == verdict]
            for verdict in (PASS, FAIL, OPEN, NONE)
        },
    }


def write_json(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
