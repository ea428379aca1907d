"""Pure-Python twin of ``_indicators.pyx``: the readable reference of the incremental indicators.

The contract is docs/indicators.md; values follow TA-Lib's C source (same
warm-up, same seeding, the same arithmetic where that is cheap, so most
outputs are bit-identical to ``talib``'s).

Structure:

- ``_Indicator`` holds what every class shares: input checking, ``update`` /
  ``peek`` / ``batch``, composition with a ``source``, ``value`` / ``ready`` /
  ``count``, ``reset``, ``copy`` and pickling.
- Each class implements ``_reset_state()`` (the freshly constructed state)
  and ``_step(*inputs, commit)``: the output for one bar, computed in local
  variables and written back to ``self`` only when ``commit`` is true.  So
  ``peek`` is ``_step(..., commit=False)``: no copy, O(1), and it returns
  exactly what ``update`` will.
- Composite indicators (DEMA, TEMA, MACD, BollingerBands, Stochastic) are
  built from the simple ones, calling their ``_step`` directly.
- ``batch`` checks every array first, then loops over the same ``_feed`` that
  ``update`` uses: bit-for-bit equal to streaming by construction.

Rolling sums (SMA, WMA, StdDev, BollingerBands, VWAP) are Neumaier-compensated
``(sum, compensation)`` pairs; StdDev/BollingerBands also sum deviations from a
reference value that follows the window, so the variance does not cancel
catastrophically (``E[x^2] - E[x]^2``) on prices far from zero.  RollingMin /
RollingMax use a monotonic deque.  Nothing recomputes its window.
"""
from __future__ import annotations

import copy as _copy
import math
from collections import deque
from numbers import Integral, Real

import numpy as np

__all__ = [
    "ADX", "ATR", "BollingerBands", "DEMA", "EMA", "KAMA", "MACD", "Momentum", "OBV",
    "ROC", "RSI", "RollingMax", "RollingMin", "SMA", "StdDev", "Stochastic", "TEMA",
    "VWAP", "WMA",
]

_NAN = math.nan
_isfinite = math.isfinite
_fabs = math.fabs

#: TA-Lib's TA_EPSILON. The TA-Lib bundled with talib 0.8 tests "zero" either
#: exactly (RSI's gain + loss, ADX's TR and +DI + -DI, STDDEV's variance) or
#: relative to the operands (TA_IS_ZERO_SCALED(v, s): |v| <= _EPS * s: KAMA's
#: sum of changes, STOCH's range), so every indicator is scale-invariant;
#: measured against ``talib`` on prices scaled by 1e-20 .. 1e8.
_EPS = 1e-14
#: a few ulps: the rounding noise of ``sum(d*d) - sum(d)**2 / k``
_NOISE = 16 * 2.0 ** -53


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _nadd(s: float, c: float, x: float) -> tuple[float, float]:
    """Neumaier's compensated addition: (s, c) + x. The sum's value is s + c."""
    t = s + x
    if _fabs(s) >= _fabs(x):
        c += (s - t) + x
    else:
        c += (x - t) + s
    return t, c


