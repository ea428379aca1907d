"""CachingRiskCalculator's Calmar, Omega, tail ratio, VaR, CVaR, stability,
alpha, beta and information ratio against empyrical's functions on the same
returns (issue 16, part 5), on real data, on random walks read at random
points (a hypothesis state machine) and at the edges; on both
implementations."""
from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from conftest import examples

NAN = math.nan
EPS = float(np.finfo(np.float64).eps)

#: metric name -> (ours, given the calculator; empyrical's, given returns,
#: benchmark returns, periods per year and risk-free rate)
METRICS = {
    "calmar_ratio": (lambda c: c.calmar_ratio(),
                     lambda r, b, ppy, rf: empyrical.calmar_ratio(r, annualization=ppy)),
    "max_drawdown": (lambda c: c.max_drawdown(), lambda r, b, ppy, rf: empyrical.max_drawdown(r)),
    "omega_ratio": (lambda c: c.omega_ratio(),
                    lambda r, b, ppy, rf: empyrical.omega_ratio(r, rf, annualization=ppy)),
    "omega_ratio(0.08)": (lambda c: c.omega_ratio(0.08),
                          lambda r, b, ppy, rf: empyrical.omega_ratio(r, rf, 0.08, annualization=ppy)),
    "tail_ratio": (lambda c: c.tail_ratio(), lambda r, b, ppy, rf: empyrical.tail_ratio(r)),
    "value_at_risk": (lambda c: c.value_at_risk(), lambda r, b, ppy, rf: empyrical.value_at_risk(r)),
    "value_at_risk(0.01)": (lambda c: c.value_at_risk(0.01),
                            lambda r, b, ppy, rf: empyrical.value_at_risk(r, 0.01)),
    "conditional_value_at_risk": (lambda c: c.conditional_value_at_risk(),
                                  lambda r, b, ppy, rf: empyrical.conditional_value_at_risk(r)),
    "conditional_value_at_risk(0.2)": (lambda c: c.conditional_value_at_risk(0.2),
                                       lambda r, b, ppy, rf: empyrical.conditional_value_at_risk(r, 0.2)),
    "stability_of_timeseries": (lambda c: c.stability_of_timeseries(),
                                lambda r, b, ppy, rf: empyrical.stability_of_timeseries(r)),
    "beta": (lambda c: c.beta(), lambda r, b, ppy, rf: empyrical.beta(r, b, rf)),
    "alpha": (lambda c: c.alpha(), lambda r, b, ppy, rf: empyrical.alpha(r, b, rf, annualization=ppy)),
    "information_ratio": (lambda c: c.information_ratio(), lambda r, b, ppy, rf: empyrical.excess_sharpe(r, b)),
}
BENCHMARK_METRICS = ("beta", "alpha", "information_ratio")


@pytest.fixture
def rk(ap):
    """The risk module of the package under test."""
    return ap.risk


def _same(got: float, want: float, rel: float, abs_: float = 1e-300) -> bool:
    if math.isnan(want) or math.isinf(want):
        return got == want or (math.isnan(got) and math.isnan(want))
    return got == pytest.approx(want, rel=rel, abs=abs_)


#: Metrics that are a difference of per-period means: where the two cancel
#: (returns exactly -2x the benchmark's, so alpha is 0), the rounding of the
#: inputs' scale is all that is left, and only an absolute bound can hold
#: them: a few roundings per return of the largest one, annualized
#: (8 n eps ppy max|r|; the case drawn was 5.6e-14 at n = 2, ppy = 252).
CANCELLING = ("alpha",)


def check(calc, r, b=None, ppy=252, rf=0.0, rel=1e-12, names=None) -> None:
    """Every metric of ``calc`` equals empyrical's on returns ``r`` (and
    benchmark returns ``b``)."""
    r = np.asarray(r, dtype=np.float64)
    bb = None if b is None else np.asarray(b, dtype=np.float64)
    bad = {}
    for name in names or METRICS:
        if bb is None and name in BENCHMARK_METRICS:
            continue
        ours, theirs = METRICS[name]
        got = ours(calc)
        with np.errstate(all="ignore"):
            want = float(theirs(r, bb, ppy, rf))
        abs_ = (8 * r.size * EPS * ppy * float(np.abs(r).max())) if name in CANCELLING and r.size else 1e-300
        if not _same(got, want, rel, abs_):
            bad[name] = (got, want)
    assert not bad, bad


