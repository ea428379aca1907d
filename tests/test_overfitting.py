"""admf_perf.research.overfitting: the Deflated Sharpe Ratio and the
Probability of Backtest Overfitting, against the papers' worked numbers and
an independent, slow implementation of their formulas."""
from __future__ import annotations

import math
from itertools import combinations
from statistics import NormalDist

import numpy as np
import pytest

from admf_perf.research.overfitting import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probability_of_backtest_overfitting,
    sharpe_moments,
)


def test_dsr_paper_example():
    """Bailey and López de Prado (2014), the numerical example: 100 trials,
    variance of their annualized Sharpe ratios 1/2, the selected one's
    annualized SR 2.5 over 1,250 daily returns (250 a year), skewness -3,
    kurtosis 10: SR_0 = 0.1132 (per period) and DSR = 0.9004."""
    ppy = 250
    sr0 = expected_max_sharpe(100, 0.5 / ppy)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe_ratio(2.5 / math.sqrt(ppy), 1250, -3.0, 10.0, 100, 0.5 / ppy)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def _slow_dsr(returns, n_trials, variance):
    """The paper's formulas, term by term (moments from their definitions)."""
    r = list(returns)
    t = len(r)
    mean = sum(r) / t
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (t - 1))
    sr = mean / sd
    m2 = sum((x - mean) ** 2 for x in r) / t
    g3 = sum((x - mean) ** 3 for x in r) / t / m2 ** 1.5
    g4 = sum((x - mean) ** 4 for x in r) / t / m2 ** 2
    z = NormalDist()
    g = 0.5772156649015329
    sr0 = math.sqrt(variance) * ((1 - g) * z.inv_cdf(1 - 1 / n_trials) + g * z.inv_cdf(1 - 1 / (n_trials * math.e)))
    return z.cdf((sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr ** 2))


@pytest.mark.parametrize("seed", range(5))
def test_dsr_matches_the_formulas(seed):
    rng = np.random.default_rng(seed)
    returns = rng.standard_t(5, size=500) * 0.01 + 0.0005
    n_trials, variance = int(rng.integers(2, 500)), float(rng.uniform(1e-5, 1e-2))
    sr, t, skew, kurt = sharpe_moments(returns)
    assert t == 500
    got = deflated_sharpe_ratio(sr, t, skew, kurt, n_trials, variance)
    assert got == pytest.approx(_slow_dsr(returns, n_trials, variance), rel=1e-12, abs=1e-15)
    assert 0.0 <= got <= 1.0


def test_dsr_falls_with_trials_and_their_spread():
    sr, t, skew, kurt = 0.1, 1000, 0.0, 3.0
    one = deflated_sharpe_ratio(sr, t, skew, kurt, 1, 0.01)
    many = deflated_sharpe_ratio(sr, t, skew, kurt, 1000, 0.01)
    wide = deflated_sharpe_ratio(sr, t, skew, kurt, 1000, 0.04)
    assert one > many > wide
    assert one == pytest.approx(NormalDist().cdf(sr * math.sqrt(t - 1) / math.sqrt(1 + 2 / 4 * sr * sr)))


def test_dsr_bad_input():
    with pytest.raises(ValueError, match="n_trials"):
        expected_max_sharpe(0, 0.1)
    with pytest.raises(ValueError, match="variance"):
        expected_max_sharpe(5, -1.0)
    with pytest.raises(ValueError, match="n_obs"):
        deflated_sharpe_ratio(0.1, 1, 0.0, 3.0, 5, 0.1)
    assert math.isnan(deflated_sharpe_ratio(math.nan, 10, 0.0, 3.0, 5, 0.1))


def _slow_pbo(m, blocks):
    """CSCV as the paper states it: split the rows into blocks, every
    half-of-the-blocks training set, the in-sample best's out-of-sample
    relative rank, its logit."""
    size = m.shape[0] // blocks
    m = m[: size * blocks]
    parts = [m[k * size:(k + 1) * size] for k in range(blocks)]
    n = m.shape[1]
    logits = []
    for chosen in combinations(range(blocks), blocks // 2):
        train = np.vstack([parts[k] for k in chosen])
        test = np.vstack([parts[k] for k in range(blocks) if k not in chosen])
        sr_in = train.mean(axis=0) / train.std(axis=0, ddof=1)
        sr_out = test.mean(axis=0) / test.std(axis=0, ddof=1)
        best = int(np.argmax(sr_in))
        order = sorted(range(n), key=lambda j: sr_out[j])
        rank = order.index(best) + 1               # 1 = worst (no ties in these data)
        w = rank / (n + 1)
        logits.append(math.log(w / (1 - w)))
    lam = np.array(logits)
    return float(np.mean(lam <= 0)), lam


@pytest.mark.parametrize("seed, blocks, trials", [(0, 4, 5), (1, 8, 20), (2, 10, 7), (3, 16, 12)])
def test_pbo_matches_the_slow_cscv(seed, blocks, trials):
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0005, 0.01, size=(blocks * 25 + 3, trials))
    got = probability_of_backtest_overfitting(m, blocks)
    pbo, lam = _slow_pbo(m, blocks)
    assert got["splits"] == math.comb(blocks, blocks // 2) == len(lam)
    np.testing.assert_allclose(got["logits"], lam, rtol=1e-12)
    assert got["pbo"] == pbo


def test_pbo_skill_and_noise():
    """Trials of pure noise: the in-sample best is at or below the
    out-of-sample median in at least half the splits (CSCV's halves share each
    trial's total, so an in-sample winner tends to lose out of sample); one
    trial with a real edge is chosen in-sample and stays best: PBO near 0."""
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 0.01, size=(1600, 30))
    assert probability_of_backtest_overfitting(noise)["pbo"] >= 0.5
    skilled = noise.copy()
    skilled[:, 3] += 0.004
    assert probability_of_backtest_overfitting(skilled)["pbo"] < 0.05


