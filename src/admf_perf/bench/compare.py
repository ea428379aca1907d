"""Regressions against a baseline record (``admf-perf bench --compare FILE``).

The baseline is the JSON record of another run (``--save FILE``), usually of
the parent commit built into a second environment and measured in the same
job (``scripts/bench_regression.sh``), so no figure from another machine is
trusted.  For every scenario in both records whose definition is the same
(same fingerprint: op, loop, implementations) and whose figure has the same
unit, ours' per-op cost now is compared with the baseline's; a growth of more
than ``max_regression`` (a fraction, 0.03 by default) is a regression.  A
scenario whose figure is not reproducible (``deterministic=False``: peak RSS)
is not compared.

Only records of the same mode and the same input sizes are compared (a
deterministic run with a deterministic one, quick with quick).  The anchors'
own changes are reported beside: they run the same code in both
environments, so a moving anchor says the environments differ.

In a deterministic record the figure compared is ours' instructions and
first-level cache misses per op, ``Ir + 10 * (I1mr + D1mr + D1mw)``, from the
events the record keeps: callgrind's estimated cycles less their last-level
term.  Last-level misses depend on where the heap and ``mmap`` put the large
arrays of a scenario, which two builds in two environments do not share: the
CI run of the parent of 9f03987 measured the unchanged IndicatorBank.batch SMA
with 154 and then 1,657 last-level misses per op (+5.5% estimated cycles, its
instructions -0.001%).  A record without events (wall-clock, or older) is
compared on its figure.

A scenario's own anchors also correct its verdict: a growth of ours is a
regression only when it exceeds the threshold both as measured and net of
the median change of the anchors measured in the same scenario.  The
anchors run unchanged code in the same loop and the same process, so what
moves them alike (the heap's layout deciding whether a growing buffer is
copied, for one) is the environment's, not ours: such a scenario is listed
as excused, with both figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_MAX_REGRESSION", "Change", "Comparison", "compare", "format_comparison", "load_record"]

#: A per-op cost that grows by more than this fraction is a regression.
DEFAULT_MAX_REGRESSION = 0.03


#: Names listed per kind in the text report (the JSON has them all).
_LISTED = 12


class BaselineError(ValueError):
    """The baseline cannot be compared with this run (mode, sizes, format)."""


@dataclass(frozen=True)
class Change:
    """Ours' figure in one scenario, before and now."""

    scenario: str
    unit: str
    before: float
    after: float
    #: Median relative change of the scenario's own anchors (None: none measured on both sides).
    anchor_change: float | None = None

    @property
    def change(self) -> float:
        """Relative change of the cost: +0.05 is 5% more expensive."""
        return self.after / self.before - 1.0

    @property
    def net_change(self) -> float:
        """The change net of the scenario's anchors' (the environment's share)."""
        if self.anchor_change is None:
            return self.change
        return (self.after / self.before) / (1.0 + self.anchor_change) - 1.0


@dataclass
class Comparison:
    max_regression: float
    changes: list[Change] = field(default_factory=list)
    #: Scenarios of this run that the baseline lacks, or defines differently.
    new: list[str] = field(default_factory=list)
    changed_definition: list[str] = field(default_factory=list)
    #: Scenarios of the baseline this run lacks.
    gone: list[str] = field(default_factory=list)
    #: Scenarios in both without a figure of ours on one side.
    unmeasured: list[str] = field(default_factory=list)
    #: Scenarios whose figure varies from run to run (peak RSS): not compared.
    not_reproducible: list[str] = field(default_factory=list)
    #: Relative changes of the anchors' figures (same code, two environments).
    anchor_changes: list[float] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.change > self.max_regression and c.net_change > self.max_regression]

    @property
    def excused(self) -> list[Change]:
        """Over the threshold as measured, not net of the scenario's anchors."""
        return [c for c in self.changes if c.change > self.max_regression >= c.net_change]

    @property
    def improvements(self) -> list[Change]:
        return [c for c in self.changes if c.change < -self.max_regression]

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_regression": self.max_regression,
            "compared": len(self.changes),
            "regressions": [c.scenario for c in self.regressions],
            "excused": [c.scenario for c in self.excused],
            "improvements": [c.scenario for c in self.improvements],
            "changes": {c.scenario: {"unit": c.unit, "before": c.before, "after": c.after, "change": c.change,
                                     "anchor_change": c.anchor_change, "net_change": c.net_change}
                        for c in self.changes},
            "new": self.new,
            "changed_definition": self.changed_definition,
            "gone": self.gone,
            "unmeasured": self.unmeasured,
            "not_reproducible": self.not_reproducible,
            "anchor_median_change": statistics.median(self.anchor_changes) if self.anchor_changes else None,
        }