def _close(path) -> np.ndarray:
    frame = pd.read_csv(path)
    return frame["Close"].to_numpy(dtype=np.float64)


@pytest.mark.parametrize("rf", [0.0, 5e-5])
def test_real_daily_against_a_real_benchmark(rk, shared_data, rf):
    """ORCL daily, with the 1-minute index future's closes as the benchmark's
    level: every metric equals empyrical's to 1e-12, at several prefixes."""
    equity = _close(shared_data / "ohlcv" / "orcl-1995-2014-daily.csv")
    bench = _close(shared_data / "ohlcv" / "index-future-2006-1min.csv")[: len(equity)]
    assert len(bench) == len(equity)
    calc = rk.CachingRiskCalculator(252, rf)
    marks = {2, 3, 50, 1000, len(equity)}
    for i, (e, b) in enumerate(zip(equity.tolist(), bench.tolist(), strict=True), start=1):
        calc.update(e, benchmark=b)
        if i in marks:
            r, rb = equity[1:i] / equity[:i - 1] - 1.0, bench[1:i] / bench[:i - 1] - 1.0
            check(calc, r, rb, rf=rf)
    assert calc.has_benchmark and calc.count == len(equity) - 1


def test_real_minutes_with_many_equal_returns(rk, shared_data):
    """The 1-minute future: 42% of its returns are 0 (ties in the order
    statistics), 30,888 returns, annualized by 252 * 390."""
    close = _close(shared_data / "ohlcv" / "index-future-2006-1min.csv")
    calc = rk.CachingRiskCalculator(252 * 390)
    for e in close.tolist():
        calc.update(e)
    r = close[1:] / close[:-1] - 1.0
    assert np.mean(r == 0.0) > 0.3
    check(calc, r, ppy=252 * 390)


def test_update_return_with_benchmark_returns(rk):
    rng = np.random.default_rng(5)
    r, b = rng.normal(3e-4, 0.01, 700), rng.normal(2e-4, 0.008, 700)
    calc = rk.CachingRiskCalculator(252)
    for x, y in zip(r.tolist(), b.tolist(), strict=True):
        calc.update_return(x, benchmark=y)
    check(calc, r, b)
    # the same through levels
    levels = np.concatenate(([100.0], 100.0 * np.cumprod(1.0 + b)))
    equity = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    calc2 = rk.CachingRiskCalculator(252)
    for e, lv in zip(equity.tolist(), levels.tolist(), strict=True):
        calc2.update(e, benchmark=lv)
    check(calc2, equity[1:] / equity[:-1] - 1.0, levels[1:] / levels[:-1] - 1.0)


# Returns below 1e-12 in magnitude are 0 here: their squares underflow (see
# test_risk.py). A flat cumulative log return (only zero returns after the
# first) is NaN here, while numpy's two-pass moments of a constant can leave
# a residue that scipy turns into an arbitrary R squared.
_RET = st.one_of(st.floats(-0.3, 0.3, allow_nan=False).map(lambda r: 0.0 if abs(r) < 1e-12 else r),
                 st.sampled_from([0.0, 0.01, -0.01]))


