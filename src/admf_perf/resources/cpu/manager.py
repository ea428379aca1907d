"""``CPUManager``, the front: argument checks, the thread pool and chunking (:mod:`.jobs`); the
process pool (:mod:`.supervisor`), Dask (:mod:`.dask`) and statistics (:mod:`.stats`) behind it."""
from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import psutil

from ..._singleton import Singleton
from ..._validate import check_callable, check_choice, check_int, check_real, check_str
from .dask import _DaskBackend, require_distributed
from .jobs import _Item, _Job, chunk, collect, deliver, prepare, task_name_of
from .stats import _TaskStats
from .supervisor import _Supervisor, check_start_method, cpu_count
from .tasks import SharedObject, _run_chunk

__all__ = ["THREAD_NAME_PREFIX", "CPUManager"]

#: The names of the thread pools' threads start with this.
THREAD_NAME_PREFIX = "admf-perf-cpu"


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
        self.max_retries = check_int(max_retries, "max_retries", minimum=0)
        self._stats = _TaskStats()
        self._supervisor = _Supervisor(self._stats, check_start_method(start_method))
        self._threads: cf.ThreadPoolExecutor | None = None
        self._thread_workers: int | None = None
        self._dask: _DaskBackend | None = None
        self._on_threads = False                 # the "threads" backend: process tasks on the thread pool
        self._process = psutil.Process()
        self._process.cpu_percent(None)          # prime: the next reading covers the interval
        psutil.cpu_percent(None)

    # -- configuration ---------------------------------------------------------------------
    def set_retries(self, max_retries: int) -> None:
        """Runs of a ``submit_task`` task after its worker died (default 0)."""
        self.max_retries = check_int(max_retries, "max_retries", minimum=0)

    def init_thread_pool(self, max_workers: int | None = None) -> None:
        """Use a thread pool of ``max_workers`` (None: ``min(32, n_cpus + 4)``).

        A pool of another size replaces the current one; tasks it already
        accepted still run on it.
        """
        n = check_int(max_workers, "max_workers", minimum=1, allow_none=True) or min(32, cpu_count() + 4)
        with self._lock:
            old = self._threads
            if old is not None and self._thread_workers == n:
                return
            self._threads = cf.ThreadPoolExecutor(n, thread_name_prefix=THREAD_NAME_PREFIX)
            self._thread_workers = n
        if old is not None:
            old.shutdown(wait=False)             # queued work still runs

    def init_process_pool(self, max_workers: int | None = None, *, start_method: str | None = None) -> None:
        """Use a process pool of ``max_workers`` (None: the number of usable CPUs).

        A pool of another size (or start method) replaces the current one:
        chunks it holds finish there, queued tasks go to the new pool.
        """
        n = check_int(max_workers, "max_workers", minimum=1, allow_none=True) or cpu_count()
        self._supervisor.configure(n, check_start_method(start_method))

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
        name = task_name_of(check_callable(fn, "fn", what="callable"), task_name)
        future: cf.Future = cf.Future()
        self._submit_jobs([_Job(fn, name, [_Item(args, kwargs, future)], self.max_retries)], bool(use_process))
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
        name = task_name_of(check_callable(fn, "fn", what="callable"), task_name)
        chunksize = check_int(chunksize, "chunksize", minimum=1)
        retries = self.max_retries if retries is None else check_int(retries, "retries", minimum=0)
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise TypeError(f"items must be an iterable of task inputs, got {type(items).__name__}")
        check_real(timeout, "timeout", minimum=0, allow_none=True, what="seconds")
        temporary = shared is not None and not isinstance(shared, SharedObject)
        handle = SharedObject(shared) if temporary else shared
        futures, jobs = chunk(fn, name, items, chunksize, retries, () if handle is None else (handle,))
        if jobs:
            self._submit_jobs(jobs, bool(use_process))
        _, not_done = cf.wait(futures, timeout=timeout)
        if not_done:
            # the tasks keep running and keep the shared handle alive
            raise TimeoutError(f"map_tasks: {len(not_done)} of {len(futures)} tasks of "
                               f"{name!r} not finished within timeout={timeout}s")
        if temporary:
            handle.release()
        return collect(futures, return_exceptions)

    def share(self, obj: Any) -> SharedObject:
        """A handle to ``obj`` for many tasks: sent once per worker process
        (pool) or scattered once (Dask) instead of once per task."""
        return SharedObject(obj)

    def _submit_jobs(self, jobs: list[_Job], use_process: bool) -> None:
        with self._lock:
            dask, on_threads = self._dask, self._on_threads
        if dask is not None:
            for job in jobs:
                dask.run(job)
        elif use_process and not on_threads:
            self._supervisor.submit(jobs)
        else:
            pool = self._thread_pool()
            for job in jobs:
                self._run_thread(pool, job)

    def _run_thread(self, pool: cf.ThreadPoolExecutor, job: _Job) -> None:
        def run() -> list[tuple[bool, Any, float, str | None]]:
            # prepared when a pool thread takes it: until then its futures stay
            # pending, so cancel() (and shutdown's cancel_pending) still stops them
            prepared = prepare(job, "thread")
            if prepared is None:
                return []
            calls, shared = prepared
            return _run_chunk(job.fn, calls, -1, "thread", shared)

        try:
            fut = pool.submit(run)
        except RuntimeError:                      # replaced concurrently: use the new pool
            fut = self._thread_pool().submit(run)
        fut.add_done_callback(lambda f: deliver(self._stats, job, f, "thread"))

    # -- backends: local pools, threads only, Dask -------------------------------------------------
    def use_backend(self, backend: str, address: str | None = None, **cluster_kwargs: Any) -> None:
        """Run ``submit_task``/``map_tasks`` on ``"local"`` pools (the default),
        ``"threads"`` or ``"dask"``.

        ``"threads"`` runs the ``use_process=True`` tasks on the thread pool
        too: no pickling, every task sees the same objects.  On free-threaded
        CPython (3.13t and later) the threads run in parallel; with the GIL
        they take turns (the process pool is the parallel choice there).

        For ``"dask"``, ``address=None`` starts a ``distributed.LocalCluster(**cluster_kwargs)``
        that the manager closes when it leaves the backend; with an address
        (``"tcp://host:8786"``) it connects a ``Client(address, **cluster_kwargs)``
        and leaves that cluster running.  Needs ``pip install "admf-perf[dask]"``.
        """
        backend = check_choice(backend, "backend", ("local", "threads", "dask"))
        address = check_str(address, "address", allow_none=True)
        if backend != "dask" and (address is not None or cluster_kwargs):
            raise ValueError(f"backend {backend!r} takes no address or cluster_kwargs")
        distributed = require_distributed() if backend == "dask" else None
        dask = None
        if distributed is not None:               # connected first: a failure changes nothing
            dask = _DaskBackend.connect(distributed, address, cluster_kwargs, self._stats)
        with self._lock:
            old, self._dask = self._dask, dask
            self._on_threads = backend == "threads"
        if old is not None:
            old.close()

    @property
    def backend(self) -> str:
        """``"local"``, ``"threads"`` or ``"dask"``."""
        with self._lock:
            if self._dask is not None:
                return "dask"
            return "threads" if self._on_threads else "local"

    @property
    def dask_client(self) -> Any:
        """The ``distributed.Client`` of the Dask backend, or None."""
        dask = self._dask
        return None if dask is None else dask.client

    def _close_dask(self) -> None:
        with self._lock:
            dask, self._dask = self._dask, None
        if dask is not None:
            dask.close()

    # -- readings ------------------------------------------------------------------------------------
    def get_cpu_usage(self, interval: float | None = None) -> dict[str, Any]:
        """CPU use in percent: ``system_percent`` (all CPUs), ``per_cpu_percent``,
        ``process_percent`` (this process; 100 = one CPU busy), ``cpu_count``,
        ``process_threads``; since the previous call, or over ``interval`` seconds."""
        check_real(interval, "interval", minimum=0, open_minimum=True, allow_none=True, what="seconds")
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
        return self._stats.as_dict()

    def reset_stats(self) -> None:
        """Forget the task statistics."""
        self._stats.reset()

    def pool_sizes(self) -> dict[str, int | None]:
        """Configured sizes: ``threads`` and ``processes`` (None: not chosen yet)."""
        with self._lock:
            return {"threads": self._thread_workers, "processes": self._supervisor.workers}

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
        dispatcher = self._supervisor.begin_shutdown(cancel_pending)
        self._close_dask()
        if threads is not None:
            threads.shutdown(wait=wait, cancel_futures=cancel_pending)
        self._supervisor.finish_shutdown(dispatcher, wait)

    def __enter__(self) -> CPUManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)
