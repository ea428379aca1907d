"""IndicatorBank scenarios: a universe per call, every indicator class.

One row of :data:`admf_perf.bench.indicators.INDICATORS` per class gives:

* ``IndicatorBank.update <Class> (1,000 symbols)``: one bar for every symbol
  of a bank warmed up on ``HISTORY`` bars, beside a Python loop of 1,000
  single indicators' ``update`` (the same warm-up; Python floats in).
  Gate: <= 0.10x the loop (issue 14: at least 10x faster; its 25 ns per
  symbol is the wall-clock figure divided by 1,000).
* ``IndicatorBank.batch <Class> (1,000 x 2,000)``: one call over a panel of
  ``BATCH_BARS`` bars (``BATCH_BARS_QUICK`` with ``--quick``) by 1,000
  symbols, beside a loop of ``talib.<FN>`` over the columns (the panels are
  column-major, so each column TA-Lib gets is contiguous). Gate: <= 1.00x.
* ``IndicatorBank.batch threads=2 <Class>``: the same call on two threads,
  beside one (wall-clock only: callgrind runs threads one at a time).
  Gate: <= 0.59x (at least 1.7x faster).

The panels are seeded random walks, one per symbol (``indicators.walk``).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from admf_perf.bench.indicators import CV, HL, HLC, HLCV, INDICATORS, PV, IndicatorCase
from admf_perf.bench.scenario import Gate, Impl, Scenario, register

__all__ = ["OPEN_GOALS", "panels"]

GROUP = "indicators: bank"

N_SYMBOLS = 1_000
HISTORY = 100
BARS = 20
BATCH_BARS = 2_000
BATCH_BARS_QUICK = 400
SEED = 20261203

Names = Mapping[str, Any]

#: Goals not met yet (the deterministic mode measured), closed by the issue named.
OPEN_GOALS: dict[str, str] = {
    # update, ours / the Python loop, 2026-12-06 (CPython 3.11): SMA 0.054,
    # EMA 0.038, RSI 0.064, TRIMA 0.089, BollingerBands 0.088 and twenty-one
    # more pass (RollingMin and RollingMax since their deques keep each value
    # beside its index, the heads are packed apart from the rings, the bank
    # loop keeps its layout in locals and the output comes from numpy's C
    # API; the twelve classes of the template's SLOT_MAJOR since their
    # updates keep the rings slot-major: docs/indicators.md; APO since its
    # SMAs skip the test of a period of 1 and take pct as the class's
    # constant; KAMA since its step tests for the steady state first; PPO
    # 0.092 since the updates run in the AVX2 build, _ind_bank_simd: -1.5%
    # to -18%); ADX 0.096-0.098 (its step testing for the steady state
    # first, and the AVX2 build) passes by less than the figures can move
    # between processes; the rest are 0.12-0.21 (their steps are longer:
    # two or more kernels, deques, CCI's window)
    **{f"IndicatorBank.update {name} ({N_SYMBOLS:,} symbols)": "issue 14" for name in (
        "ADX", "Stochastic", "WilliamsR", "MFI", "Aroon", "CCI", "StochRSI", "UltimateOscillator")},
}


def _kind_arrays(inputs: str, h: np.ndarray, l: np.ndarray, c: np.ndarray, v: np.ndarray) -> tuple:
    if inputs == HLC:
        return (h, l, c)
    if inputs == HLCV:
        return (h, l, c, v)
    if inputs == HL:
        return (h, l)
    if inputs in (CV, PV):
        return (c, v)
    return (c,)


@functools.cache
def panels(inputs: str, n_bars: int, seed: int = SEED) -> tuple[np.ndarray, ...]:
    """(n_bars, N_SYMBOLS) column-major panels of a random walk per symbol."""
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, (n_bars, N_SYMBOLS)), axis=0)
    spread = np.abs(rng.normal(0.0, 1.0, (2, n_bars, N_SYMBOLS)))
    volume = rng.integers(1, 1000, (n_bars, N_SYMBOLS)).astype(np.float64)
    arrays = _kind_arrays(inputs, close + spread[0], close - spread[1], close, volume)
    return tuple(np.asfortranarray(a) for a in arrays)


@functools.cache
def _bars(inputs: str, quick: bool = False) -> list[tuple[tuple[np.ndarray, ...], list[tuple[float, ...]]]]:
    """The bars after the warm-up: each op's (rows as arrays, rows as Python floats per symbol)."""
    full = panels(inputs, HISTORY + BARS)
    out = []
    for i in range(HISTORY, HISTORY + BARS):
        rows = tuple(np.ascontiguousarray(p[i]) for p in full)
        out.append((rows, list(zip(*(r.tolist() for r in rows), strict=True))))
    return out


def _params(case: IndicatorCase) -> dict[str, Any]:
    from admf_perf import indicators

    ind = getattr(indicators, case.name)(*case.args)
    names = {"MACD": ("fast", "slow", "signal"), "BollingerBands": ("period", "nbdev_up", "nbdev_down"),
             "StdDev": ("period", "nbdev"), "Stochastic": ("fastk", "slowk", "slowd"),
             "APO": ("fast", "slow"), "PPO": ("fast", "slow"), "ChaikinOscillator": ("fast", "slow"),
             "T3": ("period", "vfactor"), "ParabolicSAR": ("acceleration", "maximum"),
             "StochRSI": ("period", "fastk", "fastd"), "UltimateOscillator": ("period1", "period2", "period3")}
    keys = names.get(case.name, ("period",))[:len(case.args)]
    params = dict(zip(keys, case.args, strict=True))
    assert all(getattr(ind, k) == v for k, v in params.items()), case.name
    return params


