"""Memory-optimized arrays and frames, chunked CSV loading.

* :class:`MemoryOptimizedArray`: a numpy array downcast to the smallest dtype
  that holds every value exactly (never lossy).
* :class:`OptimizedDataFrame`: the same for every numeric column of a
  DataFrame, low-cardinality string columns to ``category``, a report of the
  bytes before and after per column.
* :func:`load_csv` / :func:`iter_csv`: read a CSV in chunks with the pandas C
  parser, optimizing as it goes, with dtypes that hold the whole file (an int
  column is one dtype, a category column has the union of the categories).
  ``load_csv`` counts the rows first and fills preallocated columns, so its
  peak memory is the optimized result plus one chunk.

Every rule, default and choice is documented in ``docs/frames.md``.
"""
from __future__ import annotations

import errno
import os
import re
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .memory import MemoryManager

__all__ = [
    "DEFAULT_CATEGORY_THRESHOLD",
    "DEFAULT_CHUNKSIZE",
    "MemoryOptimizedArray",
    "OptimizedDataFrame",
    "iter_csv",
    "load_csv",
    "optimal_dtype",
]

#: A string column becomes ``category`` when its distinct values (NaN counts as
#: one) are fewer than this share of its rows.
DEFAULT_CATEGORY_THRESHOLD = 0.5
#: Rows per chunk of :func:`load_csv` / :func:`iter_csv`.
DEFAULT_CHUNKSIZE = 50_000

#: Integer dtypes by size; a tie in size goes to the input's signedness.
_INTS = tuple(np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.uint16,
                                    np.int32, np.uint32, np.int64, np.uint64))
_FLOAT32 = np.dtype(np.float32)
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar", ".tgz")


# -- dtype rules ---------------------------------------------------------------------------

def _smallest_int(lo: int, hi: int, signed: bool) -> np.dtype:
    """The smallest integer dtype holding ``lo..hi``; same signedness wins a tie."""
    best: np.dtype | None = None
    for dt in _INTS:
        info = np.iinfo(dt)       # type: ignore[type-var]
        if info.min <= lo and hi <= info.max:
            if best is None:
                best = dt
            elif dt.itemsize == best.itemsize and (dt.kind == "i") == signed:
                best = dt
            if dt.itemsize > best.itemsize:
                break
    assert best is not None       # int64 or uint64 holds any numpy integer
    return best


def _float32_ok(values: np.ndarray, tolerance: float | None = None) -> bool:
    """Every value survives float32 exactly (NaN stays NaN, inf stays inf), or,
    with ``tolerance``, within ``tolerance`` (NaN and inf still exactly)."""
    with np.errstate(over="ignore", invalid="ignore"):
        back = values.astype(_FLOAT32).astype(values.dtype)
    if tolerance is None:
        return bool(np.array_equal(back, values, equal_nan=True))
    with np.errstate(invalid="ignore"):
        diff = np.abs(back - values)
    ok = (diff <= tolerance) | (back == values) | (np.isnan(back) & np.isnan(values))
    return bool(ok.all())


#: pandas' masked integer dtypes (not sparse or Arrow ones, whose ``kind`` is
#: also "i": converting those to a masked dtype would make them dense).
_NULLABLE_INTS = (pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype,
                  pd.UInt8Dtype, pd.UInt16Dtype, pd.UInt32Dtype, pd.UInt64Dtype)


def optimal_dtype(array: Any, tolerance: float | None = None) -> np.dtype:
    """The dtype :meth:`MemoryOptimizedArray.optimize_dtype` picks for ``array``.

    Integers: the smallest integer dtype holding the minimum and the maximum
    (among equal sizes the input's signedness first, so ``int64`` values in
    0..100 become ``int8`` and in 0..200 ``uint8``). Floats wider than 32 bits:
    ``float32`` when every value round-trips exactly (NaN, inf and -0.0
    included), or, with ``tolerance``, when every finite value moves by at most
    ``tolerance``; else unchanged. Bool, float32 and narrower, and other kinds
    (datetime, complex, ...) are unchanged.
    """
    arr = np.asarray(array)
    kind = arr.dtype.kind
    if kind in "iu":
        if arr.size == 0:
            return _smallest_int(0, 0, kind == "i")
        return _smallest_int(int(arr.min()), int(arr.max()), kind == "i")
    if kind == "f" and arr.dtype.itemsize > 4 and _float32_ok(arr, tolerance):
        return _FLOAT32
    return arr.dtype


