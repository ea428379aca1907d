"""Pure-Python twin of ``_indicators.pyx``: the readable specification of the incremental indicators.

Semantics: docs/indicators.md.  This module mirrors the compiled one piece by
piece, so that both compute the same bits and pickle the same state:

- **Structs** (``_ind_kernels.pxd``'s ``cdef struct``): each indicator's state
  is a small slotted dataclass with exactly the C struct's fields, parameters
  included (``SMASt``: ``n, pos, period, sum, dp``); nested structs are
  nested dataclasses (``DEMASt``: ``e1, e2``, each an ``Ema``).  i64 fields
  hold Python ints, double fields Python floats.
- **Kernels** (``_ind_kernels.pxd``'s functions, same names, same order of
  operations): ``<Name>_init(st, *params)`` and ``<Name>_step(st, ring, x,
  out)`` -- one bar: the inputs ``x`` in TA-Lib's order, the outputs written
  into the list ``out`` -- and the shared helpers (``ema_push``,
  ``ring_push``, ``var_push``, ``deque_push``, ``sma_plain``,
  ``true_range``...).  Python floats are IEEE doubles and every expression
  is written in the C's order (the compiled code has floating-point
  contraction off), so each output is bit-identical to the compiled
  ``update``.  The whole-array ``<Name>_run`` loops of the compiled module
  are defined to equal stepping; the twin steps.
- **The ring**: a list of floats of the compiled ring's length
  (``<Name>_NRING``): the lag windows, and the deques' values and bar
  indices (as floats).  A C pointer into the ring (``ring + 2 * n``) is an
  offset here (``base``); ``&s.pos`` is the struct itself (``ring_push``
  advances ``s.pos``).
- **Classes** (``_indicators_classes.pxi.in``, one row per class): the
  constructor's checks, ``_init``/``_step`` calling the kernels, and
  ``update``/``peek``/``update_raw`` with the inputs as parameters; the
  base class ``_Indicator`` holds the rest, as the compiled base does
  (``batch``, composition with ``source=``, ``value``/``ready``/``count``,
  ``reset``, ``copy``, pickling, the error messages).
- **Pickling**: ``__getstate__`` is ``(STATE_VERSION, count, (out0, out1,
  out2), struct as a dict, ring as a list, source)`` in both implementations,
  and ``__reduce__`` goes through ``_indicator_state.rebuild``: a state taken
  from one implementation loads into the other and continues identically.

Division by zero is the one place where Python floats are not C doubles (it
raises); every division the kernels guard is written with its guard first,
and the one that can meet a zero divisor (Stochastic's, on subnormal ranges)
goes through ``_div``.  Python's ``sum`` is never used on floats (3.12 made
it compensated): sums are explicit loops, in the C's order.
"""
from __future__ import annotations

import math
from dataclasses import MISSING as _NO_DEFAULT
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from admf_perf._ext._types import twin_locked
from admf_perf._validate import check_int, check_real

__all__ = [
    "ADX", "APO", "ATR", "Aroon", "BollingerBands", "CCI", "ChaikinOscillator", "CMO", "DEMA", "EMA", "KAMA",
    "MACD", "MFI", "Momentum", "NATR", "OBV", "PPO", "ROC", "RSI", "RollingMax", "RollingMin", "SMA",
    "ParabolicSAR", "StdDev", "StochRSI", "Stochastic", "T3", "TEMA", "TRIMA", "TrueRange", "UltimateOscillator",
    "VWAP", "WMA", "WilliamsR",
]

#: Version of the pickled state (a tuple of plain numbers, shared with the compiled module).
STATE_VERSION = 4

#: The runs ``batch`` uses: the compiled module has its own and an AVX2 build
#: of them (the same bits); the twin steps.
RUNS = "baseline"


def _use_simd(enable=True):
    """The compiled module's switch between its runs; the twin has one."""
    return RUNS


def _fail_scratch(k):
    """The compiled module's test hook (its runs' scratch allocations made to
    fail); the twin allocates no scratch: nothing pending, ever."""
    return 0


NAN = math.nan
_isfinite = math.isfinite


