"""IndicatorBank (DESIGN.md, "Incremental calculation"; incremental/bank.py):
every class against its single indicator run on each column, bit for bit,
in both implementations; missing bars against a single indicator fed only
the present ones; input layouts, threads, errors, state."""
from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from test_indicators import N_OUTPUTS, SPECS, _walk

ALL = list(SPECS)


def _panels(kind, n_bars, n_sym, seed=5):
    """(n_bars, n_sym) panels for an input kind, each column its own walk."""
    cols = [_walk(n_bars, seed + j, level=50.0 + j, step=0.5, tick=0.25) for j in range(n_sym)]
    h, l, c, v = (np.stack([col[i] for col in cols], axis=1) for i in range(4))
    return {"x": (c,), "hlc": (h, l, c), "cv": (c, v), "pv": (c, v), "hlcv": (h, l, c, v), "hl": (h, l)}[kind]


def _single_columns(ap, name, panels):
    """Each column through its own indicator's batch: (n_bars, n_sym[, n_out])
    and the indicators."""
    args = SPECS[name][0]
    outs, inds = [], []
    for j in range(panels[0].shape[1]):
        ind = getattr(ap, name)(*args)
        r = ind.batch(*(np.ascontiguousarray(p[:, j]) for p in panels))
        outs.append(np.stack(r, axis=-1) if isinstance(r, tuple) else r)
        inds.append(ind)
    return np.stack(outs, axis=1), inds


def _bank(ap, name, n, **kw):
    params = dict(zip(_param_names(ap, name), SPECS[name][0], strict=True))
    return ap.IndicatorBank(getattr(ap, name), n, **kw, **params)


#: The constructors' parameter names (DESIGN.md's table), in SPECS's order.
PARAMS = {
    "MACD": ("fast", "slow", "signal"), "BollingerBands": ("period", "nbdev_up", "nbdev_down"),
    "StdDev": ("period", "nbdev"), "Stochastic": ("fastk", "slowk", "slowd"), "OBV": (), "VWAP": (),
    "TrueRange": (), "APO": ("fast", "slow"), "PPO": ("fast", "slow"), "ChaikinOscillator": ("fast", "slow"),
    "T3": ("period", "vfactor"), "ParabolicSAR": ("acceleration", "maximum"),
    "StochRSI": ("period", "fastk", "fastd"), "UltimateOscillator": ("period1", "period2", "period3"),
}


def _param_names(ap, name):
    return PARAMS.get(name, ("period",))


def _states(bank):
    return repr([bank[j].__getstate__() for j in range(len(bank))])   # NaN-safe


def _unpickled(bank):
    """A pickle round trip (by __reduce__ directly: the twin's package is a
    second copy that pickle cannot name)."""
    f, args = bank.__reduce__()
    return f(*pickle.loads(pickle.dumps(args)))


def _same(a, b):
    return np.array_equal(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), equal_nan=True)


@pytest.mark.parametrize("name", ALL)
def test_batch_and_update_equal_the_single_class_per_column(ap, name):
    panels = _panels(SPECS[name][1], 120, 6)
    want, inds = _single_columns(ap, name, panels)
    nout = N_OUTPUTS.get(name, 1)
    bank = _bank(ap, name, 6)
    got = bank.batch(*panels)
    assert got.shape == ((120, 6) if nout == 1 else (120, 6, nout)) and got.dtype == np.float64
    assert _same(got, want)
    stepped = _bank(ap, name, 6)
    rows = np.stack([stepped.update(*(p[i] for p in panels)) for i in range(120)])
    assert _same(rows, want)
    # the state is the single indicators': the next bar agrees, and so do the copies
    nxt = [p[-1] * 1.01 for p in panels]
    for b in (bank, stepped):
        assert [b[j].count for j in range(6)] == [ind.count for ind in inds]
        assert _same(b.ready, [ind.ready for ind in inds])
        out = b.update(*nxt)
        for j, ind in enumerate(inds):
            assert _same(out[j], ind.copy().update(*(x[j] for x in nxt)))