def _bank(case: IndicatorCase, warm: bool) -> Any:
    import admf_perf as ap

    bank = ap.IndicatorBank(getattr(ap, case.name), N_SYMBOLS, **_params(case))
    if warm:
        bank.batch(*(p[:HISTORY] for p in panels(case.inputs, HISTORY + BARS)))
    return bank


def _ours_update(case: IndicatorCase) -> Callable[[], Names]:
    return lambda: {"c": _bank(case, True)}


def _loop_update(case: IndicatorCase) -> Callable[[], Names]:
    def factory() -> Names:
        from admf_perf import indicators

        full = panels(case.inputs, HISTORY + BARS)
        cs = []
        for j in range(N_SYMBOLS):
            ind = getattr(indicators, case.name)(*case.args)
            ind.batch(*(np.ascontiguousarray(p[:HISTORY, j]) for p in full))
            cs.append(ind)
        return {"cs": cs}

    return factory


def _batch_input(case: IndicatorCase, quick: bool = False) -> list[tuple[np.ndarray, ...]]:
    return [panels(case.inputs, BATCH_BARS_QUICK if quick else BATCH_BARS, SEED + 1)]


def _ours_batch(case: IndicatorCase, threads: int) -> Callable[[], Names]:
    def factory() -> Names:
        bank = _bank(case, False)
        return {"f": functools.partial(bank.batch, threads=threads)}

    return factory


def _talib_loop(case: IndicatorCase) -> Callable[[], Names]:
    def factory() -> Names:
        import talib

        fn, params = getattr(talib, case.talib), dict(case.params)

        def loop(*cols: np.ndarray) -> None:
            for j in range(N_SYMBOLS):
                arrays = [p[:, j] for p in cols]
                if case.inputs == PV:
                    arrays = [arrays[0], arrays[0], arrays[0], arrays[1]]
                fn(*arrays, **params)

        return {"f": loop}

    return factory


def _names(case: IndicatorCase) -> str:
    return ", ".join(f"p{i}" for i in range(len(panels(case.inputs, 1))))


def update_scenario(case: IndicatorCase) -> Scenario:
    name = f"IndicatorBank.update {case.name} ({N_SYMBOLS:,} symbols)"
    loop = f"Python loop of {N_SYMBOLS:,} {case.name}.update"
    return Scenario(
        name, GROUP,
        f"bank.update(*rows): one bar for {N_SYMBOLS:,} symbols after {HISTORY} bars; ns/op is per bar "
        f"(per symbol: / {N_SYMBOLS:,})",
        "c.update(*arrs)", functools.partial(_bars, case.inputs),
        Impl(f"admf_perf.IndicatorBank({case.name})", _ours_update(case)),
        (Impl(loop, _loop_update(case), stmt="for c, xs in zip(cs, floats): c.update(*xs)"),),
        gate=Gate(0.10, (loop,), "a Python loop of single updates", open=OPEN_GOALS.get(name)),
        var="arrs, floats", covers=(f"IndicatorBank.update[{case.name}]",),
    )


def batch_scenario(case: IndicatorCase) -> Scenario:
    name = f"IndicatorBank.batch {case.name} ({N_SYMBOLS:,} x {BATCH_BARS:,})"
    anchor = f"loop of talib.{case.talib} over the columns"
    names = _names(case)
    return Scenario(
        name, GROUP,
        f"bank.batch(*panels): {BATCH_BARS:,} bars x {N_SYMBOLS:,} symbols (column-major), "
        f"{case.name}; ns/op is per call",
        f"f({names})", functools.partial(_batch_input, case),
        Impl(f"admf_perf.IndicatorBank({case.name}).batch", _ours_batch(case, 1)),
        (Impl(anchor, _talib_loop(case)),),
        gate=Gate(1.00, (anchor,), "TA-Lib per column", open=OPEN_GOALS.get(name)),
        var=f"{names}," if "," not in names else names,
        covers=(f"IndicatorBank.batch[{case.name}]",),
    )


def threads_scenario(case: IndicatorCase) -> Scenario:
    one = "threads=1"
    names = _names(case)
    return Scenario(
        f"IndicatorBank.batch threads=2 {case.name}", GROUP,
        f"bank.batch(*panels, threads=2) beside threads=1: {BATCH_BARS:,} x {N_SYMBOLS:,}, {case.name}",
        f"f({names})", functools.partial(_batch_input, case),
        Impl(f"admf_perf.IndicatorBank({case.name}).batch threads=2", _ours_batch(case, 2)),
        (Impl(one, _ours_batch(case, 1)),),
        gate=Gate(0.59, (one,), "one thread (at least 1.7x faster)"),
        var=f"{names}," if "," not in names else names,
        covers=(f"IndicatorBank.batch(threads)[{case.name}]",),
        deterministic=False,  # two threads at once: a wall-clock figure
    )


register(*(update_scenario(case) for case in INDICATORS), *(batch_scenario(case) for case in INDICATORS),
         *(threads_scenario(case) for case in INDICATORS))
