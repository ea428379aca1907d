"""Benchmark scenarios: what is timed, against which anchors, and the gate.

A :class:`Scenario` owns the timed loop.  Every implementation of it runs the
same generated code (as ``timeit``'s template does)::

    def _run(_seq=_seq, <names>=<names>):
        for <var> in _seq:
            <stmt>

so loop overhead, local-variable access and the sequence of inputs are
identical for ours and the anchors; an implementation only supplies the
objects the statement names (``f``, ``c``, ...).  One call of ``_run`` performs
``len(_seq)`` operations.  The CLI (``admf-perf bench``) and the
pytest-benchmark suites in ``benches/`` both time these definitions.

Some gates are not times (peak RSS, bytes of a frame): a *measured* scenario
(:meth:`Scenario.measured`) has no loop; each implementation's ``measure(quick)``
returns one sample of the figure in the scenario's ``unit``, and the figure is
the minimum over ``samples`` calls, taken in turns as the timed samples are.

Scenario modules register their scenarios on import; :data:`SCENARIO_MODULES`
lists them, so a later module of scenarios is one line there.
"""
from __future__ import annotations

import hashlib
import importlib
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FLOOR_GROUP",
    "NS_PER_OP",
    "SCENARIO_MODULES",
    "Gate",
    "Impl",
    "Scenario",
    "Timed",
    "Unavailable",
    "compile_loop",
    "one_op",
    "shared_data_file",
    "register",
    "scenarios",
]

#: Modules defining scenarios (each calls :func:`register` on import).
SCENARIO_MODULES: tuple[str, ...] = (
    "admf_perf.bench.floors",
    "admf_perf.bench.caching",
    "admf_perf.bench.risk",
    "admf_perf.bench.indicators",
    "admf_perf.bench.bank",
    "admf_perf.bench.pool",
    "admf_perf.bench.memory",
    "admf_perf.bench.frames",
    "admf_perf.bench.fileio",
    "admf_perf.bench.backtest",
    "admf_perf.bench.strategy",
    "admf_perf.bench.optimize",
)

#: Groups measured by one callgrind worker in the deterministic mode (their
#: scenarios are few and quick, so one start-up serves them all); any other
#: group has a worker of its own, and ``Scenario.worker`` splits a large one.
SHARED_WORKERS: dict[str, str] = {"floor": "core", "risk": "core", "pool": "core", "timeseries": "core"}

#: Unit of timed scenarios (per-op nanoseconds).
NS_PER_OP = "ns/op"

#: Group of the context-only scenarios (no "ours", no gate), always measured.
FLOOR_GROUP = "floor"

_LOOP = """\
def _run({params}):
    for {var} in _seq:
{body}
"""


class Unavailable(Exception):
    """An implementation cannot run here (anchor not installed, API missing)."""


@dataclass(frozen=True)
class Timed:
    """A ready-to-time zero-argument callable performing ``ops`` operations."""

    fn: Callable[[], object]
    ops: int


@dataclass(frozen=True)
class Impl:
    """One implementation of a scenario.

    ``factory()`` returns the objects the loop statement names (e.g.
    ``{"f": functools.lru_cache(128)(ident)}``); it imports what it needs, so an
    anchor that is not installed raises ``ImportError`` there.  ``stmt``
    replaces the scenario's statement only where the anchor's API differs
    (e.g. cachebox's ``insert``).

    In a measured scenario ``measure(quick)`` returns one sample of the figure
    instead (``factory`` is then unused); it raises ``ImportError`` when it
    cannot run here.

    ``context``: an implementation shown for scale only (a slower library, a
    pure-Python one), never a gate's anchor; the deterministic mode, where
    every operation is simulated, leaves it out.
    """

    name: str
    factory: Callable[[], Mapping[str, Any]] | None = None
    stmt: str | None = None
    measure: Callable[[bool], float] | None = None
    context: bool = False