def _check_tolerance(value: Any, name: str = "price_tolerance") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number >= 0 or None; got {type(value).__name__}")
    value = float(value)
    if not (value >= 0 and np.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0 or None; got {value!r}")
    return value


def _check_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"category_threshold must be a number in [0, 1]; got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"category_threshold must be in [0, 1] (0 turns categories off); got {value!r}")
    return value


class _Allocation:
    """What the MemoryManager tracks for an optimized object: it lives exactly
    as long as its owner and is replaced when the owner's size changes (the
    manager records a size once per tracked object)."""

    __slots__ = ("__weakref__", "owner")

    def __init__(self, owner: str) -> None:
        self.owner = owner


def _track(owner: Any, size: int) -> _Allocation:
    token = _Allocation(type(owner).__name__)
    MemoryManager.get_instance().track_allocation(token, int(size))
    return token


# -- arrays --------------------------------------------------------------------------------

class MemoryOptimizedArray:
    """A numeric numpy array kept in the smallest dtype that holds it exactly.

    ``MemoryOptimizedArray(array)`` wraps ``array`` (any array-like of bool,
    integers or floats; not copied, never modified); :meth:`optimize_dtype`
    replaces the held array by a downcast copy when a smaller dtype holds every
    value exactly (rules in :func:`optimal_dtype`). :meth:`restore` gives the
    values back in the original dtype. The object is tracked, weakly, by
    ``MemoryManager.get_instance()`` with its current ``nbytes``.
    """

    __slots__ = ("_array", "_original_dtype", "_original_nbytes", "_allocation", "__weakref__")

    def __init__(self, array: Any) -> None:
        try:
            arr = np.asarray(array)
        except Exception as exc:
            raise TypeError(f"array must be array-like of bool, int or float; got "
                            f"{type(array).__name__}") from exc
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"array must hold bool, int or float values (dtype kinds b, i, u, f); "
                            f"got dtype {arr.dtype}")
        self._array = arr
        self._original_dtype = arr.dtype
        self._original_nbytes = int(arr.nbytes)
        self._allocation = _track(self, arr.nbytes)

    def optimize_dtype(self, tolerance: float | None = None) -> np.dtype:
        """Downcast to the smallest dtype holding every value; return that dtype.

        Lossless unless ``tolerance`` (floats only: float32 when every value
        moves by at most ``tolerance``) is given. Idempotent.
        """
        tolerance = _check_tolerance(tolerance, "tolerance")
        target = optimal_dtype(self._array, tolerance)
        if target != self._array.dtype:
            with np.errstate(over="ignore"):
                self._array = self._array.astype(target)
            self._allocation = _track(self, self._array.nbytes)
        return self._array.dtype

    @property
    def array(self) -> np.ndarray:
        """The held array (the input itself until a downcast replaces it)."""
        return self._array

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    @property
    def nbytes(self) -> int:
        """Bytes of the held array's data."""
        return int(self._array.nbytes)

    @property
    def original_dtype(self) -> np.dtype:
        return self._original_dtype

    @property
    def original_nbytes(self) -> int:
        return self._original_nbytes

    @property
    def bytes_saved(self) -> int:
        """``original_nbytes - nbytes``."""
        return self._original_nbytes - self.nbytes

    @property
    def shape(self) -> tuple[int, ...]:
        return self._array.shape

    def __len__(self) -> int:
        return len(self._array)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is None:
            return self._array if not copy else self._array.copy()
        return self._array.astype(dtype)

    def restore(self) -> np.ndarray:
        """The values in the original dtype (a new array when downcast)."""
        return self._array.astype(self._original_dtype, copy=False)

    def __repr__(self) -> str:
        return (f"MemoryOptimizedArray(shape={self.shape}, dtype={self.dtype}, "
                f"original_dtype={self._original_dtype}, nbytes={self.nbytes})")


# -- frames --------------------------------------------------------------------------------

def _is_stringlike(dtype: Any) -> bool:
    return dtype == object or isinstance(dtype, pd.StringDtype)


def _categorizable(col: pd.Series, threshold: float) -> bool:
    """A string column whose distinct share is under ``threshold`` and whose
    values survive the trip through ``category`` (object columns: only str
    values, with NaN as the only missing value)."""
    n = len(col)
    if n == 0 or threshold <= 0:
        return False
    if col.dtype == object:
        if pd.api.types.infer_dtype(col, skipna=True) != "string":
            return False
        missing = col[col.isna()]
        if len(missing) and not all(isinstance(v, float) for v in missing):
            return False      # None / pd.NA / NaT would come back as NaN
    try:
        distinct = col.nunique(dropna=False)
    except TypeError:         # unhashable values
        return False
    return distinct < threshold * n


