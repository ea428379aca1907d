"""What runs on an ``IOManager``'s worker thread: the operations (reads,
atomic writes), the per-path counters they keep, and the worker loop.

The worker holds no reference to its manager (only a :class:`_State`), so a
dropped manager's worker drains its queue and ends.  Semantics:
``docs/fileio.md``.
"""
from __future__ import annotations

import errno
import logging
import os
import stat
import threading
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any

__all__ = ["TEMP_SUFFIX"]

logger = logging.getLogger("admf_perf.resources.fileio")

PathLike = str | bytes | os.PathLike
Callback = Callable[[Any, BaseException | None], object]

#: Suffix of the temporary files of atomic writes (``.<name>.<random>`` + suffix):
#: a leftover of a crash is never mistaken for the target.
TEMP_SUFFIX = ".admf-tmp"
_READ_MODES = ("rb", "r")
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


def _key(abs_path: str | bytes) -> str:
    """The ``io_stats`` key of an absolute path: as str."""
    return abs_path if isinstance(abs_path, str) else os.fsdecode(abs_path)


def _new_counters() -> list[int]:
    return [0] * len(_STAT_FIELDS)


def _as_dict(counters: list[int]) -> dict[str, int]:
    return dict(zip(_STAT_FIELDS, counters, strict=True))


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
Opened = tuple[int, int] | BaseException | None


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
Pending = tuple[Any, Opened] | None


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
