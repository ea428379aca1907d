"""CPU work: thread and process pools that survive dying workers, task
statistics, shared inputs, and a Dask backend for work that outgrows one machine.

>>> with CPUManager() as cpu:
...     cpu.submit_task(pow, 2, 10).result(timeout=10)
...     cpu.map_tasks(abs, [-1, 2, -3], chunksize=2)
1024
[1, 2, 3]

Semantics (details and costs in ``docs/cpu.md``):

- Process workers start with ``forkserver`` (POSIX) or ``spawn``: functions
  sent to them must be importable by name.
- Pools are created on first use: threads ``min(32, n_cpus + 4)`` (the
  ``ThreadPoolExecutor`` default), processes ``n_cpus`` (the CPUs this
  process may run on), or the size given to ``init_thread_pool`` /
  ``init_process_pool``.  Initializing again with another size replaces the
  pool; work already accepted still runs (queued thread tasks on the old
  pool, process tasks from the manager's own queue on the new one).
- Process tasks wait in the manager's queue; the executor only ever holds
  ``2 * max_workers`` chunks.  When a worker dies (signal, ``os._exit``,
  out of memory, segfault) ``ProcessPoolExecutor`` fails everything it holds;
  the manager finds out which task was running on the dead process (workers
  record ``(pid, position)`` in shared memory before every item), fails that
  task with :class:`WorkerCrashedError` or retries it, resubmits every other
  task (those that never started and those that were running on the
  survivors), and rebuilds the pool.  Tasks can therefore run more than once
  when a crash interrupts them: make process tasks idempotent.
- Retries apply to worker deaths only (an exception raised by ``fn`` is a
  result, never retried): ``CPUManager(max_retries=...)`` / ``set_retries``
  for ``submit_task``, ``retries=`` for ``map_tasks``.
- Exceptions raised by ``fn`` reach the future unchanged (for processes: the
  unpickled exception, with the remote traceback as ``__cause__``, as
  ``ProcessPoolExecutor`` does) and count as failures in :meth:`task_stats`.
  Durations are measured around ``fn`` where it runs and travel back with
  the result.
- ``map_tasks(..., shared=obj)`` calls ``fn(item, obj)``; :meth:`share` gives a
  handle usable as any top-level argument.  Threads get the object itself;
  processes get it through a pickle file written once and loaded once per
  worker process; Dask gets ``Client.scatter(obj, broadcast=True)`` once.
"""
from __future__ import annotations

import collections
import concurrent.futures as cf
import functools
import itertools
import multiprocessing
import multiprocessing.connection
import multiprocessing.sharedctypes
import os
import pickle
import pkgutil
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import psutil

from .._singleton import Singleton

__all__ = ["CPUManager", "RemoteTraceback", "SharedObject", "WorkerCrashedError"]

_MODULE = __name__
_JOIN_TIMEOUT = 5.0          # seconds to wait for the workers of a broken pool to exit
_MAX_BLIND_BREAKS = 3        # breaks in a row with no task running before queued tasks fail


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


# -- manager side -----------------------------------------------------------------------------
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
        self.gen: _Generation | None = None
        self.fut: cf.Future | None = None