def test_pbo_bad_input():
    with pytest.raises(ValueError, match="returns"):
        probability_of_backtest_overfitting(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="blocks"):
        probability_of_backtest_overfitting(np.zeros((100, 3)), blocks=3)
    with pytest.raises(ValueError, match="blocks"):
        probability_of_backtest_overfitting(np.zeros((10, 3)), blocks=8)


def test_a_strategy_search_reports_dsr_and_pbo(tmp_path):
    """``run_strategy_search`` reports the DSR of its best run and the PBO of
    its runs, equal to the functions applied to the runs' equity curves
    (each from ``Backtest.run``, an independent path)."""
    import warnings

    from admf_perf.research import Backtest, synthetic_bars
    from admf_perf.research.overfitting import block_moments, period_returns, search_overfitting
    from admf_perf.research.strategy_search import load_strategy, run_strategy_search

    path = tmp_path / "strat.py"
    path.write_text(
        "import numpy as np\n"
        "from admf_perf import Strategy\n"
        "from admf_perf.research import crossover\n\n"
        "def SMA(v, n):\n"
        "    out = np.full(len(v), np.nan)\n"
        "    c = np.cumsum(np.insert(np.asarray(v, float), 0, 0.0))\n"
        "    out[n - 1:] = (c[n:] - c[:-n]) / n\n"
        "    return out\n\n"
        "class X(Strategy):\n"
        "    n1 = 5\n"
        "    n2 = 20\n"
        "    def init(self):\n"
        "        self.a = self.I(SMA, self.data.Close, self.n1)\n"
        "        self.b = self.I(SMA, self.data.Close, self.n2)\n"
        "    def next(self):\n"
        "        if crossover(self.a, self.b):\n"
        "            self.position.close(); self.buy()\n"
        "        elif crossover(self.b, self.a):\n"
        "            self.position.close(); self.sell()\n")
    bars = synthetic_bars(600, seed=3).rename(columns=str.capitalize)
    grid = [("n1", [3, 5, 8]), ("n2", [15, 25, 40])]
    report = run_strategy_search(bars, f"{path}:X", grid, maximize="Return [%]", top_n=3)
    cls = load_strategy(f"{path}:X")
    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n1 in (3, 5, 8):
            for n2 in (15, 25, 40):
                stats = Backtest(bars, cls).run(n1=n1, n2=n2)
                runs.append(((n1, n2), stats["Return [%]"], period_returns(stats._equity_curve["Equity"])))
    matrix = np.column_stack([r for _, _, r in runs])
    sharpes = [np.mean(r) / np.std(r, ddof=1) if np.std(r) > 0 else np.nan for _, _, r in runs]
    best = max(range(len(runs)), key=lambda k: (runs[k][1], -k))
    assert (report.top[0]["n1"], report.top[0]["n2"]) == runs[best][0]
    sums, squares = block_moments(matrix)
    expected = search_overfitting(sharpes, runs[best][2], sums, squares, matrix.shape[0] // 16)
    got = report.overfitting
    assert got["trials"] == 9 and got["pbo_splits"] == math.comb(16, 8)
    assert got["dsr"] == pytest.approx(expected["dsr"], rel=1e-9)
    assert got["pbo"] == expected["pbo"]
    assert 0.0 <= got["dsr"] <= 1.0 and 0.0 <= got["pbo"] <= 1.0
    assert report.to_dict()["overfitting"]["pbo_splits"] == math.comb(16, 8)


@pytest.mark.parametrize("n, nan_at", [(2519, None), (2520, None), (40, 7), (33, None)])
def test_trial_summary_is_the_careful_path(n, nan_at):
    """What every run of a search keeps (one pass) equals sharpe_moments'
    Sharpe and block_moments' sums, with a tail of T mod 16 returns and with
    a NaN return."""
    from admf_perf.research.overfitting import block_moments, trial_summary

    r = np.random.default_rng(n).normal(0.0004, 0.01, n)
    if nan_at is not None:
        r[nan_at] = np.nan
    sharpe, sums, squares = trial_summary(r)
    s, q = block_moments(r)
    assert sharpe == pytest.approx(sharpe_moments(r)[0], rel=1e-12)
    np.testing.assert_allclose(sums, s, rtol=1e-14)
    np.testing.assert_allclose(squares, q, rtol=1e-14)