def load_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A record written by ``admf-perf bench --save/--json``."""
    try:
        with open(path, encoding="utf-8") as f:
            record: dict[str, Any] = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise BaselineError(f"--compare {os.fspath(path)}: cannot read a bench record: {exc}") from exc
    if record.get("tool") != "admf-perf bench" or not isinstance(record.get("scenarios"), list):
        raise BaselineError(f"--compare {os.fspath(path)}: not an admf-perf bench record")
    return record


def _mode(record: Mapping[str, Any]) -> str:
    return str(record.get("mode", "wall-clock"))


#: The unit of a deterministic record's compared figure (see the module docs).
FIRST_LEVEL_CYCLES = "cycles/op less last-level misses"


def _first_level_cycles(events: Mapping[str, float]) -> float:
    """``Ir + 10 * (I1mr + D1mr + D1mw)``: estimated cycles less the
    last-level misses, which depend on the layout of the address space."""
    return events.get("Ir", 0.0) + 10 * sum(events.get(k, 0.0) for k in ("I1mr", "D1mr", "D1mw"))


def _figure(impl: Mapping[str, Any]) -> float | None:
    events = impl.get("events_per_op")
    if isinstance(events, Mapping) and "Ir" in events:
        return _first_level_cycles(events)
    figure = impl.get("figure", impl.get("ns_per_op"))
    return None if figure is None else float(figure)


def _unit(scenario: Mapping[str, Any]) -> str:
    with_events = any(isinstance(i.get("events_per_op"), Mapping) for i in scenario.get("implementations", []))
    return FIRST_LEVEL_CYCLES if with_events else str(scenario.get("unit"))


def _figures(scenario: Mapping[str, Any]) -> tuple[float | None, dict[str, float]]:
    """(ours' figure, {anchor name: figure})."""
    ours, anchors = None, {}
    for impl in scenario.get("implementations", []):
        figure = _figure(impl)
        if figure is None:
            continue
        if impl.get("role") == "ours":
            ours = float(figure)
        else:
            anchors[impl["name"]] = float(figure)
    return ours, anchors


def compare(current: Mapping[str, Any], baseline: Mapping[str, Any],
            max_regression: float = DEFAULT_MAX_REGRESSION) -> Comparison:
    """Compare two records (``to_json`` dicts); see the module docs."""
    if _mode(current) != _mode(baseline):
        raise BaselineError(f"the baseline is a {_mode(baseline)} run and this one a {_mode(current)} run: "
                            "compare runs of the same mode")
    quick = [bool(r.get("settings", {}).get("quick")) for r in (current, baseline)]
    if quick[0] != quick[1]:
        raise BaselineError("one run is --quick and the other is not: their inputs differ")
    before = {s["name"]: s for s in baseline["scenarios"]}
    result = Comparison(max_regression)
    for scenario in current["scenarios"]:
        name = scenario["name"]
        base = before.pop(name, None)
        if base is None:
            result.new.append(name)
            continue
        if base.get("fingerprint") != scenario.get("fingerprint") or base.get("unit") != scenario.get("unit"):
            result.changed_definition.append(name)
            continue
        if not scenario.get("deterministic", True):
            result.not_reproducible.append(name)
            continue
        (ours_now, anchors_now), (ours_then, anchors_then) = _figures(scenario), _figures(base)
        own = [value / anchors_then[anchor] - 1.0 for anchor, value in anchors_now.items()
               if anchors_then.get(anchor)]
        result.anchor_changes.extend(own)
        if not any(i.get("role") == "ours" for i in scenario.get("implementations", [])):
            continue  # the floors: context only
        if ours_now is None or not ours_then:
            result.unmeasured.append(name)
            continue
        result.changes.append(Change(name, _unit(scenario), ours_then, ours_now,
                                     statistics.median(own) if own else None))
    result.gone = sorted(before)
    return result


def format_comparison(comparison: Comparison, label: str = "the baseline") -> str:
    """The regressions and improvements beyond the threshold, then a summary."""
    c = comparison
    pct = f"{c.max_regression:.1%}"
    lines = [f"regression check against {label}: {len(c.changes)} scenarios compared, "
             f"threshold +{pct} per-op cost of ours"]
    for title_, rows in (("REGRESSION", c.regressions), ("improved", c.improvements)):
        for change in sorted(rows, key=lambda ch: -abs(ch.change)):
            lines.append(f"  {title_:<10}  {change.scenario}: {change.before:,.1f} -> {change.after:,.1f} "
                         f"{change.unit} ({change.change:+.2%})")
    for change in sorted(c.excused, key=lambda ch: -ch.change):
        lines.append(f"  excused     {change.scenario}: {change.before:,.1f} -> {change.after:,.1f} "
                     f"{change.unit} ({change.change:+.2%}; its anchors {change.anchor_change:+.2%}, "
                     f"net {change.net_change:+.2%})")
    if c.changes:
        worst = max(c.changes, key=lambda ch: ch.change)
        lines.append(f"  largest growth: {worst.scenario} {worst.change:+.2%}")
    for what, names in (("new (no baseline)", c.new), ("changed definition (not compared)", c.changed_definition),
                        ("not in this run", c.gone), ("not measured on one side", c.unmeasured),
                        ("not reproducible (not compared)", c.not_reproducible)):
        if names:
            more = f", ... ({len(names) - _LISTED} more)" if len(names) > _LISTED else ""
            shown = ", ".join(names[:_LISTED]) + more
            lines.append(f"  {what} ({len(names)}): {shown}")
    if c.anchor_changes:
        drift = statistics.median(c.anchor_changes)
        lines.append(f"  anchors (same code on both sides): median change {drift:+.2%}"
                     + ("  <- the two environments differ" if abs(drift) > c.max_regression / 3 else ""))
    verdict = (f"FAIL: {len(c.regressions)} regression(s) over +{pct}: "
               + ", ".join(ch.scenario for ch in c.regressions)) if c.regressions else "PASS: no regression"
    lines.append(verdict)
    return "\n".join(lines)


def _only(record: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    return {**record, "scenarios": [s for s in record["scenarios"] if s["name"] in names]}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m admf_perf.bench.compare BASE HEAD [--only FILE]``: compare
    two saved records (the head measured first, the parent after it, as
    ``scripts/bench_regression.sh`` does); ``--only``: a file of scenario
    names, one per line, the only ones compared (the workers of the parent
    that were measured, :mod:`admf_perf.bench.affected`).  Exit 1 on a
    regression, 2 when the records cannot be compared."""
    parser = argparse.ArgumentParser(prog="python -m admf_perf.bench.compare",
                                     description="compare ours' per-op costs of two saved bench records")
    parser.add_argument("base", help="the baseline record (the parent's)")
    parser.add_argument("head", help="the record compared with it")
    parser.add_argument("--only", metavar="FILE", help="compare only the scenarios named in FILE, one per line")
    parser.add_argument("--max-regression", metavar="PCT", type=float, default=DEFAULT_MAX_REGRESSION * 100,
                        help="the growth in percent that fails (default 3)")
    args = parser.parse_args(argv)
    try:
        base, head = load_record(args.base), load_record(args.head)
        if args.only:
            with open(args.only, encoding="utf-8") as f:
                names = {line.strip() for line in f if line.strip()}
            base, head = _only(base, names), _only(head, names)
        comparison = compare(head, base, args.max_regression / 100.0)
    except (BaselineError, OSError) as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 2
    print(format_comparison(comparison, args.base), flush=True)
    return 1 if comparison.regressions else 0


if __name__ == "__main__":
    sys.exit(main())