@pytest.mark.parametrize("name", ALL)
def test_updates_and_batches_interleaved(ap, name):
    """Runs of updates and batches in turn on one bank, past the rolling sums'
    exact re-sums (every 256 bars): each symbol's outputs and state are its
    single indicator's. (Some classes' banks keep their rings slot-major: a
    batch gathers a symbol's ring and scatters it back, updates step it in
    place.)"""
    panels = _panels(SPECS[name][1], 700, 5, seed=11)
    want, inds = _single_columns(ap, name, panels)
    bank = _bank(ap, name, 5)
    got, i = [], 0
    for k, size in enumerate([3, 130, 1, 200, 40, 260, 66]):
        if k % 2:
            got.extend(bank.batch(*(p[i:i + size] for p in panels), threads=1 + k % 3))
        else:
            got.extend(bank.update(*(p[j] for p in panels)) for j in range(i, i + size))
        i += size
    assert i == 700 and _same(np.stack(got), want)
    assert [bank[j].count for j in range(5)] == [ind.count for ind in inds]
    nxt = [p[0] for p in panels]             # the next bar, on the bank, on a copy of a symbol
    for out in (bank.copy().update(*nxt), _unpickled(bank).update(*nxt)):   # and on a bank
        for j, ind in enumerate(inds):                                       # put back together
            assert _same(out[j], ind.copy().update(*(x[j] for x in nxt)))
            assert _same(bank[j].update(*(x[j] for x in nxt)), out[j])


@pytest.mark.parametrize("name", ALL)
def test_avx2_updates_give_the_baseline_bits(name):
    """A bank made while the AVX2 build is in use updates through its bank
    updates (``_ind_bank_simd.BANK_UPDATES``), one made with ``_use_simd(False)``
    through the baseline module's: the same outputs and states, bit for bit,
    over 300 bars (past the re-sums) with missing bars skipped."""
    from conftest import get_package

    ap = get_package("compiled")
    mod = ap._ext._indicators
    if not all(ap.COMPILED.values()) or mod._use_simd(True) != "avx2":
        pytest.skip("no AVX2 build or no AVX2 on this CPU")
    panels = [p.copy() for p in _panels(SPECS[name][1], 300, 9, seed=23)]
    holes = np.random.default_rng(5).random((300, 9)) < 0.05
    for p in panels:
        p[holes] = np.nan
    try:
        avx2 = _bank(ap, name, 9, nan_policy="skip")
        mod._use_simd(False)
        baseline = _bank(ap, name, 9, nan_policy="skip")
    finally:
        mod._use_simd(True)
    for i in range(300):
        row = [p[i] for p in panels]
        assert _same(avx2.update(*row), baseline.update(*row)), f"{name}: bar {i}"
    assert _states(avx2) == _states(baseline)


@pytest.mark.parametrize("name", ["SMA", "MACD", "Stochastic", "OBV"])
def test_missing_bars_are_skipped(ap, name):
    """nan_policy="skip": a NaN in any input of a symbol leaves its state and
    repeats its last output; the present bars are the single class's."""
    kind = SPECS[name][1]
    panels = [p.copy() for p in _panels(kind, 90, 5, seed=17)]
    rng = np.random.default_rng(3)
    holes = rng.random((90, 5)) < 0.2
    holes[:, 0] = False                       # a symbol without holes
    holes[:30, 4] = True                      # one that starts late
    which = rng.integers(0, len(panels), (90, 5))
    for k, p in enumerate(panels):
        p[holes & (which == k)] = np.nan
    nout = N_OUTPUTS.get(name, 1)
    want = np.empty((90, 5, nout))
    for j in range(5):
        ind = getattr(ap, name)(*SPECS[name][0])
        last = (math.nan,) * nout
        for i in range(90):
            if not holes[i, j]:
                r = ind.update(*(float(p[i, j]) for p in panels))
                last = r if isinstance(r, tuple) else (r,)
            want[i, j] = last
    want = want[:, :, 0] if nout == 1 else want
    assert _same(_bank(ap, name, 5, nan_policy="skip").batch(*panels, threads=2), want)
    stepped = _bank(ap, name, 5, nan_policy="skip")
    assert _same(np.stack([stepped.update(*(p[i] for p in panels)) for i in range(90)]), want)
    assert stepped[4].count == int((~holes[:, 4]).sum())


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_layouts_and_threads_give_the_same_result(ap, threads):
    (c,) = _panels("x", 200, 7)
    want = _bank(ap, "EMA", 7).batch(c)
    assert _same(_bank(ap, "EMA", 7).batch(c.astype(np.float32).astype(np.float64)),
                 _bank(ap, "EMA", 7).batch(c.astype(np.float32), threads=threads))
    assert _same(_bank(ap, "EMA", 7).batch(np.asfortranarray(c), threads=threads), want)
    wide = np.empty((400, 14))
    wide[::2, ::2] = c
    assert _same(_bank(ap, "EMA", 7).batch(wide[::2, ::2], threads=threads), want)
    rev = _bank(ap, "EMA", 7).batch(c[:, ::-1], threads=threads)          # negative strides
    assert _same(rev, want[:, ::-1])
    f32 = _bank(ap, "EMA", 7)
    assert _same(np.stack([f32.update(row.astype(np.float32)) for row in c]),
                 _bank(ap, "EMA", 7).batch(c.astype(np.float32)))