def _fma_exact(a, b, c):
    """``a * b + c`` rounded once, as C99's ``fma``: the exact value from the
    floats' integer ratios (their denominators are powers of two), then one
    correctly rounded division."""
    if not (_isfinite(a) and _isfinite(b) and _isfinite(c)):
        if _isfinite(a) and _isfinite(b):
            return c                    # a finite product plus an infinity or a NaN
        return a * b + c                # the product is not finite: as unfused
    an, ad = a.as_integer_ratio()
    bn, bd = b.as_integer_ratio()
    cn, cd = c.as_integer_ratio()
    pd = ad * bd
    d = pd if pd > cd else cd
    num = an * bn * (d // pd) + cn * (d // cd)
    if num == 0:                        # an exact zero: +0, unless both terms are zeros
        return a * b + c if (a == 0.0 or b == 0.0) else 0.0
    try:
        return num / d
    except OverflowError:
        return math.inf if num > 0 else -math.inf


#: C99's ``fma`` (the kernels' fused multiply-adds): ``math.fma`` from Python 3.13.
fma = getattr(math, "fma", _fma_exact)

# ---- constants (include/admf_ind.h) ------------------------------------------

#: TA-Lib's TA_EPSILON: its scale-aware zero tests are |v| <= TA_EPS * scale.
TA_EPS = 1e-14
#: KAMA's smoothing bounds: 2 / (30 + 1), and 2 / (2 + 1) less that
KAMA_MAX = 2.0 / (30.0 + 1.0)
KAMA_DIFF = 2.0 / (2.0 + 1.0) - 2.0 / (30.0 + 1.0)
#: StdDev/BollingerBands: re-centre when m2 is within 2**-33 of the rounding
#: the running sums may hold (~8 ulps of e) ...
VAR_TRIG = 8.0 * 2.0 ** -53 * 2.0 ** 33
#: ... and e just after a re-centring (below 0: an exactly flat window is not re-centred again)
VAR_E0 = -1e-300
#: bars between the exact re-sums of a rolling sum
RESUM = 256


# =============================================================================
# Shared helpers (_ind_kernels.pxd)
# =============================================================================

def poison(x):
    """0.0 for a finite x, NaN otherwise: added to a sum, it keeps a
    non-finite value seen in the window from being re-summed away."""
    return x - x


def _div(a, b):
    """``a / b`` as C computes it: +-inf or NaN for a zero ``b`` (Python raises)."""
    if b != 0.0:
        return a / b
    if a != a or a == 0.0:
        return NAN
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


# ---- the lag ring: the last L inputs, ``s.pos`` the oldest (the next to leave)

def ring_push(ring, s, L, x):
    """Store x at ``s.pos``, advance ``s.pos`` (C: ``&s.pos``); return the
    value it replaces (L inputs back)."""
    old = ring[s.pos]
    ring[s.pos] = x
    s.pos += 1
    if s.pos == L:
        s.pos = 0
    return old


def arr_sum(a, base, L):
    """a[base:base + L] summed in order (C: ``arr_sum(a + base, L)``)."""
    s = 0.0
    for j in range(base, base + L):
        s += a[j]
    return s


def ring_sum(ring, pos, L):
    """The ring's values summed oldest first (the order an array's are)."""
    s = 0.0
    for j in range(pos, L):
        s += ring[j]
    for j in range(pos):
        s += ring[j]
    return s


def _window(ring, base, pos, L):
    """The window ``ring[base:base + L]`` oldest first: slots pos..L-1, then
    0..pos-1 (the C passes the two pieces, ``ring + pos`` and ``ring``)."""
    return ring[base + pos:base + L] + ring[base:base + pos]


# =============================================================================
# EMA (TA-Lib EMA: the SMA of the first n values, then prev * (1 - k) + x * k,
# k = 2 / (n + 1))
# =============================================================================

@dataclass(slots=True)
class Ema:
    n: int = 0          # values seen
    period: int = 0
    k: float = 0.0      # k and 1 - k
    k1: float = 0.0
    sum: float = 0.0    # seeding sum
    v: float = 0.0      # the EMA


def ema_init(e, period):
    e.n = 0
    e.period = period
    e.k = 2.0 / (period + 1.0)
    e.k1 = 1.0 - e.k
    e.sum = 0.0
    e.v = NAN


def ema_push(e, x):
    e.n += 1
    if e.n < e.period:
        e.sum += x
        return NAN
    if e.n == e.period:
        e.sum += x
        e.v = e.sum / float(e.period)
        return e.v
    e.v = fma(e.v, e.k1, x * e.k)
    return e.v


EMASt = Ema


def EMA_init(s, period):
    ema_init(s, period)


def EMA_step(s, ring, x, out):
    out[0] = ema_push(s, x[0])


# =============================================================================
# SMA (TA-Lib's mean of the last n; a running sum of the last n values,
# sum += x - x[t-n]: one addition on its chain; period 1 is the identity),
# lag ring of n, re-summed exactly every RESUM bars
# =============================================================================

@dataclass(slots=True)
class SMASt:
    n: int = 0
    pos: int = 0
    period: int = 0
    sum: float = 0.0    # the last min(n, period) values
    dp: float = 0.0     # the period, as a double


def SMA_NRING(period):
    return period


def SMA_init(s, period):
    s.n = s.pos = 0
    s.period = period
    s.sum = 0.0
    s.dp = float(period)


def SMA_step(s, ring, x, out):
    p = s.period
    s.n += 1
    if p == 1:
        out[0] = x[0]
        return
    # the ring holds 0.0 until it is full: x - 0.0 is x
    s.sum += x[0] - ring_push(ring, s, p, x[0])
    if s.n < p:
        out[0] = NAN
        return
    out[0] = s.sum / s.dp
    if s.n % RESUM == 0:                # every RESUM bars (by the count: no counter of its own)
        s.sum = ring_sum(ring, s.pos, p) + poison(s.sum)


# =============================================================================
# WMA (TA-Lib's weights n .. 1; sub += x - x[t-n]; out = (sum + n * x) /
# (n(n+1)/2); sum += n * x - sub: one addition on each chain), lag ring of n;
# period 1 is the identity, as in TA-Lib
# =============================================================================

@dataclass(slots=True)
class WMASt:
    n: int = 0
    pos: int = 0
    since: int = 0
    period: int = 0
    sub: float = 0.0    # the last n values
    sum: float = 0.0    # the last n values weighted 0 (oldest) .. n-1
    div: float = 0.0
    dp: float = 0.0


def WMA_NRING(period):
    return period


def WMA_init(s, period):
    s.n = s.pos = s.since = 0
    s.period = period
    s.sub = s.sum = 0.0
    s.div = float((period * (period + 1)) // 2)
    s.dp = float(period)


def wma_resum(s, window):
    """sub and sum recomputed from the window (oldest first)."""
    sub = sm = 0.0
    for j, v in enumerate(window):
        sub += v
        sm += v * float(j)
    s.sub = sub + poison(s.sub)
    s.sum = sm + poison(s.sum)


def wma_core(s, xx, old):
    w = xx * s.dp
    s.sub += xx - old                   # each sum: one addition on its chain
    out = (s.sum + w) / s.div
    s.sum += w - s.sub
    return out


def WMA_step(s, ring, x, out):
    xx = x[0]
    s.n += 1
    if s.period == 1:
        out[0] = xx
        return
    old = ring_push(ring, s, s.period, xx)          # 0.0 until the ring is full
    if s.n < s.period:
        s.sub += xx
        s.sum += xx * float(s.n)
        out[0] = NAN
        return
    out[0] = wma_core(s, xx, old)
    s.since += 1
    if s.since == RESUM:
        s.since = 0
        wma_resum(s, _window(ring, 0, s.pos, s.period))


# =============================================================================
# DEMA (2 * e1 - e2) and TEMA (e3 + (3 * e1 - 3 * e2)): EMAs of EMAs, every
# level seeded by the SMA of its first n values (TA-Lib)
# =============================================================================

@dataclass(slots=True)
class DEMASt:
    e1: Ema = field(default_factory=Ema)
    e2: Ema = field(default_factory=Ema)


def DEMA_init(s, period):
    ema_init(s.e1, period)
    ema_init(s.e2, period)


def DEMA_step(s, ring, x, out):
    e1 = ema_push(s.e1, x[0])
    out[0] = NAN
    if e1 != e1:
        return
    e2 = ema_push(s.e2, e1)
    if e2 == e2:
        out[0] = 2.0 * e1 - e2


@dataclass(slots=True)
class TEMASt:
    e1: Ema = field(default_factory=Ema)
    e2: Ema = field(default_factory=Ema)
    e3: Ema = field(default_factory=Ema)


def TEMA_init(s, period):
    ema_init(s.e1, period)
    ema_init(s.e2, period)
    ema_init(s.e3, period)


def TEMA_step(s, ring, x, out):
    e1 = ema_push(s.e1, x[0])
    out[0] = NAN
    if e1 != e1:
        return
    e2 = ema_push(s.e2, e1)
    if e2 != e2:
        return
    e3 = ema_push(s.e3, e2)
    if e3 == e3:
        out[0] = e3 + ((3.0 * e1) - (3.0 * e2))


# =============================================================================
# MACD (TA-Lib: both EMAs start at bar slow-1, the fast one seeded with the
# SMA of the fast values ending there; the signal is an EMA of the MACD;
# every output from bar slow+signal-2; fast and slow swapped when fast > slow)
# =============================================================================

@dataclass(slots=True)
class MACDSt:
    n: int = 0          # bars seen
    lag: int = 0        # slow - fast
    fast: Ema = field(default_factory=Ema)
    slow: Ema = field(default_factory=Ema)
    sig: Ema = field(default_factory=Ema)


def MACD_init(s, fast, slow, signal):
    if slow < fast:
        fast, slow = slow, fast
    s.n = 0
    s.lag = slow - fast
    ema_init(s.fast, fast)
    ema_init(s.slow, slow)
    ema_init(s.sig, signal)


def MACD_step(s, ring, x, out):
    s.n += 1
    out[0] = out[1] = out[2] = NAN
    sl = ema_push(s.slow, x[0])
    if s.n <= s.lag:
        return
    f = ema_push(s.fast, x[0])
    if sl != sl:
        return
    m = f - sl
    g = ema_push(s.sig, m)
    if g != g:
        return
    out[0] = m
    out[1] = g
    out[2] = m - g


# =============================================================================
# KAMA (TA-Lib ta_KAMA.c: efficiency ratio over n bars, fast 2, slow 30,
# seeded with x[n-1], first output at bar n; period 1 is the identity),
# lag ring of n; the sum of absolute changes is re-summed every RESUM bars
# =============================================================================

@dataclass(slots=True)
class KAMASt:
    n: int = 0
    pos: int = 0
    since: int = 0
    period: int = 0
    last: float = 0.0       # the previous value
    trailing: float = 0.0   # x[t-n-1] once t > n: its change leaves the sum next
    sumroc: float = 0.0
    kama: float = 0.0


def KAMA_NRING(period):
    return period


def KAMA_init(s, period):
    s.n = s.pos = s.since = 0
    s.period = period
    s.last = s.trailing = s.sumroc = 0.0
    s.kama = NAN


def kama_er(x, old, sumroc):
    """The smoothing constant: the efficiency ratio mapped between slow and
    fast, squared (admf_kama_er in admf_ind.h)."""
    roc = x - old
    if sumroc <= roc or abs(sumroc) <= TA_EPS * (abs(x) + abs(old)):
        er = 1.0
    else:
        er = abs(roc / sumroc)          # sumroc != 0 here
    er = er * KAMA_DIFF + KAMA_MAX
    return er * er


def kama_core(s, x, old):
    """A bar past the seed: x enters, old = x[t-n]; trailing = x[t-n-1]."""
    s.sumroc += abs(x - s.last) - abs(s.trailing - old)     # one addition on the sum's chain
    s.trailing = old
    s.kama = fma(x - s.kama, kama_er(x, old, s.sumroc), s.kama)
    s.last = x
    return s.kama


def kama_resum(trailing, window, old_sum):
    """The sum of |changes| over the window (oldest first, preceded by
    trailing), as a fresh sum."""
    s = 0.0
    prev = trailing
    for v in window:
        s += abs(v - prev)
        prev = v
    return s + poison(old_sum)


def KAMA_step(s, ring, x, out):
    xx = x[0]
    t = s.n
    p = s.period
    s.n += 1
    if p == 1:
        out[0] = xx
        return
    old = ring_push(ring, s, p, xx)                 # x[t-n] once t >= n
    out[0] = NAN
    if t == 0:
        s.last = xx
        return
    if t < p:
        s.sumroc += abs(s.last - xx)
        s.last = xx
        return
    if t == p:                                      # the seed, then the first KAMA
        s.sumroc += abs(s.last - xx)
        s.kama = s.last
        s.trailing = old
        s.kama = fma(xx - s.kama, kama_er(xx, old, s.sumroc), s.kama)
        s.last = xx
        out[0] = s.kama
        return
    out[0] = kama_core(s, xx, old)
    s.since += 1
    if s.since == RESUM:
        s.since = 0
        s.sumroc = kama_resum(s.trailing, _window(ring, 0, s.pos, p), s.sumroc)


# =============================================================================
# RSI (TA-Lib: the means of the first n gains and losses, then Wilder's
# (avg * (n-1) + v) / n, written avg * a1 + v * inv; 100 * gain / (gain + loss),
# 0 when that sum is 0; first output at bar n)
# =============================================================================

@dataclass(slots=True)
class RSISt:
    n: int = 0
    period: int = 0
    prev: float = 0.0
    gain: float = 0.0
    loss: float = 0.0
    a1: float = 0.0
    inv: float = 0.0
    dp: float = 0.0


def RSI_init(s, period):
    s.n = 0
    s.period = period
    s.prev = s.gain = s.loss = 0.0
    s.dp = float(period)
    s.a1 = (period - 1.0) / period
    s.inv = 1.0 / period


def RSI_step(s, ring, x, out):
    s.n += 1
    out[0] = NAN
    if s.n == 1:
        s.prev = x[0]
        return
    d = x[0] - s.prev
    s.prev = x[0]
    up = 0.0 if d <= 0.0 else d         # (a NaN difference is kept: it poisons the sums)
    dn = up - d                         # 0.0 if d >= 0.0 else -d; NaN, not 0.0, when d is +inf
    if s.n <= s.period:
        s.gain += up
        s.loss += dn
        return
    if s.n == s.period + 1:
        s.gain += up
        s.loss += dn
        s.loss /= s.dp
        s.gain /= s.dp
    else:
        s.loss = fma(s.loss, s.a1, dn * s.inv)
        s.gain = fma(s.gain, s.a1, up * s.inv)
    t = s.gain + s.loss
    out[0] = 100.0 * (s.gain / t) if t != 0.0 else 0.0


# =============================================================================
# StdDev and BollingerBands: sums of d = x - r and d*d around a reference r (a
# value of the data), so a high level does not cancel the variance; r is
# re-centred on the newest value, the window re-summed exactly, when the sum
# of squared deviations nears the rounding the running sums may hold
# (amortized O(1); exact zeros on a flat window).  Population deviation.
# =============================================================================

@dataclass(slots=True)
class VarSt:
    k: int = 0          # values in the window (at most period)
    pos: int = 0        # ring slot of the oldest
    period: int = 0
    r: float = 0.0      # the reference
    s1: float = 0.0     # window sums of d and d*d
    s2: float = 0.0
    e: float = 0.0      # error scale: the sum of s2 over the bars since the last re-centring
    zn: float = 0.0     # n * (1e-14 * r)^2: m2 at or below it is rounding noise (TA-Lib)
    inv: float = 0.0
    nb: float = 0.0
    up: float = 0.0
    down: float = 0.0


def var_init(s, period):
    s.k = s.pos = 0
    s.period = period
    s.r = s.s1 = s.s2 = s.e = s.zn = 0.0
    s.inv = 1.0 / period
    s.nb = s.up = s.down = 1.0


def var_resum(s, window, r):
    s1 = s2 = 0.0
    for v in window:
        d = v - r
        s1 += d
        s2 += d * d
    s.r = r
    s.zn = float(len(window)) * ((TA_EPS * r) * (TA_EPS * r))
    s.s1 = s1
    s.s2 = s2
    s.e = VAR_E0


def var_roll(s, x, xo):
    """x enters the full window, xo leaves it."""
    d = x - s.r
    do_ = xo - s.r
    s.s1 += d - do_
    s.s2 += d * d - do_ * do_
    s.e += s.s2


def var_push(s, ring, x):
    """x enters the window (the ring of period values); True once it is full."""
    n = s.period
    xo = ring_push(ring, s, n, x)
    if s.k == n:
        var_roll(s, x, xo)
        return True
    if s.k == 0:
        s.r = x
        s.zn = float(n) * ((TA_EPS * x) * (TA_EPS * x))
    d = x - s.r
    s.s1 += d
    s.s2 += d * d
    s.e += s.s2
    s.k += 1
    return s.k == n


def var_m2(s, ring):
    """The window's sum of squared deviations from its mean, re-centring
    first (on the newest value) when it nears the rounding."""
    m2 = s.s2 - s.s1 * (s.s1 * s.inv)
    if m2 <= s.e * VAR_TRIG:
        window = _window(ring, 0, s.pos, s.period)
        var_resum(s, window, window[-1])
        m2 = s.s2 - s.s1 * (s.s1 * s.inv)
    return m2


def var_v(s, m2):
    """Population variance; below (1e-14 * level)^2 it is rounding noise: 0."""
    return 0.0 if m2 <= s.zn else m2 * s.inv


StdDevSt = VarSt
BollingerBandsSt = VarSt


def StdDev_NRING(period):
    return period


def StdDev_init(s, period, nbdev):
    var_init(s, period)
    s.nb = nbdev


def StdDev_step(s, ring, x, out):
    out[0] = NAN
    if var_push(s, ring, x[0]):
        m2 = var_m2(s, ring)
        out[0] = math.sqrt(var_v(s, m2)) * s.nb     # var_v >= 0 (or NaN)


def BollingerBands_NRING(period):
    return period


def BollingerBands_init(s, period, up, down):
    var_init(s, period)
    s.up = up
    s.down = down


def BollingerBands_step(s, ring, x, out):
    out[0] = out[1] = out[2] = NAN
    if var_push(s, ring, x[0]):
        m2 = var_m2(s, ring)
        mid = s.r + s.s1 * s.inv
        sd = math.sqrt(var_v(s, m2))
        out[0] = mid + sd * s.up
        out[1] = mid
        out[2] = mid - sd * s.down


# =============================================================================
# RollingMax / RollingMin (TA-Lib MAX / MIN): a monotonic deque in the ring
# (slot j of the deque at ``base``: its value in ring[base + 2j], its bar
# index in ring[base + 2j + 1]; every class with deques keeps them first in
# its ring, in its state's order: _indicator_state's upgrades of older
# pickles rely on it).  A window of at most SHORT_WINDOW values is no deque
# but the window itself (ext_push): each value twice, in ring[base + head]
# and ring[base + head + n], the window then in a row; head the slot of the
# next value (k mod n), size 0: Stochastic's and StochRSI's (the others
# keep the deque for every window).
# =============================================================================

SHORT_WINDOW = 8        # the longest window ext_push keeps as itself

@dataclass(slots=True)
class DequeSt:
    k: int = 0          # index of the next value
    head: int = 0       # ring slot of the front
    size: int = 0       # length
    period: int = 0


def deque_init(s, period):
    s.k = s.head = s.size = 0
    s.period = period


def deque_push(s, ring, base, x, is_max):
    """The extreme of the last ``period`` values with x added (the deque at
    ``ring + base``)."""
    n = s.period
    while s.size > 0:                   # drop the back while it cannot be the extreme again
        back = s.head + s.size - 1
        if back >= n:
            back -= n
        if (ring[base + 2 * back] <= x) if is_max else (ring[base + 2 * back] >= x):
            s.size -= 1
        else:
            break
    if s.size > 0 and deque_front_index(s, ring, base) <= float(s.k - n):   # the front left the window
        s.head += 1
        if s.head == n:
            s.head = 0
        s.size -= 1
    back = s.head + s.size
    if back >= n:
        back -= n
    ring[base + 2 * back] = x
    ring[base + 2 * back + 1] = float(s.k)      # the bar index, as a float
    s.size += 1
    s.k += 1
    return ring[base + 2 * s.head] if s.k >= n else NAN


def ext_push(s, ring, base, x, is_max):
    """deque_push, or for a window of at most SHORT_WINDOW values the window
    itself: its values oldest first, the running extreme replaced by each
    one it is not above (below, for the minimum): the newest of equal values."""
    n = s.period
    if n > SHORT_WINDOW:
        return deque_push(s, ring, base, x, is_max)
    j = s.head
    ring[base + j] = ring[base + j + n] = x
    s.head = j + 1 if j + 1 < n else 0
    s.k += 1
    if s.k < n:
        return NAN
    r = -math.inf if is_max else math.inf
    for v in ring[base + j + 1:base + j + n + 1]:
        r = r if (r > v if is_max else r < v) else v
    return r


def deque_front_index(s, ring, base):
    """The bar index of the deque's extreme, as a float."""
    return ring[base + 2 * s.head + 1]


RollingMaxSt = DequeSt
RollingMinSt = DequeSt


def RollingMax_NRING(period):
    return 2 * period


def RollingMax_init(s, period):
    deque_init(s, period)


def RollingMax_step(s, ring, x, out):
    out[0] = deque_push(s, ring, 0, x[0], True)


def RollingMin_NRING(period):
    return 2 * period


def RollingMin_init(s, period):
    deque_init(s, period)


def RollingMin_step(s, ring, x, out):
    out[0] = deque_push(s, ring, 0, x[0], False)


# =============================================================================
# ROC ((x / x[t-n] - 1) * 100, 0 when x[t-n] is 0) and Momentum (x - x[t-n]):
# lag ring of n
# =============================================================================

@dataclass(slots=True)
class LagSt:
    n: int = 0
    pos: int = 0
    period: int = 0


ROCSt = LagSt
MomentumSt = LagSt


def lag_init(s, period):
    s.n = s.pos = 0
    s.period = period


def roc_of(x, old):
    # the C computes the ratio, then picks 0 for old == 0: the same result
    return ((x / old) - 1.0) * 100.0 if old != 0.0 else 0.0


def ROC_NRING(period):
    return period


def ROC_init(s, period):
    lag_init(s, period)


def ROC_step(s, ring, x, out):
    old = ring_push(ring, s, s.period, x[0])
    s.n += 1
    out[0] = roc_of(x[0], old) if s.n > s.period else NAN


def Momentum_NRING(period):
    return period


def Momentum_init(s, period):
    lag_init(s, period)


def Momentum_step(s, ring, x, out):
    old = ring_push(ring, s, s.period, x[0])
    s.n += 1
    out[0] = x[0] - old if s.n > s.period else NAN


# =============================================================================
# ATR (TA-Lib: true range from bar 1, the mean of the first n seeds the ATR at
# bar n, then Wilder's (atr * (n-1) + tr) / n, written atr * a1 + tr * inv;
# period 1: the true range)
# =============================================================================

def true_range(h, l, pc):
    """TA-Lib's TRANGE: the largest of h - l, |h - pc|, |l - pc|, in its
    order; the selects keep a NaN of h - l, so a non-finite high or low
    makes the true range non-finite (a NaN previous close does not)."""
    r = h - l
    t = abs(h - pc)
    r = t if t > r else r
    t = abs(l - pc)
    return t if t > r else r


@dataclass(slots=True)
class ATRSt:
    n: int = 0
    period: int = 0
    pc: float = 0.0
    sum: float = 0.0
    atr: float = 0.0
    a1: float = 0.0
    inv: float = 0.0
    dp: float = 0.0


def ATR_init(s, period):
    s.n = 0
    s.period = period
    s.pc = s.sum = 0.0
    s.atr = NAN
    s.dp = float(period)
    s.a1 = (period - 1.0) / period
    s.inv = 1.0 / period


def ATR_step(s, ring, x, out):
    s.n += 1
    out[0] = NAN
    if s.n == 1:
        s.pc = x[2]
        return
    tr = true_range(x[0], x[1], s.pc)
    s.pc = x[2]
    if s.period == 1:
        s.atr = tr
    elif s.n <= s.period:
        s.sum += tr
        return
    elif s.n == s.period + 1:
        s.sum += tr
        s.atr = s.sum / s.dp
    else:
        s.atr = fma(s.atr, s.a1, tr * s.inv)
    out[0] = s.atr


# =============================================================================
# ADX (TA-Lib ta_ADX.c: +DM/-DM and TR summed over bars 1..n-1, then Wilder's
# s - s/n + today, written fma(s, a1, today); DX = 100 |+DI - -DI| / (+DI +
# -DI); the first ADX (bar 2n-1) is the mean of the first n DX, then
# (adx * (n-1) + dx) / n, written adx * a1 + dx * inv, kept when TR or
# +DI + -DI is 0)
# =============================================================================

@dataclass(slots=True)
class ADXSt:
    n: int = 0
    period: int = 0
    ph: float = 0.0
    pl: float = 0.0
    pc: float = 0.0
    pdm: float = 0.0
    mdm: float = 0.0
    tr: float = 0.0
    sumdx: float = 0.0
    adx: float = 0.0
    dp: float = 0.0
    a1: float = 0.0
    inv: float = 0.0


def ADX_init(s, period):
    s.n = 0
    s.period = period
    s.ph = s.pl = s.pc = s.pdm = s.mdm = s.tr = s.sumdx = 0.0
    s.adx = NAN
    s.dp = float(period)
    s.a1 = (period - 1.0) / period
    s.inv = 1.0 / period


def adx_dm(dp, dm):
    """(+DM, -DM) of a bar from its high's rise dp and its low's fall dm."""
    if dm > 0 and dp < dm:
        return 0.0, dm
    if dp > 0 and dp > dm:
        return dp, 0.0
    return 0.0, 0.0


def adx_dx(pdm, mdm, tr):
    """DX = 100 |+DI - -DI| / (+DI + -DI), NaN when TR or the sum is 0."""
    if tr == 0.0:
        return NAN
    r = 100.0 / tr
    mdi = mdm * r
    pdi = pdm * r
    sm = mdi + pdi
    return 100.0 * (abs(mdi - pdi) / sm) if sm != 0.0 else NAN


def ADX_step(s, ring, x, out):
    h, l, c = x[0], x[1], x[2]
    t = s.n
    s.n += 1
    out[0] = NAN
    if t == 0:
        s.ph, s.pl, s.pc = h, l, c
        return
    pd, md = adx_dm(h - s.ph, s.pl - l)
    s.ph, s.pl = h, l
    tr = true_range(h, l, s.pc)
    s.pc = c
    if t < s.period:
        s.pdm += pd
        s.mdm += md
        s.tr += tr
        return
    s.pdm = fma(s.pdm, s.a1, pd)        # Wilder's s - s/n + today
    s.mdm = fma(s.mdm, s.a1, md)
    s.tr = fma(s.tr, s.a1, tr)
    dx = adx_dx(s.pdm, s.mdm, s.tr)
    if t < 2 * s.period - 1:
        if dx == dx:
            s.sumdx += dx
        return
    if t == 2 * s.period - 1:
        if dx == dx:
            s.sumdx += dx
        s.adx = s.sumdx / s.dp
    elif dx == dx:
        s.adx = fma(s.adx, s.a1, dx * s.inv)
    out[0] = s.adx


# =============================================================================
# Stochastic (TA-Lib STOCH with SMA slowing: fastK = (close - lowest low) /
# ((highest high - lowest low) / 100) over fastk bars, 0 when the range is ~0
# relative to the prices; slowk = SMA of fastK, slowd = SMA of slowk, TA-Lib's
# plain running totals).  The ring: the two deques (4 * fastk), then the two
# SMA windows (slowk + slowd).
# =============================================================================

@dataclass(slots=True)
class SmaPlain:
    k: int = 0
    pos: int = 0
    period: int = 0
    total: float = 0.0


def sma_plain(s, ring, base, x):
    """TA-Lib's internal SMA (TA_INT_SMA): a plain running total (its window
    at ``ring + base``)."""
    ring[base + s.pos] = x
    s.pos += 1
    if s.pos == s.period:
        s.pos = 0
    s.k += 1
    s.total += x
    if s.k < s.period:
        return NAN
    t = s.total
    s.total -= ring[base + s.pos]       # the oldest of the window, next to be replaced
    return t / float(s.period)


@dataclass(slots=True)
class StochasticSt:
    hi: DequeSt = field(default_factory=DequeSt)
    lo: DequeSt = field(default_factory=DequeSt)
    sk: SmaPlain = field(default_factory=SmaPlain)
    sd: SmaPlain = field(default_factory=SmaPlain)


def Stochastic_NRING(fastk, slowk, slowd):
    return 4 * fastk + slowk + slowd


def Stochastic_init(s, fastk, slowk, slowd):
    deque_init(s.hi, fastk)
    deque_init(s.lo, fastk)
    s.sk.k = s.sk.pos = 0
    s.sk.period = slowk
    s.sk.total = 0.0
    s.sd.k = s.sd.pos = 0
    s.sd.period = slowd
    s.sd.total = 0.0


def Stochastic_step(s, ring, x, out):
    n = s.hi.period
    hh = ext_push(s.hi, ring, 0, x[0], True)
    ll = ext_push(s.lo, ring, 2 * n, x[1], False)
    out[0] = out[1] = NAN
    if hh != hh:
        return
    diff = (hh - ll) / 100.0
    if abs(hh - ll) <= TA_EPS * (abs(hh) + abs(ll)):    # TA-Lib's scale-aware zero test
        k = 0.0
    else:
        k = _div(x[2] - ll, diff)       # diff is 0 only for a subnormal range
    sk = sma_plain(s.sk, ring, 4 * n, k)
    if sk != sk:
        return
    sd = sma_plain(s.sd, ring, 4 * n + s.sk.period, sk)
    if sd != sd:
        return
    out[0] = sk
    out[1] = sd


# =============================================================================
# OBV (TA-Lib: starts at the first bar's volume, then +/- the volume when the
# close rises / falls) and VWAP (cumulative sum(price * volume) / sum(volume)
# since construction or reset(), NaN while the volume sum is 0)
# =============================================================================

@dataclass(slots=True)
class OBVSt:
    n: int = 0
    prev: float = 0.0
    obv: float = 0.0


def OBV_init(s):
    s.n = 0
    s.prev = s.obv = 0.0


def obv_delta(c, prev, v):
    """OBV's change (include/admf_ind.h): + the volume when the close rises,
    - when it falls, else 0."""
    return v if c > prev else (-v if c < prev else 0.0)


def OBV_step(s, ring, x, out):
    s.n += 1
    if s.n == 1:
        s.obv = x[1]
    else:
        s.obv += obv_delta(x[0], s.prev, x[1])
    s.prev = x[0]
    out[0] = s.obv


@dataclass(slots=True)
class VWAPSt:
    pv: float = 0.0
    v: float = 0.0


def VWAP_init(s):
    s.pv = s.v = 0.0


def VWAP_step(s, ring, x, out):
    s.pv += x[0] * x[1]
    s.v += x[1]
    out[0] = s.pv / s.v if s.v != 0.0 else NAN


# =============================================================================
# Structs as plain numbers (pickling, _state_dict), as Cython converts them
# =============================================================================

def _i64(v):
    """An i64 field from a Python object, as Cython converts it (``__int__``:
    a float is truncated; not a number: TypeError; out of range: OverflowError)."""
    if not isinstance(v, int):
        conv = getattr(type(v), "__int__", None)
        if conv is None:
            raise TypeError("an integer is required")
        v = conv(v)
    v = int(v)
    if not -(2 ** 63) <= v < 2 ** 63:
        raise OverflowError("Python int too large to convert to C long")
    return v


def _f64(v):
    """A double from a Python object, as Cython converts it (``__float__``,
    else ``__index__``; anything else, str included: TypeError)."""
    if type(v) is float:
        return v
    t = type(v)
    if not (hasattr(t, "__float__") or hasattr(t, "__index__")):
        raise TypeError(f"must be real number, not {t.__name__}")
    return float(v)


def _struct_from(cls, d):
    """A new ``cls`` struct from a mapping of its fields (Cython's dict -> struct:
    every field required, other keys ignored; nested structs from nested mappings)."""
    values = {}
    for f in fields(cls):
        try:
            v = d[f.name]
        except KeyError:
            raise ValueError(f"No value specified for struct attribute '{f.name}'") from None
        if f.default_factory is not _NO_DEFAULT:       # a nested struct
            values[f.name] = _struct_from(f.default_factory, v)
        elif type(f.default) is int:
            values[f.name] = _i64(v)
        else:
            values[f.name] = _f64(v)
    return cls(**values)


def _struct_copy(st):
    """A copy of a struct, nested structs copied too (C's struct assignment)."""
    values = {}
    for f in fields(st):
        v = getattr(st, f.name)
        values[f.name] = _struct_copy(v) if f.default_factory is not _NO_DEFAULT else v
    return type(st)(**values)


# =============================================================================
# Arguments
# =============================================================================

def _param_int(cls, name, value, minimum):
    """A period: an int in [minimum, 100000] (TA-Lib's range)."""
    return check_int(value, f"{cls}: {name}", minimum=minimum, maximum=100000)


def _param_real(cls, name, value, minimum=None):
    """A finite real (at least ``minimum`` when given)."""
    return check_real(value, f"{cls}: {name}", minimum=minimum)


class _Missing:
    """The default of every update/peek input: an argument not passed."""

    __slots__ = ()

    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()


def _given(values, more):
    """The inputs actually passed: the leading non-missing values, then more."""
    out = []
    for v in values:
        if v is _MISSING:
            break
        out.append(v)
    return tuple(out) + tuple(more)


def _rebuild(cls, args, state):
    """Unpickle into ``cls`` (the compiled module has the same function; pickles
    of both implementations load through ``_indicator_state.rebuild``)."""
    obj = cls(*args)
    obj.__setstate__(state)
    return obj


# =============================================================================
# The base class
# =============================================================================

class _Indicator:
    """What every indicator shares (see the module docstring).

    Each class sets ``_innames`` (its inputs), ``_nout`` (1, 2 or 3 outputs),
    ``_takes_source``, and writes ``__init__`` (the checked parameters, then
    ``_setup``), ``_init`` (``<Name>_init``) and ``_step`` (``<Name>_step``).
    """

    __slots__ = ("st", "_ring", "_nring", "_count", "_out", "_args", "_source")

    _innames: tuple[str, ...] = ()
    _nout = 1
    _takes_source = False
    #: a compiled batch runs without the GIL and meanwhile refuses every other
    #: call; the twin never releases it, so this stays False
    _busy = False

    def _setup(self, args, nring):
        """The checked parameters and the ring's length; the fresh state."""
        self._args = args
        self._nring = nring
        self._source = None
        self._init()

    def _clear(self):
        self._ring = [0.0] * self._nring
        self._count = 0
        self._out = [NAN, NAN, NAN]

    def _init(self):  # pragma: no cover - every class writes its own
        self._clear()

    def _step(self, x):  # pragma: no cover - every class writes its own
        pass

    @property
    def _nin(self):
        return len(self._innames)

    def _result(self):
        out = self._out
        if self._nout == 1:
            return out[0]
        if self._nout == 2:
            return (out[0], out[1])
        return (out[0], out[1], out[2])

    def _peek(self, x):
        """The output of a step on x; the state saved before and restored after."""
        saved = (_struct_copy(self.st), self._ring[:], self._count, self._out[:])
        self._step(x)
        r = self._result()
        self.st, self._ring, self._count, self._out = saved
        return r

    # -- update, peek, update_raw (the classes' methods call these) -------------

    def _floats(self, method, values):
        """The inputs passed, as floats (a TypeError for a non-number: Cython
        converts its ``double`` arguments on the call, before anything else)."""
        out = []
        for name, v in zip(self._innames, values, strict=True):
            if type(v) is not float and v is not _MISSING:
                try:
                    v = _f64(v)
                except TypeError as exc:
                    raise TypeError(f"{type(self).__name__}.{method}: input {name!r} {exc}") from None
            out.append(v)
        return out

    @twin_locked
    def _update(self, method, values, more):
        """``update`` (method "update") or ``peek`` (method "peek") of the inputs
        ``values`` (the declared ones, possibly missing) and ``more``."""
        values = self._floats(method, values)
        if self._takes_source and (self._source is not None or more):
            return self._update_src(_given(values, more), method == "peek")
        for v in values:
            if v is _MISSING or more or not _isfinite(v):
                self._refused(method, values, more)
        if method == "peek":
            return self._peek(values)
        self._step(values)
        self._count += 1
        return self._result()

    @twin_locked
    def _update_raw(self, values):
        values = self._floats("update_raw", values)
        for v in values:
            if not _isfinite(v):
                self._refused("update_raw", values, ())
        self._step(values)
        self._count += 1
        return self._out[0]

    def _refused(self, method, values, more):
        """Why update/peek cannot run: busy, the wrong number of inputs, a
        non-finite input."""
        self._check_idle(method)
        for v in values:
            if v is _MISSING or more:
                self._arity_error(method, len(_given(values, more)))
        for name, v in zip(self._innames, values, strict=True):
            if not _isfinite(v):
                raise ValueError(f"{type(self).__name__}.{method}: input {name!r} must be finite, got {v!r}")
        raise AssertionError("unreachable")   # pragma: no cover

    def _arity_error(self, method, got):
        names = self._input_names()
        raise TypeError(f"{type(self).__name__}.{method}() takes {len(names)} input"
                        f"{'s' if len(names) != 1 else ''} ({', '.join(names)}), got {got}")

    def _check_idle(self, method):
        if self._busy:  # pragma: no cover - never in the twin
            raise RuntimeError(f"{type(self).__name__}.{method}: a batch of this indicator is running "
                               "in another thread; use one indicator per thread")

    # -- public ------------------------------------------------------------------

    @property
    def value(self):
        """The last output (NaN, or a tuple of NaNs, before the first)."""
        return self._result()

    @property
    def ready(self):
        """True once the output is no longer NaN."""
        return self._out[0] == self._out[0]

    @property
    def count(self):
        """Bars consumed."""
        return self._count

    @property
    def source(self):
        """The indicator whose outputs feed this one, or None."""
        return self._source

    @twin_locked
    def reset(self):
        """Back to the freshly constructed state (the source too)."""
        self._check_idle("reset")
        self._init()
        if self._source is not None:
            self._source.reset()

    @twin_locked
    def copy(self):
        """An independent indicator with the same state (the source copied)."""
        self._check_idle("copy")
        other = type(self)(*self._args)
        other.st = _struct_copy(self.st)
        other._ring = self._ring[:]
        other._count = self._count
        other._out = self._out[:]
        if self._source is not None:
            other._source = self._source.copy()
        return other

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        self._check_idle("pickle")
        from admf_perf._ext._indicator_state import rebuild

        return (rebuild, (type(self).__name__, self._args, self.__getstate__()))

    @twin_locked
    def __getstate__(self):
        """``(STATE_VERSION, count, outputs, kernel state dict, ring list,
        source)``: plain numbers, the same in the compiled module."""
        out = self._out
        return (STATE_VERSION, self._count, (out[0], out[1], out[2]),
                self._state_dict(), list(self._ring), self._source)

    @twin_locked
    def __setstate__(self, state):
        version, count, out, st, ring, source = state
        if version != STATE_VERSION or len(ring) != self._nring:
            raise ValueError(f"{type(self).__name__}: incompatible pickled state (version {version})")
        from admf_perf._ext._indicator_state import check_state  # not at import: the twin stands alone

        # everything checked and converted first: a bad state changes nothing
        check_state(type(self)(*self._args), st, ring)
        new_st = _struct_from(type(self.st), st)
        new_ring = [_f64(v) for v in ring]
        new_count = _i64(count)
        o0, o1, o2 = out
        new_out = [_f64(o0), _f64(o1), _f64(o2)]
        if source is not None:
            self._init_source(source)
        self.st, self._ring, self._count, self._out = new_st, new_ring, new_count, new_out

    def _state_dict(self):
        """The kernel's state as a dict of numbers (pickling)."""
        return asdict(self.st)

    def _set_state_dict(self, state):
        self.st = _struct_from(type(self.st), state)

    def _input_names(self):
        """Names of update's inputs (the source's when composed)."""
        if self._source is not None:
            return self._source._input_names()
        return self._innames

    def __repr__(self):
        args = ", ".join(repr(a) for a in self._args)
        src = f", source={self._source!r}" if self._source is not None else ""
        return f"{type(self).__name__}({args}{src})"

    # -- composition ---------------------------------------------------------------

    def _init_source(self, source):
        if source is None:
            self._source = None
            return
        if not isinstance(source, _Indicator):
            raise TypeError(f"{type(self).__name__}: source must be an indicator of this "
                            f"module, got {type(source).__name__}")
        if source._nout != 1:
            raise TypeError(f"{type(self).__name__}: source must be a single-output indicator, "
                            f"{type(source).__name__} has {source._nout} outputs")
        if source is self:
            raise ValueError(f"{type(self).__name__}: an indicator cannot be its own source")
        self._source = source

    def _update_src(self, inputs, peek):
        method = "peek" if peek else "update"
        self._check_idle(method)
        if len(inputs) != len(self._input_names()):
            self._arity_error(method, len(inputs))
        if self._source is None:                 # no source, one input too many
            self._arity_error(method, len(inputs))
        v = self._source.peek(*inputs) if peek else self._source.update(*inputs)
        if peek:
            return self._result() if v != v else self._peek((v,))
        if v == v:                               # the source's warm-up NaNs are skipped
            self._step((v,))
        self._count += 1
        return self._result()

    # -- batch ---------------------------------------------------------------------

    def _arrays(self, arrays):
        """float64 C-contiguous 1-D arrays of equal length, or TypeError/ValueError."""
        if len(arrays) != self._nin:
            self._arity_error("batch", len(arrays))
        out = []
        for name, a in zip(self._innames, arrays, strict=True):
            try:
                arr = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{type(self).__name__}.batch: input {name!r} must be an array of "
                                f"real numbers ({exc})") from None
            if arr.ndim != 1:
                if arr.ndim == 0:
                    arr = arr.reshape(1)
                else:
                    raise ValueError(f"{type(self).__name__}.batch: input {name!r} must be 1-D, "
                                     f"got shape {arr.shape}")
            out.append(arr)
        n = len(out[0])
        for arr in out:
            if len(arr) != n:
                raise ValueError(f"{type(self).__name__}.batch: arrays of different lengths "
                                 f"({', '.join(str(len(x)) for x in out)})")
        return out

    def _bad_batch(self, arrs):
        for name, arr in zip(self._innames, arrs, strict=True):
            bad = np.flatnonzero(~np.isfinite(arr))
            if len(bad):
                i = int(bad[0])
                raise ValueError(f"{type(self).__name__}.batch: input {name!r} must be finite, "
                                 f"got {float(arr[i])!r} at index {i}")
        raise ValueError(f"{type(self).__name__}.batch: input is not finite")   # pragma: no cover

    def _batch_arrays(self, arrs, stepwise=False):
        """Step over checked arrays (every one finite first: a refused batch
        changes nothing); the outputs.  ``stepwise``: no check, as ``update``
        (a composed indicator's non-finite source values)."""
        n = len(arrs[0])
        nout = self._nout
        outs = [[NAN] * n for _ in range(nout)]
        if n:
            if not stepwise and not all(np.isfinite(arr).all() for arr in arrs):
                self._bad_batch(arrs)
            out = self._out                      # the kernels write into it in place
            step = self._step
            for i, row in enumerate(zip(*(arr.tolist() for arr in arrs), strict=True)):
                step(row)
                for k in range(nout):
                    outs[k][i] = out[k]
            self._count += n
        if nout == 1:
            return np.array(outs[0], dtype=np.float64)
        return tuple(np.array(outs, dtype=np.float64).reshape(nout, n))   # the rows of one block, as compiled

    @twin_locked
    def batch(self, *arrays):
        """``update`` on every row: an array (a tuple of arrays for several
        outputs), bit for bit, leaving the same state."""
        self._check_idle("batch")
        if self._source is not None:
            return self._batch_src(arrays)
        return self._batch_arrays(self._arrays(arrays))

    def _batch_src(self, arrays):
        """The source's batch, then this one's over the source's real values
        (its warm-up NaNs are skipped: the output repeats the current value).
        ``count`` counts every bar, as ``update`` does."""
        vals = self._source.batch(*arrays)
        keep = np.flatnonzero(~np.isnan(vals))
        before = self._result()
        sub = np.ascontiguousarray(vals[keep])
        # update feeds an infinite source value on; so does batch, bar by bar
        res = self._batch_arrays([sub], stepwise=not np.isfinite(sub).all())
        n = len(vals)
        self._count += n - len(keep)
        outs = res if self._nout > 1 else (res,)
        first = before if self._nout > 1 else (before,)
        # every position takes the output of the last real value at or before it
        pos = np.searchsorted(keep, np.arange(n), side="right") - 1
        full = []
        for k, r in enumerate(outs):
            f = np.empty(n, dtype=np.float64)
            f[:] = np.where(pos >= 0, r[np.maximum(pos, 0)] if len(r) else NAN, first[k])
            full.append(f)
        return full[0] if self._nout == 1 else tuple(full)


# =============================================================================
# update / peek / update_raw, by inputs (the template writes them per class,
# with the inputs as parameters; here one function per list of inputs)
# =============================================================================

X = ("x",)
HLC = ("high", "low", "close")
CV = ("close", "volume")
PV = ("price", "volume")


def _update_x(self, x=_MISSING, *more):
    """Consume one bar; return the output (NaN during the warm-up)."""
    return self._update("update", (x,), more)


def _peek_x(self, x=_MISSING, *more):
    """The output ``update`` would return; no state changes."""
    return self._update("peek", (x,), more)


def _update_raw_x(self, x):
    """``update`` as compiled callers (``cimport``) have it: finite inputs in,
    the first output back (the others in ``value``); no composition."""
    return self._update_raw((x,))


def _update_hlc(self, high=_MISSING, low=_MISSING, close=_MISSING, *more):
    """Consume one bar; return the output (NaN during the warm-up)."""
    return self._update("update", (high, low, close), more)


def _peek_hlc(self, high=_MISSING, low=_MISSING, close=_MISSING, *more):
    """The output ``update`` would return; no state changes."""
    return self._update("peek", (high, low, close), more)


def _update_raw_hlc(self, high, low, close):
    """``update`` as compiled callers (``cimport``) have it: finite inputs in,
    the first output back (the others in ``value``)."""
    return self._update_raw((high, low, close))


def _update_cv(self, close=_MISSING, volume=_MISSING, *more):
    """Consume one bar; return the output."""
    return self._update("update", (close, volume), more)


def _peek_cv(self, close=_MISSING, volume=_MISSING, *more):
    """The output ``update`` would return; no state changes."""
    return self._update("peek", (close, volume), more)


def _update_raw_cv(self, close, volume):
    """``update`` as compiled callers (``cimport``) have it: finite inputs in, the output back."""
    return self._update_raw((close, volume))


def _update_pv(self, price=_MISSING, volume=_MISSING, *more):
    """Consume one bar; return the output (NaN while the volume sum is 0)."""
    return self._update("update", (price, volume), more)


def _peek_pv(self, price=_MISSING, volume=_MISSING, *more):
    """The output ``update`` would return; no state changes."""
    return self._update("peek", (price, volume), more)


def _update_raw_pv(self, price, volume):
    """``update`` as compiled callers (``cimport``) have it: finite inputs in, the output back."""
    return self._update_raw((price, volume))


def _param(i, name):
    """The property of the i-th constructor argument."""
    return property(lambda self: self._args[i], doc=f"The constructor's ``{name}``.")


# =============================================================================
# The classes (_indicators_classes.pxi.in: one row each)
# =============================================================================

class SMA(_Indicator):
    """Simple moving average (TA-Lib SMA)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=30, *, source=None):
        p0 = _param_int("SMA", "period", period, 1)
        self._setup((p0,), SMA_NRING(p0))
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = SMASt()
        SMA_init(self.st, *self._args)

    def _step(self, x):
        SMA_step(self.st, self._ring, x, self._out)


class EMA(_Indicator):
    """Exponential moving average (TA-Lib EMA: SMA seed, k = 2 / (period + 1))."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=30, *, source=None):
        p0 = _param_int("EMA", "period", period, 1)
        self._setup((p0,), 0)
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = EMASt()
        EMA_init(self.st, *self._args)

    def _step(self, x):
        EMA_step(self.st, self._ring, x, self._out)


class WMA(_Indicator):
    """Linearly weighted moving average (TA-Lib WMA)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=30, *, source=None):
        p0 = _param_int("WMA", "period", period, 1)
        self._setup((p0,), WMA_NRING(p0))
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = WMASt()
        WMA_init(self.st, *self._args)

    def _step(self, x):
        WMA_step(self.st, self._ring, x, self._out)


class DEMA(_Indicator):
    """Double EMA, 2 * e1 - e2 (TA-Lib DEMA; every level seeded by an SMA)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=30, *, source=None):
        p0 = _param_int("DEMA", "period", period, 1)
        self._setup((p0,), 0)
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = DEMASt()
        DEMA_init(self.st, *self._args)

    def _step(self, x):
        DEMA_step(self.st, self._ring, x, self._out)


