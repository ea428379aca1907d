"""The process-pool supervisor: a ``ProcessPoolExecutor`` that survives dying workers.

Process tasks wait in the supervisor's own queue; its dispatcher thread
hands the current executor (a :class:`_Generation`) at most
``2 * max_workers`` chunks and moves finished ones to their futures.  When a
worker dies the executor breaks and fails everything it holds; the
supervisor then reads which item each chunk had reached (workers record
``(pid, position)`` in shared memory, see :func:`~.tasks._run_chunk`), fails
or retries the item that was running on the dead process, queues every
other item again and builds a new executor on the next chunk
(``docs/cpu.md``, section Worker deaths).
"""
from __future__ import annotations

import collections
import concurrent.futures as cf
import functools
import multiprocessing
import multiprocessing.connection
import multiprocessing.sharedctypes
import os
import signal
import threading
import time
from typing import Any

from ..._validate import check_choice
from .jobs import _Job, deliver, fail, prepare
from .stats import _TaskStats
from .tasks import _INIT_WORKER, _MODULE, _RUN_CHUNK, WorkerCrashedError

_JOIN_TIMEOUT = 5.0          # seconds to wait for the workers of a broken pool to exit
_MAX_BLIND_BREAKS = 3        # breaks in a row with no task running before queued tasks fail


def cpu_count() -> int:
    """The CPUs this process may run on (the default pool size)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_start_method(start_method: Any) -> str | None:
    """``start_method`` if this platform has it (or None: the default)."""
    if start_method is None:
        return None
    return str(check_choice(start_method, "start_method", multiprocessing.get_all_start_methods()))


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
    """Have the fork server import the worker-side module (:mod:`.tasks`)
    once, if it has not started, so that its workers start without
    importing the package again."""
    from multiprocessing import forkserver
    server = getattr(forkserver, "_forkserver", None)
    preload = getattr(server, "_preload_modules", None)
    if server is None or not isinstance(preload, list) or _MODULE in preload:
        return
    if getattr(server, "_forkserver_pid", None) is None:     # not started yet
        forkserver.set_forkserver_preload([*preload, _MODULE])


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


class _Supervisor:
    """The process pool of one manager: queue, dispatcher thread, generations."""

    def __init__(self, stats: _TaskStats, start_method: str | None) -> None:
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._stats = stats
        self._start_method = start_method
        self.workers: int | None = None           # configured size (None: not chosen yet)
        self._gen: _Generation | None = None
        self._gens: list[_Generation] = []       # generations with chunks in flight
        self._pending: collections.deque[_Job] = collections.deque()
        self._events: collections.deque[tuple[_Generation, _Job, cf.Future]] = collections.deque()
        self._dispatcher: threading.Thread | None = None
        self._isolating = False
        self._closing = False
        self._blind_breaks = 0

    # -- configuration and submission -----------------------------------------------------
    def configure(self, max_workers: int, start_method: str | None) -> None:
        """``init_process_pool``: a pool of another size (or start method)
        replaces the current one; its chunks finish there."""
        with self._lock:
            if start_method is not None:
                self._start_method = start_method
            gen = self._gen
            if (gen is not None and not gen.broken and gen.max_workers == max_workers
                    and start_method is None):
                return
            self.workers = max_workers
            old = self._retire(gen)
            self._gen = None
            self._ensure_dispatcher()
            self._cond.notify_all()
        if old is not None:
            old.shutdown(wait=False)

    def submit(self, jobs: list[_Job]) -> None:
        with self._lock:
            self._closing = False
            self._pending.extend(jobs)
            self._ensure_dispatcher()
            self._cond.notify_all()

    def _retire(self, gen: _Generation | None) -> cf.Executor | None:
        """Retire ``gen`` (lock held); the executor the caller shuts down
        once it has let the lock go: shutting it down takes the executor's own
        lock, which its thread holds while it runs our done-callbacks, which
        take ours (a deadlock once threads run at once)."""
        if gen is None or gen.retired:
            return None
        gen.retired = True
        if not gen.inflight and gen in self._gens:
            self._gens.remove(gen)
        return gen.executor                      # its chunks still finish

    # -- dispatcher -------------------------------------------------------------------------
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
                        fail(self._stats, item, j.name, exc)

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
        limit = gen.limit if gen is not None else 2 * (self.workers or cpu_count())
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
                gen = _Generation(self.workers or cpu_count(), self._start_method)
                self.workers = gen.max_workers
                self._gen = gen
                self._gens.append(gen)
            return gen

    def _send(self, job: _Job) -> None:
        prepared = prepare(job, "process")
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
        deliver(self._stats, job, fut, "process")

    def _forget_if_done(self, gen: _Generation) -> None:
        if gen.retired and not gen.inflight and gen in self._gens:
            self._gens.remove(gen)

    # -- crashes ----------------------------------------------------------------------------
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
            old = self._retire(gen)
        if old is not None:
            old.shutdown(wait=False)
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
                    fail(self._stats, item, job.name,
                         WorkerCrashedError(job.name, code, item.crashes), crashed=True)
                else:
                    self._stats.record(job.name, False, None, retried=True)
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
            deliver(self._stats, job, job.fut, "process")
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
                    fail(self._stats, item, job.name, WorkerCrashedError(
                        job.name, codes[0] if len(codes) == 1 else None, 0,
                        detail=f"the process pool broke {blind} times in a row before the "
                               f"task started; worker exit codes {codes}"), crashed=True)
            return
        with self._cond:
            # isolated suspects first, then everything else in its original order
            requeue.sort(key=lambda j: not j.isolate)
            self._pending.extendleft(reversed(requeue))
            self._cond.notify_all()

    # -- shutdown ---------------------------------------------------------------------------
    def begin_shutdown(self, cancel_pending: bool) -> threading.Thread | None:
        """Close the pool once idle (cancelling the tasks that have not
        started with ``cancel_pending``); the dispatcher thread, if running."""
        with self._lock:
            if cancel_pending:
                for job in self._pending:
                    for item in job.items:
                        if not item.started:
                            item.future.cancel()
            self._closing = True
            self._cond.notify_all()
            return self._dispatcher

    def finish_shutdown(self, dispatcher: threading.Thread | None, wait: bool) -> None:
        """``wait``: block until the accepted tasks have finished."""
        if dispatcher is not None and dispatcher is not threading.current_thread():
            if wait:
                dispatcher.join()
            return                                 # the dispatcher closes the pool when idle
        with self._lock:
            gen = self._close_idle_pool()
        if gen is not None:
            gen.executor.shutdown(wait=wait)

    def _close_idle_pool(self) -> _Generation | None:
        """Retire the process pool after shutdown once it is idle (lock held)."""
        gen = self._gen
        if not self._closing or gen is None or gen.inflight or self._pending:
            return None
        self._gen = None
        self._closing = False
        self._retire(gen)                        # the caller shuts its executor down
        return gen
