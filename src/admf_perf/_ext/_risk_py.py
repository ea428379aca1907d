"""Pure-Python twin of ``_risk.pyx`` (the readable specification).

Same names and behaviour as the compiled module: ``RiskCore`` (the running
statistics behind ``CachingRiskCalculator``) and ``PositionCore`` (the
positions and running totals behind ``IncrementalPositionTracker``), both
updated eagerly, O(1) per call.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Hashable
from typing import Any

from admf_perf._ext._types import twin_locked

__all__ = ["PositionCore", "RiskCore"]

_INF = math.inf
_NAN = math.nan

_HAVE_SHARPE, _HAVE_SORTINO, _HAVE_VOL = 1, 2, 4
_OMEGA_SLOTS = 4


def _cutoff(cutoff: Any) -> float:
    """``cutoff`` as a fraction in [0, 1]; errors name it."""
    c = _as_double(cutoff, "cutoff", False)
    if not 0.0 <= c <= 1.0:
        raise ValueError(f"cutoff must be in [0, 1], got {cutoff!r}")
    return c


def _pow(a: float, b: float) -> float:
    """C's ``pow``: inf on overflow (Python raises), NaN for a negative base
    with a fractional exponent (Python gives a complex number)."""
    if a < 0.0 and not b.is_integer():
        return _NAN
    try:
        return math.pow(a, b)
    except OverflowError:
        return _INF


def _quantile(values: list[float], q: float) -> float:
    """numpy's percentile (method "linear") of the sorted ``values`` at
    fraction ``q``: the virtual index ``q * (n - 1)``, interpolated as
    numpy's ``_lerp`` does it."""
    n = len(values)
    vi = (n - 1) * q
    if vi >= n - 1:
        return values[-1]
    i = int(vi)
    g = vi - i
    a, b = values[i], values[i + 1]
    d = b - a
    return b - d * (1.0 - g) if g >= 0.5 else a + d * g


def _as_double(value: Any, name: str, allow_bool: bool) -> float:
    """``value`` as a float; ``TypeError`` naming ``name`` for a non-number."""
    if not allow_bool and isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got bool")
    try:
        # float() would parse a str: the compiled PyFloat_AsDouble does not
        if isinstance(value, (str, bytes, bytearray)):
            raise TypeError
        return float(value.__float__() if hasattr(value, "__float__") else value.__index__())
    except (TypeError, AttributeError):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from None


def _hashable(symbol: Any) -> None:
    try:
        hash(symbol)
    except TypeError:
        raise TypeError(f"symbol must be hashable, got {type(symbol).__name__}") from None


def _fast_methods(cls: type) -> None:
    """The compiled module gives ``cls`` ``update`` and ``update_return`` as
    method descriptors the interpreter specializes; here RiskCore's own serve."""
    if not isinstance(cls, type) or not issubclass(cls, RiskCore) or cls is RiskCore:
        raise TypeError(f"cls must be a Python subclass of RiskCore, got {cls!r}")