class TEMA(_Indicator):
    """Triple EMA, e3 + (3 * e1 - 3 * e2) (TA-Lib TEMA)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=30, *, source=None):
        p0 = _param_int("TEMA", "period", period, 1)
        self._setup((p0,), 0)
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = TEMASt()
        TEMA_init(self.st, *self._args)

    def _step(self, x):
        TEMA_step(self.st, self._ring, x, self._out)


class KAMA(_Indicator):
    """Kaufman adaptive moving average (TA-Lib KAMA, fast 2 / slow 30)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=30, *, source=None):
        p0 = _param_int("KAMA", "period", period, 1)
        self._setup((p0,), KAMA_NRING(p0))
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = KAMASt()
        KAMA_init(self.st, *self._args)

    def _step(self, x):
        KAMA_step(self.st, self._ring, x, self._out)


class RSI(_Indicator):
    """Relative strength index (TA-Lib RSI: mean seed, Wilder smoothing)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=14, *, source=None):
        p0 = _param_int("RSI", "period", period, 2)
        self._setup((p0,), 0)
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = RSISt()
        RSI_init(self.st, *self._args)

    def _step(self, x):
        RSI_step(self.st, self._ring, x, self._out)


class MACD(_Indicator):
    """MACD (TA-Lib MACD): ``(macd, signal, hist)``."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 3, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    fast, slow, signal = _param(0, "fast"), _param(1, "slow"), _param(2, "signal")

    def __init__(self, fast=12, slow=26, signal=9, *, source=None):
        p0 = _param_int("MACD", "fast", fast, 2)
        p1 = _param_int("MACD", "slow", slow, 2)
        p2 = _param_int("MACD", "signal", signal, 1)
        self._setup((p0, p1, p2), 0)
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = MACDSt()
        MACD_init(self.st, *self._args)

    def _step(self, x):
        MACD_step(self.st, self._ring, x, self._out)