def _optimize_series(col: pd.Series, threshold: float, tolerance: float | None) -> Any:
    """The optimized values of one column (``None``: unchanged)."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        values = col.to_numpy(copy=False)
        target = optimal_dtype(values, tolerance)
        if target == dtype:
            return None
        with np.errstate(over="ignore"):
            return values.astype(target)
    if isinstance(dtype, _NULLABLE_INTS):                           # nullable Int64 ...
        present = col.dropna()
        kind = dtype.kind == "i"
        target = _smallest_int(int(present.min()), int(present.max()), kind) if len(present) \
            else _smallest_int(0, 0, kind)
        name = ("Int" if target.kind == "i" else "UInt") + str(target.itemsize * 8)
        return None if name == str(dtype) else col.astype(name).array
    if isinstance(dtype, pd.Float64Dtype):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        if _float32_ok(values, tolerance):
            return col.astype("Float32").array
        return None
    if _is_stringlike(dtype) and _categorizable(col, threshold):
        return col.astype("category").array
    return None


def _frame_bytes(df: pd.DataFrame) -> pd.Series:
    return df.memory_usage(deep=True, index=True)


class OptimizedDataFrame:
    """A DataFrame's memory-optimized copy and the report of what it saved.

    ``OptimizedDataFrame(df)`` builds :attr:`frame`: every numeric column
    downcast losslessly (as :func:`optimal_dtype`; nullable ``Int*``/``Float64``
    too), every string column (``str``/``object``) whose distinct share is under
    ``category_threshold`` as ``category``; other columns, the index and the
    column labels are kept. ``df`` is never modified (copy-on-write: unchanged
    columns are shared, not copied).

    ``price_tolerance`` (absolute, e.g. half a tick) lets a float column that
    is not float32-exact become float32 when every value moves by at most that
    much; ``price_columns`` limits it to those columns (default: every float
    column). Lossy only within the tolerance, and only when asked.

    :meth:`restore` casts back to the original dtypes: without a tolerance it
    equals ``df`` (``assert_frame_equal``).
    """

    __slots__ = ("_frame", "_original_dtypes", "_report", "_allocation", "__weakref__")

    def __init__(self, df: pd.DataFrame, *, category_threshold: float = DEFAULT_CATEGORY_THRESHOLD,
                 price_tolerance: float | None = None,
                 price_columns: Sequence[Hashable] | None = None) -> None:
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame; got {type(df).__name__}")
        threshold = _check_threshold(category_threshold)
        tolerance = _check_tolerance(price_tolerance)
        if price_columns is not None:
            if isinstance(price_columns, (str, bytes)) or not isinstance(price_columns, Sequence):
                raise TypeError("price_columns must be a sequence of column labels or None; "
                                f"got {type(price_columns).__name__}")
            missing = [c for c in price_columns if c not in df.columns]
            if missing:
                raise ValueError(f"price_columns {missing} are not columns of df; "
                                 f"columns: {list(df.columns)}")
        before = _frame_bytes(df)
        out = df.copy(deep=False)
        for i, name in enumerate(df.columns):
            tol = tolerance if (price_columns is None or name in price_columns) else None
            new = _optimize_series(df.iloc[:, i], threshold, tol)
            if new is not None:
                out.isetitem(i, new)
        self._frame = out
        self._original_dtypes = df.dtypes.copy()
        after = _frame_bytes(out)
        labels = ["Index", *df.columns]
        self._report = pd.DataFrame({
            "column": labels,
            "dtype_before": [str(df.index.dtype)] + [str(t) for t in df.dtypes],
            "dtype_after": [str(out.index.dtype)] + [str(t) for t in out.dtypes],
            "bytes_before": before.to_numpy(dtype=np.int64),
            "bytes_after": after.to_numpy(dtype=np.int64),
        })
        self._report["bytes_saved"] = self._report["bytes_before"] - self._report["bytes_after"]
        self._allocation = _track(self, int(after.sum()))

    @property
    def frame(self) -> pd.DataFrame:
        """The optimized DataFrame."""
        return self._frame

    @property
    def original_dtypes(self) -> pd.Series:
        """The input's column dtypes."""
        return self._original_dtypes.copy()

    def report(self) -> pd.DataFrame:
        """One row per column (and ``"Index"`` first): ``column``,
        ``dtype_before``, ``dtype_after``, ``bytes_before``, ``bytes_after``,
        ``bytes_saved`` (``memory_usage(deep=True)``)."""
        return self._report.copy()

    @property
    def bytes_before(self) -> int:
        """``memory_usage(deep=True).sum()`` of the input."""
        return int(self._report["bytes_before"].sum())

    @property
    def bytes_after(self) -> int:
        """``memory_usage(deep=True).sum()`` of :attr:`frame`."""
        return int(self._report["bytes_after"].sum())

    @property
    def bytes_saved(self) -> int:
        return self.bytes_before - self.bytes_after

    @property
    def nbytes(self) -> int:
        """Same as :attr:`bytes_after`."""
        return self.bytes_after

    def restore(self) -> pd.DataFrame:
        """:attr:`frame` cast back to the original dtypes."""
        return _cast_back(self._frame, self._original_dtypes)

    def __repr__(self) -> str:
        return (f"OptimizedDataFrame(shape={self._frame.shape}, bytes_before={self.bytes_before}, "
                f"bytes_after={self.bytes_after})")