def _compiled_bank_module():
    from admf_perf import COMPILED
    if not all(COMPILED.values()):
        pytest.skip("compiled modules not loaded")
    from admf_perf._ext import _indicators
    return _indicators


def test_threaded_batches_reuse_their_helper_threads():
    """The helpers a batch starts are kept: later batches (and more parts
    than before) start only what is missing, and give the same result."""
    mod = _compiled_bank_module()
    import admf_perf as ap
    (c,) = _panels("x", 60, 9)
    want = _bank(ap, "KAMA", 9).batch(c)
    assert _same(_bank(ap, "KAMA", 9).batch(c, threads=3), want)
    kept = mod._helper_threads()
    assert kept >= 2
    for _ in range(20):
        assert _same(_bank(ap, "KAMA", 9).batch(c, threads=3), want)
    assert mod._helper_threads() == kept
    assert _same(_bank(ap, "KAMA", 9).batch(c, threads=9), want)           # a part per symbol
    assert mod._helper_threads() == max(kept, 8)


def test_helper_hand_offs_spinning_and_asleep():
    """Batches back to back (the helpers still spinning) and after pauses
    (asleep on their locks), each the result of one thread: no hand-off is
    lost or doubled."""
    import time
    _compiled_bank_module()
    import admf_perf as ap
    (c,) = _panels("x", 12, 5)
    bank = _bank(ap, "SMA", 5)
    want = [bank.batch(c[i:i + 3]) for i in range(0, 12, 3)]
    for rnd in range(400):
        bank.reset()
        for k, i in enumerate(range(0, 12, 3)):
            assert _same(bank.batch(c[i:i + 3], threads=2 + (rnd + k) % 4), want[k])
        if rnd % 100 == 99:
            time.sleep(0.05)                    # past any spin: the helpers sleep


def test_concurrent_threaded_batches(ap):
    """Threads that each run their own bank's batch(threads=3) at once get
    what one thread gets (each takes its own helpers)."""
    from test_concurrency import run_threads
    (c,) = _panels("x", 80, 11)
    want = _bank(ap, "MACD", 11).batch(c)
    got = [None] * 6

    def run(t):
        for _ in range(5):
            got[t] = _bank(ap, "MACD", 11).batch(c, threads=3)

    run_threads([lambda t=t: run(t) for t in range(6)])    # re-raises a thread's error
    for r in got:
        assert _same(r, want)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no os.fork here")
def test_threaded_batch_in_a_forked_child():
    """A child forked after the parent's batches started helpers has none of
    them: its own threaded batch starts new ones and gives the same result
    (it would wait forever on the parent's)."""
    import os
    import warnings
    mod = _compiled_bank_module()
    import admf_perf as ap
    (c,) = _panels("x", 60, 6)
    want = _bank(ap, "RSI", 6).batch(c, threads=2)
    assert mod._helper_threads() >= 1
    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # fork of a process with threads
        pid = os.fork()
    if pid == 0:                                               # pragma: no cover -- the child
        import signal
        signal.alarm(60)                # a child that waits on the parent's helpers dies: b"" read
        code = 1
        try:
            fresh = mod._helper_threads() == 0
            same = _same(_bank(ap, "RSI", 6).batch(c, threads=2), want)
            code = 0 if fresh and same and mod._helper_threads() >= 1 else 2
        finally:
            os.write(w, bytes([code]))
            os._exit(0)
    os.close(w)
    try:
        status = os.read(r, 1)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    assert status == bytes([0])


def test_errors_change_nothing_and_name_the_symbol(ap):
    (c,) = _panels("x", 50, 4)
    bank = _bank(ap, "RSI", 4)
    bank.batch(c[:20])
    before = _states(bank)
    bad = c[20:].copy()
    bad[7, 2] = np.inf
    for threads in (1, 2):
        with pytest.raises(ValueError, match=r"symbol 2, bar 7: input 'x' must be finite, got inf"):
            bank.batch(bad, threads=threads)
        assert _states(bank) == before
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"symbol 2, bar 7.*nan_policy='skip'"):
        bank.batch(bad)
    row = c[20].copy()
    row[3] = np.nan
    with pytest.raises(ValueError, match=r"symbol 3: input 'x'"):
        bank.update(row)
    assert _states(bank) == before
    skip = _bank(ap, "RSI", 4, nan_policy="skip")
    row[1] = -np.inf
    with pytest.raises(ValueError, match=r"symbol 1: input 'x' must be finite, got -inf"):
        skip.update(row)


