"""Incremental indicators (docs/indicators.md), on both implementations.

Every test takes the ``ind`` fixture: the indicators module of the ``ap``
package under test (compiled, then the pure-Python twin).

- parity with TA-Lib (``talib`` on the whole series) for every indicator, with
  the default and several other parameters, on random walks and on the real
  OHLCV data of ../shared/data: within 1e-9 relative with an absolute floor of
  1e-9 times the scale, NaN exactly where TA-Lib has NaN; VWAP against numpy;
- streaming equals ``batch`` bit for bit and leaves the same state; ``peek``;
  ``copy``; pickling mid-stream; ``reset``; ``value`` / ``ready`` / ``count``;
- composition (``source=``);
- input checking (NaN / inf, arity, parameters);
- numerical drift over long streams;
- a hypothesis property test (batch == stream, TA-Lib parity).
"""
from __future__ import annotations

import copy
import itertools
import json
import math
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import examples

talib = pytest.importorskip("talib")


# --------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------

@pytest.fixture
def ind(ap):
    """The indicators module of the package under test (the only place that knows where it is)."""
    return ap.indicators


def _compiled(ap) -> bool:
    return bool(ap.COMPILED.get("_indicators"))


@pytest.fixture
def picklable(monkeypatch, ap, ind):
    """Make an indicator's module importable by pickle for the duration of a test.

    The twin package is a fresh import that conftest removes from
    ``sys.modules``, so pickle could not find its classes by name.
    """
    def expose(obj):
        modname = type(obj).__module__
        candidates = [ind]
        mod = ap
        for part in modname.split(".")[1:]:
            mod = getattr(mod, part, None)
        candidates.append(mod)
        for mod in candidates:
            if mod is not None and getattr(mod, "__name__", None) == modname:
                monkeypatch.setitem(sys.modules, modname, mod)
                return
    return expose


def _walk(n, seed, level=100.0, step=1.0, tick=None):
    """A random walk OHLCV: (high, low, close, volume); ``tick`` rounds prices (flat stretches)."""
    rng = np.random.default_rng(seed)
    close = level + np.cumsum(rng.normal(0.0, step, n))
    high = close + np.abs(rng.normal(0.0, step, n))
    low = close - np.abs(rng.normal(0.0, step, n))
    if tick is not None:
        close, high, low = (np.round(a / tick) * tick for a in (close, high, low))
    volume = rng.integers(0, 1000, n).astype(np.float64)
    return high, low, close, volume


def _flat_bars(n, seed):
    """Bars that start flat (high == low == close), then keep high and low while the
    close moves inside them (true range but no directional movement), then move
    rarely, by one tick, with flat stretches."""
    rng = np.random.default_rng(seed)
    close = np.full(n, 20.0)
    high, low = close.copy(), close.copy()
    high[40:80], low[40:80] = 20.3, 19.7
    close[40:80] = rng.choice([19.7, 19.9, 20.0, 20.1, 20.3], 40)
    # decimal ticks (inexact in binary): running sums leave rounding residue on flat windows
    steps = rng.choice([-0.1, 0.0, 0.1], n - 80, p=[0.05, 0.9, 0.05])
    close[80:] = np.round(20.0 + np.cumsum(steps), 1)
    wide = rng.random(n - 80) < 0.2
    high[80:] = np.round(close[80:] + 0.1 * wide, 1)
    low[80:] = np.round(close[80:] - 0.1 * wide, 1)
    volume = np.where(rng.random(n) < 0.3, 0.0, 100.0)
    return high, low, close, volume


_DATA_CACHE: dict = {}


def _dataset(name, shared_root=None):
    """(high, low, close, volume) of a named data set."""
    if name in _DATA_CACHE:
        return _DATA_CACHE[name]
    if name == "walk":
        data = _walk(2000, 1)
    elif name == "walk_ticks":  # small prices on a tick grid: ties, flat windows, zero ranges
        data = _walk(2000, 2, level=1.2, step=2e-4, tick=1e-4)
    elif name == "flat":  # the degenerate branches: zero ranges, zero gains and losses, no movement
        data = _flat_bars(2000, 3)
    elif name == "flat_tiny":  # TA-Lib's zero tests are scale-aware: the same bars at 1e-12
        h, l, c, v = _flat_bars(2000, 3)
        data = (h * 1e-12, l * 1e-12, c * 1e-12, v)
    elif name == "ticks_huge":  # and at 1e8
        h, l, c, v = _dataset("walk_ticks")
        data = (h * 1e8, l * 1e8, c * 1e8, v)
    elif name == "through_zero":  # a spread: prices that cross zero and stay below it
        rng = np.random.default_rng(4)
        c = np.linspace(3.0, -3.0, 2000) + np.cumsum(rng.normal(size=2000)) * 0.05
        v = rng.random(2000) * 1000
        v[rng.random(2000) < 0.05] = 0.0
        data = (c + rng.random(2000) * 0.2, c - rng.random(2000) * 0.2, c, v)
    elif name == "flat_stretches":  # a walk halted now and then (high = low = close, no volume)
        rng = np.random.default_rng(6)
        c = np.exp(np.cumsum(rng.normal(size=2000) * 0.01)) * 100
        for s0 in rng.integers(0, 1920, 12):
            c[s0:s0 + rng.integers(3, 70)] = c[s0]
        h, l = c * (1 + rng.random(2000) * 0.01), c * (1 - rng.random(2000) * 0.01)
        flat = np.r_[False, c[1:] == c[:-1]]
        h[flat] = l[flat] = c[flat]
        v = rng.random(2000) * 1000
        v[flat] = 0.0
        data = (h, l, c, v)
    else:
        import pandas as pd
        if name == "orcl":
            df = pd.read_csv(shared_root / "ohlcv" / "orcl-1995-2014-daily.csv")
        else:  # the header names 7 columns, rows have 8 (Date and Time)
            df = pd.read_csv(shared_root / "ohlcv" / "index-future-2006-1min.csv", header=None,
                             skiprows=1, names=["Date", "Time", "Open", "High", "Low", "Close",
                                                "Volume", "OpenInterest"])
        data = tuple(np.array(df[k].to_numpy(np.float64))  # a writable copy
                     for k in ("High", "Low", "Close", "Volume"))
    _DATA_CACHE[name] = data
    return data


DATASETS = ["walk", "walk_ticks", "flat", "flat_tiny", "ticks_huge", "through_zero", "flat_stretches", "orcl",
            "future"]


@pytest.fixture(params=DATASETS)
def data(request):
    name = request.param
    if name in ("orcl", "future"):
        root = request.getfixturevalue("shared_data")
        return name, _dataset(name, root)
    return name, _dataset(name)


def _inputs(kind, h, l, c, v):
    return {"x": (c,), "hlc": (h, l, c), "cv": (c, v), "pv": (c, v), "hlcv": (h, l, c, v), "hl": (h, l)}[kind]


def _same(a, b) -> bool:
    """Bit-for-bit equality of outputs (floats or tuples), NaN equal to NaN."""
    if isinstance(a, tuple) != isinstance(b, tuple):
        return False
    return np.array_equal(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64),
                          equal_nan=True)


def assert_close(got, want, scale, what=""):
    """Within 1e-9 relative, absolute floor 1e-9 * scale; NaN exactly where ``want`` has NaN.

    Returns the largest relative error (|got - want| / |want|, where want != 0).
    """
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    differ = np.flatnonzero(nan_got != nan_want)
    assert differ.size == 0, (
        f"{what}: NaN where talib has none (or the reverse) at {differ[:8].tolist()} "
        f"(got {got[differ[:3]].tolist()}, want {want[differ[:3]].tolist()}; "
        f"warm-up got {int(np.argmin(nan_got)) if not nan_got.all() else len(got)}, "
        f"want {int(np.argmin(nan_want)) if not nan_want.all() else len(want)})")
    m = ~nan_want
    err = np.abs(got[m] - want[m])
    tol = 1e-9 * np.abs(want[m]) + 1e-9 * scale
    bad = np.flatnonzero(~(err <= tol))
    if bad.size:
        i = np.flatnonzero(m)[bad[0]]
        raise AssertionError(f"{what}: {bad.size} values off, first at index {i}: "
                             f"got {got[i]!r}, want {want[i]!r} (tolerance {tol[bad[0]]:.3g})")
    nz = want[m] != 0
    return float((err[nz] / np.abs(want[m][nz])).max()) if nz.any() else 0.0


# --------------------------------------------------------------------------
# parity with TA-Lib
# --------------------------------------------------------------------------