class RiskCore:
    """Running risk statistics of an equity curve (see ``CachingRiskCalculator``).

    Eager: the Welford statistics of the returns, the drawdowns and the
    benchmark's statistics. Kept for later: every raw return, which the path
    metrics (Calmar, stability, Omega) and the order statistics (VaR, CVaR,
    tail ratio) read when asked, each from where it stopped.
    """

    __slots__ = ("_ppy", "_sqrt_ppy", "_rf", "_has_rf", "_started", "_n", "_mean", "_m2",
                 "_rmean", "_rm2", "_down", "_equity", "_peak", "_mdd", "_have",
                 "_c_sharpe", "_c_sortino", "_c_vol", "_rets", "_n_path", "_growth", "_p_peak", "_s_cum",
                 "_s_mean", "_s_m2", "_s_co", "_sorted", "_omega", "_bmode", "_blevel", "_bmean",
                 "_bm2", "_bco", "_amean", "_am2", "__weakref__")

    def __init__(self, periods_per_year: float = 252.0, risk_free: float = 0.0) -> None:
        ppy = _as_double(periods_per_year, "periods_per_year", True)
        rf = _as_double(risk_free, "risk_free", True)
        if not 0.0 < ppy < _INF:
            raise ValueError(f"periods_per_year must be finite and > 0, got {ppy!r}")
        if not -_INF < rf < _INF:
            raise ValueError(f"risk_free must be finite, got {rf!r}")
        self._ppy = ppy
        self._sqrt_ppy = math.sqrt(ppy)
        self._rf = rf
        self._has_rf = rf != 0.0
        self._c_sharpe = self._c_sortino = self._c_vol = _NAN
        self._clear()

    def _clear(self) -> None:
        self._started = False
        self._n = 0  # number of returns
        self._mean = self._m2 = 0.0  # Welford of the excess returns
        self._rmean = self._rm2 = 0.0  # Welford of the raw returns (risk_free != 0)
        self._down = 0.0  # sum of min(excess, 0) ** 2
        self._equity = _NAN  # last equity, actual or implied
        self._peak = _NAN  # of the equity (current_drawdown)
        self._have = 0  # cached results: _HAVE_* bits
        self._rets: list[float] = []  # every raw return, in order
        self._n_path = 0  # returns read into growth and the stability sums
        self._growth = 1.0  # prod(1 + r)
        self._p_peak = 100.0  # running max of 100 * growth (100 at the start)
        self._mdd = 0.0  # min of (100 * growth - p_peak) / p_peak: empyrical's max_drawdown
        self._s_cum = self._s_mean = self._s_m2 = self._s_co = 0.0  # stability (see _read_path)
        self._sorted: list[float] = []  # the returns read so far, sorted
        self._omega: list[list[float]] = []  # [required, positive sum, negative sum, returns read]
        self._bmode = 0  # 0 before the first update, 1 with a benchmark, 2 without
        self._blevel = _NAN  # last benchmark level, actual or implied
        self._bmean = self._bm2 = 0.0  # Welford of the benchmark returns
        self._bco = 0.0  # co-moment of the excess and the benchmark returns
        self._amean = self._am2 = 0.0  # Welford of the active returns r - b

    @twin_locked
    def reset(self) -> None:
        """Forget every equity and return (called by ``CacheManager.clear_all``)."""
        self._clear()

    @property
    def periods_per_year(self) -> float:
        """Periods per year (annualization factor), fixed at construction."""
        return self._ppy

    @property
    def risk_free(self) -> float:
        """Risk-free return per period, fixed at construction."""
        return self._rf

    @property
    def count(self) -> int:
        """Number of returns so far."""
        return self._n

    @property
    def equity(self) -> float:
        """The last equity, actual or implied (NaN before the first update)."""
        return self._equity

    @property
    def has_benchmark(self) -> bool:
        """Whether the updates carry a benchmark (set by the first update)."""
        return self._bmode == 1

    # -- updates ---------------------------------------------------------------
    @twin_locked
    def update(self, equity: Any, benchmark: Any = None) -> None:
        """Add an equity value (> 0, finite); the first one is the starting
        equity. ``benchmark``: the benchmark's level at the same time (> 0,
        finite), on every update or on none."""
        e = equity if equity.__class__ is float else _as_double(equity, "equity", True)
        if not 0.0 < e < _INF:
            raise ValueError(f"equity must be finite and > 0, got {equity!r}")
        if benchmark is None and self._bmode != 1:
            if self._started:
                self._add(e / self._equity - 1.0, e)
            else:
                self._started = True
                self._bmode = 2
                self._equity = self._peak = e
            return
        self._bench_mode(benchmark)
        b = _as_double(benchmark, "benchmark", True)
        if not 0.0 < b < _INF:
            raise ValueError(f"benchmark must be finite and > 0, got {benchmark!r}")
        if self._started:
            self._add(e / self._equity - 1.0, e)
            self._add_bench(b / self._blevel - 1.0)
        else:
            self._started = True
            self._bmode = 1
            self._equity = self._peak = e
        self._blevel = b

    @twin_locked
    def update_return(self, r: Any, benchmark: Any = None) -> None:
        """Add a simple return (finite, > -1); the implied equity starts at 1.0.
        ``benchmark``: the benchmark's return over the same period."""
        x = r if r.__class__ is float else _as_double(r, "r", False)
        if not -_INF < x < _INF:
            raise ValueError(f"r must be finite, got {x!r}")
        if not x > -1.0:
            raise ValueError(f"r must be > -1 (equity stays positive), got {x!r}")
        b = 0.0
        if benchmark is not None or self._bmode == 1:
            self._bench_mode(benchmark)
            b = _as_double(benchmark, "benchmark", False)
            if not -1.0 < b < _INF:
                raise ValueError(f"benchmark must be a finite return > -1, got {benchmark!r}")
        if not self._started:
            self._started = True
            self._bmode = 2 if benchmark is None else 1
            self._equity = self._peak = 1.0
            self._blevel = 1.0
        self._add(x, self._equity * (1.0 + x))
        if self._bmode == 1:
            self._add_bench(b)
            self._blevel *= 1.0 + b

    def _bench_mode(self, benchmark: Any) -> None:
        """Refuse an update whose benchmark breaks the calculator's rule: one
        on every update, or on none (the first update sets it)."""
        if benchmark is None:
            raise ValueError("benchmark is required: this calculator got one on its first update, "
                             "so every update needs one (reset() to start over)")
        if self._bmode == 2:
            raise ValueError("benchmark: this calculator started without one; a benchmark is fed "
                             "from the first update on (reset() to start over)")

    def _add(self, r: float, equity: float) -> None:
        self._rets.append(r)
        n = self._n + 1
        self._n = n
        if self._has_rf:
            d = r - self._rmean
            self._rmean += d / n
            self._rm2 += d * (r - self._rmean)
            x = r - self._rf
        else:
            x = r
        d = x - self._mean
        self._mean += d / n
        self._m2 += d * (x - self._mean)
        if x < 0.0:
            self._down += x * x
        self._equity = equity
        if equity > self._peak:
            self._peak = equity
        self._have = 0

    def _add_bench(self, b: float) -> None:
        """The benchmark's return ``b`` for the return ``_add`` just added:
        Welford of ``b`` and of ``r - b``, and the co-moment of the excess
        return with ``b`` (``self._mean`` is already updated)."""
        n = self._n
        r = self._rets[-1]
        d = b - self._bmean
        self._bmean += d / n
        self._bm2 += d * (b - self._bmean)
        self._bco += d * ((r - self._rf) - self._mean)
        a = r - b
        d = a - self._amean
        self._amean += d / n
        self._am2 += d * (a - self._amean)

    def _read_path(self) -> None:
        """Bring growth (``prod(1 + r)``), the drawdown and the stability
        sums up to the last return. The drawdown is empyrical's: of
        ``100 * cumprod(1 + r)`` against its running max, as ``(c - max) / max``.
        Stability: Welford of ``y`` = the cumulative ``log1p(r)``, and its
        co-moment with the bar index ``i``, whose deviation from the mean of
        ``0..i-1`` is ``(i + 1) / 2``."""
        for i in range(self._n_path, self._n):
            r = self._rets[i]
            self._growth *= 1.0 + r
            c = self._growth * 100.0
            if c > self._p_peak:
                self._p_peak = c
            dd = (c - self._p_peak) / self._p_peak
            if dd < self._mdd:
                self._mdd = dd
            self._s_cum += math.log1p(r)
            y = self._s_cum
            d = y - self._s_mean
            self._s_mean += d / (i + 1)
            self._s_m2 += d * (y - self._s_mean)
            self._s_co += 0.5 * (i + 1) * (y - self._s_mean)
        self._n_path = self._n

    def _read_sorted(self) -> list[float]:
        """The returns so far, sorted."""
        for i in range(len(self._sorted), self._n):
            bisect.insort(self._sorted, self._rets[i])
        return self._sorted

    def _omega_slot(self, required: float) -> list[float]:
        """The Omega sums of ``required`` (the least recently added slot is
        replaced when all are taken), brought up to the last return."""
        for slot in self._omega:
            if slot[0] == required:
                break
        else:
            slot = [required, 0.0, 0.0, 0]
            if len(self._omega) == _OMEGA_SLOTS:
                self._omega.pop(0)
            self._omega.append(slot)
        thr = required if self._ppy == 1.0 else _pow(1.0 + required, 1.0 / self._ppy) - 1.0
        for i in range(int(slot[3]), self._n):
            x = (self._rets[i] - self._rf) - thr
            if x > 0.0:
                slot[1] += x
            elif x < 0.0:
                slot[2] += x
        slot[3] = self._n
        return slot

    def _need_benchmark(self, metric: str) -> None:
        if self._bmode == 2:
            raise ValueError(f"{metric} needs a benchmark: feed update(equity, benchmark=level) "
                             "from the first update")

    # -- results ---------------------------------------------------------------
    @twin_locked
    def volatility(self) -> float:
        """Annualized standard deviation of the returns (ddof=1); NaN below 2 returns."""
        if not self._have & _HAVE_VOL:
            n = self._n
            if n < 2:
                self._c_vol = _NAN
            else:
                m2 = self._rm2 if self._has_rf else self._m2  # of the raw returns
                self._c_vol = math.sqrt(m2 / (n - 1)) * self._sqrt_ppy
            self._have |= _HAVE_VOL
        return self._c_vol

    @twin_locked
    def sharpe_ratio(self) -> float:
        """``mean(excess) / std(excess, ddof=1) * sqrt(periods_per_year)``."""
        if not self._have & _HAVE_SHARPE:
            n = self._n
            if n < 2:
                self._c_sharpe = _NAN
            else:
                std, mean = math.sqrt(self._m2 / (n - 1)), self._mean
                if std == 0.0:  # all excess returns equal: empyrical's _zero_dispersion_std
                    self._c_sharpe = _NAN if mean == 0.0 else math.copysign(_INF, mean)
                else:
                    self._c_sharpe = mean / std * self._sqrt_ppy
            self._have |= _HAVE_SHARPE
        return self._c_sharpe

    @twin_locked
    def sortino_ratio(self) -> float:
        """``mean(excess) * ppy / (sqrt(mean(min(excess, 0) ** 2)) * sqrt(ppy))``."""
        if not self._have & _HAVE_SORTINO:
            n = self._n
            if n < 2:
                self._c_sortino = _NAN
            else:
                annual = self._mean * self._ppy
                downside = math.sqrt(self._down / n) * self._sqrt_ppy
                if downside == 0.0:
                    self._c_sortino = _NAN if annual == 0.0 else math.copysign(_INF, annual)
                else:
                    self._c_sortino = annual / downside
            self._have |= _HAVE_SORTINO
        return self._c_sortino

    @twin_locked
    def max_drawdown(self) -> float:
        """Most negative drawdown so far (<= 0), of the returns' cumulative
        product (the starting value counts as a peak); NaN with no return."""
        if self._n == 0:
            return _NAN
        self._read_path()
        return self._mdd

    @twin_locked
    def current_drawdown(self) -> float:
        """``equity / peak - 1`` now (<= 0); NaN before the first update."""
        if not self._started:
            return _NAN
        return self._equity / self._peak - 1.0

    @twin_locked
    def calmar_ratio(self) -> float:
        """Annual return (``prod(1 + r) ** (ppy / n) - 1``) over ``|max_drawdown|``;
        NaN without a drawdown or when infinite."""
        if self._n == 0:
            return _NAN
        self._read_path()
        if not self._mdd < 0.0:
            return _NAN
        out = (_pow(self._growth, 1.0 / (self._n / self._ppy)) - 1.0) / abs(self._mdd)
        return _NAN if math.isinf(out) else out

    @twin_locked
    def omega_ratio(self, threshold: Any = 0.0) -> float:
        """Sum of the excess returns above the per-period threshold over the
        sum below it (``threshold``: an annual required return, > -1)."""
        req = _as_double(threshold, "threshold", False)
        if not -_INF < req < _INF:
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        if self._n < 2 or (self._ppy != 1.0 and req <= -1.0):
            return _NAN
        _, pos, neg, _ = self._omega_slot(req)
        denom = -1.0 * neg
        return pos / denom if denom > 0.0 else _NAN

    @twin_locked
    def tail_ratio(self) -> float:
        """``|95th percentile| / |5th percentile|`` of the returns."""
        if self._n == 0:
            return _NAN
        values = self._read_sorted()
        top, bottom = abs(_quantile(values, 95.0 / 100.0)), abs(_quantile(values, 5.0 / 100.0))
        if bottom == 0.0:  # numpy's float64 division
            return _NAN if top == 0.0 else _INF
        return top / bottom

    @twin_locked
    def value_at_risk(self, cutoff: Any = 0.05) -> float:
        """The ``cutoff`` quantile of the returns (numpy's linear interpolation)."""
        c = _cutoff(cutoff)
        if self._n == 0:
            return _NAN
        return _quantile(self._read_sorted(), (100.0 * c) / 100.0)

    @twin_locked
    def conditional_value_at_risk(self, cutoff: Any = 0.05) -> float:
        """Mean of the ``int((n - 1) * cutoff) + 1`` lowest returns."""
        c = _cutoff(cutoff)
        if self._n == 0:
            return _NAN
        k = int((self._n - 1) * c) + 1
        return math.fsum(self._read_sorted()[:k]) / k

    @twin_locked
    def stability_of_timeseries(self) -> float:
        """R squared of the cumulative log returns against the bar index."""
        if self._n < 2:
            return _NAN
        self._read_path()
        n = float(self._n)
        sxx = n * (n * n - 1.0) / 12.0  # sum of (i - mean) ** 2 over 0..n-1
        if self._s_m2 == 0.0:  # a flat curve: scipy's linregress gives r = NaN (0 if it had a slope)
            return _NAN if self._s_co == 0.0 else 0.0
        rho = min(max(self._s_co / math.sqrt(sxx * self._s_m2), -1.0), 1.0)
        return rho * rho

    @twin_locked
    def beta(self) -> float:
        """Covariance of the returns with the benchmark's over its variance;
        NaN below 2 returns or with a variance under 1e-30."""
        self._need_benchmark("beta")
        if self._n < 2 or self._bm2 / self._n < 1.0e-30:
            return _NAN
        return self._bco / self._bm2

    @twin_locked
    def alpha(self) -> float:
        """``(1 + mean(excess - beta * benchmark excess)) ** ppy - 1``."""
        self._need_benchmark("alpha")
        if self._n < 2:
            return _NAN
        return _pow(1.0 + (self._mean - self.beta() * (self._bmean - self._rf)), self._ppy) - 1.0

    @twin_locked
    def information_ratio(self) -> float:
        """``mean(r - benchmark) / std(r - benchmark, ddof=1)`` (empyrical's
        ``excess_sharpe``, not annualized)."""
        self._need_benchmark("information_ratio")
        if self._n < 2:
            return _NAN
        std = math.sqrt(self._am2 / (self._n - 1))
        if std == 0.0:
            return _NAN if self._amean == 0.0 else math.copysign(_INF, self._amean)
        return self._amean / std