def _check_int(owner: str, name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be >= {minimum}, got {value}")
    return value


def _check_real(owner: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not _isfinite(value):
        raise ValueError(f"{owner}: {name} must be finite, got {value!r}")
    return value


def _restore(cls, state):
    """Unpickling: a new instance of ``cls`` with ``state`` as its ``__dict__``."""
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj


# --------------------------------------------------------------------------
# the common part
# --------------------------------------------------------------------------

class _Indicator:
    """Base class: see the module docstring. Not part of the public API."""

    #: names of ``update``'s inputs (without a source)
    _INPUTS: tuple[str, ...] = ("x",)
    #: number of outputs (1: a float; more: a tuple of floats)
    _N_OUT = 1
    #: whether ``source=`` is accepted (single-input classes only)
    _TAKES_SOURCE = False

    _source: _Indicator | None = None

    def _init_common(self, source) -> None:
        if source is not None:
            name = type(self).__name__
            if not self._TAKES_SOURCE:
                raise TypeError(f"{name}: takes no source (only single-input indicators do)")
            if not isinstance(source, _Indicator):
                raise TypeError(f"{name}: source must be an indicator of this module, "
                                f"got {type(source).__name__}")
            if source._N_OUT != 1:
                raise TypeError(f"{name}: source must be a single-output indicator, "
                                f"{type(source).__name__} has {source._N_OUT} outputs")
        self._source = source
        self._reset_state()
        self._value = self._nan_output()
        self._count = 0

    # ----- subclass hooks -------------------------------------------------
    def _reset_state(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _step(self, *args):  # pragma: no cover - abstract
        raise NotImplementedError

    # ----- helpers ----------------------------------------------------------
    def _nan_output(self):
        return _NAN if self._N_OUT == 1 else (_NAN,) * self._N_OUT

    def _input_names(self) -> tuple[str, ...]:
        src = self._source
        return self._INPUTS if src is None else src._input_names()

    def _arity_error(self, method: str, got: int) -> TypeError:
        names = self._input_names()
        return TypeError(f"{type(self).__name__}.{method}() takes {len(names)} input"
                         f"{'s' if len(names) != 1 else ''} ({', '.join(names)}), got {got}")

    def _checked(self, inputs: tuple, method: str) -> tuple[float, ...]:
        names = self._input_names()
        if len(inputs) != len(names):
            raise self._arity_error(method, len(inputs))
        values = []
        for name, x in zip(names, inputs, strict=True):
            if isinstance(x, (str, bytes)):
                raise TypeError(f"{type(self).__name__}.{method}: input {name!r} must be a "
                                f"real number, got {type(x).__name__}")
            try:
                v = float(x)
            except (TypeError, ValueError):
                raise TypeError(f"{type(self).__name__}.{method}: input {name!r} must be a "
                                f"real number, got {type(x).__name__}") from None
            if not _isfinite(v):
                raise ValueError(f"{type(self).__name__}.{method}: input {name!r} must be "
                                 f"finite, got {v!r}")
            values.append(v)
        return tuple(values)

    def _feed(self, values: tuple[float, ...], commit: bool):
        """One bar of checked inputs: through the source (if any), then this indicator."""
        src = self._source
        if src is None:
            out = self._step(*values, commit)
        else:
            v = src._feed(values, commit)
            # the source's warm-up NaNs are skipped: this indicator sees only real values
            out = self._nan_output() if v != v else self._step(v, commit)
        if commit:
            self._value = out
            self._count += 1
        return out

    # ----- public API -------------------------------------------------------
    def update(self, *inputs):
        """Consume one bar; return the output (NaN during warm-up)."""
        return self._feed(self._checked(inputs, "update"), True)

    def peek(self, *inputs):
        """The output ``update(*inputs)`` would return, without changing any state."""
        return self._feed(self._checked(inputs, "peek"), False)

    def batch(self, *arrays):
        """``update`` on each element: one float64 array per output, bit for bit."""
        name = type(self).__name__
        names = self._input_names()
        if len(arrays) != len(names):
            raise self._arity_error("batch", len(arrays))
        columns = []
        for input_name, a in zip(names, arrays, strict=True):
            try:
                arr = np.asarray(a, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name}.batch: input {input_name!r} must be an array of "
                                f"real numbers ({exc})") from None
            if arr.ndim != 1:
                raise ValueError(f"{name}.batch: input {input_name!r} must be 1-dimensional, "
                                 f"got shape {arr.shape}")
            columns.append(arr)
        n = len(columns[0])
        for input_name, arr in zip(names, columns, strict=True):
            if len(arr) != n:
                raise ValueError(f"{name}.batch: inputs must have equal lengths, got "
                                 f"{', '.join(f'{k}={len(c)}' for k, c in zip(names, columns, strict=True))}")
            bad = ~np.isfinite(arr)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"{name}.batch: input {input_name!r} must be finite, got "
                                 f"{float(arr[i])!r} at index {i}")
        # all checked: from here on nothing can fail half-way
        feed = self._feed
        rows = zip(*(c.tolist() for c in columns), strict=True)
        if self._N_OUT == 1:
            out = np.empty(n, dtype=np.float64)
            for i, row in enumerate(rows):
                out[i] = feed(row, True)
            return out
        outs = [np.empty(n, dtype=np.float64) for _ in range(self._N_OUT)]
        for i, row in enumerate(rows):
            for arr, v in zip(outs, feed(row, True), strict=True):
                arr[i] = v
        return tuple(outs)

    @property
    def value(self):
        """The last output (NaN, or a tuple of NaNs, before any)."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once the output is no longer NaN."""
        v = self._value
        if self._N_OUT != 1:
            v = v[0]
        return v == v

    @property
    def count(self) -> int:
        """Bars consumed (calls of ``update``, elements of ``batch``)."""
        return self._count

    @property
    def source(self):
        """The indicator whose outputs feed this one (None: fed directly)."""
        return self._source

    def reset(self) -> None:
        """Back to the freshly constructed state (the source too)."""
        if self._source is not None:
            self._source.reset()
        self._reset_state()
        self._value = self._nan_output()
        self._count = 0

    def copy(self):
        """An independent indicator with the same state (the source copied too)."""
        return _restore(type(self), _copy.deepcopy(self.__dict__))

    def __copy__(self):
        return self.copy()  # a shallow copy would share the windows

    def __deepcopy__(self, memo):
        return _restore(type(self), _copy.deepcopy(self.__dict__, memo))

    def __reduce__(self):
        return (_restore, (type(self), self.__dict__.copy()))

    def _params(self) -> str:
        return ""

    def __repr__(self) -> str:
        src = "" if self._source is None else f", source={self._source!r}"
        return f"{type(self).__name__}({self._params()}{src})"


class _Period(_Indicator):
    """Single-period indicators: ``period`` attribute, optional ``source``."""

    _TAKES_SOURCE = True
    _MIN_PERIOD = 1

    def __init__(self, period: int = 30, *, source=None):
        self._period = _check_int(type(self).__name__, "period", period, self._MIN_PERIOD)
        self._init_common(source)

    @property
    def period(self) -> int:
        return self._period

    def _params(self) -> str:
        return str(self._period)


# --------------------------------------------------------------------------
# moving averages
# --------------------------------------------------------------------------

class SMA(_Period):
    """Simple moving average (TA-Lib SMA): mean of the last ``period`` values."""

    def _reset_state(self):
        self._window = deque()
        self._s = 0.0  # compensated window sum: _s + _c
        self._c = 0.0

    def _step(self, x, commit):
        p = self._period
        window = self._window
        s, c = self._s, self._c
        full = len(window) == p
        if full:
            s, c = _nadd(s, c, -window[0])
        s, c = _nadd(s, c, x)
        out = (s + c) / p if full or len(window) == p - 1 else _NAN
        if commit:
            window.append(x)
            if full:
                window.popleft()
            self._s, self._c = s, c
        return out


class EMA(_Period):
    """Exponential moving average (TA-Lib EMA).

    k = 2 / (period + 1); seeded at index period-1 with the plain mean of the
    first ``period`` values (summed in order, as TA-Lib), then
    ``ema = (x - ema) * k + ema``.
    """

    def _reset_state(self):
        self._k = 2.0 / (self._period + 1)
        self._n = 0        # values consumed
        self._sum = 0.0    # warm-up sum
        self._ema = _NAN

    def _step(self, x, commit):
        n = self._n
        p = self._period
        if n >= p:
            ema = (x - self._ema) * self._k + self._ema
        else:
            total = self._sum + x
            ema = total / p if n == p - 1 else _NAN
            if commit:
                self._sum = total
        if commit:
            self._n = n + 1
            self._ema = ema
        return ema


class WMA(_Period):
    """Weighted moving average (TA-Lib WMA): weights 1 (oldest) .. period (newest).

    The weighted sum W and the plain sum S are compensated; sliding the window
    by one is ``W += period * x_new - S_old`` and ``S += x_new - x_oldest``.
    """

    def _reset_state(self):
        self._window = deque()
        self._w = 0.0  # weighted sum: _w + _wc
        self._wc = 0.0
        self._s = 0.0  # plain sum: _s + _sc
        self._sc = 0.0

    def _step(self, x, commit):
        p = self._period
        window = self._window
        w, wc, s, sc = self._w, self._wc, self._s, self._sc
        full = len(window) == p
        if full:
            w, wc = _nadd(w, wc, -(s + sc))
            w, wc = _nadd(w, wc, p * x)
            s, sc = _nadd(s, sc, -window[0])
            s, sc = _nadd(s, sc, x)
        else:
            w, wc = _nadd(w, wc, (len(window) + 1) * x)
            s, sc = _nadd(s, sc, x)
        ready = full or len(window) == p - 1
        out = (w + wc) / (p * (p + 1) / 2.0) if ready else _NAN
        if commit:
            window.append(x)
            if full:
                window.popleft()
            self._w, self._wc, self._s, self._sc = w, wc, s, sc
        return out


class DEMA(_Period):
    """Double EMA (TA-Lib DEMA): 2*EMA(x) - EMA(EMA(x)), each EMA seeded as EMA."""

    def _reset_state(self):
        self._e1 = EMA(self._period)
        self._e2 = EMA(self._period)

    def _step(self, x, commit):
        e1 = self._e1._step(x, commit)
        if e1 != e1:
            return _NAN
        e2 = self._e2._step(e1, commit)
        if e2 != e2:
            return _NAN
        return 2.0 * e1 - e2


class TEMA(_Period):
    """Triple EMA (TA-Lib TEMA): 3*E1 - 3*E2 + E3, E2 = EMA(E1), E3 = EMA(E2)."""

    def _reset_state(self):
        self._e1 = EMA(self._period)
        self._e2 = EMA(self._period)
        self._e3 = EMA(self._period)

    def _step(self, x, commit):
        e1 = self._e1._step(x, commit)
        if e1 != e1:
            return _NAN
        e2 = self._e2._step(e1, commit)
        if e2 != e2:
            return _NAN
        e3 = self._e3._step(e2, commit)
        if e3 != e3:
            return _NAN
        return e3 + (3.0 * e1 - 3.0 * e2)  # TA-Lib's order of operations


class KAMA(_Period):
    """Kaufman adaptive moving average (TA-Lib KAMA, ta_KAMA.c).

    Efficiency ratio ER = |x[t] - x[t-period]| / sum of |x[i] - x[i-1]| over the
    last ``period`` differences (1 when that sum is <= the change or ~0);
    sc = (ER * (2/3 - 2/31) + 2/31)^2; ``kama = (x - kama) * sc + kama``,
    starting from kama = x[period-1]; first output at index ``period``.
    ``period == 1`` is the identity, as in TA-Lib.
    """

    _CONST_MAX = 2.0 / (30.0 + 1.0)
    _CONST_DIFF = 2.0 / (2.0 + 1.0) - _CONST_MAX

    def _reset_state(self):
        self._window = deque()  # the last period+1 values
        self._sum_roc1 = 0.0    # plain running sum, as TA-Lib
        self._kama = _NAN

    def _step(self, x, commit):
        p = self._period
        if p == 1:
            return x
        window = self._window
        n = len(window)  # values before this one (capped at p+1)
        sum_roc1 = self._sum_roc1
        kama = self._kama
        if n == p + 1:
            # slide: drop |x[t-p-1] - x[t-p]|, add |x[t] - x[t-1]|
            sum_roc1 -= _fabs(window[0] - window[1])
        if n >= 1:
            sum_roc1 += _fabs(x - window[-1])
        if n >= p:
            if n == p:
                kama = window[-1]  # the seed: x[period-1]
            trailing = window[-p]
            period_roc = x - trailing
            # TA-Lib's scale-aware zero test: |sum| <= 1e-14 * (|x| + |x[t-period]|)
            if sum_roc1 <= period_roc or _fabs(sum_roc1) <= _EPS * (_fabs(x) + _fabs(trailing)):
                er = 1.0
            else:
                er = _fabs(period_roc / sum_roc1)
            sc = er * self._CONST_DIFF + self._CONST_MAX
            sc *= sc
            kama = (x - kama) * sc + kama
            out = kama
        else:
            out = _NAN
        if commit:
            window.append(x)
            if n == p + 1:
                window.popleft()
            self._sum_roc1 = sum_roc1
            self._kama = kama
        return out


# --------------------------------------------------------------------------
# oscillators and deviations
# --------------------------------------------------------------------------

class RSI(_Period):
    """Relative strength index (TA-Lib RSI, Wilder).

    Seeded with the means of the first ``period`` gains and losses, then
    ``avg = (avg * (period-1) + today) / period``; RSI = 100 * gain / (gain + loss),
    0 when gain + loss is 0. First output at index ``period``.
    """

    _MIN_PERIOD = 2

    def __init__(self, period: int = 14, *, source=None):
        super().__init__(period, source=source)

    def _reset_state(self):
        self._n = 0
        self._prev = _NAN
        self._gain = 0.0
        self._loss = 0.0

    def _step(self, x, commit):
        n = self._n
        p = self._period
        gain, loss = self._gain, self._loss
        out = _NAN
        if n > 0:
            diff = x - self._prev
            if n > p:  # Wilder smoothing
                loss *= p - 1
                gain *= p - 1
            if diff < 0.0:
                loss -= diff
            else:
                gain += diff
            if n >= p:  # n == p: the seeding means; n > p: the smoothing
                loss /= p
                gain /= p
                total = gain + loss
                out = 100.0 * (gain / total) if total != 0.0 else 0.0
        if commit:
            self._n = n + 1
            self._prev = x
            self._gain, self._loss = gain, loss
        return out


class _MeanVar:
    """Rolling mean and population variance of the last ``period`` values.

    ``E[x^2] - E[x]^2`` cancels catastrophically on prices far from zero, so the
    sums are of deviations d = x - ref from a reference near the data, kept in
    *epochs*: each epoch has its own ``ref`` and compensated sums of d and d*d
    over the window values that entered while it was current.  A value leaves
    from the epoch it entered (the very same d is subtracted).  When the window
    is full and the older epoch has emptied, the current epoch becomes the old
    one and a new epoch starts with ``ref`` = the window mean.  An epoch lives
    at most 2 * period bars and its rounding residue is dropped with it, so
    nothing drifts, however long the stream.  The two epochs are combined by
    shifting the old one's sums onto the current ``ref`` (O(1)).
    """

    def __init__(self, period: int):
        self.period = period
        self.window: deque[float] = deque()
        # epoch = [ref, count, s1, c1, s2, c2]: sum of d is s1 + c1, of d*d is s2 + c2
        self.old = [0.0, 0, 0.0, 0.0, 0.0, 0.0]
        self.cur = [0.0, 0, 0.0, 0.0, 0.0, 0.0]

    def step(self, x, commit):
        """(mean, variance) with x added (NaN, NaN during warm-up)."""
        p = self.period
        window = self.window
        ref_o, k_o, s1_o, c1_o, s2_o, c2_o = self.old
        ref_c, k_c, s1_c, c1_c, s2_c, c2_c = self.cur
        full = len(window) == p
        if full:  # the oldest value leaves from the epoch it entered
            if k_o > 0:
                d = window[0] - ref_o
                s1_o, c1_o = _nadd(s1_o, c1_o, -d)
                s2_o, c2_o = _nadd(s2_o, c2_o, -(d * d))
                k_o -= 1
                if k_o == 0:  # emptied: drop its rounding residue
                    s1_o = c1_o = s2_o = c2_o = 0.0
            else:
                d = window[0] - ref_c
                s1_c, c1_c = _nadd(s1_c, c1_c, -d)
                s2_c, c2_c = _nadd(s2_c, c2_c, -(d * d))
                k_c -= 1
        elif not window:
            ref_c = x  # the first epoch starts on the data
        d = x - ref_c
        s1_c, c1_c = _nadd(s1_c, c1_c, d)
        s2_c, c2_c = _nadd(s2_c, c2_c, d * d)
        k_c += 1
        if full or len(window) == p - 1:
            mean, m2 = _moments(ref_c, k_c, s1_c + c1_c, s2_c + c2_c)
            if k_o > 0:  # combine the two epochs (Chan, Golub and LeVeque)
                mean_o, m2_o = _moments(ref_o, k_o, s1_o + c1_o, s2_o + c2_o)
                delta = mean - mean_o
                mean = mean_o + delta * k_c / p
                m2 = m2_o + m2 + delta * delta * (k_o * k_c / p)
            var = m2 / p
            if var <= (_EPS * mean) ** 2:
                var = 0.0  # a deviation below 1e-14 of the level is rounding noise
        else:
            mean = var = _NAN
        if commit:
            window.append(x)
            if full:
                window.popleft()
            if k_o == 0 and len(window) == p:
                # new epoch: the current one becomes the old one
                self.old = [ref_c, k_c, s1_c, c1_c, s2_c, c2_c]
                self.cur = [mean, 0, 0.0, 0.0, 0.0, 0.0]
            else:
                self.old = [ref_o, k_o, s1_o, c1_o, s2_o, c2_o]
                self.cur = [ref_c, k_c, s1_c, c1_c, s2_c, c2_c]
        return mean, var


def _moments(ref: float, k: int, sum1: float, sum2: float) -> tuple[float, float]:
    """(mean, sum of squared deviations from the mean) of k values, given the
    sums of d = x - ref and d*d."""
    mean_d = sum1 / k
    m2 = sum2 - sum1 * mean_d
    if m2 <= _NOISE * sum2:
        m2 = 0.0  # within the rounding noise of the difference: a flat window
    return ref + mean_d, m2


def _stddev(var: float) -> float:
    return math.sqrt(var) if var > 0.0 else 0.0


class StdDev(_Period):
    """Rolling population standard deviation times ``nbdev`` (TA-Lib STDDEV)."""

    _MIN_PERIOD = 2

    def __init__(self, period: int = 5, nbdev: float = 1.0, *, source=None):
        self._nbdev = _check_real("StdDev", "nbdev", nbdev)
        super().__init__(period, source=source)

    @property
    def nbdev(self) -> float:
        return self._nbdev

    def _params(self):
        return f"{self._period}, nbdev={self._nbdev!r}"

    def _reset_state(self):
        self._mv = _MeanVar(self._period)

    def _step(self, x, commit):
        mean, var = self._mv.step(x, commit)
        if mean != mean:
            return _NAN
        std = _stddev(var)
        return std * self._nbdev if self._nbdev != 1.0 else std


class BollingerBands(_Period):
    """Bollinger bands (TA-Lib BBANDS, SMA middle): (upper, middle, lower).

    middle = SMA(period), std = population deviation of the same window;
    upper = middle + nbdev_up * std, lower = middle - nbdev_down * std.
    """

    _MIN_PERIOD = 2
    _N_OUT = 3

    def __init__(self, period: int = 20, nbdev_up: float = 2.0, nbdev_down: float = 2.0, *,
                 source=None):
        self._nbdev_up = _check_real("BollingerBands", "nbdev_up", nbdev_up)
        self._nbdev_down = _check_real("BollingerBands", "nbdev_down", nbdev_down)
        super().__init__(period, source=source)

    @property
    def nbdev_up(self) -> float:
        return self._nbdev_up

    @property
    def nbdev_down(self) -> float:
        return self._nbdev_down

    def _params(self):
        return f"{self._period}, nbdev_up={self._nbdev_up!r}, nbdev_down={self._nbdev_down!r}"

    def _reset_state(self):
        self._mv = _MeanVar(self._period)

    def _step(self, x, commit):
        middle, var = self._mv.step(x, commit)
        if middle != middle:
            return (_NAN, _NAN, _NAN)
        std = _stddev(var)
        return (middle + std * self._nbdev_up, middle, middle - std * self._nbdev_down)


class MACD(_Indicator):
    """MACD (TA-Lib MACD): (macd, signal, hist).

    Both EMAs start at bar ``slow-1``: the slow one seeded with the mean of
    the first ``slow`` values, the fast one with the mean of the ``fast``
    values ending there (TA-Lib swaps fast and slow when fast > slow).
    macd = fast - slow; signal = EMA(signal) of macd, seeded with the mean of
    its first ``signal`` values; all three outputs start at ``slow+signal-2``.
    """

    _TAKES_SOURCE = True
    _N_OUT = 3

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9, *, source=None):
        self._fast = _check_int("MACD", "fast", fast, 2)
        self._slow = _check_int("MACD", "slow", slow, 2)
        self._signal = _check_int("MACD", "signal", signal, 1)
        self._init_common(source)

    fast = property(lambda self: self._fast)
    slow = property(lambda self: self._slow)
    signal = property(lambda self: self._signal)

    def _params(self):
        return f"{self._fast}, {self._slow}, {self._signal}"

    def _reset_state(self):
        fast, slow = sorted((self._fast, self._slow))  # TA-Lib: fast is the shorter one
        self._kfast = 2.0 / (fast + 1)
        self._nfast = fast
        self._nslow = slow
        self._n = 0
        self._recent = deque(maxlen=fast - 1)  # warm-up: the values that seed the fast EMA
        self._slow_ema = EMA(slow)
        self._fast_ema = _NAN
        self._signal_ema = EMA(self._signal)

    def _step(self, x, commit):
        n = self._n
        slow_ema = self._slow_ema._step(x, commit)
        if n < self._nslow - 1:
            if commit:
                self._recent.append(x)
                self._n = n + 1
            return (_NAN, _NAN, _NAN)
        if n == self._nslow - 1:
            total = 0.0  # the seed: mean of the last ``fast`` values, summed in order
            for v in self._recent:
                total += v
            fast_ema = (total + x) / self._nfast
        else:
            fast_ema = (x - self._fast_ema) * self._kfast + self._fast_ema
        macd = fast_ema - slow_ema
        signal = self._signal_ema._step(macd, commit)
        if commit:
            self._fast_ema = fast_ema
            self._n = n + 1
            if self._recent:
                self._recent.clear()  # not needed any more
        if signal != signal:
            return (_NAN, _NAN, _NAN)
        return (macd, signal, macd - signal)


