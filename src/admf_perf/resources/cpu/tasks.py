"""What runs inside the worker processes, and what travels to and from them.

This is the module the pool's workers import (the fork server preloads it):
the chunk runner :func:`_run_chunk`, the worker initializer, the per-worker
cache of shared objects, the errors a task can end with, and the
:class:`SharedObject` handle.  It imports no other module of the package
(importing it by name still runs the packages' ``__init__``).
"""
from __future__ import annotations

import collections
import itertools
import os
import pickle
import pkgutil
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["RemoteTraceback", "SharedObject", "WorkerCrashedError"]

#: The name workers import this module by (the fork server preloads it).
_MODULE = __name__


# -- errors -----------------------------------------------------------------------------
def _describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "exit status unknown"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"killed by {name} ({-exitcode})"
    return f"exit code {exitcode}"


class WorkerCrashedError(RuntimeError):
    """The worker process running a task died before the task finished.

    ``task_name``, ``exitcode`` (negative: the signal number; ``None``:
    unknown) and ``attempts`` (runs that ended in a crash) are attributes.
    """

    def __init__(self, task_name: str, exitcode: int | None = None, attempts: int = 1,
                 detail: str | None = None) -> None:
        self.task_name = task_name
        self.exitcode = exitcode
        self.attempts = attempts
        self.detail = detail
        runs = (f"{attempts} attempt{'s' if attempts != 1 else ''}" if attempts
                else "the task never started")
        msg = (f"task {task_name!r} failed: the worker process running it died "
               f"({_describe_exit(exitcode) if detail is None else detail}); {runs}")
        super().__init__(msg)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.task_name, self.exitcode, self.attempts, self.detail))


class RemoteTraceback(Exception):
    """``__cause__`` of an exception raised in a worker process: its traceback."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


# -- pickling by name ---------------------------------------------------------------------
class _Ref:
    """A module-level function of this module, pickled by name.

    Pickling a function checks ``sys.modules[mod].name is fn``; a second copy
    of the package (the test suite imports one) fails that check.  ``_Ref``
    reduces to ``pkgutil.resolve_name``, so the worker uses its own import.
    """

    __slots__ = ("_fn", "_name")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn: Callable[..., Any] | None = None
        self._name = f"{_MODULE}:{fn.__name__}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # resolved by name also when called directly (a forked worker calls the
        # initializer unpickled): every entry point then uses the same module
        fn = self._fn
        if fn is None:
            fn = self._fn = pkgutil.resolve_name(self._name)
        return fn(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (pkgutil.resolve_name, (self._name,))


# -- worker side --------------------------------------------------------------------------
_TRACKER: Any = None                     # RawArray of int64: [pid, position] per slot
_SHARED_CACHE: collections.OrderedDict[str, Any] = collections.OrderedDict()
_SHARED_CACHE_SIZE = 4                   # shared objects kept per worker process


def _init_worker(tracker: Any) -> None:
    global _TRACKER
    _TRACKER = tracker
    _SHARED_CACHE.clear()


def _load_shared(token: str, path: str) -> Any:
    """The shared object ``token`` in a worker process: loaded once, then cached."""
    try:
        value = _SHARED_CACHE[token]
        _SHARED_CACHE.move_to_end(token)
        return value
    except KeyError:
        pass
    with open(path, "rb") as fh:
        value = pickle.load(fh)
    _SHARED_CACHE[token] = value
    while len(_SHARED_CACHE) > _SHARED_CACHE_SIZE:
        _SHARED_CACHE.popitem(last=False)
    return value


def _run_chunk(fn: Callable[..., Any], calls: list[tuple[Any, ...]], slot: int,
               mode: str, shared: dict[str, Any]) -> list[tuple[bool, Any, float, str | None]]:
    """Run ``fn`` on every call of a chunk; one outcome per call.

    A call is ``(args, kwargs, holes)``: ``holes`` lists ``(position or
    keyword, token)`` of shared objects to put back.  An outcome is
    ``(ok, value or exception, seconds, traceback text)``; in ``"process"``
    mode value/exception travel as pickle bytes, so one unpicklable result
    fails its own item only.
    """
    tracker = _TRACKER if mode == "process" and slot >= 0 else None
    if tracker is not None:
        tracker[2 * slot] = os.getpid()
    resolved: dict[str, Any] = {}
    out: list[tuple[bool, Any, float, str | None]] = []
    for pos, (args, kwargs, holes) in enumerate(calls):
        if tracker is not None:
            tracker[2 * slot + 1] = pos + 1
        tb: str | None = None
        start = time.perf_counter()
        try:
            if holes:
                args = list(args)
                kwargs = dict(kwargs)
                for where, token in holes:
                    if token not in resolved:
                        ref = shared[token]
                        resolved[token] = _load_shared(token, ref) if mode == "process" else ref
                    if isinstance(where, int):
                        args[where] = resolved[token]
                    else:
                        kwargs[where] = resolved[token]
            value = fn(*args, **kwargs)
            ok = True
        except BaseException as exc:  # noqa: BLE001 - every failure is the task's result
            value, ok = exc, False
            if mode == "process":
                tb = "".join(traceback.format_exception(exc))
        seconds = time.perf_counter() - start
        if mode == "process":
            try:
                value = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # noqa: BLE001
                what = "result" if ok else f"exception {type(value).__name__}: {value}"
                err = pickle.PicklingError(f"cannot send the {what} back from the worker "
                                           f"process: {type(exc).__name__}: {exc}")
                value, ok, tb = pickle.dumps(err), False, None
        out.append((ok, value, seconds, tb))
    if tracker is not None:
        tracker[2 * slot + 1] = -1          # chunk finished: its outcome is on its way
    return out


_RUN_CHUNK = _Ref(_run_chunk)
_INIT_WORKER = _Ref(_init_worker)


# -- shared objects ---------------------------------------------------------------------------
class SharedObject:
    """A handle to one large object used by many tasks (from :meth:`CPUManager.share`).

    Pass it as a top-level argument of ``submit_task`` or as ``shared=`` of
    ``map_tasks``; the task receives the object.  ``release()`` (or leaving a
    ``with`` block) deletes the process pool's copy on disk.
    """

    _tokens = itertools.count()

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.token = f"{os.getpid()}-{id(self)}-{next(self._tokens)}"
        self._lock = threading.Lock()
        self._path: str | None = None
        self._dask: dict[int, Any] = {}          # id(client) -> scattered future

    def _file(self) -> str:
        """Path of the pickle file (written once, on first process-pool use)."""
        with self._lock:
            if self._path is None:
                fd, path = tempfile.mkstemp(prefix="admf-perf-shared-", suffix=".pkl")
                try:
                    with os.fdopen(fd, "wb") as fh:
                        pickle.dump(self.obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
                except BaseException:
                    os.unlink(path)
                    raise
                self._path = path
            return self._path

    def _scattered(self, client: Any) -> Any:
        with self._lock:
            fut = self._dask.get(id(client))
            if fut is None:
                # wrapped: scatter() splits a list or dict into one future per element
                fut = client.scatter([self.obj], broadcast=True, hash=False)[0]
                self._dask[id(client)] = fut
            return fut

    def release(self) -> None:
        """Delete the on-disk copy and forget scattered copies (idempotent)."""
        with self._lock:
            path, self._path = self._path, None
            self._dask.clear()
        if path is not None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> SharedObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter teardown
            pass

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a SharedObject is resolved by the CPUManager; pass it as a top-level "
                        "argument of submit_task or as shared= of map_tasks")

    def __repr__(self) -> str:
        return f"SharedObject({type(self.obj).__name__}, token={self.token!r})"