class _RecordingContext:
    """A multiprocessing context that remembers the processes it creates
    (to read the exit code of a worker that died)."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        self.processes: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def Process(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - context API
        proc = self._ctx.Process(*args, **kwargs)
        self.processes.append(proc)
        return proc


class _Generation:
    """One ``ProcessPoolExecutor`` and the chunks it holds."""

    def __init__(self, max_workers: int, start_method: str | None) -> None:
        self.max_workers = max_workers
        self.limit = 2 * max_workers
        self.tracker = multiprocessing.sharedctypes.RawArray("q", 2 * self.limit)
        self.free = list(range(self.limit - 1, -1, -1))
        method = start_method or _default_start_method()
        if method == "forkserver":
            _preload_forkserver()
        self.ctx = _RecordingContext(multiprocessing.get_context(method))
        self.executor = cf.ProcessPoolExecutor(  # type: ignore[call-overload]
            max_workers, mp_context=self.ctx, initializer=_INIT_WORKER, initargs=(self.tracker,))
        self.inflight: dict[int, _Job] = {}       # id(job) -> job
        #: the executor's management thread (it reaps the workers), known
        #: after the first submission
        self.manager_thread: threading.Thread | None = None
        self.broken = False
        self.retired = False


def _default_start_method() -> str:
    """``forkserver`` where it exists (POSIX), else ``spawn``.

    Not ``fork``: the manager runs threads (its dispatcher, the executors'
    threads), and a forked worker inherits their locks in whatever state
    they were; a worker whose garbage collection then runs an executor's
    weakref callback waits forever on such a lock.  Python 3.14 makes the
    same choice for ``ProcessPoolExecutor``.
    """
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


def _preload_forkserver() -> None:
    """Have the fork server import this module once (if it has not started),
    so that its workers start without importing the package again."""
    from multiprocessing import forkserver
    server = getattr(forkserver, "_forkserver", None)
    preload = getattr(server, "_preload_modules", None)
    if server is None or not isinstance(preload, list) or _MODULE in preload:
        return
    if getattr(server, "_forkserver_pid", None) is None:     # not started yet
        forkserver.set_forkserver_preload([*preload, _MODULE])


def _check_workers(value: Any, name: str = "max_workers") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int > 0 or None; got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be an int > 0 or None; got {value!r}")
    return value


def _check_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= {minimum}; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return value


def _check_fn(fn: Any) -> None:
    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}")


def _task_name(fn: Callable[..., Any], task_name: Any) -> str:
    if task_name is not None:
        if not isinstance(task_name, str):
            raise TypeError(f"task_name must be a str or None; got {type(task_name).__name__}")
        return task_name
    inner = fn
    while isinstance(inner, functools.partial):
        inner = inner.func
    name = getattr(inner, "__qualname__", None) or getattr(inner, "__name__", None)
    return name if isinstance(name, str) else type(inner).__qualname__


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _dask_killed_worker() -> type[BaseException] | None:
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:
        return None
    return KilledWorker


class _Stats:
    __slots__ = ("count", "failures", "crashes", "retries", "timed", "total", "min", "max")

    def __init__(self) -> None:
        self.count = self.failures = self.crashes = self.retries = self.timed = 0
        self.total = 0.0
        self.min = float("inf")
        self.max = 0.0

    def as_dict(self) -> dict[str, float]:
        timed = self.timed
        return {"count": self.count, "failures": self.failures, "crashes": self.crashes,
                "retries": self.retries, "total": self.total,
                "min": self.min if timed else 0.0, "max": self.max,
                "mean": self.total / timed if timed else 0.0}


class CPUManager(Singleton):
    """Thread and process pools, task statistics and an optional Dask backend.

    ``CPUManager.get_instance()`` is the process-wide manager; ``CPUManager()``
    builds an independent one.  ``max_retries`` (default 0) is how many times
    a ``submit_task`` task is run again after its worker process died;
    ``start_method`` picks the process start method (None: ``forkserver``
    where it exists, else ``spawn``; ``fork`` is allowed but unsafe in a
    process with threads, see ``docs/cpu.md``).
    """

    def __init__(self, max_retries: int = 0, start_method: str | None = None) -> None:
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self.max_retries = _check_count(max_retries, "max_retries", 0)
        self._start_method = self._check_start_method(start_method)
        self._stats: dict[str, _Stats] = {}
        self._threads: cf.ThreadPoolExecutor | None = None
        self._thread_workers: int | None = None
        self._proc_workers: int | None = None
        self._gen: _Generation | None = None
        self._gens: list[_Generation] = []       # generations with chunks in flight
        self._pending: collections.deque[_Job] = collections.deque()
        self._events: collections.deque[tuple[_Generation, _Job, cf.Future]] = collections.deque()
        self._dispatcher: threading.Thread | None = None
        self._isolating = False
        self._closing = False
        self._blind_breaks = 0
        self._dask: dict[str, Any] | None = None
        self._dask_futures: set[cf.Future] = set()
        self._process = psutil.Process()
        self._process.cpu_percent(None)          # prime: the next reading covers the interval
        psutil.cpu_percent(None)

    @staticmethod
    def _check_start_method(start_method: Any) -> str | None:
        if start_method is None:
            return None
        methods = multiprocessing.get_all_start_methods()
        if start_method not in methods:
            raise ValueError(f"start_method must be one of {methods} or None; got {start_method!r}")
        return str(start_method)

    # -- configuration ---------------------------------------------------------------------
    def set_retries(self, max_retries: int) -> None:
        """Runs of a ``submit_task`` task after its worker died (default 0)."""
        self.max_retries = _check_count(max_retries, "max_retries", 0)

    def init_thread_pool(self, max_workers: int | None = None) -> None:
        """Use a thread pool of ``max_workers`` (None: ``min(32, n_cpus + 4)``).

        A pool of another size replaces the current one; tasks it already
        accepted still run on it.
        """
        n = _check_workers(max_workers) or min(32, _cpu_count() + 4)
        with self._lock:
            old = self._threads
            if old is not None and self._thread_workers == n:
                return
            self._threads = cf.ThreadPoolExecutor(n, thread_name_prefix="admf-perf-cpu")
            self._thread_workers = n
        if old is not None:
            old.shutdown(wait=False)             # queued work still runs

    def init_process_pool(self, max_workers: int | None = None, *,
                          start_method: str | None = None) -> None:
        """Use a process pool of ``max_workers`` (None: the number of usable CPUs).

        A pool of another size (or start method) replaces the current one:
        chunks it holds finish there, queued tasks go to the new pool.
        """
        n = _check_workers(max_workers) or _cpu_count()
        with self._lock:
            if start_method is not None:
                self._start_method = self._check_start_method(start_method)
            gen = self._gen
            if (gen is not None and not gen.broken and gen.max_workers == n
                    and start_method is None):
                return
            self._proc_workers = n
            self._retire(gen)
            self._gen = None
            self._ensure_dispatcher()
            self._cond.notify_all()

    def _retire(self, gen: _Generation | None) -> None:
        if gen is None or gen.retired:
            return
        gen.retired = True
        if not gen.inflight and gen in self._gens:
            self._gens.remove(gen)
        gen.executor.shutdown(wait=False)        # its chunks still finish

    def _thread_pool(self) -> cf.ThreadPoolExecutor:
        with self._lock:
            if self._threads is None:
                self.init_thread_pool(self._thread_workers)
            assert self._threads is not None
            return self._threads

    # -- submission ------------------------------------------------------------------------
    def submit_task(self, fn: Callable[..., Any], *args: Any, use_process: bool = False,
                    task_name: str | None = None, **kwargs: Any) -> cf.Future:
        """Run ``fn(*args, **kwargs)`` on a pool (or the Dask cluster); return its future.

        Keyword arguments other than ``use_process`` and ``task_name`` go to
        ``fn``.  A :class:`SharedObject` among the top-level arguments is
        replaced by its object.  Worker deaths are retried ``max_retries`` times.
        """
        _check_fn(fn)
        name = _task_name(fn, task_name)
        future: cf.Future = cf.Future()
        job = _Job(fn, name, [_Item(args, kwargs, future)], self.max_retries)
        self._submit_jobs([job], bool(use_process))
        return future

    def map_tasks(self, fn: Callable[..., Any], items: Iterable[Any], use_process: bool = False,
                  task_name: str | None = None, chunksize: int = 1, *, retries: int | None = None,
                  shared: Any = None, timeout: float | None = None,
                  return_exceptions: bool = False) -> list[Any]:
        """``[fn(item) for item in items]`` (``fn(item, obj)`` with ``shared=obj``) in parallel.

        Results are in input order.  ``chunksize`` items run in one worker
        call.  ``retries`` (default: ``max_retries``) re-runs an item whose
        worker died.  When an item failed, the first failure in input order
        is raised after every item finished, unless ``return_exceptions``
        puts the exceptions in the list.  ``timeout`` (seconds) bounds the
        whole wait (``TimeoutError``; the tasks keep running).
        """
        _check_fn(fn)
        name = _task_name(fn, task_name)
        chunksize = _check_count(chunksize, "chunksize", 1)
        retries = self.max_retries if retries is None else _check_count(retries, "retries", 0)
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise TypeError(f"items must be an iterable of task inputs; got {type(items).__name__}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not timeout >= 0):
            raise ValueError(f"timeout must be seconds >= 0 or None; got {timeout!r}")
        temporary = shared is not None and not isinstance(shared, SharedObject)
        handle = SharedObject(shared) if temporary else shared
        extra = () if handle is None else (handle,)
        futures: list[cf.Future] = []
        jobs: list[_Job] = []
        chunk: list[_Item] = []
        for item in items:
            fut: cf.Future = cf.Future()
            futures.append(fut)
            chunk.append(_Item((item, *extra), {}, fut))
            if len(chunk) == chunksize:
                jobs.append(_Job(fn, name, chunk, retries))
                chunk = []
        if chunk:
            jobs.append(_Job(fn, name, chunk, retries))
        if jobs:
            self._submit_jobs(jobs, bool(use_process))
        _, not_done = cf.wait(futures, timeout=timeout)
        if not_done:
            # the tasks keep running and keep the shared handle alive
            raise TimeoutError(f"map_tasks: {len(not_done)} of {len(futures)} tasks of "
                               f"{name!r} not finished within timeout={timeout}s")
        if temporary:
            handle.release()
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

    def share(self, obj: Any) -> SharedObject:
        """A handle to ``obj`` for many tasks: sent once per worker process
        (pool) or scattered once (Dask) instead of once per task."""
        return SharedObject(obj)

    def _submit_jobs(self, jobs: list[_Job], use_process: bool) -> None:
        with self._lock:
            dask = self._dask
        if dask is not None:
            for job in jobs:
                self._run_dask(dask, job)
        elif use_process:
            with self._lock:
                self._closing = False
                self._pending.extend(jobs)
                self._ensure_dispatcher()
                self._cond.notify_all()
        else:
            pool = self._thread_pool()
            for job in jobs:
                self._run_thread(pool, job)

    @staticmethod
    def _prepare(job: _Job, mode: str, client: Any = None
                 ) -> tuple[list[tuple[Any, ...]], dict[str, Any]] | None:
        """The chunk's calls (shared handles cut out) and shared refs; None if
        every item was cancelled."""
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

    # -- threads -----------------------------------------------------------------------------
    def _run_thread(self, pool: cf.ThreadPoolExecutor, job: _Job) -> None:
        prepared = self._prepare(job, "thread")
        if prepared is None:
            return
        calls, shared = prepared
        try:
            fut = pool.submit(_run_chunk, job.fn, calls, -1, "thread", shared)
        except RuntimeError:                      # replaced concurrently: use the new pool
            fut = self._thread_pool().submit(_run_chunk, job.fn, calls, -1, "thread", shared)
        fut.add_done_callback(lambda f: self._deliver(job, f, "thread"))

    # -- outcomes ------------------------------------------------------------------------------
    def _record(self, name: str, ok: bool, seconds: float | None, crashed: bool = False,
                retried: bool = False) -> None:
        with self._lock:
            st = self._stats.get(name)
            if st is None:
                st = self._stats[name] = _Stats()
            if retried:
                st.retries += 1
                return
            st.count += 1
            if not ok:
                st.failures += 1
            if crashed:
                st.crashes += 1
            if seconds is not None:
                st.timed += 1
                st.total += seconds
                st.min = min(st.min, seconds)
                st.max = max(st.max, seconds)

    def _fail(self, item: _Item, name: str, exc: BaseException, crashed: bool = False) -> None:
        self._record(name, False, None, crashed=crashed)
        if not item.future.done():
            item.future.set_exception(exc)

    def _deliver(self, job: _Job, fut: cf.Future, mode: str) -> None:
        """Outcomes of a finished chunk to the items' futures and the stats."""
        exc = (cf.CancelledError(f"the {mode} backend cancelled the task") if fut.cancelled()
               else fut.exception())
        if exc is not None:                       # transport failure: the whole chunk
            killed = _dask_killed_worker() if mode == "dask" else None
            if killed is not None and isinstance(exc, killed):
                crash = WorkerCrashedError(job.name, None, 1, detail=f"Dask: {exc}")
                crash.__cause__ = exc
                for item in job.items:
                    self._fail(item, job.name, crash, crashed=True)
                return
            for item in job.items:
                self._fail(item, job.name, exc)
            return
        for item, (ok, value, seconds, tb) in zip(job.items, fut.result()):
            if mode == "process":
                try:
                    value = pickle.loads(value)
                except Exception as err:  # noqa: BLE001 - the item's own failure
                    value, ok = err, False
                if not ok and tb is not None and isinstance(value, BaseException):
                    value.__cause__ = RemoteTraceback(f'\n"""\n{tb}"""')
            if item.future.done():                # settled already (a crash re-ran it)
                continue
            self._record(job.name, ok, seconds)
            if ok:
                item.future.set_result(value)
            else:
                item.future.set_exception(value)

    # -- processes: dispatcher ----------------------------------------------------------------------
    def _ensure_dispatcher(self) -> None:
        """Start the dispatcher thread if work waits (caller holds the lock)."""
        if self._dispatcher is None and (self._pending or self._events or self._gens):
            self._dispatcher = threading.Thread(target=self._dispatch_loop,
                                                name="admf-perf-cpu-dispatch", daemon=False)
            self._dispatcher.start()

    def _on_chunk_done(self, gen: _Generation, job: _Job, fut: cf.Future) -> None:
        # runs in the executor's thread: only hand over
        with self._cond:
            self._events.append((gen, job, fut))
            self._cond.notify_all()

    def _dispatch_loop(self) -> None:
        """Move queued chunks to the executor and finished ones to their futures.

        Exits when nothing is queued or in flight (a new submission starts it
        again), so an idle manager holds no thread.
        """
        while True:
            event: tuple[_Generation, _Job, cf.Future] | None = None
            job: _Job | None = None
            idle: _Generation | None = None
            with self._cond:
                while True:
                    if self._events:
                        event = self._events.popleft()
                        break
                    job = self._next_job()
                    if job is not None:
                        break
                    if not self._pending and not any(g.inflight for g in self._gens):
                        self._dispatcher = None
                        idle = self._close_idle_pool()
                        break
                    self._cond.wait()
            if event is None and job is None:
                if idle is not None:
                    idle.executor.shutdown(wait=True)
                return
            try:
                if event is not None:
                    self._handle_event(*event)
                elif job is not None:
                    self._send(job)
            except BaseException as exc:  # noqa: BLE001 - keep the dispatcher alive
                failed = [job] if job is not None else []
                if event is not None:
                    with self._lock:         # settle every chunk of that pool: none hangs
                        failed = [event[1], *event[0].inflight.values()]
                        event[0].inflight.clear()
                for j in failed:
                    for item in j.items:
                        self._fail(item, j.name, exc)

    def _next_job(self) -> _Job | None:
        """The next queued chunk if the current pool has room (lock held)."""
        if not self._pending:
            return None
        gen = self._gen
        busy = len(gen.inflight) if gen is not None else 0
        if self._isolating:
            if busy:
                return None
            self._isolating = False
        limit = gen.limit if gen is not None else 2 * (self._proc_workers or _cpu_count())
        if busy >= limit:
            return None
        job = self._pending[0]
        if job.isolate:
            if busy:
                return None
            self._isolating = True
        return self._pending.popleft()

    def _current_generation(self) -> _Generation:
        with self._lock:
            gen = self._gen
            if gen is None or gen.broken or gen.retired:
                gen = _Generation(self._proc_workers or _cpu_count(), self._start_method)
                self._proc_workers = gen.max_workers
                self._gen = gen
                self._gens.append(gen)
            return gen

    def _send(self, job: _Job) -> None:
        prepared = self._prepare(job, "process")
        if prepared is None:
            with self._lock:
                if job.isolate:
                    self._isolating = False
            return
        calls, shared = prepared
        gen = self._current_generation()
        with self._lock:
            slot = gen.free.pop()
            gen.tracker[2 * slot] = 0
            gen.tracker[2 * slot + 1] = 0
            job.slot, job.gen = slot, gen
            gen.inflight[id(job)] = job
        try:
            fut = gen.executor.submit(_RUN_CHUNK, job.fn, calls, slot, "process", shared)
        except BaseException as exc:
            with self._lock:
                gen.inflight.pop(id(job), None)
                gen.free.append(slot)
                # A pool that broke while idle (a worker killed with nothing in
                # flight) or that another thread just retired: the chunk never
                # started, so it waits for the next pool.
                requeue = isinstance(exc, cf.process.BrokenProcessPool) or (
                    isinstance(exc, RuntimeError) and gen.retired)
            if not requeue:
                raise
            if isinstance(exc, cf.process.BrokenProcessPool):
                self._recover(gen)
            with self._lock:
                self._pending.appendleft(job)
                self._forget_if_done(gen)
            return
        job.fut = fut
        if gen.manager_thread is None:
            gen.manager_thread = getattr(gen.executor, "_executor_manager_thread", None)
        fut.add_done_callback(functools.partial(self._on_chunk_done, gen, job))

    def _handle_event(self, gen: _Generation, job: _Job, fut: cf.Future) -> None:
        with self._lock:
            if gen.inflight.get(id(job)) is not job:
                return                            # already settled by a crash
        if isinstance(fut.exception(), cf.process.BrokenProcessPool):
            self._recover(gen)
            return
        with self._lock:
            gen.inflight.pop(id(job))
            gen.free.append(job.slot)
            self._forget_if_done(gen)
        self._deliver(job, fut, "process")

    def _forget_if_done(self, gen: _Generation) -> None:
        if gen.retired and not gen.inflight and gen in self._gens:
            self._gens.remove(gen)

    @staticmethod
    def _exit_codes(gen: _Generation) -> dict[int, int | None]:
        """Exit code per worker pid of a broken pool, once all have exited.

        Only the executor's own thread reads them (it terminates the
        survivors and joins every worker; a second reader races it for the
        exit status: ECHILD with fork, a lost status, read as 255, with
        forkserver).  So wait for that thread; a worker still alive after
        the timeout (it ignores SIGTERM) is killed.
        """
        procs = gen.ctx.processes
        thread = gen.manager_thread
        if thread is not None:
            thread.join(_JOIN_TIMEOUT)
            if thread.is_alive():
                for proc in procs:
                    if not multiprocessing.connection.wait([proc.sentinel], 0):
                        proc.kill()
                thread.join(_JOIN_TIMEOUT)
        else:                                    # not known: join the workers here
            for proc in procs:
                proc.join(_JOIN_TIMEOUT)
        deadline = time.monotonic() + _JOIN_TIMEOUT
        while any(p.exitcode is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.001)
        return {p.pid: p.exitcode for p in procs}

    def _recover(self, gen: _Generation) -> None:
        """A worker of ``gen`` died: settle every chunk it held, rebuild the pool."""
        with self._lock:
            gen.broken = True
            if self._gen is gen:
                self._gen = None                  # the next chunk builds a new pool
            self._retire(gen)
        exitcodes = self._exit_codes(gen)
        # A worker that died by itself has an exit code other than the SIGTERM
        # the executor sends the survivors.
        died = {pid for pid, code in exitcodes.items()
                if code is not None and code != -signal.SIGTERM}
        with self._lock:
            jobs = list(gen.inflight.values())
            gen.inflight.clear()
            self._forget_if_done(gen)
        requeue: list[_Job] = []
        delivered: list[_Job] = []
        attributed = False
        for job in jobs:
            pid = gen.tracker[2 * job.slot]
            pos = gen.tracker[2 * job.slot + 1]
            fut = job.fut
            if fut is not None and fut.done() and fut.exception() is None:
                delivered.append(job)             # its outcome arrived before the break
                continue
            if pos <= 0 or pid == 0:
                # finished (outcome lost in the break) or never started (pos 0:
                # the worker recorded its pid, not yet the first item)
                requeue.append(_Job(job.fn, job.name, job.items, job.retries))
                continue
            attributed = True
            running = pos - 1
            before, item, after = job.items[:running], job.items[running], job.items[running + 1:]
            if before:
                requeue.append(_Job(job.fn, job.name, before, job.retries))
            if job.isolate or pid in died:
                item.crashes += 1
                code = exitcodes.get(pid)
                if item.crashes > job.retries:
                    self._fail(item, job.name,
                               WorkerCrashedError(job.name, code, item.crashes), crashed=True)
                else:
                    self._record(job.name, False, None, retried=True)
                    requeue.append(_Job(job.fn, job.name, [item], job.retries))
            elif died:
                # collateral: its worker was terminated because another died
                requeue.append(_Job(job.fn, job.name, [item], job.retries))
            else:
                # no worker died by itself (one may have got SIGTERM): run alone to find out
                requeue.append(_Job(job.fn, job.name, [item], job.retries, isolate=True))
            if after:
                requeue.append(_Job(job.fn, job.name, after, job.retries))
        for job in delivered:
            assert job.fut is not None
            self._deliver(job, job.fut, "process")
        with self._lock:
            self._blind_breaks = 0 if attributed else self._blind_breaks + 1
            blind = self._blind_breaks
        if blind >= _MAX_BLIND_BREAKS:
            # the pool keeps breaking with no task running: workers die at start-up
            self._blind_breaks = 0
            codes = sorted({c for pid, c in exitcodes.items() if pid in died and c is not None}
                           or {c for c in exitcodes.values() if c is not None})
            for job in requeue:
                for item in job.items:
                    self._fail(item, job.name, WorkerCrashedError(
                        job.name, codes[0] if len(codes) == 1 else None, 0,
                        detail=f"the process pool broke {blind} times in a row before the "
                               f"task started; worker exit codes {codes}"), crashed=True)
            return
        with self._cond:
            # isolated suspects first, then everything else in its original order
            requeue.sort(key=lambda j: not j.isolate)
            self._pending.extendleft(reversed(requeue))
            self._cond.notify_all()

    # -- Dask ------------------------------------------------------------------------------------
    def use_backend(self, backend: str, address: str | None = None, **cluster_kwargs: Any) -> None:
        """Run ``submit_task``/``map_tasks`` on ``"dask"`` or back on ``"local"`` pools.

        ``address=None`` starts a ``distributed.LocalCluster(**cluster_kwargs)``
        that the manager closes when it leaves the backend; with an address
        (``"tcp://host:8786"``) it connects a ``Client(address, **cluster_kwargs)``
        and leaves that cluster running.  Needs ``pip install "admf-perf[dask]"``.
        """
        if backend not in ("local", "dask"):
            raise ValueError(f"backend must be 'local' or 'dask'; got {backend!r}")
        if address is not None and not isinstance(address, str):
            raise TypeError(f"address must be a str such as 'tcp://host:8786' or None; "
                            f"got {type(address).__name__}")
        if backend == "local":
            if address is not None or cluster_kwargs:
                raise ValueError("backend 'local' takes no address or cluster_kwargs")
            self._close_dask()
            return
        try:
            import distributed
        except ImportError as exc:
            raise ImportError('the Dask backend needs the optional extra: pip install '
                              '"admf-perf[dask]" (dask[distributed])') from exc
        self._close_dask()
        cluster = None
        if address is None:
            cluster = distributed.LocalCluster(**cluster_kwargs)
            try:
                client = distributed.Client(cluster, set_as_default=False)
            except BaseException:
                cluster.close()
                raise
        else:
            client = distributed.Client(address, set_as_default=False, **cluster_kwargs)
        with self._lock:
            self._dask = {"client": client, "cluster": cluster,
                          "executor": client.get_executor(pure=False)}

    @property
    def backend(self) -> str:
        """``"dask"`` or ``"local"``."""
        return "dask" if self._dask is not None else "local"

    @property
    def dask_client(self) -> Any:
        """The ``distributed.Client`` of the Dask backend, or None."""
        dask = self._dask
        return None if dask is None else dask["client"]

    def _run_dask(self, dask: dict[str, Any], job: _Job) -> None:
        prepared = self._prepare(job, "dask", dask["client"])
        if prepared is None:
            return
        calls, shared = prepared
        fut = dask["executor"].submit(_RUN_CHUNK, job.fn, calls, -1, "dask", shared)
        with self._lock:
            self._dask_futures.add(fut)

        def done(f: cf.Future) -> None:
            with self._lock:
                self._dask_futures.discard(f)
            self._deliver(job, f, "dask")
        fut.add_done_callback(done)

    def _close_dask(self) -> None:
        with self._lock:
            dask, self._dask = self._dask, None
            outstanding = list(self._dask_futures)
        if dask is None:
            return
        cf.wait(outstanding)                      # accepted work finishes first
        try:
            dask["client"].close()
        finally:
            if dask["cluster"] is not None:
                dask["cluster"].close()

    # -- readings ------------------------------------------------------------------------------------
    def get_cpu_usage(self, interval: float | None = None) -> dict[str, Any]:
        """CPU use in percent: ``system_percent`` (all CPUs), ``per_cpu_percent``,
        ``process_percent`` (this process; 100 = one CPU busy), ``cpu_count``,
        ``process_threads``; since the previous call, or over ``interval`` seconds."""
        if interval is not None and (isinstance(interval, bool)
                                     or not isinstance(interval, (int, float)) or not interval > 0):
            raise ValueError(f"interval must be seconds > 0 or None; got {interval!r}")
        if interval is not None:
            self._process.cpu_percent(None)
            psutil.cpu_percent(None, percpu=True)
            time.sleep(interval)
        per_cpu = psutil.cpu_percent(None, percpu=True)
        return {"system_percent": sum(per_cpu) / len(per_cpu) if per_cpu else 0.0,
                "per_cpu_percent": per_cpu,
                "process_percent": self._process.cpu_percent(None),
                "cpu_count": psutil.cpu_count() or 1,
                "process_threads": self._process.num_threads()}

    def task_stats(self) -> dict[str, dict[str, float]]:
        """Per task name: ``count`` (finished tasks), ``failures`` (raised or
        crashed), ``crashes`` (worker died), ``retries``, and ``total``,
        ``min``, ``max``, ``mean`` seconds of the runs that reported a duration."""
        with self._lock:
            return {name: st.as_dict() for name, st in self._stats.items()}

    def reset_stats(self) -> None:
        """Forget the task statistics."""
        with self._lock:
            self._stats.clear()

    def pool_sizes(self) -> dict[str, int | None]:
        """Configured sizes: ``threads`` and ``processes`` (None: not chosen yet)."""
        with self._lock:
            return {"threads": self._thread_workers, "processes": self._proc_workers}

    # -- lifecycle ------------------------------------------------------------------------------------
    def shutdown(self, wait: bool = True, *, cancel_pending: bool = False) -> None:
        """Close the pools (and leave the Dask backend, closing a cluster it started).

        Accepted tasks still run unless ``cancel_pending`` cancels those that
        have not started; ``wait`` blocks until they have finished, otherwise
        the process pool closes when its last task is done.  The manager
        stays usable: a later submission creates new pools.
        """
        with self._lock:
            threads, self._threads = self._threads, None
            if cancel_pending:
                for job in self._pending:
                    for item in job.items:
                        if not item.started:
                            item.future.cancel()
            self._closing = True
            dispatcher = self._dispatcher
            self._cond.notify_all()
        if self._dask is not None:
            self._close_dask()
        if threads is not None:
            threads.shutdown(wait=wait, cancel_futures=cancel_pending)
        if dispatcher is not None and dispatcher is not threading.current_thread():
            if wait:
                dispatcher.join()
            return                                 # the dispatcher closes the pool when idle
        with self._lock:
            gen = self._close_idle_pool()
        if gen is not None and wait:
            gen.executor.shutdown(wait=True)

    def _close_idle_pool(self) -> _Generation | None:
        """Retire the process pool after shutdown once it is idle (lock held)."""
        gen = self._gen
        if not self._closing or gen is None or gen.inflight or self._pending:
            return None
        self._gen = None
        self._closing = False
        self._retire(gen)
        return gen

    def __enter__(self) -> CPUManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)