def _parity_cases():
    """(id, class name, args, input kind, talib reference on (h, l, c, v), scale kind)."""
    cases = []

    def add(name, args, kind, ref, scale="price"):
        cases.append(pytest.param(name, args, kind, ref, scale,
                                  id=f"{name}{args if args else '()'}".replace(" ", "")))

    for name, fn in [("SMA", talib.SMA), ("EMA", talib.EMA), ("WMA", talib.WMA),
                     ("DEMA", talib.DEMA), ("TEMA", talib.TEMA), ("KAMA", talib.KAMA)]:
        add(name, (), "x", lambda h, l, c, v, fn=fn: fn(c))
        for p in (1, 2, 9, 50):
            add(name, (p,), "x", lambda h, l, c, v, fn=fn, p=p: fn(c, p))
    add("RSI", (), "x", lambda h, l, c, v: talib.RSI(c), "osc")
    for p in (2, 5, 30):
        add("RSI", (p,), "x", lambda h, l, c, v, p=p: talib.RSI(c, p), "osc")
    add("StdDev", (), "x", lambda h, l, c, v: talib.STDDEV(c))
    for args in ((2,), (20, 2.5)):
        add("StdDev", args, "x", lambda h, l, c, v, a=args: talib.STDDEV(c, *a))
    add("BollingerBands", (), "x", lambda h, l, c, v: talib.BBANDS(c, matype=0))
    for args in ((2, 1.0, 1.0), (10, 1.5, 3.0)):
        add("BollingerBands", args, "x", lambda h, l, c, v, a=args: talib.BBANDS(c, *a, matype=0))
    for name, fn in [("RollingMin", talib.MIN), ("RollingMax", talib.MAX)]:
        add(name, (), "x", lambda h, l, c, v, fn=fn: fn(c))
        for p in (2, 7):
            add(name, (p,), "x", lambda h, l, c, v, fn=fn, p=p: fn(c, p))
    add("ROC", (), "x", lambda h, l, c, v: talib.ROC(c), "osc")
    add("Momentum", (), "x", lambda h, l, c, v: talib.MOM(c))
    for p in (1, 25):
        add("ROC", (p,), "x", lambda h, l, c, v, p=p: talib.ROC(c, p), "osc")
        add("Momentum", (p,), "x", lambda h, l, c, v, p=p: talib.MOM(c, p))
    add("MACD", (), "x", lambda h, l, c, v: talib.MACD(c))
    for args in ((5, 10, 1), (26, 12, 9), (2, 2, 2), (3, 30, 5)):
        add("MACD", args, "x", lambda h, l, c, v, a=args: talib.MACD(c, *a))
    add("ATR", (), "hlc", lambda h, l, c, v: talib.ATR(h, l, c))
    for p in (1, 2, 30):
        add("ATR", (p,), "hlc", lambda h, l, c, v, p=p: talib.ATR(h, l, c, p))
    add("ADX", (), "hlc", lambda h, l, c, v: talib.ADX(h, l, c), "osc")
    for p in (2, 5, 30):
        add("ADX", (p,), "hlc", lambda h, l, c, v, p=p: talib.ADX(h, l, c, p), "osc")
    add("Stochastic", (), "hlc", lambda h, l, c, v: talib.STOCH(h, l, c), "osc")
    for a in ((1, 1, 1), (14, 3, 5), (3, 1, 4)):
        add("Stochastic", a, "hlc",
            lambda h, l, c, v, a=a: talib.STOCH(h, l, c, fastk_period=a[0], slowk_period=a[1],
                                                slowk_matype=0, slowd_period=a[2], slowd_matype=0),
            "osc")
    add("OBV", (), "cv", lambda h, l, c, v: talib.OBV(c, v), "volume")
    add("TrueRange", (), "hlc", lambda h, l, c, v: talib.TRANGE(h, l, c))
    add("NATR", (), "hlc", lambda h, l, c, v: talib.NATR(h, l, c), "osc")
    add("WilliamsR", (), "hlc", lambda h, l, c, v: talib.WILLR(h, l, c), "osc")
    add("CMO", (), "x", lambda h, l, c, v: talib.CMO(c), "osc")
    for p in (1, 2, 30):
        add("NATR", (p,), "hlc", lambda h, l, c, v, p=p: talib.NATR(h, l, c, p), "osc")
    for p in (2, 5, 30):
        add("WilliamsR", (p,), "hlc", lambda h, l, c, v, p=p: talib.WILLR(h, l, c, p), "osc")
        add("CMO", (p,), "x", lambda h, l, c, v, p=p: talib.CMO(c, p), "osc")
    add("APO", (), "x", lambda h, l, c, v: talib.APO(c, matype=0))
    add("PPO", (), "x", lambda h, l, c, v: talib.PPO(c, matype=0), "osc")
    for a in ((2, 2), (26, 12), (3, 30)):
        add("APO", a, "x", lambda h, l, c, v, a=a: talib.APO(c, *a, matype=0))
        add("PPO", a, "x", lambda h, l, c, v, a=a: talib.PPO(c, *a, matype=0), "osc")
    add("TRIMA", (), "x", lambda h, l, c, v: talib.TRIMA(c))
    add("MFI", (), "hlcv", lambda h, l, c, v: talib.MFI(h, l, c, v), "osc")
    add("ChaikinOscillator", (), "hlcv", lambda h, l, c, v: talib.ADOSC(h, l, c, v), "volume")
    add("Aroon", (), "hl", lambda h, l, c, v: talib.AROON(h, l), "osc")
    for p in (2, 3, 9, 30):
        add("TRIMA", (p,), "x", lambda h, l, c, v, p=p: talib.TRIMA(c, p))
        add("MFI", (p,), "hlcv", lambda h, l, c, v, p=p: talib.MFI(h, l, c, v, p), "osc")
        add("Aroon", (p,), "hl", lambda h, l, c, v, p=p: talib.AROON(h, l, p), "osc")
    for a in ((2, 2), (10, 3), (5, 20)):
        add("ChaikinOscillator", a, "hlcv", lambda h, l, c, v, a=a: talib.ADOSC(h, l, c, v, *a), "volume")
    add("CCI", (), "hlc", lambda h, l, c, v: talib.CCI(h, l, c), "osc")
    # the window sums' paths (admf_sum_lr, admf_absdev_lr): a switch's every
    # entry up to 16 terms (8 pairs), an odd head, and the loops past them
    for p in (2, 3, 4, 5, 7, 16, 17, 30, 33):
        add("CCI", (p,), "hlc", lambda h, l, c, v, p=p: talib.CCI(h, l, c, p), "osc")
    add("T3", (), "x", lambda h, l, c, v: talib.T3(c))
    for a in ((1, 0.7), (2, 0.0), (9, 1.0), (30, 0.5)):
        add("T3", a, "x", lambda h, l, c, v, a=a: talib.T3(c, *a))
    add("ParabolicSAR", (), "hl", lambda h, l, c, v: talib.SAR(h, l))
    for a in ((0.0, 0.0), (0.3, 0.2), (0.05, 0.5), (0.02, 0.02)):
        add("ParabolicSAR", a, "hl", lambda h, l, c, v, a=a: talib.SAR(h, l, *a))
    add("StochRSI", (), "x", lambda h, l, c, v: talib.STOCHRSI(c), "osc")
    for a in ((2, 1, 1), (5, 14, 2), (30, 3, 9), (14, 14, 1)):
        add("StochRSI", a, "x", lambda h, l, c, v, a=a: talib.STOCHRSI(c, *a, fastd_matype=0), "osc")
    add("UltimateOscillator", (), "hlc", lambda h, l, c, v: talib.ULTOSC(h, l, c), "osc")
    for a in ((1, 1, 1), (28, 7, 14), (2, 3, 40), (5, 5, 9)):
        add("UltimateOscillator", a, "hlc", lambda h, l, c, v, a=a: talib.ULTOSC(h, l, c, *a), "osc")
    return cases


def _scale(kind, h, l, c, v):
    if kind == "osc":
        return 100.0
    if kind == "volume":
        return float(np.abs(v).sum())
    return float(max(np.abs(h).max(), np.abs(l).max(), np.abs(c).max()))


@pytest.mark.parametrize("name, args, kind, ref, scale_kind", _parity_cases())
def test_talib_parity(ind, data, name, args, kind, ref, scale_kind):
    dname, (h, l, c, v) = data
    want = ref(h, l, c, v)
    got = getattr(ind, name)(*args).batch(*_inputs(kind, h, l, c, v))
    scale = _scale(scale_kind, h, l, c, v)
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, scale, f"{name}{args} output {i} on {dname}")
    else:
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
        assert_close(got, want, scale, f"{name}{args} on {dname}")


@pytest.mark.parametrize("scale", [1e-20, 1.0, 1e8])
def test_kama_flat_after_decimal_moves(ind, scale):
    """Flat windows after moves by decimal steps: the running sum of |changes|
    keeps a rounding residue where TA-Lib's scale-aware zero test decides the
    efficiency ratio."""
    rng = np.random.default_rng(30)
    for _ in range(300):
        p = int(rng.integers(2, 6))
        x = np.round(rng.choice([0.1, 0.2, 0.3, 0.7, 1.1], p + 1).cumsum(), 1)
        x = np.r_[x, np.full(p + 3, x[-1])] * scale
        assert_close(ind.KAMA(p).batch(x), talib.KAMA(x, p), np.abs(x).max(), f"KAMA({p}) {x}")


def test_stochastic_range_of_one_ulp(ind):
    """A high-low range of one ulp is zero to TA-Lib's scale-aware test: fast %K is 0."""
    rng = np.random.default_rng(32)
    base = np.round(100 + np.cumsum(rng.normal(0, 1, 300)), 2)
    close = base.copy()
    high, low = base + 0.5, base - 0.5
    for i in range(100, 300, 7):  # windows of bars that span one ulp
        high[i:i + 5] = np.nextafter(base[i], np.inf)
        low[i:i + 5] = base[i]
        close[i:i + 5] = high[i]  # at the top: 100 if the range were taken as nonzero
    for args in ((1, 1, 1), (3, 2, 2), (5, 3, 3)):
        want = talib.STOCH(high, low, close, args[0], args[1], 0, args[2], 0)
        got = ind.Stochastic(*args).batch(high, low, close)
        for g, w in zip(got, want, strict=True):
            assert_close(g, w, 100.0, f"Stochastic{args}")


def test_talib_applies_no_unstable_period():
    """The parity tests assume TA-Lib's default: outputs start at the lookback."""
    for func in ("EMA", "RSI", "ATR", "ADX", "KAMA"):  # the functions with one
        assert talib.get_unstable_period(func) == 0


def test_defaults_match_talib(ind):
    """Constructor defaults are TA-Lib 0.8's."""
    assert ind.SMA().period == 30 and ind.EMA().period == 30 and ind.KAMA().period == 30
    assert ind.WMA().period == 30 and ind.DEMA().period == 30 and ind.TEMA().period == 30
    assert ind.RSI().period == 14 and ind.ATR().period == 14 and ind.ADX().period == 14
    assert ind.StdDev().period == 5 and ind.BollingerBands().period == 20
    assert ind.RollingMin().period == 30 and ind.RollingMax().period == 30
    assert ind.ROC().period == 10 and ind.Momentum().period == 10


