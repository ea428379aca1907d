"""Deterministic mode (``admf-perf bench --instructions``): the cost of one
operation counted by callgrind, not timed.

Each implementation's figure is the *estimated cycles* per operation of its
measured loop, from ``valgrind --tool=callgrind`` with its cache simulation::

    Ir + 10 * (I1mr + D1mr + D1mw) + 100 * (ILmr + DLmr + DLmw)

(instructions, plus a cost for every first-level and last-level cache miss),
so a memory-bound case shows as one.  The counts do not depend on the load of
the machine: two runs of the same build give the same figures (to within a
few instructions).

How: the scenarios of one group run in one worker process under valgrind
(:func:`worker_main`), in two phases.  Phase 1 runs with callgrind's
instrumentation off (``--instr-atstart=no``: about ten times faster): the
imports, the inputs, one call of every factory.  Then the parent switches the
instrumentation on (``callgrind_control -i on``) and phase 2 builds, warms up
and measures each implementation.  Collection is off except inside the C
function ``admf_perf_bench_region`` (``_ext/_bench.pyx``), which calls the
loop once (``--collect-atstart=no --toggle-collect``); ``--dump-after`` writes
one dump per call.  Start-up, imports, building the objects and the warm-up
run are never counted; the warm-up is simulated, so the caches are warm as
they are when the loop is timed.  It covers the last :data:`WARMUP_OPS` inputs
at most: all of a loop whose data fits the caches, the tail of a longer one.
The worker writes a manifest line per implementation, in the order of its
dumps; the parent reads the dumps' totals.

Fixed for every machine, so the figures do not depend on the host:
``PYTHONHASHSEED=0`` and the simulated caches (32 KiB 8-way L1 I and D, an
8 MiB 16-way last level, 64-byte lines).  One process per group: a change in
one group's scenarios never moves another group's figures.

Scenarios marked ``deterministic=False`` (several processes or threads at
once, or time spent in the kernel, which callgrind does not see) are
wall-clock only; measured scenarios (bytes, peak RSS) are not times and are
measured natively, as in the wall-clock mode.
"""
from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_GEOMETRY",
    "CONTEXT_SKIPPED",
    "CYCLES_PER_OP",
    "EVENTS",
    "CallgrindError",
    "Counts",
    "callgrind_available",
    "estimated_cycles",
    "measure_groups",
    "package_objects",
    "parse_dump",
    "parse_dump_objects",
    "valgrind_command",
    "worker_main",
]

#: Unit of the deterministic figures.
CYCLES_PER_OP = "cycles/op"

#: Callgrind's events with the cache simulation on, in its dump order.
EVENTS: tuple[str, ...] = ("Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw")

#: The simulated caches: the same on every machine (size, associativity, line).
CACHE_GEOMETRY: tuple[str, ...] = ("--I1=32768,8,64", "--D1=32768,8,64", "--LL=8388608,16,64")

#: The warm-up run covers at most this many of the loop's last inputs: all of
#: a loop whose data fits the simulated caches, and the tail of a longer one
#: (which a full pass would have left behind, so the measured pass starts cold
#: as it does in steady state).
WARMUP_OPS = 20_000

#: Seconds one worker process may take (a group's scenarios under valgrind).
WORKER_TIMEOUT = 3_600

_REGION = "admf_perf_bench_region"

#: Why a context implementation has no figure in the deterministic mode.
CONTEXT_SKIPPED = "context only: not counted in the deterministic mode"
_DUMP_PREFIX = "cg"


class CallgrindError(RuntimeError):
    """The deterministic mode cannot run here (no valgrind, no compiled region)."""


def estimated_cycles(events: Mapping[str, float]) -> float:
    """``Ir + 10*(I1mr + D1mr + D1mw) + 100*(ILmr + DLmr + DLmw)``."""
    e = events.get
    return (e("Ir", 0) + 10 * (e("I1mr", 0) + e("D1mr", 0) + e("D1mw", 0))
            + 100 * (e("ILmr", 0) + e("DLmr", 0) + e("DLmw", 0)))


