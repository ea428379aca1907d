"""Resource snapshots (``admf_perf.monitoring``), ``admf-perf report``, and the
bench harness's measured (non-time) scenarios."""
from __future__ import annotations

import itertools
import json
import os

import psutil
import pytest

from admf_perf import cli, monitoring
from admf_perf.bench.report import FAIL, PASS, format_table
from admf_perf.bench.runner import run
from admf_perf.bench.scenario import Gate, Impl, Scenario
from admf_perf.bench.timing import QUICK


def test_snapshot_reports_this_process(tmp_path):
    path = tmp_path / "held-open.txt"
    with open(path, "w") as held:
        held.write("x")
        held.flush()
        snap = monitoring.snapshot(interval=0)
    proc = psutil.Process()
    assert snap["process"]["pid"] == os.getpid()
    assert str(path) in snap["process"]["open_file_paths"]
    assert snap["process"]["open_files"] == len(snap["process"]["open_file_paths"])
    assert snap["cpu"]["count"] == psutil.cpu_count()
    assert len(snap["cpu"]["per_cpu"]) == psutil.cpu_count()
    mem = snap["memory"]
    assert mem["system_total"] == psutil.virtual_memory().total
    # RSS read in the snapshot is within 50% of a fresh reading (same process, moments apart)
    assert 0.5 < mem["rss"] / proc.memory_info().rss < 1.5
    assert isinstance(mem["pressure_high"], bool)
    json.dumps(snap)  # JSON-ready


def test_snapshot_lists_registered_caches():
    import admf_perf

    cache = admf_perf.Cache(max_size=4, name="monitoring-probe")
    cache.set("a", 1)
    cache.get("a")
    cache.get("b")
    snap = monitoring.snapshot(interval=0)
    stats = snap["toolkit"]["caches"]["monitoring-probe"]
    assert (stats["hits"], stats["misses"], stats["size"]) == (1, 1, 1)
    assert "monitoring-probe: 1 entries, 1 hits, 1 misses" in monitoring.format_snapshot(snap)


@pytest.mark.parametrize(("bad", "exc"), [(-1, ValueError), (float("nan"), ValueError),
                                          (float("inf"), ValueError), ("1", TypeError), (True, TypeError)])
def test_snapshot_rejects_bad_interval(bad, exc):
    with pytest.raises(exc, match="interval"):
        monitoring.snapshot(interval=bad)


def test_resource_monitor_sample():
    sample = monitoring.ResourceMonitor().sample()
    assert 0.0 <= sample.cpu_percent <= 100.0
    assert 0.0 < sample.memory_percent <= 100.0
    assert sample.rss > 0 and isinstance(sample.memory_pressure, bool)


def test_report_command(capsys, tmp_path):
    out = tmp_path / "snap.json"
    assert cli.main(["report", "--interval", "0", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("admf-perf report")
    for heading in ("cpu ", "memory ", "process ", "toolkit "):
        assert f"\n{heading}" in text
    assert json.loads(out.read_text())["process"]["pid"] == os.getpid()
    assert cli.main(["report", "--interval", "0", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["process"]["pid"] == os.getpid()


# -- measured bench scenarios -----------------------------------------------------------

def _measured(ours, theirs, max_ratio=0.5, samples=3):
    return Scenario.measured("probe", "test", "a figure", "MB", Impl("ours", measure=ours),
                             (Impl("theirs", measure=theirs),), Gate(max_ratio, ("theirs",), "theirs"),
                             samples=samples)


def test_measured_scenario_keeps_the_minimum_and_gates_the_ratio():
    values = itertools.cycle([12.0, 10.0, 11.0])
    calls = []
    scenario = _measured(lambda quick: next(values), lambda quick: calls.append(quick) or 40.0)
    [result] = run([scenario], QUICK.__class__(**{**QUICK.__dict__, "quick": False}))
    assert result.impls["ours"].figure == 10.0 and result.impls["theirs"].figure == 40.0
    assert calls == [False, False, False]                  # ``samples`` rounds
    assert result.ratio == pytest.approx(0.25) and result.verdict() == PASS
    assert "10.0 MB" in format_table([result])


def test_measured_scenario_fails_its_gate_and_retries():
    attempts = []
    scenario = _measured(lambda quick: attempts.append(1) or 30.0, lambda quick: 40.0, samples=2)
    [result] = run([scenario], QUICK, retries=2)
    assert result.verdict() == FAIL and result.attempts == 3
    assert len(attempts) == 3                              # quick: samples // 2 per attempt
    [passed] = run([scenario], QUICK, margin=0.6)          # 0.75 <= 0.5 * 1.6
    assert passed.verdict(0.6) == PASS


def test_measured_scenario_unavailable_anchor_is_skipped():
    def missing(quick):
        raise ImportError("no anchor here")

    [result] = run([_measured(lambda quick: 1.0, missing)], QUICK)
    assert result.impls["theirs"].error.startswith("skipped: ImportError")
    assert result.ratio is None


def test_measured_and_timed_implementations_do_not_mix():
    with pytest.raises(ValueError, match="measure"):
        Scenario("mixed", "test", "op", "f(k)", lambda quick: [1], Impl("ours", measure=lambda q: 1.0))
    with pytest.raises(ValueError, match="unit"):
        Scenario.measured("x", "test", "op", "ns/op", Impl("ours", measure=lambda q: 1.0))