# --------------------------------------------------------------------------
# rolling extremes, changes
# --------------------------------------------------------------------------

class _RollingExtreme(_Period):
    """Monotonic deque of (index, value): the front is the window's extreme."""

    _MIN_PERIOD = 2
    _MAX = False  # True: maximum, False: minimum

    def _reset_state(self):
        self._n = 0
        self._deque = deque()

    def _better(self, a, b):
        """a is at least as extreme as b."""
        return a >= b if self._MAX else a <= b

    def _step(self, x, commit):
        n = self._n
        p = self._period
        dq = self._deque
        # the window's extreme without the value that leaves it (index n - p)
        rest = _NAN
        if dq:
            if dq[0][0] > n - p:
                rest = dq[0][1]
            elif len(dq) > 1:
                rest = dq[1][1]
        out = _NAN
        if n >= p - 1:
            out = x if rest != rest or self._better(x, rest) else rest
        if commit:
            if dq and dq[0][0] <= n - p:
                dq.popleft()
            while dq and self._better(x, dq[-1][1]):
                dq.pop()
            dq.append((n, x))
            self._n = n + 1
        return out


class RollingMin(_RollingExtreme):
    """Minimum of the last ``period`` values (TA-Lib MIN)."""

    _MAX = False


class RollingMax(_RollingExtreme):
    """Maximum of the last ``period`` values (TA-Lib MAX)."""

    _MAX = True