@pytest.mark.parametrize("call, exc, match", [
    (lambda ap: ap.IndicatorBank(len, 3), TypeError, "cls"),
    (lambda ap: ap.IndicatorBank(ap.Cache, 3), TypeError, "cls"),
    (lambda ap: ap.IndicatorBank(ap.SMA, 0), ValueError, "n_symbols"),
    (lambda ap: ap.IndicatorBank(ap.SMA, "3"), TypeError, "n_symbols"),
    (lambda ap: ap.IndicatorBank(ap.SMA, 3, nan_policy="drop"), ValueError, "nan_policy"),
    (lambda ap: ap.IndicatorBank(ap.SMA, 3, period=0), ValueError, "period"),
    (lambda ap: ap.IndicatorBank(ap.SMA, 3, perod=5), TypeError, "perod"),
    (lambda ap: ap.IndicatorBank(ap.EMA, 3, source=ap.RSI(5)), TypeError, "source"),
    (lambda ap: ap.IndicatorBank(ap.SMA, 3).update(np.ones(4)), ValueError, r"'x'.*\(3,\)"),
    (lambda ap: ap.IndicatorBank(ap.SMA, 3).update(np.ones(3), np.ones(3)), TypeError, "1 input"),
    (lambda ap: ap.IndicatorBank(ap.ATR, 3).update(np.ones(3)), TypeError, "high, low, close"),
    (lambda ap: ap.IndicatorBank(ap.SMA, 3).update(["a", "b", "c"]), TypeError, "'x'"),
    (lambda ap: ap.IndicatorBank(ap.SMA, 3).batch(np.ones((5, 4))), ValueError, r"'x'.*\(n_bars, 3\)"),
    (lambda ap: ap.IndicatorBank(ap.SMA, 3).batch(np.ones(3)), ValueError, "'x'"),
    (lambda ap: ap.IndicatorBank(ap.OBV, 3).batch(np.ones((5, 3)), np.ones((4, 3))), ValueError,
     "different lengths"),
    (lambda ap: ap.IndicatorBank(ap.SMA, 3).batch(np.ones((5, 3)), threads=0), ValueError, "threads"),
    (lambda ap: ap.IndicatorBank(ap.SMA, 3)[3], IndexError, "3"),
    (lambda ap: ap.IndicatorBank(ap.SMA, 3)[-4], IndexError, "-4"),
])
def test_bad_input_is_named(ap, call, exc, match):
    with pytest.raises(exc, match=match):
        call(ap)


def test_state_copies_pickles_and_frames(ap):
    import pandas as pd

    (c,) = _panels("x", 60, 3)
    bank = ap.IndicatorBank(ap.BollingerBands, 3, period=5, nbdev_up=2.0, nbdev_down=1.5)
    assert len(bank) == bank.n_symbols == 3 and not bank.ready.any()
    out = bank.batch(c[:40])
    assert bank.ready.all() and _same(bank[-1].value, out[-1, 2]) and bank[0].count == 40
    twin = bank.copy()
    pickled = _unpickled(bank)
    one = bank[1]
    one.update(1e6)                          # a copy: the bank does not move
    assert _same(bank[1].value, out[-1, 1])
    r1, r2, r3 = bank.batch(c[40:]), twin.batch(c[40:]), pickled.batch(c[40:])
    assert _same(r1, r2) and _same(r1, r3)
    bank.reset()
    assert not bank.ready.any() and bank[0].count == 0 and _same(bank.batch(c), _bank_fresh(ap, c))
    # a wide DataFrame in, a DataFrame out: the same index, (output, symbol) columns
    df = pd.DataFrame(c, index=pd.date_range("2024-01-01", periods=60, freq="D"), columns=["A", "B", "C"])
    got = ap.IndicatorBank(ap.BollingerBands, 3, period=5, nbdev_up=2.0, nbdev_down=1.5).batch(df)
    assert list(got.columns) == [(o, s) for o in ("upper", "middle", "lower") for s in "ABC"]
    assert got.index.equals(df.index) and _same(got[("middle", "B")].to_numpy(), _bank_fresh(ap, c)[:, 1, 1])
    sma = ap.IndicatorBank(ap.SMA, 3, period=4).batch(df)
    assert list(sma.columns) == ["A", "B", "C"] and _same(sma["C"].to_numpy(), ap.SMA(4).batch(c[:, 2]))
    assert "SMA" in repr(ap.IndicatorBank(ap.SMA, 3, period=4))


def _bank_fresh(ap, c):
    return ap.IndicatorBank(ap.BollingerBands, 3, period=5, nbdev_up=2.0, nbdev_down=1.5).batch(c)


def test_update_returns_a_fresh_array(ap):
    bank = ap.IndicatorBank(ap.EMA, 4, period=2)
    a = bank.update(np.arange(4.0))
    b = bank.update(np.arange(4.0) + 1)
    assert a is not b and np.isnan(a).all() and not np.isnan(b).any()
    b[:] = 0
    assert not (bank.update(np.arange(4.0)) == 0).any()
