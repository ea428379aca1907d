"""Cached indicator series and strategy signals (exported by ``admf_perf.incremental``).

A strategy that asks for the same indicator series on the same bars and
parameters gets the cached array. Keys are cheap and never stale:

- the bars are keyed by ``bar_key``: their type, name or columns, length,
  first and last timestamp (index) and last row of values, so a new bar (a
  new last timestamp or length) or another series is a different key, without
  hashing every value;
- the parameters are keyed by ``CacheKey.generate_key`` (keyword order does
  not matter).

Arrays handed out from the cache are read-only, so no caller can change what
another one gets.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._validate import check_choice
from ..caching import Cache, CacheKey, CacheStrategy, cached
from .indicators import EMA, SMA, WMA

__all__ = ["CachedIndicator", "CachedMovingAverage", "bar_key", "cached_indicator",
           "cached_signal", "strategy_parameters"]


def _scalar(value: Any) -> Any:
    """A hashable stand-in for one value (NaN keys equal to NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, np.generic):
        return _scalar(value.item())
    return value


def bar_key(data: Any) -> tuple:
    """The cache key of a bar series: identity of the series and its last bar.

    ``data``: a pandas Series or DataFrame (its index gives the timestamps), a
    numpy array, a sequence, or a tuple of arrays (e.g. high, low, close).
    """
    if isinstance(data, tuple):
        return ("tuple",) + tuple(bar_key(part) for part in data)
    index = getattr(data, "index", None)
    if index is not None and hasattr(data, "iloc"):        # pandas
        n = len(data)
        names = (tuple(map(str, data.columns)) if hasattr(data, "columns")
                 else str(getattr(data, "name", None)))
        if n == 0:
            return ("pandas", names, 0)
        last = data.iloc[-1]
        last_values = (tuple(_scalar(v) for v in last.tolist()) if hasattr(data, "columns")
                       else _scalar(last))
        return ("pandas", names, n, _scalar(index[0]), _scalar(index[-1]), last_values)
    array = np.asarray(data)
    if array.ndim == 0:
        return ("scalar", _scalar(array.item()))
    n = len(array)
    if n == 0:
        return ("array", array.dtype.str, array.shape)
    first, last = array[0], array[-1]
    return ("array", array.dtype.str, array.shape,
            tuple(map(_scalar, np.atleast_1d(first).tolist())),
            tuple(map(_scalar, np.atleast_1d(last).tolist())))


def _readonly(result: Any) -> Any:
    if isinstance(result, np.ndarray):
        result = result.view()
        result.flags.writeable = False
        return result
    if isinstance(result, tuple):
        return tuple(_readonly(r) for r in result)
    return result


def _indicator_key(args: tuple, kwargs: dict) -> tuple:
    """Key of ``f(data, *params, **params)``: the bars' key and the parameters."""
    if not args:
        raise TypeError("a cached indicator takes the bar data as its first argument")
    return (bar_key(args[0]), CacheKey.generate_key(args[1:], kwargs))


def cached_indicator(max_size: int | None | Callable = 128,
                     strategy: CacheStrategy | str = CacheStrategy.LRU,
                     ttl: float | None = None, name: str | None = None) -> Any:
    """Cache a function ``f(data, *params, **params) -> array(s)`` by bars and parameters.

    Use bare or with arguments, like ``cached``. The results are read-only.
    """
    if callable(max_size):
        return cached_indicator()(max_size)

    def decorate(func: Callable) -> Any:
        @functools.wraps(func)
        def compute(*args: Any, **kwargs: Any) -> Any:
            return _readonly(func(*args, **kwargs))

        wrapper = cached(max_size, strategy, ttl, key_maker=_indicator_key,
                         name=name or f"{func.__module__}.{func.__qualname__}")(compute)
        return wrapper

    return decorate


class CachedIndicator:
    """An indicator class (``SMA``, ``RSI``, ``MACD`` ...) computed over whole bar series, cached.

    ``CachedIndicator(RSI, period=14)(closes)`` is ``RSI(14).batch(closes)``,
    computed once per series and parameters; call-time parameters override the
    constructor's: ``cached_rsi(closes, period=21)``. Inputs of multi-input
    indicators are given as separate arrays: ``CachedIndicator(ATR)(high, low, close)``.
    """

    def __init__(self, indicator: type, *, max_size: int | None = 128,
                 name: str | None = None, **params: Any) -> None:
        if not callable(getattr(indicator, "batch", None)):
            raise TypeError(f"indicator must be an indicator class with batch(); "
                            f"got {indicator!r}")
        self.indicator = indicator
        self.params = params
        self.cache = Cache(max_size, name=name or f"cached-{indicator.__name__}")

    def __call__(self, *series: Any, **params: Any) -> Any:
        merged = {**self.params, **params}
        key = (bar_key(series), CacheKey.generate_key((), merged))
        found = self.cache.get(key, _MISSING)
        if found is not _MISSING:
            return found
        result = _readonly(self.indicator(**merged).batch(*series))
        self.cache.set(key, result)
        return result

    def cache_info(self) -> Any:
        return self.cache.stats()


class CachedMovingAverage(CachedIndicator):
    """A cached simple (``kind="sma"``) or exponential (``"ema"``) moving average."""

    def __init__(self, period: int = 30, kind: str = "sma", *, max_size: int | None = 128,
                 name: str | None = None) -> None:
        classes = {"sma": SMA, "ema": EMA, "wma": WMA}
        check_choice(kind, "kind", sorted(classes))
        super().__init__(classes[kind], max_size=max_size, name=name, period=period)


_MISSING: Any = object()


def strategy_parameters(strategy: Any) -> Any:
    """The parameters of a strategy object, for a cache key.

    ``get_parameters()`` if it has one, else its ``parameters`` or ``params``
    attribute, else its public attributes whose values are scalars.
    """
    getter = getattr(strategy, "get_parameters", None)
    if callable(getter):
        return getter()
    for attribute in ("parameters", "params"):
        value = getattr(strategy, attribute, None)
        if value is not None and not callable(value):
            return value
    return {k: v for k, v in vars(strategy).items()
            if not k.startswith("_") and isinstance(v, (int, float, str, bool, type(None)))}


def cached_signal(max_size: int | None | Callable = 1024, name: str | None = None) -> Any:
    """Cache a strategy method ``signal(self, bars, *args, **kwargs)``.

    The key is the strategy's class, its parameters (``strategy_parameters``),
    the bars' key (a new bar is a new key) and the other arguments, so two
    strategies with equal parameters share results and a changed parameter is
    never served a stale signal. The cache does not keep strategies alive.
    """
    if callable(max_size):
        return cached_signal()(max_size)

    def decorate(method: Callable) -> Any:
        cache = Cache(max_size, name=name or f"{method.__module__}.{method.__qualname__}")

        @functools.wraps(method)
        def wrapper(self: Any, bars: Any, *args: Any, **kwargs: Any) -> Any:
            key = (type(self), CacheKey.generate_key((strategy_parameters(self),), None),
                   bar_key(bars), CacheKey.generate_key(args, kwargs))
            found = cache.get(key, _MISSING)
            if found is not _MISSING:
                return found
            result = _readonly(method(self, bars, *args, **kwargs))
            cache.set(key, result)
            return result

        wrapper.cache = cache  # type: ignore[attr-defined]
        return wrapper

    return decorate