class BollingerBands(_Indicator):
    """Bollinger bands (TA-Lib BBANDS, SMA middle, population deviation): ``(upper, middle, lower)``."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 3, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")
    nbdev_up, nbdev_down = _param(1, "nbdev_up"), _param(2, "nbdev_down")

    def __init__(self, period=20, nbdev_up=2.0, nbdev_down=2.0, *, source=None):
        p0 = _param_int("BollingerBands", "period", period, 2)
        p1 = _param_real("BollingerBands", "nbdev_up", nbdev_up)
        p2 = _param_real("BollingerBands", "nbdev_down", nbdev_down)
        self._setup((p0, p1, p2), BollingerBands_NRING(p0))
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = BollingerBandsSt()
        BollingerBands_init(self.st, *self._args)

    def _step(self, x):
        BollingerBands_step(self.st, self._ring, x, self._out)


class StdDev(_Indicator):
    """Rolling population standard deviation times nbdev (TA-Lib STDDEV)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period, nbdev = _param(0, "period"), _param(1, "nbdev")

    def __init__(self, period=5, nbdev=1.0, *, source=None):
        p0 = _param_int("StdDev", "period", period, 2)
        p1 = _param_real("StdDev", "nbdev", nbdev)
        self._setup((p0, p1), StdDev_NRING(p0))
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = StdDevSt()
        StdDev_init(self.st, *self._args)

    def _step(self, x):
        StdDev_step(self.st, self._ring, x, self._out)


