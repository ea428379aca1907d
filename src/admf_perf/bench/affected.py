"""Which of the parent's workers the regression check must measure.

``scripts/bench_regression.sh`` measures the head first, in the
deterministic mode.  Each implementation's record then says how many
instructions per op its loop ran in each of this package's compiled modules
(``objects_ir_per_op``, from callgrind's per-object costs), and each
scenario names the worker process that measured it.  The parent is then
measured only in the workers where ours ran a module that the change
rebuilt differently: a loop that runs no changed code runs the same
instructions before and after, so measuring it twice compares it with
itself.  Whole workers, never single scenarios: the scenarios of a worker
share its heap, and a figure is only comparable with one measured after the
same scenarios.

What counts as changed:

- when any changed file of the package is not a compiled source (a ``.py``
  module, ``pyproject.toml``...): every scenario the head measured, since
  Python code runs in every loop through the wrappers;
- else (``.pyx``, ``.pxd``, ``.pxi``, templates, C headers, ``setup.py``,
  stubs): the compiled modules whose loaded code differs between the two
  builds.  Two builds of the same sources differ only in their debug
  sections and build id (the source directories differ), so the digest is
  of the sections loaded at run time, less the notes.  A module that is not
  an ELF file (macOS, Windows) counts as changed.

The measured (not timed) scenarios run in the main process, not in a worker:
they are always measured.

``python -m admf_perf.bench.affected --record HEAD.json --base-ext DIR
--head-ext DIR [--changed PATH]...`` prints the scenario names to measure,
one per line (none: nothing to compare); why, on stderr.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import struct
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["changed_modules", "compiled_only", "everything", "loaded_digest", "main", "scenarios_to_measure"]

#: Suffixes of the files the compiled modules are built from, under ``src/admf_perf/_ext/``.
_COMPILED_SUFFIXES = (".pyx", ".pxd", ".pxi", ".in", ".h", ".c", ".pyi")

_SHF_ALLOC = 0x2
_SHT_NOTE = 7
_SHT_NOBITS = 8


def compiled_only(paths: Iterable[str]) -> bool:
    """True when every changed path (relative to the repository root) is a
    compiled module's source, ``setup.py`` (how they are compiled), or a
    marker that does not run (``py.typed``)."""
    for path in paths:
        path = path.replace("\\", "/")
        if path == "setup.py" or path.endswith("/py.typed"):
            continue
        if path.startswith("src/admf_perf/_ext/") and path.endswith(_COMPILED_SUFFIXES):
            continue
        return False
    return True


def loaded_digest(path: str | os.PathLike[str]) -> str | None:
    """A digest of the sections of an ELF shared object that are loaded at
    run time, less its notes (the build id); None when it is not a 64-bit
    little-endian ELF file."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    digest = hashlib.sha256()
    for i in range(shnum):
        _name, kind, flags, addr, offset, size, *_ = struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
        if not flags & _SHF_ALLOC or kind == _SHT_NOTE:
            continue
        digest.update(struct.pack("<IQQ", kind, addr, size))
        if kind != _SHT_NOBITS:
            digest.update(data[offset:offset + size])
    return digest.hexdigest()


def _modules(ext_dir: str | os.PathLike[str]) -> dict[str, Path]:
    return {p.name.split(".", 1)[0]: p for p in Path(ext_dir).iterdir()
            if p.is_file() and p.name.endswith((".so", ".pyd"))}


def changed_modules(base_ext: str | os.PathLike[str], head_ext: str | os.PathLike[str]) -> set[str]:
    """The compiled modules (``"_cache"``) of two builds' ``admf_perf/_ext``
    directories whose loaded code differs, or that only one build has."""
    base, head = _modules(base_ext), _modules(head_ext)
    out = set(base) ^ set(head)
    for name in set(base) & set(head):
        a, b = loaded_digest(base[name]), loaded_digest(head[name])
        if a is None or a != b:
            out.add(name)
    return out


def _comparable(record: Mapping[str, Any]) -> tuple[dict[str, list[str]], list[str]]:
    """The scenarios of a record that a baseline can be compared on: the
    counted ones by worker (None: the record names none), and the measured
    ones whose figure is reproducible (bytes; peak RSS is not)."""
    workers: dict[str, list[str]] = {}
    measured: list[str] = []
    for scenario in record.get("scenarios", []):
        if scenario.get("unit") != "cycles/op":
            if scenario.get("deterministic") and not scenario.get("skipped"):
                measured.append(scenario["name"])
        elif not scenario.get("skipped"):
            workers.setdefault(scenario.get("worker"), []).append(scenario["name"])
    return workers, measured


def _every(workers: Mapping[Any, list[str]], measured: list[str]) -> list[str]:
    """Every scenario of a record split by ``_comparable``."""
    return [name for names in workers.values() for name in names] + measured


def everything(record: Mapping[str, Any]) -> list[str]:
    """Every scenario of the head's record that the parent must measure when
    anything may have moved."""
    return _every(*_comparable(record))


def scenarios_to_measure(record: Mapping[str, Any], changed: set[str]) -> tuple[list[str], str]:
    """The head's deterministic ``record``, and the changed compiled
    modules: (the scenario names of every worker where ours ran one of them,
    plus the measured scenarios, measured in the main process), and why."""
    workers, measured = _comparable(record)
    if None in workers:
        return _every(workers, measured), f"{workers[None][0]} names no worker (an older record): every scenario"
    hit: dict[str, set[str]] = {}
    for scenario in record.get("scenarios", []):
        name, worker = scenario["name"], scenario.get("worker")
        if scenario.get("unit") != "cycles/op" or scenario.get("skipped"):
            continue
        for impl in scenario.get("implementations", []):
            if impl.get("role") != "ours" or impl.get("events_per_op") is None:
                continue
            objects = impl.get("objects_ir_per_op")
            if objects is None:
                return _every(workers, measured), f"{name} has no per-module counts (an older record): every scenario"
            ran = changed & set(objects)
            if ran:
                hit.setdefault(worker, set()).update(ran)
    names = [n for worker in workers if worker in hit for n in workers[worker]] + measured
    if not hit:
        why = f"no measured loop of ours runs a changed module ({', '.join(sorted(changed)) or 'none'})"
    else:
        why = "; ".join(f"worker {w!r} runs {', '.join(sorted(m))}" for w, m in sorted(hit.items()))
        skipped = sorted(set(workers) - set(hit))
        if skipped:
            why += f"; not measured: {', '.join(repr(w) for w in skipped)} (no changed module in their loops)"
    return names, why


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m admf_perf.bench.affected",
                                     description="the parent's scenarios that the regression check must measure")
    parser.add_argument("--record", required=True, help="the head's deterministic record (--json)")
    parser.add_argument("--base-ext", required=True, help="the parent's installed admf_perf/_ext directory")
    parser.add_argument("--head-ext", required=True, help="the head's installed admf_perf/_ext directory")
    parser.add_argument("--changed", action="append", default=[],
                        help="a changed file of the package, relative to the repository root (repeatable)")
    args = parser.parse_args(argv)
    from admf_perf.bench.compare import BaselineError, load_record

    try:
        record = load_record(args.record)
    except BaselineError as exc:
        print(f"affected: {exc}", file=sys.stderr)
        return 2
    if not compiled_only(args.changed):
        names = everything(record)
        why = "every scenario: a changed file is not a compiled module's source (" + ", ".join(
            p for p in args.changed if not compiled_only([p])) + ")"
    else:
        names, why = scenarios_to_measure(record, changed_modules(args.base_ext, args.head_ext))
    print(f"affected: {why}", file=sys.stderr)
    print("\n".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