def _cast_back(frame: pd.DataFrame, dtypes: pd.Series) -> pd.DataFrame:
    out = frame.copy(deep=False)
    for i, dtype in enumerate(dtypes):
        if out.dtypes.iloc[i] != dtype:
            out.isetitem(i, out.iloc[:, i].astype(dtype))
    return out


# -- CSV -----------------------------------------------------------------------------------

_LINE = re.compile(r"line (\d+)")


def _count_rows(path: str) -> int | None:
    """Newline count of an uncompressed file, less the header line: an upper
    bound of the data rows (a quoted newline or a blank line over-counts);
    ``None`` for compressed files."""
    if path.lower().endswith(_COMPRESSED):
        return None
    lines = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0)


def _int_codes_dtype(n_categories: int) -> np.dtype:
    """The codes dtype pandas uses for ``n_categories`` (so from_codes never copies)."""
    for dt in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.int64)


class _Column:
    """Accumulates one column across chunks: running statistics that decide
    the final dtype and, with ``store``, the values in a buffer of that dtype
    (widened in place when a chunk needs more).

    Modes: ``"num"`` (bool/int/float numpy), ``"time"`` (datetime64 /
    timedelta64), ``"cat"`` (strings as codes + categories), ``"str"``
    (strings kept as objects), ``"any"`` (anything else: pieces concatenated
    by pandas at the end).
    """

    def __init__(self, capacity: int, store: bool, optimize: bool, fixed: bool,
                 threshold: float, tolerance: float | None, rows_bound: int | None) -> None:
        self.capacity = capacity
        self.store = store
        self.optimize = optimize and not fixed
        self.fixed = fixed
        self.threshold = threshold
        self.tolerance = tolerance
        self.rows_bound = rows_bound
        self.mode: str | None = None
        self.orig: Any = None            # dtype pandas gives the whole column
        self.n = 0
        self.buf: np.ndarray | None = None
        # numeric statistics
        self.lo: int | None = None
        self.hi: int | None = None
        self.negative = False            # a negative int seen (int64 + uint64 -> uint64 only without)
        self.f32 = True
        # categories
        self.codes_of: dict[Any, int] = {}
        self.cats: list[Any] = []
        self.pieces: list[pd.Series] = []
        self.missing_seen = False

    # -- storage -----------------------------------------------------------------------
    def _ensure(self, dtype: np.dtype, extra: int) -> None:
        if not self.store:
            return
        need = self.n + extra
        if self.buf is None:
            self.buf = np.empty(max(self.capacity, need), dtype=dtype)
            return
        size = len(self.buf)
        if need > size:
            size = max(need, size + size // 2)
        if dtype != self.buf.dtype or size != len(self.buf):
            new = np.empty(size, dtype=dtype)
            new[:self.n] = self.buf[:self.n]
            self.buf = new

    def _put(self, values: np.ndarray) -> None:
        if self.store:
            assert self.buf is not None
            self.buf[self.n:self.n + len(values)] = values
        self.n += len(values)

    # -- modes -------------------------------------------------------------------------
    def _target(self) -> np.dtype:
        orig = np.dtype(self.orig)
        if not self.optimize or orig.kind not in "iuf":
            return orig
        lo, hi = self.lo, self.hi
        if orig.kind in "iu":
            if lo is None or hi is None:
                return _smallest_int(0, 0, orig.kind == "i")
            return _smallest_int(lo, hi, orig.kind == "i")
        # ints seen before the column turned float: float32 holds them exactly up to 2**24
        ints_exact = lo is None or hi is None or max(-lo, hi) <= 2 ** 24
        if orig.itemsize > 4 and self.f32 and ints_exact:
            return _FLOAT32
        return orig

    def _to_any(self) -> None:
        """Fall back to pandas' own concatenation (kept values become one piece)."""
        if self.mode not in (None, "any") and self.store and self.n:
            self.pieces = [pd.Series(self._finish_values(self.n), copy=False)]
        self.buf = None
        self.codes_of, self.cats = {}, []
        self.mode = "any"

    def add(self, col: pd.Series) -> None:
        dtype = col.dtype
        is_cat = isinstance(dtype, pd.CategoricalDtype)
        if self.mode in ("cat", "str") and not is_cat and isinstance(dtype, np.dtype) \
                and dtype.kind == "f" and not isinstance(self.orig, pd.CategoricalDtype) \
                and bool(col.isna().all()):
            col = col.astype(self.orig)         # an all-empty chunk of a string column
            dtype = col.dtype
        if is_cat or _is_stringlike(dtype):
            if self.mode is None:
                self.mode = "cat" if is_cat or (self.optimize and self.threshold > 0) else "str"
                self.orig = dtype
            if self.mode in ("cat", "str") and is_cat == isinstance(self.orig, pd.CategoricalDtype) \
                    and (is_cat or dtype == self.orig):
                self._add_strings(col)
                return
        elif isinstance(dtype, np.dtype) and dtype.kind in "biufmM" and (
                self.mode is None or (self.mode in ("num", "time") and self._compatible(dtype, col))):
            self._add_numbers(col.to_numpy(copy=False))
            return
        if self.mode != "any":
            self._to_any()
        if self.store:
            self.pieces.append(col.reset_index(drop=True))
        self.n += len(col)

    def _compatible(self, dtype: np.dtype, col: pd.Series) -> bool:
        a, b = np.dtype(self.orig), dtype
        if a.kind in "mM" or b.kind in "mM":
            return a.kind == b.kind
        if a.kind in "iu" and b.kind in "iu" and np.result_type(a, b).kind == "f":
            # int64 + uint64 chunks: exact as uint64 when no value is negative
            # (pandas reads the whole file so); otherwise pandas' own path
            return not self.negative and not (b.kind == "i" and len(col) and col.min() < 0)
        return (a.kind == "b") == (b.kind == "b")     # pandas: bool + number -> object

    def _add_numbers(self, values: np.ndarray) -> None:
        if self.mode is None:
            self.mode = "time" if values.dtype.kind in "mM" else "num"
            self.orig = values.dtype
        else:
            merged = np.result_type(self.orig, values.dtype)
            if merged.kind == "f" and np.dtype(self.orig).kind in "iu" and values.dtype.kind in "iu":
                merged = np.dtype(np.uint64)        # non-negative int64 + uint64 (see _compatible)
            self.orig = merged
        if values.dtype.kind == "i" and len(values) and not self.negative:
            self.negative = bool(values.min() < 0)
        if self.optimize and len(values):
            if values.dtype.kind in "iu":
                lo, hi = int(values.min()), int(values.max())
                self.lo = lo if self.lo is None else min(self.lo, lo)
                self.hi = hi if self.hi is None else max(self.hi, hi)
            elif values.dtype.kind == "f" and self.f32 and values.dtype.itemsize > 4:
                self.f32 = _float32_ok(values, self.tolerance)
        target = self._target()
        self._ensure(target, len(values))
        with np.errstate(over="ignore"):
            self._put(values)

    def _add_strings(self, col: pd.Series) -> None:
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy()
            uniques: Any = col.cat.categories
        elif self.mode == "cat":
            codes, uniques = pd.factorize(col, use_na_sentinel=True)
        else:
            self._ensure(np.dtype(object), len(col))
            self._put(col.to_numpy(dtype=object))
            return
        mapper = np.empty(len(uniques) + 1, dtype=np.int64)
        codes_of, cats = self.codes_of, self.cats
        for i, value in enumerate(uniques):
            code = codes_of.get(value)
            if code is None:
                code = codes_of[value] = len(cats)
                cats.append(value)
            mapper[i] = code
        mapper[-1] = -1
        if not self.missing_seen and len(codes) and codes.min() < 0:
            self.missing_seen = True
        self._ensure(_int_codes_dtype(len(cats)), len(col))
        self._put(mapper[codes])
        fixed_cat = isinstance(self.orig, pd.CategoricalDtype)
        if not fixed_cat and self.rows_bound is not None \
                and len(cats) + self.missing_seen >= self.threshold * self.rows_bound:
            self._to_strings()      # the share can only stay above the threshold

    def _to_strings(self) -> None:
        """Leave category mode: the codes so far become the strings."""
        kept = self._materialize(self.n) if (self.store and self.buf is not None) else None
        self.codes_of, self.cats = {}, []
        self.mode = "str"
        self.buf = None
        n, self.n = self.n, 0
        if kept is not None:
            self._ensure(np.dtype(object), n)
            self._put(kept)
        else:
            self.n = n

    def _materialize(self, n: int) -> np.ndarray:
        cats = np.empty(len(self.cats) + 1, dtype=object)
        cats[:-1] = self.cats
        cats[-1] = np.nan
        assert self.buf is not None
        return cats[self.buf[:n]]

    # -- result ------------------------------------------------------------------------
    def final_dtype(self) -> Any:
        """The dtype of the whole column (after :meth:`settle`)."""
        if self.mode in ("num", "time"):
            return self._target()
        if self.mode == "cat":
            return pd.CategoricalDtype(self._sorted_categories()[0])
        return self.orig

    def settle(self) -> None:
        """Decide category vs strings on the whole column's distinct share."""
        if self.mode == "cat" and not isinstance(self.orig, pd.CategoricalDtype):
            distinct = len(self.cats) + (1 if self.missing_seen else 0)
            if self.n == 0 or distinct >= self.threshold * self.n:
                self._to_strings()

    def _sorted_categories(self) -> tuple[pd.Index, np.ndarray | None]:
        """Categories sorted (as ``astype('category')`` orders them) and the
        old-code -> new-code map (``None`` when already sorted or unsortable)."""
        kind = self.orig.categories.dtype if isinstance(self.orig, pd.CategoricalDtype) else self.orig
        index = pd.Index(self.cats, dtype=kind if kind != np.dtype(object) else None)
        if isinstance(self.orig, pd.CategoricalDtype) and self.orig.ordered:
            return index, None
        try:
            order = index.argsort()
        except TypeError:
            return index, None
        if (order == np.arange(len(order))).all():
            return index, None
        rank = np.empty(len(order) + 1, dtype=np.int64)
        rank[order] = np.arange(len(order))
        rank[-1] = -1
        return index[order], rank

    def _finish_values(self, n: int) -> Any:
        if self.mode == "any":
            if not self.pieces:
                return np.empty(0, dtype=object)
            return pd.concat(self.pieces, ignore_index=True).array
        if self.mode is None:
            return np.empty(0, dtype=object)
        buf = self.buf if self.buf is not None else np.empty(0, dtype=self.final_dtype()
                                                                if self.mode != "cat" else np.int8)
        values = buf[:n] if len(buf) == n else buf[:n].copy()
        if self.mode in ("num", "time"):
            return values
        if self.mode == "str":
            return pd.array(values, dtype=self.orig) if self.orig != np.dtype(object) else values
        categories, rank = self._sorted_categories()
        if rank is not None:
            step = 1 << 20
            for start in range(0, n, step):       # remap in blocks: no n-sized temporary
                values[start:start + step] = rank[values[start:start + step]]
        ordered = isinstance(self.orig, pd.CategoricalDtype) and bool(self.orig.ordered)
        return pd.Categorical.from_codes(values, dtype=pd.CategoricalDtype(categories, ordered))

    def finish(self) -> Any:
        self.settle()
        values = self._finish_values(self.n)
        self.buf = None
        self.pieces = []
        return values


def _check_path(path: Any) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}")
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError("path must be a str path, not bytes")
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "CSV file not found", path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "path is a directory, not a CSV file", path)
    return path


