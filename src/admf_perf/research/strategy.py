"""Your backtesting.py strategy, unchanged, on a faster engine.

``Strategy``, ``Backtest`` and ``crossover`` implement the subset of
backtesting.py 0.6 that most strategies use, with its exact semantics (the
same fills, trades, equity curve and statistics, within 1e-9): change
``from backtesting import Backtest, Strategy`` to
``from admf_perf import Backtest, Strategy`` and nothing else.

What is supported, what is refused and why: ``docs/strategies.md``.  In short:
market orders (``buy``/``sell`` with ``size`` a fraction of equity or whole
units, ``position.close()``, ``trade.close(portion)``), ``exclusive_orders``,
``trade_on_close``, ``finalize_trades``, a commission (relative, ``(fixed,
relative)`` or a callable as backtesting.py's); limit, stop, stop-loss and
take-profit orders, hedging, margin and spread raise ``NotImplementedError``
naming the feature.

Where the time goes in backtesting.py, and what this engine does instead:

- every bar it re-slices every data column and indicator through a Python
  ``__array_finalize__``; here a revealed array is a plain view of an ndarray
  subclass whose name lives on its root (no Python code per slice), and a
  data column is sliced only when the strategy reads it;
- every bar its broker clears three cached properties and sums the open
  trades; here the position's size and cost are summed again only when a
  trade opens or closes, with the same expressions (so the same floats);
- its statistics resample the equity curve with pandas and find each
  drawdown's peak with ``DataFrame.apply``; here both are numpy passes
  (pandas stays for the calendar cases it alone gets right);
- ``optimize`` caches every ``self.I`` series in a :class:`~admf_perf.Cache`
  keyed by the function, its arguments and the data, so a grid computes each
  distinct indicator once (:attr:`Backtest.indicator_cache_stats`).
"""
from __future__ import annotations

import hashlib
import sys
import warnings
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Sequence
from difflib import get_close_matches
from itertools import chain, product, repeat
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

from ..caching import Cache, CacheStrategy
from . import _broker, _revealed
from ._broker import Order, Position, Trade, _BadArgument, _refuse
from ._grid import _AttrDict, _run_grid, random_subset
from ._revealed import (
    _MISSING,
    _OHLCV,
    _Array,
    _as_str,
    _call_indicator,
    _callable_key,
    _Data,
    _fresh_indicator_batch,
    _Indicator,
    _indicator_attrs,
    _missing,
    _warmup_bars,
    column_array,
    crossover,
    update_columns,
)

__all__ = ["Backtest", "Order", "Position", "Strategy", "Trade", "crossover"]


class _FullEquity(float):
    def __repr__(self) -> str:
        return ".9999"


