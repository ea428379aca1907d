"""Manager-side records of the work, common to every backend.

A task (one call of ``fn``) is an :class:`_Item` with its future; a chunk
(items of one ``fn`` that one worker call runs) is a :class:`_Job`.
:func:`prepare` turns a chunk into what :func:`~.tasks._run_chunk` takes
(shared handles cut out), :func:`deliver` hands a finished chunk's outcomes
to the items' futures and to the statistics.
"""
from __future__ import annotations

import concurrent.futures as cf
import functools
import pickle
from collections.abc import Callable, Iterable
from typing import Any

from ..._validate import check_str
from .stats import _TaskStats
from .tasks import RemoteTraceback, SharedObject


class _Item:
    """One task (one call of ``fn``): its future and its crash history."""

    __slots__ = ("args", "kwargs", "future", "crashes", "started")

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any], future: cf.Future) -> None:
        self.args = args
        self.kwargs = kwargs
        self.future = future
        self.crashes = 0
        self.started = False


class _Job:
    """A chunk: items of one ``fn`` that one worker call runs."""

    __slots__ = ("fn", "name", "items", "retries", "isolate", "slot", "gen", "fut")

    def __init__(self, fn: Callable[..., Any], name: str, items: list[_Item], retries: int,
                 isolate: bool = False) -> None:
        self.fn = fn
        self.name = name
        self.items = items
        self.retries = retries
        self.isolate = isolate
        self.slot = -1
        self.gen: Any = None                      # the process pool generation holding it
        self.fut: cf.Future | None = None


def task_name_of(fn: Callable[..., Any], name: Any) -> str:
    """``name`` if given, else the qualified name of ``fn`` (through ``partial``)."""
    if check_str(name, "task_name", allow_none=True) is not None:
        return str(name)
    inner = fn
    while isinstance(inner, functools.partial):
        inner = inner.func
    qualname = getattr(inner, "__qualname__", None) or getattr(inner, "__name__", None)
    return qualname if isinstance(qualname, str) else type(inner).__qualname__


def chunk(fn: Callable[..., Any], name: str, items: Iterable[Any], chunksize: int, retries: int,
          extra: tuple[Any, ...] = ()) -> tuple[list[cf.Future], list[_Job]]:
    """One future per item (``fn(item, *extra)``) and the chunks of ``chunksize`` items."""
    futures: list[cf.Future] = []
    jobs: list[_Job] = []
    items_of_chunk: list[_Item] = []
    for item in items:
        fut: cf.Future = cf.Future()
        futures.append(fut)
        items_of_chunk.append(_Item((item, *extra), {}, fut))
        if len(items_of_chunk) == chunksize:
            jobs.append(_Job(fn, name, items_of_chunk, retries))
            items_of_chunk = []
    if items_of_chunk:
        jobs.append(_Job(fn, name, items_of_chunk, retries))
    return futures, jobs


def collect(futures: list[cf.Future], return_exceptions: bool) -> list[Any]:
    """Results of finished futures in order; the first exception is raised
    unless ``return_exceptions`` puts the exceptions in the list."""
    results: list[Any] = []
    for fut in futures:
        exc = fut.exception()
        if exc is None:
            results.append(fut.result())
        elif return_exceptions:
            results.append(exc)
        else:
            raise exc
    return results


def prepare(job: _Job, mode: str, client: Any = None
            ) -> tuple[list[tuple[Any, ...]], dict[str, Any]] | None:
    """The chunk's calls (shared handles cut out) and shared refs; None if
    every item was cancelled.  ``mode``: ``"thread"``, ``"process"`` or
    ``"dask"`` (with the Dask ``client``)."""
    items = []
    for item in job.items:
        if item.started or item.future.set_running_or_notify_cancel():
            item.started = True
            items.append(item)
    job.items = items
    if not items:
        return None
    shared: dict[str, Any] = {}
    calls = []
    for item in items:
        holes: list[tuple[int | str, str]] = []
        args, kwargs = item.args, item.kwargs
        for pos, arg in enumerate(args):
            if isinstance(arg, SharedObject):
                holes.append((pos, arg.token))
                shared[arg.token] = arg
        for key, arg in kwargs.items():
            if isinstance(arg, SharedObject):
                holes.append((key, arg.token))
                shared[arg.token] = arg
        if holes:
            args = tuple(None if isinstance(a, SharedObject) else a for a in args)
            kwargs = {k: (None if isinstance(v, SharedObject) else v) for k, v in kwargs.items()}
        calls.append((args, kwargs, holes))
    for token, handle in shared.items():
        if mode == "process":
            shared[token] = handle._file()
        elif mode == "dask":
            shared[token] = handle._scattered(client)
        else:
            shared[token] = handle.obj
    return calls, shared


def fail(stats: _TaskStats, item: _Item, name: str, exc: BaseException, crashed: bool = False) -> None:
    """Settle ``item`` with ``exc`` (a failure; ``crashed``: its worker died)."""
    stats.record(name, False, None, crashed=crashed)
    if not item.future.done():
        item.future.set_exception(exc)


def deliver(stats: _TaskStats, job: _Job, fut: cf.Future, mode: str) -> None:
    """Outcomes of a finished chunk to the items' futures and the stats."""
    if fut.cancelled() and mode == "thread":  # never started: its items are still pending
        for item in job.items:
            if not item.future.cancel():
                fail(stats, item, job.name, cf.CancelledError("the thread pool cancelled the task"))
        return
    exc = (cf.CancelledError(f"the {mode} backend cancelled the task") if fut.cancelled()
           else fut.exception())
    if exc is not None:                       # transport failure: the whole chunk
        for item in job.items:
            fail(stats, item, job.name, exc)
        return
    for item, (ok, value, seconds, tb) in zip(job.items, fut.result(), strict=True):
        if mode == "process":
            try:
                value = pickle.loads(value)
            except Exception as err:  # noqa: BLE001 - the item's own failure
                value, ok = err, False
            if not ok and tb is not None and isinstance(value, BaseException):
                value.__cause__ = RemoteTraceback(f'\n"""\n{tb}"""')
        if item.future.done():                # settled already (a crash re-ran it)
            continue
        stats.record(job.name, ok, seconds)
        if ok:
            item.future.set_result(value)
        else:
            item.future.set_exception(value)
