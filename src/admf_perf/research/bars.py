"""Bars: the one reader of bar files, and synthetic bars.

- :func:`load_bars` reads OHLCV bars from CSV (through
  :func:`~admf_perf.resources.frames.load_csv`) or Parquet (the optional
  ``pyarrow``), with case-insensitive column names, for the backtests, the
  optimizer and ``admf-perf optimize``.
- :func:`bar_arrays` validates the OHLCV columns of a DataFrame and returns
  them as float64 arrays (``prepare`` uses it for DataFrames in memory).
- :func:`synthetic_bars` makes a deterministic random walk, so the command
  runs without data files.
"""
from __future__ import annotations

import csv
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._validate import check_int, check_real
from ..resources.frames import load_csv

__all__ = ["OHLCV", "bar_arrays", "default_periods_per_year", "load_bars", "synthetic_bars"]

#: The columns of a bars DataFrame, in order.
OHLCV: tuple[str, ...] = ("open", "high", "low", "close", "volume")

_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_DATETIME_NAMES = ("datetime", "timestamp", "date_time", "time_stamp")


def _lower_map(columns: Iterable[Any], where: str) -> dict[str, Any]:
    """``lowercased stripped name -> column`` (two columns equal but for case: error)."""
    out: dict[str, Any] = {}
    for col in columns:
        key = str(col).strip().lower()
        if key in out:
            raise ValueError(f"{where}: columns {out[key]!r} and {col!r} differ only by case")
        out[key] = col
    return out


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV with :func:`~admf_perf.resources.frames.load_csv` (as
    ``pd.read_csv`` would: no downcast, a plain row index); a data row with one
    more field than the header after a ``Date`` column is the Date, Time, ...
    layout whose header omits ``Time``."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            header_line = fh.readline()
            first_line = fh.readline()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a readable CSV file (not UTF-8 text: {exc})") from None
    header = next(csv.reader([header_line]), [])
    row = next(csv.reader([first_line]), []) if first_line.strip() else []
    names = [h.strip() for h in header]
    lowered = [h.lower() for h in names]
    quirk = bool(row) and len(row) == len(names) + 1 and bool(lowered) and lowered[0] == "date" \
        and "time" not in lowered
    try:
        return load_csv(path, optimize=False, index_col=False,
                        names=[names[0], "Time", *names[1:]] if quirk else None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable CSV file ({type(exc).__name__}: {exc})") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401  (optional dependency)
    except ImportError:
        raise ImportError(f"reading Parquet ({path}) needs the optional package 'pyarrow': "
                          "pip install pyarrow (or read a CSV file)") from None
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        raise ValueError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None


def _datetime_index(df: pd.DataFrame, cols: dict[str, Any], where: str) -> pd.DatetimeIndex:
    with warnings.catch_warnings():  # pandas' "could not infer format": the result is checked
        warnings.simplefilter("ignore", UserWarning)
        return _parse_datetime(df, cols, where)


def _parse_datetime(df: pd.DataFrame, cols: dict[str, Any], where: str) -> pd.DatetimeIndex:
    try:
        for name in _DATETIME_NAMES:
            if name in cols:
                return pd.DatetimeIndex(pd.to_datetime(df[cols[name]]))
        if "date" in cols and "time" in cols:
            text = df[cols["date"]].astype(str) + " " + df[cols["time"]].astype(str)
            return pd.DatetimeIndex(pd.to_datetime(text))
        for name in ("date", "time"):
            if name in cols:
                return pd.DatetimeIndex(pd.to_datetime(df[cols[name]]))
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{where}: cannot parse the date/time column(s) ({exc})") from None
    if isinstance(df.index, pd.DatetimeIndex):  # Parquet written from an indexed frame
        return df.index
    raise ValueError(f"{where}: no date/time column (expected 'Datetime', 'Timestamp', 'Date', "
                     f"or 'Date' and 'Time'; case-insensitive); columns are {list(df.columns)}")


def _column(df: pd.DataFrame, cols: dict[str, Any], name: str, where: str,
            required: bool = True) -> np.ndarray | None:
    if name not in cols:
        if not required:
            return None
        raise ValueError(f"{where}: missing column {name!r} (columns are matched case-insensitively; "
                         f"found {list(df.columns)})")
    try:
        values = pd.to_numeric(df[cols[name]], errors="raise")
        return np.array(values, dtype=np.float64)  # a private copy
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: column {cols[name]!r} is not numeric ({exc})") from None


def _check_bars(index: pd.Index, arrays: dict[str, np.ndarray | None], where: str,
                strict: bool) -> None:
    """Positive finite prices, finite non-negative volume, increasing index."""
    n = len(index)
    if n < 2:
        raise ValueError(f"{where}: needs at least 2 bars, got {n}")
    for name, a in arrays.items():
        if a is None:
            continue
        bad = ~np.isfinite(a) | ((a <= 0.0) if name != "volume" else (a < 0.0))
        if bad.any():
            k = int(np.argmax(bad))
            what = "finite and > 0" if name != "volume" else "finite and >= 0"
            raise ValueError(f"{where}: column {name!r} must be {what}; row {k} "
                             f"({index[k]}) has {a[k]!r}")
    if isinstance(index, pd.DatetimeIndex) and index.hasnans:
        raise ValueError(f"{where}: the index has missing timestamps (NaT)")
    if not index.is_monotonic_increasing:
        k = int(np.argmax(np.asarray(index[1:] < index[:-1])))
        raise ValueError(f"{where}: the index must be sorted ascending; row {k + 1} "
                         f"({index[k + 1]}) comes before row {k} ({index[k]})")
    if strict and not index.is_unique:
        k = int(np.argmax(index.duplicated()))
        raise ValueError(f"{where}: duplicate timestamp {index[k]} (row {k})")


def bar_arrays(bars: pd.DataFrame, where: str, *, strict: bool) -> dict[str, np.ndarray | None]:
    """The float64 OHLCV arrays of a bars DataFrame (columns matched
    case-insensitively; ``volume`` may be missing, then None), validated:
    positive finite prices, finite non-negative volume, an index sorted
    ascending (``strict``: strictly, no repeated timestamp)."""
    cols = _lower_map(bars.columns, where)
    arrays = {name: _column(bars, cols, name, where, required=name != "volume") for name in OHLCV}
    _check_bars(bars.index, arrays, where, strict)
    return arrays


def load_bars(path: str | Path) -> pd.DataFrame:
    """Read OHLCV bars from a CSV or Parquet file.

    Returns a DataFrame with float64 columns ``open, high, low, close, volume``
    and a :class:`~pandas.DatetimeIndex` named ``"datetime"``.  Column names
    are matched case-insensitively; other columns (``Adj Close``,
    ``OpenInterest``...) are dropped.  The timestamp is a ``Datetime``
    (``Timestamp``) column, a ``Date`` column, or ``Date`` and ``Time``
    combined -- including files whose header omits ``Time`` while every row has
    it (``Date,Open,...`` over ``2006-01-02,09:01:00,3602.0,...``).

    ``.parquet``/``.pq``/``.parq`` files need the optional ``pyarrow``
    (``ImportError`` naming it otherwise); anything else is read as CSV.

    Raises ``FileNotFoundError`` for a missing file, ``ValueError`` (naming the
    file) for an unreadable one, a missing or non-numeric OHLCV column, a NaN,
    infinite or non-positive price (negative or NaN volume), and an index that
    is not strictly increasing.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or pathlib.Path, got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"bars file not found: {p}")
    if p.is_dir():
        raise ValueError(f"{p}: is a directory, not a CSV or Parquet file")
    raw = _read_parquet(p) if p.suffix.lower() in _PARQUET_SUFFIXES else _read_csv(p)
    where = str(p)
    cols = _lower_map(raw.columns, where)
    arrays = {name: _column(raw, cols, name, where) for name in OHLCV}
    index = _datetime_index(raw, cols, where)
    index.name = "datetime"
    _check_bars(index, arrays, where, strict=True)
    return pd.DataFrame(arrays, index=index, columns=list(OHLCV))


def synthetic_bars(n: int = 2520, seed: int = 42, start: str | pd.Timestamp = "2015-01-02", *,
                   initial_price: float = 100.0, drift: float = 0.0003,
                   volatility: float = 0.015) -> pd.DataFrame:
    """Deterministic daily OHLCV bars: a seeded geometric random walk.

    ``n`` business days from ``start``; daily log returns are normal with mean
    ``drift - volatility**2 / 2`` and deviation ``volatility``.  Each open is
    the previous close moved by a small gap, ``high >= max(open, close)`` and
    ``low <= min(open, close)`` (a random intraday range), volume a whole
    number of shares.  Same arguments, same bars (numpy's PCG64 generator).
    The columns and index are those of :func:`load_bars`.
    """
    n = check_int(n, "n", minimum=2)
    seed = check_int(seed, "seed", minimum=0)
    p0 = check_real(initial_price, "initial_price", minimum=0.0, open_minimum=True)
    mu = check_real(drift, "drift")
    sigma = check_real(volatility, "volatility", minimum=0.0, maximum=0.5, what="a daily volatility")
    try:
        index = pd.bdate_range(start=start, periods=n, name="datetime")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"start must be a date, got {start!r} ({exc})") from None
    rng = np.random.default_rng(seed)
    log_ret = rng.normal(mu - 0.5 * sigma * sigma, sigma, n)
    close = p0 * np.exp(np.cumsum(log_ret))
    gap = rng.normal(0.0, 0.25 * sigma, n)
    prev = np.concatenate(([p0], close[:-1]))
    open_ = prev * np.exp(gap)
    wick_up, wick_down = np.abs(rng.normal(0.0, 0.5 * sigma, (2, n)))
    high = np.maximum(open_, close) * np.exp(wick_up)
    low = np.minimum(open_, close) * np.exp(-wick_down)
    volume = np.floor(rng.lognormal(13.0, 0.4, n))
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume},
                        index=index, columns=list(OHLCV))


def default_periods_per_year(index: pd.Index) -> float:
    """Bars per year for annualizing: 252 for daily (or coarser) bars; 252 x
    390 (one-minute bars of a 6.5-hour session) when bars are intraday."""
    if isinstance(index, pd.DatetimeIndex) and len(index) > 1:
        step = (index[1:] - index[:-1]).min()
        if step < pd.Timedelta(days=1):
            return 252.0 * 390
    return 252.0