class _Lagged(_Period):
    """Keeps the last ``period`` values, to compare x with x[t-period]."""

    def __init__(self, period: int = 10, *, source=None):
        super().__init__(period, source=source)

    def _reset_state(self):
        self._window = deque()

    def _change(self, x, old):  # pragma: no cover - abstract
        raise NotImplementedError

    def _step(self, x, commit):
        window = self._window
        full = len(window) == self._period
        out = self._change(x, window[0]) if full else _NAN
        if commit:
            window.append(x)
            if full:
                window.popleft()
        return out


class ROC(_Lagged):
    """Rate of change in percent (TA-Lib ROC): (x / x[t-period] - 1) * 100, 0 if x[t-period] == 0."""

    def _change(self, x, old):
        return ((x / old) - 1.0) * 100.0 if old != 0.0 else 0.0


class Momentum(_Lagged):
    """Momentum (TA-Lib MOM): x - x[t-period]."""

    def _change(self, x, old):
        return x - old


# --------------------------------------------------------------------------
# high / low / close
# --------------------------------------------------------------------------

def _true_range(high, low, prev_close):
    """TA-Lib's TRANGE for one bar."""
    greatest = high - low
    v = _fabs(prev_close - high)
    if v > greatest:
        greatest = v
    v = _fabs(prev_close - low)
    if v > greatest:
        greatest = v
    return greatest