class RollingMin(_Indicator):
    """Lowest value over the last ``period`` values (TA-Lib MIN)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=30, *, source=None):
        p0 = _param_int("RollingMin", "period", period, 2)
        self._setup((p0,), RollingMin_NRING(p0))
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = RollingMinSt()
        RollingMin_init(self.st, *self._args)

    def _step(self, x):
        RollingMin_step(self.st, self._ring, x, self._out)


class RollingMax(_Indicator):
    """Highest value over the last ``period`` values (TA-Lib MAX)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=30, *, source=None):
        p0 = _param_int("RollingMax", "period", period, 2)
        self._setup((p0,), RollingMax_NRING(p0))
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = RollingMaxSt()
        RollingMax_init(self.st, *self._args)

    def _step(self, x):
        RollingMax_step(self.st, self._ring, x, self._out)


class ROC(_Indicator):
    """Rate of change in percent, ``(x / x[-period] - 1) * 100`` (TA-Lib ROC; 0 when the old value is 0)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=10, *, source=None):
        p0 = _param_int("ROC", "period", period, 1)
        self._setup((p0,), ROC_NRING(p0))
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = ROCSt()
        ROC_init(self.st, *self._args)

    def _step(self, x):
        ROC_step(self.st, self._ring, x, self._out)


class Momentum(_Indicator):
    """``x - x[-period]`` (TA-Lib MOM)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=10, *, source=None):
        p0 = _param_int("Momentum", "period", period, 1)
        self._setup((p0,), Momentum_NRING(p0))
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = MomentumSt()
        Momentum_init(self.st, *self._args)

    def _step(self, x):
        Momentum_step(self.st, self._ring, x, self._out)


class ATR(_Indicator):
    """Average true range (TA-Lib ATR: TR from bar 1, mean seed, Wilder)."""

    __slots__ = ()
    _innames, _nout = HLC, 1
    update, peek, update_raw = _update_hlc, _peek_hlc, _update_raw_hlc
    period = _param(0, "period")

    def __init__(self, period=14):
        p0 = _param_int("ATR", "period", period, 1)
        self._setup((p0,), 0)

    def _init(self):
        self._clear()
        self.st = ATRSt()
        ATR_init(self.st, *self._args)

    def _step(self, x):
        ATR_step(self.st, self._ring, x, self._out)


class ADX(_Indicator):
    """Average directional index (TA-Lib ADX, Wilder smoothing)."""

    __slots__ = ()
    _innames, _nout = HLC, 1
    update, peek, update_raw = _update_hlc, _peek_hlc, _update_raw_hlc
    period = _param(0, "period")

    def __init__(self, period=14):
        p0 = _param_int("ADX", "period", period, 2)
        self._setup((p0,), 0)

    def _init(self):
        self._clear()
        self.st = ADXSt()
        ADX_init(self.st, *self._args)

    def _step(self, x):
        ADX_step(self.st, self._ring, x, self._out)