class Strategy(metaclass=ABCMeta):
    """Subclass this and define ``init()`` and ``next()``, as for
    backtesting.py's ``Strategy``; parameters are class attributes.

    ``self.data`` (the data revealed up to the current bar) and
    ``self.position`` (the open position) are plain attributes of the
    instance, set when it is made, where backtesting.py has read-only
    properties: a strategy reads them every bar, and an attribute is a load
    where a property is a Python call (about 0.1 us each; the interpreter
    specializes a load only when the class has no attribute of that name).
    Do not assign them."""

    _FULL_EQUITY = _FullEquity(1 - sys.float_info.epsilon)

    def __init__(self, broker: Any, data: _Data, params: dict[str, Any]) -> None:
        self._indicators: list[_Indicator] = []
        self._broker = broker
        self._data = data
        self.data: _Data = data
        self.position: Position = broker.position
        self._params = self._check_params(params)

    def __repr__(self) -> str:
        return "<Strategy " + str(self) + ">"

    def __str__(self) -> str:
        params = ",".join(f"{k}={_as_str(v)}" for k, v in self._params.items())
        return f"{self.__class__.__name__}({params})" if params else self.__class__.__name__

    def _check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        for k, v in params.items():
            if k in _SHOWN:     # backtesting.py's are properties with no setter: an AttributeError
                raise AttributeError(f"'{k}' is what the engine shows the strategy (self.{k}), not a parameter "
                                     f"of Strategy '{self.__class__.__name__}': give the parameter another name")
            if not hasattr(self, k):
                suggestions = get_close_matches(k, (a for a in dir(self) if not a.startswith("_")))
                hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
                raise AttributeError(
                    f"Strategy '{self.__class__.__name__}' is missing parameter '{k}'. "
                    "Strategy class should define parameters as class variables before they "
                    "can be optimized or run with." + hint)
            setattr(self, k, v)
        return params

    def I(self, func: Callable[..., Any], *args: Any, name: Any = None, plot: bool = True,  # noqa: E743
          overlay: Any = None, color: Any = None, scatter: bool = False, **kwargs: Any) -> Any:
        """Declare an indicator: ``func(*args, **kwargs)`` returning one array
        as long as the data (or a tuple of them, or a DataFrame), revealed bar
        by bar in ``next()`` like ``self.data``.  Within ``Backtest.optimize``
        (and repeated runs of one Backtest) the result is cached by function,
        arguments and data."""
        def _format_name(name: str) -> str:
            return name.format(*map(_as_str, args),
                               **dict(zip(kwargs.keys(), map(_as_str, kwargs.values()), strict=True)))

        if name is None:
            params = ",".join(filter(None, map(_as_str, chain(args, kwargs.values()))))
            func_name = _as_str(func)
            name = f"{func_name}({params})" if params else f"{func_name}"
        elif isinstance(name, str):
            name = _format_name(name)
        elif isinstance(name, Sequence) and all(isinstance(item, str) for item in name):
            name = [_format_name(item) for item in name]
        else:
            raise TypeError(f"Unexpected `name=` type {type(name)}; expected `str` or `Sequence[str]`")

        n = len(self._data._df)
        value = self._broker_owner_call(func, args, kwargs, name)
        is_arraylike = bool(value is not None and value.shape)
        if is_arraylike and value.shape[0] == n:
            value = value.T
        if isinstance(name, list) and (np.atleast_2d(value).shape[0] != len(name)):
            raise ValueError(
                f"Length of `name=` ({len(name)}) must agree with the number "
                f"of arrays the indicator returns ({value.shape[0]}).")
        if not is_arraylike or not 1 <= value.ndim <= 2 or value.shape[-1] != n:
            raise ValueError(
                "Indicators must return (optionally a tuple of) numpy.arrays of same "
                f"length as `data` (data shape: {(n,)}; indicator \"{name}\" "
                f"shape: {getattr(value, 'shape', '')}, returned value: {value})")
        ind = _Indicator(value, name=name, plot=plot, overlay=overlay, color=color, scatter=scatter,
                         index=self._data._arrays["__index"])
        self._indicators.append(ind)
        return ind

    def _broker_owner_call(self, func: Callable[..., Any], args: tuple[Any, ...],
                           kwargs: dict[str, Any], name: Any) -> Any:
        backtest: Backtest | None = self._broker._backtest
        if backtest is not None:
            return backtest._indicator(func, args, kwargs, name)
        return _call_indicator(func, args, kwargs, name)

    @abstractmethod
    def init(self) -> None:
        """Declare indicators (``self.I``) and precompute what you can."""

    @abstractmethod
    def next(self) -> None:
        """Called once per bar, once ``self.data`` holds it."""

    def buy(self, *, size: float = _FULL_EQUITY, limit: float | None = None, stop: float | None = None,
            sl: float | None = None, tp: float | None = None, tag: object = None) -> Order:
        """A market order to buy: ``size`` a fraction of equity in (0, 1) or
        whole units >= 1.  Filled at the next bar's open (this bar's close
        with ``trade_on_close``)."""
        return self._order(size, limit, stop, sl, tp, tag, 1.0)

    def sell(self, *, size: float = _FULL_EQUITY, limit: float | None = None, stop: float | None = None,
             sl: float | None = None, tp: float | None = None, tag: object = None) -> Order:
        """A market order to sell (short): see :meth:`buy`."""
        return self._order(size, limit, stop, sl, tp, tag, -1.0)

    def _order(self, size: float, limit: Any, stop: Any, sl: Any, tp: Any, tag: object,
               sign: float) -> Order:
        if limit is not None:
            _refuse("a limit order (limit=)")
        if stop is not None:
            _refuse("a stop order (stop=)")
        if sl is not None:
            _refuse("a stop-loss order (sl=)")
        if tp is not None:
            _refuse("a take-profit order (tp=)")
        try:
            ok = 0 < size < 1 or round(size) == size >= 1
        except TypeError:
            ok = False
        if not ok:
            raise _BadArgument(
                f"size must be a positive fraction of equity, or a positive whole number of units, got {size!r}")
        return self._broker.new_order(sign * size, tag)

    # the core's getters (_install): cash plus the position at the close; the orders, trades, closed trades
    equity: float
    orders: tuple[Order, ...]
    trades: tuple[Trade, ...]
    closed_trades: tuple[Trade, ...]


