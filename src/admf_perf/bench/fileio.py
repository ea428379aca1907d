"""File I/O scenario (issue 5, section 2): ``IOManager`` reading 200 files of
1 MiB beside a synchronous loop reading the same files; gate <= 1.50x.

One operation reads all the files: ours submits 200 ``read_file_async`` to a
dedicated ``IOManager`` and waits for every result; the anchor is
``for p in paths: with open(p, "rb") as f: f.read()``.  Both are called as
``read_all(paths)``, so the timed loops are identical.  The files are written
once per process in a temporary folder (removed at exit) and are in the page
cache when timed: the scenario measures the manager's overhead, not the disk.
``--quick`` reads the same 200 files (one operation lasts about 8 ms; with
fewer files the fixed cost of waking the worker would weigh more).
"""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from admf_perf.bench.scenario import Gate, Impl, Scenario, register

__all__ = ["FILE_SIZE", "FILES", "bench_files", "read_all_sync"]

GROUP = "fileio"
FILES = 200
FILE_SIZE = 1 << 20


@functools.cache
def _folder() -> str:
    folder = tempfile.mkdtemp(prefix="admf-perf-bench-io-")
    atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.cache
def bench_files(quick: bool = False) -> list[tuple[str, ...]]:
    """One element (one operation): the paths of the files to read, created
    on first use (``FILES`` files of ``FILE_SIZE`` random bytes; the same
    files with ``quick``)."""
    folder = _folder()
    paths = []
    for i in range(FILES):
        path = os.path.join(folder, f"f{i:03d}.bin")
        if not os.path.exists(path):
            tmp = path + ".part"
            with open(tmp, "wb") as f:
                f.write(os.urandom(FILE_SIZE))
            os.replace(tmp, path)
        paths.append(path)
    return [tuple(paths)]


def read_all_sync(paths: Sequence[str]) -> None:
    """The anchor: a synchronous loop."""
    for p in paths:
        with open(p, "rb") as f:
            f.read()


def _ours() -> Mapping[str, Any]:
    from admf_perf.resources.fileio import IOManager

    submit = IOManager(fsync=False).read_file_async

    def read_all(paths: Sequence[str]) -> None:
        futures: list[Any] = [submit(p) for p in paths]
        for i, future in enumerate(futures):
            futures[i] = None              # each content is dropped once consumed,
            future.result()                # as the synchronous loop drops it

    return {"read_all": read_all}


def _sync() -> Mapping[str, Any]:
    return {"read_all": read_all_sync}


_SYNC = "synchronous loop"

register(
    Scenario(
        "IOManager read 200 x 1 MiB", GROUP,
        "read 200 files of 1 MiB (page cache): 200 read_file_async, then every result",
        "read_all(k)", bench_files,
        Impl("admf_perf IOManager", _ours),
        (Impl(_SYNC, _sync),),
        gate=Gate(1.50, (_SYNC,), 'for p in paths: open(p, "rb").read()'),
        deterministic=False,  # a worker thread and the kernel's reads: a wall-clock figure
    ),
)
