"""``CachingRiskCalculator``: Sharpe, Sortino, volatility, drawdowns, Calmar,
Omega, tail ratio, VaR, CVaR, stability, alpha, beta and information ratio
of an equity curve, updated per bar and equal to empyrical's definitions.

Definitions (empyrical 0.7, ``risk_free`` per period, ``ppy`` =
``periods_per_year``; ``x`` are the excess returns ``r - risk_free``):

- ``sharpe_ratio``: ``mean(x) / std(x, ddof=1) * sqrt(ppy)``; a zero deviation
  (all ``x`` equal) gives ``+inf``/``-inf``/NaN by the sign of the mean, as
  empyrical's ``_zero_dispersion_std``.
- ``sortino_ratio``: ``mean(x) * ppy / (sqrt(mean(min(x, 0) ** 2)) * sqrt(ppy))``
  -- the downside deviation is the root mean square over *all* returns (not
  only the negative ones, no ddof); no negative excess return gives ``+inf``
  (NaN when the mean excess return is also exactly 0, as empyrical's 0/0).
- ``volatility``: ``std(r, ddof=1) * sqrt(ppy)`` (annual_volatility, alpha 2)
  of the raw returns: with ``risk_free != 0`` a second running M2 of ``r``
  is kept, as ``r - risk_free`` can absorb a tiny spread.
- ``max_drawdown`` / ``current_drawdown``: negative fractions, 0 at a peak;
  the starting equity counts as a peak.  ``current_drawdown`` is the
  equity's ``equity / running_peak - 1``; ``max_drawdown`` is empyrical's,
  of ``c = 100 * cumprod(1 + r)`` as ``(c - running_max) / running_max``
  (the equity path's to a few ulps), NaN with no return yet;
  ``current_drawdown`` is NaN before the first update, 0.0 at the start.
- Fewer than 2 returns: NaN for Sharpe, Sortino and volatility.

More metrics, each equal to empyrical's function of that name on the same
returns: ``calmar_ratio``, ``omega_ratio(threshold=0.0)`` (an annual required
return), ``tail_ratio``, ``value_at_risk(cutoff=0.05)``,
``conditional_value_at_risk(cutoff=0.05)``, ``stability_of_timeseries``, and,
against a benchmark, ``beta``, ``alpha`` and ``information_ratio``
(empyrical's ``excess_sharpe``).

Updates: ``update(equity)`` (the first call sets the starting equity and
produces no return; later ones add ``equity / previous - 1``) or
``update_return(r)`` (the implied equity starts at 1.0 and is multiplied by
``1 + r``, as empyrical's ``cum_returns``).  The two may be mixed: each
continues from the last equity, actual or implied.  A benchmark is fed by
``update(equity, benchmark=level)`` (its level, read as returns like equity)
or ``update_return(r, benchmark=rb)`` (its return): on every update or on
none, as the first update decides.

Cost model.  Every update is O(1): the compiled core (``_ext/_risk.pyx``,
``RiskCore``; pure-Python twin ``_ext/_risk_py.py``) checks the value in C,
updates the running statistics at once -- the Welford mean and M2 of the
excess returns (and of the raw returns when ``risk_free != 0``), the sum of
the squared negative excess returns, the equity's peak, the benchmark's
moments and co-moments -- and stores the return.  The path metrics (the
cumulative product and max drawdown, stability's regression sums, Omega's
sums per threshold) and the order statistics (a treap with subtree sizes and
sums, ``include/admf_ostree.h``) read the stored returns when asked, each
from where it stopped: O(1), or O(log n) for the order statistics, per
return.  Sharpe, Sortino and volatility are cached until the next update.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _ext
from .._validate import check_str, finite_real
from ..caching.registry import CacheManager

if TYPE_CHECKING:  # the stub describes both implementations
    from .._ext import _risk
else:
    _risk = _ext.load("_risk")

__all__ = ["BENCHMARK_METRICS", "CURVE_METRICS", "CachingRiskCalculator", "curve_metrics", "feed"]

#: The metrics a search can rank by beyond Sharpe, return and drawdown
#: (``--metric``, ``maximize=``): methods of :class:`CachingRiskCalculator`
#: taking no argument (Omega at threshold 0, VaR and CVaR at 5%).
CURVE_METRICS: tuple[str, ...] = (
    "calmar_ratio", "omega_ratio", "tail_ratio", "value_at_risk",
    "conditional_value_at_risk", "stability_of_timeseries", "alpha", "beta", "information_ratio")
#: Those of them that need a benchmark.
BENCHMARK_METRICS: tuple[str, ...] = ("alpha", "beta", "information_ratio")





class CachingRiskCalculator(_risk.RiskCore):
    """Streaming risk metrics with empyrical's definitions (see the module docs).

    ``update``, ``update_return`` and the results are the compiled core's
    methods (``RiskCore``), called directly; this class validates the
    constructor's arguments, names the calculator and registers it with the
    ``CacheManager`` (whose ``clear_all`` calls :meth:`reset`).

    >>> rc = CachingRiskCalculator(periods_per_year=252)
    >>> for equity in (100.0, 101.0, 99.0, 102.0):
    ...     rc.update(equity)
    >>> round(rc.max_drawdown(), 6)
    -0.019802
    """

    __slots__ = ("name",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _risk._fast_methods(cls)    # update and update_return the interpreter specializes

    def __init__(self, periods_per_year: float = 252, risk_free: float = 0.0, name: str | None = None) -> None:
        ppy = finite_real(periods_per_year, "periods_per_year")
        if not ppy > 0.0:
            raise ValueError(f"periods_per_year must be > 0, got {periods_per_year!r}")
        rf = finite_real(risk_free, "risk_free")
        check_str(name, "name", allow_none=True)
        super().__init__(ppy, rf)
        self.name = name if name is not None else f"CachingRiskCalculator@{id(self):x}"
        CacheManager.get_instance().register(self)

    def __repr__(self) -> str:
        return (f"<CachingRiskCalculator {self.name!r}: {self.count} returns, "
                f"periods_per_year={self.periods_per_year}, risk_free={self.risk_free}>")


_risk._fast_methods(CachingRiskCalculator)


def curve_metrics(names: Sequence[str], equity: Sequence[float] | np.ndarray,
                  benchmark: Sequence[float] | np.ndarray | None = None,
                  periods_per_year: float = 252.0) -> dict[str, float]:
    """``{name: value}`` of the :data:`CURVE_METRICS` ``names`` of an equity
    curve (one value per bar), against the ``benchmark`` levels (the same
    length) when a name needs one. A curve that reaches 0 (ruin: no return
    after it) gives NaN for every name."""
    bad = [n for n in names if n not in CURVE_METRICS]
    if bad:
        raise ValueError(f"names must be among {', '.join(CURVE_METRICS)}; got {bad[0]!r}")
    eq = np.asarray(equity, dtype=np.float64)
    if not names or eq.size == 0 or not bool(np.all(eq > 0.0)):
        return dict.fromkeys(names, math.nan)
    if benchmark is None and any(n in BENCHMARK_METRICS for n in names):
        raise ValueError(f"benchmark is required for {', '.join(n for n in names if n in BENCHMARK_METRICS)}")
    rc = CachingRiskCalculator(periods_per_year, name="curve_metrics")
    feed(rc, eq, benchmark if any(n in BENCHMARK_METRICS for n in names) else None)
    return {n: getattr(rc, n)() for n in names}


def feed(rc: CachingRiskCalculator, equity: np.ndarray, benchmark: Sequence[float] | np.ndarray | None = None) -> None:
    """``rc.update`` with each value of ``equity`` (and of ``benchmark``, its
    levels: the same length, one per equity value)."""
    update = rc.update
    if benchmark is None:
        for e in equity.tolist():
            update(e)
        return
    levels = np.asarray(benchmark, dtype=np.float64)
    if levels.shape != equity.shape:
        raise ValueError(f"benchmark must have one level per equity value ({equity.size}), got {levels.size}")
    for e, b in zip(equity.tolist(), levels.tolist(), strict=True):
        update(e, benchmark=b)