_SHOWN = frozenset(("data", "position", "equity", "orders", "trades", "closed_trades"))  # never a parameter


def _install(core: Any, prefix: str = "") -> None:
    """Put ``core``'s hot paths in place (``_ext._strategy``; the tests also
    run its twin, ``_strategy_py``, with ``prefix="Twin"``): the revealed
    arrays' and the data's (``_revealed._install``), the broker's classes
    (``_broker._install``), and what a strategy reads every bar
    (``equity``, ``orders``, ``trades``, ``closed_trades``)."""
    _revealed._install(core)
    _broker._install(core, prefix)
    for name, doc in (("equity", "Cash plus the open position marked at the current close."),
                      ("orders", "The orders waiting for the next fill (a tuple)."),
                      ("trades", "The open trades (a tuple)."), ("closed_trades", "The closed trades (a tuple).")):
        setattr(Strategy, name, property(getattr(core, f"strategy_{name}"), doc=doc))


_install(_revealed._core)


#: The ``self.I`` cache's byte budget (least recently used out first).
INDICATOR_CACHE_BYTES = 256 * 2**20


def _indicator_cache() -> Cache:
    return Cache(max_size=None, strategy=CacheStrategy.LRU, name="Backtest.I",
                 max_bytes=INDICATOR_CACHE_BYTES)


def _same_view(view: np.ndarray, root: np.ndarray) -> bool:
    """``view`` is the whole of ``root``, in order (not a reversed or
    strided view of the same memory)."""
    return (view.shape == root.shape and view.strides == root.strides and view.dtype == root.dtype
            and view.__array_interface__["data"][0] == root.__array_interface__["data"][0])


