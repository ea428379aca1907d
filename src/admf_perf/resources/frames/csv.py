"""Chunked CSV loading: :func:`load_csv` and :func:`iter_csv` read a CSV in
chunks with the pandas C parser, optimizing as they go, with dtypes that hold
the whole file (an int column is one dtype, a category column has the union of
the categories).  ``load_csv`` counts the rows first and fills preallocated
columns, so its peak memory is the optimized result plus one chunk.

Every rule, default and choice is documented in ``docs/frames.md``.
"""
from __future__ import annotations

import errno
import os
import re
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..._validate import check_bool, check_int, check_path, check_real, check_str
from .downcast import (
    _FLOAT32,
    DEFAULT_CATEGORY_THRESHOLD,
    _check_threshold,
    _float32_ok,
    _is_stringlike,
    _smallest_int,
)

__all__ = ["DEFAULT_CHUNKSIZE", "iter_csv", "load_csv"]

#: Rows per chunk of :func:`load_csv` / :func:`iter_csv`.
DEFAULT_CHUNKSIZE = 50_000

_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar", ".tgz")

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


@dataclass(frozen=True)
class _Read:
    """What is passed to ``pd.read_csv`` for every pass over a file."""

    sep: str
    usecols: Any
    dtype: Any
    parse_dates: Any
    index_col: Any
    names: Any

    def reader(self, path: str, chunksize: int | None, nrows: int | None) -> Any:
        return pd.read_csv(path, sep=self.sep, chunksize=chunksize, nrows=nrows, usecols=self.usecols,
                           dtype=self.dtype, parse_dates=self.parse_dates, index_col=self.index_col,
                           names=self.names, header=0 if self.names is not None else "infer", engine="c")

    def header(self, path: str) -> list[Any]:
        """The column names: ``names``, or the file's header row."""
        try:
            found = list(pd.read_csv(path, sep=self.sep, nrows=0, engine="c").columns)
        except pd.errors.EmptyDataError as exc:
            raise ValueError(f"CSV file {path!r} is empty: no header row to read columns from") from exc
        except pd.errors.ParserError as exc:
            raise _parser_error(path, exc) from exc
        return found if self.names is None else list(self.names)


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


def _scan(path: Any, chunksize: Any, max_rows: int | None, optimize: bool, read: _Read,
          category_threshold: Any, price_tolerance: Any, price_columns: Any, store: bool,
          ) -> tuple[list[Any], list[_Column], list[pd.Index] | None]:
    path = check_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "CSV file not found", path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "path is a directory, not a CSV file", path)
    chunksize = check_int(chunksize, "chunksize", minimum=1)
    max_rows = check_int(max_rows, "max_rows", minimum=0, allow_none=True)
    check_bool(optimize, "optimize")
    check_str(read.sep, "sep", nonempty=True)
    if read.names is not None and (isinstance(read.names, (str, bytes)) or not isinstance(read.names, Sequence)):
        raise TypeError(f"names must be a list of column names or None; got {type(read.names).__name__}")
    threshold = _check_threshold(category_threshold)
    tolerance = check_real(price_tolerance, "price_tolerance", minimum=0, allow_none=True, what="a finite number")
    if price_columns is not None and (isinstance(price_columns, (str, bytes))
                                      or not isinstance(price_columns, Iterable)):
        raise TypeError(f"price_columns must be a sequence of column labels or None, "
                        f"got {type(price_columns).__name__}")
    header = read.header(path)
    _validate_columns(path, header, read.usecols, read.dtype, read.parse_dates, read.index_col)
    if price_columns is not None:
        unknown = [c for c in price_columns if c not in header]
        if unknown:
            raise ValueError(f"price_columns: columns {unknown} are not in CSV "
                             f"file {path!r}; columns: {header}")
    bound = _count_rows(path)
    capacity = bound if bound is not None else 0
    if max_rows is not None:
        capacity = min(capacity, max_rows) if bound is not None else max_rows
        bound = capacity if bound is None else min(bound, max_rows)
    names: list[Any] = []
    columns: list[_Column] = []
    index: list[pd.Index] = []               # the chunks' indexes (RangeIndex pieces merge back)
    for chunk in _chunks(path, read.reader(path, chunksize, max_rows)):
        if store:
            index.append(chunk.index)
        if not columns:
            names = list(chunk.columns)
            columns = [_Column(capacity, store, optimize, _fixed(read.dtype, name), threshold,
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
             index_col: Any = None, names: Sequence[Hashable] | None = None, iterator: bool = False) -> Any:
    """Read a CSV file in chunks into one memory-optimized DataFrame.

    ``path``: an existing file (compressed files by suffix as pandas infers).
    ``chunksize`` rows are parsed at a time by the pandas C engine;
    ``max_rows`` stops after that many data rows; ``usecols``, ``dtype``,
    ``parse_dates``, ``sep`` and ``index_col`` mean what they mean to
    ``pd.read_csv`` (an index, given or implicit, is kept as pandas parses it,
    not optimized); ``names`` replaces the file's header row (pandas'
    ``names=...`` with ``header=0``).

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
                        price_columns=price_columns, index_col=index_col, names=names)
    read = _Read(sep, usecols, dtype, parse_dates, index_col, names)
    labels, columns, index = _scan(path, chunksize, max_rows, optimize, read, category_threshold,
                                   price_tolerance, price_columns, store=True)
    if not columns:                          # a header without rows: pandas' own empty frame
        return read.reader(os.fspath(path), None, 0)
    data: dict[Any, Any] = {}
    for name, column in zip(labels, columns, strict=True):
        data[name] = column.finish()         # one column at a time: trims free as they go
    frame = pd.DataFrame(data, copy=False)
    frame.index = index[0].append(index[1:]) if len(index) > 1 else index[0]
    return frame


def iter_csv(path: str | os.PathLike[str], chunksize: int = DEFAULT_CHUNKSIZE,
             max_rows: int | None = None, optimize: bool = True, usecols: Any = None,
             dtype: Any = None, parse_dates: Any = None, *, sep: str = ",",
             category_threshold: float = DEFAULT_CATEGORY_THRESHOLD,
             price_tolerance: float | None = None, price_columns: Sequence[Hashable] | None = None,
             index_col: Any = None, names: Sequence[Hashable] | None = None) -> Iterator[pd.DataFrame]:
    """Yield the file as optimized chunks of ``chunksize`` rows, every chunk in
    the same dtypes (those :func:`load_csv` gives the whole file: a category
    column has all the file's categories in every chunk).

    Two passes: the first reads the file to settle the dtypes (keeping only
    statistics and the categories), the second yields the chunks cast to them;
    memory stays about one chunk. Same parameters and errors as
    :func:`load_csv` (parameters and columns are checked at the call, before
    the first chunk).  The chunks' index continues across chunks, as pandas'.
    """
    read = _Read(sep, usecols, dtype, parse_dates, index_col, names)
    _, columns, _ = _scan(path, chunksize, max_rows, optimize, read, category_threshold, price_tolerance,
                          price_columns, store=False)
    path = os.fspath(path)
    for column in columns:
        column.settle()
    targets = [column.final_dtype() if column.mode != "any" else None for column in columns]

    def generate() -> Iterator[pd.DataFrame]:
        for chunk in _chunks(path, read.reader(path, chunksize, max_rows)):
            out = chunk.copy(deep=False)
            for i, target in enumerate(targets):
                if target is not None and out.dtypes.iloc[i] != target:
                    with np.errstate(over="ignore"):
                        out.isetitem(i, out.iloc[:, i].astype(target))
            yield out

    return generate()

