"""``IOManager``: file I/O off the caller's thread, atomic writes, memory maps,
a pool of byte buffers, per-path statistics (:mod:`.manager`; the worker's
operations in :mod:`.operations`, the maps in :mod:`.maps`).

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

from .manager import DEFAULT_POOL_PER_CLASS, MIN_BUFFER_SIZE, IOManager
from .maps import MappedArray, MappedBytes
from .operations import TEMP_SUFFIX

__all__ = ["DEFAULT_POOL_PER_CLASS", "MIN_BUFFER_SIZE", "TEMP_SUFFIX", "IOManager", "MappedArray", "MappedBytes"]
