"""The arrays a strategy sees, revealed bar by bar (backtesting.py's
``_Array``, ``_Indicator`` and ``_Data``), and ``crossover``.

Part of :mod:`admf_perf.research.strategy` (semantics there and in
``docs/strategies.md``).
"""
from __future__ import annotations

import dis
import gc
import weakref
from collections.abc import Callable
from numbers import Number
from types import CodeType, FunctionType, ModuleType
from typing import Any

import numpy as np
import pandas as pd

from .. import _ext

__all__ = ["crossover"]

_OHLCV = ("Open", "High", "Low", "Close", "Volume")


class _Array(np.ndarray):
    """An ndarray with a ``name`` (and plotting options), as backtesting.py's.

    The name and options live on the array made by :meth:`_Array.__new__`
    (the root); a slice of it finds them through ``base``, so slicing runs no
    Python code (backtesting.py's ``__array_finalize__`` costs ~0.7 us per
    slice, and a backtest slices every indicator every bar).
    """

    def __new__(cls, array: Any, *, name: Any = None, **opts: Any) -> _Array:
        obj = np.asarray(array).view(cls)
        obj.__dict__["_meta"] = (name if name is not None else getattr(array, "name", None), opts)
        return obj

    def __array_wrap__(self, obj: Any, context: Any = None, return_scalar: bool = False) -> Any:
        """A ufunc's result (``self.sma * 1.01``, ``(data.High + data.Low) / 2``)
        keeps the name and options of its first such input, as backtesting.py's
        (whose ``__array_finalize__`` copies them); views need no copy (see
        the class)."""
        out = (super().__array_wrap__(obj, context, return_scalar) if return_scalar
               else super().__array_wrap__(obj, context))
        if isinstance(out, _Array) and "_meta" not in out.__dict__:
            out.__dict__["_meta"] = self._root_meta()
        return out

    def _root_meta(self) -> tuple[Any, dict[str, Any]]:
        meta = self.__dict__.get("_meta")
        if meta is None:
            base = self.base
            meta = base.__dict__.get("_meta") if isinstance(base, _Array) else None
        return meta if meta is not None else ("", {})

    @property
    def name(self) -> Any:
        return self._root_meta()[0]

    @name.setter
    def name(self, value: Any) -> None:
        self.__dict__["_meta"] = (value, self._root_meta()[1])

    @property
    def _opts(self) -> dict[str, Any]:
        return self._root_meta()[1]

    def __reduce__(self) -> Any:
        value = super().__reduce__()
        return value[:2] + (value[2] + (self._root_meta(),),)  # type: ignore[index,operator]

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_meta"] = state[-1]
        super().__setstate__(state[:-1])

    def __bool__(self) -> bool:
        try:
            return bool(self[-1])
        except IndexError:
            return super().__bool__()

    def __float__(self) -> float:
        try:
            return float(self[-1])
        except IndexError:
            return super().__float__()

    @property
    def s(self) -> pd.Series:
        """The values as a pandas Series on the data's index."""
        values = np.atleast_2d(self)
        index = self._opts["index"][: values.shape[1]]
        return pd.Series(np.asarray(values[0]), index=index, name=self.name)

    @property
    def df(self) -> pd.DataFrame:
        """The values as a DataFrame (one column per output) on the data's index."""
        values = np.atleast_2d(np.asarray(self))
        index = self._opts["index"][: values.shape[1]]
        return pd.DataFrame(values.T, index=index, columns=[self.name] * len(values))


class _Indicator(_Array):
    """What :meth:`Strategy.I` returns."""