class Stochastic(_Indicator):
    """Slow stochastic (TA-Lib STOCH with SMA slowing): ``(slowk, slowd)``."""

    __slots__ = ()
    _innames, _nout = HLC, 2
    update, peek, update_raw = _update_hlc, _peek_hlc, _update_raw_hlc
    fastk, slowk, slowd = _param(0, "fastk"), _param(1, "slowk"), _param(2, "slowd")

    def __init__(self, fastk=5, slowk=3, slowd=3):
        p0 = _param_int("Stochastic", "fastk", fastk, 1)
        p1 = _param_int("Stochastic", "slowk", slowk, 1)
        p2 = _param_int("Stochastic", "slowd", slowd, 1)
        self._setup((p0, p1, p2), Stochastic_NRING(p0, p1, p2))

    def _init(self):
        self._clear()
        self.st = StochasticSt()
        Stochastic_init(self.st, *self._args)

    def _step(self, x):
        Stochastic_step(self.st, self._ring, x, self._out)


class OBV(_Indicator):
    """On-balance volume (TA-Lib OBV: starts at the first bar's volume)."""

    __slots__ = ()
    _innames, _nout = CV, 1
    update, peek, update_raw = _update_cv, _peek_cv, _update_raw_cv

    def __init__(self):
        self._setup((), 0)

    def _init(self):
        self._clear()
        self.st = OBVSt()
        OBV_init(self.st)

    def _step(self, x):
        OBV_step(self.st, self._ring, x, self._out)


class VWAP(_Indicator):
    """Cumulative volume-weighted average price since construction or ``reset()`` (NaN
    while the volume sum is 0)."""

    __slots__ = ()
    _innames, _nout = PV, 1
    update, peek, update_raw = _update_pv, _peek_pv, _update_raw_pv

    def __init__(self):
        self._setup((), 0)

    def _init(self):
        self._clear()
        self.st = VWAPSt()
        VWAP_init(self.st)

    def _step(self, x):
        VWAP_step(self.st, self._ring, x, self._out)


# =============================================================================
# The steps-only kernels (TrueRange, NATR, WilliamsR, CMO)
# =============================================================================

@dataclass(slots=True)
class TrueRangeSt:
    n: int = 0
    pc: float = 0.0


def TrueRange_init(s):
    s.n = 0
    s.pc = 0.0


def TrueRange_step(s, ring, x, out):
    s.n += 1
    out[0] = true_range(x[0], x[1], s.pc) if s.n > 1 else NAN
    s.pc = x[2]


NATRSt = ATRSt


def NATR_init(s, period):
    ATR_init(s, period)


def NATR_step(s, ring, x, out):
    ATR_step(s, ring, x, out)
    if s.period != 1 and not math.isnan(out[0]):
        out[0] = (out[0] / x[2]) * 100.0 if x[2] != 0.0 else 0.0


@dataclass(slots=True)
class WilliamsRSt:
    hi: DequeSt = field(default_factory=DequeSt)
    lo: DequeSt = field(default_factory=DequeSt)


def WilliamsR_NRING(period):
    return 4 * period


def WilliamsR_init(s, period):
    deque_init(s.hi, period)
    deque_init(s.lo, period)


def WilliamsR_step(s, ring, x, out):
    hh = deque_push(s.hi, ring, 0, x[0], True)
    ll = deque_push(s.lo, ring, 2 * s.hi.period, x[1], False)
    if s.hi.k < s.hi.period:
        out[0] = NAN
        return
    diff = hh - ll
    out[0] = -100.0 * ((hh - x[2]) / diff) if diff != 0.0 else 0.0


CMOSt = RSISt


def CMO_init(s, period):
    RSI_init(s, period)


def CMO_step(s, ring, x, out):
    RSI_step(s, ring, x, out)
    if not math.isnan(out[0]):
        t = s.gain + s.loss
        out[0] = 100.0 * ((s.gain - s.loss) / t) if t != 0.0 else 0.0


class _RingAt:
    """The ring from ``base`` on (C: ``ring + base``): what a kernel that
    takes a ring reads and writes, for a second kernel's part of one ring."""

    __slots__ = ("ring", "base")

    def __init__(self, ring, base):
        self.ring, self.base = ring, base

    def __getitem__(self, i):
        return self.ring[self.base + i]

    def __setitem__(self, i, v):
        self.ring[self.base + i] = v


@dataclass(slots=True)
class POSt:
    fast: SMASt = field(default_factory=SMASt)
    slow: SMASt = field(default_factory=SMASt)
    pct: int = 0


APOSt = PPOSt = POSt


def po_nring(fast, slow):
    return SMA_NRING(fast) + SMA_NRING(slow)


def po_init(s, fast, slow, pct):
    if slow < fast:
        fast, slow = slow, fast
    SMA_init(s.fast, fast)
    SMA_init(s.slow, slow)
    s.pct = int(pct)


def po_step(s, ring, x, out):
    f, sl = [NAN], [NAN]
    SMA_step(s.fast, ring, x, f)
    SMA_step(s.slow, _RingAt(ring, SMA_NRING(s.fast.period)), x, sl)
    f, sl = f[0], sl[0]
    if math.isnan(sl):
        out[0] = NAN
    elif not s.pct:
        out[0] = f - sl
    else:
        out[0] = ((f - sl) / sl) * 100.0 if abs(sl) >= TA_EPS else 0.0


class TrueRange(_Indicator):
    """True range, the largest of high - low, |high - previous close| and |low - previous
    close| (TA-Lib TRANGE; NaN at the first bar)."""

    __slots__ = ()
    _innames, _nout = HLC, 1
    update, peek, update_raw = _update_hlc, _peek_hlc, _update_raw_hlc

    def __init__(self):
        self._setup((), 0)

    def _init(self):
        self._clear()
        self.st = TrueRangeSt()
        TrueRange_init(self.st)

    def _step(self, x):
        TrueRange_step(self.st, self._ring, x, self._out)


class NATR(_Indicator):
    """Normalized average true range, ATR / close * 100 (TA-Lib NATR)."""

    __slots__ = ()
    _innames, _nout = HLC, 1
    update, peek, update_raw = _update_hlc, _peek_hlc, _update_raw_hlc
    period = _param(0, "period")

    def __init__(self, period=14):
        p0 = _param_int("NATR", "period", period, 1)
        self._setup((p0,), 0)

    def _init(self):
        self._clear()
        self.st = NATRSt()
        NATR_init(self.st, *self._args)

    def _step(self, x):
        NATR_step(self.st, self._ring, x, self._out)


class WilliamsR(_Indicator):
    """Williams %R over the last ``period`` bars (TA-Lib WILLR)."""

    __slots__ = ()
    _innames, _nout = HLC, 1
    update, peek, update_raw = _update_hlc, _peek_hlc, _update_raw_hlc
    period = _param(0, "period")

    def __init__(self, period=14):
        p0 = _param_int("WilliamsR", "period", period, 2)
        self._setup((p0,), WilliamsR_NRING(p0))

    def _init(self):
        self._clear()
        self.st = WilliamsRSt()
        WilliamsR_init(self.st, *self._args)

    def _step(self, x):
        WilliamsR_step(self.st, self._ring, x, self._out)


class CMO(_Indicator):
    """Chande momentum oscillator (TA-Lib CMO: RSI's smoothed gains and losses,
    100 * (gain - loss) / (gain + loss))."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=14, *, source=None):
        p0 = _param_int("CMO", "period", period, 2)
        self._setup((p0,), 0)
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = CMOSt()
        CMO_init(self.st, *self._args)

    def _step(self, x):
        CMO_step(self.st, self._ring, x, self._out)


@dataclass(slots=True)
class TRIMASt:
    a: SMASt = field(default_factory=SMASt)
    b: SMASt = field(default_factory=SMASt)


def TRIMA_NRING(period):
    return period + 1


def TRIMA_init(s, period):
    SMA_init(s.a, (period + 1) // 2 if period % 2 else period // 2)
    SMA_init(s.b, (period + 1) // 2 if period % 2 else period // 2 + 1)
    s.b.dp = float(s.a.period * s.b.period)    # the inner sum undivided: one division a bar
    s.a.dp = 1.0


def TRIMA_step(s, ring, x, out):
    m = [NAN]
    SMA_step(s.a, ring, x, m)
    if math.isnan(m[0]):
        out[0] = NAN
    else:
        SMA_step(s.b, _RingAt(ring, s.a.period), m, out)


@dataclass(slots=True)
class MFISt:
    n: int = 0
    pos: int = 0
    period: int = 0
    npos: int = 0
    nneg: int = 0
    prev: float = 0.0
    psum: float = 0.0
    nsum: float = 0.0


def MFI_NRING(period):
    return 2 * period


def MFI_init(s, period):
    s.n = s.pos = s.npos = s.nneg = 0
    s.period = period
    s.prev = s.psum = s.nsum = 0.0


def MFI_step(s, ring, x, out):
    p = s.period
    tp = (x[0] + x[1] + x[2]) / 3.0
    s.n += 1
    out[0] = NAN
    if s.n == 1:
        s.prev = tp
        return
    if s.n > p + 1:                     # the oldest flow leaves
        s.psum -= ring[s.pos]
        s.nsum -= ring[p + s.pos]
        s.npos -= ring[s.pos] != 0.0
        s.nneg -= ring[p + s.pos] != 0.0
    d = tp - s.prev
    f = tp * x[3]
    ring[s.pos] = ring[p + s.pos] = 0.0
    if abs(d) > TA_EPS * (abs(tp) + abs(s.prev)):
        if d < 0.0:
            ring[p + s.pos] = f
            s.nsum += f
            s.nneg += f != 0.0
        else:
            ring[s.pos] = f
            s.psum += f
            s.npos += f != 0.0
    s.prev = tp
    s.pos += 1
    if s.pos == p:
        s.pos = 0
    if s.n % RESUM == 0:                # the exact sums again (by the count: no counter of its own)
        s.psum = arr_sum(ring, 0, p) + poison(s.psum)
        s.nsum = arr_sum(ring, p, p) + poison(s.nsum)
    if s.n > p:
        ps = s.psum if s.npos else 0.0
        ns = s.nsum if s.nneg else 0.0
        t = ps + ns
        t = 100.0 * (ps / t) if t > 0.0 else 0.0
        out[0] = 100.0 if t > 100.0 else (0.0 if t < 0.0 else t)   # TA-Lib: 0 unless the sum is > 0; clamped


@dataclass(slots=True)
class ChaikinOscillatorSt:
    n: int = 0
    lookback: int = 0
    ad: float = 0.0
    fast: float = 0.0
    slow: float = 0.0
    kf: float = 0.0
    kf1: float = 0.0
    ks: float = 0.0
    ks1: float = 0.0


def ChaikinOscillator_init(s, fast, slow):
    s.n = 0
    s.lookback = max(fast, slow) - 1
    s.ad = s.fast = s.slow = 0.0
    s.kf = 2.0 / (fast + 1.0)
    s.kf1 = 1.0 - s.kf
    s.ks = 2.0 / (slow + 1.0)
    s.ks1 = 1.0 - s.ks


def ChaikinOscillator_step(s, ring, x, out):
    r = x[0] - x[1]
    if r > 0.0:
        s.ad += (((x[2] - x[1]) - (x[0] - x[2])) / r) * x[3]
    s.n += 1
    if s.n == 1:
        s.fast = s.slow = s.ad
    else:
        s.fast = fma(s.kf1, s.fast, s.kf * s.ad)
        s.slow = fma(s.ks1, s.slow, s.ks * s.ad)
    out[0] = s.fast - s.slow if s.n > s.lookback else NAN


@dataclass(slots=True)
class AroonSt:
    hi: DequeSt = field(default_factory=DequeSt)
    lo: DequeSt = field(default_factory=DequeSt)
    period: int = 0


def Aroon_NRING(period):
    return 4 * (period + 1)


def Aroon_init(s, period):
    deque_init(s.hi, period + 1)
    deque_init(s.lo, period + 1)
    s.period = period


def Aroon_step(s, ring, x, out):
    w = s.period + 1
    deque_push(s.hi, ring, 0, x[0], True)
    deque_push(s.lo, ring, 2 * w, x[1], False)
    if s.hi.k < w:
        out[0] = out[1] = NAN
        return
    today = float(s.hi.k - 1)
    factor = 100.0 / float(s.period)
    out[0] = factor * (float(s.period) - (today - deque_front_index(s.lo, ring, 2 * w)))
    out[1] = factor * (float(s.period) - (today - deque_front_index(s.hi, ring, 0)))


def _update_hlcv(self, high=_MISSING, low=_MISSING, close=_MISSING, volume=_MISSING, *more):
    """Consume one bar; return the output (NaN during the warm-up)."""
    return self._update("update", (high, low, close, volume), more)


def _peek_hlcv(self, high=_MISSING, low=_MISSING, close=_MISSING, volume=_MISSING, *more):
    """The output ``update`` would return; no state changes."""
    return self._update("peek", (high, low, close, volume), more)


def _update_raw_hlcv(self, high, low, close, volume):
    """``update`` as compiled callers (``cimport``) have it."""
    return self._update_raw((high, low, close, volume))


def _update_hl(self, high=_MISSING, low=_MISSING, *more):
    """Consume one bar; return the outputs (NaN during the warm-up)."""
    return self._update("update", (high, low), more)


def _peek_hl(self, high=_MISSING, low=_MISSING, *more):
    """The outputs ``update`` would return; no state changes."""
    return self._update("peek", (high, low), more)


def _update_raw_hl(self, high, low):
    """``update`` as compiled callers (``cimport``) have it."""
    return self._update_raw((high, low))


class TRIMA(_Indicator):
    """Triangular moving average, an SMA of an SMA (TA-Lib TRIMA)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period = _param(0, "period")

    def __init__(self, period=30, *, source=None):
        p0 = _param_int("TRIMA", "period", period, 2)
        self._setup((p0,), TRIMA_NRING(p0))
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = TRIMASt()
        TRIMA_init(self.st, *self._args)

    def _step(self, x):
        TRIMA_step(self.st, self._ring, x, self._out)