class Backtest:
    """Backtest a :class:`Strategy` on OHLCV bars (backtesting.py's
    ``Backtest``, market orders only).

    ``data`` is a DataFrame with columns Open, High, Low, Close and
    (optionally) Volume, one row per bar, ideally on a DatetimeIndex.
    """

    def __init__(self, data: pd.DataFrame, strategy: type[Strategy], *, cash: float = 10_000,
                 commission: float | tuple[float, float] | Callable[[float, float], float] = 0.0,
                 exclusive_orders: bool = False, trade_on_close: bool = False,
                 finalize_trades: bool = False, spread: float = 0.0, margin: float = 1.0,
                 hedging: bool = False) -> None:
        if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
            raise TypeError("`strategy` must be an admf_perf.Strategy sub-type "
                            f"(a backtesting.py strategy: change its import), got {strategy!r}")
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"`data` must be a pandas.DataFrame with columns Open, High, Low, Close[, Volume], "
                            f"got {type(data).__name__}")
        if isinstance(cash, bool) or not isinstance(cash, Number) or not cash > 0:
            raise ValueError(f"cash must be a number > 0, got {cash!r}")
        if spread != 0:
            _refuse("a spread (spread=)")
        if margin != 1:
            _refuse("margin trading (margin=)")
        if hedging:
            _refuse("hedging (hedging=True)")
        self._commission = self._commission_func(commission)
        data = data.copy(deep=False)
        if (not isinstance(data.index, pd.DatetimeIndex) and not isinstance(data.index, pd.RangeIndex)
                and pd.api.types.is_numeric_dtype(data.index)
                and (data.index > pd.Timestamp("1975").timestamp()).mean() > .8):
            try:
                data.index = pd.to_datetime(data.index)
            except ValueError:
                pass
        if "Volume" not in data:
            data["Volume"] = np.nan
        if len(data) == 0:
            raise ValueError("OHLC `data` is empty")
        missing = [c for c in _OHLCV if c not in data.columns]
        if missing:
            raise ValueError("`data` must be a pandas.DataFrame with columns 'Open', 'High', 'Low', 'Close', "
                             f"and (optionally) 'Volume'; missing: {', '.join(missing)}")
        for col in _OHLCV[:4]:
            values = data[col].to_numpy()
            if pd.isnull(values).any() if values.dtype.kind not in "fiu" else (
                    values.dtype.kind == "f" and np.isnan(values).any()):
                raise ValueError(f"Some OHLC values are missing (NaN), in column {col!r}. Please strip those "
                                 "lines with `df.dropna()` or fill them in with `df.interpolate()` or whatever.")
        if np.any(data["Close"].to_numpy() > cash):
            warnings.warn("Some prices are larger than initial cash value. Note that fractional "
                          "trading is not supported by this class. If you want to trade Bitcoin, "
                          "increase initial cash, or trade μBTC or satoshis instead.", stacklevel=2)
        if not data.index.is_monotonic_increasing:
            warnings.warn("Data index is not sorted in ascending order. Sorting.", stacklevel=2)
            data = data.sort_index()
        if not isinstance(data.index, pd.DatetimeIndex):
            warnings.warn("Data index is not datetime. Assuming simple periods, "
                          "but `pd.DateTimeIndex` is advised.", stacklevel=2)
        self._data = data
        self._strategy = strategy
        self._cash = cash
        self._trade_on_close = bool(trade_on_close)
        self._exclusive_orders = bool(exclusive_orders)
        self._finalize_trades = bool(finalize_trades)
        self._results: pd.Series | None = None
        self._arrays: dict[str, _Array] | None = None
        self._indicator_cache = _indicator_cache()
        self._remote = [0, 0]
        self._uncached = 0

    @staticmethod
    def _commission_func(commission: Any) -> Callable[[float, float], float]:
        if callable(commission):
            return commission
        if isinstance(commission, bool) or not isinstance(commission, (Number, tuple)):
            raise TypeError("commission must be a float (a fraction of each fill's value), a tuple "
                            f"(fixed, relative) or a callable (size, price) -> cash, got {commission!r}")
        try:
            fixed, relative = commission
        except TypeError:
            fixed, relative = 0, commission
        if isinstance(relative, bool) or not isinstance(relative, Number) or not isinstance(fixed, Number):
            raise TypeError("commission must be a float (a fraction of each fill's value), a tuple "
                            f"(fixed, relative) or a callable (size, price) -> cash, got {commission!r}")
        if not fixed >= 0:
            raise ValueError(f"commission: the fixed part must be >= 0, got {fixed!r}")
        if not -.1 <= relative < .1:
            raise ValueError(f"commission should be between -10% (rebates) and 10% (fees), is {relative!r}")
        return _broker._Commission(fixed, relative)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_arrays"] = state["_prices"] = None     # made again where it runs
        state["_indicator_cache"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._indicator_cache = _indicator_cache()

    # -- the data, once per Backtest ------------------------------------------
    def _data_arrays(self) -> dict[str, _Array]:
        if self._arrays is None:
            df = self._data
            index = df.index.copy()
            arrays: dict[str, _Array] = {}
            for col, series in df.items():
                arrays[col] = column_array(series.to_numpy(), col, index)
            arrays["__index"] = index  # type: ignore[assignment]
            self._arrays = arrays
            self._prices = (arrays["Close"].tolist(), arrays["Open"].tolist())   # the broker's
            self._data_ids = {id(a): c for c, a in arrays.items() if c != "__index"}
        return self._arrays

    def _indicator_key(self, func: Callable[..., Any], args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
        """A key naming the indicator by its function, arguments and this
        Backtest's data, or None when an argument cannot name itself (then
        the indicator is computed, not cached)."""
        parts = [_fresh_indicator_batch(func) or _callable_key(func, self._arg_key),
                 *(self._arg_key(a) for a in args), *((k, self._arg_key(v)) for k, v in kwargs.items())]
        if any(_missing(p) for p in parts):
            return None
        key = tuple(parts)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def _arg_key(self, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            root = value.base if isinstance(value, _Array) and value.base is not None else value
            col = self._data_ids.get(id(root)) if self._arrays is not None else None
            if col is not None and (value is root or _same_view(value, root)):
                return ("data", col)
            if value.size > 1_000_000:
                return _MISSING
            digest = hashlib.blake2b(np.ascontiguousarray(value).tobytes(), digest_size=20).digest()
            return ("array", value.dtype.str, value.shape, digest)
        if isinstance(value, (pd.Series, pd.DataFrame)):
            return _MISSING
        if isinstance(value, (str, Number, type(None), bool)):
            return value
        if callable(value):
            return _callable_key(value, self._arg_key)
        if isinstance(value, tuple):
            keys = tuple(self._arg_key(v) for v in value)
            return _MISSING if _MISSING in keys else ("tuple", keys)
        return _MISSING

    def _indicator(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                   name: Any) -> Any:
        """``self.I`` through the cache; a hit is a fresh writable copy."""
        key = self._indicator_key(func, args, kwargs)
        if key is None:
            self._uncached += 1
            return _call_indicator(func, args, kwargs, name)
        value = self._indicator_cache.get(key, _MISSING)
        if value is _MISSING:
            value = _call_indicator(func, args, kwargs, name)
            if value is not None:
                stored = np.array(value)
                stored.setflags(write=False)
                self._indicator_cache.set(key, stored)
            return value
        return np.array(value)

    @property
    def indicator_cache_stats(self) -> dict[str, Any]:
        """The ``self.I`` cache of this Backtest's runs (worker processes
        included): ``hits``, ``misses``, ``hit_rate`` and ``uncached`` (calls
        whose arguments could not be keyed, e.g. a pandas Series)."""
        st = self._indicator_cache.stats()
        hits, misses = st.hits + self._remote[0], st.misses + self._remote[1]
        total = hits + misses
        return {"hits": hits, "misses": misses, "hit_rate": hits / total if total else 0.0,
                "uncached": self._uncached}

    # -- one run --------------------------------------------------------------
    def run(self, **kwargs: Any) -> pd.Series:
        """Run the strategy (``kwargs`` set its parameters) and return
        backtesting.py's statistics Series, for example (SmaCross on GOOG)::
            Start                     2004-08-19 00:00:00
            End                       2013-03-01 00:00:00
            Duration                   3116 days 00:00:00
            Exposure Time [%]                    96.74115
            Equity Final [$]                     51422.99
            Equity Peak [$]                      75787.44
            Commissions [$]                       0.00000
            Return [%]                           414.2299
            Buy & Hold Return [%]               703.45824
            Return (Ann.) [%]                    21.18026
            Volatility (Ann.) [%]                36.49391
            CAGR [%]                             14.15984
            Sharpe Ratio                          0.58038
            Sortino Ratio                         1.08479
            Calmar Ratio                          0.44144
            Alpha [%]                           394.37391
            Beta                                  0.03803
            Max. Drawdown [%]                   -47.98013
            Avg. Drawdown [%]                    -5.92585
            Max. Drawdown Duration      584 days 00:00:00
            Avg. Drawdown Duration       41 days 00:00:00
            # Trades                                   66
            Win Rate [%]                          46.9697
            Best Trade [%]                       53.59595
            Worst Trade [%]                     -18.39887
            Avg. Trade [%]                        2.53172
            Max. Trade Duration         183 days 00:00:00
            Avg. Trade Duration          46 days 00:00:00
            Profit Factor                         2.16795
            Expectancy [%]                        3.27481
            SQN                                   1.07662
            Kelly Criterion                       0.15187
            _strategy                            SmaCross
            _equity_curve                           Eq...
            _trades                       Size  EntryB...
        """
        self._results = self._run(kwargs, frames=True)
        return self._results

    def _run(self, kwargs: dict[str, Any], frames: bool, only: str | None = None) -> Any:
        """One run; its statistics Series, or with ``frames=False`` only the
        statistics as a dict (a grid's run: no frames built; ``only``: compute_stats')."""
        arrays = dict(self._data_arrays())
        n = len(self._data)
        data = _Data(self._data, arrays)  # copied (shallow) if init() reads data.df: it may add columns
        broker = _broker._Broker(*self._prices, arrays["__index"], self._cash,
                         self._commission, self._trade_on_close, self._exclusive_orders)
        broker._backtest = self
        strategy = self._strategy(broker, data, kwargs)
        strategy.init()
        broker._backtest = None
        df = data._df
        if data._df_own:    # init() read data.df: backtesting.py's data._update() takes its columns as they are now
            update_columns(df, arrays, data, broker)
        indicators = _indicator_attrs(strategy)
        flat = [(attr, ind) for attr, ind in indicators if ind.ndim == 1]
        stacked = [(attr, ind) for attr, ind in indicators if ind.ndim != 1]
        start = 1 + _warmup_bars(indicators)
        equity = np.full(n, np.nan)
        with np.errstate(invalid="ignore"):
            if _revealed._core.run_bars(strategy, data, broker, flat, stacked, start, n, equity, broker._close_list):
                if self._finalize_trades:
                    for trade in reversed(broker.trades):
                        trade.close()
                    if start < n:
                        broker.next(n - 1, equity)
                elif broker.trades:
                    warnings.warn("Some trades remain open at the end of backtest. Use "
                                  "`Backtest(..., finalize_trades=True)` to close them and "
                                  "include them in stats.", stacklevel=2)
            data._set_length(n)
            broker._bar[0] = max(n - 1, 0)     # the whole data shown: prices are the last bar's, as backtesting.py's
            from ._stats import _bfill, compute_stats
            eq = _bfill(equity, broker._cash)
            return compute_stats(broker.closed_trades, eq, df, arrays, strategy, start - 1, frames=frames, only=only)

    def plot(self, *args: Any, **kwargs: Any) -> Any:
        _refuse("Backtest.plot (charts)")  # charts are backtesting.py's

    # -- a grid ---------------------------------------------------------------
    def optimize(self, *, maximize: str | Callable[[pd.Series], float] = "SQN",
                 method: str = "grid", max_tries: int | float | None = None,
                 constraint: Callable[[Any], bool] | None = None, return_heatmap: bool = False,
                 return_optimization: bool = False, random_state: int | None = None, workers: int = 1,
                 **kwargs: Any) -> pd.Series | tuple[pd.Series, pd.Series]:
        """Run every parameter combination of ``kwargs`` (lists of values) and
        return the statistics of the best by ``maximize`` (a stats key, a risk
        metric such as ``"omega_ratio"``, or a callable of the stats), and the heatmap of every combination's score
        with ``return_heatmap``, as backtesting.py.  ``max_tries`` runs a
        random subset (a fraction in (0, 1] or a count), seeded by
        ``random_state`` as backtesting.py's; ``method="random"`` runs
        exactly ``max_tries`` of the admissible combinations, drawn without
        replacement before any run.  ``workers`` > 1 runs the
        combinations in that many processes (one copy of the data each)."""
        from ._stats import stat_score
        if not kwargs:
            raise ValueError("Need some strategy parameters to optimize")
        maximize_key = maximize if isinstance(maximize, str) else None
        if maximize_key is not None:  # a stats key, or a risk metric of the equity curve
            score: Callable[[Any], float] = stat_score(maximize_key, self._data)
        elif callable(maximize):
            score = maximize
        else:
            raise TypeError("`maximize` must be str (a field of backtest.run() result Series) or a "
                            "function that accepts result Series and returns a number")
        have_constraint = constraint is not None
        if constraint is None:
            def constraint(_: Any) -> bool:
                return True
        elif not callable(constraint):
            raise TypeError("`constraint` must be a function that accepts a dict of strategy "
                            "parameters and returns a bool")
        if return_optimization and method != "sambo":
            raise ValueError("return_optimization=True only valid if method='sambo'")
        if method in ("sambo", "skopt"):
            _refuse(f"optimize(method={method!r}) (model-based search)")
        if method not in ("grid", "random"):
            raise ValueError(f"method should be 'grid' or 'random', not {method!r}")
        if method == "random" and max_tries is None:
            raise ValueError("method='random' needs max_tries (a count, or a fraction of the grid)")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")

        def _tuple(x: Any) -> Sequence[Any]:
            if isinstance(x, np.ndarray) and x.ndim == 1:  # np.arange(...): its values (backtesting.py
                return x.tolist()                          # takes it as one unhashable value and fails)
            return x if isinstance(x, Sequence) and not isinstance(x, str) else (x,)

        for k, v in kwargs.items():
            if len(_tuple(v)) == 0:
                raise ValueError(f"Optimization variable '{k}' is passed no optimization values: {k}={v}")

        def _grid_size() -> int:
            size = int(np.prod([len(_tuple(v)) for v in kwargs.values()]))
            if size < 10_000 and have_constraint:
                size = sum(1 for p in product(*(zip(repeat(k), _tuple(v)) for k, v in kwargs.items()))
                           if constraint(_AttrDict(p)))
            return size

        if method == "random":  # exactly max_tries of the admissible combinations, seeded
            combos = random_subset([dict(params) for params in (
                _AttrDict(p) for p in product(*(zip(repeat(k), _tuple(v)) for k, v in kwargs.items())))
                if constraint(params)], max_tries, random_state)
        else:  # backtesting.py's: each combination kept with probability max_tries / size
            rand = np.random.default_rng(random_state).random
            grid_frac = (1 if max_tries is None else
                         max_tries if 0 < max_tries <= 1 else max_tries / _grid_size())
            combos = [dict(params) for params in (
                _AttrDict(p) for p in product(*(zip(repeat(k), _tuple(v)) for k, v in kwargs.items())))
                if constraint(params) and rand() <= grid_frac]
        if not combos:
            raise ValueError("No admissible parameter combinations to test")
        scores = _run_grid(self, combos, score, workers, key=maximize_key)
        heatmap = pd.Series(scores, name=maximize_key, dtype=float,
                            index=pd.MultiIndex.from_tuples([tuple(p.values()) for p in combos],
                                                            names=list(next(iter(combos)).keys())))
        if pd.isnull(heatmap).all():
            stats = self.run(**combos[0])
        else:
            best = heatmap.idxmax(skipna=True)
            stats = self.run(**dict(zip(heatmap.index.names, best, strict=True)))
        return (stats, heatmap) if return_heatmap else stats