class _Data:
    """``Strategy.data``: the OHLCV columns (and any other column) as numpy
    arrays, each as long as the bars revealed so far (``[-1]`` is the current
    bar).  In ``init()`` they are full length."""

    def __init__(self, df: pd.DataFrame, arrays: dict[str, _Array]) -> None:
        # the Backtest's frame until ``df`` is first read: then this run's
        # shallow copy (init() may add columns to it; the Backtest's stays)
        self._df = df
        self._df_own = False
        self._arrays = arrays
        # the bars revealed, in a one-item list: the compiled bar loop writes
        # it there (a list item, not an attribute: no setattr per bar)
        self._shown: list[int] = [len(df)]
        self._cache: dict[str, Any] = {}
        self._pip: float | None = None

    def _set_length(self, length: int) -> None:
        self._shown[0] = length
        self._cache.clear()

    def _get(self, key: str) -> Any:
        arr = self._cache.get(key)
        if arr is None:
            arr = self._cache[key] = self._arrays[key][: self._shown[0]]
        return arr

    def __getitem__(self, item: str) -> Any:
        return self._get(item)

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__"):
            raise AttributeError(item)
        try:
            return self._get(item)
        except KeyError:
            raise AttributeError(f"Column '{item}' not in data") from None

    # __len__ (the bars revealed) and the columns Open, High, Low, Close and
    # Volume (read-only, each the column revealed so far, from the bar's
    # cache) are the core's: _install

    def __repr__(self) -> str:
        i = min(self._shown[0], len(self._df)) - 1
        index = self._arrays["__index"][i]
        items = ", ".join(f"{k}={v}" for k, v in self._df.iloc[i].items())
        return f"<Data i={i} ({index}) {items}>"

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__ = state

    @property
    def df(self) -> pd.DataFrame:
        df = self._df
        if not self._df_own:
            df = self._df = df.copy(deep=False)
            self._df_own = True
        n = self._shown[0]
        return df.iloc[:n] if n < len(df) else df

    @property
    def pip(self) -> float:
        if self._pip is None:
            self._pip = float(10 ** -np.median([len(s.partition(".")[-1])
                                                 for s in self._arrays["Close"].astype(str)]))
        return self._pip

    @property
    def index(self) -> pd.Index:
        return self._get("__index")


def column_array(values: Any, name: str, index: pd.Index) -> _Array:
    """A data column as a run keeps it: a read-only copy, named, on the data's index."""
    values = np.array(values, copy=True)
    values.setflags(write=False)
    return _Array(values, name=name, index=index)


def update_columns(df: pd.DataFrame, arrays: dict[str, Any], data: _Data, broker: Any) -> None:
    """The columns ``init()`` added to ``data.df`` or changed in it, revealed
    like the others from then on (backtesting.py's ``data._update()``); a
    changed Close or Open is also what the broker fills and marks at."""
    for col in df.columns:
        values = df[col].to_numpy()
        old = arrays.get(col)
        if old is not None and values.dtype == old.dtype and values.shape == old.shape:
            try:
                if np.array_equal(values, old, equal_nan=values.dtype.kind in "fc"):
                    continue
            except TypeError:
                pass
        arrays[col] = column_array(values, col, arrays["__index"])
        if col == "Close":
            broker._close_list = arrays[col].tolist()
        elif col == "Open":
            broker._open_list = arrays[col].tolist()
    data._cache.clear()


#: The compiled hot paths (the bar loop, ``crossover``, ...), or their twin.
_core: Any = None


def _install(core: Any) -> None:
    """Put ``core``'s hot paths (``_ext._strategy``, or its twin in the tests
    that run both) in place: the bar loop, ``iter()`` of a revealed array (a
    2-D one's rows without the IndexError that ends ndarray's own iteration:
    ``upper, lower = self.bb``), ``len(data)`` and its OHLCV columns."""
    global _core
    _core = core
    core.set_array_types(_Array, _Indicator)
    _Array.__iter__ = core.array_iter  # type: ignore[method-assign,assignment]
    _Data.__len__ = core.data_len  # type: ignore[method-assign,assignment]
    for name in _OHLCV:
        setattr(_Data, name, core.Column(name))


_install(_ext.load("_strategy"))

#: backtesting.py's ``backtesting.lib.crossover``: True if ``series1`` just
#: crossed over (above) ``series2`` (compiled: two float64 arrays are read in C).
crossover = _core.crossover


def _as_str(value: Any) -> str:
    """The short label backtesting.py gives an indicator argument (its names
    appear in the trades' ``Entry_<name>`` columns)."""
    if isinstance(value, (Number, str)):
        return str(value)
    if isinstance(value, pd.DataFrame):
        return "df"
    name = str(getattr(value, "name", "") or "")
    if name in _OHLCV:
        return name[:1]
    if callable(value):
        name = getattr(value, "__name__", value.__class__.__name__).replace("<lambda>", "λ")
    if len(name) > 10:
        name = name[:9] + "…"
    return name


def _call_indicator(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                    name: Any) -> Any:
    try:
        value = func(*args, **kwargs)
    except Exception as e:
        raise RuntimeError(f'Indicator "{name}" error. See traceback above.') from e
    if isinstance(value, pd.DataFrame):
        value = value.values.T
    if value is not None:
        try:
            value = np.asarray(value, order="C")
        except Exception:
            value = None
    return value


def _warmup_bars(indicators: list[tuple[str, _Indicator]]) -> int:
    """The bars before every (non-scatter) indicator has a value."""
    return int(max((np.isnan(np.asarray(ind).astype(float)).argmin(axis=-1).max()
                    for _, ind in indicators if not ind._opts.get("scatter")), default=0))