class MFI(_Indicator):
    """Money flow index (TA-Lib MFI)."""

    __slots__ = ()
    _innames, _nout = ("high", "low", "close", "volume"), 1
    update, peek, update_raw = _update_hlcv, _peek_hlcv, _update_raw_hlcv
    period = _param(0, "period")

    def __init__(self, period=14):
        p0 = _param_int("MFI", "period", period, 2)
        self._setup((p0,), MFI_NRING(p0))

    def _init(self):
        self._clear()
        self.st = MFISt()
        MFI_init(self.st, *self._args)

    def _step(self, x):
        MFI_step(self.st, self._ring, x, self._out)


class ChaikinOscillator(_Indicator):
    """Chaikin A/D oscillator, EMA(fast) - EMA(slow) of the accumulation/distribution
    line (TA-Lib ADOSC)."""

    __slots__ = ()
    _innames, _nout = ("high", "low", "close", "volume"), 1
    update, peek, update_raw = _update_hlcv, _peek_hlcv, _update_raw_hlcv
    fast, slow = _param(0, "fast"), _param(1, "slow")

    def __init__(self, fast=3, slow=10):
        p0 = _param_int("ChaikinOscillator", "fast", fast, 2)
        p1 = _param_int("ChaikinOscillator", "slow", slow, 2)
        self._setup((p0, p1), 0)

    def _init(self):
        self._clear()
        self.st = ChaikinOscillatorSt()
        ChaikinOscillator_init(self.st, *self._args)

    def _step(self, x):
        ChaikinOscillator_step(self.st, self._ring, x, self._out)


class Aroon(_Indicator):
    """Aroon (TA-Lib AROON): ``(down, up)``."""

    __slots__ = ()
    _innames, _nout = ("high", "low"), 2
    update, peek, update_raw = _update_hl, _peek_hl, _update_raw_hl
    period = _param(0, "period")

    def __init__(self, period=14):
        p0 = _param_int("Aroon", "period", period, 2)
        self._setup((p0,), Aroon_NRING(p0))

    def _init(self):
        self._clear()
        self.st = AroonSt()
        Aroon_init(self.st, *self._args)

    def _step(self, x):
        Aroon_step(self.st, self._ring, x, self._out)


@dataclass(slots=True)
class CCISt:
    n: int = 0
    pos: int = 0
    period: int = 0


def CCI_NRING(period):
    return period


def CCI_init(s, period):
    s.n = s.pos = 0
    s.period = period


def CCI_step(s, ring, x, out):
    p = s.period
    tp = (x[0] + x[1] + x[2]) / 3.0
    ring[s.pos] = tp
    s.pos += 1
    if s.pos == p:
        s.pos = 0
    s.n += 1
    if s.n < p:
        out[0] = NAN
        return
    avg = 0.0
    for j in range(p):
        avg += ring[j]
    avg /= float(p)
    dev = 0.0
    for j in range(p):
        dev += abs(ring[j] - avg)
    d = tp - avg
    if abs(d) <= TA_EPS * (abs(tp) + abs(avg)) or dev <= TA_EPS * abs(avg) * float(p):
        out[0] = 0.0                    # TA-Lib's zero tests, at the prices' scale
    else:
        out[0] = d / (0.015 * (dev / float(p)))


class CCI(_Indicator):
    """Commodity channel index (TA-Lib CCI)."""

    __slots__ = ()
    _innames, _nout = HLC, 1
    update, peek, update_raw = _update_hlc, _peek_hlc, _update_raw_hlc
    period = _param(0, "period")

    def __init__(self, period=14):
        p0 = _param_int("CCI", "period", period, 2)
        self._setup((p0,), CCI_NRING(p0))

    def _init(self):
        self._clear()
        self.st = CCISt()
        CCI_init(self.st, *self._args)

    def _step(self, x):
        CCI_step(self.st, self._ring, x, self._out)


@dataclass(slots=True)
class T3St:
    n: int = 0
    period: int = 0
    k: float = 0.0
    k1: float = 0.0
    sum: float = 0.0
    c1: float = 0.0
    c2: float = 0.0
    c3: float = 0.0
    c4: float = 0.0
    e1: float = 0.0
    e2: float = 0.0
    e3: float = 0.0
    e4: float = 0.0
    e5: float = 0.0
    e6: float = 0.0


def T3_init(s, period, v):
    t = v * v
    s.n = 0
    s.period = period
    s.k = 2.0 / (period + 1.0)
    s.k1 = 1.0 - s.k
    s.sum = 0.0
    s.c1 = -(t * v)
    s.c2 = 3.0 * (t - s.c1)
    s.c3 = -6.0 * t - 3.0 * (v - s.c1)
    s.c4 = 1.0 + 3.0 * v - s.c1 + 3.0 * t
    s.e1 = s.e2 = s.e3 = s.e4 = s.e5 = s.e6 = 0.0


def t3_out(s):
    return fma(s.c4, s.e3, fma(s.c3, s.e4, fma(s.c1, s.e6, s.c2 * s.e5)))


_T3_LEVELS = ("e1", "e2", "e3", "e4", "e5", "e6")


def t3_push(s, x, levels):
    """Update e1 .. e<levels> with x; the last one updated."""
    s.e1 = fma(s.k1, s.e1, s.k * x)
    last = s.e1
    for name in _T3_LEVELS[1:levels]:
        last = fma(s.k1, getattr(s, name), s.k * last)
        setattr(s, name, last)
    return last


def T3_step(s, ring, x, out):
    p = s.period
    s.n += 1
    out[0] = NAN
    if p == 1:                          # every level is the input (k = 1)
        s.e1 = s.e2 = s.e3 = s.e4 = s.e5 = s.e6 = x[0]
        out[0] = t3_out(s)
        return
    if s.n <= p:                        # e1's seed: the mean of the first p inputs
        s.sum += x[0]
        if s.n == p:
            s.e1 = s.sum / p
            s.sum = s.e1
        return
    m = s.n - p
    stage = (m - 1) // (p - 1) + 1      # 1 .. 5: seeding e2 .. e6; then every level
    if stage > 5:
        t3_push(s, x[0], 6)
        out[0] = t3_out(s)
        return
    s.sum += t3_push(s, x[0], stage)
    if m % (p - 1) == 0:                # the stage's last bar: the next level's seed
        setattr(s, _T3_LEVELS[stage], s.sum / p)
        s.sum = s.sum / p
        if stage == 5:
            out[0] = t3_out(s)


