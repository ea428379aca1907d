"""``IOManager``: file I/O off the caller's thread, atomic writes, memory maps,
a pool of byte buffers, per-path statistics.

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> path = os.path.join(folder, "bars.bin")
>>> with IOManager() as io:
...     io.write_file_async(path, b"OHLC").result()
...     io.read_file_async(path).result()
4
b'OHLC'

Semantics (``docs/fileio.md`` has the full account):

- One worker thread per manager takes operations from one FIFO queue (started
  on the first operation).  Operations run in submission order, so writes to
  one path keep their order and a read queued after a write sees it.  No
  ``aiofiles``: a thread hand-off costs microseconds, an event-loop file read
  costs over a hundred.
- ``read_file_async(path, callback=None, mode="rb")`` and
  ``write_file_async(path, data, callback=None)`` return
  :class:`concurrent.futures.Future` objects.  ``callback(result, error)``
  runs on the worker thread, *before* the future is resolved (when
  ``future.result()`` returns, the callback has finished): ``error`` is
  ``None`` on success, else the exception, which is also set on the future
  (``result`` is then ``None``).  An exception raised by a callback is logged
  (logger ``admf_perf.fileio``) and counted in ``io_stats()`` as
  ``callback_errors``; it never stops the worker and never changes the future.
- Writes are atomic: a temporary file in the target's folder, written,
  flushed and ``fsync``-ed, then ``os.replace``-d over the target and the
  folder ``fsync``-ed.  A crash at any point leaves the old file whole.
- ``flush()`` waits for every operation queued before it; ``shutdown()``
  drains the queue (nothing accepted is lost), also at interpreter exit.
  After ``shutdown`` the async methods raise ``RuntimeError``.
"""
from __future__ import annotations

import atexit
import errno
import logging
import mmap
import os
import stat
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from queue import Empty, SimpleQueue
from typing import Any, Union, cast

import numpy as np

from .._singleton import Singleton

__all__ = ["DEFAULT_POOL_PER_CLASS", "MIN_BUFFER_SIZE", "TEMP_SUFFIX", "IOManager", "MappedArray",
           "MappedBytes"]

logger = logging.getLogger(__name__)

PathLike = Union[str, bytes, os.PathLike]
Callback = Callable[[Any, Union[BaseException, None]], object]

#: Suffix of the temporary files of atomic writes (``.<name>.<random>`` + suffix):
#: a leftover of a crash is never mistaken for the target.
TEMP_SUFFIX = ".admf-tmp"
#: Smallest buffer size class (bytes); classes are powers of two.
MIN_BUFFER_SIZE = 64
#: Idle buffers kept per size class by default.
DEFAULT_POOL_PER_CLASS = 8

_READ_MODES = ("rb", "r")
_MMAP_MODES = {"r": mmap.ACCESS_READ, "r+": mmap.ACCESS_WRITE, "c": mmap.ACCESS_COPY}
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_READ_FLAGS = os.O_RDONLY | _O_CLOEXEC | _O_BINARY
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_BINARY
_CHUNK = 1 << 24                     # bytes per os.write call of an atomic write
_STAT_FIELDS = ("reads", "writes", "bytes_read", "bytes_written", "opens", "closes", "errors")
_R, _W, _BR, _BW, _OPEN, _CLOSE, _ERR = range(7)

#: Test hook: called with a stage name ("opened", "chunk", "written", "replaced")
#: inside every atomic write; tests make it crash the process mid-write.
_write_hook: Callable[[str], object] | None = None


def _check_path(path: Any) -> str | bytes:
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a str, bytes or os.PathLike; got {type(path).__name__}") from None


def _check_callback(callback: Any) -> None:
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable(result, error) or None; "
                        f"got {type(callback).__name__}")


def _key(abs_path: str | bytes) -> str:
    """The ``io_stats`` key of an absolute path: as str."""
    return abs_path if isinstance(abs_path, str) else os.fsdecode(abs_path)