def _check_int(value: Any, name: str, low: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        accepted = f"an int >= {low}" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {accepted}; got {type(value).__name__}")
    if value < low:
        accepted = f"an int >= {low}" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {accepted}; got {value!r}")
    return int(value)


def _header(path: str, sep: str) -> list[Any]:
    try:
        return list(pd.read_csv(path, sep=sep, nrows=0, engine="c").columns)
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"CSV file {path!r} is empty: no header row to read columns from") from exc
    except pd.errors.ParserError as exc:
        raise _parser_error(path, exc) from exc


def _parser_error(path: str, exc: Exception) -> ValueError:
    match = _LINE.search(str(exc))
    where = f" at line {match.group(1)}" if match else ""
    detail = str(exc).replace("Error tokenizing data. C error: ", "")
    return ValueError(f"malformed row in CSV file {path!r}{where}: {detail}")


def _validate_columns(path: str, header: list[Any], usecols: Any, dtype: Any, parse_dates: Any,
                      index_col: Any) -> None:
    names = set(header)

    def check(label: Any, param: str) -> None:
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool) and param != "dtype":
            if not 0 <= label < len(header):
                raise ValueError(f"{param}: column position {label} is out of range for CSV file "
                                 f"{path!r} ({len(header)} columns: {header})")
        elif label not in names:
            raise ValueError(f"{param}: column {label!r} is not in CSV file {path!r}; "
                             f"columns: {header}")

    if usecols is not None and not callable(usecols):
        if isinstance(usecols, (str, bytes)) or not isinstance(usecols, (Sequence, set, pd.Index, np.ndarray)):
            raise TypeError(f"usecols must be a list of column names or positions, a callable or "
                            f"None; got {type(usecols).__name__}")
        for label in usecols:
            check(label, "usecols")
    if isinstance(dtype, dict):
        for label in dtype:
            check(label, "dtype")
    if parse_dates not in (None, False, True):
        if isinstance(parse_dates, (str, bytes)) or not isinstance(parse_dates, (Sequence, pd.Index)):
            raise TypeError(f"parse_dates must be a list of column names or positions, a bool or "
                            f"None; got {type(parse_dates).__name__}")
        for label in parse_dates:
            check(label, "parse_dates")
    if index_col not in (None, False):
        for label in (index_col if isinstance(index_col, (list, tuple)) else [index_col]):
            check(label, "index_col")