@dataclass(frozen=True)
class Counts:
    """One measured region: callgrind's event totals and the loop's
    operations; ``objects``: the instructions it ran in each of this
    package's compiled modules (by module name, ``"_cache"``)."""

    events: Mapping[str, int]
    ops: int
    objects: Mapping[str, int] = field(default_factory=dict)

    @property
    def per_op(self) -> dict[str, float]:
        return {name: self.events.get(name, 0) / self.ops for name in EVENTS}

    @property
    def cycles_per_op(self) -> float:
        return estimated_cycles(self.events) / self.ops


def parse_dump(path: str | os.PathLike[str]) -> dict[str, int]:
    """Event totals of one callgrind dump (its ``events:`` and ``totals:``
    lines; events missing at the end of the totals are 0)."""
    names: list[str] = []
    totals: list[str] | None = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("events:"):
                names = line.split(":", 1)[1].split()
            elif line.startswith(("totals:", "summary:")):
                totals = line.split(":", 1)[1].split()
                if line.startswith("totals:"):
                    break
    if not names or totals is None:
        raise CallgrindError(f"{path}: not a callgrind dump (no events/totals line)")
    values = [int(v) for v in totals] + [0] * (len(names) - len(totals))
    return dict(zip(names, values, strict=True))


def parse_dump_objects(path: str | os.PathLike[str]) -> dict[str, int]:
    """Instructions (``Ir``, self cost) per object file (``ob=``: a shared
    library, the interpreter) in one callgrind dump; the cost line after a
    ``calls=`` line is the call's inclusive cost and is not counted."""
    out: dict[str, int] = {}
    ob = "???"
    after_call = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            head = line[:1]
            if head.isdigit() or head in "+-*":
                if after_call:
                    after_call = False
                    continue
                parts = line.split(None, 2)
                if len(parts) > 1:
                    out[ob] = out.get(ob, 0) + int(parts[1])
            elif line.startswith("ob="):
                ob = _dump_name(line[3:])
            elif line.startswith("calls="):
                after_call = True
    return {name: ir for name, ir in out.items() if ir}


def _dump_name(text: str) -> str:
    """A name of a dump's ``ob=``/``fn=`` line, compressed (``(3) name``,
    ``(3)``) or not; a bare id gives ``(3)`` (its first use named it)."""
    text = text.strip()
    if text.startswith("(") and ")" in text:
        rest = text[text.index(")") + 1:].strip()
        return rest or text
    return text


def package_objects(objects: Mapping[str, int]) -> dict[str, int]:
    """The part of :func:`parse_dump_objects` in this package's compiled
    modules, by module name (``.../admf_perf/_ext/_cache.cpython-311-...so``
    -> ``"_cache"``)."""
    out: dict[str, int] = {}
    for path, ir in objects.items():
        parent, _, file = path.replace("\\", "/").rpartition("/")
        if parent.endswith("admf_perf/_ext"):
            name = file.split(".", 1)[0]
            out[name] = out.get(name, 0) + ir
    return out


def valgrind_command(out_dir: str | os.PathLike[str]) -> list[str]:
    """The valgrind invocation of a worker, up to (not including) the program."""
    valgrind = shutil.which("valgrind")
    if valgrind is None or shutil.which("callgrind_control") is None:
        raise CallgrindError("admf-perf bench --instructions needs valgrind (and its callgrind_control) on "
                             "PATH (Debian/Ubuntu: apt-get install valgrind)")
    return [
        valgrind, "--tool=callgrind", "--cache-sim=yes", *CACHE_GEOMETRY,
        "--instr-atstart=no", "--vgdb=yes",
        "--collect-atstart=no", f"--toggle-collect={_REGION}", f"--dump-after={_REGION}",
        "--dump-line=no", "--dump-instr=no", "--compress-strings=no", "--compress-pos=no",
        f"--callgrind-out-file={os.path.join(os.fspath(out_dir), _DUMP_PREFIX)}.%p",
        "--log-file=" + os.path.join(os.fspath(out_dir), "valgrind.log"),
    ]


def _region() -> Callable[[Callable[[], object]], object]:
    from admf_perf._ext import COMPILED, load

    module = load("_bench")
    if not COMPILED.get("_bench"):
        raise CallgrindError("admf-perf bench --instructions needs the compiled admf_perf._ext._bench "
                             "(unset ADMF_PERF_NO_EXTENSIONS, or reinstall with `pip install .`)")
    region: Callable[[Callable[[], object]], object] = module.measured_region
    return region


