"""Indicator scenarios (issue 3, section 4): streaming ``update`` and
``batch`` of ``admf_perf.indicators`` beside TA-Lib 0.8's O(1) stream objects
(``talib.stream.SMA(history)`` ... ``.update(x)``), TA-Lib's batch functions,
talipp (context) and the floors of a call from Python.

Streaming: every implementation is warmed up on the same ``HISTORY`` bars,
then the loop feeds the same ``BARS`` closes (a random walk around 100) one
``update`` (talipp: ``add``) at a time; ours and TA-Lib's produce the value of
every bar.  The floors are a compiled ``cpdef double update(self, double x)``
that returns its argument (``_indicators._Floor``) and an empty Python method.

Batch: one call over ``BATCH_BARS`` bars per op (``ns/op`` is per call; the
ratio is the per-bar ratio); ours continues its stream, TA-Lib recomputes.
"""
from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from typing import Any

from admf_perf.bench.scenario import Gate, Impl, Scenario, register

__all__ = ["EmptyUpdate", "EmptyUpdateHLC", "batch_closes", "batch_hlc", "closes", "hlc_bars"]

GROUP = "indicators"

HISTORY = 500
BARS = 1_000
BATCH_BARS = 1_000_000
BATCH_BARS_QUICK = 200_000
SEED = 20240605

Names = Mapping[str, Any]


class EmptyUpdate:
    """Floor: an empty Python method with ``update``'s signature."""

    __slots__ = ()

    def update(self, x: Any) -> None:
        pass


class EmptyUpdateHLC:
    """Floor: an empty Python method taking (high, low, close)."""

    __slots__ = ()

    def update(self, high: Any, low: Any, close: Any) -> None:
        pass


# -- inputs ---------------------------------------------------------------------------

@functools.cache
def _walk(n: int, seed: int = SEED) -> Any:
    """(high, low, close) float64 arrays of a random walk around 100."""
    import numpy as np

    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 0.5, n))
    spread = rng.random(n)
    return close + spread, close - spread, close


def _history() -> Any:
    return _walk(HISTORY + BARS)


@functools.cache
def closes(quick: bool = False) -> list[float]:
    """The ``BARS`` closes the streaming loops feed (after ``HISTORY`` bars)."""
    out: list[float] = _history()[2][HISTORY:].tolist()
    return out


@functools.cache
def hlc_bars(quick: bool = False) -> list[tuple[float, float, float]]:
    """The ``BARS`` (high, low, close) bars the streaming loops feed."""
    h, l, c = (a[HISTORY:].tolist() for a in _history())
    return list(zip(h, l, c))


def batch_closes(quick: bool = False) -> list[Any]:
    """One op: the close array of ``BATCH_BARS`` bars."""
    return [_walk(BATCH_BARS_QUICK if quick else BATCH_BARS, SEED + 1)[2]]


def batch_hlc(quick: bool = False) -> list[Any]:
    """One op: the (high, low, close) arrays of ``BATCH_BARS`` bars."""
    return [_walk(BATCH_BARS_QUICK if quick else BATCH_BARS, SEED + 1)]


# -- implementations ------------------------------------------------------------------

def _ours(name: str, *args: Any, hlc: bool = False) -> Callable[[], Names]:
    def factory() -> Names:
        from admf_perf import indicators

        ind = getattr(indicators, name)(*args)
        h, l, c = (a[:HISTORY] for a in _history())
        ind.batch(h, l, c) if hlc else ind.batch(c)
        return {"c": ind}

    return factory


def _talib_stream(name: str, hlc: bool = False, **params: Any) -> Callable[[], Names]:
    def factory() -> Names:
        from talib import stream

        h, l, c = (a[:HISTORY].copy() for a in _history())
        cls = getattr(stream, name)
        return {"c": cls(h, l, c, **params) if hlc else cls(c, **params)}

    return factory


def _talipp(name: str, *args: Any) -> Callable[[], Names]:
    def factory() -> Names:
        ti = importlib.import_module("talipp.indicators")  # untyped: no mypy import
        ind = getattr(ti, name)(*args)
        for x in _history()[2][:HISTORY].tolist():
            ind.add(x)
        return {"c": ind}

    return factory


def _floor() -> Names:
    from admf_perf._ext import _indicators  # compiled only: no floor without the build

    return {"c": _indicators._Floor()}


def _empty() -> Names:
    return {"c": EmptyUpdate()}


def _empty_hlc() -> Names:
    return {"c": EmptyUpdateHLC()}