def _reader(path: str, chunksize: int | None, max_rows: int | None, usecols: Any, dtype: Any,
            parse_dates: Any, sep: str, index_col: Any) -> Any:
    return pd.read_csv(path, sep=sep, chunksize=chunksize, nrows=max_rows, usecols=usecols,
                       dtype=dtype, parse_dates=parse_dates, index_col=index_col, engine="c")


def _chunks(path: str, reader: Any) -> Iterator[pd.DataFrame]:
    with reader:
        while True:
            try:
                chunk = next(reader)
            except StopIteration:
                return
            except pd.errors.ParserError as exc:
                raise _parser_error(path, exc) from exc
            yield chunk


def _fixed(dtype: Any, label: Any) -> bool:
    """Did the caller fix this column's dtype (then it is kept as given)?"""
    if dtype is None:
        return False
    if isinstance(dtype, dict):
        return label in dtype
    return True


def _scan(path: Any, chunksize: Any, max_rows: int | None, optimize: bool, usecols: Any,
          dtype: Any, parse_dates: Any, sep: str, category_threshold: Any, price_tolerance: Any,
          price_columns: Any, index_col: Any, store: bool,
          ) -> tuple[list[Any], list[_Column], list[pd.Index] | None]:
    path = _check_path(path)
    chunksize = _check_int(chunksize, "chunksize", 1)                       # type: ignore[assignment]
    max_rows = _check_int(max_rows, "max_rows", 0, allow_none=True)
    if not isinstance(optimize, bool):
        raise TypeError(f"optimize must be a bool; got {type(optimize).__name__}")
    if not isinstance(sep, str) or not sep:
        raise TypeError(f"sep must be a non-empty str; got {sep!r}")
    threshold = _check_threshold(category_threshold)
    tolerance = _check_tolerance(price_tolerance)
    header = _header(path, sep)
    _validate_columns(path, header, usecols, dtype, parse_dates, index_col)
    if price_columns is not None:
        unknown = [c for c in price_columns if c not in header]
        if unknown or isinstance(price_columns, str):
            raise ValueError(f"price_columns: columns {unknown or [price_columns]} are not in CSV "
                             f"file {path!r}; columns: {header}")
    bound = _count_rows(path)
    capacity = bound if bound is not None else 0
    if max_rows is not None:
        capacity = min(capacity, max_rows) if bound is not None else max_rows
        bound = capacity if bound is None else min(bound, max_rows)
    names: list[Any] = []
    columns: list[_Column] = []
    index: list[pd.Index] = []               # the chunks' indexes (RangeIndex pieces merge back)
    reader = _reader(path, chunksize, max_rows, usecols, dtype, parse_dates, sep, index_col)
    for chunk in _chunks(path, reader):
        if store:
            index.append(chunk.index)
        if not columns:
            names = list(chunk.columns)
            columns = [_Column(capacity, store, optimize, _fixed(dtype, name), threshold,
                               tolerance if (price_columns is None or name in price_columns) else None,
                               bound) for name in names]
        for i, column in enumerate(columns):
            column.add(chunk.iloc[:, i])
        del chunk
    if not columns:                         # a header without rows
        return [], [], None
    return names, columns, index