def callgrind_available() -> str | None:
    """None when the deterministic mode can run here, else why not."""
    try:
        valgrind_command(tempfile.gettempdir())
        _region()
    except CallgrindError as exc:
        return str(exc)
    return None


# -- the worker (runs under valgrind) -------------------------------------------------

def _prepare(selected: Sequence[Any], quick: bool) -> None:
    """Phase 1, not instrumented (valgrind runs the code ~10x faster than
    with the cache simulation): make every input and call every factory once,
    so the imports, the data files and the shared full stores are ready;
    failures are left for the measured phase to report."""
    for scenario in selected:
        scenario.seq(quick)
        for impl in scenario.implementations:
            if impl.context or impl.factory is None:
                continue
            try:
                impl.factory()
            except Exception:  # noqa: BLE001 -- reported by the measured build
                pass
    gc.collect()


def _await_instrumentation(ready: str, go: str, timeout: float = 300.0) -> None:
    """Tell the parent this process is ready, then spin until it has switched
    callgrind's instrumentation on (it creates ``go``).  Spinning, not
    sleeping: valgrind's gdbserver takes the command while code runs."""
    Path(ready).write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + timeout
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise SystemExit(f"admf-perf callgrind worker: instrumentation not switched on in {timeout:.0f} s")


def worker_main(argv: Sequence[str]) -> int:
    """``python -m admf_perf.bench.callgrind JOB.json``: measure the job's
    scenarios, one region per implementation, and append one manifest line
    per implementation (``ops`` lines in the order of the dumps).

    Phase 1 (:func:`_prepare`) runs with instrumentation off; the parent
    switches it on (``callgrind_control -i on``) before phase 2, where each
    implementation is built, warmed up and measured.
    """
    from admf_perf.bench.scenario import Unavailable, scenarios

    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    wanted, quick = set(job["scenarios"]), bool(job["quick"])
    region = _region()
    selected = [s for s in scenarios() if s.name in wanted]
    _prepare(selected, quick)
    _await_instrumentation(job["ready"], job["go"])
    with open(job["manifest"], "a", encoding="utf-8") as manifest:
        def record(**entry: Any) -> None:
            manifest.write(json.dumps(entry) + "\n")
            manifest.flush()

        for scenario in selected:
            for impl in scenario.implementations:
                if impl.context:
                    record(scenario=scenario.name, impl=impl.name, error=CONTEXT_SKIPPED)
                    continue
                t0 = time.monotonic()
                # Collect first, then no collection until the region ends: a
                # collection walks the whole heap and would evict the loop's
                # data from the simulated caches that the warm-up filled.
                gc.collect()
                gc.disable()
                try:
                    try:
                        timed = scenario.build(impl, quick, WARMUP_OPS)  # the warm-up run
                    except Unavailable as exc:
                        record(scenario=scenario.name, impl=impl.name, error=f"skipped: {exc}")
                        continue
                    except Exception as exc:
                        record(scenario=scenario.name, impl=impl.name,
                               error=f"error: {type(exc).__name__}: {exc}")
                        continue
                    try:
                        region(timed.fn)
                    except Exception as exc:  # the dump was still written: keep the order
                        record(scenario=scenario.name, impl=impl.name, ops=timed.ops,
                               error=f"error: {type(exc).__name__}: {exc}")
                        continue
                finally:
                    gc.enable()
                record(scenario=scenario.name, impl=impl.name, ops=timed.ops,
                       seconds=round(time.monotonic() - t0, 2))
                del timed
    return 0


# -- the parent ------------------------------------------------------------------------

#: (scenario, implementation) -> Counts, or the reason there is none.
Figures = dict[tuple[str, str], "Counts | str"]