class ATR(_Indicator):
    """Average true range (TA-Lib ATR).

    True range from bar 1; seeded at bar ``period`` with the mean of TR[1..period],
    then ``atr = (atr * (period-1) + tr) / period``. ``period == 1``: the true range.
    """

    _INPUTS = ("high", "low", "close")

    def __init__(self, period: int = 14):
        self._period = _check_int("ATR", "period", period, 1)
        self._init_common(None)

    period = property(lambda self: self._period)
    _params = _Period._params

    def _reset_state(self):
        self._n = 0
        self._prev_close = _NAN
        self._sum = 0.0  # warm-up sum of TR
        self._atr = _NAN

    def _step(self, high, low, close, commit):
        n = self._n
        p = self._period
        atr = self._atr
        total = self._sum
        if n == 0:
            out = _NAN
        else:
            tr = _true_range(high, low, self._prev_close)
            if p == 1:
                atr = tr
            elif n < p:
                total += tr
            elif n == p:
                total += tr
                atr = total / p
            else:
                atr = ((atr * (p - 1)) + tr) / p
            out = atr
        if commit:
            self._n = n + 1
            self._prev_close = close
            self._sum = total
            self._atr = atr
        return out


class ADX(_Indicator):
    """Average directional index (TA-Lib ADX, ta_ADX.c).

    +DM/-DM and TR summed over bars 1..period-1, then Wilder-smoothed
    (``s = s - s/period + today``); DX = 100 * |+DI - -DI| / (+DI + -DI); the first
    ADX (bar 2*period-1) is the mean of the first ``period`` DX, then
    ``adx = (adx * (period-1) + dx) / period`` (kept when TR or +DI + -DI is 0).
    """

    _INPUTS = ("high", "low", "close")

    def __init__(self, period: int = 14):
        self._period = _check_int("ADX", "period", period, 2)
        self._init_common(None)

    period = property(lambda self: self._period)
    _params = _Period._params

    def _reset_state(self):
        self._n = 0
        self._prev_high = self._prev_low = self._prev_close = _NAN
        self._plus_dm = self._minus_dm = self._tr = 0.0
        self._sum_dx = 0.0
        self._adx = _NAN

    def _step(self, high, low, close, commit):
        n = self._n
        p = self._period
        plus_dm, minus_dm, tr_s = self._plus_dm, self._minus_dm, self._tr
        sum_dx, adx = self._sum_dx, self._adx
        out = _NAN
        if n > 0:
            diff_p = high - self._prev_high
            diff_m = self._prev_low - low
            tr = _true_range(high, low, self._prev_close)
            smoothing = n >= p
            if smoothing:
                minus_dm -= minus_dm / p
                plus_dm -= plus_dm / p
            if diff_m > 0 and diff_p < diff_m:
                minus_dm += diff_m
            elif diff_p > 0 and diff_p > diff_m:
                plus_dm += diff_p
            if smoothing:
                tr_s = tr_s - tr_s / p + tr
            else:
                tr_s += tr
            if smoothing:
                dx = _NAN
                if tr_s != 0.0:
                    minus_di = 100.0 * (minus_dm / tr_s)
                    plus_di = 100.0 * (plus_dm / tr_s)
                    di_sum = minus_di + plus_di
                    if di_sum != 0.0:
                        dx = 100.0 * (_fabs(minus_di - plus_di) / di_sum)
                if n < 2 * p - 1:
                    if dx == dx:
                        sum_dx += dx
                elif n == 2 * p - 1:
                    if dx == dx:
                        sum_dx += dx
                    adx = sum_dx / p
                    out = adx
                else:
                    if dx == dx:
                        adx = (adx * (p - 1) + dx) / p
                    out = adx
        if commit:
            self._n = n + 1
            self._prev_high, self._prev_low, self._prev_close = high, low, close
            self._plus_dm, self._minus_dm, self._tr = plus_dm, minus_dm, tr_s
            self._sum_dx, self._adx = sum_dx, adx
        return out