def _ours_batch(name: str, *args: Any) -> Callable[[], Names]:
    def factory() -> Names:
        from admf_perf import indicators

        return {"f": getattr(indicators, name)(*args).batch}

    return factory


def _talib_batch(name: str, **params: Any) -> Callable[[], Names]:
    def factory() -> Names:
        import talib

        fn = getattr(talib, name)
        return {"f": (lambda *a: fn(*a, **params)) if params else fn}

    return factory


_FLOOR = "Cython cpdef update (floor)"
_EMPTY = "empty Python method"
_FLOOR_GATE = Gate(1.30, (_FLOOR,), "a Cython cpdef update")


def _stream_scenario(ours: str, talib_name: str, args: tuple[Any, ...] = (),
                     talib_params: Mapping[str, Any] | None = None,
                     talipp: tuple[str, tuple[Any, ...]] | None = None,
                     floor_gate: bool = False) -> Scenario:
    talib_anchor = f"talib.stream.{talib_name}"
    anchors = [Impl(talib_anchor, _talib_stream(talib_name, **(talib_params or {})))]
    if talipp is not None:
        anchors.append(Impl(f"talipp.{talipp[0]} (add)", _talipp(talipp[0], *talipp[1]), stmt="c.add(x)"))
    anchors += [Impl(_FLOOR, _floor), Impl(_EMPTY, _empty)]
    shown = ", ".join(repr(a) for a in args) or "defaults"
    return Scenario(
        f"{ours}.update", GROUP,
        f"c.update(x): one close of a random walk, {ours}({shown}) after {HISTORY} bars",
        "c.update(x)", closes,
        Impl(f"admf_perf.{ours}", _ours(ours, *args)), tuple(anchors),
        gate=_FLOOR_GATE if floor_gate else Gate(0.35, (talib_anchor,), "a TA-Lib stream object"),
        var="x",
    )


def _batch_scenario(ours: str, talib_name: str, args: tuple[Any, ...] = (),
                    hlc: bool = False, talib_params: dict[str, Any] | None = None) -> Scenario:
    talib_anchor = f"talib.{talib_name}"
    return Scenario(
        f"{ours}.batch", GROUP,
        f"one batch call over {BATCH_BARS:,} bars ({'high, low, close' if hlc else 'closes'}); "
        f"ns/op is per call",
        "f(h, l, cl)" if hlc else "f(a)", batch_hlc if hlc else batch_closes,
        Impl(f"admf_perf.{ours}.batch", _ours_batch(ours, *args)),
        (Impl(talib_anchor, _talib_batch(talib_name, **(talib_params or {}))),),
        gate=Gate(1.00, (talib_anchor,), "TA-Lib"),
        var="h, l, cl" if hlc else "a",
    )


register(
    _stream_scenario("SMA", "SMA", (30,), {"timeperiod": 30}, ("SMA", (30,)), floor_gate=True),
    _stream_scenario("EMA", "EMA", (30,), {"timeperiod": 30}, ("EMA", (30,)), floor_gate=True),
    _stream_scenario("RSI", "RSI", (14,), {"timeperiod": 14}, ("RSI", (14,))),
    _stream_scenario("StdDev", "STDDEV", (5,), {"timeperiod": 5}, ("StdDev", (5,))),
    _stream_scenario("BollingerBands", "BBANDS", (20, 2.0, 2.0),
                     {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0}, ("BB", (20, 2.0))),
    _stream_scenario("MACD", "MACD", (12, 26, 9), {}, ("MACD", (12, 26, 9))),
    Scenario(
        "ATR.update", GROUP,
        f"c.update(h, l, cl): one bar of a random walk, ATR(14) after {HISTORY} bars",
        "c.update(h, l, cl)", hlc_bars,
        Impl("admf_perf.ATR", _ours("ATR", 14, hlc=True)),
        (
            Impl("talib.stream.ATR", _talib_stream("ATR", hlc=True, timeperiod=14)),
            Impl(_FLOOR, _floor, stmt="c.update(cl)"),
            Impl(_EMPTY, _empty_hlc),
        ),
        gate=Gate(0.35, ("talib.stream.ATR",), "a TA-Lib stream object"),
        var="h, l, cl",
    ),
    _batch_scenario("SMA", "SMA"),
    _batch_scenario("EMA", "EMA"),
    _batch_scenario("RSI", "RSI"),
    _batch_scenario("StdDev", "STDDEV"),
    _batch_scenario("BollingerBands", "BBANDS", (20, 2.0, 2.0),
                    talib_params={"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0}),
    _batch_scenario("ATR", "ATR", hlc=True),
    _batch_scenario("RollingMax", "MAX"),
)