class T3(_Indicator):
    """Tillson's T3, six chained EMAs (TA-Lib T3)."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 1, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period, vfactor = _param(0, "period"), _param(1, "vfactor")

    def __init__(self, period=5, vfactor=0.7, *, source=None):
        p0 = _param_int("T3", "period", period, 1)
        p1 = _param_real("T3", "vfactor", vfactor)
        self._setup((p0, p1), 0)
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = T3St()
        T3_init(self.st, *self._args)

    def _step(self, x):
        T3_step(self.st, self._ring, x, self._out)


@dataclass(slots=True)
class ParabolicSARSt:
    n: int = 0
    is_long: int = 0
    acc: float = 0.0
    mx: float = 0.0
    af: float = 0.0
    ep: float = 0.0
    sar: float = 0.0
    ph: float = 0.0
    pl: float = 0.0


def ParabolicSAR_init(s, acc, mx):
    s.n = 0
    s.is_long = 1
    s.acc = acc if acc <= mx else mx
    s.mx = mx
    s.af = s.acc
    s.ep = s.sar = s.ph = s.pl = 0.0


def ParabolicSAR_step(s, ring, x, out):
    h, l = x[0], x[1]
    s.n += 1
    if s.n == 1:
        s.ph, s.pl = h, l
        out[0] = NAN
        return
    if s.n == 2:                        # TA-Lib: -DM of period 1 decides; ep and sar from the two bars
        dm = s.pl - l
        s.is_long = int(not (dm > 0.0 and h - s.ph < dm))
        s.ep, s.sar = (h, s.pl) if s.is_long else (l, s.ph)
        s.ph, s.pl = h, l               # the first bar's "previous" range is its own
    ph, pl = s.ph, s.pl
    s.ph, s.pl = h, l
    if s.is_long:
        if l <= s.sar:                  # reversal to short: the SAR jumps to the extreme point
            s.is_long = 0
            sar = s.ep
            sar = ph if sar < ph else sar
            sar = h if sar < h else sar
            out[0] = sar
            s.af = s.acc
            s.ep = l
            sar = fma(s.af, s.ep - sar, sar)
            sar = ph if sar < ph else sar
            sar = h if sar < h else sar
        else:
            out[0] = s.sar
            if h > s.ep:
                s.ep = h
                s.af += s.acc
                s.af = s.mx if s.af > s.mx else s.af
            sar = fma(s.af, s.ep - s.sar, s.sar)
            sar = pl if sar > pl else sar
            sar = l if sar > l else sar
    elif h >= s.sar:                    # reversal to long
        s.is_long = 1
        sar = s.ep
        sar = pl if sar > pl else sar
        sar = l if sar > l else sar
        out[0] = sar
        s.af = s.acc
        s.ep = h
        sar = fma(s.af, s.ep - sar, sar)
        sar = pl if sar > pl else sar
        sar = l if sar > l else sar
    else:
        out[0] = s.sar
        if l < s.ep:
            s.ep = l
            s.af += s.acc
            s.af = s.mx if s.af > s.mx else s.af
        sar = fma(s.af, s.ep - s.sar, s.sar)
        sar = ph if sar < ph else sar
        sar = h if sar < h else sar
    s.sar = sar


class ParabolicSAR(_Indicator):
    """Parabolic SAR (TA-Lib SAR)."""

    __slots__ = ()
    _innames, _nout = ("high", "low"), 1
    update, peek, update_raw = _update_hl, _peek_hl, _update_raw_hl
    acceleration, maximum = _param(0, "acceleration"), _param(1, "maximum")

    def __init__(self, acceleration=0.02, maximum=0.2):
        p0 = _param_real("ParabolicSAR", "acceleration", acceleration, 0.0)
        p1 = _param_real("ParabolicSAR", "maximum", maximum, 0.0)
        self._setup((p0, p1), 0)

    def _init(self):
        self._clear()
        self.st = ParabolicSARSt()
        ParabolicSAR_init(self.st, *self._args)

    def _step(self, x):
        ParabolicSAR_step(self.st, self._ring, x, self._out)


@dataclass(slots=True)
class StochRSISt:
    rsi: RSISt = field(default_factory=RSISt)
    hi: DequeSt = field(default_factory=DequeSt)
    lo: DequeSt = field(default_factory=DequeSt)
    d: SmaPlain = field(default_factory=SmaPlain)


def StochRSI_NRING(period, fastk, fastd):
    return 4 * fastk + fastd


def StochRSI_init(s, period, fastk, fastd):
    RSI_init(s.rsi, period)
    deque_init(s.hi, fastk)
    deque_init(s.lo, fastk)
    s.d.k = s.d.pos = 0
    s.d.period = fastd
    s.d.total = 0.0


def StochRSI_step(s, ring, x, out):
    n = s.hi.period
    out[0] = out[1] = NAN
    rv = [NAN]
    RSI_step(s.rsi, ring, x, rv)
    r = rv[0]
    if r != r:
        return
    hh = ext_push(s.hi, ring, 0, r, True)
    ll = ext_push(s.lo, ring, 2 * n, r, False)
    if hh != hh:
        return
    if abs(hh - ll) <= TA_EPS * (abs(hh) + abs(ll)):    # Stochastic's fastK
        k = 0.0
    else:
        k = _div(r - ll, (hh - ll) / 100.0)
    d = sma_plain(s.d, ring, 4 * n, k)
    if d == d:
        out[0] = k
        out[1] = d


class StochRSI(_Indicator):
    """Stochastic RSI (TA-Lib STOCHRSI with an SMA fastD): ``(fastk, fastd)``."""

    __slots__ = ()
    _innames, _nout, _takes_source = X, 2, True
    update, peek, update_raw = _update_x, _peek_x, _update_raw_x
    period, fastk, fastd = _param(0, "period"), _param(1, "fastk"), _param(2, "fastd")

    def __init__(self, period=14, fastk=5, fastd=3, *, source=None):
        p0 = _param_int("StochRSI", "period", period, 2)
        p1 = _param_int("StochRSI", "fastk", fastk, 1)
        p2 = _param_int("StochRSI", "fastd", fastd, 1)
        self._setup((p0, p1, p2), StochRSI_NRING(p0, p1, p2))
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = StochRSISt()
        StochRSI_init(self.st, *self._args)

    def _step(self, x):
        StochRSI_step(self.st, self._ring, x, self._out)


@dataclass(slots=True)
class UltimateOscillatorSt:
    n: int = 0
    pos: int = 0
    p1: int = 0
    p2: int = 0
    p3: int = 0
    nz: int = 0
    pc: float = 0.0
    a1: float = 0.0
    a2: float = 0.0
    a3: float = 0.0
    b1: float = 0.0
    b2: float = 0.0
    b3: float = 0.0


def UltimateOscillator_NRING(p1, p2, p3):
    return 2 * max(p1, p2, p3)


def UltimateOscillator_init(s, p1, p2, p3):
    s.p1, s.p2, s.p3 = sorted((p1, p2, p3))
    s.n = s.pos = s.nz = 0
    s.pc = s.a1 = s.a2 = s.a3 = s.b1 = s.b2 = s.b3 = 0.0


def UltimateOscillator_step(s, ring, x, out):
    t, p3, pc = s.n, s.p3, s.pc
    s.n += 1
    s.pc = x[2]
    out[0] = NAN
    if t == 0:
        return
    cm = x[2] - (x[1] if x[1] < pc else pc)
    tr = x[0] - x[1]
    v = abs(pc - x[0])
    tr = v if v > tr else tr
    v = abs(pc - x[1])
    tr = v if v > tr else tr
    ring[s.pos] = cm
    ring[p3 + s.pos] = tr
    if tr != 0.0:
        s.nz = t                        # the last bar with a nonzero true range
    if t > p3 - s.p1:
        s.a1 += cm
        s.b1 += tr
    if t > p3 - s.p2:
        s.a2 += cm
        s.b2 += tr
    s.a3 += cm
    s.b3 += tr
    if t >= p3:
        # a window with no nonzero true range: exact zeros, not a rounding
        # residue over another (TA-Lib's)
        if s.nz <= t - s.p1:
            s.a1 = s.b1 = 0.0
        if s.nz <= t - s.p2:
            s.a2 = s.b2 = 0.0
        if s.nz <= t - p3:
            s.a3 = s.b3 = 0.0
        o = 0.0
        if s.b1 > 0.0:
            o += 4.0 * (s.a1 / s.b1)
        if s.b2 > 0.0:
            o += 2.0 * (s.a2 / s.b2)
        if s.b3 > 0.0:
            o += s.a3 / s.b3
        out[0] = 100.0 * (o / 7.0)
        j = (s.pos - s.p1 + 1) % p3     # each window's oldest term leaves
        s.a1 -= ring[j]
        s.b1 -= ring[p3 + j]
        j = (s.pos - s.p2 + 1) % p3
        s.a2 -= ring[j]
        s.b2 -= ring[p3 + j]
        j = (s.pos - p3 + 1) % p3
        s.a3 -= ring[j]
        s.b3 -= ring[p3 + j]
    s.pos += 1
    if s.pos == p3:
        s.pos = 0


class UltimateOscillator(_Indicator):
    """Ultimate oscillator (TA-Lib ULTOSC)."""

    __slots__ = ()
    _innames, _nout = HLC, 1
    update, peek, update_raw = _update_hlc, _peek_hlc, _update_raw_hlc
    period1, period2, period3 = _param(0, "period1"), _param(1, "period2"), _param(2, "period3")

    def __init__(self, period1=7, period2=14, period3=28):
        p0 = _param_int("UltimateOscillator", "period1", period1, 1)
        p1 = _param_int("UltimateOscillator", "period2", period2, 1)
        p2 = _param_int("UltimateOscillator", "period3", period3, 1)
        self._setup((p0, p1, p2), UltimateOscillator_NRING(p0, p1, p2))

    def _init(self):
        self._clear()
        self.st = UltimateOscillatorSt()
        UltimateOscillator_init(self.st, *self._args)

    def _step(self, x):
        UltimateOscillator_step(self.st, self._ring, x, self._out)


def _po_class(name, pct, doc):
    """APO or PPO: the same class but for ``pct`` (one base, ``_Indicator``,
    as the compiled classes have)."""

    def __init__(self, fast=12, slow=26, *, source=None):
        p0 = _param_int(name, "fast", fast, 2)
        p1 = _param_int(name, "slow", slow, 2)
        self._setup((p0, p1), po_nring(p0, p1))
        self._init_source(source)

    def _init(self):
        self._clear()
        self.st = POSt()
        po_init(self.st, *self._args, pct)

    def _step(self, x):
        po_step(self.st, self._ring, x, self._out)

    return type(name, (_Indicator,), {
        "__doc__": doc, "__slots__": (), "__module__": __name__, "__qualname__": name,
        "_innames": X, "_nout": 1, "_takes_source": True,
        "update": _update_x, "peek": _peek_x, "update_raw": _update_raw_x,
        "fast": _param(0, "fast"), "slow": _param(1, "slow"),
        "__init__": __init__, "_init": _init, "_step": _step,
    })


APO = _po_class("APO", False, "Absolute price oscillator, SMA(fast) - SMA(slow) (TA-Lib APO with SMAs; "
                "periods swapped when slow < fast, as TA-Lib).")
PPO = _po_class("PPO", True, "Percentage price oscillator, (SMA(fast) - SMA(slow)) / SMA(slow) * 100 "
                "(TA-Lib PPO with SMAs).")


# ---------------------------------------------------------------------------
# IndicatorBank's engine (the compiled one: _indicators_bank.pxi)
# ---------------------------------------------------------------------------

class BankCore:
    """One indicator per symbol, stepped (``update``) and run (``batch``)
    as the compiled engine does (see ``IndicatorBank``); the specification."""

    __slots__ = ("proto", "n", "skip", "inds", "busy")

    def __init__(self, proto, n, skip):
        if proto._source is not None:
            raise TypeError(f"IndicatorBank: {type(proto).__name__} with a source= is not supported "
                            "(bank the source's class, then feed its outputs to a second bank)")
        if n < 1:
            raise ValueError(f"n_symbols must be >= 1, got {n}")
        self.proto = type(proto)(*proto._args)
        self.n = n
        self.skip = bool(skip)
        self.inds = [type(proto)(*proto._args) for _ in range(n)]
        self.busy = 0

    @property
    def n_inputs(self):
        return len(self.proto._innames)

    @property
    def n_outputs(self):
        return self.proto._nout

    def _not_finite(self, method, j, i, k, v):
        where = f"symbol {j}" if i < 0 else f"symbol {j}, bar {i}"
        hint = " (a NaN is a missing bar with nan_policy='skip')" if math.isnan(v) else ""
        raise ValueError(f"IndicatorBank({type(self.proto).__name__}).{method}: {where}: input "
                         f"{self.proto._innames[k]!r} must be finite, got {v!r}{hint}")

    def _bad(self, v):
        return not math.isfinite(v) and not (self.skip and math.isnan(v))

    @twin_locked
    def update(self, rows):
        if len(rows) != self.n_inputs or not all(
                type(r) is np.ndarray and r.dtype == np.float64 and r.shape == (self.n,)
                and r.flags.c_contiguous for r in rows):
            return NotImplemented       # the caller converts the rows
        nout = self.proto._nout
        cols = [r.tolist() for r in rows]
        for j in range(self.n):                 # checks first: an error changes nothing
            for k, col in enumerate(cols):
                if self._bad(col[j]):
                    self._not_finite("update", j, -1, k, col[j])
        out = np.empty(self.n if nout == 1 else (self.n, nout), dtype=np.float64)
        for j, ind in enumerate(self.inds):
            x = [col[j] for col in cols]
            if not any(math.isnan(v) for v in x):
                ind._step(x)
                ind._count += 1
            out[j] = ind._out[0] if nout == 1 else ind._out[:nout]
        return out

    @twin_locked
    def batch(self, panels, threads):
        nout = self.proto._nout
        nb = panels[0].shape[0]
        out = np.empty((nb, self.n) if nout == 1 else (nb, self.n, nout), dtype=np.float64, order="F")
        saved = [ind.copy() for ind in self.inds]
        try:
            for j, ind in enumerate(self.inds):
                cols = [p[:, j].tolist() for p in panels]
                for i in range(nb):
                    x = [col[i] for col in cols]
                    for k, v in enumerate(x):
                        if self._bad(v):
                            self._not_finite("batch", j, i, k, v)
                    if not any(math.isnan(v) for v in x):
                        ind._step(x)
                        ind._count += 1
                    out[i, j] = ind._out[0] if nout == 1 else ind._out[:nout]
        except BaseException:
            self.inds = saved                   # all or nothing
            raise
        return out

    def ready(self):
        return np.array([not math.isnan(ind._out[0]) for ind in self.inds], dtype=np.bool_)

    @twin_locked
    def get(self, j):
        return self.inds[j].copy()

    @twin_locked
    def put(self, j, ind):
        if type(ind) is not type(self.proto) or ind._args != self.proto._args or ind._source is not None:
            raise TypeError(f"IndicatorBank: symbol {j} needs a {self.proto!r}, got {ind!r}")
        self.inds[j] = ind.copy()

    @twin_locked
    def reset(self):
        for ind in self.inds:
            ind.reset()

    @twin_locked
    def copy(self):
        other = BankCore(self.proto, self.n, self.skip)
        other.inds = [ind.copy() for ind in self.inds]
        return other
