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

from admf_perf.bench.scenario import NS_PER_OP, Impl, Scenario
from admf_perf.bench.timing import Measurement, Settings

__all__ = [
    "FAIL", "NONE", "PASS", "ImplResult", "ScenarioResult",
    "format_list", "format_table", "machine_info", "package_info", "title", "to_json", "write_json",
]

PASS, FAIL, NONE = "PASS", "FAIL", "--"

#: Distributions whose versions are recorded.
DISTRIBUTIONS = ("admf-perf", "numpy", "pandas", "cachetools", "cachebox", "lru-dict", "pytest-benchmark")


@dataclass
class ImplResult:
    """One implementation's measurement, or why it has none."""

    impl: Impl
    measurement: Measurement | None = None
    error: str | None = None

    @property
    def ns(self) -> float | None:
        return self.measurement.ns_per_op if self.measurement and self.measurement.samples else None


@dataclass
class ScenarioResult:
    """A scenario's implementations measured in one process, and its gate."""

    scenario: Scenario
    impls: dict[str, ImplResult] = field(default_factory=dict)
    attempts: int = 1

    def ns(self, name: str) -> float | None:
        result = self.impls.get(name)
        return result.ns if result else None

    @property
    def ours_ns(self) -> float | None:
        ours = self.scenario.ours
        return self.ns(ours.name) if ours else None

    @property
    def reference(self) -> str | None:
        """The fastest gate anchor that was measured."""
        gate = self.scenario.gate
        measured = [(ns, name) for name in (gate.anchors if gate else ()) if (ns := self.ns(name)) is not None]
        return min(measured)[1] if measured else None

    def ratio_to(self, name: str) -> float | None:
        ours, other = self.ours_ns, self.ns(name)
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

    def verdict(self, margin: float = 0.0) -> str:
        """PASS/FAIL against the gate (+ margin); ``--`` without a gate or
        reference anchor.  Ours not running is a FAIL."""
        gate = self.scenario.gate
        if gate is None:
            return NONE
        if self.ours_ns is None:
            return FAIL
        ratio, limit = self.ratio, self.limit(margin)
        if ratio is None or limit is None:
            return NONE
        return PASS if ratio <= limit else FAIL


def _fmt_value(value: float | None, unit: str) -> str:
    """A timed figure as ns/op; a measured one with its unit."""
    if value is None:
        return "-"
    return f"{value:,.1f}" if unit == NS_PER_OP else f"{value:,.1f} {unit}"


def _fmt_ratio(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.3f}x"


def _rows(result: ScenarioResult, margin: float) -> list[list[str]]:
    s, ref = result.scenario, result.reference
    rows: list[list[str]] = []
    for impl in s.implementations:
        r = result.impls.get(impl.name) or ImplResult(impl, error="not run")
        is_ours = impl is s.ours
        name = impl.name + (" *" if impl.name == ref else "")
        gate = verdict = ""
        if is_ours:
            ratio = result.ratio
            if s.gate:
                gate = s.gate.describe()
                verdict = result.verdict(margin)
                if verdict == PASS and not result.meets_gate:
                    verdict += " (margin)"
                if result.attempts > 1:
                    verdict += f" ({result.attempts} runs)"
        else:
            ratio = result.ratio_to(impl.name) if s.ours else None
        if r.error:
            gate = r.error if not gate else f"{gate}; {r.error}"
        rows.append(["" if rows else s.name, name, _fmt_value(r.ns, s.unit), _fmt_ratio(ratio), gate, verdict])
    return rows


def format_table(results: Sequence[ScenarioResult], margin: float = 0.0, title: str | None = None,
                 note: str | None = None) -> str:
    """One table: a block of rows per scenario, ours first, then the anchors."""
    head = ["scenario", "implementation", "ns/op", "ours/impl", "gate", "result"]
    body = [row for result in results for row in [*_rows(result, margin), []]][:-1]
    widths = [max(len(r[i]) for r in [head, *body] if r) for i in range(len(head))]
    right = {2, 3}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [title] if title else []
    out += [line(head), line(["-" * w for w in widths])]
    out += [line(r) if r else "" for r in body]
    gated = [r.verdict(margin) for r in results if r.scenario.gate]
    out += [
        "",
        note or ("ns/op: minimum per-op time over interleaved samples, gc off, identical loop for all; "
                 "a figure with a unit (MB, ...) is the minimum over its samples; "
                 "ours/impl: ours / that implementation's."),
        "* gate reference (fastest measured anchor of the gate); PASS when ours/reference <= gate"
        + (f" x {1 + margin:.2f} (margin {margin:g}; '(margin)': over the gate itself)" if margin else "") + ".",
        f"gates: {gated.count(PASS)} PASS, {gated.count(FAIL)} FAIL, {gated.count(NONE)} --",
    ]
    return "\n".join(out)


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


def title(quick: bool) -> tuple[str, list[str]]:
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
            f"{platform.python_version()}, {platform.machine()}, {'quick' if quick else 'full'} mode")
    warnings = [f"warning: admf_perf hot paths not compiled: {', '.join(slow)}"] if slow else []
    return line, warnings


def to_json(results: Sequence[ScenarioResult], settings: Settings, margin: float, retries: int) -> dict[str, Any]:
    scenarios = []
    for result in results:
        s = result.scenario
        impls = []
        for impl in s.implementations:
            r = result.impls.get(impl.name) or ImplResult(impl, error="not run")
            m = r.measurement
            impls.append({
                "name": impl.name,
                "role": "ours" if impl is s.ours else ("anchor" if s.ours else "floor"),
                "ns_per_op": r.ns,
                "median_ns_per_op": m.median if m and m.samples else None,
                "ratio_ours_over_this": None if impl is s.ours else result.ratio_to(impl.name),
                "ops_per_call": m.ops if m else None,
                "calls_per_sample": m.number if m else None,
                "samples_ns_per_op": list(m.samples) if m else [],
                "error": r.error,
            })
        scenarios.append({
            "name": s.name,
            "group": s.group,
            "op": s.op,
            "unit": s.unit,
            "gate": None if s.gate is None else {
                "max_ratio": s.gate.max_ratio,
                "anchors": list(s.gate.anchors),
                "label": s.gate.label,
                "limit_with_margin": result.limit(margin),
            },
            "reference": result.reference,
            "ratio": result.ratio,
            "result": result.verdict(margin),
            "meets_gate_without_margin": result.meets_gate if s.gate else None,
            "attempts": result.attempts,
            "implementations": impls,
        })
    return {
        "tool": "admf-perf bench",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        **package_info(),
        "settings": {
            "quick": settings.quick,
            "margin": margin,
            "retries": retries,
            "sample_ns": settings.sample_ns,
            "budget_ns": settings.budget_ns,
            "min_repeats": settings.min_repeats,
            "max_repeats": settings.max_repeats,
            "timer": "time.perf_counter_ns",
        },
        "scenarios": scenarios,
        "summary": {
            verdict: [r.scenario.name for r in results if r.scenario.gate and r.verdict(margin) == verdict]
            for verdict in (PASS, FAIL, NONE)
        },
    }


def write_json(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
