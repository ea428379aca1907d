"""CachingRiskCalculator against empyrical's functions on the same returns."""
from __future__ import annotations

import math
import random

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import examples

NAN, INF = math.nan, math.inf


@pytest.fixture
def rk(ap):
    """The risk module of the package under test."""
    return ap.risk




def orcl_close(shared_data) -> np.ndarray:
    frame = pd.read_csv(shared_data / "ohlcv" / "orcl-1995-2014-daily.csv")
    close = frame["Close"].to_numpy(dtype=np.float64)
    assert len(close) == 5_036 and np.all(close > 0)
    return close


def reference(returns, ppy=252, rf=0.0):
    r = np.asarray(returns, dtype=np.float64)
    return dict(
        sharpe_ratio=empyrical.sharpe_ratio(r, rf, annualization=ppy),
        sortino_ratio=empyrical.sortino_ratio(r, rf, annualization=ppy),
        volatility=empyrical.annual_volatility(r, annualization=ppy),
        max_drawdown=empyrical.max_drawdown(r),
    )


def results(calc):
    return {name: getattr(calc, name)() for name in
            ("sharpe_ratio", "sortino_ratio", "volatility", "max_drawdown")}


def assert_equal_to_empyrical(calc, returns, ppy=252, rf=0.0, rel=1e-12, abs_=0.0):
    want = reference(returns, ppy, rf)
    got = results(calc)
    for name in want:
        w, g = float(want[name]), got[name]
        if math.isnan(w) or math.isinf(w):
            assert (math.isnan(g) and math.isnan(w)) or g == w, (name, g, w)
        else:
            assert g == pytest.approx(w, rel=rel, abs=abs_), name
            assert w != 0.0 or abs_ or g == 0.0


def feed_equities(calc, equities, query_every=None):
    for i, e in enumerate(equities):
        calc.update(e)
        if query_every and i % query_every == 0:
            calc.sharpe_ratio()


# -- real data ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rf", [0.0, 1e-4])
@pytest.mark.parametrize("ppy", [252, 12])
@pytest.mark.parametrize("query_every", [None, 1, 37, 200])
def test_orcl_equity_curve(rk, shared_data, rf, ppy, query_every):
    """The close prices as the equity curve; queries at different intervals
    (a cached result must never outlive the next update)."""
    close = orcl_close(shared_data)
    returns = close[1:] / close[:-1] - 1.0
    calc = rk.CachingRiskCalculator(periods_per_year=ppy, risk_free=rf)
    feed_equities(calc, close, query_every)
    assert calc.count == len(returns)
    assert_equal_to_empyrical(calc, returns, ppy, rf)
    assert calc.max_drawdown() < -0.5  # ORCL fell over 80% after 2000


def test_orcl_returns_and_drawdown_series(rk, shared_data):
    close = orcl_close(shared_data)
    returns = close[1:] / close[:-1] - 1.0
    calc = rk.CachingRiskCalculator()
    want_dd = empyrical.stats.drawdown_series(pd.Series(returns)).to_numpy()
    got_dd = []
    for r in returns:
        calc.update_return(r)
        got_dd.append(calc.current_drawdown())
    np.testing.assert_allclose(got_dd, want_dd, rtol=1e-12, atol=1e-13)
    assert_equal_to_empyrical(calc, returns)
    assert calc.max_drawdown() == pytest.approx(min(want_dd), rel=1e-12, abs=0)


def test_orcl_prefix_results_after_every_update(rk, shared_data):
    """Results equal empyrical's on every prefix (the cache never serves a
    stale value)."""
    close = orcl_close(shared_data)[:600]
    calc = rk.CachingRiskCalculator(risk_free=5e-5)
    calc.update(close[0])
    for i in range(1, len(close)):
        calc.update(close[i])
        prefix = close[: i + 1]
        assert_equal_to_empyrical(calc, prefix[1:] / prefix[:-1] - 1.0, rf=5e-5, rel=1e-11)