def _switch_instrumentation_on(proc: subprocess.Popen[str], ready: str, go: str) -> str | None:
    """Wait for the worker's ``ready`` file, run ``callgrind_control -i on``
    on it, then create ``go``; None, or why it failed."""
    deadline = time.monotonic() + WORKER_TIMEOUT
    while not os.path.exists(ready):
        if proc.poll() is not None:
            return f"the worker exited ({proc.returncode}) before its measured phase"
        if time.monotonic() > deadline:
            return "the worker did not get ready"
        time.sleep(0.05)
    control = shutil.which("callgrind_control")
    if control is None:
        return "callgrind_control (part of valgrind) is not on PATH"
    done = subprocess.run([control, "-i", "on", str(proc.pid)], capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0 or "OK" not in done.stdout:
        return f"callgrind_control -i on {proc.pid} failed: {(done.stdout + done.stderr).strip()}"
    Path(go).touch()
    return None


def _run_group(group: str, names: list[str], quick: bool, log: Callable[[str], None]) -> Figures:
    """One valgrind worker measuring ``group``'s scenarios ``names``; its
    figures by (scenario, impl)."""
    out: Figures = {}
    with tempfile.TemporaryDirectory(prefix="admf-perf-callgrind-") as tmp:
        paths = {key: os.path.join(tmp, key) for key in ("manifest", "ready", "go")}
        job = os.path.join(tmp, "job.json")
        Path(job).write_text(json.dumps({"scenarios": names, "quick": quick, **paths}), encoding="utf-8")
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        cmd = [*valgrind_command(tmp), sys.executable, "-m", "admf_perf.bench.callgrind", job]
        t0 = time.monotonic()
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            failure = _switch_instrumentation_on(proc, paths["ready"], paths["go"])
            if failure is not None:
                proc.kill()
            try:
                output, _ = proc.communicate(timeout=WORKER_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                output, _ = proc.communicate()
                failure = f"the worker took more than {WORKER_TIMEOUT} s"
        entries = []
        if os.path.exists(paths["manifest"]):
            with open(paths["manifest"], encoding="utf-8") as f:
                entries = [json.loads(line) for line in f if line.strip()]
        dumps = sorted(Path(tmp).glob(f"{_DUMP_PREFIX}.*.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
        regions = [e for e in entries if "ops" in e]
        if failure is not None or len(dumps) != len(regions):
            log_file = Path(tmp, "valgrind.log")
            vlog = log_file.read_text(errors="replace")[-1500:] if log_file.exists() else ""
            reason = (f"error: callgrind worker {group!r}: {failure or 'dumps and regions disagree'} "
                      f"({len(dumps)} dumps, {len(regions)} regions, exit {proc.returncode}); "
                      f"output: {(output or '')[-1500:].strip()} {vlog.strip()}")
            for name in names:
                out[(name, "*")] = reason
            log(f"  {reason}")
            return out
        for entry, dump in zip(regions, dumps, strict=True):
            if "error" not in entry:
                out[(entry["scenario"], entry["impl"])] = Counts(parse_dump(dump), int(entry["ops"]),
                                                                 package_objects(parse_dump_objects(dump)))
        for entry in entries:
            if "error" in entry:
                out[(entry["scenario"], entry["impl"])] = entry["error"]
        if proc.returncode != 0:
            log(f"  callgrind worker {group!r} exited {proc.returncode}: {(output or '')[-500:].strip()}")
        log(f"  {group}: {len(names)} scenario(s) counted in {time.monotonic() - t0:.0f} s")
    return out


def measure_groups(groups: Mapping[str, list[str]], quick: bool, jobs: int = 2,
                   log: Callable[[str], None] = lambda message: None) -> Figures:
    """Measure each group's scenarios (by name) in its own valgrind worker,
    ``jobs`` workers at a time; figures by (scenario, implementation).  A
    worker that fails gives ``(name, "*") -> reason`` for its scenarios."""
    if (reason := callgrind_available()) is not None:
        raise CallgrindError(reason)
    figures: Figures = {}
    # Largest groups first, so the workers finish together.
    order = sorted(groups.items(), key=lambda item: -len(item[1]))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for result in pool.map(lambda item: _run_group(*item, quick, log), order):
            figures.update(result)
    return figures


def group_scenarios(names: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """``(group, scenario name)`` pairs -> names per group, in order."""
    out: dict[str, list[str]] = {}
    for group, name in names:
        out.setdefault(group, []).append(name)
    return out


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
