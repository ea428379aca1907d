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
  ``ProcessPoolExecutor`` does) and count as failures in ``task_stats()``.
  Durations are measured around ``fn`` where it runs and travel back with
  the result.
- ``map_tasks(..., shared=obj)`` calls ``fn(item, obj)``; ``share()`` gives a
  handle usable as any top-level argument.  Threads get the object itself;
  processes get it through a pickle file written once and loaded once per
  worker process; Dask gets ``Client.scatter(obj, broadcast=True)`` once.
- ``use_backend("threads")`` runs the ``use_process=True`` tasks on the
  thread pool too (nothing pickled): parallel on free-threaded CPython.

Modules (each imports only those listed after it):

- :mod:`.manager`: ``CPUManager``, the front (argument checks, the thread
  pool, ``map_tasks`` chunking, the readings);
- :mod:`.supervisor`: the process pool (queue, dispatcher thread, executor
  generations, crash detection, retries);
- :mod:`.dask`: the Dask backend;
- :mod:`.jobs`: the records of tasks and chunks, preparing a chunk and
  delivering its outcomes;
- :mod:`.stats`: the task statistics;
- :mod:`.tasks`: what runs in the workers (preloaded by the fork server),
  the errors and ``SharedObject``.
"""
from __future__ import annotations

from .manager import CPUManager
from .tasks import RemoteTraceback, SharedObject, WorkerCrashedError

__all__ = ["CPUManager", "RemoteTraceback", "SharedObject", "WorkerCrashedError"]
