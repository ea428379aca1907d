"""``IOManager``: file I/O off the caller's thread (its worker runs
:mod:`.operations`), atomic writes, memory maps (:mod:`.maps`), a pool of byte
buffers (one :class:`~admf_perf.resources.pool.ObjectPool` per size class),
per-path statistics.  Semantics: ``docs/fileio.md``.
"""
from __future__ import annotations

import atexit
import functools
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from queue import SimpleQueue
from typing import Any

from ..._singleton import Singleton
from ..._validate import check_bool, check_callable, check_choice, check_int, check_path
from ..pool import ObjectPool
from .maps import MappedArray, MappedBytes, open_map
from .operations import (
    _READ_MODES,
    _STOP,
    Callback,
    PathLike,
    _as_dict,
    _flush_marker,
    _key,
    _read_bytes,
    _read_text,
    _State,
    _worker,
    _write_atomic,
    logger,
)

__all__ = ["DEFAULT_POOL_PER_CLASS", "MIN_BUFFER_SIZE", "IOManager"]

#: Smallest buffer size class (bytes); classes are powers of two.
MIN_BUFFER_SIZE = 64
#: Idle buffers kept per size class by default.
DEFAULT_POOL_PER_CLASS = 8


class _Resized(Exception):
    """A released buffer whose owner changed its length: dropped, not pooled."""


def _same_length(cls: int) -> Callable[[bytearray], None]:
    def check(buf: bytearray) -> None:
        if len(buf) != cls:
            raise _Resized(len(buf))

    return check


_managers: weakref.WeakSet[IOManager] = weakref.WeakSet()
_workers: weakref.WeakSet[threading.Thread] = weakref.WeakSet()   # incl. dropped managers'
_managers_lock = threading.Lock()


def _drain_all() -> None:
    """At interpreter exit (before non-daemon threads are joined): drain every manager."""
    with _managers_lock:
        managers = list(_managers)
    for manager in managers:
        try:
            manager.shutdown(wait=True)
        except Exception:                      # pragma: no cover - keep draining the others
            logger.exception("draining %r at exit failed", manager)
    with _managers_lock:
        workers = list(_workers)
    for thread in workers:                     # a dropped manager's worker drains too
        thread.join()


def _after_fork_in_child() -> None:
    global _managers_lock
    _managers_lock = threading.Lock()
    _workers.clear()
    for manager in list(_managers):
        manager._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

try:   # what concurrent.futures uses: runs before the interpreter joins threads
    threading._register_atexit(_drain_all)  # type: ignore[attr-defined]
except (AttributeError, RuntimeError):      # pragma: no cover - other Pythons
    atexit.register(_drain_all)