@dataclass(frozen=True)
class Gate:
    """``ours / reference <= max_ratio``; the reference is the fastest of
    ``anchors`` (implementation names) that ran; ``label`` names it in tables.

    ``open``: the goal is not met yet and the named issue meets it (e.g.
    ``"issue 11"``).  A miss of an open gate is reported as ``OPEN`` and does
    not fail ``--check`` (``--strict`` makes it fail); the regression check
    against the parent build still covers the scenario.  The marker is removed
    by the change that meets the goal.
    """

    max_ratio: float
    anchors: tuple[str, ...]
    label: str
    open: str | None = None

    def describe(self) -> str:
        return f"<= {self.max_ratio:.2f}x {self.label}"


@dataclass(frozen=True)
class Scenario:
    """A timed operation, ours and the anchors that do the same work.

    ``seq(quick)`` returns the loop's inputs, one element per operation (the
    same object for every implementation); ``var`` is the loop target that
    binds each element (``"k"``, ``"a, b"``).  ``ours`` is ``None`` for
    context-only scenarios (the floors).

    ``covers`` names the public hot paths the scenario measures (``"SMA.update"``,
    ``"Cache.get@10k/random"``); ``tests/test_bench.py`` fails when a public
    indicator class or cache operation is covered by none.  ``deterministic``
    is False for a timed scenario callgrind cannot measure (several processes
    or threads at once, or time spent in the kernel): it is wall-clock only;
    for a measured one, for a figure that varies from run to run (peak RSS):
    it is measured and gated, but never compared with a baseline.
    ``worker``: the callgrind worker process that measures it in the
    deterministic mode (default: one per group); scenarios sharing a worker
    share its start-up.
    """

    name: str
    group: str
    op: str
    stmt: str
    seq: Callable[[bool], Sequence[Any]]
    ours: Impl | None
    anchors: tuple[Impl, ...] = ()
    gate: Gate | None = None
    var: str = "k"
    unit: str = NS_PER_OP
    samples: int = 3
    covers: tuple[str, ...] = ()
    deterministic: bool = True
    worker: str | None = None

    def __post_init__(self) -> None:
        names = [impl.name for impl in self.implementations]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate implementation names {names}")
        for impl in self.implementations:
            if self.is_measured != (impl.measure is not None) or (not self.is_measured and impl.factory is None):
                raise ValueError(f"{self.name} / {impl.name}: a measured scenario's implementations have "
                                 "a measure and a timed one's a factory")
        if self.gate is not None:
            if self.ours is None:
                raise ValueError(f"{self.name}: a gate needs an 'ours' implementation")
            unknown = set(self.gate.anchors) - {a.name for a in self.anchors if not a.context}
            if unknown or not self.gate.anchors:
                raise ValueError(f"{self.name}: gate anchors {sorted(unknown)} are not (non-context) anchors")

    @classmethod
    def measured(cls, name: str, group: str, op: str, unit: str, ours: Impl,
                 anchors: tuple[Impl, ...] = (), gate: Gate | None = None, samples: int = 3,
                 covers: tuple[str, ...] = (), deterministic: bool = True) -> Scenario:
        """A scenario whose figures are ``min`` over ``samples`` calls of each
        implementation's ``measure(quick)``, in ``unit``; ``deterministic``:
        the figure is the same in every run (bytes counted, not sampled)."""
        if unit == NS_PER_OP:
            raise ValueError(f"{name}: a measured scenario needs a unit other than {NS_PER_OP!r}")
        return cls(name, group, op, "", one_op, ours, anchors, gate, unit=unit, samples=samples, covers=covers,
                   deterministic=deterministic)

    @property
    def is_measured(self) -> bool:
        return self.unit != NS_PER_OP

    @property
    def implementations(self) -> tuple[Impl, ...]:
        """Ours first, then the anchors."""
        return ((self.ours,) if self.ours is not None else ()) + self.anchors

    @property
    def worker_name(self) -> str:
        """The deterministic mode's worker process of this scenario."""
        return self.worker or SHARED_WORKERS.get(self.group, self.group)

    @property
    def slug(self) -> str:
        """The name as an identifier-like id (pytest ids, file names)."""
        return re.sub(r"[^0-9a-z]+", "_", self.name.lower()).strip("_")

    def build(self, impl: Impl, quick: bool = False, warmup: int | None = None) -> Timed:
        """Compile ``impl``'s loop and run it once (warm-up: fills caches and
        lets the interpreter specialize the loop).

        ``warmup``: warm up on the last ``warmup`` inputs only (the
        deterministic mode, where every operation is simulated).  The tail is
        what a full pass leaves in the caches; a pass longer than the caches
        hold starts cold either way.

        Raises :class:`Unavailable` when the factory cannot import or find what
        it needs; anything the warm-up raises propagates.
        """
        if self.is_measured or impl.factory is None:
            raise TypeError(f"{self.name} is measured, not timed: call measure_figure()")
        seq = self.seq(quick)
        try:
            names = dict(impl.factory())
        except (ImportError, AttributeError) as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}") from exc
        stmt, where = impl.stmt or self.stmt, f"<bench {self.name} / {impl.name}>"
        fn = compile_loop(stmt, self.var, seq, names, filename=where)
        if warmup is None or warmup >= len(seq):
            fn()
        else:
            compile_loop(stmt, self.var, seq[len(seq) - warmup:], names, filename=where)()
        return Timed(fn, len(seq))

    def fingerprint(self) -> str:
        """A digest of what the scenario measures (its op, loop and
        implementations): a baseline's figure is compared only with a run
        whose scenario has the same fingerprint."""
        parts = [self.op, self.stmt, self.var, self.unit,
                 *(f"{impl.name}|{impl.stmt or ''}" for impl in self.implementations)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    def measure_figure(self, impl: Impl, quick: bool = False) -> float:
        """One sample of a measured scenario's figure for ``impl``.

        Raises :class:`Unavailable` when it cannot run here (``ImportError``).
        """
        if impl.measure is None:
            raise TypeError(f"{self.name} / {impl.name} has no measure")
        try:
            return float(impl.measure(quick))
        except ImportError as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}") from exc