def load_csv(path: str | os.PathLike[str], chunksize: int = DEFAULT_CHUNKSIZE,
             max_rows: int | None = None, optimize: bool = True, usecols: Any = None,
             dtype: Any = None, parse_dates: Any = None, *, sep: str = ",",
             category_threshold: float = DEFAULT_CATEGORY_THRESHOLD,
             price_tolerance: float | None = None, price_columns: Sequence[Hashable] | None = None,
             index_col: Any = None, iterator: bool = False) -> Any:
    """Read a CSV file in chunks into one memory-optimized DataFrame.

    ``path``: an existing file (compressed files by suffix as pandas infers).
    ``chunksize`` rows are parsed at a time by the pandas C engine;
    ``max_rows`` stops after that many data rows; ``usecols``, ``dtype``,
    ``parse_dates``, ``sep`` and ``index_col`` mean what they mean to
    ``pd.read_csv`` (an index, given or implicit, is kept as pandas parses it,
    not optimized).

    With ``optimize`` (default) each column gets the smallest dtype that holds
    the whole column exactly: integers the smallest integer type holding the
    file's minimum and maximum, floats float32 only when every value is
    float32-exact (or within ``price_tolerance`` for ``price_columns``),
    string columns ``category`` (sorted union of the categories) when their
    distinct share is under ``category_threshold``. Columns whose ``dtype`` the
    caller gives keep it. ``optimize=False`` returns what ``pd.read_csv`` does
    with the same parameters. Casting the optimized frame back to those dtypes
    gives that frame exactly.

    Memory: the rows are counted first (a binary newline count), each column
    is a preallocated buffer of its final dtype that every chunk is copied
    into, so the peak is about the result plus one parsed chunk.

    ``iterator=True`` returns :func:`iter_csv` instead.

    Raises ``FileNotFoundError`` (missing file), ``ValueError`` (empty file,
    malformed row with its line number, a column of ``usecols`` /
    ``dtype`` / ``parse_dates`` / ``price_columns`` not in the file, bad
    parameter values), ``TypeError`` (parameters of the wrong type).
    """
    if iterator:
        return iter_csv(path, chunksize, max_rows, optimize, usecols, dtype, parse_dates, sep=sep,
                        category_threshold=category_threshold, price_tolerance=price_tolerance,
                        price_columns=price_columns, index_col=index_col)
    names, columns, index = _scan(path, chunksize, max_rows, optimize, usecols, dtype, parse_dates,
                                  sep, category_threshold, price_tolerance, price_columns,
                                  index_col, store=True)
    if not columns:                          # a header without rows: pandas' own empty frame
        return _reader(os.fspath(path), None, 0, usecols, dtype, parse_dates, sep, index_col)
    data: dict[Any, Any] = {}
    for name, column in zip(names, columns):
        data[name] = column.finish()         # one column at a time: trims free as they go
    frame = pd.DataFrame(data, copy=False)
    frame.index = index[0].append(index[1:]) if len(index) > 1 else index[0]
    return frame