#: Per strategy class: the attribute names its code (and its bases', nested
#: functions included) stores (``x.name = ...``), less the class's descriptors.
_STORED_NAMES: weakref.WeakKeyDictionary[type, tuple[str, ...]] = weakref.WeakKeyDictionary()


def _stored_names(cls: type) -> tuple[str, ...]:
    names = _STORED_NAMES.get(cls)
    if names is None:
        codes = [f.__code__ for klass in cls.__mro__ for f in vars(klass).values()
                 if isinstance(f, FunctionType)]
        seen: dict[str, None] = {}
        while codes:
            code = codes.pop()
            seen.update((ins.argval, None) for ins in dis.get_instructions(code) if ins.opname == "STORE_ATTR")
            codes += [c for c in code.co_consts if isinstance(c, CodeType)]
        names = _STORED_NAMES[cls] = tuple(n for n in seen if not hasattr(getattr(cls, n, None), "__get__"))
    return names


def _indicator_attrs(strategy: Any) -> list[tuple[str, _Indicator]]:
    """``(name, indicator)`` for every attribute of ``strategy`` that holds an
    indicator (what backtesting.py reads from ``__dict__``), found without
    reading ``__dict__``: on CPython 3.11 and 3.12 that turns the instance's
    attribute storage into a dict for good, and every ``self.x`` of the
    strategy's ``next()`` then takes the interpreter's slow path (about three
    times the cost of a load).  The names the class's code stores are tried;
    when the indicators the instance references directly are not exactly
    those (a name made at run time, ``setattr``), ``__dict__`` is read."""
    found = []
    for name in _stored_names(type(strategy)):
        try:
            value = object.__getattribute__(strategy, name)
        except AttributeError:
            continue
        if isinstance(value, _Indicator):
            found.append((name, value))
    referents = gc.get_referents(strategy)    # its attributes' values, or its dict
    held = sorted(id(r) for r in referents if isinstance(r, _Indicator))
    if held != sorted(id(v) for _, v in found) or any(
            type(r) is dict and any(isinstance(v, _Indicator) for v in r.values()) for r in referents):
        found = [(k, v) for k, v in vars(strategy).items() if isinstance(v, _Indicator)]
    return found


#: An argument of ``self.I`` that cannot name itself in a cache key.
_MISSING = object()


def _missing(part: Any) -> bool:
    return part is _MISSING or (type(part) is tuple and bool(part) and part[-1] is _MISSING)


def _callable_key(func: Any, arg_key: Callable[[Any], Any]) -> Any:
    """A callable as a part of an indicator's cache key.  A class, a builtin,
    a module's function or a method of a class or module is itself; a
    function made by other code (one ``init`` defines anew each run, or a
    factory's) is its code, module, defaults and the values it closes over,
    each named by ``arg_key``, so the next run's identical function finds the
    series.  ``_MISSING`` for a method bound to an object, and for a closure
    over anything that cannot name itself (a strategy, a Series, another
    closure): as a key it would keep that object alive, and never match."""
    owner = getattr(func, "__self__", None)
    if owner is not None and not isinstance(owner, (type, ModuleType)):
        return _MISSING
    if not isinstance(func, FunctionType) or (func.__closure__ is None and "<locals>" not in func.__qualname__):
        return func
    parts = []
    for cell in func.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:              # a cell not yet filled
            return _MISSING
        if isinstance(value, FunctionType) and (value.__closure__ or "<locals>" in value.__qualname__):
            return _MISSING             # no recursion into other made functions
        parts.append(arg_key(value))
    parts += [arg_key(d) for d in func.__defaults__ or ()]
    parts += [(k, arg_key(v)) for k, v in (func.__kwdefaults__ or {}).items()]
    if any(_missing(p) for p in parts):
        return _MISSING
    return ("function", func.__code__, func.__module__, tuple(parts))


def _fresh_indicator_batch(func: Any) -> tuple[Any, ...] | None:
    """``SMA(10).batch`` (any of this toolkit's indicator classes, new: no
    bar consumed, no source) named by its class and constructor arguments, so
    every run's new instance finds the same series; None for anything else."""
    owner = getattr(func, "__self__", None)
    if getattr(func, "__name__", "") != "batch" or owner is None:
        return None
    if not type(owner).__module__.startswith("admf_perf._ext._indicators") or getattr(owner, "count", 1) != 0:
        return None
    try:
        _, (name, ctor_args, state) = owner.__reduce__()
        if state[-1] is not None:          # composed with a source
            return None
        key = ("admf_perf indicator batch", type(owner), name, tuple(ctor_args))
        hash(key)
    except Exception:
        return None
    return key
