"""Frame scenarios (issue 4, sections 2-4): chunked, optimized CSV loading.

Both are *measured* scenarios (figures, not times) on a synthetic 5M-row tick
file (``timestamp,symbol,price,size``; about 260 MB), written once by
:func:`write_tick_csv` into :func:`tick_csv_path` and reused:

* ``load_csv peak RSS (5M ticks)``: the peak RSS (MB) of a fresh Python
  process that imports the package and loads the file with
  ``admf_perf.load_csv(path, parse_dates=["timestamp"])``, beside one that runs
  ``pd.read_csv(path)``; gate <= 0.40x.  Each sample is one child process; its
  ``ru_maxrss`` comes from ``os.wait4`` (KiB), so the parent's memory never
  counts.
* ``load_csv frame memory (5M ticks)``: ``memory_usage(deep=True).sum()`` (MB)
  of the frame ``load_csv`` returns beside the default ``pd.read_csv(path)``
  frame; gate <= 0.50x.  Measured in a child process too (the figure is
  deterministic; the child keeps the bench process small).

The 5M rows are kept in quick mode (the gates are about that size); quick mode
takes one sample per implementation (later calls reuse it).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from admf_perf.bench.scenario import Gate, Impl, Scenario, register

__all__ = ["CHILD_HWM", "TICK_ROWS", "TICK_SYMBOLS", "child_figures", "frame_mb", "peak_rss_mb", "run_child",
           "tick_csv_path", "write_tick_csv"]

GROUP = "frames"
TICK_ROWS = 5_000_000
#: Version of the generator's output: bump it when the format changes (the cache
#: file name carries it, so an old file is never reused).
TICK_VERSION = 1
#: The 50 symbols (2 to 5 letters, as real tickers).
TICK_SYMBOLS: tuple[str, ...] = (
    "AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "TSLA", "BRK", "JPM", "V",
    "JNJ", "WMT", "PG", "MA", "UNH", "HD", "DIS", "BAC", "XOM", "KO",
    "PFE", "CSCO", "PEP", "INTC", "CVX", "MRK", "ABT", "ORCL", "NKE", "T",
    "VZ", "ADBE", "CRM", "NFLX", "CMCSA", "MCD", "QCOM", "TXN", "IBM", "AMD",
    "HON", "GS", "SBUX", "MMM", "CAT", "BA", "GE", "F", "GM", "C",
)
_BLOCK = 500_000
_START = np.datetime64("2024-01-02T09:30:00", "us")


def _digits(values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """ASCII digits of non-negative ints as an ``(n, width)`` uint8 matrix and
    the mask of the characters to keep (no leading zeros, at least one digit)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (values[:, None] // powers) % 10
    keep = (values[:, None] >= powers) | (powers == 1)
    return (digits + 48).astype(np.uint8), keep


def _block(rng: np.random.Generator, n: int, t0: np.int64, prices: np.ndarray) -> tuple[bytes, np.int64]:
    steps = rng.exponential(4_000.0, n).astype(np.int64)       # mean 4 ms between ticks
    stamps = t0 + np.cumsum(steps)
    text = np.datetime_as_string(stamps.astype("datetime64[us]"), unit="us").astype("S26")
    ts = np.frombuffer(text.tobytes(), dtype=np.uint8).reshape(n, 26).copy()
    ts[:, 10] = ord(" ")                                         # ISO 'T' -> ' '
    sym_idx = rng.integers(0, len(TICK_SYMBOLS), n)
    table = np.frombuffer(np.array(TICK_SYMBOLS, dtype="S5").tobytes(), dtype=np.uint8).reshape(-1, 5)
    sym = table[sym_idx]
    # a random walk of cents per symbol, in [1.00, 9999.99]
    moves = rng.integers(-30, 31, n)
    cents = np.empty(n, dtype=np.int64)
    for s in range(len(TICK_SYMBOLS)):                          # 50 vectorized walks
        where = np.flatnonzero(sym_idx == s)
        walk = prices[s] + np.cumsum(moves[where])
        walk = np.clip(walk, 100, 999_999)
        cents[where] = walk
        if where.size:
            prices[s] = walk[-1]
    whole, whole_keep = _digits(cents // 100, 4)
    frac = np.stack([(cents // 10) % 10, cents % 10], axis=1).astype(np.uint8) + 48
    size_vals = rng.geometric(0.004, n).clip(1, 9_999)
    size, size_keep = _digits(size_vals, 4)
    comma = np.full((n, 1), ord(","), np.uint8)
    dot = np.full((n, 1), ord("."), np.uint8)
    nl = np.full((n, 1), ord("\n"), np.uint8)
    ones = np.ones((n, 1), bool)
    matrix = np.concatenate([ts, comma, sym, comma, whole, dot, frac, comma, size, nl], axis=1)
    keep = np.concatenate([np.ones((n, 26), bool), ones, sym != 0, ones, whole_keep, ones,
                           np.ones((n, 2), bool), ones, size_keep, ones], axis=1)
    return matrix[keep].tobytes(), stamps[-1]


def write_tick_csv(path: str | os.PathLike[str], rows: int = TICK_ROWS, seed: int = 20240102) -> Path:
    """Write a synthetic tick file: ``timestamp,symbol,price,size``.

    ``timestamp``: increasing ISO strings with microseconds
    (``2024-01-02 09:30:00.123456``); ``symbol``: one of the 50
    :data:`TICK_SYMBOLS`; ``price``: a random walk per symbol with 2 decimals;
    ``size``: small ints (1 to 9999, mean about 250).  Deterministic for a ``seed``; formatted
    with vectorized numpy in blocks of 500k rows (5M rows, about 260 MB, take
    a few seconds).  Written to a temporary name, then renamed into place.
    """
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise ValueError(f"rows must be an int >= 0; got {rows!r}")
    path = Path(path)
    rng = np.random.default_rng(seed)
    prices = rng.integers(100_000, 900_000, len(TICK_SYMBOLS)).astype(np.int64)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    t = np.int64(_START.astype(np.int64))
    with open(tmp, "wb") as out:
        out.write(b"timestamp,symbol,price,size\n")
        done = 0
        while done < rows:
            n = min(_BLOCK, rows - done)
            data, t = _block(rng, n, t, prices)
            out.write(data)
            done += n
    os.replace(tmp, path)
    return path


def tick_csv_path(rows: int = TICK_ROWS) -> Path:
    """The cached tick file (``$TMPDIR/admf-perf-bench/ticks-<rows>-v<version>.csv``),
    written when missing."""
    folder = Path(tempfile.gettempdir()) / "admf-perf-bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ticks-{rows}-v{TICK_VERSION}.csv"
    if not path.is_file():
        write_tick_csv(path, rows)
    return path


# -- child processes ---------------------------------------------------------------------

#: The child's own high-water mark (``VmHWM``, bytes), or None off Linux:
#: defined first in every child script of :func:`run_child`.
CHILD_HWM = """\
def hwm():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None
"""

_CHILD = """\
import json, sys
import numpy as np, pandas as pd
import admf_perf
from admf_perf.resources.frames import load_csv
path, loader = sys.argv[1], sys.argv[2]
if loader == "load_csv":
    frame = load_csv(path, parse_dates=["timestamp"])
elif loader == "read_csv":
    frame = pd.read_csv(path)
elif loader == "read_csv_dates":
    frame = pd.read_csv(path, parse_dates=["timestamp"])
elif loader == "baseline":
    frame = pd.DataFrame()
else:
    raise SystemExit("unknown loader " + loader)
print(json.dumps({"rows": len(frame), "hwm": hwm(),
                  "frame_bytes": int(frame.memory_usage(deep=True).sum()) if "--deep" in sys.argv else None}))
"""


def child_figures(path: str | os.PathLike[str], loader: str, deep: bool = False) -> dict[str, Any]:
    """Run ``loader`` (``"load_csv"``, ``"read_csv"``, ``"read_csv_dates"`` or
    ``"baseline"``: imports only) on ``path`` in a fresh Python process
    (:func:`run_child`).

    Returns ``rows``, ``peak_rss`` (bytes) and, with ``deep``, ``frame_bytes``
    (``memory_usage(deep=True).sum()`` of the loaded frame).
    """
    return run_child(_CHILD, [str(path), loader] + (["--deep"] if deep else []), loader)


def run_child(script: str, args: list[str], what: str) -> dict[str, Any]:
    """Run ``script`` (after :data:`CHILD_HWM`) with ``args`` in a fresh Python
    process importing this tree; return the JSON object its last line of
    output holds, with ``peak_rss`` (bytes) in place of its ``hwm``.

    ``peak_rss`` is the child's ``VmHWM`` (``/proc/self/status``, read by the
    child as it ends), falling back to ``ru_maxrss`` from ``os.wait4``
    elsewhere.  Linux carries the *parent's* high-water mark into a forked
    child's ``ru_maxrss`` (the forked copy of the parent's memory counts
    before ``exec``), so ``ru_maxrss`` is only right when the parent is
    smaller than the child; ``VmHWM`` belongs to the new program's memory
    alone.  ``what`` names the child in an error.
    """
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])             # the tree this module is in
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-c", CHILD_HWM + script, *args], stdout=out, stderr=err, env=env)
        # reap the child ourselves: wait4 gives its rusage (Popen.wait would not)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{what} child failed ({proc.returncode}): {stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    hwm = figures.pop("hwm")
    figures["peak_rss"] = hwm if hwm is not None else usage.ru_maxrss * 1024
    return figures


_QUICK: dict[tuple[str, str], float] = {}


def _sample(figure: str, loader: str, quick: bool) -> float:
    """One sample; in quick mode the first sample is reused (one child process
    per loader instead of ``samples``)."""
    key = (figure, loader)
    if quick and key in _QUICK:
        return _QUICK[key]
    value = child_figures(tick_csv_path(), loader, deep=figure == "frame_bytes")[figure] / 1e6
    if quick:
        _QUICK[key] = value
    return value


def peak_rss_mb(loader: str, quick: bool = False) -> float:
    """Peak RSS (MB) of a fresh process loading the 5M-row tick file with ``loader``."""
    return _sample("peak_rss", loader, quick)


def frame_mb(loader: str, quick: bool = False) -> float:
    """``memory_usage(deep=True).sum()`` (MB) of the frame ``loader`` returns."""
    return _sample("frame_bytes", loader, quick)


_READ = "pd.read_csv"

register(
    Scenario.measured(
        "load_csv peak RSS (5M ticks)", GROUP,
        "peak RSS of a fresh process importing admf_perf and loading a 5M-row, 260 MB tick CSV",
        "MB",
        Impl("admf_perf load_csv", measure=lambda quick: peak_rss_mb("load_csv", quick)),
        (Impl(_READ, measure=lambda quick: peak_rss_mb("read_csv", quick)),),
        gate=Gate(0.40, (_READ,), "pd.read_csv of the same file"),
        samples=3,
        deterministic=False,  # peak RSS moves by tens of MB between runs: gated, never compared
    ),
    Scenario.measured(
        "load_csv frame memory (5M ticks)", GROUP,
        "memory_usage(deep=True) of the loaded 5M-row tick frame",
        "MB",
        Impl("admf_perf load_csv", measure=lambda quick: frame_mb("load_csv", quick)),
        (Impl(_READ, measure=lambda quick: frame_mb("read_csv", quick)),),
        gate=Gate(0.50, (_READ,), "the default pd.read_csv frame"),
        samples=1,
    ),
)