def iter_csv(path: str | os.PathLike[str], chunksize: int = DEFAULT_CHUNKSIZE,
             max_rows: int | None = None, optimize: bool = True, usecols: Any = None,
             dtype: Any = None, parse_dates: Any = None, *, sep: str = ",",
             category_threshold: float = DEFAULT_CATEGORY_THRESHOLD,
             price_tolerance: float | None = None, price_columns: Sequence[Hashable] | None = None,
             index_col: Any = None) -> Iterator[pd.DataFrame]:
    """Yield the file as optimized chunks of ``chunksize`` rows, every chunk in
    the same dtypes (those :func:`load_csv` gives the whole file: a category
    column has all the file's categories in every chunk).

    Two passes: the first reads the file to settle the dtypes (keeping only
    statistics and the categories), the second yields the chunks cast to them;
    memory stays about one chunk. Same parameters and errors as
    :func:`load_csv` (parameters and columns are checked at the call, before
    the first chunk).  The chunks' index continues across chunks, as pandas'.
    """
    names, columns, _ = _scan(path, chunksize, max_rows, optimize, usecols, dtype, parse_dates,
                              sep, category_threshold, price_tolerance, price_columns, index_col,
                              store=False)
    path = os.fspath(path)
    for column in columns:
        column.settle()
    targets = [column.final_dtype() if column.mode != "any" else None for column in columns]

    def generate() -> Iterator[pd.DataFrame]:
        reader = _reader(path, chunksize, max_rows, usecols, dtype, parse_dates, sep, index_col)
        for chunk in _chunks(path, reader):
            out = chunk.copy(deep=False)
            for i, target in enumerate(targets):
                if target is not None and out.dtypes.iloc[i] != target:
                    with np.errstate(over="ignore"):
                        out.isetitem(i, out.iloc[:, i].astype(target))
            yield out

    return generate()