class IOManager(Singleton):
    """File I/O on one worker thread, atomic writes, memory maps, buffers, stats.

    ``IOManager.get_instance()`` is the process-wide manager; ``IOManager()``
    makes an independent one (its own worker, stats and buffer pool).

    ``fsync``: ``True`` (default) makes every atomic write durable (file and
    folder synced); ``False`` keeps writes atomic against a crash of the
    process but not against power loss, and is much faster on real disks.
    ``pool_per_class``: idle buffers kept per size class (int >= 0).
    """

    def __init__(self, fsync: bool = True, pool_per_class: int = DEFAULT_POOL_PER_CLASS) -> None:
        check_bool(fsync, "fsync")
        pool_per_class = check_int(pool_per_class, "pool_per_class", minimum=0)
        self._state = _State(fsync)
        self._queue: SimpleQueue = SimpleQueue()
        self._lock = threading.Lock()          # accepting operations vs shutdown
        self._thread: threading.Thread | None = None
        self._closed = False
        self._pool_per_class = pool_per_class
        self._buffer_lock = threading.Lock()
        #: One ObjectPool per size class (it tracks the buffers out and keeps
        #: the idle ones); the MemoryManager clears their idle buffers under pressure.
        self._buffer_pools: dict[int, ObjectPool] = {}
        self._released = 0
        with _managers_lock:
            _managers.add(self)
        # A manager dropped without shutdown: its worker drains the queue, then ends.
        self._finalizer = weakref.finalize(self, self._queue.put, _STOP)

    def _after_fork(self) -> None:
        """In a forked child: no worker thread exists; the parent's queued
        operations are the parent's (never run twice).  Start afresh."""
        self._finalizer.detach()
        self._lock = threading.Lock()
        self._buffer_lock = threading.Lock()
        self._state.lock = threading.Lock()
        self._queue = SimpleQueue()
        self._thread = None
        self._finalizer = weakref.finalize(self, self._queue.put, _STOP)

    # -- async operations ------------------------------------------------------------------
    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...],
                callback: Callback | None) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("IOManager is shut down: no new operations")
            if self._thread is None:
                self._thread = threading.Thread(target=_worker, args=(self._queue, self._state),
                                                name=f"admf-perf-io-{id(self):x}", daemon=True)
                self._thread.start()
                with _managers_lock:
                    _workers.add(self._thread)
            self._queue.put((future, fn, args, callback))
        return future

    def read_file_async(self, path: PathLike, callback: Callback | None = None,
                        mode: str = "rb") -> Future:
        """Read the whole file at ``path`` on the worker thread.

        ``mode="rb"`` gives ``bytes``, ``mode="r"`` gives ``str`` (UTF-8,
        universal newlines as ``open(path, "r")``).  Returns a future of the
        content; ``callback(result, error)`` (optional) runs first, on the
        worker.  A read queued after a write to the same path sees that write.
        """
        p = check_path(path, allow_bytes=True)
        check_choice(mode, "mode", _READ_MODES)
        check_callable(callback, "callback", allow_none=True, what="a callable(result, error)")
        p = os.path.abspath(p)                 # a later chdir does not change the file
        return self._submit(_read_bytes if mode == "rb" else _read_text, (_key(p), p), callback)

    def write_file_async(self, path: PathLike, data: bytes | bytearray | memoryview | str,
                         callback: Callback | None = None) -> Future:
        """Replace the file at ``path`` with ``data``, atomically, on the worker.

        ``data``: ``str`` (written as UTF-8, no newline translation) or any
        bytes-like object (``bytes`` as is; others, e.g. ``bytearray`` or a
        numpy array, are copied now, so changing them later does not change
        the write).  Returns a future of the number of bytes written;
        ``callback(result, error)`` (optional) runs first, on the worker.
        Writes to one path happen in submission order.
        """
        p = check_path(path, allow_bytes=True)
        if isinstance(data, str):
            try:
                payload = data.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(f"data: a str must be encodable as UTF-8; {exc}") from None
        elif type(data) is bytes:
            payload = data
        else:
            try:
                payload = memoryview(data).tobytes()   # a snapshot, any layout
            except TypeError:
                raise TypeError(f"data must be bytes-like or str; got {type(data).__name__}") from None
        check_callable(callback, "callback", allow_none=True, what="a callable(result, error)")
        p = os.path.abspath(p)
        return self._submit(_write_atomic, (_key(p), p, payload), callback)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every operation queued before this call is done (and its
        callback has run).  ``TimeoutError`` after ``timeout`` seconds; a call
        from the worker thread (inside a callback) raises ``RuntimeError``."""
        thread = self._thread
        if thread is None:
            return
        if threading.current_thread() is thread:
            raise RuntimeError("flush() inside an IOManager callback would wait for itself")
        try:
            marker = self._submit(_flush_marker, (), None)
        except RuntimeError:                   # shut down: wait for the worker to finish
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"IOManager queue not drained after {timeout} s") from None
            return
        marker.result(timeout)

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting operations; every accepted one still runs (the queue
        drains).  ``wait=True`` returns when the queue is drained.  New
        ``read_file_async``/``write_file_async`` calls then raise
        ``RuntimeError``; ``open_mmap`` and buffers keep working.  Idempotent;
        also run for every manager at interpreter exit."""
        with self._lock:
            if not self._closed:
                self._closed = True
                if self._thread is not None:
                    self._queue.put(_STOP)
            thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()

    @property
    def closed(self) -> bool:
        """True after :meth:`shutdown`."""
        return self._closed

    def __enter__(self) -> IOManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)

    def __repr__(self) -> str:
        state = "shut down" if self._closed else "open"
        return f"<IOManager {state}, fsync={self._state.fsync}>"

    # -- memory maps -------------------------------------------------------------------------
    def open_mmap(self, path: PathLike, mode: str = "r", dtype: Any = None,
                  shape: int | tuple[int, ...] | None = None,
                  offset: int = 0) -> MappedBytes | MappedArray:
        """Map the file at ``path`` into memory (read-only by default).

        Without ``dtype``: a :class:`MappedBytes` (``mmap.mmap``) of ``shape``
        bytes (``None``: to the end of the file) from ``offset``, which must
        be a multiple of ``mmap.ALLOCATIONGRANULARITY``.  With ``dtype``: a
        :class:`MappedArray` (``numpy.memmap``) of that dtype and ``shape``
        (``None``: as many items as fit) at any byte ``offset``.
        ``mode``: ``"r"`` read-only, ``"r+"`` writes go to the file (not
        atomically: bypasses the queue), ``"c"`` copy-on-write (writes stay in
        memory).  Both are context managers; ``open``/``close`` are counted in
        ``io_stats``.
        """
        return open_map(self._state, path, mode, dtype, shape, offset)

    # -- buffers -----------------------------------------------------------------------------
    @staticmethod
    def buffer_class(size: int) -> int:
        """The size class serving ``size`` bytes: the smallest power of two
        >= ``size`` and >= :data:`MIN_BUFFER_SIZE`."""
        size = check_int(size, "size", minimum=0)
        return max(MIN_BUFFER_SIZE, 1 << (size - 1).bit_length()) if size > 1 else MIN_BUFFER_SIZE

    def _buffer_pool(self, cls: int) -> ObjectPool:
        with self._buffer_lock:
            pool = self._buffer_pools.get(cls)
            if pool is None:
                pool = self._buffer_pools[cls] = ObjectPool(
                    functools.partial(bytearray, cls), max_size=self._pool_per_class, reset=_same_length(cls),
                    name=f"IOManager@{id(self):x} buffers of {cls} bytes")
            return pool

    def get_buffer(self, size: int) -> bytearray:
        """A ``bytearray`` of ``buffer_class(size)`` bytes (>= ``size``), reused
        from the pool when one is idle, else new (zeroed).  A reused buffer is
        not cleared.  Give it back with :meth:`release_buffer`."""
        buf: bytearray = self._buffer_pool(self.buffer_class(size)).acquire()
        return buf

    def release_buffer(self, buf: bytearray) -> None:
        """Give back a buffer from :meth:`get_buffer`.  It is kept for reuse
        when its class has fewer than ``pool_per_class`` idle buffers (and its
        length is unchanged), else dropped.  A buffer this manager did not
        hand out, or one already released: ``ValueError`` (never two owners)."""
        if not isinstance(buf, bytearray):
            raise TypeError(f"buf must be a bytearray from get_buffer, got {type(buf).__name__}")
        with self._buffer_lock:
            pools = list(self._buffer_pools.items())
        # The pool of its length first; a buffer its owner resized is found in
        # its own pool, whose reset hook then drops it.
        pools.sort(key=lambda item: item[0] != len(buf))
        reasons = []
        for _, pool in pools:
            try:
                pool.release(buf)
            except _Resized:
                pass
            except ValueError as exc:
                reasons.append(str(exc))
                continue
            with self._buffer_lock:
                self._released += 1
            return
        detail = next((r for r in reasons if "already released" in r), "")
        raise ValueError("buf was not handed out by this IOManager's get_buffer, or was already released"
                         + (f" ({detail})" if detail else ""))

    # -- statistics --------------------------------------------------------------------------
    def io_stats(self) -> dict[str, Any]:
        """Counters (cumulative).

        ``{"paths": {abs_path: counters}, "totals": counters, "callback_errors": n,
        "buffers": {...}}`` where counters are ``reads``, ``writes``,
        ``bytes_read``, ``bytes_written``, ``opens``, ``closes``, ``errors``
        (failed operations), and ``buffers`` has ``created``, ``reused``,
        ``released``, ``dropped``, ``in_use``, ``idle``.  Keys of ``paths`` are
        absolute paths as ``str``.
        """
        state = self._state
        with state.lock:
            paths = {k: _as_dict(v) for k, v in state.paths.items()}
            totals = _as_dict(state.totals)
            callback_errors = state.callback_errors
        with self._buffer_lock:
            pools = [pool.stats() for pool in self._buffer_pools.values()]
            released = self._released
        buffers = {key: sum(p[key] for p in pools) for key in ("created", "reused", "dropped", "in_use", "idle")}
        buffers["released"] = released
        return {"paths": paths, "totals": totals, "callback_errors": callback_errors,
                "buffers": buffers}