class Stochastic(_Indicator):
    """Slow stochastic (TA-Lib STOCH with SMA slowing): (slowk, slowd).

    fastK = 100 * (close - lowest low) / (highest high - lowest low) over
    ``fastk`` bars (0 when the range is ~0 relative to the prices); slowk = SMA(slowk) of fastK,
    slowd = SMA(slowd) of slowk; both start at bar fastk+slowk+slowd-3.
    """

    _INPUTS = ("high", "low", "close")
    _N_OUT = 2

    def __init__(self, fastk: int = 5, slowk: int = 3, slowd: int = 3):
        self._fastk = _check_int("Stochastic", "fastk", fastk, 1)
        self._slowk = _check_int("Stochastic", "slowk", slowk, 1)
        self._slowd = _check_int("Stochastic", "slowd", slowd, 1)
        self._init_common(None)

    fastk = property(lambda self: self._fastk)
    slowk = property(lambda self: self._slowk)
    slowd = property(lambda self: self._slowd)

    def _params(self):
        return f"{self._fastk}, {self._slowk}, {self._slowd}"

    def _reset_state(self):
        if self._fastk == 1:
            self._highest = self._lowest = None  # the bar's own high and low
        else:
            self._highest = RollingMax(self._fastk)
            self._lowest = RollingMin(self._fastk)
        self._k = SMA(self._slowk)
        self._d = SMA(self._slowd)

    def _step(self, high, low, close, commit):
        if self._highest is None:
            highest, lowest = high, low
        else:
            highest = self._highest._step(high, commit)
            lowest = self._lowest._step(low, commit)
            if highest != highest:
                return (_NAN, _NAN)
        span = highest - lowest
        # TA-Lib's scale-aware zero test on the range; a flat window gives 0
        if _fabs(span) <= _EPS * (_fabs(highest) + _fabs(lowest)):
            fast_k = 0.0
        else:
            fast_k = ((close - lowest) / span) * 100.0
        slow_k = self._k._step(fast_k, commit)
        if slow_k != slow_k:
            return (_NAN, _NAN)
        slow_d = self._d._step(slow_k, commit)
        if slow_d != slow_d:
            return (_NAN, _NAN)
        return (slow_k, slow_d)