def one_op(quick: bool) -> Sequence[Any]:
    """The inputs of a scenario whose one op is the whole statement."""
    return (None,)


def shared_data_file(*parts: str) -> Path | None:
    """``../shared/data/<parts>`` beside the repository (found from the working
    directory and its parents, then from this file's), or None."""
    for base in (Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents):
        candidate = base.parent.joinpath("shared", "data", *parts)
        if candidate.is_file():
            return candidate
    return None


def compile_loop(stmt: str, var: str, seq: Sequence[Any], names: Mapping[str, Any],
                 filename: str = "<bench>") -> Callable[[], None]:
    """The loop ``for <var> in seq: <stmt>`` as a zero-argument function whose
    names are fast locals (bound as parameter defaults, as timeit does)."""
    bad = [n for n in names if not n.isidentifier() or n.startswith("_")]
    if bad:
        raise ValueError(f"loop names must be identifiers not starting with '_': {bad}")
    params = ", ".join(f"{n}={n}" for n in ("_seq", *names))
    body = textwrap.indent(textwrap.dedent(stmt).strip("\n"), " " * 8)
    namespace: dict[str, Any] = {"_seq": seq, **names}
    exec(compile(_LOOP.format(params=params, var=var, body=body), filename, "exec"), namespace)
    fn: Callable[[], None] = namespace["_run"]
    return fn


_REGISTRY: dict[str, Scenario] = {}


def register(*items: Scenario) -> None:
    """Add scenarios to the registry (a re-imported module replaces its own)."""
    for item in items:
        _REGISTRY[item.name] = item


def scenarios(select: Iterable[str] = (), group: str | None = None) -> list[Scenario]:
    """Registered scenarios in definition order.

    ``select``: keep those whose name or group contains any of these
    substrings (case-insensitive); empty keeps all.  ``group``: only that group.
    """
    for module in SCENARIO_MODULES:
        importlib.import_module(module)
    wanted = [s.lower() for s in select]
    return [
        s for s in _REGISTRY.values()
        if (group is None or s.group == group)
        and (not wanted or any(w in s.name.lower() or w in s.group.lower() for w in wanted))
    ]