def test_vwap_against_numpy(ind, data):
    dname, (h, l, c, v) = data
    v = v.copy()
    v[:3] = 0.0  # NaN while the volume sum is 0
    with np.errstate(invalid="ignore", divide="ignore"):
        cum_v = np.cumsum(v)
        want = np.where(cum_v != 0, np.cumsum(c * v) / cum_v, np.nan)
    got = ind.VWAP().batch(c, v)
    assert np.isnan(got[:3]).all()
    assert_close(got, want, _scale("price", h, l, c, v), f"VWAP on {dname}")


def test_vwap_reset_starts_a_session(ind):
    h, l, c, v = _walk(300, 5)
    w = ind.VWAP()
    w.batch(c[:100], v[:100])
    w.reset()
    assert math.isnan(w.value) and not w.ready and w.count == 0
    got = w.batch(c[100:], v[100:])
    want = np.cumsum(c[100:] * v[100:]) / np.cumsum(v[100:])
    assert_close(got, want, 1e3, "VWAP after reset")


# --------------------------------------------------------------------------
# streaming, batch, peek, copy, pickle, reset
# --------------------------------------------------------------------------

#: class -> (constructor args, input kind): short periods, so streams cross the warm-up
SPECS = {
    "SMA": ((7,), "x"), "EMA": ((7,), "x"), "WMA": ((7,), "x"), "DEMA": ((5,), "x"),
    "TEMA": ((4,), "x"), "KAMA": ((6,), "x"), "RSI": ((6,), "x"), "MACD": ((3, 7, 4), "x"),
    "BollingerBands": ((6, 2.0, 1.5), "x"), "StdDev": ((6, 1.5), "x"),
    "RollingMin": ((6,), "x"), "RollingMax": ((6,), "x"), "ROC": ((4,), "x"),
    "Momentum": ((4,), "x"), "ATR": ((5,), "hlc"), "ADX": ((4,), "hlc"),
    "Stochastic": ((5, 3, 2), "hlc"), "OBV": ((), "cv"), "VWAP": ((), "pv"),
    "TrueRange": ((), "hlc"), "NATR": ((5,), "hlc"), "WilliamsR": ((6,), "hlc"), "CMO": ((6,), "x"),
    "APO": ((3, 7), "x"), "PPO": ((7, 3), "x"), "TRIMA": ((6,), "x"), "MFI": ((5,), "hlcv"),
    "ChaikinOscillator": ((3, 6), "hlcv"), "Aroon": ((5,), "hl"), "CCI": ((5,), "hlc"),
    "T3": ((3, 0.6), "x"), "ParabolicSAR": ((0.03, 0.25), "hl"), "StochRSI": ((6, 4, 3), "x"),
    "UltimateOscillator": ((3, 5, 8), "hlc"),
}
N_OUTPUTS = {"MACD": 3, "BollingerBands": 3, "Stochastic": 2, "Aroon": 2, "StochRSI": 2}
SINGLE_PERIOD = ["SMA", "EMA", "WMA", "DEMA", "TEMA", "KAMA", "RSI", "StdDev", "BollingerBands",
                 "RollingMin", "RollingMax", "ROC", "Momentum", "ATR", "ADX", "NATR", "WilliamsR", "CMO",
                 "TRIMA", "MFI", "Aroon", "CCI", "T3", "StochRSI"]
ALL = list(SPECS)


def _make(ind, name):
    args, _ = SPECS[name]
    return getattr(ind, name)(*args)


def _stream_data(name, n=240, seed=11):
    """Inputs for ``name``: columns (arrays) and rows (tuples of floats), on a tick grid (ties)."""
    h, l, c, v = _walk(n, seed, level=50.0, step=0.5, tick=0.25)
    cols = _inputs(SPECS[name][1], h, l, c, v)
    rows = list(zip(*(col.tolist() for col in cols), strict=True))
    return cols, rows


def _stream(obj, rows):
    return [obj.update(*row) for row in rows]


def _as_arrays(outputs, n_out):
    if n_out == 1:
        return np.array(outputs, dtype=np.float64)
    return tuple(np.array([o[i] for o in outputs], dtype=np.float64) for i in range(n_out))


def _assert_state_equal(a, b, rows):
    """a and b report the same value/ready/count and give the same outputs from here on."""
    assert _same(a.value, b.value)
    assert a.ready == b.ready and a.count == b.count
    for row in rows:
        assert _same(a.update(*row), b.update(*row))


@pytest.mark.parametrize("name", ALL)
def test_stream_equals_batch(ind, name):
    cols, rows = _stream_data(name)
    n_out = N_OUTPUTS.get(name, 1)
    streamed = _as_arrays(_stream(_make(ind, name), rows), n_out)
    batched = _make(ind, name).batch(*cols)
    if n_out == 1:
        assert isinstance(batched, np.ndarray) and batched.dtype == np.float64
        assert np.array_equal(streamed, batched, equal_nan=True)
    else:
        assert isinstance(batched, tuple) and len(batched) == n_out
        for s, b in zip(streamed, batched, strict=True):
            assert b.dtype == np.float64 and np.array_equal(s, b, equal_nan=True)
    # batch accepts any array-like (lists)
    again = _make(ind, name).batch(*(col.tolist() for col in cols))
    assert _same(again, batched)
    # and an empty batch is empty
    empty = _make(ind, name).batch(*([] for _ in cols))
    assert all(len(e) == 0 for e in (empty if n_out > 1 else (empty,)))


@pytest.mark.parametrize("name", ALL)
def test_batch_accepts_any_array_like(ind, name):
    """Read-only, non-contiguous, other-dtype arrays and lists all work like float64 arrays."""
    cols, rows = _stream_data(name, n=60)
    want = _make(ind, name).batch(*cols)
    readonly = []
    for col in cols:
        col = col.copy()
        col.flags.writeable = False
        readonly.append(col)
    strided = [np.repeat(col, 2)[::2] for col in cols]
    as_float32 = [col.astype(np.float32) for col in cols]
    for arrays in (readonly, strided, [col.tolist() for col in cols]):
        assert _same(_make(ind, name).batch(*arrays), want)
    got32 = _make(ind, name).batch(*as_float32)
    assert _same(got32, _make(ind, name).batch(*(a.astype(np.float64) for a in as_float32)))


@pytest.mark.parametrize("args", [None, "long"])
@pytest.mark.parametrize("name", ALL)
def test_batches_in_pieces_equal_the_stream(ind, name, args):
    """Long inputs cut at awkward places (inside the warm-up, at the first
    output, across the periodic re-sums and the vector groups of the runs):
    the batches' outputs are the stream's, bit for bit."""
    cols, rows = _stream_data(name, n=1500, seed=5)
    params = SPECS[name][0]
    if args == "long":       # windows past the short-window paths
        params = {"Stochastic": (17, 3, 3), "KAMA": (40,), "SMA": (33,), "WMA": (50,),
                  "ADX": (25,), "ATR": (21,)}.get(name, params)
    n_out = N_OUTPUTS.get(name, 1)
    want = _as_arrays(_stream(getattr(ind, name)(*params), rows), n_out)
    obj = getattr(ind, name)(*params)
    cuts = [0, 1, 2, 7, 15, 40, 41, 45, 300, 555, 556, 1001, 1500]
    pieces = [obj.batch(*(col[a:b] for col in cols)) for a, b in itertools.pairwise(cuts)]
    if n_out == 1:
        assert _same_bits(np.concatenate(pieces), want)
    else:
        assert _same_bits(tuple(np.concatenate([p[k] for p in pieces]) for k in range(n_out)), want)


@pytest.mark.parametrize("split", [0, 3, 120])
@pytest.mark.parametrize("name", ALL)
def test_batch_leaves_the_streaming_state(ind, name, split):
    """batch, then update, equals update throughout; batch in two pieces too."""
    cols, rows = _stream_data(name)
    streamed = _make(ind, name)
    _stream(streamed, rows[:split])
    batched = _make(ind, name)
    batched.batch(*(col[:split] for col in cols))
    _assert_state_equal(streamed, batched, rows[split:])
    # and batch continuing after a stream
    a, b = _make(ind, name), _make(ind, name)
    _stream(a, rows[:split])
    _stream(b, rows[:split])
    out_a = _as_arrays(_stream(a, rows[split:]), N_OUTPUTS.get(name, 1))
    out_b = b.batch(*(col[split:] for col in cols))
    if isinstance(out_b, tuple):
        assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(out_a, out_b, strict=True))
    else:
        assert np.array_equal(out_a, out_b, equal_nan=True)
    assert a.count == b.count == len(rows)


@pytest.mark.parametrize("name", ALL)
def test_peek_does_not_change_state(ind, name):
    cols, rows = _stream_data(name)
    _, other = _stream_data(name, seed=99)
    peeking, plain = _make(ind, name), _make(ind, name)
    for row, stranger in zip(rows, other, strict=True):
        before = (peeking.value, peeking.count, peeking.ready)
        p = peeking.peek(*row)
        assert _same(peeking.peek(*stranger), plain.peek(*stranger))  # any value, repeatable
        assert _same(peeking.peek(*row), p)
        assert _same(before[0], peeking.value) and before[1:] == (peeking.count, peeking.ready)
        u = peeking.update(*row)
        assert _same(p, u), f"peek {p} != update {u} at bar {peeking.count - 1}"
        assert _same(u, plain.update(*row))
    assert peeking.count == len(rows)


@pytest.mark.parametrize("how", ["copy", "copy.copy", "copy.deepcopy"])
@pytest.mark.parametrize("name", ALL)
def test_copy_is_independent(ind, name, how):
    cols, rows = _stream_data(name)
    _, other = _stream_data(name, seed=5)
    k = 100
    original = _make(ind, name)
    _stream(original, rows[:k])
    clone = {"copy": lambda o: o.copy(), "copy.copy": copy.copy,
             "copy.deepcopy": copy.deepcopy}[how](original)
    assert type(clone) is type(original) and clone is not original
    assert _same(clone.value, original.value) and clone.count == original.count
    out_original = _stream(original, other[k:])  # the original goes another way
    out_clone = _stream(clone, rows[k:])
    reference = _make(ind, name)
    out_ref = _stream(reference, rows)[k:]
    assert all(_same(a, b) for a, b in zip(out_clone, out_ref, strict=True))
    fresh = _make(ind, name)
    _stream(fresh, rows[:k])
    assert all(_same(a, b) for a, b in zip(out_original, _stream(fresh, other[k:]), strict=True))


