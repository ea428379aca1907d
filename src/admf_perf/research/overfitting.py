"""Overfitting, measured: the Deflated Sharpe Ratio and the Probability of
Backtest Overfitting.

- :func:`deflated_sharpe_ratio` (Bailey and López de Prado, "The Deflated
  Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and
  Non-Normality", 2014): the probability that the selected strategy's true
  Sharpe ratio is above the one the best of ``n_trials`` unskilled trials
  would show (:func:`expected_max_sharpe`), given its skewness and kurtosis.
- :func:`probability_of_backtest_overfitting` (Bailey, Borwein, López de
  Prado and Zhu, "The Probability of Backtest Overfitting", 2015):
  combinatorially symmetric cross-validation (CSCV) over ``blocks`` row
  blocks of the trials' per-period returns: the fraction of the in-sample /
  out-of-sample splits in which the in-sample best ranks at or below the
  out-of-sample median.

Sharpe ratios here are per period (not annualized): ``mean / std`` with
``ddof=1``.  The normal distribution is the standard library's
(``statistics.NormalDist``): no scipy.
"""
from __future__ import annotations

import math
from itertools import combinations
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["EULER_GAMMA", "PBO_MAX_TRIALS", "block_moments", "deflated_sharpe_ratio", "expected_max_sharpe",
           "format_overfitting", "pbo_from_blocks", "period_returns", "probability_of_backtest_overfitting",
           "search_overfitting", "sharpe_moments", "trial_summary"]

#: The Euler-Mascheroni constant (the paper's gamma).
EULER_GAMMA = 0.5772156649015329

_N = NormalDist()


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """The Sharpe ratio the best of ``n_trials`` independent trials with true
    Sharpe 0 shows (the paper's ``SR_0``): ``sqrt(V) * ((1 - g) * Z^-1(1 - 1/N)
    + g * Z^-1(1 - 1/(N e)))``, ``V`` the variance of the trials' Sharpe
    ratios, ``g`` Euler's gamma.  0 for a single trial."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise ValueError(f"n_trials must be an int >= 1, got {n_trials!r}")
    if not variance >= 0.0 or not math.isfinite(variance):
        raise ValueError(f"variance must be finite and >= 0, got {variance!r}")
    if n_trials == 1:
        return 0.0
    return math.sqrt(variance) * ((1.0 - EULER_GAMMA) * _N.inv_cdf(1.0 - 1.0 / n_trials)
                                  + EULER_GAMMA * _N.inv_cdf(1.0 - 1.0 / (n_trials * math.e)))


def sharpe_moments(returns: Any) -> tuple[float, int, float, float]:
    """``(sharpe, T, skewness, kurtosis)`` of per-period ``returns``: the
    Sharpe ratio ``mean / std(ddof=1)``, the count, and the (biased, not
    excess) third and fourth standardized moments the paper uses."""
    r = np.asarray(returns, dtype=float)
    r = r[~np.isnan(r)]
    t = len(r)
    if t < 2:
        return math.nan, t, math.nan, math.nan
    mean = r.mean()
    d = r - mean
    m2 = (d * d).mean()
    sd = r.std(ddof=1)
    sharpe = mean / sd if sd > 0 else math.nan
    if m2 == 0:
        return sharpe, t, math.nan, math.nan
    skew = (d ** 3).mean() / m2 ** 1.5
    kurt = (d ** 4).mean() / m2 ** 2
    return float(sharpe), t, float(skew), float(kurt)


def deflated_sharpe_ratio(sharpe: float, n_obs: int, skew: float, kurtosis: float, n_trials: int,
                          trials_variance: float) -> float:
    """``Z((SR - SR_0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurtosis - 1) / 4 * SR^2))``.

    ``sharpe``: the selected trial's per-period Sharpe ratio over ``n_obs``
    returns, whose skewness and (non-excess) ``kurtosis`` are given;
    ``n_trials`` and ``trials_variance``: how many trials the search ran and
    the variance of their per-period Sharpe ratios (:func:`expected_max_sharpe`).
    A probability in [0, 1]; NaN when an input is NaN or the denominator is
    not positive."""
    if isinstance(n_obs, bool) or not isinstance(n_obs, (int, np.integer)) or n_obs < 2:
        raise ValueError(f"n_obs must be an int >= 2, got {n_obs!r}")
    sr0 = expected_max_sharpe(n_trials, trials_variance)
    values = (sharpe, skew, kurtosis)
    if any(v != v for v in values):
        return math.nan
    denom = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if not denom > 0.0:
        return math.nan
    return _N.cdf((sharpe - sr0) * math.sqrt(n_obs - 1.0) / math.sqrt(denom))


def _block_sharpes(sums: np.ndarray, squares: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-period Sharpe ratios (ddof=1) of each column from summed blocks."""
    n = counts[:, None]
    mean = sums / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (squares - sums * mean) / (n - 1)
        out = mean / np.sqrt(var)
    out[~(var > 0)] = np.nan
    return out


