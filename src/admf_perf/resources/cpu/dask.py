"""The Dask backend: ``CPUManager.use_backend("dask", ...)``.

Chunks go to a ``distributed.Client`` through ``Client.get_executor(pure=False)``
and run :func:`~.tasks._run_chunk` there (``"dask"`` mode: no tracker, shared
objects scattered once per client).  A worker death that Dask gives up on
(``KilledWorker``) becomes :class:`~.tasks.WorkerCrashedError`.  Closing the
backend waits for the chunks it accepted, closes the client, and closes the
``LocalCluster`` only if the backend started it.
"""
from __future__ import annotations

import concurrent.futures as cf
import threading
from typing import Any

from .jobs import _Job, deliver, fail, prepare
from .stats import _TaskStats
from .tasks import _RUN_CHUNK, WorkerCrashedError


def require_distributed() -> Any:
    """The ``distributed`` module, or an ``ImportError`` naming the extra."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError('the Dask backend needs the optional extra: pip install '
                          '"admf-perf[dask]" (dask[distributed])') from exc
    return distributed


def _killed_worker() -> type[BaseException] | None:
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:
        return None
    return KilledWorker


class _DaskBackend:
    """A Dask client (and the cluster it owns, if any) that runs chunks."""

    def __init__(self, client: Any, cluster: Any, stats: _TaskStats) -> None:
        self.client = client
        self.cluster = cluster                    # None: the cluster belongs to someone else
        self.executor = client.get_executor(pure=False)
        self._stats = stats
        self._lock = threading.Lock()
        self._futures: set[cf.Future] = set()

    @classmethod
    def connect(cls, distributed: Any, address: str | None, cluster_kwargs: dict[str, Any],
                stats: _TaskStats) -> _DaskBackend:
        """``address=None``: a ``LocalCluster(**cluster_kwargs)`` of its own;
        else a ``Client(address, **cluster_kwargs)``."""
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
        return cls(client, cluster, stats)

    def run(self, job: _Job) -> None:
        """Send a chunk to the cluster; its outcomes reach the futures when done."""
        prepared = prepare(job, "dask", self.client)
        if prepared is None:
            return
        calls, shared = prepared
        fut = self.executor.submit(_RUN_CHUNK, job.fn, calls, -1, "dask", shared)
        with self._lock:
            self._futures.add(fut)
        fut.add_done_callback(lambda f: self._done(job, f))

    def _done(self, job: _Job, fut: cf.Future) -> None:
        with self._lock:
            self._futures.discard(fut)
        exc = None if fut.cancelled() else fut.exception()
        killed = _killed_worker() if exc is not None else None
        if killed is not None and isinstance(exc, killed):
            crash = WorkerCrashedError(job.name, None, 1, detail=f"Dask: {exc}")
            crash.__cause__ = exc
            for item in job.items:
                fail(self._stats, item, job.name, crash, crashed=True)
            return
        deliver(self._stats, job, fut, "dask")

    def close(self) -> None:
        """Wait for the accepted chunks, close the client and an owned cluster."""
        with self._lock:
            outstanding = list(self._futures)
        cf.wait(outstanding)                      # accepted work finishes first
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