def _implementation_in_use():
    """The indicators module that unpickling builds objects of (``_indicator_state.rebuild``)."""
    from admf_perf._ext import load

    return load("_indicators")


@pytest.mark.parametrize("name", ALL)
def test_pickle_mid_stream(ind, name, picklable):
    cols, rows = _stream_data(name)
    for k in (0, 2, 100):
        original = _make(ind, name)
        _stream(original, rows[:k])
        picklable(original)
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            restored = pickle.loads(pickle.dumps(original, proto))
            # a pickle loads into the implementation this process uses
            # (_indicator_state.rebuild): the twin's into the compiled classes when they are built
            assert type(restored) is getattr(_implementation_in_use(), name)
            probe = original.copy()
            _assert_state_equal(probe, restored, rows[k:])


@pytest.mark.parametrize("name", ALL)
def test_reset(ind, name):
    cols, rows = _stream_data(name)
    obj = _make(ind, name)
    first = _stream(obj, rows)
    obj.reset()
    fresh = _make(ind, name)
    assert _same(obj.value, fresh.value) and obj.count == 0 and not obj.ready
    assert all(_same(a, b) for a, b in zip(_stream(obj, rows), first, strict=True))


@pytest.mark.parametrize("name", ALL)
def test_value_ready_count(ind, name):
    cols, rows = _stream_data(name)
    obj = _make(ind, name)
    n_out = N_OUTPUTS.get(name, 1)
    nan = (math.nan,) * n_out if n_out > 1 else math.nan
    assert _same(obj.value, nan) and not obj.ready and obj.count == 0
    for i, row in enumerate(rows):
        out = obj.update(*row)
        if n_out > 1:
            assert isinstance(out, tuple) and len(out) == n_out
            assert all(type(x) is float for x in out)
            real = not math.isnan(out[0])
            assert all(math.isnan(x) != real for x in out)  # all outputs start together
        else:
            assert isinstance(out, float)
            real = not math.isnan(out)
        assert _same(obj.value, out) and obj.count == i + 1
        assert obj.ready == real
    assert obj.ready


@pytest.mark.parametrize("name", ALL)
def test_results_a_caller_keeps_never_change(ind, name):
    """The compiled update reuses its last result (a float, or a tuple and
    its floats) only when nobody else holds it (docs/internals.md): every
    result, ``value`` and ``peek`` kept here still holds its own bits once
    the stream has gone on, and a stream whose results are all dropped at
    once (reused every bar) gives the same values."""
    cols, rows = _stream_data(name)
    obj, dropped = _make(ind, name), _make(ind, name)
    kept, copies, reused = [], [], []
    for i, row in enumerate(rows):
        if i % 3 == 2:
            obj.update(*row)                            # dropped: the next call may reuse it
            copies.append(None)
            kept.append(None)
        else:
            out = obj.update(*row)
            kept.append(out)
            copies.append(np.array(out, dtype=np.float64))
            if i % 3 == 1:
                kept.append(obj.value)
                copies.append(np.array(obj.value, dtype=np.float64))
                kept.append(obj.peek(*row))
                copies.append(np.array(kept[-1], dtype=np.float64))
        reused.append(np.array(dropped.update(*row), dtype=np.float64))
    for out, then in zip(kept, copies, strict=True):
        if then is not None:
            assert _same_bits(np.array(out, dtype=np.float64), then), name
    fresh = _make(ind, name)
    every = [fresh.update(*row) for row in rows]        # all held: nothing to reuse
    assert _same_bits(np.array(reused), np.array(every, dtype=np.float64)), name


@pytest.mark.parametrize("name", SINGLE_PERIOD)
def test_period_attribute(ind, name):
    assert getattr(ind, name)(9).period == 9


# --------------------------------------------------------------------------
# composition
# --------------------------------------------------------------------------

def test_ema_of_rsi_matches_talib(ind, data):
    dname, (h, l, c, v) = data
    outer = ind.EMA(10, source=ind.RSI(14))
    got = outer.batch(c)
    want = np.full(len(c), np.nan)
    want[14:] = talib.EMA(talib.RSI(c, 14)[14:], 10)
    assert_close(got, want, 100.0, f"EMA(10, source=RSI(14)) on {dname}")
    assert outer.source is not None and outer.source.count == len(c)


def test_composition_with_a_multi_input_source(ind, data):
    """SMA(5) of ATR(14): update takes the source's (high, low, close)."""
    dname, (h, l, c, v) = data
    got = ind.SMA(5, source=ind.ATR(14)).batch(h, l, c)
    want = np.full(len(c), np.nan)
    want[14:] = talib.SMA(talib.ATR(h, l, c, 14)[14:], 5)
    assert_close(got, want, _scale("price", h, l, c, v), f"SMA(5, source=ATR(14)) on {dname}")


def test_bands_of_an_ema(ind):
    h, l, c, v = _dataset("walk")
    got = ind.BollingerBands(10, 1.5, 2.5, source=ind.EMA(5)).batch(c)
    inner = talib.EMA(c, 5)[4:]
    for g, w in zip(got, talib.BBANDS(inner, 10, 1.5, 2.5, 0), strict=True):
        full = np.full(len(c), np.nan)
        full[4:] = w
        assert_close(g, full, 1e3, "BollingerBands(source=EMA)")


@pytest.fixture
def composed(ind):
    return lambda: ind.EMA(4, source=ind.RSI(5))


def test_composition_stream_batch_peek_copy_pickle(ind, composed, picklable):
    h, l, c, v = _walk(200, 3, tick=0.5)
    rows = [(x,) for x in c.tolist()]
    streamed = composed()
    out = []
    for row in rows:
        p = streamed.peek(*row)
        out.append(streamed.update(*row))
        assert _same(p, out[-1])
    assert np.array_equal(np.array(out), composed().batch(c), equal_nan=True)
    # warm-up: RSI(5) starts at 5, EMA(4) of it at 5 + 3
    assert np.isnan(out[:8]).all() and not np.isnan(out[8:]).any()
    # batch then stream, copy and pickle carry the source's state
    a, b = composed(), composed()
    a.batch(c[:50])
    _stream(b, rows[:50])
    assert a.source.count == b.source.count == 50
    clone = a.copy()
    picklable(a)
    restored = pickle.loads(pickle.dumps(a))
    assert clone.source is not a.source
    ref = _stream(b, rows[50:])
    for other in (a, clone, restored):
        assert all(_same(x, y) for x, y in zip(_stream(other, rows[50:]), ref, strict=True))
    # reset resets the source too
    a.reset()
    assert a.count == 0 and a.source.count == 0 and not a.source.ready


def test_composed_batch_counts_every_bar(ind):
    x = np.arange(1.0, 11.0)
    a, b = ind.EMA(2, source=ind.SMA(3)), ind.EMA(2, source=ind.SMA(3))
    a.batch(x)
    for v in x:
        b.update(v)
    assert a.count == b.count == 10 and a.source.count == 10


def test_composed_batch_passes_an_infinite_source_value_on_as_update_does(ind):
    # ROC of 0 then 5 is +inf (the old value is 0: TA-Lib gives 0; x / 0 * 100 is never taken)
    x = np.array([1.0, 1e-300, 1e300, 2.0, 3.0, 4.0, 5.0, 6.0])
    a, b = ind.SMA(2, source=ind.ROC(1)), ind.SMA(2, source=ind.ROC(1))
    got = a.batch(x)
    ref = np.array([b.update(v) for v in x])
    assert not np.isfinite(ref[1:]).all()            # the case is met
    assert np.array_equal(got, ref, equal_nan=True)
    assert a.count == b.count and _same(a.value, b.value)


def test_mfi_through_zero_and_negative_prices(ind):
    """A window whose flows sum to 0 or below gives 0, as TA-Lib (prices that
    cross zero, spreads, negative futures); above 0 the ratio is clamped."""
    rng = np.random.default_rng(5)
    for level in (5.0, 0.0, -50.0):
        n = 400
        c = np.linspace(level + 5, level - 5, n) + rng.normal(size=n) * 0.3
        h, l, v = c + rng.random(n), c - rng.random(n), rng.random(n) * 1000
        v[rng.random(n) < 0.05] = 0.0
        for period in (3, 14, 29):
            want = talib.MFI(h, l, c, v, period)
            got = ind.MFI(period).batch(h, l, c, v)
            assert_close(got, want, 100.0, f"MFI({period}) at level {level}")
            if level < 0:
                assert (got[period + 40:] == 0.0).all()     # the case is met: every window below zero