class MetricsMachine(RuleBasedStateMachine):
    """Returns (with ties, zeros, runs) added at random, metrics read at
    random points: each read equals empyrical's on the returns so far, so the
    metrics that read the stored returns from where they stopped never skip
    or repeat one."""

    rk = None  # set by the test

    @initialize(rf=st.sampled_from([0.0, 1e-4]), ppy=st.sampled_from([252, 12, 1]), bench=st.booleans())
    def start(self, rf, ppy, bench):
        self.rf, self.ppy, self.bench = rf, ppy, bench
        self.calc = self.rk.CachingRiskCalculator(ppy, rf)
        self.r: list[float] = []
        self.b: list[float] = []

    @rule(x=_RET, y=_RET)
    def add(self, x, y):
        if self.bench:
            self.calc.update_return(x, benchmark=y)
            self.b.append(y)
        else:
            self.calc.update_return(x)
        self.r.append(x)

    @rule(xs=st.lists(_RET, min_size=1, max_size=40))
    def add_many(self, xs):
        for x in xs:
            self.add(x, -x / 2)

    @precondition(lambda self: len(self.r) > 0)
    @rule(name=st.sampled_from(sorted(METRICS)))
    def read(self, name):
        if name == "stability_of_timeseries" and np.ptp(np.cumsum(np.log1p(self.r))) == 0.0:
            assert math.isnan(self.calc.stability_of_timeseries())
            return
        check(self.calc, self.r, self.b if self.bench else None, self.ppy, self.rf, rel=1e-9, names=[name])

    @rule(t=st.sampled_from([0.0, 0.05, -0.5, 0.3, 1.0, 0.12]))
    def omega(self, t):
        if len(self.r) < 2:
            assert math.isnan(self.calc.omega_ratio(t))
            return
        want = empyrical.omega_ratio(np.array(self.r), self.rf, t, annualization=self.ppy)
        assert _same(self.calc.omega_ratio(t), want, 1e-9)

    @rule()
    def reset(self):
        self.calc.reset()
        self.r.clear()
        self.b.clear()

    @invariant()
    def counted(self):
        assert self.calc.count == len(self.r)


def test_metrics_state_machine(rk):
    MetricsMachine.rk = rk
    run = MetricsMachine.TestCase
    run.settings = settings(max_examples=examples(60), stateful_step_count=30, deadline=None,
                            suppress_health_check=list(HealthCheck))
    run().runTest()


@pytest.mark.parametrize("r", [[0.01], [-0.02], [0.0]])
def test_one_return(rk, r):
    calc = rk.CachingRiskCalculator()
    calc.update_return(r[0])
    check(calc, r)


def test_no_return_is_nan(rk):
    calc = rk.CachingRiskCalculator()
    for name in ("calmar_ratio", "omega_ratio", "tail_ratio", "value_at_risk",
                 "conditional_value_at_risk", "stability_of_timeseries"):
        assert math.isnan(getattr(calc, name)()), name
    calc.update(100.0, benchmark=50.0)   # a start, no return yet
    for name in BENCHMARK_METRICS:
        assert math.isnan(getattr(calc, name)()), name
    assert calc.has_benchmark


def test_constant_returns(rk):
    """Zero dispersion: empyrical's infinities and NaNs."""
    for x in (0.0, 0.001, -0.001):
        calc = rk.CachingRiskCalculator()
        for _ in range(30):
            calc.update_return(x, benchmark=x / 2)
        check(calc, [x] * 30, [x / 2] * 30)


def test_omega_thresholds_beyond_the_slots(rk):
    """More thresholds than kept sums: each is still right, asked in any order."""
    rng = np.random.default_rng(9)
    r = rng.normal(2e-4, 0.01, 300)
    calc = rk.CachingRiskCalculator()
    thresholds = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, -0.1]
    for i, x in enumerate(r.tolist()):
        calc.update_return(x)
        if i % 37 == 5:
            for t in thresholds[i % 3:] + thresholds[: i % 3]:
                want = empyrical.omega_ratio(r[: i + 1], required_return=t)
                assert _same(calc.omega_ratio(t), want, 1e-12), (i, t)
    assert math.isnan(calc.omega_ratio(-1.0)) and math.isnan(empyrical.omega_ratio(r, required_return=-1.0))