class _Pos:
    """One symbol's state."""

    __slots__ = ("qty", "avg", "last", "realized")

    def __init__(self, last: float) -> None:
        self.qty = 0.0
        self.avg = 0.0
        self.last = last
        self.realized = 0.0


class PositionCore:
    """Positions and running totals (see ``IncrementalPositionTracker``)."""

    __slots__ = ("_state", "_initial", "_cash", "_mv", "_upnl", "_realized", "flat_tolerance")

    def __init__(self, initial_cash: float = 0.0) -> None:
        cash = _as_double(initial_cash, "initial_cash", True)
        if not -_INF < cash < _INF:
            raise ValueError(f"initial_cash must be finite, got {cash!r}")
        self._state: dict[Hashable, _Pos] = {}
        self._initial = cash
        self.flat_tolerance = 1e-12
        self.reset()

    @twin_locked
    def reset(self) -> None:
        """Back to ``initial_cash`` and no positions."""
        self._state.clear()
        self._cash = self._initial
        self._mv = 0.0  # sum of quantity * last_price
        self._upnl = 0.0  # sum of quantity * (last_price - avg_price)
        self._realized = 0.0  # sum of realized P&L (commissions included)

    @property
    def initial_cash(self) -> float:
        return self._initial

    # -- events ----------------------------------------------------------------
    @twin_locked
    def on_price(self, symbol: Hashable, price: Any) -> None:
        """Mark ``symbol`` at ``price`` (finite, > 0)."""
        if price.__class__ is float:
            p = price
        else:
            try:
                p = _as_double(price, "price", True)
            except TypeError:
                _hashable(symbol)
                raise
        if not 0.0 < p < _INF:
            raise ValueError(f"price must be finite and > 0, got {price!r}")
        try:
            s = self._state.get(symbol)
        except TypeError:
            _hashable(symbol)
            raise
        if s is None:
            self._state[symbol] = _Pos(p)
            return
        q = s.qty
        if q != 0.0:
            d = q * (p - s.last)
            self._mv += d
            self._upnl += d
        s.last = p

    @twin_locked
    def _fill(self, symbol: Hashable, q: float, p: float, c: float) -> None:
        """Apply a validated fill (``q`` != 0, ``p`` > 0, all finite)."""
        q, p, c = float(q), float(p), float(c)
        try:
            s = self._state.get(symbol)
        except TypeError:
            _hashable(symbol)
            raise
        if s is None:
            s = self._state[symbol] = _Pos(p)
        old_q, old_a, old_last = s.qty, s.avg, s.last
        new_q = old_q + q
        if old_q == 0.0 or (old_q > 0.0) == (q > 0.0):  # open or add
            gain = 0.0
            new_a = p if old_q == 0.0 else (old_q * old_a + q * p) / new_q
        elif abs(q) <= abs(old_q):  # reduce or close
            gain = (p - old_a) * -q
            new_a = old_a
        else:  # flip: close all of old_q, open the rest at p
            gain = (p - old_a) * old_q
            new_a = p
        if abs(new_q) <= self.flat_tolerance * max(abs(old_q), abs(q)):
            new_q = new_a = 0.0
        gain -= c
        s.qty = new_q
        s.avg = new_a
        s.last = p
        s.realized += gain
        self._cash -= q * p + c
        self._realized += gain
        self._mv += new_q * p - old_q * old_last
        self._upnl += new_q * (p - new_a) - old_q * (old_last - old_a)

    # -- reads -----------------------------------------------------------------
    def _get(self, symbol: Hashable) -> tuple[float, float, float, float] | None:
        """``(quantity, avg_price, last_price, realized)`` of ``symbol``, or None."""
        s = self._state.get(symbol)
        if s is None:
            return None
        return (s.qty, s.avg, s.last, s.realized)

    def _open(self) -> list[tuple[Hashable, float, float, float, float]]:
        """``[(symbol, quantity, avg_price, last_price, realized), ...]`` of
        the non-flat positions."""
        return [(symbol, s.qty, s.avg, s.last, s.realized)
                for symbol, s in self._state.items() if s.qty != 0.0]

    @property
    def cash(self) -> float:
        """Cash: initial cash minus what fills spent (commissions included)."""
        return self._cash

    @property
    def total_value(self) -> float:
        """Cash plus the market value of every position."""
        return self._cash + self._mv

    @property
    def market_value(self) -> float:
        """Sum of the positions' market values (signed: shorts are negative)."""
        return self._mv

    @property
    def realized_pnl(self) -> float:
        """Realized P&L of every symbol, net of commissions."""
        return self._realized

    @property
    def unrealized_pnl(self) -> float:
        """Sum of ``quantity * (last_price - avg_price)``."""
        return self._upnl