def test_multi_output_with_a_source_that_overflows(ind):
    """Every output of a multi-output indicator is written when batch goes
    bar by bar (a source value that is not finite), as update writes them."""
    x = np.array([1.0, 1e-300, 1e300, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    a, b = (ind.BollingerBands(2, source=ind.ROC(1)) for _ in range(2))
    got = a.batch(x)
    ref = [b.update(v) for v in x]
    assert not np.isfinite(np.array(ref, dtype=float)[1:]).all()     # the case is met
    for k, g in enumerate(got):
        assert np.array_equal(g, np.array([r[k] for r in ref]), equal_nan=True), k
    assert _same(a.value, b.value)


def _flat_stretches(rng, n=300):
    """A geometric walk with three flat stretches (high = low = close) of 3
    to 70 bars, at a random scale."""
    c = np.exp(np.cumsum(rng.normal(size=n) * rng.random() * 0.3)) * 100
    for s0 in rng.integers(0, n - 50, 3):
        c[s0:s0 + rng.integers(3, 70)] = c[s0]
    h, l = c * (1 + rng.random(n) * 0.05), c * (1 - rng.random(n) * 0.05)
    flat = np.r_[False, c[1:] == c[:-1]]
    h[flat] = l[flat] = c[flat]
    scale = 10.0 ** rng.integers(-20, 9)
    return h * scale, l * scale, c * scale


def test_ultosc_flat_windows_after_moves(ind):
    """A window that holds no nonzero true range has exact zero totals (not a
    rounding residue over another) and no ratio, at every scale and for any
    periods, as TA-Lib; a sum that rounds to zero or below gives no ratio."""
    rng = np.random.default_rng(7)
    cases = [(*_flat_stretches(rng), tuple(int(p) for p in rng.integers(1, 40, 3))) for _ in range(40)]
    c = np.full(80, 100.0)
    h, l = c.copy(), c.copy()
    h[30], h[32], l[33] = 1e20, 101.0, 99.5        # a true range that absorbs the next ones
    cases.append((h, l, c, (7, 14, 28)))
    for h, l, c, p in cases:
        want = talib.ULTOSC(h, l, c, *p)
        got = ind.UltimateOscillator(*p).batch(h, l, c)
        assert np.array_equal(got, want, equal_nan=True), p
        obj, cut = ind.UltimateOscillator(*p), int(rng.integers(1, len(c)))   # batch then stream
        head = obj.batch(h[:cut], l[:cut], c[:cut])
        tail = [obj.update(*r) for r in zip(h[cut:], l[cut:], c[cut:], strict=True)]
        assert np.array_equal(np.concatenate([head, tail]), want, equal_nan=True), (p, cut)
    # the last case: no infinity where the absorbed ranges' sum is 0, and 0
    # once every window is flat
    assert np.isnan(got[:28]).all() and np.isfinite(got[28:]).all() and (got[58:] == 0.0).all()


def test_setstate_is_all_or_nothing(ind):
    obj = ind.SMA(3)
    for v in (1.0, 2.0, 4.0):
        obj.update(v)
    good = obj.__getstate__()
    version, count, out, st, ring, source = good
    broken = (version, 99, out, st, ring[:-1] + ["not a number"], source)
    with pytest.raises((TypeError, ValueError)):
        obj.__setstate__(broken)
    assert repr(obj.__getstate__()) == repr(good) and obj.update(8.0) == pytest.approx(14.0 / 3)


def _old_cases(version):
    path = Path(__file__).parent / "data" / f"indicator_states_v{version}.json"
    return [(version, case) for case in json.loads(path.read_text())["cases"]]


def _has_window(name, args):
    """Whether the class keeps its extremes as their windows (version 4:
    Stochastic's and StochRSI's fastk, up to 8 bars), where an older state's
    deques had dropped values."""
    where = {"Stochastic": (0, 5), "StochRSI": (1, 5)}.get(name)
    if where is None:
        return False
    i, default = where
    return (args[i] if len(args) > i else default) <= 8


def _case_id(c):
    return f"{c['name']}{tuple(c['args'])}[{c['bars']}]" if isinstance(c, dict) else f"v{c}"


@pytest.mark.parametrize("version, case", _old_cases(2) + _old_cases(3), ids=_case_id)
def test_an_older_pickle_loads_as_the_same_indicator(ind, version, case):
    """States earlier releases pickled load as the state of the same bars,
    and the indicator continues as one that saw them; a bank's too.  Version
    2 kept a deque's values, then its bar indices (now slot by slot); version
    3 kept every rolling extreme as a deque (a short one now keeps its
    window, so those slots hold what the deque kept: the same state but for
    the values it had dropped, and the same outputs from there on)."""
    from admf_perf._ext._indicator_state import rebuild
    from admf_perf.incremental.bank import _rebuild as rebuild_bank

    name, args, bars = case["name"], tuple(case["args"]), case["bars"]
    old_version, count, out, st, ring = case["state"]
    old = (old_version, count, tuple(out), st, ring, None)
    assert old_version == version
    got = rebuild(name, args, old)
    ref = getattr(ind, name)(*args)
    _, rows = _stream_data(name)
    _stream(ref, rows[:bars])
    same = 4 if _has_window(name, args) else 5      # the whole state, or all but the ring
    want = _kernel_state(ref)[:same]
    assert type(got).__name__ == name and _same_numbers(_kernel_state(got)[:same], want)   # the implementation in use
    n_out = N_OUTPUTS.get(name, 1)
    later = _as_arrays(_stream(ref, rows[bars:]), n_out)
    assert _same_bits(_as_arrays(_stream(got, rows[bars:]), n_out), later)
    if not args:
        bank = rebuild_bank(name, 2, "raise", {}, [old, old])
        assert all(_same_numbers(_kernel_state(bank[j])[:same], want) for j in range(2))
        panels = [np.stack([col, col], axis=1) for col in map(np.array, zip(*rows[bars:], strict=True))]
        assert _same_bits(bank.batch(*panels)[:, 1], later if n_out == 1 else np.stack(later, -1))
    with pytest.raises(ValueError, match=f"version {version}"):
        getattr(ind, name)(*args).__setstate__(old)      # only through the unpickler's upgrade


def test_divisions_never_raise_inside_a_kernel(ind):
    # ROC with a zero old value gives 0 (TA-Lib), without a ZeroDivisionError anywhere
    seen = []
    hook, sys.unraisablehook = sys.unraisablehook, seen.append
    try:
        r = ind.ROC(1)
        r.update(0.0)
        assert r.update(5.0) == 0.0 and ind.ROC(1).batch(np.array([0.0, 5.0]))[1] == 0.0
        # a range so small that / 100 rounds it to 0: stepping and batching agree
        s, t = ind.Stochastic(1, 1, 1), ind.Stochastic(1, 1, 1)
        one = s.update(1e-322, 0.0, 0.5e-322)
        both = t.batch(np.array([1e-322]), np.array([0.0]), np.array([0.5e-322]))
        assert _same(one, (both[0][0], both[1][0]))
    finally:
        sys.unraisablehook = hook
    assert seen == []


def test_composition_arity_is_the_sources(ind):
    outer = ind.EMA(5, source=ind.ATR(3))
    outer.update(2.0, 1.0, 1.5)
    with pytest.raises(TypeError, match="update"):
        outer.update(1.5)
    with pytest.raises(TypeError, match="batch"):
        outer.batch(np.ones(3))


def test_composition_errors(ind):
    # only single-output indicators can be a source (the exception type is not fixed by the docs)
    with pytest.raises((TypeError, ValueError), match="source"):
        ind.EMA(5, source=ind.MACD())
    with pytest.raises((TypeError, ValueError), match="source"):
        ind.EMA(5, source=ind.BollingerBands())
    with pytest.raises(TypeError, match="source"):
        ind.EMA(5, source="RSI")
    with pytest.raises(TypeError):
        ind.ATR(14, source=ind.RSI())  # the outer indicator must take one input


# --------------------------------------------------------------------------
# input checking
# --------------------------------------------------------------------------

INPUT_NAMES = {"x": ("x",), "hlc": ("high", "low", "close"), "cv": ("close", "volume"),
               "pv": ("price", "volume"), "hlcv": ("high", "low", "close", "volume"), "hl": ("high", "low")}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", ALL)
def test_non_finite_input_raises(ind, name, bad):
    cols, rows = _stream_data(name, n=400)
    names = INPUT_NAMES[SPECS[name][1]]
    obj, ref = _make(ind, name), _make(ind, name)
    _stream(obj, rows[:20])
    _stream(ref, rows[:20])
    for pos, input_name in enumerate(names):
        row = list(rows[20])
        row[pos] = bad
        for method in ("update", "peek"):
            with pytest.raises(ValueError, match=rf"(?s)(?=.*{name})(?=.*\b{input_name}\b)"):
                getattr(obj, method)(*row)
        # anywhere in a long batch: the warm-up, the vector groups of the runs, the tail
        for at in (0, 7, 150, 298, 299):
            arrays = [col[20:320].copy() for col in cols]
            arrays[pos][at] = bad
            with pytest.raises(ValueError, match=rf"(?s)(?=.*{name})(?=.*\b{input_name}\b)"):
                obj.batch(*arrays)
    # nothing changed: obj continues as if the bad inputs were never seen
    _assert_state_equal(obj, ref, rows[20:])


@pytest.mark.parametrize("name", ALL)
def test_wrong_number_of_inputs(ind, name):
    """TypeError naming the method and the expected inputs."""
    obj = _make(ind, name)
    names = INPUT_NAMES[SPECS[name][1]]
    n = len(names)
    expected = "".join(rf"(?=.*\b{input_name}\b)" for input_name in names)
    for method in ("update", "peek", "batch"):
        arg = np.ones(3) if method == "batch" else 1.0
        for k in (n - 1, n + 1):
            with pytest.raises(TypeError, match=rf"(?s)(?=.*{method}){expected}"):
                getattr(obj, method)(*([arg] * k))
    assert obj.count == 0


@pytest.mark.parametrize("name", ALL)
def test_update_of_a_non_number_names_the_input(ap, ind, name):
    """``update("x", ...)``: a TypeError naming the class and the input, the
    same on both implementations; nothing is consumed (ADMF_PERF_PORTABLE=1:
    Cython's own message, documented in api.md)."""
    import os
    if _compiled(ap) and os.environ.get("ADMF_PERF_PORTABLE", "").strip() not in ("", "0"):
        pytest.skip("the portable build raises Cython's message")
    obj = _make(ind, name)
    names = INPUT_NAMES[SPECS[name][1]]
    for k, bad in enumerate(("x", None, [1.0])[: len(names)] if len(names) > 1 else ("x",)):
        args = [1.0] * len(names)
        args[k] = bad
        with pytest.raises(TypeError, match=rf"{type(obj).__name__}\.update: input '{names[k]}' must be real "
                                            rf"number, not {type(bad).__name__}"):
            obj.update(*args)
    assert obj.count == 0


@pytest.mark.parametrize("name", [n for n in ALL if len(INPUT_NAMES[SPECS[n][1]]) > 1])
def test_batch_unequal_lengths(ind, name):
    obj = _make(ind, name)
    n = len(INPUT_NAMES[SPECS[name][1]])
    arrays = [np.ones(5)] * (n - 1) + [np.ones(4)]
    with pytest.raises(ValueError):
        obj.batch(*arrays)
    assert obj.count == 0


MIN_PERIOD = {"SMA": 1, "EMA": 1, "WMA": 1, "DEMA": 1, "TEMA": 1, "KAMA": 1, "RSI": 2,
              "StdDev": 2, "BollingerBands": 2, "RollingMin": 2, "RollingMax": 2, "ROC": 1,
              "Momentum": 1, "ATR": 1, "ADX": 2, "NATR": 1, "WilliamsR": 2, "CMO": 2, "TRIMA": 2, "MFI": 2,
              "Aroon": 2, "CCI": 2, "T3": 1, "StochRSI": 2}


@pytest.mark.parametrize("name", SINGLE_PERIOD)
def test_bad_period(ind, name):
    cls = getattr(ind, name)
    low = MIN_PERIOD[name]
    assert cls(low).period == low  # TA-Lib's minimum is accepted
    for bad in (low - 1, -5):
        with pytest.raises(ValueError, match="period"):
            cls(bad)
    for bad in (14.0, 2.5, "14", None):
        with pytest.raises(TypeError, match="period"):
            cls(bad)


def test_bad_multi_parameters(ind):
    for kwargs, param in [(dict(fast=1), "fast"), (dict(slow=0), "slow"), (dict(signal=0), "signal")]:
        with pytest.raises(ValueError, match=param):
            ind.MACD(**kwargs)
    with pytest.raises(TypeError, match="fast"):
        ind.MACD(fast=12.5)
    for kwargs, param in [(dict(fastk=0), "fastk"), (dict(slowk=0), "slowk"), (dict(slowd=-1), "slowd")]:
        with pytest.raises(ValueError, match=param):
            ind.Stochastic(**kwargs)
    with pytest.raises(TypeError, match="slowd"):
        ind.Stochastic(slowd="3")
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="nbdev_up"):
            ind.BollingerBands(20, bad, 2.0)
        with pytest.raises(ValueError, match="nbdev_down"):
            ind.BollingerBands(20, 2.0, bad)
        with pytest.raises(ValueError, match="nbdev"):
            ind.StdDev(5, bad)
    for kwargs, param in [(dict(acceleration=-0.01), "acceleration"), (dict(maximum=-1.0), "maximum"),
                          (dict(acceleration=math.nan), "acceleration"), (dict(maximum=math.inf), "maximum")]:
        with pytest.raises(ValueError, match=param):
            ind.ParabolicSAR(**kwargs)
    with pytest.raises(TypeError, match="acceleration"):
        ind.ParabolicSAR(acceleration="0.02")
    assert ind.ParabolicSAR(0, 0).acceleration == 0.0      # TA-Lib's minimum is accepted
    for kwargs, param in [(dict(fastk=0), "fastk"), (dict(fastd=0), "fastd"), (dict(period=1), "period")]:
        with pytest.raises(ValueError, match=param):
            ind.StochRSI(**kwargs)
    for kwargs, param in [(dict(period1=0), "period1"), (dict(period2=-1), "period2"),
                          (dict(period3=100001), "period3")]:
        with pytest.raises(ValueError, match=param):
            ind.UltimateOscillator(**kwargs)
    with pytest.raises(TypeError, match="period3"):
        ind.UltimateOscillator(period3=28.0)


# --------------------------------------------------------------------------
# numerical drift
# --------------------------------------------------------------------------

def test_no_drift_over_a_long_stream(ap, ind):
    """SMA(20), StdDev(20) after a long random walk around 1e4 equal a fresh
    computation of the last windows within 1e-9 relative."""
    n = 10_000_000 if _compiled(ap) else 200_000
    rng = np.random.default_rng(20)
    x = 1e4 + np.cumsum(rng.normal(0.0, 1.0, n))
    sma = ind.SMA(20).batch(x)[-1000:]
    std = ind.StdDev(20).batch(x)[-1000:]
    windows = np.lib.stride_tricks.sliding_window_view(x[-1019:], 20)
    assert_close(sma, windows.mean(axis=1), 0.0, "SMA(20) drift")
    assert_close(std, windows.std(axis=1), 0.0, "StdDev(20) drift")


@pytest.mark.parametrize("stream", [False, True])
def test_no_residue_after_a_level_shift(ind, stream):
    """Rounding errors of a long stretch of large values do not leak into the
    windows after the level falls by 1e6 (uncompensated running sums keep them)."""
    rng = np.random.default_rng(22)
    x = np.concatenate([1e6 + np.cumsum(rng.normal(0.0, 50.0, 100_000)),
                        1.0 + np.cumsum(rng.normal(0.0, 1e-3, 200))])
    sma, std = ind.SMA(20), ind.StdDev(20)
    if stream:
        got_sma = np.array([sma.update(v) for v in x.tolist()])[-100:]
        got_std = np.array([std.update(v) for v in x.tolist()])[-100:]
    else:
        got_sma, got_std = sma.batch(x)[-100:], std.batch(x)[-100:]
    windows = np.lib.stride_tricks.sliding_window_view(x[-119:], 20)
    assert_close(got_sma, windows.mean(axis=1), 0.0, "SMA(20) after a level shift")
    assert_close(got_std, windows.std(axis=1), 0.0, "StdDev(20) after a level shift")


def test_streamed_updates_do_not_drift(ind):
    """The same through update (the compiled update path may differ from its batch loop)."""
    rng = np.random.default_rng(21)
    x = (1e4 + np.cumsum(rng.normal(0.0, 1.0, 50_000))).tolist()
    sma, std = ind.SMA(20), ind.StdDev(20)
    for v in x:
        sma.update(v)
        std.update(v)
    last = np.array(x[-20:])
    assert_close([sma.value, std.value], [last.mean(), last.std()], 0.0, "streamed drift")


# --------------------------------------------------------------------------
# property test
# --------------------------------------------------------------------------

_PROPERTY_CASES = {
    # name: (talib reference(params, h, l, c, v), params strategy, input kind, scale kind)
    "SMA": (lambda p, h, l, c, v: talib.SMA(c, p), st.integers(1, 30), "x", "price"),
    "EMA": (lambda p, h, l, c, v: talib.EMA(c, p), st.integers(1, 30), "x", "price"),
    "WMA": (lambda p, h, l, c, v: talib.WMA(c, p), st.integers(1, 30), "x", "price"),
    "DEMA": (lambda p, h, l, c, v: talib.DEMA(c, p), st.integers(1, 15), "x", "price"),
    "TEMA": (lambda p, h, l, c, v: talib.TEMA(c, p), st.integers(1, 10), "x", "price"),
    "KAMA": (lambda p, h, l, c, v: talib.KAMA(c, p), st.integers(1, 30), "x", "price"),
    "RSI": (lambda p, h, l, c, v: talib.RSI(c, p), st.integers(2, 30), "x", "osc"),
    "StdDev": (lambda p, h, l, c, v: talib.STDDEV(c, p), st.integers(2, 30), "x", "price"),
    "BollingerBands": (lambda p, h, l, c, v: talib.BBANDS(c, p, 2.0, 2.0, 0),
                       st.integers(2, 30), "x", "price"),
    "RollingMin": (lambda p, h, l, c, v: talib.MIN(c, p), st.integers(2, 30), "x", "price"),
    "RollingMax": (lambda p, h, l, c, v: talib.MAX(c, p), st.integers(2, 30), "x", "price"),
    "ROC": (lambda p, h, l, c, v: talib.ROC(c, p), st.integers(1, 30), "x", "osc"),
    "Momentum": (lambda p, h, l, c, v: talib.MOM(c, p), st.integers(1, 30), "x", "price"),
    "ATR": (lambda p, h, l, c, v: talib.ATR(h, l, c, p), st.integers(1, 30), "hlc", "price"),
    "ADX": (lambda p, h, l, c, v: talib.ADX(h, l, c, p), st.integers(2, 20), "hlc", "osc"),
    "MACD": (lambda p, h, l, c, v: talib.MACD(c, *p),
             st.tuples(st.integers(2, 12), st.integers(2, 20), st.integers(1, 8)), "x", "price"),
    "Stochastic": (lambda p, h, l, c, v: talib.STOCH(h, l, c, p[0], p[1], 0, p[2], 0),
                   st.tuples(st.integers(1, 10), st.integers(1, 5), st.integers(1, 5)), "hlc", "osc"),
    "OBV": (lambda p, h, l, c, v: talib.OBV(c, v), st.just(()), "cv", "volume"),
}


@st.composite
def _ohlcv(draw):
    n = draw(st.integers(0, 120))
    # prices on a coarse grid half the time: ties, flat windows, zero ranges
    grid = draw(st.booleans())
    step = st.integers(-3, 3).map(float) if grid else st.floats(-5.0, 5.0)
    steps = draw(st.lists(step, min_size=n, max_size=n))
    level = draw(st.floats(10.0, 1e4))
    c = level + np.cumsum(np.array(steps, dtype=np.float64))
    spread = st.integers(0, 2).map(float) if grid else st.floats(0.0, 3.0)
    up = np.array(draw(st.lists(spread, min_size=n, max_size=n)), dtype=np.float64)
    down = np.array(draw(st.lists(spread, min_size=n, max_size=n)), dtype=np.float64)
    v = np.array(draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n)), dtype=np.float64)
    return c + up, c - down, c, v