# -- random returns ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dist", ["normal", "student", "small"])
def test_random_returns(rk, seed, dist):
    rng = np.random.default_rng(seed)
    n = 3_000
    if dist == "normal":
        r = rng.normal(0.0004, 0.012, n)
    elif dist == "student":
        r = np.clip(rng.standard_t(3, n) * 0.01, -0.5, 0.5)
    else:
        r = rng.normal(1e-6, 1e-5, n)
    calc = rk.CachingRiskCalculator(risk_free=0.0)
    py = random.Random(seed)
    for x in r:
        calc.update_return(float(x))
        if py.random() < 0.01:
            calc.sortino_ratio()
    assert_equal_to_empyrical(calc, r, rel=1e-11)

    equities = 1e6 * np.cumprod(np.concatenate([[1.0], 1.0 + r]))
    calc2 = rk.CachingRiskCalculator(risk_free=0.0)
    feed_equities(calc2, equities, query_every=py.choice([None, 3, 500]))
    assert_equal_to_empyrical(calc2, equities[1:] / equities[:-1] - 1.0, rel=1e-11)


def conditioned_tolerances(returns, rf):
    """(rel, abs) tolerance per result from its condition number: a deviation
    (or mean) tiny beside the returns themselves is resolved by neither
    implementation, so the tolerance grows as ``n * eps * max|x| / std``."""
    r = np.asarray(returns, dtype=np.float64)
    x = r - rf
    n, eps = len(r), np.finfo(float).eps
    big = float(np.max(np.abs(x))) if n else 0.0
    std_x = float(np.std(x, ddof=1)) if n > 1 else 0.0
    std_r = float(np.std(r, ddof=1)) if n > 1 else 0.0
    mean = abs(float(np.mean(x))) if n else 0.0

    def tol(*ratios):
        return 1e-9 + 100 * n * eps * sum(ratios), 1e-300

    def ratio(a, b):
        return a / b if b else (0.0 if not a else math.inf)

    return dict(
        sharpe_ratio=tol(ratio(big, std_x), ratio(big, mean)),
        sortino_ratio=tol(ratio(big, mean)),
        volatility=tol(ratio(float(np.max(np.abs(r))) if n else 0.0, std_r)),
        # equity / peak - 1 of products near 1: absolute error ~ n * eps
        max_drawdown=(1e-9, 10 * (n + 2) * eps),
    )


# Returns below 1e-12 in magnitude are 0 here: their squares underflow to
# subnormals (a return of 5e-159 once cost the running M2 its precision), and
# no price series moves that little.
_RETURN = st.floats(-0.5, 0.5, allow_nan=False).map(lambda r: 0.0 if abs(r) < 1e-12 else r)


@settings(max_examples=examples(150), deadline=None)
@given(st.lists(_RETURN, min_size=0, max_size=120),
       st.sampled_from([0.0, 0.001]),
       st.sampled_from([None, 1, 5, 64]))
def test_hypothesis_returns(ap, returns, rf, query_every):
    rk = ap.risk
    calc = rk.CachingRiskCalculator(risk_free=rf)
    for i, r in enumerate(returns):
        calc.update_return(r)
        if query_every and i % query_every == 0:
            calc.volatility()
    assert calc.count == len(returns)
    want = reference(returns, rf=rf)
    got = results(calc)
    checked = 0
    for name, (rel, abs_) in conditioned_tolerances(returns, rf).items():
        w, g = float(want[name]), got[name]
        if rel > 1e-3:  # ill-conditioned beyond resolution: neither is accurate
            continue
        checked += 1
        if math.isnan(w) or math.isinf(w):
            assert (math.isnan(g) and math.isnan(w)) or g == w, (name, g, w)
        else:
            assert g == pytest.approx(w, rel=rel, abs=abs_), name
    assert checked >= 1  # max_drawdown always


# -- edge cases -------------------------------------------------------------------------------------

