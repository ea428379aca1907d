"""Memory maps of ``IOManager.open_mmap``: :class:`MappedBytes`
(``mmap.mmap``) and :class:`MappedArray` (``numpy.memmap``), whose opening
and closing are counted in the manager's ``io_stats``."""
from __future__ import annotations

import mmap
import os
from typing import Any, cast

import numpy as np

from ..._validate import check_choice, check_int, check_path
from .operations import (
    _CLOSE,
    _ERR,
    _O_BINARY,
    _O_CLOEXEC,
    _OPEN,
    PathLike,
    _key,
    _State,
)

__all__ = ["MappedArray", "MappedBytes", "open_map"]

_MMAP_MODES = {"r": mmap.ACCESS_READ, "r+": mmap.ACCESS_WRITE, "c": mmap.ACCESS_COPY}


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


def open_map(state: _State, path: PathLike, mode: str = "r", dtype: Any = None,
             shape: int | tuple[int, ...] | None = None,
             offset: int = 0) -> MappedBytes | MappedArray:
    """``IOManager.open_mmap`` (whose docstring has the semantics), counting
    the open and the close in ``state``."""
    p = check_path(path, allow_bytes=True)
    check_choice(mode, "mode", _MMAP_MODES)
    offset = check_int(offset, "offset", minimum=0)
    p = os.path.abspath(p)
    key = _key(p)
    if dtype is None:
        if isinstance(shape, tuple):       # an array's shape: a value that needs a dtype
            raise ValueError(f"shape must be None or an int >= 1 (bytes) without dtype, got {shape!r}")
        size: int | None = check_int(shape, "shape", minimum=1, allow_none=True)
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
            length = 0 if size is None else size
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