@settings(max_examples=examples(150), deadline=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no slow "explain"
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(_PROPERTY_CASES)), data=st.data(), bars=_ohlcv())
def test_property_batch_equals_stream_and_talib(ind, name, data, bars):
    ref, params, kind, scale_kind = _PROPERTY_CASES[name]
    p = data.draw(params, label="params")
    args = p if isinstance(p, tuple) else (p,)
    h, l, c, v = bars
    cols = _inputs(kind, h, l, c, v)
    got = getattr(ind, name)(*args).batch(*cols)
    obj = getattr(ind, name)(*args)
    streamed = [obj.update(*row) for row in zip(*(col.tolist() for col in cols), strict=True)]
    n_out = len(got) if isinstance(got, tuple) else 1
    streamed = _as_arrays(streamed, n_out)
    if n_out == 1:
        assert np.array_equal(streamed, got, equal_nan=True)
    else:
        assert all(np.array_equal(s, g, equal_nan=True) for s, g in zip(streamed, got, strict=True))
    if len(c) == 0:
        return
    want = ref(p, h, l, c, v)
    scale = _scale(scale_kind, h, l, c, v)
    if n_out == 1:
        assert_close(got, want, scale, f"{name}{args}")
    else:
        for g, w in zip(got, want, strict=True):
            assert_close(g, w, scale, f"{name}{args}")


