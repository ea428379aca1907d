"""``cached``: a drop-in for ``functools.lru_cache`` on a ``Cache``, for plain
and coroutine functions and methods.

The call path is compiled (``_ext/_cache.pyx``, ``CachedFunction``); coroutine
functions get :class:`AsyncCachedFunction`. Semantics beyond DESIGN.md are in
docs/caching.md.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import numbers
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _ext
from .._ext import _types
from .._validate import check_callable, check_str
from .cache import Cache, CacheStrategy, _check_budget, _check_max_size, _check_ttl
from .keys import _keys

if TYPE_CHECKING:  # the stub describes both implementations
    from .._ext import _cache
else:
    _cache = _ext.load("_cache")

__all__ = ["AsyncCachedFunction", "cached"]

_MISSING: Any = object()


def _qualified_name(func: Callable) -> str:
    module = getattr(func, "__module__", None) or "?"
    return f"{module}.{getattr(func, '__qualname__', getattr(func, '__name__', repr(func)))}"


def cached(
    max_size: int | None | Callable = 128,
    strategy: CacheStrategy | str = CacheStrategy.LRU,
    ttl: float | None = None,
    key_maker: Callable[[tuple, dict], Any] | None = None,
    typed: bool = False,
    name: str | None = None,
    single_flight: bool = False,
    max_bytes: int | None = None,
    sizeof: Callable[[Any, Any], int] | None = None,
) -> Any:
    """Memoize a function: a drop-in for ``functools.lru_cache`` (``max_size`` for ``maxsize``).

    Use bare (``@cached``) or with arguments. Beyond functools: a choice of
    ``strategy`` and ``ttl``; unhashable arguments (lists, dicts, numpy arrays,
    DataFrames) are keyed with ``CacheKey.generate_key``; ``key_maker(args,
    kwargs)`` replaces the key; ``single_flight=True`` runs concurrent misses
    of one key once; ``max_bytes``/``sizeof`` bound the cached results' bytes
    (as ``Cache``); methods never keep their instance alive; coroutine
    functions cache their awaited result. The wrapper has ``cache_info()``,
    ``cache_clear()``, ``cache_parameters()``, ``__wrapped__`` and ``.cache``.
    """
    if callable(max_size) and not isinstance(max_size, numbers.Integral):
        if isinstance(typed, bool):  # @cached without parentheses, or cached(func)
            return cached()(max_size)
    size = _check_max_size(max_size, for_cached=True)
    strategy = CacheStrategy.coerce(strategy)
    ttl = _check_ttl(ttl)
    check_callable(key_maker, "key_maker", allow_none=True, what="a callable (args, kwargs) -> key")
    check_str(name, "name", allow_none=True)
    _check_budget(max_bytes, sizeof)          # checked now, not at decoration

    def decorate(func: Callable) -> Any:
        check_callable(func, "func", what="a callable (the function to cache)")
        cache = Cache(size, strategy, ttl, name=name or _qualified_name(func),
                      max_bytes=max_bytes, sizeof=sizeof)
        if key_maker is None:
            cache._key_layout = "typed" if typed else "functools"
        if inspect.iscoroutinefunction(func):
            wrapper: Any = AsyncCachedFunction(func, cache, typed, key_maker, single_flight)
        else:
            wrapper = _cache.CachedFunction(func, cache, typed, key_maker,
                                            _keys.generate_key, single_flight)
        return functools.update_wrapper(wrapper, func)

    return decorate


class AsyncCachedFunction:
    """``cached`` applied to a coroutine function: caches the awaited result.

    Concurrent awaits of one missing key (in one event loop) share one run.
    Exceptions are not cached.
    """

    __qualname__: str   # set by functools.update_wrapper

    def __init__(self, func: Callable, cache: Cache, typed: bool,
                 key_maker: Callable | None, single_flight: bool) -> None:
        self.__wrapped__ = func
        self.cache = cache
        self._typed = typed
        self._key_maker = key_maker
        self._tokens = _cache.MethodTokens(cache)
        self._pending: weakref.WeakKeyDictionary[Any, dict] = weakref.WeakKeyDictionary()
        # inspect.iscoroutinefunction() is true for us, as for the function:
        # 3.12+ reads the marker; 3.11 accepts any "function-like" object
        # whose __code__ has CO_COROUTINE (as Cython's functions do).
        if hasattr(inspect, "markcoroutinefunction"):
            inspect.markcoroutinefunction(self)
        self.__code__ = func.__code__
        self.__defaults__ = getattr(func, "__defaults__", None)
        self.__kwdefaults__ = getattr(func, "__kwdefaults__", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(None, args, kwargs, args)

    async def _call(self, prefix: Any, args: tuple, kwargs: dict, call_args: tuple) -> Any:
        func = self.__wrapped__
        if not _cache.is_enabled():
            return await func(*call_args, **kwargs)
        key, explicit = _cache.call_key(
            args if prefix is None else (prefix,) + args, kwargs, self._typed,
            self._key_maker, _keys.generate_key)
        value = self.cache.get(key, _MISSING)
        if value is not _MISSING:
            return value
        pending = self._pending.setdefault(asyncio.get_running_loop(), {})
        future = pending.get(key)
        if future is not None:
            return await asyncio.shield(future)
        future = pending[key] = asyncio.get_running_loop().create_future()
        try:
            result = await func(*call_args, **kwargs)
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning
            raise
        else:
            if explicit:
                self.cache.set(key, result, args, kwargs)
            else:
                self.cache.set(key, result)
            if not future.done():
                future.set_result(result)
            return result
        finally:
            if pending.get(key) is future:
                del pending[key]

    def cache_info(self) -> Any:
        hits, misses, _, _ = self.cache._counters()
        return _types.CacheInfo(hits, misses, self.cache.max_size, len(self.cache))

    def cache_clear(self) -> None:
        self.cache.clear()
        self.cache.reset_stats()

    def cache_parameters(self) -> dict:
        return {"maxsize": self.cache.max_size, "typed": self._typed}

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        token = self._tokens.token(obj)
        bound = functools.partial(self._bound_call, obj, token)
        return functools.update_wrapper(bound, self.__wrapped__)

    def _bound_call(self, obj: Any, token: Any, *args: Any, **kwargs: Any) -> Any:
        return self._call(token, args, kwargs, (obj,) + args)

    def __reduce__(self) -> str:
        return self.__qualname__

    def __copy__(self) -> AsyncCachedFunction:
        return self

    def __deepcopy__(self, memo: dict) -> AsyncCachedFunction:
        return self