def _new_counters() -> list[int]:
    return [0] * len(_STAT_FIELDS)


def _as_dict(counters: list[int]) -> dict[str, int]:
    return dict(zip(_STAT_FIELDS, counters))


class _State:
    """What the worker shares with the manager (the worker holds no reference
    to the manager, so a dropped manager's worker drains and ends)."""

    __slots__ = ("lock", "paths", "totals", "callback_errors", "fsync", "__weakref__")

    def __init__(self, fsync: bool) -> None:
        self.lock = threading.Lock()
        self.paths: dict[str, list[int]] = {}
        self.totals = _new_counters()
        self.callback_errors = 0
        self.fsync = fsync

    def add(self, key: str, *pairs: int) -> None:
        """Add ``(field, amount)`` pairs (flattened) to ``key``'s counters and the totals."""
        with self.lock:
            counters = self.paths.get(key)
            if counters is None:
                counters = self.paths[key] = _new_counters()
            totals = self.totals
            for i in range(0, len(pairs), 2):
                counters[pairs[i]] += pairs[i + 1]
                totals[pairs[i]] += pairs[i + 1]


# -- operations (run on the worker thread) -----------------------------------------------
def _open_read(state: _State, key: str, path: str | bytes) -> tuple[int, int]:
    """Open ``path`` for a read: ``(fd, size)`` (errors counted, then raised)."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except BaseException:
        state.add(key, _ERR, 1)
        raise
    try:
        return fd, os.fstat(fd).st_size
    except BaseException:
        os.close(fd)
        state.add(key, _OPEN, 1, _CLOSE, 1, _ERR, 1)
        raise


#: What the worker passes as ``opened`` to a read it opened ahead: ``(fd, size)``
#: or the exception the open raised.
Opened = Union[tuple[int, int], BaseException, None]


def _read_bytes(state: _State, key: str, path: str | bytes, opened: Opened = None) -> bytes:
    if opened is None:
        fd, size = _open_read(state, key, path)
    elif isinstance(opened, BaseException):
        raise opened
    else:
        fd, size = opened
    try:
        # A regular file: one read of size + 1 bytes.  Exactly size bytes is
        # the whole file; anything else (unknown size, a file that grew, or a
        # short read: Linux returns at most 0x7ffff000 bytes per read) reads on
        # to EOF.
        data = os.read(fd, size + 1) if size else b""
        if not size or len(data) != size:
            chunks = [data]
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
            data = b"".join(chunks)
    except BaseException:
        os.close(fd)
        state.add(key, _OPEN, 1, _CLOSE, 1, _ERR, 1)
        raise
    os.close(fd)
    n = len(data)
    with state.lock:                           # state.add, inlined: the hot path
        c = state.paths.get(key)
        if c is None:
            c = state.paths[key] = _new_counters()
        for counters in (c, state.totals):
            counters[_R] += 1
            counters[_BR] += n
            counters[_OPEN] += 1
            counters[_CLOSE] += 1
    return data


def _read_text(state: _State, key: str, path: str | bytes, opened: Opened = None) -> str:
    data = _read_bytes(state, key, path, opened)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        state.add(key, _ERR, 1)
        raise
    # Universal newlines, as open(path, "r") reads them.
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _fsync_dir(folder: str | bytes) -> None:
    try:
        fd = os.open(folder or os.curdir, os.O_RDONLY | _O_CLOEXEC)
    except OSError:
        return                                 # folders cannot be opened here (Windows)
    try:
        os.fsync(fd)
    except OSError as exc:                     # some file systems refuse: nothing more to do
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EROFS):
            raise
    finally:
        os.close(fd)


def _write_atomic(state: _State, key: str, path: str | bytes, data: bytes) -> int:
    hook = _write_hook
    target = os.path.realpath(path) if os.path.islink(path) else path   # keep a symlink a link
    folder, name = os.path.split(target)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None                            # new file: 0o666 less the umask, from os.open
    except BaseException:
        state.add(key, _ERR, 1)
        raise
    fd = -1
    temp: str | bytes = ""
    for _ in range(100):
        temp_name = f".{name}.{os.urandom(6).hex()}{TEMP_SUFFIX}"
        if isinstance(folder, bytes):
            temp = os.path.join(folder, os.fsencode(temp_name))
        else:
            temp = os.path.join(folder, temp_name)
        try:
            fd = os.open(temp, _TEMP_FLAGS, 0o666)
            break
        except FileExistsError:
            continue
        except BaseException:
            state.add(key, _ERR, 1)
            raise
    else:                                      # pragma: no cover - 100 random collisions
        state.add(key, _ERR, 1)
        raise FileExistsError(errno.EEXIST, "no free temporary name", temp)
    replaced = False
    try:
        if hook is not None:
            hook("opened")
        if mode is not None:                   # an overwrite keeps the file's permissions
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            else:                              # pragma: no cover - Windows
                os.chmod(temp, mode)
        view = memoryview(data)
        done, total = 0, len(view)
        while done < total:
            done += os.write(fd, view[done:done + _CHUNK])
            if hook is not None:
                hook("chunk")
        if state.fsync:
            os.fsync(fd)
        fd, closing = -1, fd
        os.close(closing)                     # an error here must not close it twice
        if hook is not None:
            hook("written")
        os.replace(temp, target)
        replaced = True
        if state.fsync:
            _fsync_dir(folder)
        if hook is not None:
            hook("replaced")
    except BaseException:
        if fd >= 0:
            os.close(fd)
        if not replaced:
            try:
                os.unlink(temp)
            except OSError:
                pass
        state.add(key, _OPEN, 1, _CLOSE, 1, _ERR, 1)
        raise
    state.add(key, _W, 1, _BW, total, _OPEN, 1, _CLOSE, 1)
    return total


_STOP = object()


_READS = (_read_bytes, _read_text)
Pending = Union[tuple[Any, Opened], None]


def _run(state: _State, item: tuple[Any, ...], opened: Opened, queue: SimpleQueue) -> Pending:
    """Run one queued ``(future, fn, args, callback)`` (its locals die with the
    call, so the worker keeps no payload alive while it waits).

    Before resolving the future, when no user code would run in between (no
    callback, no done-callback on the future), the next queued item is taken
    and, if it is a read, its file is opened: the caller woken by this future
    then runs while the worker reads, instead of contending for the GIL
    between two short system calls.  Returns ``(next item, opened)`` or None.
    """
    future, fn, args, callback = item
    if opened is None and not future.set_running_or_notify_cancel():
        return None                            # cancelled while queued: not run
    try:
        result = fn(state, *args) if opened is None else fn(state, *args, opened)
    except BaseException as exc:               # the future and the callback get it
        if callback is not None:
            _call_back(state, callback, None, exc, fn)
        future.set_exception(exc)
        return None
    pending: Pending = None
    if callback is not None:
        _call_back(state, callback, result, None, fn)
    elif not getattr(future, "_done_callbacks", True):
        try:
            following = queue.get_nowait()
        except Empty:
            following = None
        if following is _STOP or (following is not None and following[1] not in _READS):
            pending = (following, None)
        elif following is not None and following[0].set_running_or_notify_cancel():
            try:
                pending = (following, _open_read(state, *following[2]))
            except BaseException as exc:
                pending = (following, exc)
    future.set_result(result)
    return pending


def _call_back(state: _State, callback: Callback, result: Any, error: BaseException | None,
               fn: Callable[..., Any]) -> None:
    try:
        callback(result, error)
    except BaseException:                      # never kills the worker
        with state.lock:
            state.callback_errors += 1
        logger.exception("IOManager callback %r raised (operation %s)", callback, fn.__name__)


def _worker(queue: SimpleQueue, state: _State) -> None:
    """Run queued items until the stop marker (everything before it runs)."""
    get = queue.get
    pending: Pending = None
    while True:
        if pending is None:
            item, opened = get(), None
        else:
            item, opened = pending
            pending = None
        if item is _STOP:
            return
        try:
            pending = _run(state, item, opened, queue)
        except BaseException as exc:           # pragma: no cover - a bug or MemoryError: report it,
            logger.exception("IOManager worker error")   # keep serving the queue
            if not item[0].done():
                try:
                    item[0].set_exception(exc)
                except Exception:
                    pass
            pending = None
        item = opened = None


def _flush_marker(state: _State) -> None:
    return None


# -- memory maps -----------------------------------------------------------------------------
class MappedBytes(mmap.mmap):
    """An ``mmap.mmap`` whose ``close()`` (and ``with`` exit) is counted in ``io_stats``."""

    _io_state: _State | None
    _io_key: str

    def close(self) -> None:
        """Unmap (``BufferError`` while views of it exist); counted once."""
        was_open = not self.closed
        super().close()
        state = self.__dict__.pop("_io_state", None) if was_open else None
        if state is not None:
            state.add(self._io_key, _CLOSE, 1)

    def __enter__(self) -> MappedBytes:
        return self

    def __exit__(self, *exc: object) -> None:     # mmap's own __exit__ bypasses close()
        self.close()


class MappedArray(np.memmap):
    """A ``numpy.memmap`` usable as a context manager; ``close()`` is counted in
    ``io_stats``.

    ``close()`` flushes a writable map and records the close; the memory stays
    mapped until the array and every view of it are garbage (numpy's rule:
    unmapping under a live view would crash), so using the array after
    ``close()`` is safe.  Views are plain ``MappedArray`` objects whose
    ``close()`` only flushes.
    """

    _io_state: _State | None = None
    _io_key: str = ""

    def __array_finalize__(self, obj: Any) -> None:
        super().__array_finalize__(obj)
        self._io_state = None                  # views never count a close

    def close(self) -> None:
        """Flush (writable maps) and count the close, once."""
        if self.mode in ("r+", "w+"):
            self.flush()
        state, self._io_state = self._io_state, None
        if state is not None:
            state.add(self._io_key, _CLOSE, 1)

    def __enter__(self) -> MappedArray:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the manager -----------------------------------------------------------------------------
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
        if not isinstance(fsync, bool):
            raise TypeError(f"fsync must be True or False; got {fsync!r}")
        if isinstance(pool_per_class, bool) or not isinstance(pool_per_class, int) or pool_per_class < 0:
            raise ValueError(f"pool_per_class must be an int >= 0; got {pool_per_class!r}")
        self._state = _State(fsync)
        self._queue: SimpleQueue = SimpleQueue()
        self._lock = threading.Lock()          # accepting operations vs shutdown
        self._thread: threading.Thread | None = None
        self._closed = False
        self._pool_per_class = pool_per_class
        self._buffer_lock = threading.Lock()
        self._idle: dict[int, list[bytearray]] = {}
        self._out: dict[int, bytearray] = {}   # id -> buffer handed out (held: ids stay unique)
        self._buffer_counts = {"created": 0, "reused": 0, "released": 0, "dropped": 0}
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
        p = _check_path(path)
        if mode not in _READ_MODES:
            raise ValueError(f"mode must be 'rb' (bytes) or 'r' (str); got {mode!r}")
        _check_callback(callback)
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
        p = _check_path(path)
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
        _check_callback(callback)
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
        p = _check_path(path)
        if mode not in _MMAP_MODES:
            raise ValueError(f"mode must be one of 'r' (read-only), 'r+' (read-write), 'c' "
                             f"(copy-on-write); got {mode!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be an int >= 0; got {offset!r}")
        p = os.path.abspath(p)
        key = _key(p)
        state = self._state
        if dtype is None:
            if shape is not None and (isinstance(shape, bool) or not isinstance(shape, int) or shape < 1):
                raise ValueError(f"shape must be None or an int >= 1 (bytes) without dtype; got {shape!r}")
            if offset % mmap.ALLOCATIONGRANULARITY:
                raise ValueError(f"offset must be a multiple of mmap.ALLOCATIONGRANULARITY "
                                 f"({mmap.ALLOCATIONGRANULARITY}) without dtype; got {offset}")
            flags = os.O_RDWR if mode == "r+" else os.O_RDONLY
            try:
                fd = os.open(p, flags | _O_CLOEXEC | _O_BINARY)
            except BaseException:
                state.add(key, _ERR, 1)
                raise
            try:
                length = 0 if shape is None else shape
                mapped = MappedBytes(fd, length, access=_MMAP_MODES[mode], offset=offset)
            except BaseException:
                state.add(key, _OPEN, 1, _CLOSE, 1, _ERR, 1)
                raise
            finally:
                os.close(fd)                   # the map keeps its own descriptor
            mapped._io_state = state
            mapped._io_key = key
            state.add(key, _OPEN, 1)
            return mapped
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype must be None or a numpy dtype; got {dtype!r}") from None
        try:
            array = MappedArray(p, dtype=dt, mode=cast(Any, mode), offset=offset, shape=shape)
        except BaseException:
            state.add(key, _ERR, 1)
            raise
        array._io_state = state
        array._io_key = key
        state.add(key, _OPEN, 1)
        return array

    # -- buffers -----------------------------------------------------------------------------
    @staticmethod
    def buffer_class(size: int) -> int:
        """The size class serving ``size`` bytes: the smallest power of two
        >= ``size`` and >= :data:`MIN_BUFFER_SIZE`."""
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"size must be an int >= 0; got {type(size).__name__}")
        if size < 0:
            raise ValueError(f"size must be an int >= 0; got {size}")
        return max(MIN_BUFFER_SIZE, 1 << (size - 1).bit_length()) if size > 1 else MIN_BUFFER_SIZE

    def get_buffer(self, size: int) -> bytearray:
        """A ``bytearray`` of ``buffer_class(size)`` bytes (>= ``size``), reused
        from the pool when one is idle, else new (zeroed).  A reused buffer is
        not cleared.  Give it back with :meth:`release_buffer`."""
        cls = self.buffer_class(size)
        with self._buffer_lock:
            idle = self._idle.get(cls)
            if idle:
                buf = idle.pop()
                self._buffer_counts["reused"] += 1
            else:
                buf = None
            if buf is not None:
                self._out[id(buf)] = buf
                return buf
        buf = bytearray(cls)                   # allocation outside the lock
        with self._buffer_lock:
            self._buffer_counts["created"] += 1
            self._out[id(buf)] = buf
        return buf

    def release_buffer(self, buf: bytearray) -> None:
        """Give back a buffer from :meth:`get_buffer`.  It is kept for reuse
        when its class has fewer than ``pool_per_class`` idle buffers (and its
        length is unchanged), else dropped.  A buffer this manager did not
        hand out, or one already released: ``ValueError`` (never two owners)."""
        if not isinstance(buf, bytearray):
            raise TypeError(f"buf must be a bytearray from get_buffer; got {type(buf).__name__}")
        with self._buffer_lock:
            if self._out.get(id(buf)) is not buf:
                raise ValueError("buf was not handed out by this IOManager's get_buffer, "
                                 "or was already released")
            del self._out[id(buf)]
            self._buffer_counts["released"] += 1
            n = len(buf)
            idle = self._idle.setdefault(n, []) if n >= MIN_BUFFER_SIZE and n & (n - 1) == 0 else None
            if idle is not None and len(idle) < self._pool_per_class:
                idle.append(buf)
            else:
                self._buffer_counts["dropped"] += 1

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
            buffers = dict(self._buffer_counts, in_use=len(self._out),
                           idle=sum(len(v) for v in self._idle.values()))
        return {"paths": paths, "totals": totals, "callback_errors": callback_errors,
                "buffers": buffers}