# --------------------------------------------------------------------------
# the twin mirrors the compiled module (state, arithmetic, pickles)
# --------------------------------------------------------------------------

def _compiled_and_twin():
    """The indicators of the compiled package and of the twin's; skip without the build."""
    from conftest import get_package

    compiled, python = get_package("compiled"), get_package("python")
    if not compiled.COMPILED.get("_indicators"):
        pytest.skip("the compiled indicators are not built (or ADMF_PERF_NO_EXTENSIONS is set)")
    return compiled.indicators, python.indicators


def _same_numbers(a, b) -> bool:
    """Plain-number structures (dicts, lists, tuples of ints and floats) equal
    in shape, keys, types and bits (NaN equal to NaN; 0.0 not equal to -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_numbers(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_numbers(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return (a != a and b != b) or (a == b and math.copysign(1.0, a) == math.copysign(1.0, b))
    return a == b


def _same_bits(a, b) -> bool:
    """Outputs (arrays or tuples of arrays) equal bit for bit, NaN equal to NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not np.array_equal(a, b, equal_nan=True):
        return False
    real = ~np.isnan(a)
    return np.array_equal(np.signbit(a[real]), np.signbit(b[real]))


def _kernel_state(obj):
    """Everything the pickled state holds but the source: version, count,
    outputs, the kernel's struct as a dict, the ring."""
    state = obj.__getstate__()
    assert _same_numbers(state[3], obj._state_dict())
    return state[:5]


#: every class with its defaults, then the edge parameters (identities, swaps, shortest windows)
_MIRROR_CASES = [(name, ()) for name in SPECS] + [
    ("SMA", (1,)), ("SMA", (2,)), ("EMA", (1,)), ("WMA", (1,)), ("WMA", (5,)), ("DEMA", (3,)),
    ("TEMA", (2,)), ("KAMA", (1,)), ("KAMA", (5,)), ("RSI", (2,)), ("MACD", (26, 12, 9)),
    ("MACD", (2, 2, 1)), ("BollingerBands", (5, 1.5, 3.0)), ("StdDev", (2, 2.5)), ("RollingMin", (2,)),
    ("RollingMax", (9,)), ("ROC", (1,)), ("Momentum", (25,)), ("ATR", (1,)), ("ADX", (2,)),
    ("Stochastic", (1, 1, 1)), ("Stochastic", (14, 3, 5)), ("Stochastic", (17, 2, 4)),
    ("KAMA", (2,)), ("SMA", (31,)), ("WMA", (64,)), ("ADX", (30,)),
    ("ParabolicSAR", (0.3, 0.2)), ("StochRSI", (2, 1, 1)), ("UltimateOscillator", (28, 1, 7)),
]

_MIRROR_DATA = {
    "walk": lambda: _walk(500, 41),
    "ticks": lambda: _walk(500, 42, level=1.2, step=2e-4, tick=1e-4),  # ties, flat windows
    "flat": lambda: _flat_bars(500, 43),  # zero ranges, zero gains and losses, re-centrings
}


@pytest.mark.parametrize("dname", sorted(_MIRROR_DATA))
def test_twin_mirrors_the_compiled_module(dname):
    """Stepping the twin gives the compiled ``update``'s outputs bit for bit and
    leaves the same kernel state and ring; the class trees are the same."""
    cind, tind = _compiled_and_twin()
    h, l, c, v = _MIRROR_DATA[dname]()
    for name, args in _MIRROR_CASES:
        what = f"{name}{args} on {dname}"
        comp, twin = getattr(cind, name)(*args), getattr(tind, name)(*args)
        assert type(twin).__module__.endswith("_indicators_py") and type(comp).__module__.endswith("_indicators")
        assert [k.__name__ for k in type(comp).__mro__] == [k.__name__ for k in type(twin).__mro__], what
        assert [k.__name__ for k in type(twin).__mro__] == [name, "_Indicator", "object"], what
        assert _same_numbers(_kernel_state(comp), _kernel_state(twin)), f"{what}: initial state"
        assert len(twin.__getstate__()[4]) == twin._nring
        cols = _inputs(SPECS[name][1], h, l, c, v)
        rows = list(zip(*(col.tolist() for col in cols), strict=True))
        n_out = N_OUTPUTS.get(name, 1)
        half = len(rows) // 2
        out_c, out_t = _stream(comp, rows[:half]), _stream(twin, rows[:half])
        assert _same_numbers(_kernel_state(comp), _kernel_state(twin)), f"{what}: state mid-stream"
        assert _same_numbers(comp.peek(*rows[half]), twin.peek(*rows[half])), f"{what}: peek"
        out_c += _stream(comp, rows[half:])
        out_t += _stream(twin, rows[half:])
        got_c, got_t = _as_arrays(out_c, n_out), _as_arrays(out_t, n_out)
        assert _same_bits(got_c, got_t), f"{what}: outputs"
        assert _same_numbers(_kernel_state(comp), _kernel_state(twin)), f"{what}: state after the stream"
        assert _same_numbers(comp.value, twin.value) and comp.ready == twin.ready
        # the batches: the compiled runs and the twin's steps
        batch_c, batch_t = getattr(cind, name)(*args).batch(*cols), getattr(tind, name)(*args).batch(*cols)
        assert _same(batch_c, got_c) and _same(batch_t, got_t), f"{what}: batch"


@pytest.mark.parametrize("name", ["RSI", "CMO"])
def test_twin_and_compiled_keep_one_state_past_an_infinite_difference(name):
    """A source may pass +inf on (ROC(1) over 1e-300 then 1e300 overflows),
    so a difference of +inf reaches the smoothed sums: the losses then
    become NaN in both implementations (``up - d``), the gains inf, every
    output NaN, and the two keep, and pickle, the same state."""
    cind, tind = _compiled_and_twin()
    xs = [1.0, 2.0, 1e-300, 1e300, 1e300, 2.0, 3.0, 1.5, 2.5, 1.0, 4.0]
    comp = getattr(cind, name)(3, source=cind.ROC(1))
    twin = getattr(tind, name)(3, source=tind.ROC(1))
    out_c, out_t = [comp.update(x) for x in xs], [twin.update(x) for x in xs]
    assert _same_bits(np.array(out_c), np.array(out_t))
    state = _kernel_state(comp)
    assert state[3]["gain"] == math.inf and math.isnan(state[3]["loss"])
    assert _same_numbers(state, _kernel_state(twin))


def _int_fields(st, path=()):
    """The paths of a kernel state dict's integer fields."""
    for key, v in st.items():
        if isinstance(v, dict):
            yield from _int_fields(v, path + (key,))
        elif isinstance(v, int):
            yield path + (key,)


def _with(st, path, v):
    st = copy.deepcopy(st)
    d = st
    for key in path[:-1]:
        d = d[key]
    d[path[-1]] = v
    return st


@pytest.mark.parametrize("name", ALL)
def test_a_corrupted_pickled_state_is_refused_and_changes_nothing(ind, name):
    """A state whose integers the steps index the ring with (slots,
    lengths, parameters the ring's layout follows, counts) is checked:
    out of range, __setstate__ raises ValueError naming the field and the
    indicator is as before (it had read and written outside its ring: a
    crash, or another object's memory changed)."""
    obj = getattr(ind, name)()
    _, rows = _stream_data(name)
    _stream(obj, rows[:60])
    good = obj.__getstate__()
    version, count, out, st, ring, source = good
    fields = list(_int_fields(st))
    assert fields or name == "VWAP"
    for path in fields:
        d = st                          # the field's own dict: its window
        for key in path[:-1]:
            d = d[key]
        bound = d.get("period", max((d[p] for p in ("p1", "p2", "p3") if p in d), default=0))
        bad = [-1, -(2 ** 62)]
        if path[-1] in ("pos", "head", "size"):         # a ring slot, a length: within the window
            bad += [bound + (path[-1] == "size"), 2 ** 40]
        elif path[-1] in ("period", "p1", "p2", "p3", "lag", "lookback", "pct"):   # the parameters
            bad += [d[path[-1]] + 1]
        for v in bad:
            with pytest.raises(ValueError, match=re.escape(f": {'.'.join(path)} ")):
                obj.__setstate__((version, count, out, _with(st, path, v), ring, source))
            assert _same_numbers(_kernel_state(obj), good[:5]), f"{path}={v}"
    if fields:                          # a float where an integer is
        with pytest.raises(TypeError, match=re.escape(f": {'.'.join(fields[0])} ")):
            obj.__setstate__((version, count, out, _with(st, fields[0], 1.5), ring, source))
    with pytest.raises(ValueError, match="fields"):
        obj.__setstate__((version, count, out, {**st, "extra": 0}, ring, source))
    n_out = N_OUTPUTS.get(name, 1)
    ref = getattr(ind, name)()
    _stream(ref, rows[:60])
    assert _same_bits(_as_arrays(_stream(obj, rows[60:]), n_out), _as_arrays(_stream(ref, rows[60:]), n_out))


def _deque_dicts(st, path=()):
    """The rolling extremes' dicts of a kernel state (k, head, size, period), in order."""
    if list(st) == ["k", "head", "size", "period"]:
        return [(path, st)]
    return [d for key, v in st.items() if isinstance(v, dict) for d in _deque_dicts(v, path + (key,))]


