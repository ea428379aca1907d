"""Lossless downcasts: the dtype rules, :class:`MemoryOptimizedArray` and
:class:`OptimizedDataFrame` (every rule, default and choice: ``docs/frames.md``).

* :class:`MemoryOptimizedArray`: a numpy array downcast to the smallest dtype
  that holds every value exactly (never lossy).
* :class:`OptimizedDataFrame`: the same for every numeric column of a
  DataFrame, low-cardinality string columns to ``category``, a report of the
  bytes before and after per column.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..._validate import check_real
from ..memory import MemoryManager

__all__ = [
    "DEFAULT_CATEGORY_THRESHOLD",
    "MemoryOptimizedArray",
    "OptimizedDataFrame",
    "optimal_dtype",
]

#: A string column becomes ``category`` when its distinct values (NaN counts as
#: one) are fewer than this share of its rows.
DEFAULT_CATEGORY_THRESHOLD = 0.5

#: Integer dtypes by size; a tie in size goes to the input's signedness.
_INTS = tuple(np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.uint16,
                                    np.int32, np.uint32, np.int64, np.uint64))
_FLOAT32 = np.dtype(np.float32)


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


def _check_threshold(value: Any) -> float:
    """``category_threshold``: a share in [0, 1] (0 turns categories off)."""
    share: float = check_real(value, "category_threshold", what="a number in [0, 1]")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"category_threshold must be in [0, 1] (0 turns categories off), got {share!r}")
    return share


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
        tolerance = check_real(tolerance, "tolerance", minimum=0, allow_none=True, what="a finite number")
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
    return dtype == np.dtype(object) or isinstance(dtype, pd.StringDtype)


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
        tolerance = check_real(price_tolerance, "price_tolerance", minimum=0, allow_none=True,
                               what="a finite number")
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