def test_nothing_yet(rk):
    calc = rk.CachingRiskCalculator()
    for name in ("sharpe_ratio", "sortino_ratio", "volatility", "max_drawdown", "current_drawdown"):
        assert math.isnan(getattr(calc, name)()), name
    assert calc.count == 0 and math.isnan(calc.equity)
    calc.update(100.0)  # the starting equity: no return
    assert calc.count == 0 and calc.equity == 100.0
    assert calc.current_drawdown() == 0.0
    assert math.isnan(calc.max_drawdown())  # empyrical on no returns
    assert math.isnan(calc.sharpe_ratio())


@pytest.mark.parametrize("r", [0.02, -0.03])
def test_one_return_is_not_enough(rk, r):
    calc = rk.CachingRiskCalculator()
    calc.update_return(r)
    assert math.isnan(calc.sharpe_ratio()) and math.isnan(calc.sortino_ratio())
    assert math.isnan(calc.volatility())
    assert calc.max_drawdown() == pytest.approx(min(r, 0.0), abs=1e-15)
    assert calc.max_drawdown() == pytest.approx(empyrical.max_drawdown(np.array([r])), abs=1e-15)
    calc.update_return(0.01)
    assert not math.isnan(calc.sharpe_ratio()) and not math.isnan(calc.volatility())


def test_no_negative_return_gives_infinite_sortino(rk):
    r = [0.01, 0.0, 0.02, 0.005]
    calc = rk.CachingRiskCalculator()
    for x in r:
        calc.update_return(x)
    assert calc.sortino_ratio() == INF == empyrical.sortino_ratio(np.array(r))
    assert calc.max_drawdown() == 0.0 and calc.current_drawdown() == 0.0
    assert_equal_to_empyrical(calc, r)


def test_negative_risk_free_excess(rk):
    """A risk-free rate above every return: all excess returns negative."""
    r = [0.001, 0.002, 0.0015]
    calc = rk.CachingRiskCalculator(risk_free=0.01)
    for x in r:
        calc.update_return(x)
    assert calc.sharpe_ratio() < 0 and calc.sortino_ratio() < 0
    assert_equal_to_empyrical(calc, r, rf=0.01)


def test_volatility_is_of_the_raw_returns(rk):
    """With a risk-free rate the volatility is the deviation of r, not of
    r - risk_free: they differ where the subtraction absorbs the spread."""
    r = [0.0, 7.141973969448453e-96]
    calc = rk.CachingRiskCalculator(risk_free=0.001)
    for x in r:
        calc.update_return(x)
    want = empyrical.annual_volatility(np.array(r))
    assert want > 0.0
    assert calc.volatility() == pytest.approx(want, rel=1e-12, abs=0)
    assert calc.sharpe_ratio() == -INF == empyrical.sharpe_ratio(np.array(r), 0.001)