@pytest.mark.parametrize("name, args", [("RollingMax", (3,)), ("RollingMin", ()), ("WilliamsR", ()), ("Aroon", (5,)),
                                        ("Stochastic", (14, 3, 3)), ("Stochastic", ()), ("StochRSI", ())])
def test_a_pickled_deque_that_could_outgrow_its_slots_is_refused(ind, name, args):
    """A deque stays within its slots because its front leaves the window:
    bar indices that do not increase within the window, or more values
    than bars, would let it grow past them (into the next deque's slots, or
    past the ring).  Such a state is refused and changes nothing; a window
    (at most 8 bars: Stochastic's, StochRSI's fastk) has no length."""
    obj = getattr(ind, name)(*args)
    _, rows = _stream_data(name)
    _stream(obj, rows[:60])
    good = obj.__getstate__()
    version, count, out, st, ring, source = good
    base = 0
    for path, d in _deque_dicts(st):
        n = d["period"]
        window = name in ("Stochastic", "StochRSI") and n <= 8
        bad = [(_with(st, path + ("size",), 1), ring)]
        if not window:
            bad = [(_with(st, path + ("size",), n), ring)]   # every slot, bar indices out of order
            head = d["head"]
            for v in (1e300, math.nan, float(d["k"])):          # the front's bar index
                r = list(ring)
                r[base + 2 * head + 1] = v
                bad.append((st, r))
        for bst, br in bad:
            with pytest.raises(ValueError, match="size must be 0" if window else "bar indices|size must be"):
                obj.__setstate__((version, count, out, bst, br, source))
            assert _same_numbers(_kernel_state(obj), good[:5])
        base += 2 * n
    n_out = N_OUTPUTS.get(name, 1)
    ref = getattr(ind, name)(*args)
    _stream(ref, rows[:60])
    assert _same_bits(_as_arrays(_stream(obj, rows[60:]), n_out), _as_arrays(_stream(ref, rows[60:]), n_out))


@pytest.mark.parametrize("name", ALL)
def test_pickles_cross_implementations(name):
    """A state taken mid-stream from one implementation loads into the other
    (``__setstate__``), and both continue bit for bit; pickles go through
    ``_indicator_state.rebuild`` and load into the implementation in use."""
    from admf_perf._ext import _indicator_state

    cind, tind = _compiled_and_twin()
    args, _ = SPECS[name]
    cols, rows = _stream_data(name)
    n_out = N_OUTPUTS.get(name, 1)
    for k in (0, 3, 100):
        for src_ind, dst_ind in ((cind, tind), (tind, cind)):
            src = getattr(src_ind, name)(*args)
            _stream(src, rows[:k])
            cls = getattr(dst_ind, name)
            if dst_ind is tind:
                dst = cls.__new__(cls)
                dst.__init__(*args)
            else:  # the compiled constructor runs in __cinit__ (__new__)
                dst = cls(*args)
            dst.__setstate__(src.__getstate__())
            what = f"{name}{args} after {k} bars, {type(src).__module__} -> {type(dst).__module__}"
            assert _same_numbers(_kernel_state(src), _kernel_state(dst)), what
            assert _same(src.value, dst.value) and src.count == dst.count and src.ready == dst.ready
            out_src, out_dst = _stream(src, rows[k:]), _stream(dst, rows[k:])
            assert _same_bits(_as_arrays(out_src, n_out), _as_arrays(out_dst, n_out)), what
            assert _same_numbers(_kernel_state(src), _kernel_state(dst)), what
    # pickle round trips, both implementations, mid-stream
    for ind in (cind, tind):
        obj = getattr(ind, name)(*args)
        _stream(obj, rows[:100])
        reducer, (rname, rargs, rstate) = obj.__reduce__()
        assert reducer is _indicator_state.rebuild
        assert (rname, rargs) == (name, args) and _same_numbers(rstate[:5], _kernel_state(obj))
        restored = pickle.loads(pickle.dumps(obj))
        assert type(restored) is getattr(_implementation_in_use(), name)
        assert _same_numbers(_kernel_state(restored), _kernel_state(obj))
        out_obj, out_restored = _stream(obj, rows[100:]), _stream(restored, rows[100:])
        assert _same_bits(_as_arrays(out_obj, n_out), _as_arrays(out_restored, n_out))


@pytest.mark.parametrize("dname", sorted(_MIRROR_DATA))
def test_avx2_runs_give_the_baseline_bits(dname):
    """The AVX2 build of the runs (``_ind_simd``, used where the CPU has AVX2)
    and the module's own give the same outputs and leave the same state, bit
    for bit, in one batch and in batches that continue one another."""
    cind, _ = _compiled_and_twin()
    from conftest import get_package

    mod = get_package("compiled")._ext._indicators
    if mod._use_simd(True) != "avx2":
        pytest.skip("no AVX2 build or no AVX2 on this CPU")
    h, l, c, v = _MIRROR_DATA[dname]()
    results = {}
    try:
        for runs in (True, False):
            assert mod._use_simd(runs) == ("avx2" if runs else "baseline")
            for name, args in _MIRROR_CASES + [(name, ()) for name in ALL]:
                cols = _inputs(SPECS[name][1], h, l, c, v)
                whole, parts = getattr(cind, name)(*args), getattr(cind, name)(*args)
                out = whole.batch(*cols)
                pieces = [parts.batch(*(col[lo:hi] for col in cols)) for lo, hi in ((0, 7), (7, 300), (300, None))]
                results[runs, name, args] = (out, pieces, _kernel_state(whole), _kernel_state(parts))
    finally:
        mod._use_simd(True)
    for (runs, name, args), (out, pieces, st_whole, st_parts) in results.items():
        if runs:
            ref = results[False, name, args]
            what = f"{name}{args} on {dname}"
            assert _same_bits(out, ref[0]), f"{what}: one batch"
            assert all(_same_bits(p, q) for p, q in zip(pieces, ref[1], strict=True)), f"{what}: batches"
            assert _same_numbers(st_whole, ref[2]) and _same_numbers(st_parts, ref[3]), f"{what}: state"


@pytest.mark.parametrize("dname", sorted(_MIRROR_DATA))
def test_a_run_without_memory_for_its_scratch_steps_instead(dname):
    """When a run cannot allocate its scratch it changes nothing, and batch
    steps bar by bar: the same outputs, bit for bit, in batches that continue
    one another, and then the same stream (a deque's layout in its ring may
    differ; its contents do not).  Every run that allocates takes the path:
    the scratch allocations made to fail one at a time."""
    cind, _ = _compiled_and_twin()
    from conftest import get_package

    mod = get_package("compiled")._ext._indicators
    h, l, c, v = _MIRROR_DATA[dname]()
    failed = set()
    try:
        mod._use_simd(False)
        for name, args in _MIRROR_CASES + [(name, ()) for name in ALL]:
            cols = _inputs(SPECS[name][1], h, l, c, v)
            ref, obj = getattr(cind, name)(*args), getattr(cind, name)(*args)
            cuts = ((0, 7), (7, 300), (300, 450))
            want = [ref.batch(*(col[lo:hi] for col in cols)) for lo, hi in cuts]
            got = []
            for lo, hi in cuts:
                mod._fail_scratch(1)
                got.append(obj.batch(*(col[lo:hi] for col in cols)))
                if mod._fail_scratch(0) == 0:     # the failure was taken: this run allocates
                    failed.add(name)
            what = f"{name}{args} on {dname}"
            assert all(_same_bits(p, q) for p, q in zip(got, want, strict=True)), what
            rows = list(zip(*(col[450:] for col in cols), strict=True))
            n_out = N_OUTPUTS.get(name, 1)
            assert obj.count == ref.count and _same_bits(
                _as_arrays(_stream(obj, rows), n_out), _as_arrays(_stream(ref, rows), n_out)), what
    finally:
        mod._fail_scratch(0)
        mod._use_simd(True)
    # the case is met: every run that allocates a scratch array took the path
    assert failed >= {"WilliamsR", "APO", "PPO", "TRIMA", "MFI", "StochRSI",
                      "UltimateOscillator", "RollingMax", "RollingMin"}, failed


def test_the_twins_fma_is_c99s():
    """The twin's exact ``fma`` (Python < 3.13) rounds once, as C99's: against
    libm's, on random, cancelling, huge, tiny and non-finite triples."""
    import ctypes
    import ctypes.util

    from admf_perf._ext._indicators_py import _fma_exact

    path = ctypes.util.find_library("m")
    if path is None:
        pytest.skip("no libm to compare with")
    cfma = ctypes.CDLL(path).fma
    cfma.restype = ctypes.c_double
    cfma.argtypes = [ctypes.c_double] * 3
    rng = np.random.default_rng(7)
    triples = [tuple(t) for t in rng.normal(size=(3000, 3)) * np.exp(rng.uniform(-30, 30, size=(3000, 3)))]
    for a, b in rng.normal(size=(500, 2)):
        triples.append((a, b, -(a * b)))          # cancellation: the fused result is the product's error
    big, tiny = 1.7e308, 5e-324
    triples += [(big, 2.0, -big), (big, 1.5, 0.0), (tiny, 0.5, 0.0), (tiny, 0.5, tiny), (-0.0, 1.0, 0.0),
                (-0.0, 1.0, -0.0), (0.0, -1.0, -0.0), (1.0, 1.0, -1.0), (-1.0, 1.0, 1.0),
                (math.inf, 0.0, 1.0), (math.inf, 1.0, -math.inf), (big, big, -math.inf), (math.nan, 1.0, 1.0),
                (1.0, 2.0, math.nan), (1.0 + 2**-52, 1.0 - 2**-53, -1.0)]
    for a, b, c in triples:
        want, got = cfma(a, b, c), _fma_exact(a, b, c)
        assert (want != want and got != got) or (want == got and math.copysign(1, want) == math.copysign(1, got)), \
            (a, b, c, want, got)