# --------------------------------------------------------------------------
# volume
# --------------------------------------------------------------------------

class OBV(_Indicator):
    """On-balance volume (TA-Lib OBV): starts at the first volume, then +/- volume
    when the close rises / falls."""

    _INPUTS = ("close", "volume")

    def __init__(self):
        self._init_common(None)

    def _reset_state(self):
        self._n = 0
        self._prev_close = _NAN
        self._obv = _NAN

    def _step(self, close, volume, commit):
        if self._n == 0:
            obv = volume
        else:
            obv = self._obv
            if close > self._prev_close:
                obv += volume
            elif close < self._prev_close:
                obv -= volume
        if commit:
            self._n += 1
            self._prev_close = close
            self._obv = obv
        return obv


class VWAP(_Indicator):
    """Volume-weighted average price since construction or ``reset()`` (a session):
    sum(price * volume) / sum(volume), NaN while the volume sum is 0."""

    _INPUTS = ("price", "volume")

    def __init__(self):
        self._init_common(None)

    def _reset_state(self):
        self._pv = self._pvc = 0.0  # compensated sum of price*volume
        self._v = self._vc = 0.0    # compensated sum of volume

    def _step(self, price, volume, commit):
        pv, pvc = _nadd(self._pv, self._pvc, price * volume)
        v, vc = _nadd(self._v, self._vc, volume)
        total_v = v + vc
        out = (pv + pvc) / total_v if total_v != 0.0 else _NAN
        if commit:
            self._pv, self._pvc, self._v, self._vc = pv, pvc, v, vc
        return out