@pytest.mark.parametrize("n", [10, 200])
def test_volatility_is_of_the_raw_returns_equities(rk, n):
    equities = np.array([1.0, 1.0 + 2.0**-52] * (n // 2))
    r = equities[1:] / equities[:-1] - 1.0
    calc = rk.CachingRiskCalculator(risk_free=1000.0)  # absorbs r
    feed_equities(calc, equities)
    want = empyrical.annual_volatility(r)
    assert want > 0.0 and len(set(r - 1000.0)) == 1
    assert calc.volatility() == pytest.approx(want, rel=1e-12, abs=0)
    assert calc.sharpe_ratio() == -INF == empyrical.sharpe_ratio(r, 1000.0)


def test_constant_equity(rk):
    calc = rk.CachingRiskCalculator()
    for _ in range(10):
        calc.update(250.0)
    assert calc.count == 9
    r = np.zeros(9)
    assert math.isnan(calc.sharpe_ratio()) and math.isnan(empyrical.sharpe_ratio(r))
    assert math.isnan(calc.sortino_ratio()) and math.isnan(empyrical.sortino_ratio(r))
    assert calc.volatility() == 0.0 == empyrical.annual_volatility(r)
    assert calc.max_drawdown() == 0.0 and calc.current_drawdown() == 0.0


@pytest.mark.parametrize(("r", "sharpe"), [(0.01, INF), (-0.01, -INF)])
def test_constant_return_zero_dispersion(rk, r, sharpe):
    """empyrical's _zero_dispersion_std: identical returns have deviation 0."""
    calc = rk.CachingRiskCalculator()
    for _ in range(300):
        calc.update_return(r)
    ref = empyrical.sharpe_ratio(np.full(300, r))
    assert calc.sharpe_ratio() == sharpe == ref
    assert calc.volatility() == 0.0


def test_drawdown_from_the_start(rk):
    """The starting equity is a peak: falling from the first bar is a drawdown."""
    calc = rk.CachingRiskCalculator()
    for e in (100.0, 90.0, 80.0, 85.0):
        calc.update(e)
    assert calc.max_drawdown() == pytest.approx(-0.2, rel=1e-15, abs=0)
    assert calc.current_drawdown() == pytest.approx(-0.15, rel=1e-15, abs=0)
    r = np.array([90 / 100 - 1, 80 / 90 - 1, 85 / 80 - 1])
    assert calc.max_drawdown() == pytest.approx(empyrical.max_drawdown(r), rel=1e-12, abs=0)
    calc.update(120.0)  # a new peak
    assert calc.current_drawdown() == 0.0
    calc.update(60.0)
    assert calc.current_drawdown() == pytest.approx(-0.5, rel=1e-15, abs=0) == calc.max_drawdown()


def test_implied_equity_starts_at_one(rk):
    calc = rk.CachingRiskCalculator()
    calc.update_return(-0.5)
    assert calc.equity == 0.5 and calc.current_drawdown() == -0.5 == calc.max_drawdown()
    calc.update(1.0)  # mixing: continues from the implied equity 0.5
    assert calc.count == 2 and calc.current_drawdown() == 0.0
    assert_equal_to_empyrical(calc, [-0.5, 1.0])


def test_results_are_cached_until_the_next_update(rk):
    calc = rk.CachingRiskCalculator()
    for e in (100.0, 103.0, 101.0, 104.0):
        calc.update(e)
    first = (calc.sharpe_ratio(), calc.sortino_ratio(), calc.volatility())
    calc._m2 = calc._down = 1e9  # served from the cache, not recomputed
    assert (calc.sharpe_ratio(), calc.sortino_ratio(), calc.volatility()) == first
    calc.update(100.0)
    assert calc.sharpe_ratio() != first[0]
    calc.update_return(0.01)
    second = calc.volatility()
    calc._m2 = 0.0
    assert calc.volatility() == second
    calc.update_return(0.02)  # recomputed from the (corrupted) running state
    assert calc.volatility() == math.sqrt(calc._m2 / (calc.count - 1)) * math.sqrt(252) != second


def test_numpy_scalars_and_ints(rk):
    calc = rk.CachingRiskCalculator(periods_per_year=np.int64(52))
    for e in (np.float64(10.0), 11, np.float32(10.5), 12):
        calc.update(e)
    assert_equal_to_empyrical(calc, [0.1, 10.5 / 11 - 1, 12 / 10.5 - 1], ppy=52, rel=1e-12)
    assert type(calc.sharpe_ratio()) is float


def test_reset_and_cache_manager(rk, ap):
    calc = rk.CachingRiskCalculator(name="risk-under-test")
    for e in (1.0, 2.0, 1.5):
        calc.update(e)
    manager = rk.CacheManager.get_instance()
    assert manager.get("risk-under-test") is calc
    manager.clear_all()
    assert calc.count == 0 and math.isnan(calc.sharpe_ratio()) and math.isnan(calc.current_drawdown())
    calc.update(10.0)
    calc.update(5.0)
    assert calc.max_drawdown() == -0.5
    calc.reset()
    assert calc.count == 0 and math.isnan(calc.equity)


# -- validation ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [NAN, INF, -INF, 0.0, -1.0, 0])
def test_update_refuses_bad_equity(rk, bad):
    calc = rk.CachingRiskCalculator()
    calc.update(100.0)
    calc.update(110.0)
    with pytest.raises(ValueError, match="equity"):
        calc.update(bad)
    assert calc.count == 1 and calc.equity == 110.0


@pytest.mark.parametrize("bad", ["1", None, [1.0]])
def test_update_type_error_names_equity(rk, bad):
    calc = rk.CachingRiskCalculator()
    with pytest.raises(TypeError, match="equity"):
        calc.update(bad)
    assert calc.count == 0


@pytest.mark.parametrize(("bad", "exc"), [(NAN, ValueError), (INF, ValueError), (-1.0, ValueError),
                                          (-1.5, ValueError), ("0.1", TypeError), (True, TypeError)])
def test_update_return_validation(rk, bad, exc):
    calc = rk.CachingRiskCalculator()
    calc.update_return(0.1)
    with pytest.raises(exc, match=r"\br\b"):
        calc.update_return(bad)
    assert calc.count == 1 and calc.equity == pytest.approx(1.1)


@pytest.mark.parametrize(("kwargs", "exc", "name"), [
    (dict(periods_per_year=0), ValueError, "periods_per_year"),
    (dict(periods_per_year=-252), ValueError, "periods_per_year"),
    (dict(periods_per_year=NAN), ValueError, "periods_per_year"),
    (dict(periods_per_year=INF), ValueError, "periods_per_year"),
    (dict(periods_per_year="252"), TypeError, "periods_per_year"),
    (dict(risk_free=NAN), ValueError, "risk_free"),
    (dict(risk_free=None), TypeError, "risk_free"),
    (dict(name=3), TypeError, "name"),
])
def test_constructor_validation(rk, kwargs, exc, name):
    with pytest.raises(exc, match=name):
        rk.CachingRiskCalculator(**kwargs)


# -- implementation ----------------------------------------------------------------------------------

def test_core_is_the_selected_implementation(rk, ap):
    """The compiled ``RiskCore`` on the compiled package, the twin's on the other."""
    twin = ap._ext.NO_EXTENSIONS
    assert rk._risk.__name__ == "admf_perf._ext._risk" + ("_py" if twin else "")
    assert issubclass(rk.CachingRiskCalculator, rk._risk.RiskCore)
    assert ap.COMPILED["_risk"] is not twin


def test_every_update_is_applied_at_once(rk):
    """Eager updates: no pending state; the running statistics after each
    update equal a direct computation on the returns so far."""
    calc = rk.CachingRiskCalculator(risk_free=1e-4)
    equities = [100.0, 101.0, 99.5, 99.0, 102.0, 101.0]
    for i, e in enumerate(equities):
        calc.update(e)
        assert calc.count == i and calc.equity == e
        if i >= 1:
            r = np.array(equities[1: i + 1]) / np.array(equities[:i]) - 1.0
            x = r - 1e-4
            assert calc._m2 == pytest.approx(float(np.sum((x - x.mean()) ** 2)), rel=1e-12, abs=1e-30)
            assert calc._down == pytest.approx(float(np.sum(np.minimum(x, 0.0) ** 2)), rel=1e-12)
    assert not hasattr(calc, "_pending")


def test_update_converts_numbers_as_before(rk):
    """Ints, numpy scalars, Decimal and Fraction convert; bool is 1.0 as an
    equity but refused as a return; huge ints overflow."""
    from decimal import Decimal
    from fractions import Fraction

    calc = rk.CachingRiskCalculator()
    for e in (Decimal("10"), Fraction(21, 2), np.float32(11.0), True):
        calc.update(e)
    assert calc.count == 3 and calc.equity == 1.0
    with pytest.raises(OverflowError):
        calc.update(10**400)
    with pytest.raises(TypeError, match=r"\br\b"):
        calc.update_return(False)
    assert calc.count == 3