def test_benchmark_on_every_update_or_none(rk):
    calc = rk.CachingRiskCalculator()
    calc.update(100.0)
    with pytest.raises(ValueError, match="benchmark"):
        calc.update(101.0, benchmark=10.0)
    with pytest.raises(ValueError, match="benchmark"):
        calc.update_return(0.01, benchmark=0.0)
    assert calc.count == 0 and calc.equity == 100.0 and not calc.has_benchmark
    calc.update(101.0)
    with pytest.raises(ValueError, match="beta needs a benchmark"):
        calc.beta()
    with pytest.raises(ValueError, match="alpha needs a benchmark"):
        calc.alpha()
    with pytest.raises(ValueError, match="information_ratio needs a benchmark"):
        calc.information_ratio()
    calc.reset()                       # a new start may take one
    calc.update(100.0, benchmark=10.0)
    calc.update(101.0, benchmark=10.5)
    with pytest.raises(ValueError, match="benchmark is required"):
        calc.update(102.0)
    with pytest.raises(ValueError, match="benchmark is required"):
        calc.update_return(0.01)
    assert calc.count == 1 and calc.equity == 101.0
    check(calc, [0.01], [0.05])


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, "10", None])
def test_bad_benchmark_level_names_it_and_records_nothing(rk, bad):
    calc = rk.CachingRiskCalculator()
    calc.update(100.0, benchmark=10.0)
    calc.update(101.0, benchmark=10.5)
    err = ValueError if bad is None or isinstance(bad, float) else TypeError
    with pytest.raises(err, match="benchmark"):
        calc.update(102.0, benchmark=bad)
    assert calc.count == 1 and calc.equity == 101.0
    calc.update(103.0, benchmark=11.0)
    check(calc, [0.01, 103.0 / 101.0 - 1.0], [0.05, 11.0 / 10.5 - 1.0])


@pytest.mark.parametrize("bad", [-1.0, -2.0, math.nan, math.inf, True, "x"])
def test_bad_benchmark_return_names_it(rk, bad):
    calc = rk.CachingRiskCalculator()
    calc.update_return(0.01, benchmark=0.02)
    with pytest.raises((TypeError, ValueError), match="benchmark"):
        calc.update_return(0.01, benchmark=bad)
    assert calc.count == 1


@pytest.mark.parametrize("method", ["value_at_risk", "conditional_value_at_risk"])
@pytest.mark.parametrize("bad,err", [(-0.01, ValueError), (1.5, ValueError), (math.nan, ValueError),
                                     ("0.05", TypeError), (True, TypeError)])
def test_bad_cutoff_names_it(rk, method, bad, err):
    calc = rk.CachingRiskCalculator()
    calc.update_return(0.01)
    with pytest.raises(err, match="cutoff"):
        getattr(calc, method)(bad)


@pytest.mark.parametrize("bad,err", [(math.nan, ValueError), (math.inf, ValueError), ("0", TypeError)])
def test_bad_threshold_names_it(rk, bad, err):
    calc = rk.CachingRiskCalculator()
    with pytest.raises(err, match="threshold"):
        calc.omega_ratio(bad)


@pytest.mark.parametrize("cutoff", [0.0, 1.0, 0.5, 0.3333])
def test_cutoff_bounds(rk, cutoff):
    rng = np.random.default_rng(2)
    r = np.round(rng.normal(0, 0.01, 101), 4)   # ties
    calc = rk.CachingRiskCalculator()
    for x in r.tolist():
        calc.update_return(x)
    assert calc.value_at_risk(cutoff) == empyrical.value_at_risk(r, cutoff)
    assert calc.conditional_value_at_risk(cutoff) == pytest.approx(
        empyrical.conditional_value_at_risk(r, cutoff), rel=1e-12)


def test_reset_forgets_the_stored_returns(rk):
    calc = rk.CachingRiskCalculator()
    for x in (0.05, -0.1, 0.02):
        calc.update_return(x)
    assert calc.value_at_risk() < 0 and calc.calmar_ratio() == calc.calmar_ratio()
    calc.reset()
    assert calc.count == 0 and math.isnan(calc.value_at_risk()) and math.isnan(calc.max_drawdown())
    for x in (0.01, 0.03):
        calc.update_return(x)
    check(calc, [0.01, 0.03])