def block_moments(returns: Any, blocks: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """The sums and sums of squares of per-period ``returns`` (1-D, or 2-D
    with one column per trial) over ``blocks`` contiguous blocks of equal
    size (the last ``T mod blocks`` periods left out; NaN counts as 0): all
    CSCV needs of a trial, ``2 * blocks`` numbers whatever its length."""
    m = np.asarray(returns, dtype=float)
    size = m.shape[0] // blocks
    m = np.nan_to_num(m[: size * blocks], nan=0.0)
    parts = m.reshape((blocks, size) + m.shape[1:])
    return parts.sum(axis=1), (parts * parts).sum(axis=1)


def _check_blocks(blocks: Any) -> None:
    if isinstance(blocks, bool) or not isinstance(blocks, (int, np.integer)) or blocks < 2 or blocks % 2:
        raise ValueError(f"blocks must be an even int >= 2, got {blocks!r}")


def probability_of_backtest_overfitting(returns: Any, blocks: int = 16) -> dict[str, Any]:
    """CSCV over the per-period ``returns`` of the trials (a ``(T, N)``
    array: one column per trial, ``N >= 2``).

    The rows are cut into ``blocks`` (even, >= 2) contiguous blocks of equal
    size (the last ``T mod blocks`` rows are left out).  For each of the
    ``C(blocks, blocks / 2)`` ways to pick half of them as the in-sample set:
    the trial with the best in-sample Sharpe ratio is found, and ``w``, its
    out-of-sample Sharpe's rank among all trials' (1 = worst, ties averaged,
    NaN lowest) over ``N + 1``, gives ``logit = ln(w / (1 - w))``.  Returns
    ``{"pbo": the fraction of splits with logit <= 0, "logits": the array,
    "splits": the count, "blocks": blocks, "trials": N}``."""
    m = np.asarray(returns, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError(f"returns must be a 2-D array (periods x trials) of >= 2 trials, got shape {m.shape}")
    _check_blocks(blocks)
    size = m.shape[0] // blocks
    if size < 2:
        raise ValueError(f"blocks: {blocks} blocks of {m.shape[0]} periods leave < 2 periods per block")
    sums, squares = block_moments(m, blocks)
    return pbo_from_blocks(sums, squares, size)


def pbo_from_blocks(sums: Any, squares: Any, size: int) -> dict[str, Any]:
    """:func:`probability_of_backtest_overfitting` from the trials' block
    moments (``(blocks, N)`` arrays from :func:`block_moments`, ``size``
    periods per block)."""
    sums, squares = np.asarray(sums, dtype=float), np.asarray(squares, dtype=float)
    blocks, n = sums.shape
    _check_blocks(blocks)
    total_sum, total_sq = sums.sum(axis=0), squares.sum(axis=0)
    half = np.full(1, size * blocks // 2, dtype=float)
    chosen = np.array(list(combinations(range(blocks), blocks // 2)))
    batch = max(1, min(1024, 2**22 // max(n, 1)))
    # a split's in-sample sums: the sums of its blocks among the first half
    # plus those among the second, each looked up in a table of every subset
    # of that half (2 x 2**(blocks/2) rows), not a matrix product: numpy's
    # BLAS would start threads that spin on the cores after it returns, which
    # a search's next workers need (a repeated search on 2 threads ran 2x slower)
    left = blocks // 2
    tables = left <= 12                          # past 24 blocks (C(26, 13) splits): the product
    if tables:
        weights = np.where(chosen < left, 1 << chosen, 1 << (chosen - left))
        codes_left = np.where(chosen < left, weights, 0).sum(axis=1)
        codes_right = np.where(chosen >= left, weights, 0).sum(axis=1)
        sums_left, sums_right = _subset_sums(sums[:left]), _subset_sums(sums[left:])
        squares_left, squares_right = _subset_sums(squares[:left]), _subset_sums(squares[left:])
    logits = []
    for lo in range(0, len(chosen), batch):      # every split at once, in batches (bounded memory)
        if tables:
            cl, cr = codes_left[lo:lo + batch], codes_right[lo:lo + batch]
            s_in = sums_left[cl] + sums_right[cr]
            q_in = squares_left[cl] + squares_right[cr]
        else:
            part = chosen[lo:lo + batch]
            mask = np.zeros((len(part), blocks))
            mask[np.arange(len(part))[:, None], part] = 1.0
            s_in, q_in = mask @ sums, mask @ squares
        sr_in = _block_sharpes(s_in, q_in, half)
        sr_out = _block_sharpes(total_sum - s_in, total_sq - q_in, half)
        ok = ~np.all(np.isnan(sr_in), axis=1)
        sr_in, sr_out = sr_in[ok], sr_out[ok]
        best = np.nanargmax(sr_in, axis=1)
        v = np.where(np.isnan(sr_out), -np.inf, sr_out)
        x = v[np.arange(len(v)), best][:, None]
        w = ((v < x).sum(axis=1) + ((v == x).sum(axis=1) + 1) / 2.0) / (v.shape[1] + 1.0)
        logits.append(np.log(w / (1.0 - w)))
    lam = np.concatenate(logits) if logits else np.array([])
    return {"pbo": float(np.mean(lam <= 0.0)) if len(lam) else math.nan, "logits": lam,
            "splits": len(lam), "blocks": blocks, "trials": n}


def _subset_sums(rows: np.ndarray) -> np.ndarray:
    """Row ``m`` of the result: the sum of the ``rows`` whose bits are set in ``m``."""
    k, n = rows.shape
    out = np.zeros((1 << k, n))
    for j in range(k):
        out[1 << j:2 << j] = out[:1 << j] + rows[j]
    return out


#: PBO is computed for searches of up to this many trials (CSCV ranks every
#: trial in each of its 12,870 splits); a larger one reports it as not computed.
PBO_MAX_TRIALS = 20_000


def period_returns(equity: Any) -> np.ndarray:
    """Simple returns of an equity curve, one per period after the first."""
    eq = np.asarray(equity, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return eq[1:] / eq[:-1] - 1.0


def trial_summary(returns: Any, blocks: int = 16) -> tuple[float, np.ndarray, np.ndarray]:
    """What a search keeps of one trial: its per-period Sharpe ratio
    (:func:`sharpe_moments`'s, from the same sums: equal to ~1e-12) and its
    block moments (``2 * blocks`` numbers: bounded memory per trial).  Every
    run of a search pays for it, so it is one pass over the returns."""
    r = np.asarray(returns, dtype=float)
    n = len(r)
    size = n // blocks
    cut = size * blocks
    sq = r * r
    sums = r[:cut].reshape(blocks, size).sum(axis=1)
    squares = sq[:cut].reshape(blocks, size).sum(axis=1)
    total = sums.sum()
    if total != total:  # a NaN return: the careful path (NaN counts as 0 in the blocks)
        sums, squares = block_moments(r, blocks)
        return sharpe_moments(r)[0], sums, squares
    if n < 2:
        return math.nan, sums, squares
    total += r[cut:].sum()
    mean = total / n
    var = (squares.sum() + sq[cut:].sum() - total * mean) / (n - 1)   # from the same sums
    return float(mean / math.sqrt(var)) if var > 0 else math.nan, sums, squares


def search_overfitting(sharpes: Any, best_returns: Any, block_sums: Any = None, block_squares: Any = None,
                       size: int = 0) -> dict[str, Any]:
    """What a search reports: the Deflated Sharpe Ratio of its best trial
    (``best_returns``, its per-period returns) given every trial's per-period
    Sharpe ratio (``sharpes``; NaN ones, runs without a spread of returns,
    left out of the variance), and the PBO of the trials' block moments
    (``(blocks, N)`` arrays, ``size`` periods per block; None: not computed)."""
    s = np.asarray(sharpes, dtype=float)
    trials = len(s)
    s = s[np.isfinite(s)]
    blocks = 16 if block_sums is None else int(np.shape(block_sums)[0])
    out: dict[str, Any] = {"trials": trials, "sharpe_variance": math.nan, "best_sharpe": math.nan,
                           "expected_max_sharpe": math.nan, "dsr": math.nan, "skew": math.nan,
                           "kurtosis": math.nan, "pbo": math.nan, "pbo_splits": 0, "pbo_blocks": blocks}
    sr, t, skew, kurt = sharpe_moments(best_returns)
    out.update(best_sharpe=sr, skew=skew, kurtosis=kurt)
    if len(s) >= 2 and t >= 2:
        var = float(np.var(s, ddof=1))
        out["sharpe_variance"] = var
        out["expected_max_sharpe"] = expected_max_sharpe(trials, var)
        out["dsr"] = deflated_sharpe_ratio(sr, t, skew, kurt, trials, var)
    if block_sums is not None and 2 <= trials <= PBO_MAX_TRIALS and size >= 2:
        pbo = pbo_from_blocks(block_sums, block_squares, size)
        out.update(pbo=pbo["pbo"], pbo_splits=pbo["splits"])
    return out


def format_overfitting(o: dict[str, Any]) -> str:
    """One line for a search's report."""
    def f(v: float, spec: str = ".3f") -> str:
        return "n/a" if v != v else format(v, spec)
    pbo = (f"PBO {f(o['pbo'])} over {o['pbo_splits']:,} CSCV splits of {o['pbo_blocks']} blocks"
           if o["pbo_splits"] else f"PBO not computed (needs 2 to {PBO_MAX_TRIALS:,} trials and 32 bars)")
    return (f"overfitting: DSR {f(o['dsr'])} (the best's Sharpe {f(o['best_sharpe'], '.4f')} per bar vs "
            f"{f(o['expected_max_sharpe'], '.4f')} expected of the best of {o['trials']} unskilled trials); {pbo}")
