# cython: language_level=3, cdivision=True
"""Each indicator's own part, written once: its state (a struct of numbers,
parameters included), its initialisation, its step (one bar: inputs in,
outputs out) and, where a whole array is worth a loop of its own, its run.

``_indicators.pyx`` builds the classes from these (``_indicators_classes.pxi.in``
expands one class per indicator at build time); ``IndicatorBank`` and user
code ``cimport`` them (``from admf_perf._ext._ind_kernels cimport ...``).

Conventions, for every indicator ``X``:

- ``XSt``: the state.  Parameters are fields too (set by ``X_init``), so a
  kernel needs nothing but its state and its ring.
- ``X_init(XSt* s, ...)``: the freshly constructed state (the ring zeroed by
  the caller).  ``X_NRING(...)``: the ring's length in doubles.
- ``X_step(XSt* s, double* ring, const double* x, double* out)``: one bar;
  ``x`` holds the inputs in TA-Lib's order, ``out`` receives the outputs
  (NaN during the warm-up).  No checks: the caller passes finite inputs.
- ``X_run(XSt* s, double* ring, const double** a, double** o, n)``: ``n``
  steps over whole arrays (lagged values read from the array instead of the
  ring, blocks, vectorized passes), the same arithmetic bit for bit; returns
  1 when it met a non-finite input (the caller then restores the state it
  saved).

The arithmetic follows TA-Lib's C source where that is exact and cheap (the
same seeding and warm-up everywhere; equal within 1e-9 relative elsewhere):
see docs/indicators.md.  Rolling sums are re-summed exactly from their window
every ``RESUM`` bars, so no rounding residue outlives a change of scale.
Floating-point contraction is off: the same bits on every compiler and CPU.
The recurrences of the smoothing family (EMA and what is built on it, RSI,
ATR, ADX, KAMA) are written as explicit ``fma`` calls: C99 rounds them once,
exactly, everywhere (an instruction on CPUs with FMA, libm's exact software
otherwise; the twin computes the same value), and they leave one operation
on each recurrence's dependency chain.
"""
from libc.math cimport NAN, fabs, isnan
from libc.stdlib cimport free
from libc.string cimport memmove

ctypedef long long i64

#: An ``X_run`` through a pointer (the state as void*): the table of the
#: AVX2 build (``_ind_simd``) holds one per indicator.  A run returns 0, 1
#: when an input was not finite (the caller restores the state), or
#: RUN_NOMEM when it could not allocate its scratch: then it has changed
#: nothing, and the template's ``X_batch`` steps bar by bar instead.
ctypedef int (*run_fn)(void* st, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil


#: IndicatorBank's layout: a head per symbol (the kernel struct at 0, then the
#: outputs and the bar count), ``block`` bytes apart from the start, then the
#: rings from ``ring_off``, ``rblock`` bytes (``nring`` doubles) a symbol:
#: value k of symbol j is the double ``j * jstride + k * kstride`` there, a
#: ring per symbol (jstride nring, kstride 1: batch's layout) or slot-major
#: (1 and n: update's, for the template's SLOT_MAJOR classes; BankCore._layout).
cdef struct BankLayout:
    Py_ssize_t n, block, out_off, cnt_off   # the heads: n of block bytes, from the start
    Py_ssize_t ring_off, rblock             # the rings: n * rblock bytes, from ring_off
    Py_ssize_t nring, jstride, kstride


#: One bar for every symbol of a bank, the class's step inline (the template
#: writes one per class: ``_indicators.pyx``, ``BANK_UPDATES``).
ctypedef void (*bank_update_fn)(char* mem, const BankLayout* L, const double** a, double* o,
                                bint skip) noexcept nogil

cdef extern from "admf_ind.h":
    #: C99 fma (one rounding): the instruction where the CPU has it (admf_ind.h)
    double fma "admf_fma"(double a, double b, double c) noexcept nogil
    bint admf_all_finite(const double* a, Py_ssize_t n) noexcept nogil
    Py_ssize_t admf_scratch_failures
    void* scratch "admf_scratch"(size_t n) noexcept nogil
    unsigned long long admf_nf_run(const double* a, Py_ssize_t n) noexcept nogil
    unsigned long long admf_lag_sub(const double* a, double* o, Py_ssize_t lo, Py_ssize_t n,
                                    Py_ssize_t p) noexcept nogil
    unsigned long long admf_lag_roc(const double* a, double* o, Py_ssize_t lo, Py_ssize_t n,
                                    Py_ssize_t p) noexcept nogil
    void admf_vhgw_max(const double* a, double* o, Py_ssize_t n, Py_ssize_t p, double* buf) noexcept nogil
    void admf_vhgw_min(const double* a, double* o, Py_ssize_t n, Py_ssize_t p, double* buf) noexcept nogil
    void admf_age_max(const double* a, double* ago, Py_ssize_t n, Py_ssize_t p, double* buf) noexcept nogil
    void admf_age_min(const double* a, double* ago, Py_ssize_t n, Py_ssize_t p, double* buf) noexcept nogil
    Py_ssize_t admf_age_buf(Py_ssize_t p) noexcept nogil
    void admf_sqrt_block(const double* v, double* out, Py_ssize_t n, double nb) noexcept nogil
    void admf_bb_block(const double* v, const double* md, double* up, double* mid, double* lo,
                       Py_ssize_t n, double u, double d) noexcept nogil
    double admf_sqrt(double v) noexcept nogil
    void admf_ult_ratios(const double* t, Py_ssize_t r, double* y, Py_ssize_t n) noexcept nogil
    double true_range "admf_true_range"(double h, double l, double pc) noexcept nogil
    double natr_of "admf_natr"(double atr, double c) noexcept nogil
    double rsi_out "admf_rsi_out"(double gain, double loss, bint cmo) noexcept nogil
    void admf_rsi_out_block(const double* g, const double* l, double* y, Py_ssize_t n, bint cmo) noexcept nogil
    double ult_out "admf_ult"(double a1, double b1, double a2, double b2, double a3, double b3) noexcept nogil
    double ad_inc "admf_ad_inc"(double h, double l, double c, double v, double r) noexcept nogil
    bint nonzero "admf_nonzero"(double x) noexcept nogil
    double obv_delta "admf_obv_delta"(double c, double prev, double v) noexcept nogil
    void adx_dm "admf_adx_dm"(double dp, double dm, double* pd, double* md) noexcept nogil
    unsigned long long admf_atr_run(const double* h, const double* l, const double* c, double* y,
                                    Py_ssize_t n, double pc, double* atr, double a1, double inv,
                                    int natr) noexcept nogil
    unsigned long long admf_adosc_run(const double* h, const double* l, const double* c, const double* v,
                                      double* y, Py_ssize_t n, double* st, const double* k) noexcept nogil
    double kama_er "admf_kama_er"(double x, double old, double sumroc) noexcept nogil
    void admf_kama_run(const double* x, double* y, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t p,
                       double* sumroc, double* kama) noexcept nogil
    unsigned long long admf_obv_run(const double* c, const double* v, double* y, Py_ssize_t n,
                                    double prev, double* obv) noexcept nogil
    void admf_t3_run(const double* x, double* y, Py_ssize_t n, double* e, double k, double k1,
                     double c1, double c2, double c3, double c4) noexcept nogil
    unsigned long long admf_trange_run(const double* h, const double* l, const double* c, double* y,
                                       Py_ssize_t n) noexcept nogil
    #: the rolling extremes' deque, its back dropped where x makes it irrelevant: its new length
    i64 deque_keep "admf_deque_keep"(const double* pairs, i64 head, i64 size, i64 n, double x,
                                     bint is_max) noexcept nogil
    #: x into a short window's ring (each value twice: slots head and head + n, head
    #: then the next slot); the window's extreme, the newest of equal values (n <= 8)
    double window_add_max "admf_window_add_max"(double* ring, i64* head, i64 n, double x) noexcept nogil
    double window_add_min "admf_window_add_min"(double* ring, i64* head, i64 n, double x) noexcept nogil
    #: a[0] + ... + a[L - 1], left to right (TA-Lib's order)
    double arr_sum "admf_sum_lr"(const double* a, i64 L) noexcept nogil
    #: |a[0] - m| + ... + |a[L - 1] - m|, left to right
    double arr_absdev "admf_absdev_lr"(const double* a, i64 L, double m) noexcept nogil
    double sum_from "admf_sum_lr_from"(double s, const double* a, i64 L) noexcept nogil
    double sum16_from "admf_sum16_from"(double s, const double* a, i64 L) noexcept nogil
    double absdev16_from "admf_absdev16_from"(double s, const double* a, i64 L, double m) noexcept nogil
    double absdev2 "admf_absdev2_lr"(const double* a1, i64 n1, const double* a2, i64 n2, double m) noexcept nogil


cdef extern from "admf_ind.h":
    #: TA-Lib's TA_EPSILON: its scale-aware zero tests are |v| <= TA_EPS * scale.
    const double TA_EPS "ADMF_TA_EPS"
    #: StdDev/BollingerBands: re-centre when m2 is within 2**-33 of the rounding
    #: the running sums may hold (~8 ulps of e); e just after a re-centring
    const double VAR_TRIG "ADMF_VAR_TRIG"
    const double VAR_E0 "ADMF_VAR_E0"

cdef enum:
    RESUM = 256     # bars between the exact re-sums of a rolling sum
    BLOCK = 256     # bars per block of the two-pass loops (StdDev, BollingerBands)
    ULT_CHUNK = 64  # UltimateOscillator's bars per packed pass of its divisions
    RSI_CHUNK = 64  # RSI's and CMO's bars per packed pass of their divisions
    SHORT_WINDOW = 8    # a rolling extreme this short is kept as its window (ext_add)
    RUN_NOMEM = -1      # a run's scratch could not be allocated (nothing changed)


cdef inline bint finite(double x) noexcept nogil:
    return fabs(x) <= 1.7976931348623157e308


cdef inline double poison(double x) noexcept nogil:
    """0.0 for a finite x, NaN otherwise: added to a sum, it keeps a
    non-finite value seen in the window from being re-summed away."""
    return x - x


# ---------------------------------------------------------------------------
# The lag ring: the last L inputs, ``pos`` the oldest (the next to leave)
# ---------------------------------------------------------------------------

# A ring's stride ``rs`` (the ``_s`` steps): 1 alone; the number of symbols
# in an IndicatorBank whose rings are slot-major (value k of symbol j at
# k * n + j: one bar's update of neighbouring symbols touches neighbouring
# doubles). The steps without ``_s`` are theirs with rs = 1, folded.

cdef inline double ring_push_s(double* ring, Py_ssize_t rs, i64* pos, i64 L, double x) noexcept nogil:
    """Store x, return the value it replaces (L inputs back)."""
    cdef double* r = ring + pos[0] * rs
    cdef double old = r[0]
    r[0] = x
    pos[0] += 1
    if pos[0] == L:
        pos[0] = 0
    return old


cdef inline double ring_push(double* ring, i64* pos, i64 L, double x) noexcept nogil:
    return ring_push_s(ring, 1, pos, L, x)


cdef inline double ring_sum_s(const double* ring, Py_ssize_t rs, i64 pos, i64 L) noexcept nogil:
    """The ring's values summed oldest first (the order an array's are)."""
    cdef double s = 0.0
    cdef i64 j
    for j in range(pos, L):
        s += ring[j * rs]
    for j in range(pos):
        s += ring[j * rs]
    return s


cdef inline double ring_sum(const double* ring, i64 pos, i64 L) noexcept nogil:
    return ring_sum_s(ring, 1, pos, L)


cdef inline double arr_sum_s(const double* a, Py_ssize_t rs, i64 L) noexcept nogil:
    """arr_sum of a[0], a[rs], ... a[(L - 1) * rs]: the same order, the same bits."""
    cdef double s = 0.0
    cdef i64 j
    if rs == 1:
        return arr_sum(a, L)
    for j in range(L):
        s += a[j * rs]
    return s


cdef inline void ring_refill(double* ring, i64* pos, i64 L, const double* a, Py_ssize_t n) noexcept nogil:
    """After a run over a[0:n] whose lagged values came from the array: the
    ring as n pushes would leave it (n >= L: the last L, oldest first)."""
    cdef Py_ssize_t j
    if n >= L:
        for j in range(L):
            ring[j] = a[n - L + j]
        pos[0] = 0
    else:
        for j in range(n):
            ring_push(ring, pos, L, a[j])


# ---------------------------------------------------------------------------
# Exponential moving average (TA-Lib EMA: the SMA of the first n values, then
# prev * (1 - k) + x * k, k = 2 / (n + 1), as fma(prev, 1 - k, x * k); TA-Lib
# writes (x - prev) * k + prev: equal within an ulp or so, and the fused
# multiply-add leaves one operation on the dependency chain)
# ---------------------------------------------------------------------------

cdef struct Ema:
    i64 n          # values seen
    i64 period
    double k, k1   # k and 1 - k
    double sum     # seeding sum
    double v       # the EMA


cdef inline void ema_init(Ema* e, i64 period) noexcept nogil:
    e.n = 0
    e.period = period
    e.k = 2.0 / (period + 1.0)
    e.k1 = 1.0 - e.k
    e.sum = 0.0
    e.v = NAN


cdef inline double ema_push(Ema* e, double x) noexcept nogil:
    e.n += 1
    if e.n < e.period:
        e.sum += x
        return NAN
    if e.n == e.period:
        e.sum += x
        e.v = e.sum / <double>e.period
        return e.v
    e.v = fma(e.v, e.k1, x * e.k)
    return e.v


ctypedef Ema EMASt

cdef inline void EMA_init(EMASt* s, i64 period) noexcept nogil:
    ema_init(s, period)

cdef inline void EMA_step(EMASt* s, double* ring, const double* x, double* out) noexcept nogil:
    out[0] = ema_push(s, x[0])

cdef inline int EMA_run(EMASt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    cdef const double* x = a[0]
    cdef double* y = o[0]
    cdef Py_ssize_t i = 0, j
    cdef double v, k, k1
    while i < n and s.n < s.period:     # the warm-up and the seed, bar by bar
        y[i] = ema_push(s, x[i])
        i += 1
    if i < n:                           # ema_push's last branch, the state in registers
        v, k, k1 = s.v, s.k, s.k1
        for j in range(i, n):
            v = fma(v, k1, x[j] * k)
            y[j] = v
        s.v = v
        s.n += n - i
    # a non-finite input stays in the seeding sum or in the EMA for good
    if finite(s.sum) and (s.n < s.period or finite(s.v)):
        return 0
    return not admf_all_finite(x, n)        # or the state overflowed: the exact test decides


# ---------------------------------------------------------------------------
# SMA (TA-Lib's mean of the last n; a running sum of the last n values,
# sum += x - x[t-n]: one addition on its chain; period 1 is the identity),
# lag ring of n
# ---------------------------------------------------------------------------

cdef struct SMASt:
    i64 n, pos, period
    double sum      # the last min(n, period) values
    double dp       # the period, as a double


cdef inline i64 SMA_NRING(i64 period) noexcept nogil:
    return period


cdef inline void SMA_init(SMASt* s, i64 period) noexcept nogil:
    s.n = s.pos = 0
    s.period = period
    s.sum = 0.0
    s.dp = <double>period


cdef inline void sma_push(SMASt* s, double* ring, Py_ssize_t rs, double x, double* out) noexcept nogil:
    """SMA_step_s of a period of 2 or more (APO's and PPO's: no test of it)."""
    cdef i64 p = s.period
    s.n += 1
    # the ring holds 0.0 until it is full: x - 0.0 is x
    s.sum += x - ring_push_s(ring, rs, &s.pos, p, x)
    if s.n < p:
        out[0] = NAN
        return
    out[0] = s.sum / s.dp
    if (s.n & (RESUM - 1)) == 0:        # every RESUM bars (by the count: no counter of its own)
        s.sum = ring_sum_s(ring, rs, s.pos, p) + poison(s.sum)


cdef inline void SMA_step_s(SMASt* s, double* ring, Py_ssize_t rs, const double* x, double* out) noexcept nogil:
    if s.period == 1:
        s.n += 1
        out[0] = x[0]
        return
    sma_push(s, ring, rs, x[0], out)


cdef inline void SMA_step(SMASt* s, double* ring, const double* x, double* out) noexcept nogil:
    SMA_step_s(s, ring, 1, x, out)


cdef inline int SMA_run(SMASt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    cdef const double* x = a[0]
    cdef double* y = o[0]
    cdef i64 p = s.period, cnt
    cdef Py_ssize_t i = 0, e, j
    cdef double t, dp = s.dp, fresh = 0.0
    cdef bint resum
    if p == 1:
        for j in range(n):
            y[j] = x[j]
        s.n += n
        return not admf_all_finite(x, n)
    while i < n and (i < p or s.n < p):     # lagged values still in the ring, or warming up
        SMA_step(s, ring, &x[i], &y[i])
        i += 1
    t = s.sum
    cnt = s.n                           # bars consumed before bar i
    s.n += n - i
    while i < n:                        # SMA_step's last branch, lagged values from the array
        e = i + (RESUM - (cnt & (RESUM - 1)))
        if e > n:
            e = n
        resum = ((cnt + (e - i)) & (RESUM - 1)) == 0
        if resum and e - i >= p:        # the re-sum inside the loop, over its last p bars: a
            fresh = 0.0                 # chain of its own beside t's, in arr_sum's order (a
            for j in range(i, e - p):   # separate arr_sum first, a chain of p additions, had
                t += x[j] - x[j - p]    # not overlapped the loop's: SMA(200) 1.22x TA-Lib's
                y[j] = t                # time, one machine)
            for j in range(e - p, e):
                t += x[j] - x[j - p]
                fresh += x[j]
                y[j] = t
        else:
            if resum:
                fresh = arr_sum(&x[e - p], p)
            for j in range(i, e):
                t += x[j] - x[j - p]
                y[j] = t
        for j in range(i, e):           # the divisions, off the chain (packed)
            y[j] = y[j] / dp
        cnt += e - i
        if resum:
            t = fresh + poison(t)
        i = e
    s.sum = t
    if n > p:
        ring_refill(ring, &s.pos, p, x, n)
    if finite(s.sum):                   # a non-finite input stays in the sum (poison())
        return 0
    return not admf_all_finite(x, n)


# ---------------------------------------------------------------------------
# WMA (TA-Lib's weights n .. 1; sub += x - x[t-n]; out = (sum + n * x) /
# (n(n+1)/2); sum += n * x - sub: one addition on each chain), lag ring of n;
# period 1 is the identity, as in TA-Lib
# ---------------------------------------------------------------------------

cdef struct WMASt:
    i64 n, pos, since, period
    double sub      # the last n values
    double sum      # the last n values weighted 0 (oldest) .. n-1
    double div, dp


cdef inline i64 WMA_NRING(i64 period) noexcept nogil:
    return period


cdef inline void WMA_init(WMASt* s, i64 period) noexcept nogil:
    s.n = s.pos = s.since = 0
    s.period = period
    s.sub = s.sum = 0.0
    s.div = <double>((period * (period + 1)) // 2)
    s.dp = <double>period


cdef inline void wma_fresh(const double* w1, i64 n1, const double* w2, i64 n2, Py_ssize_t rs,
                           double* f) noexcept nogil:
    """f[0], f[1]: sub and sum summed afresh over the window w1[:n1] then
    w2[:n2] (oldest first; values rs apart)."""
    cdef double sub = 0.0, sm = 0.0
    cdef i64 j
    for j in range(n1):
        sub += w1[j * rs]
        sm += w1[j * rs] * <double>j
    for j in range(n2):
        sub += w2[j * rs]
        sm += w2[j * rs] * <double>(n1 + j)
    f[0] = sub
    f[1] = sm


cdef inline void wma_resum(WMASt* s, const double* w1, i64 n1, const double* w2, i64 n2,
                           Py_ssize_t rs) noexcept nogil:
    """sub and sum recomputed from the window w1[:n1] then w2[:n2] (oldest first)."""
    cdef double f[2]
    wma_fresh(w1, n1, w2, n2, rs, f)
    s.sub = f[0] + poison(s.sub)
    s.sum = f[1] + poison(s.sum)


cdef inline double wma_core(WMASt* s, double xx, double old) noexcept nogil:
    cdef double w = xx * s.dp, out
    s.sub += xx - old                   # each sum: one addition on its chain
    out = (s.sum + w) / s.div
    s.sum += w - s.sub
    return out


cdef inline void WMA_step_s(WMASt* s, double* ring, Py_ssize_t rs, const double* x, double* out) noexcept nogil:
    cdef double xx = x[0], old
    s.n += 1
    if s.period == 1:
        out[0] = xx
        return
    old = ring_push_s(ring, rs, &s.pos, s.period, xx)     # 0.0 until the ring is full
    if s.n < s.period:
        s.sub += xx
        s.sum += xx * <double>s.n
        out[0] = NAN
        return
    out[0] = wma_core(s, xx, old)
    s.since += 1
    if s.since == RESUM:
        s.since = 0
        wma_resum(s, ring + s.pos * rs, s.period - s.pos, ring, s.pos, rs)


cdef inline void WMA_step(WMASt* s, double* ring, const double* x, double* out) noexcept nogil:
    WMA_step_s(s, ring, 1, x, out)


cdef inline double wma_bar(double* sub, double* sm, double xx, double old, double dp,
                           double div) noexcept nogil:
    """wma_core with the state in the caller's registers: the output."""
    cdef double w = xx * dp, y
    sub[0] += xx - old
    y = (sm[0] + w) / div
    sm[0] += w - sub[0]
    return y


cdef inline int WMA_run(WMASt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    cdef const double* x = a[0]
    cdef double* y = o[0]
    cdef i64 p = s.period
    cdef Py_ssize_t i = 0, e, j
    cdef double sub, sm, div, dp, f0, f1
    cdef double fresh[2]
    cdef bint resum
    if p == 1:
        for j in range(n):
            y[j] = x[j]
        s.n += n
        return not admf_all_finite(x, n)
    while i < n and i < p:
        WMA_step(s, ring, &x[i], &y[i])
        i += 1
    s.n += n - i
    while i < n:
        e = i + (RESUM - s.since)
        if e > n:
            e = n
        resum = e - i == RESUM - s.since
        sub, sm, div, dp = s.sub, s.sum, s.div, s.dp
        if resum and e - i >= p:        # the re-sum inside the loop, over its last p bars
            f0 = f1 = 0.0               # (wma_fresh's order), as SMA_run's: WMA(200)
            for j in range(i, e - p):   # 1.17-1.24x TA-Lib's time with it first, one machine
                y[j] = wma_bar(&sub, &sm, x[j], x[j - p], dp, div)
            for j in range(e - p, e):
                y[j] = wma_bar(&sub, &sm, x[j], x[j - p], dp, div)
                f0 += x[j]
                f1 += x[j] * <double>(j - (e - p))
            fresh[0], fresh[1] = f0, f1
        else:
            if resum:
                wma_fresh(&x[e - p], p, x, 0, 1, fresh)
            for j in range(i, e):
                y[j] = wma_bar(&sub, &sm, x[j], x[j - p], dp, div)
        s.sub, s.sum = sub, sm
        s.since += e - i
        if s.since == RESUM:
            s.since = 0
            s.sub = fresh[0] + poison(sub)
            s.sum = fresh[1] + poison(sm)
        i = e
    if n > p:
        ring_refill(ring, &s.pos, p, x, n)
    if finite(s.sub) and finite(s.sum):
        return 0
    return not admf_all_finite(x, n)


# ---------------------------------------------------------------------------
# DEMA (2 * e1 - e2) and TEMA (e3 + (3 * e1 - 3 * e2)): EMAs of EMAs, every
# level seeded by the SMA of its first n values (TA-Lib)
# ---------------------------------------------------------------------------

cdef struct DEMASt:
    Ema e1, e2


cdef inline void DEMA_init(DEMASt* s, i64 period) noexcept nogil:
    ema_init(&s.e1, period)
    ema_init(&s.e2, period)


cdef inline void DEMA_step(DEMASt* s, double* ring, const double* x, double* out) noexcept nogil:
    cdef double e1 = ema_push(&s.e1, x[0]), e2
    out[0] = NAN
    if isnan(e1):
        return
    e2 = ema_push(&s.e2, e1)
    if not isnan(e2):
        out[0] = 2.0 * e1 - e2


cdef inline int DEMA_run(DEMASt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    cdef const double* x = a[0]
    cdef double* y = o[0]
    cdef Py_ssize_t i = 0, j
    cdef double v1, v2, k, k1
    while i < n and s.e2.n < s.e2.period:
        DEMA_step(s, ring, &x[i], &y[i])
        i += 1
    if i < n:
        v1, v2, k, k1 = s.e1.v, s.e2.v, s.e1.k, s.e1.k1
        for j in range(i, n):
            v1 = fma(v1, k1, x[j] * k)
            v2 = fma(v2, k1, v1 * k)
            y[j] = 2.0 * v1 - v2
        s.e1.v, s.e2.v = v1, v2
        s.e1.n += n - i
        s.e2.n += n - i
    if (finite(s.e1.sum) and finite(s.e2.sum) and (s.e1.n < s.e1.period or finite(s.e1.v))
            and (s.e2.n < s.e2.period or finite(s.e2.v))):
        return 0
    return not admf_all_finite(x, n)


cdef struct TEMASt:
    Ema e1, e2, e3


cdef inline void TEMA_init(TEMASt* s, i64 period) noexcept nogil:
    ema_init(&s.e1, period)
    ema_init(&s.e2, period)
    ema_init(&s.e3, period)


cdef inline double tema_next(double* v1, double* v2, double* v3, double k, double k1, double x) noexcept nogil:
    """One bar of TEMA once every EMA is seeded (its step's and run's loop body)."""
    v1[0] = fma(v1[0], k1, x * k)
    v2[0] = fma(v2[0], k1, v1[0] * k)
    v3[0] = fma(v3[0], k1, v2[0] * k)
    return v3[0] + ((3.0 * v1[0]) - (3.0 * v2[0]))


cdef inline void TEMA_step(TEMASt* s, double* ring, const double* x, double* out) noexcept nogil:
    cdef double e1, e2, e3, y
    if s.e3.n >= s.e3.period:           # every EMA seeded: the run's body, no branch per EMA
        e1, e2, e3 = s.e1.v, s.e2.v, s.e3.v
        y = tema_next(&e1, &e2, &e3, s.e1.k, s.e1.k1, x[0])
        s.e1.v, s.e2.v, s.e3.v = e1, e2, e3
        s.e1.n += 1
        s.e2.n += 1
        s.e3.n += 1
        out[0] = y
        return
    e1 = ema_push(&s.e1, x[0])
    out[0] = NAN
    if isnan(e1):
        return
    e2 = ema_push(&s.e2, e1)
    if isnan(e2):
        return
    e3 = ema_push(&s.e3, e2)
    if not isnan(e3):
        out[0] = e3 + ((3.0 * e1) - (3.0 * e2))


cdef inline int TEMA_run(TEMASt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    cdef const double* x = a[0]
    cdef double* y = o[0]
    cdef Py_ssize_t i = 0, j
    cdef double v1, v2, v3, k, k1
    while i < n and s.e3.n < s.e3.period:
        TEMA_step(s, ring, &x[i], &y[i])
        i += 1
    if i < n:
        v1, v2, v3, k, k1 = s.e1.v, s.e2.v, s.e3.v, s.e1.k, s.e1.k1
        for j in range(i, n):
            y[j] = tema_next(&v1, &v2, &v3, k, k1, x[j])
        s.e1.v, s.e2.v, s.e3.v = v1, v2, v3
        s.e1.n += n - i
        s.e2.n += n - i
        s.e3.n += n - i
    if (finite(s.e1.sum) and finite(s.e2.sum) and finite(s.e3.sum)
            and (s.e1.n < s.e1.period or finite(s.e1.v)) and (s.e2.n < s.e2.period or finite(s.e2.v))
            and (s.e3.n < s.e3.period or finite(s.e3.v))):
        return 0
    return not admf_all_finite(x, n)


# ---------------------------------------------------------------------------
# MACD (TA-Lib: both EMAs start at bar slow-1, the fast one seeded with the
# SMA of the fast values ending there; the signal is an EMA of the MACD;
# every output from bar slow+signal-2; fast and slow swapped when fast > slow)
# ---------------------------------------------------------------------------

cdef struct MACDSt:
    i64 n, lag     # bars seen; lag = slow - fast
    Ema fast, slow, sig


cdef inline void MACD_init(MACDSt* s, i64 fast, i64 slow, i64 signal) noexcept nogil:
    if slow < fast:
        fast, slow = slow, fast
    s.n = 0
    s.lag = slow - fast
    ema_init(&s.fast, fast)
    ema_init(&s.slow, slow)
    ema_init(&s.sig, signal)


cdef inline double macd_next(double* f, double* sl, double* g, double kf, double kf1, double ks, double ks1,
                             double kg, double kg1, double x) noexcept nogil:
    """One bar of MACD once the signal is seeded (its step's and run's loop
    body): the MACD line; f, sl and g (the signal) updated."""
    cdef double m
    sl[0] = fma(sl[0], ks1, x * ks)
    f[0] = fma(f[0], kf1, x * kf)
    m = f[0] - sl[0]
    g[0] = fma(g[0], kg1, m * kg)
    return m


cdef inline void MACD_step(MACDSt* s, double* ring, const double* x, double* out) noexcept nogil:
    cdef double f, sl, m, g
    if s.sig.n >= s.sig.period:         # seeded: the run's body, no branch per EMA
        f, sl, g = s.fast.v, s.slow.v, s.sig.v
        m = macd_next(&f, &sl, &g, s.fast.k, s.fast.k1, s.slow.k, s.slow.k1, s.sig.k, s.sig.k1, x[0])
        s.fast.v, s.slow.v, s.sig.v = f, sl, g
        s.n += 1
        s.fast.n += 1
        s.slow.n += 1
        s.sig.n += 1
        out[0] = m
        out[1] = g
        out[2] = m - g
        return
    s.n += 1
    out[0] = out[1] = out[2] = NAN
    sl = ema_push(&s.slow, x[0])
    if s.n <= s.lag:
        return
    f = ema_push(&s.fast, x[0])
    if isnan(sl):
        return
    m = f - sl
    g = ema_push(&s.sig, m)
    if isnan(g):
        return
    out[0] = m
    out[1] = g
    out[2] = m - g


cdef inline int MACD_run(MACDSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    cdef const double* x = a[0]
    cdef double* y0 = o[0]
    cdef double* y1 = o[1]
    cdef double* y2 = o[2]
    cdef double out[3]
    cdef Py_ssize_t i = 0, j
    cdef double f, sl, g, m, kf, kf1, ks, ks1, kg, kg1
    while i < n and s.sig.n < s.sig.period:
        MACD_step(s, ring, &x[i], out)
        y0[i], y1[i], y2[i] = out[0], out[1], out[2]
        i += 1
    if i < n:
        f, sl, g = s.fast.v, s.slow.v, s.sig.v
        kf, kf1, ks, ks1, kg, kg1 = s.fast.k, s.fast.k1, s.slow.k, s.slow.k1, s.sig.k, s.sig.k1
        for j in range(i, n):
            m = macd_next(&f, &sl, &g, kf, kf1, ks, ks1, kg, kg1, x[j])
            y0[j] = m
            y1[j] = g
            y2[j] = m - g
        s.fast.v, s.slow.v, s.sig.v = f, sl, g
        s.n += n - i
        s.fast.n += n - i
        s.slow.n += n - i
        s.sig.n += n - i
    if (finite(s.slow.sum) and (s.slow.n < s.slow.period or finite(s.slow.v))
            and (s.fast.n < s.fast.period or finite(s.fast.v))):
        return 0
    return not admf_all_finite(x, n)


# ---------------------------------------------------------------------------
# KAMA (TA-Lib ta_KAMA.c: efficiency ratio over n bars, fast 2, slow 30,
# seeded with x[n-1], first output at bar n; period 1 is the identity),
# lag ring of n; the sum of absolute changes is re-summed every RESUM bars
# ---------------------------------------------------------------------------

cdef struct KAMASt:
    i64 n, pos, since, period
    double last       # the previous value
    double trailing   # x[t-n-1] once t > n: its change leaves the sum next
    double sumroc, kama


cdef inline i64 KAMA_NRING(i64 period) noexcept nogil:
    return period


cdef inline void KAMA_init(KAMASt* s, i64 period) noexcept nogil:
    s.n = s.pos = s.since = 0
    s.period = period
    s.last = s.trailing = s.sumroc = 0.0
    s.kama = NAN


cdef inline double kama_core(KAMASt* s, double x, double old) noexcept nogil:
    """A bar past the seed: x enters, old = x[t-n]; trailing = x[t-n-1]."""
    s.sumroc += fabs(x - s.last) - fabs(s.trailing - old)     # one addition on the sum's chain
    s.trailing = old
    s.kama = fma(x - s.kama, kama_er(x, old, s.sumroc), s.kama)
    s.last = x
    return s.kama


cdef inline double kama_resum(double trailing, const double* w1, i64 n1, const double* w2, i64 n2,
                              Py_ssize_t rs, double old_sum) noexcept nogil:
    """The sum of |changes| over the window (w1[:n1] then w2[:n2], oldest
    first, preceded by trailing; values rs apart), as a fresh sum."""
    cdef double s = 0.0, prev = trailing
    cdef i64 j
    for j in range(n1):
        s += fabs(w1[j * rs] - prev)
        prev = w1[j * rs]
    for j in range(n2):
        s += fabs(w2[j * rs] - prev)
        prev = w2[j * rs]
    return s + poison(old_sum)


cdef inline void KAMA_step_s(KAMASt* s, double* ring, Py_ssize_t rs, const double* x,
                             double* out) noexcept nogil:
    cdef double xx = x[0], old
    cdef i64 t = s.n, p = s.period
    s.n += 1
    if t > p and p != 1:                # past the seed: the one test of a bar once warm
        old = ring_push_s(ring, rs, &s.pos, p, xx)          # x[t-n]
        out[0] = kama_core(s, xx, old)
        s.since += 1
        if s.since == RESUM:
            s.since = 0
            s.sumroc = kama_resum(s.trailing, ring + s.pos * rs, p - s.pos, ring, s.pos, rs, s.sumroc)
        return
    if p == 1:
        out[0] = xx
        return
    old = ring_push_s(ring, rs, &s.pos, p, xx)              # x[t-n] once t >= n
    out[0] = NAN
    if t == 0:
        s.last = xx
        return
    if t < p:
        s.sumroc += fabs(s.last - xx)
        s.last = xx
        return
    # t == p: the seed, then the first KAMA
    s.sumroc += fabs(s.last - xx)
    s.kama = s.last
    s.trailing = old
    s.kama = fma(xx - s.kama, kama_er(xx, old, s.sumroc), s.kama)
    s.last = xx
    out[0] = s.kama


cdef inline void KAMA_step(KAMASt* s, double* ring, const double* x, double* out) noexcept nogil:
    KAMA_step_s(s, ring, 1, x, out)


cdef inline int KAMA_run(KAMASt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    cdef const double* x = a[0]
    cdef double* y = o[0]
    cdef i64 p = s.period
    cdef Py_ssize_t i = 0, e, j
    cdef double fresh = 0.0
    if p == 1:
        for j in range(n):
            y[j] = x[j]
        s.n += n
        return not admf_all_finite(x, n)
    while i < n and (i < p or s.n <= p):
        KAMA_step(s, ring, &x[i], &y[i])
        i += 1
    s.n += n - i
    while i < n:
        e = i + (RESUM - s.since)
        if e > n:
            e = n
        if e - i == RESUM - s.since:    # the re-sum first: it overlaps the loop's chain
            fresh = kama_resum(x[e - 1 - p], &x[e - p], p, x, 0, 1, 0.0)
        if i == p:                      # x[i - p - 1] is before this array: the state's
            y[i] = kama_core(s, x[i], x[0])
            i += 1
            s.since += 1
        admf_kama_run(x, y, i, e, p, &s.sumroc, &s.kama)
        if e > i:
            s.trailing = x[e - 1 - p]
            s.last = x[e - 1]
        s.since += e - i
        if s.since == RESUM:
            s.since = 0
            s.sumroc = fresh + poison(s.sumroc)
        i = e
    if n > p:
        ring_refill(ring, &s.pos, p, x, n)
    if finite(s.sumroc) and finite(s.last) and (s.n <= p or finite(s.kama)):
        return 0
    return not admf_all_finite(x, n)


# ---------------------------------------------------------------------------
# RSI (TA-Lib: the means of the first n gains and losses, then Wilder's
# (avg * (n-1) + v) / n, written avg * a1 + v * inv; 100 * gain / (gain + loss),
# 0 when that sum is 0; first output at bar n)
# ---------------------------------------------------------------------------

cdef struct RSISt:
    i64 n, period
    double prev, gain, loss, a1, inv, dp


cdef inline void RSI_init(RSISt* s, i64 period) noexcept nogil:
    s.n = 0
    s.period = period
    s.prev = s.gain = s.loss = 0.0
    s.dp = <double>period
    s.a1 = (period - 1.0) / period
    s.inv = 1.0 / period


cdef inline double rsi_gain(double d) noexcept nogil:
    """A difference's gain (a NaN difference is kept: it poisons the sums)."""
    return 0.0 if d <= 0.0 else d


cdef inline double rsi_loss(double d, double up) noexcept nogil:
    """A difference's loss from its gain: 0.0 if d >= 0.0 else -d (NaN, not
    0.0, when d is +inf: the gains are inf then, every output NaN either way;
    the twin says the same), with no branch for GCC to make: it had turned
    that select into one beside the run's fma (0.0 * inv hoisted),
    mispredicted every other bar of a random walk."""
    return up - d


cdef inline void rsi_step(RSISt* s, const double* x, double* out, bint cmo) noexcept nogil:
    cdef double d, up, dn
    s.n += 1
    out[0] = NAN
    if s.n == 1:
        s.prev = x[0]
        return
    d = x[0] - s.prev
    s.prev = x[0]
    up = rsi_gain(d)
    dn = rsi_loss(d, up)
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
    out[0] = rsi_out(s.gain, s.loss, cmo)


cdef inline int rsi_run(RSISt* s, const double* x, double* y, Py_ssize_t n, bint cmo) noexcept nogil:
    """Steps through the seed; then the smoothed sums a chunk of RSI_CHUNK bars
    at a time into gl (gains, then losses), and the chunk's outputs packed
    (admf_rsi_out_block)."""
    cdef Py_ssize_t i = 0, j, c1
    cdef double prev, gain, loss, a1, inv, d, up, dn
    cdef double gl[2 * RSI_CHUNK]
    while i < n and s.n <= s.period:
        rsi_step(s, &x[i], &y[i], cmo)
        i += 1
    if i < n:
        prev, gain, loss, a1, inv = s.prev, s.gain, s.loss, s.a1, s.inv
        s.n += n - i
        while i < n:
            c1 = i + RSI_CHUNK if i + RSI_CHUNK < n else n
            for j in range(i, c1):
                d = x[j] - prev
                prev = x[j]
                up = rsi_gain(d)
                dn = rsi_loss(d, up)
                loss = fma(loss, a1, dn * inv)
                gain = fma(gain, a1, up * inv)
                gl[j - i] = gain
                gl[RSI_CHUNK + j - i] = loss
            admf_rsi_out_block(gl, gl + RSI_CHUNK, y + i, c1 - i, cmo)
            i = c1
        s.prev, s.gain, s.loss = prev, gain, loss
    # a non-finite input makes its difference, so the sums, non-finite for good
    # (the first bar's is the previous value of the next difference)
    if finite(s.gain) and finite(s.loss) and finite(s.prev):
        return 0
    return not admf_all_finite(x, n)


cdef inline void RSI_step(RSISt* s, double* ring, const double* x, double* out) noexcept nogil:
    rsi_step(s, x, out, False)


cdef inline int RSI_run(RSISt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    return rsi_run(s, a[0], o[0], n, False)


# ---------------------------------------------------------------------------
# StdDev and BollingerBands: sums of d = x - r and d*d around a reference r (a
# value of the data), so a high level does not cancel the variance; r is
# re-centred on the newest value, the window re-summed exactly, when the sum
# of squared deviations nears the rounding the running sums may hold
# (amortized O(1); exact zeros on a flat window).  Population deviation.
# ---------------------------------------------------------------------------

cdef struct VarSt:
    i64 k, pos, period   # values in the window (at most period); ring slot of the oldest
    double r             # the reference
    double s1, s2        # window sums of d and d*d
    double e             # error scale: the sum of s2 over the bars since the last re-centring
    double zn            # n * (1e-14 * r)^2: m2 at or below it is rounding noise (TA-Lib)
    double inv, nb, up, down


cdef inline void var_init(VarSt* s, i64 period) noexcept nogil:
    s.k = s.pos = 0
    s.period = period
    s.r = s.s1 = s.s2 = s.e = s.zn = 0.0
    s.inv = 1.0 / period
    s.nb = s.up = s.down = 1.0


cdef inline void var_resum(VarSt* s, const double* w1, i64 n1, const double* w2, i64 n2,
                           Py_ssize_t rs, double r) noexcept nogil:
    cdef i64 j
    cdef double s1 = 0.0, s2 = 0.0, d
    for j in range(n1):
        d = w1[j * rs] - r
        s1 += d
        s2 += d * d
    for j in range(n2):
        d = w2[j * rs] - r
        s1 += d
        s2 += d * d
    s.r = r
    s.zn = <double>(n1 + n2) * ((TA_EPS * r) * (TA_EPS * r))
    s.s1 = s1
    s.s2 = s2
    s.e = VAR_E0


cdef inline void var_roll(VarSt* s, double x, double xo) noexcept nogil:
    """x enters the full window, xo leaves it."""
    cdef double d = x - s.r
    cdef double do_ = xo - s.r
    s.s1 += d - do_
    s.s2 += d * d - do_ * do_
    s.e += s.s2


cdef inline bint var_push(VarSt* s, double* ring, Py_ssize_t rs, double x) noexcept nogil:
    """x enters the window (the ring of period values, rs apart); True once it is full."""
    cdef i64 n = s.period
    cdef double xo = ring_push_s(ring, rs, &s.pos, n, x), d
    if s.k == n:
        var_roll(s, x, xo)
        return True
    if s.k == 0:
        s.r = x
        s.zn = <double>n * ((TA_EPS * x) * (TA_EPS * x))
    d = x - s.r
    s.s1 += d
    s.s2 += d * d
    s.e += s.s2
    s.k += 1
    return s.k == n


cdef inline double var_m2(VarSt* s, const double* w1, i64 n1, const double* w2, i64 n2,
                          Py_ssize_t rs) noexcept nogil:
    """The window's sum of squared deviations from its mean, re-centring
    first when it nears the rounding (the window: w1[:n1] then w2[:n2],
    values rs apart)."""
    cdef double m2 = s.s2 - s.s1 * (s.s1 * s.inv)
    if m2 <= s.e * VAR_TRIG:
        var_resum(s, w1, n1, w2, n2, rs, w2[(n2 - 1) * rs] if n2 > 0 else w1[(n1 - 1) * rs])
        m2 = s.s2 - s.s1 * (s.s1 * s.inv)
    return m2


cdef inline double var_v(VarSt* s, double m2) noexcept nogil:
    """Population variance; below (1e-14 * level)^2 it is rounding noise: 0."""
    return 0.0 if m2 <= s.zn else m2 * s.inv


ctypedef VarSt StdDevSt
ctypedef VarSt BollingerBandsSt


cdef inline i64 StdDev_NRING(i64 period) noexcept nogil:
    return period


cdef inline void StdDev_init(StdDevSt* s, i64 period, double nbdev) noexcept nogil:
    var_init(s, period)
    s.nb = nbdev


cdef inline void StdDev_step_s(StdDevSt* s, double* ring, Py_ssize_t rs, const double* x,
                               double* out) noexcept nogil:
    cdef double m2
    # out stored once, on its path: a NaN stored first had to be kept, as
    # out may alias the state as far as GCC knows
    if var_push(s, ring, rs, x[0]):
        m2 = var_m2(s, ring + s.pos * rs, s.period - s.pos, ring, s.pos, rs)
        out[0] = admf_sqrt(var_v(s, m2)) * s.nb
    else:
        out[0] = NAN


cdef inline void StdDev_step(StdDevSt* s, double* ring, const double* x, double* out) noexcept nogil:
    StdDev_step_s(s, ring, 1, x, out)


cdef inline int StdDev_run(StdDevSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    cdef const double* x = a[0]
    cdef double* y = o[0]
    cdef i64 p = s.period
    cdef Py_ssize_t i = 0, i0, b, j
    cdef double blk[BLOCK]
    cdef StdDevSt st
    cdef i64 pos
    if not admf_all_finite(x, n):
        return 1
    while i < n and i < p:
        StdDev_step(s, ring, &x[i], &y[i])
        i += 1
    i0 = i
    st = s[0]               # a local copy: its fields stay in registers
    while i0 < n:           # blocks: the sums and variances, then the square roots (packed)
        b = n - i0 if n - i0 < BLOCK else BLOCK
        for j in range(i0, i0 + b):
            var_roll(&st, x[j], x[j - p])
            blk[j - i0] = var_v(&st, var_m2(&st, &x[j - p + 1], p, x, 0, 1))
        admf_sqrt_block(blk, &y[i0], b, st.nb)
        i0 += b
    pos = s.pos
    s[0] = st
    s.pos = pos
    if n > p:
        ring_refill(ring, &s.pos, p, x, n)
    return 0


cdef inline i64 BollingerBands_NRING(i64 period) noexcept nogil:
    return period


cdef inline void BollingerBands_init(BollingerBandsSt* s, i64 period, double up, double down) noexcept nogil:
    var_init(s, period)
    s.up = up
    s.down = down


cdef inline void BollingerBands_step_s(BollingerBandsSt* s, double* ring, Py_ssize_t rs, const double* x,
                                       double* out) noexcept nogil:
    cdef double m2, mid, sd
    if var_push(s, ring, rs, x[0]):     # out stored once (StdDev_step)
        m2 = var_m2(s, ring + s.pos * rs, s.period - s.pos, ring, s.pos, rs)
        mid = s.r + s.s1 * s.inv
        sd = admf_sqrt(var_v(s, m2))
        out[0] = mid + sd * s.up
        out[1] = mid
        out[2] = mid - sd * s.down
    else:
        out[0] = out[1] = out[2] = NAN


cdef inline void BollingerBands_step(BollingerBandsSt* s, double* ring, const double* x,
                                     double* out) noexcept nogil:
    BollingerBands_step_s(s, ring, 1, x, out)


cdef inline int BollingerBands_run(BollingerBandsSt* s, double* ring, const double** a, double** o,
                                   Py_ssize_t n) noexcept nogil:
    cdef const double* x = a[0]
    cdef i64 p = s.period
    cdef Py_ssize_t i = 0, i0, b, j
    cdef double blk[2 * BLOCK]
    cdef double out[3]
    cdef BollingerBandsSt st
    cdef i64 pos
    if not admf_all_finite(x, n):
        return 1
    while i < n and i < p:
        BollingerBands_step(s, ring, &x[i], out)
        o[0][i], o[1][i], o[2][i] = out[0], out[1], out[2]
        i += 1
    i0 = i
    st = s[0]               # a local copy: its fields stay in registers
    while i0 < n:           # blocks: sums, variances and means, then the bands (packed)
        b = n - i0 if n - i0 < BLOCK else BLOCK
        for j in range(i0, i0 + b):
            var_roll(&st, x[j], x[j - p])
            blk[j - i0] = var_v(&st, var_m2(&st, &x[j - p + 1], p, x, 0, 1))
            blk[BLOCK + j - i0] = st.r + st.s1 * st.inv
        admf_bb_block(blk, blk + BLOCK, &o[0][i0], &o[1][i0], &o[2][i0], b, st.up, st.down)
        i0 += b
    pos = s.pos
    s[0] = st
    s.pos = pos
    if n > p:
        ring_refill(ring, &s.pos, p, x, n)
    return 0


# ---------------------------------------------------------------------------
# RollingMax / RollingMin (TA-Lib MAX / MIN): a monotonic deque in the ring
# (slot j: its value in ring[2j], its bar index in ring[2j + 1]; every class
# with deques keeps them first in its ring, in its state's order: the
# pickled state's upgrades rely on it); the run uses van Herk / Gil-Werman
# block extremes once the window lies in the array, then rebuilds the deque
# from the last window.
#
# A window of at most SHORT_WINDOW bars is no deque but the window itself
# (``ext_add``): each value stored twice, in ring[head] and ring[head + n], so
# the window lies in a row, ring[head + 1 .. head + n] after the store; its
# extreme one maxsd / minsd a value, in bar order (window_max).  The deque's
# pops and its front's expiry were branches on the data, one mispredicted
# every bar or two; its ring's pairs, twice the bytes.  ``head`` is then the
# slot of the next value (k mod n) and ``size`` 0.  Stochastic and StochRSI
# (their windows: 5 bars by default) keep short windows so.  The others keep
# the deque for every window: Aroon needs the extreme's bar, and the test of
# the window's length cost the defaults of the rest more than it saved
# (WilliamsR's 14 bars: its bank update 5%; RollingMax's 30: 4%).
# ---------------------------------------------------------------------------

cdef struct DequeSt:
    i64 k, head, size, period   # index of the next value; ring slot of the front; length


cdef inline void deque_init(DequeSt* s, i64 period) noexcept nogil:
    s.k = s.head = s.size = 0
    s.period = period


cdef inline double deque_add(DequeSt* s, double* ring, double x, bint is_max) noexcept nogil:
    """x added to the deque of the last ``period`` values; returns its front's
    value (the extreme once ``period`` values came: deque_push).
    The state is read into locals and written back once."""
    cdef i64 n = s.period, head = s.head, size = s.size, k = s.k, back
    size = deque_keep(ring, head, size, n, x, is_max)  # drop what cannot be the extreme again
    if size > 0 and ring[2 * head + 1] <= <double>(k - n):  # the front left the window
        head += 1
        if head == n:
            head = 0
        size -= 1
    back = head + size
    if back >= n:
        back -= n
    ring[2 * back] = x
    ring[2 * back + 1] = <double>k      # the bar index, as a double (exact below 2**53)
    s.head = head
    s.size = size + 1
    s.k = k + 1
    return ring[2 * head]


cdef inline double window_add(DequeSt* s, double* ring, double x, bint is_max) noexcept nogil:
    """ext_add of a short window (period <= SHORT_WINDOW): x stored twice,
    the extreme of the last ``period`` values scanned (of the values seen
    so far and zeros while fewer came: the callers wait for the window)."""
    s.k += 1
    if is_max:
        return window_add_max(ring, &s.head, s.period, x)
    return window_add_min(ring, &s.head, s.period, x)


cdef inline double ext_add(DequeSt* s, double* ring, double x, bint is_max) noexcept nogil:
    """x added to the last ``period`` values: their extreme (as deque_add),
    from the window itself when it is short, else from the deque."""
    if s.period <= SHORT_WINDOW:
        return window_add(s, ring, x, is_max)
    return deque_add(s, ring, x, is_max)


cdef inline double deque_front_index(const DequeSt* s, const double* ring) noexcept nogil:
    """The bar index of the deque's extreme, as a double."""
    return ring[2 * s.head + 1]


cdef inline double deque_push(DequeSt* s, double* ring, double x, bint is_max) noexcept nogil:
    """The extreme of the last ``period`` values with x added (NaN before)."""
    cdef double front = deque_add(s, ring, x, is_max)
    return front if s.k >= s.period else NAN


cdef inline void ext_refill(DequeSt* s, double* ring, const double* x, Py_ssize_t n, i64 k,
                            bint is_max, bint windows=True) noexcept nogil:
    """The deque (or window: ``windows`` and a short one, as ext_add) as
    streaming the array's last values leaves it (k: the values pushed in
    all, n >= period)."""
    cdef i64 p = s.period
    cdef Py_ssize_t j
    s.size = 0
    s.k = k - p
    if windows and p <= SHORT_WINDOW:
        s.head = s.k % p                # a window's slots: the bars' indices mod p
        for j in range(n - p, n):
            window_add(s, ring, x[j], is_max)
    else:
        s.head = 0
        for j in range(n - p, n):
            deque_add(s, ring, x[j], is_max)


cdef inline int deque_run(DequeSt* s, double* ring, const double* x, double* y, Py_ssize_t n,
                          bint is_max) noexcept nogil:
    cdef i64 p = s.period, k0 = s.k
    cdef Py_ssize_t i = 0, m = n if n < p - 1 else p - 1
    cdef double* buf = NULL
    cdef int bad
    if n >= p:
        buf = <double*>scratch(2 * (p + 1) * sizeof(double))
        if buf == NULL:
            return RUN_NOMEM
    for i in range(m):                  # windows that reach into the previous bars
        y[i] = deque_push(s, ring, x[i], is_max)
    if n < p:
        return not admf_all_finite(x, n)
    if is_max:
        admf_vhgw_max(x, y, n, p, buf)
    else:
        admf_vhgw_min(x, y, n, p, buf)
    free(buf)
    bad = not admf_all_finite(x, n)
    ext_refill(s, ring, x, n, k0 + n, is_max, False)    # the last window, as streaming leaves it
    return bad


ctypedef DequeSt RollingMaxSt
ctypedef DequeSt RollingMinSt


cdef inline i64 RollingMax_NRING(i64 period) noexcept nogil:
    return 2 * period


cdef inline void RollingMax_init(RollingMaxSt* s, i64 period) noexcept nogil:
    deque_init(s, period)


cdef inline void RollingMax_step(RollingMaxSt* s, double* ring, const double* x, double* out) noexcept nogil:
    out[0] = deque_push(s, ring, x[0], True)


cdef inline int RollingMax_run(RollingMaxSt* s, double* ring, const double** a, double** o,
                               Py_ssize_t n) noexcept nogil:
    return deque_run(s, ring, a[0], o[0], n, True)


cdef inline i64 RollingMin_NRING(i64 period) noexcept nogil:
    return 2 * period


cdef inline void RollingMin_init(RollingMinSt* s, i64 period) noexcept nogil:
    deque_init(s, period)


cdef inline void RollingMin_step(RollingMinSt* s, double* ring, const double* x, double* out) noexcept nogil:
    out[0] = deque_push(s, ring, x[0], False)


cdef inline int RollingMin_run(RollingMinSt* s, double* ring, const double** a, double** o,
                               Py_ssize_t n) noexcept nogil:
    return deque_run(s, ring, a[0], o[0], n, False)


# ---------------------------------------------------------------------------
# ROC ((x / x[t-n] - 1) * 100, 0 when x[t-n] is 0) and Momentum (x - x[t-n]):
# lag ring of n; the run's differences are element-wise (vectorized)
# ---------------------------------------------------------------------------

cdef struct LagSt:
    i64 n, pos, period


ctypedef LagSt ROCSt
ctypedef LagSt MomentumSt


cdef inline void lag_init(LagSt* s, i64 period) noexcept nogil:
    s.n = s.pos = 0
    s.period = period


cdef inline double roc_of(double x, double old) noexcept nogil:
    cdef double r = ((x / old) - 1.0) * 100.0
    return r if old != 0.0 else 0.0


cdef inline i64 ROC_NRING(i64 period) noexcept nogil:
    return period


cdef inline void ROC_init(ROCSt* s, i64 period) noexcept nogil:
    lag_init(s, period)


cdef inline void ROC_step_s(ROCSt* s, double* ring, Py_ssize_t rs, const double* x, double* out) noexcept nogil:
    cdef double old = ring_push_s(ring, rs, &s.pos, s.period, x[0])
    s.n += 1
    out[0] = roc_of(x[0], old) if s.n > s.period else NAN


cdef inline void ROC_step(ROCSt* s, double* ring, const double* x, double* out) noexcept nogil:
    ROC_step_s(s, ring, 1, x, out)


cdef inline i64 Momentum_NRING(i64 period) noexcept nogil:
    return period


cdef inline void Momentum_init(MomentumSt* s, i64 period) noexcept nogil:
    lag_init(s, period)


cdef inline void Momentum_step_s(MomentumSt* s, double* ring, Py_ssize_t rs, const double* x,
                                 double* out) noexcept nogil:
    cdef double old = ring_push_s(ring, rs, &s.pos, s.period, x[0])
    s.n += 1
    out[0] = x[0] - old if s.n > s.period else NAN


cdef inline void Momentum_step(MomentumSt* s, double* ring, const double* x, double* out) noexcept nogil:
    Momentum_step_s(s, ring, 1, x, out)


cdef inline int lag_run(LagSt* s, double* ring, const double* x, double* y, Py_ssize_t n,
                        bint roc) noexcept nogil:
    cdef i64 p = s.period
    cdef Py_ssize_t i = 0
    cdef double out[1]
    cdef unsigned long long nf = admf_nf_run(x, n if n < p else p)
    while i < n and i < p:
        if roc:
            ROC_step(s, ring, &x[i], out)
        else:
            Momentum_step(s, ring, &x[i], out)
        y[i] = out[0]
        i += 1
    if i < n:
        nf |= admf_lag_roc(x, y, i, n, p) if roc else admf_lag_sub(x, y, i, n, p)
        s.n += n - i
        ring_refill(ring, &s.pos, p, x, n)
    return (nf >> 63) != 0


cdef inline int ROC_run(ROCSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    return lag_run(s, ring, a[0], o[0], n, True)


cdef inline int Momentum_run(MomentumSt* s, double* ring, const double** a, double** o,
                             Py_ssize_t n) noexcept nogil:
    return lag_run(s, ring, a[0], o[0], n, False)


# ---------------------------------------------------------------------------
# ATR (TA-Lib: true range from bar 1, the mean of the first n seeds the ATR at
# bar n, then Wilder's (atr * (n-1) + tr) / n, written atr * a1 + tr * inv;
# period 1: the true range)
# ---------------------------------------------------------------------------

cdef struct ATRSt:
    i64 n, period
    double pc, sum, atr, a1, inv, dp


cdef inline void ATR_init(ATRSt* s, i64 period) noexcept nogil:
    s.n = 0
    s.period = period
    s.pc = s.sum = 0.0
    s.atr = NAN
    s.dp = <double>period
    s.a1 = (period - 1.0) / period
    s.inv = 1.0 / period


cdef inline void ATR_step(ATRSt* s, double* ring, const double* x, double* out) noexcept nogil:
    cdef double tr
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


cdef inline bint rows_finite(const double** a, int nin, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """Every a[k][lo:hi] finite."""
    cdef int k
    for k in range(nin):
        if not admf_all_finite(a[k] + lo, hi - lo):
            return False
    return True


cdef inline int atr_run(ATRSt* s, double* ring, const double** a, double** o, Py_ssize_t n,
                        bint natr) noexcept nogil:
    """ATR's run (NATR's outputs when natr): the warm-up and the seed by
    steps, then admf_atr_run."""
    cdef const double* h = a[0]
    cdef const double* l = a[1]
    cdef const double* c = a[2]
    cdef double* y = o[0]
    cdef Py_ssize_t i = 0
    cdef double row[3]
    cdef unsigned long long nf
    while i < n and (s.n <= s.period or s.period == 1):     # the warm-up and the seed
        row[0], row[1], row[2] = h[i], l[i], c[i]
        if natr:
            NATR_step(s, ring, row, &y[i])
        else:
            ATR_step(s, ring, row, &y[i])
        i += 1
    if not rows_finite(a, 3, 0, i):
        return 1
    if i < n:                           # Wilder's branch: true ranges, then the recurrence
        nf = admf_atr_run(h + i, l + i, c + i, y + i, n - i, s.pc if i == 0 else c[i - 1],
                          &s.atr, s.a1, s.inv, natr)
        s.pc = c[n - 1]
        s.n += n - i
        return (nf >> 63) != 0
    return 0


cdef inline int ATR_run(ATRSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    return atr_run(s, ring, a, o, n, False)


# ---------------------------------------------------------------------------
# ADX (TA-Lib ta_ADX.c: +DM/-DM and TR summed over bars 1..n-1, then Wilder's
# s - s/n + today, written fma(s, a1, today); DX = 100 |+DI - -DI| / (+DI +
# -DI); the first ADX (bar 2n-1) is the mean of the first n DX, then
# (adx * (n-1) + dx) / n, written adx * a1 + dx * inv, kept when TR or
# +DI + -DI is 0)
# ---------------------------------------------------------------------------

cdef struct ADXSt:
    i64 n, period
    double ph, pl, pc, pdm, mdm, tr, sumdx, adx, dp, a1, inv


cdef inline void ADX_init(ADXSt* s, i64 period) noexcept nogil:
    s.n = 0
    s.period = period
    s.ph = s.pl = s.pc = s.pdm = s.mdm = s.tr = s.sumdx = 0.0
    s.adx = NAN
    s.dp = <double>period
    s.a1 = (period - 1.0) / period
    s.inv = 1.0 / period


cdef inline double adx_dx(double pdm, double mdm, double tr) noexcept nogil:
    """DX = 100 |+DI - -DI| / (+DI + -DI), NaN when TR or the sum is 0."""
    cdef double r, mdi, pdi, sm
    if tr == 0.0:
        return NAN
    r = 100.0 / tr
    mdi = mdm * r
    pdi = pdm * r
    sm = mdi + pdi
    return 100.0 * (fabs(mdi - pdi) / sm) if sm != 0.0 else NAN


cdef inline void ADX_step(ADXSt* s, double* ring, const double* x, double* out) noexcept nogil:
    cdef double h = x[0], l = x[1], c = x[2], pd, md, tr, dx
    cdef i64 t = s.n
    s.n += 1
    if t >= 2 * s.period:               # the steady state first: one test a bar once warm
        adx_dm(h - s.ph, s.pl - l, &pd, &md)
        tr = true_range(h, l, s.pc)
        s.ph, s.pl, s.pc = h, l, c
        s.pdm = fma(s.pdm, s.a1, pd)
        s.mdm = fma(s.mdm, s.a1, md)
        s.tr = fma(s.tr, s.a1, tr)
        dx = adx_dx(s.pdm, s.mdm, s.tr)
        if not isnan(dx):
            s.adx = fma(s.adx, s.a1, dx * s.inv)
        out[0] = s.adx
        return
    out[0] = NAN
    if t == 0:
        s.ph, s.pl, s.pc = h, l, c
        return
    adx_dm(h - s.ph, s.pl - l, &pd, &md)
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
        if not isnan(dx):
            s.sumdx += dx
        return
    if t == 2 * s.period - 1:
        if not isnan(dx):
            s.sumdx += dx
        s.adx = s.sumdx / s.dp
    elif not isnan(dx):
        s.adx = fma(s.adx, s.a1, dx * s.inv)
    out[0] = s.adx


cdef inline int ADX_run(ADXSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    cdef const double* h = a[0]
    cdef const double* l = a[1]
    cdef const double* c = a[2]
    cdef double* y = o[0]
    cdef double row[3]
    cdef Py_ssize_t i = 0, j
    cdef double ph, pl, pc, pdm, mdm, tr, adx, a1, inv, pd, md, dx, hj, lj
    if not rows_finite(a, 3, 0, n):
        return 1
    while i < n and s.n < 2 * s.period:          # up to and including the first ADX
        row[0], row[1], row[2] = h[i], l[i], c[i]
        ADX_step(s, ring, row, &y[i])
        i += 1
    if i < n:                                   # ADX_step's last branch, the state in registers
        ph, pl, pc, pdm, mdm, tr, adx = s.ph, s.pl, s.pc, s.pdm, s.mdm, s.tr, s.adx
        a1, inv = s.a1, s.inv
        for j in range(i, n):
            hj = h[j]
            lj = l[j]
            adx_dm(hj - ph, pl - lj, &pd, &md)
            ph = hj
            pl = lj
            pdm = fma(pdm, a1, pd)
            mdm = fma(mdm, a1, md)
            tr = fma(tr, a1, true_range(hj, lj, pc))
            pc = c[j]
            dx = adx_dx(pdm, mdm, tr)
            if not isnan(dx):
                adx = fma(adx, a1, dx * inv)
            y[j] = adx
        s.ph, s.pl, s.pc, s.pdm, s.mdm, s.tr, s.adx = ph, pl, pc, pdm, mdm, tr, adx
        s.n += n - i
    return 0


# ---------------------------------------------------------------------------
# Stochastic (TA-Lib STOCH with SMA slowing: fastK = (close - lowest low) /
# ((highest high - lowest low) / 100) over fastk bars, 0 when the range is ~0
# relative to the prices; slowk = SMA of fastK, slowd = SMA of slowk, TA-Lib's
# plain running totals).  The ring: the two deques (4 * fastk), then the two
# SMA windows (slowk + slowd).
# ---------------------------------------------------------------------------

cdef struct SmaPlain:
    i64 k, pos, period
    double total


cdef inline double sma_plain(SmaPlain* s, double* ring, double x) noexcept nogil:
    """TA-Lib's internal SMA (TA_INT_SMA): a plain running total."""
    cdef double t
    ring[s.pos] = x
    s.pos += 1
    if s.pos == s.period:
        s.pos = 0
    s.k += 1
    s.total += x
    if s.k < s.period:
        return NAN
    t = s.total
    s.total -= ring[s.pos]          # the oldest of the window, next to be replaced
    return t / <double>s.period


cdef struct StochasticSt:
    DequeSt hi, lo
    SmaPlain sk, sd


cdef inline i64 Stochastic_NRING(i64 fastk, i64 slowk, i64 slowd) noexcept nogil:
    return 4 * fastk + slowk + slowd


cdef inline void Stochastic_init(StochasticSt* s, i64 fastk, i64 slowk, i64 slowd) noexcept nogil:
    deque_init(&s.hi, fastk)
    deque_init(&s.lo, fastk)
    s.sk.k = s.sk.pos = 0
    s.sk.period = slowk
    s.sk.total = 0.0
    s.sd.k = s.sd.pos = 0
    s.sd.period = slowd
    s.sd.total = 0.0


cdef inline void Stochastic_step(StochasticSt* s, double* ring, const double* x, double* out) noexcept nogil:
    cdef i64 n = s.hi.period
    cdef double hh, ll, diff, k, sk, sd
    hh = ext_add(&s.hi, ring, x[0], True)
    ll = ext_add(&s.lo, ring + 2 * n, x[1], False)
    out[0] = out[1] = NAN
    if s.hi.k < n:
        return
    diff = (hh - ll) / 100.0
    if fabs(hh - ll) <= TA_EPS * (fabs(hh) + fabs(ll)):    # TA-Lib's scale-aware zero test
        k = 0.0
    else:
        k = (x[2] - ll) / diff
    sk = sma_plain(&s.sk, ring + 4 * n, k)
    if isnan(sk):
        return
    sd = sma_plain(&s.sd, ring + 4 * n + s.sk.period, sk)
    if isnan(sd):
        return
    out[0] = sk
    out[1] = sd


# The runs' window extremes over an array (RollingMax/Min, WilliamsR,
# Stochastic, StochRSI: admf_vhgw_max / _min; Aroon, which needs the
# extreme's bar: admf_age_max / _min) a block at a time, without a branch on
# the data (TA-Lib tracks the extreme's index and rescans the window when it
# leaves); then the deques rebuilt from the last window, as streaming leaves
# them.

cdef struct Windows:
    double* hi                  # the block's windows' highest and lowest: bar j0 + t's at hi[t], lo[t]
    double* lo
    double* buf
    Py_ssize_t B, p


cdef inline double* windows_alloc(Windows* w, i64 p, Py_ssize_t extra) noexcept nogil:
    """A run's scratch for the extremes of its p-bar windows, B bars at a
    time (4 BLOCK, or 4 p: the windows' overlap recomputed is at most a
    quarter), after ``extra`` doubles of the caller's: the allocation (the
    caller frees it), NULL when there is no memory."""
    cdef double* m
    w.p = p
    w.B = 4 * p if p > BLOCK else 4 * BLOCK
    m = <double*>scratch((extra + 2 * (w.B + p) + 2 * (p + 1)) * sizeof(double))
    if m != NULL:
        w.hi = m + extra + p - 1
        w.lo = w.hi + (w.B + p)
        w.buf = w.lo - (p - 1) + (w.B + p)
    return m


cdef inline Py_ssize_t windows_next(Windows* w, const double* H, const double* L, Py_ssize_t j0,
                                    Py_ssize_t n) noexcept nogil:
    """The next block, bars j0 .. j1 - 1 (j1 returned; j0 >= p - 1): the
    highest H and lowest L of each one's window into w.hi, w.lo
    (admf_vhgw_max / _min)."""
    cdef Py_ssize_t j1 = j0 + w.B if j0 + w.B < n else n
    admf_vhgw_max(H + j0 - w.p + 1, w.hi - (w.p - 1), j1 - j0 + w.p - 1, w.p, w.buf)
    admf_vhgw_min(L + j0 - w.p + 1, w.lo - (w.p - 1), j1 - j0 + w.p - 1, w.p, w.buf)
    return j1


cdef inline void deques_refill(DequeSt* hi, DequeSt* lo, double* ring_hi, double* ring_lo, const double* H,
                               const double* L, Py_ssize_t n, i64 k, bint windows=True) noexcept nogil:
    """The two deques (or windows) of hi.period bars as streaming the
    array's last ones leaves them (ext_refill)."""
    ext_refill(hi, ring_hi, H, n, k, True, windows)
    ext_refill(lo, ring_lo, L, n, k, False, windows)


cdef inline void stochastic_fast(StochasticSt* s, double* ring, const double* HH, const double* LL,
                                 const double* C, double** o, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """Stochastic_run's pass over bars i .. n - 1 (the outputs warm), their
    windows' extremes in HH[j - i] and LL[j - i]: fastK and the two running
    totals in registers."""
    cdef i64 p1 = s.sk.period, p2 = s.sd.period
    cdef double* r1 = ring + 4 * s.hi.period
    cdef double* r2 = r1 + p1
    cdef i64 q1, q2
    cdef Py_ssize_t j
    cdef double hh, ll, k, t1, t2, sk, sd
    q1, q2, t1, t2 = s.sk.pos, s.sd.pos, s.sk.total, s.sd.total
    for j in range(i, n):
        hh, ll = HH[j - i], LL[j - i]
        if fabs(hh - ll) <= TA_EPS * (fabs(hh) + fabs(ll)):    # Stochastic_step's fastK
            k = 0.0
        else:
            k = (C[j] - ll) / ((hh - ll) / 100.0)
        r1[q1] = k                              # sma_plain twice, the totals in registers
        q1 += 1
        if q1 == p1:
            q1 = 0
        t1 += k
        sk = t1 / <double>p1
        t1 -= r1[q1]
        r2[q2] = sk
        q2 += 1
        if q2 == p2:
            q2 = 0
        t2 += sk
        sd = t2 / <double>p2
        t2 -= r2[q2]
        o[0][j] = sk
        o[1][j] = sd
    s.sk.pos, s.sd.pos, s.sk.total, s.sd.total = q1, q2, t1, t2
    s.sk.k += n - i
    s.sd.k += n - i


cdef inline int Stochastic_run(StochasticSt* s, double* ring, const double** a, double** o,
                               Py_ssize_t n) noexcept nogil:
    """Steps while the windows reach into earlier bars or the outputs warm
    up; then, a block at a time, the windows' highest highs and lowest lows
    (windows_next: no branch on the data) and fastK and the two running
    totals over them; the deques rebuilt from the last window."""
    cdef const double* H = a[0]
    cdef const double* L = a[1]
    cdef const double* C = a[2]
    cdef i64 p = s.hi.period, p2 = s.sd.period
    cdef Py_ssize_t i = 0, j0, j1
    cdef double row[3]
    cdef double res[2]
    cdef Windows w
    cdef double* m
    if not rows_finite(a, 3, 0, n):
        return 1
    m = windows_alloc(&w, p, 0)
    if m == NULL:                       # before any step: nothing changed
        return RUN_NOMEM
    while i < n and (i < p - 1 or s.sd.k < p2):
        row[0], row[1], row[2] = H[i], L[i], C[i]
        Stochastic_step(s, ring, row, res)
        o[0][i], o[1][i] = res[0], res[1]
        i += 1
    j0 = i
    while j0 < n:
        j1 = windows_next(&w, H, L, j0, n)
        stochastic_fast(s, ring, w.hi, w.lo, C, o, j0, j1)
        j0 = j1
    free(m)
    if i < n:
        deques_refill(&s.hi, &s.lo, ring, ring + 2 * p, H, L, n, s.hi.k + (n - i))
    return 0


# ---------------------------------------------------------------------------
# OBV (TA-Lib: starts at the first bar's volume, then +/- the volume when the
# close rises / falls) and VWAP (cumulative sum(price * volume) / sum(volume)
# since construction or reset(), NaN while the volume sum is 0: plain sums,
# as numpy's cumsum)
# ---------------------------------------------------------------------------

cdef struct OBVSt:
    i64 n
    double prev, obv


cdef inline void OBV_init(OBVSt* s) noexcept nogil:
    s.n = 0
    s.prev = s.obv = 0.0


cdef inline void OBV_step(OBVSt* s, double* ring, const double* x, double* out) noexcept nogil:
    s.n += 1
    if s.n == 1:
        s.obv = x[1]
    else:
        s.obv += obv_delta(x[0], s.prev, x[1])
    s.prev = x[0]
    out[0] = s.obv


cdef inline int OBV_run(OBVSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    cdef unsigned long long nf = 0
    cdef Py_ssize_t i = 0
    cdef double row[2]
    if n and s.n == 0:                  # the first bar: the volume itself
        row[0], row[1] = a[0][0], a[1][0]
        OBV_step(s, ring, row, o[0])
        i = 1
        if not rows_finite(a, 2, 0, 1):
            return 1
    if i < n:                           # the changes, then their running sum
        nf = admf_obv_run(a[0] + i, a[1] + i, o[0] + i, n - i, s.prev, &s.obv)
        s.prev = a[0][n - 1]
        s.n += n - i
    return (nf >> 63) != 0


cdef struct VWAPSt:
    double pv, v


cdef inline void VWAP_init(VWAPSt* s) noexcept nogil:
    s.pv = s.v = 0.0


cdef inline void VWAP_step(VWAPSt* s, double* ring, const double* x, double* out) noexcept nogil:
    s.pv += x[0] * x[1]
    s.v += x[1]
    out[0] = s.pv / s.v if s.v != 0.0 else NAN


cdef inline int VWAP_run(VWAPSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    cdef const double* p = a[0]
    cdef const double* v = a[1]
    cdef double* y = o[0]
    cdef Py_ssize_t j
    cdef double pv = s.pv, vol = s.v
    for j in range(n):
        pv += p[j] * v[j]
        vol += v[j]
        y[j] = pv / vol if vol != 0.0 else NAN
    s.pv, s.v = pv, vol
    # a non-finite price or volume stays in a sum (or a sum overflowed)
    if finite(pv) and finite(vol):
        return 0
    return not rows_finite(a, 2, 0, n)


# ---------------------------------------------------------------------------
# The newer kernels (TA-Lib's fifteen of issue 14).  Each has a run of its own
# (CCI's since 2026-12-06: before, the template's steps, STEPS_ONLY in
# ``_indicators_classes.pxi.in``).
# ---------------------------------------------------------------------------

# TrueRange (TA-Lib TRANGE: the true range from bar 1)

cdef struct TrueRangeSt:
    i64 n
    double pc


cdef inline void TrueRange_init(TrueRangeSt* s) noexcept nogil:
    s.n = 0
    s.pc = 0.0


cdef inline void TrueRange_step(TrueRangeSt* s, double* ring, const double* x, double* out) noexcept nogil:
    s.n += 1
    out[0] = true_range(x[0], x[1], s.pc) if s.n > 1 else NAN
    s.pc = x[2]


cdef inline int TrueRange_run(TrueRangeSt* s, double* ring, const double** a, double** o,
                              Py_ssize_t n) noexcept nogil:
    """Element-wise (admf_trange_run): each bar reads the previous close from
    the array, and the inputs are checked on the way."""
    cdef double* y = o[0]
    if n == 0:
        return 0
    y[0] = true_range(a[0][0], a[1][0], s.pc) if s.n > 0 else NAN
    if admf_trange_run(a[0], a[1], a[2], y, n) >> 63:
        return 1
    s.n += n
    s.pc = a[2][n - 1]
    return 0


# NATR (TA-Lib NATR: ATR / close * 100, 0 where the close is 0.0; period 1:
# the true range itself, as TA-Lib)

ctypedef ATRSt NATRSt


cdef inline void NATR_init(NATRSt* s, i64 period) noexcept nogil:
    ATR_init(s, period)


cdef inline void NATR_step(NATRSt* s, double* ring, const double* x, double* out) noexcept nogil:
    ATR_step(s, ring, x, out)
    if s.period != 1 and not isnan(out[0]):
        out[0] = natr_of(out[0], x[2])


cdef inline int NATR_run(NATRSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    """ATR's run with NATR's outputs: the division beside the recurrence."""
    return atr_run(s, ring, a, o, n, True)


# WilliamsR (TA-Lib WILLR: the highest high and lowest low of the last n
# bars; TA-Lib's (hh - close) / ((hh - ll) / -100) as -100 * ((hh - close) /
# (hh - ll)), within an ulp or two of it and one division a bar, not two (a
# run's element-wise loop was bound by them); 0 when hh == ll): two deques,
# the highs' in ring[0:2n], the lows' in ring[2n:4n]

cdef struct WilliamsRSt:
    DequeSt hi
    DequeSt lo


cdef inline i64 WilliamsR_NRING(i64 period) noexcept nogil:
    return 4 * period


cdef inline void WilliamsR_init(WilliamsRSt* s, i64 period) noexcept nogil:
    deque_init(&s.hi, period)
    deque_init(&s.lo, period)


cdef inline void WilliamsR_step(WilliamsRSt* s, double* ring, const double* x, double* out) noexcept nogil:
    cdef i64 n = s.hi.period
    cdef double hh, ll, diff
    hh = deque_add(&s.hi, ring, x[0], True)
    ll = deque_add(&s.lo, ring + 2 * n, x[1], False)
    if s.hi.k < n:
        out[0] = NAN
        return
    diff = hh - ll
    out[0] = -100.0 * ((hh - x[2]) / diff) if diff != 0.0 else 0.0


cdef inline int WilliamsR_run(WilliamsRSt* s, double* ring, const double** a, double** o,
                              Py_ssize_t n) noexcept nogil:
    """Steps while the window reaches into earlier bars; then, a block at a
    time, the windows' highest highs and lowest lows (windows_next: no
    branch on the data, O(1) per bar) and the oscillator element-wise; the
    deques rebuilt from the last window."""
    cdef const double* H = a[0]
    cdef const double* L = a[1]
    cdef const double* C = a[2]
    cdef double* y = o[0]
    cdef i64 p = s.hi.period
    cdef Py_ssize_t i = 0, j, j0, j1
    cdef double x[3]
    cdef Windows w
    cdef double* m
    cdef double diff
    if not rows_finite(a, 3, 0, n):
        return 1
    m = windows_alloc(&w, p, 0)
    if m == NULL:
        return RUN_NOMEM
    while i < n and i < p - 1:
        x[0], x[1], x[2] = H[i], L[i], C[i]
        WilliamsR_step(s, ring, x, &y[i])
        i += 1
    j0 = i
    while j0 < n:
        j1 = windows_next(&w, H, L, j0, n)
        for j in range(j0, j1):         # WilliamsR_step's last lines
            diff = w.hi[j - j0] - w.lo[j - j0]
            y[j] = -100.0 * ((w.hi[j - j0] - C[j]) / diff) if diff != 0.0 else 0.0
        j0 = j1
    free(m)
    if i < n:
        deques_refill(&s.hi, &s.lo, ring, ring + 2 * p, H, L, n, s.hi.k + (n - i), False)
    return 0


# CMO (TA-Lib CMO: RSI's smoothed gains and losses; 100 * (gain - loss) /
# (gain + loss), 0 when that sum is 0)

ctypedef RSISt CMOSt


cdef inline void CMO_init(CMOSt* s, i64 period) noexcept nogil:
    RSI_init(s, period)


cdef inline void CMO_step(CMOSt* s, double* ring, const double* x, double* out) noexcept nogil:
    rsi_step(s, x, out, True)


cdef inline int CMO_run(CMOSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    return rsi_run(s, a[0], o[0], n, True)


# APO and PPO (TA-Lib APO/PPO with SMAs: fast - slow, and (fast - slow) / slow
# * 100, 0 where |slow| < TA_EPSILON; the periods swapped when slow < fast, as
# TA-Lib does): two SMAs, the fast one's ring first

cdef struct POSt:
    SMASt fast
    SMASt slow
    i64 pct


ctypedef POSt APOSt
ctypedef POSt PPOSt


cdef inline i64 po_nring(i64 fast, i64 slow) noexcept nogil:
    return SMA_NRING(fast) + SMA_NRING(slow)


cdef inline void po_init(POSt* s, i64 fast, i64 slow, bint pct) noexcept nogil:
    if slow < fast:
        fast, slow = slow, fast
    SMA_init(&s.fast, fast)
    SMA_init(&s.slow, slow)
    s.pct = pct


cdef inline void po_step_s(POSt* s, double* ring, Py_ssize_t rs, const double* x, double* out,
                           bint pct) noexcept nogil:
    """APO's (pct False) or PPO's step: the class's constant, where s.pct is
    the same flag for po_run."""
    cdef double f, sl
    sma_push(&s.fast, ring, rs, x[0], &f)              # both periods are 2 or more
    sma_push(&s.slow, ring + SMA_NRING(s.fast.period) * rs, rs, x[0], &sl)
    if isnan(sl):
        out[0] = NAN
    elif not pct:
        out[0] = f - sl
    else:
        out[0] = ((f - sl) / sl) * 100.0 if fabs(sl) >= TA_EPS else 0.0


cdef inline int po_run(POSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    """The two SMAs' runs (the slow one into a scratch array), then the
    difference element-wise."""
    cdef double* y = o[0]
    cdef double* sl
    cdef double* so[1]
    cdef Py_ssize_t i
    cdef int bad
    if n == 0:
        return 0
    sl = <double*>scratch(n * sizeof(double))
    if sl == NULL:
        return RUN_NOMEM
    so[0] = sl
    bad = SMA_run(&s.fast, ring, a, o, n)
    bad |= SMA_run(&s.slow, ring + SMA_NRING(s.fast.period), a, so, n)
    if s.pct:
        for i in range(n):
            y[i] = NAN if isnan(sl[i]) else (((y[i] - sl[i]) / sl[i]) * 100.0 if fabs(sl[i]) >= TA_EPS else 0.0)
    else:
        for i in range(n):
            y[i] = NAN if isnan(sl[i]) else y[i] - sl[i]
    free(sl)
    return bad


cdef inline i64 APO_NRING(i64 fast, i64 slow) noexcept nogil:
    return po_nring(fast, slow)


cdef inline void APO_init(APOSt* s, i64 fast, i64 slow) noexcept nogil:
    po_init(s, fast, slow, False)


cdef inline void APO_step_s(APOSt* s, double* ring, Py_ssize_t rs, const double* x, double* out) noexcept nogil:
    po_step_s(s, ring, rs, x, out, False)


cdef inline void APO_step(APOSt* s, double* ring, const double* x, double* out) noexcept nogil:
    po_step_s(s, ring, 1, x, out, False)


cdef inline int APO_run(APOSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    return po_run(s, ring, a, o, n)


cdef inline i64 PPO_NRING(i64 fast, i64 slow) noexcept nogil:
    return po_nring(fast, slow)


cdef inline void PPO_init(PPOSt* s, i64 fast, i64 slow) noexcept nogil:
    po_init(s, fast, slow, True)


cdef inline void PPO_step_s(PPOSt* s, double* ring, Py_ssize_t rs, const double* x, double* out) noexcept nogil:
    po_step_s(s, ring, rs, x, out, True)


cdef inline void PPO_step(PPOSt* s, double* ring, const double* x, double* out) noexcept nogil:
    po_step_s(s, ring, 1, x, out, True)


cdef inline int PPO_run(PPOSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    return po_run(s, ring, a, o, n)


# TRIMA (TA-Lib TRIMA: the SMA of an SMA, periods (n+1)/2 twice for an odd n,
# n/2 then n/2 + 1 for an even one): the outer SMA's ring after the inner's.
# The inner SMA keeps its sum undivided (dp 1.0) and the outer one divides by
# p1 * p2 (TA-Lib likewise scales its weighted sum once): one division a bar

cdef struct TRIMASt:
    SMASt a
    SMASt b


cdef inline i64 TRIMA_NRING(i64 period) noexcept nogil:
    return period + 1


cdef inline void TRIMA_init(TRIMASt* s, i64 period) noexcept nogil:
    SMA_init(&s.a, (period + 1) // 2 if period % 2 else period // 2)
    SMA_init(&s.b, (period + 1) // 2 if period % 2 else period // 2 + 1)
    s.b.dp = <double>(s.a.period * s.b.period)
    s.a.dp = 1.0


cdef inline void TRIMA_step_s(TRIMASt* s, double* ring, Py_ssize_t rs, const double* x,
                              double* out) noexcept nogil:
    cdef double m
    SMA_step_s(&s.a, ring, rs, x, &m)
    if isnan(m):
        out[0] = NAN
    else:
        SMA_step_s(&s.b, ring + s.a.period * rs, rs, &m, out)


cdef inline void TRIMA_step(TRIMASt* s, double* ring, const double* x, double* out) noexcept nogil:
    TRIMA_step_s(s, ring, 1, x, out)


cdef inline int trima_blocks(TRIMASt* s, double* ring, const double* x, double* y, Py_ssize_t n) noexcept nogil:
    """Periods with a 1 (an SMA that is the identity), or a restored state
    whose inner SMA divides: a block at a time, the inner SMA's run into a
    scratch array that stays in L1, then the outer one's over its values from
    the first that is not a warm-up NaN."""
    cdef double* m
    cdef const double* xi[1]
    cdef double* yo[1]
    cdef Py_ssize_t k0, i, j0, j1, B = 4 * BLOCK
    cdef int bad = 0
    m = <double*>scratch(B * sizeof(double))
    if m == NULL:
        return RUN_NOMEM
    j0 = 0
    while j0 < n:
        j1 = j0 + B if j0 + B < n else n
        k0 = 0                          # the inner SMA's warm-up NaNs in this block
        if s.a.period > 1 and s.a.n < s.a.period - 1:
            k0 = s.a.period - 1 - s.a.n
            k0 = j1 - j0 if k0 > j1 - j0 else k0
        xi[0] = x + j0
        yo[0] = m
        bad |= SMA_run(&s.a, ring, xi, yo, j1 - j0)
        for i in range(j0, j0 + k0):
            y[i] = NAN
        xi[0] = m + k0
        yo[0] = y + j0 + k0
        bad |= SMA_run(&s.b, ring + s.a.period, xi, yo, j1 - j0 - k0)
        j0 = j1
    free(m)
    return bad


cdef inline int TRIMA_run(TRIMASt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    """Steps until both SMAs are warm and the inner one's lagged values lie in
    the array; then both SMAs in one loop (their two addition chains overlap),
    the inner one's values a block at a time into a scratch array after the
    previous p2 (the outer one's lagged values), each re-summed exactly when
    its own count says, as SMA_run; the block's divisions by p1 * p2 after it,
    packed; the rings refilled from the arrays.  A state whose inner SMA
    divides (restored from a version before the undivided inner sum) runs as
    two SMA runs, which honour each one's divisor."""
    cdef const double* x = a[0]
    cdef double* y = o[0]
    cdef i64 p1 = s.a.period, p2 = s.b.period, ca, cb
    cdef Py_ssize_t i = 0, j, j0, j1, e, k, B = 4 * BLOCK
    cdef double* m
    cdef double t1, t2, d2 = s.b.dp
    if n == 0:
        return 0
    if p1 == 1 or p2 == 1 or s.a.dp != 1.0:
        return trima_blocks(s, ring, x, y, n)
    m = <double*>scratch((p2 + B) * sizeof(double))
    if m == NULL:
        return RUN_NOMEM
    while i < n and (i < p1 or s.a.n < p1 or s.b.n < p2):
        TRIMA_step(s, ring, &x[i], &y[i])
        i += 1
    if i == n:
        free(m)
        return not admf_all_finite(x, n)
    for k in range(p2):                 # the outer SMA's lagged values, oldest first
        m[k] = ring[p1 + (s.b.pos + k) % p2]
    t1, t2 = s.a.sum, s.b.sum
    ca, cb = s.a.n, s.b.n               # bars each has consumed before bar i
    j0 = i
    while True:
        j1 = j0 + B if j0 + B < n else n
        j = j0
        while j < j1:                   # up to the next re-sum of either
            e = j + (RESUM - (ca & (RESUM - 1)))
            k = j + (RESUM - (cb & (RESUM - 1)))
            e = k if k < e else e
            e = j1 if j1 < e else e
            k = p2 + (j - j0)
            for j in range(j, e):
                t1 += x[j] - x[j - p1]
                m[k] = t1
                t2 += t1 - m[k - p2]
                y[j] = t2
                k += 1
            j = e
            ca = s.a.n + (e - i)
            cb = s.b.n + (e - i)
            if (ca & (RESUM - 1)) == 0:
                t1 = arr_sum(&x[e - p1], p1) + poison(t1)
            if (cb & (RESUM - 1)) == 0:
                t2 = arr_sum(&m[k - p2], p2) + poison(t2)
        for j in range(j0, j1):         # the block's divisions, off the chains (packed)
            y[j] = y[j] / d2
        if j1 == n:
            break
        memmove(m, m + (j1 - j0), p2 * sizeof(double))     # the next block's lagged values
        j0 = j1
    s.a.sum, s.b.sum = t1, t2
    s.a.n += n - i
    s.b.n += n - i
    ring_refill(ring, &s.a.pos, p1, x, n)
    ring_refill(ring + p1, &s.b.pos, p2, m, p2 + (n - j0))
    free(m)
    if finite(t1) and finite(t2):       # a non-finite input stays in a sum (poison())
        return 0
    return not admf_all_finite(x, n)


# MFI (TA-Lib MFI: typical price (h + l + c) / 3, its money flow tp * volume
# counted positive or negative by the typical price's change, a change within
# TA_EPSILON of the two prices' scale counting as none; 100 * pos / (pos +
# neg) over the last n flows, 0 when that sum is 0, kept in [0, 100] as TA-Lib
# keeps it): running sums, re-summed exactly every RESUM bars, and counts of
# the nonzero flows, so a side without any is exactly 0 (TA-Lib's sums are
# exact): the positive flows in ring[0:n], the negative in ring[n:2n]

cdef struct MFISt:
    i64 n, pos, period, npos, nneg
    double prev, psum, nsum


cdef inline i64 MFI_NRING(i64 period) noexcept nogil:
    return 2 * period


cdef inline void MFI_init(MFISt* s, i64 period) noexcept nogil:
    s.n = s.pos = s.npos = s.nneg = 0
    s.period = period
    s.prev = s.psum = s.nsum = 0.0


cdef inline double mfi_out(double psum, double nsum, i64 npos, i64 nneg) noexcept nogil:
    cdef double ps = psum if npos else 0.0
    cdef double ns = nsum if nneg else 0.0
    cdef double t = ps + ns
    t = 100.0 * (ps / t) if t > 0.0 else 0.0
    return 100.0 if t > 100.0 else (0.0 if t < 0.0 else t)   # TA-Lib clamps (negative prices)


cdef inline void MFI_step_s(MFISt* s, double* ring, Py_ssize_t rs, const double* x, double* out) noexcept nogil:
    cdef i64 p = s.period
    cdef double tp = (x[0] + x[1] + x[2]) / 3.0
    cdef double d, f
    cdef double* rp = ring + s.pos * rs         # this bar's positive flow
    cdef double* rn = ring + (p + s.pos) * rs   # and negative one
    s.n += 1
    out[0] = NAN
    if s.n == 1:
        s.prev = tp
        return
    if s.n > p + 1:                     # the oldest flow leaves
        s.psum -= rp[0]
        s.nsum -= rn[0]
        s.npos -= rp[0] != 0.0
        s.nneg -= rn[0] != 0.0
    d = tp - s.prev
    f = tp * x[3]
    rp[0] = rn[0] = 0.0
    if fabs(d) > TA_EPS * (fabs(tp) + fabs(s.prev)):
        if d < 0.0:
            rn[0] = f
            s.nsum += f
            s.nneg += f != 0.0
        else:
            rp[0] = f
            s.psum += f
            s.npos += f != 0.0
    s.prev = tp
    s.pos += 1
    if s.pos == p:
        s.pos = 0
    if (s.n & (RESUM - 1)) == 0:        # the exact sums again (by the count: no counter of its own)
        s.psum = arr_sum_s(ring, rs, p) + poison(s.psum)
        s.nsum = arr_sum_s(ring + p * rs, rs, p) + poison(s.nsum)
    if s.n > p:
        out[0] = mfi_out(s.psum, s.nsum, s.npos, s.nneg)


cdef inline void MFI_step(MFISt* s, double* ring, const double* x, double* out) noexcept nogil:
    MFI_step_s(s, ring, 1, x, out)


cdef inline double slot_sum(const double* w, i64 p, i64 pos) noexcept nogil:
    """The sum a ring's re-sum takes (slot 0 first) of the last p values w[0:p]
    (oldest first) when the next slot to write is pos: slot m holds w[(m - pos)
    mod p]."""
    cdef double t = 0.0
    cdef i64 m
    for m in range(pos):
        t += w[p - pos + m]
    for m in range(pos, p):
        t += w[m - pos]
    return t


cdef inline int MFI_run(MFISt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    """Steps through the warm-up; then, a block at a time, the flows
    element-wise into scratch arrays after the previous p (selects, no
    branches), and the sums in registers as MFI_step keeps them, the leaving
    flows read back from the scratch and the re-sums taken in the ring's slot
    order; the ring refilled as the steps leave it."""
    cdef const double* H = a[0]
    cdef const double* L = a[1]
    cdef const double* C = a[2]
    cdef const double* V = a[3]
    cdef double* y = o[0]
    cdef i64 p = s.period, pos, cnt, lp, ln
    cdef Py_ssize_t i = 0, j0, j1, m, t, e, k, B = 4 * BLOCK
    cdef double x[4]
    cdef double* pf
    cdef double* nf
    cdef double* tpb
    cdef double prev, psum, nsum, tp, d, f
    cdef bint big
    if not rows_finite(a, 4, 0, n):
        return 1
    B = p if p > B else B               # the carried flows cost at most one copy per bar
    pf = <double*>scratch((3 * B + 2 * p + 1) * sizeof(double))
    if pf == NULL:
        return RUN_NOMEM
    while i < n and s.n <= p:
        x[0], x[1], x[2], x[3] = H[i], L[i], C[i], V[i]
        MFI_step(s, ring, x, &y[i])
        i += 1
    if i == n:
        free(pf)
        return 0
    nf = pf + (p + B)
    tpb = nf + (p + B)                  # tpb[0]: the previous typical price; tpb[1 + t]: bar j0 + t's
    pos, cnt, prev, psum, nsum = s.pos, s.n, s.prev, s.psum, s.nsum
    # each side's newest nonzero flow (a bar count; <= cnt - p: none in the
    # window) stands in for its count: one test per flow, none when it leaves
    lp = ln = cnt - p
    for t in range(p):                  # the ring's flows, oldest first: bar cnt - p + 1 + t
        m = pos + t
        m -= p if m >= p else 0
        pf[t] = ring[m]
        nf[t] = ring[p + m]
        lp = cnt - p + 1 + t if nonzero(pf[t]) else lp
        ln = cnt - p + 1 + t if nonzero(nf[t]) else ln
    j0 = i
    while True:
        j1 = j0 + B if j0 + B < n else n
        m = j1 - j0
        tpb[0] = prev
        for t in range(m):              # MFI_step's flows, element-wise (vectorized)
            tpb[1 + t] = (H[j0 + t] + L[j0 + t] + C[j0 + t]) / 3.0
        for t in range(m):
            tp = tpb[1 + t]
            d = tp - tpb[t]
            f = tp * V[j0 + t]
            big = fabs(d) > TA_EPS * (fabs(tp) + fabs(tpb[t]))
            pf[p + t] = f if big & (d >= 0.0) else 0.0
            nf[p + t] = f if big & (d < 0.0) else 0.0
        prev = tpb[m]
        t = 0
        while t < m:                    # up to the next re-sum
            e = t + (RESUM - (cnt & (RESUM - 1)))
            e = m if m < e else e
            for k in range(p + t, p + e):   # MFI_step's sums: the oldest flow leaves, the new one enters
                cnt += 1
                psum -= pf[k - p]
                f = pf[k]
                psum += f               # + 0.0 where no flow: psum is never -0.0, so the same bits
                lp = cnt if nonzero(f) else lp
                nsum -= nf[k - p]
                f = nf[k]
                nsum += f
                ln = cnt if nonzero(f) else ln
                y[j0 + k - p] = mfi_out(psum, nsum, lp > cnt - p, ln > cnt - p)
            if (cnt & (RESUM - 1)) == 0:    # the exact sums, in the ring's slot order
                k = (pos + (cnt - s.n)) % p
                psum = slot_sum(pf + e, p, k) + poison(psum)
                nsum = slot_sum(nf + e, p, k) + poison(nsum)
                y[j0 + e - 1] = mfi_out(psum, nsum, lp > cnt - p, ln > cnt - p)
            t = e
        if j1 == n:
            break
        memmove(pf, pf + m, p * sizeof(double))     # the next block's leaving flows
        memmove(nf, nf + m, p * sizeof(double))
        j0 = j1
    pos = (pos + (cnt - s.n)) % p
    for t in range(p):                  # the ring as the steps leave it: slot pos holds the oldest
        k = pos + t
        k -= p if k >= p else 0
        ring[k] = pf[m + t]
        ring[p + k] = nf[m + t]
    s.pos, s.n, s.prev, s.psum, s.nsum = pos, cnt, prev, psum, nsum
    s.npos = s.nneg = 0                 # the counts, from the ring
    for t in range(p):
        s.npos += nonzero(ring[t])
        s.nneg += nonzero(ring[p + t])
    free(pf)
    return 0


# ChaikinOscillator (TA-Lib ADOSC: the accumulation/distribution line, ad +=
# ((c - l) - (h - c)) / (h - l) * v where h > l; its fast EMA minus its slow
# EMA, both seeded with the first bar's ad, k = 2 / (n + 1) as fma(1 - k, ema,
# k * ad), the multiply-add TA-Lib's build fuses (measured: the same bits);
# first output after max(fast, slow) - 1 bars)

cdef struct ChaikinOscillatorSt:
    i64 n, lookback
    double ad, fast, slow, kf, kf1, ks, ks1


cdef inline void ChaikinOscillator_init(ChaikinOscillatorSt* s, i64 fast, i64 slow) noexcept nogil:
    s.n = 0
    s.lookback = (fast if fast > slow else slow) - 1
    s.ad = s.fast = s.slow = 0.0
    s.kf = 2.0 / (fast + 1.0)
    s.kf1 = 1.0 - s.kf
    s.ks = 2.0 / (slow + 1.0)
    s.ks1 = 1.0 - s.ks


cdef inline void ChaikinOscillator_step(ChaikinOscillatorSt* s, double* ring, const double* x,
                                        double* out) noexcept nogil:
    cdef double r = x[0] - x[1]
    if r > 0.0:
        s.ad += ad_inc(x[0], x[1], x[2], x[3], r)
    s.n += 1
    if s.n == 1:
        s.fast = s.slow = s.ad
    else:
        s.fast = fma(s.kf1, s.fast, s.kf * s.ad)
        s.slow = fma(s.ks1, s.slow, s.ks * s.ad)
    out[0] = s.fast - s.slow if s.n > s.lookback else NAN


cdef inline int ChaikinOscillator_run(ChaikinOscillatorSt* s, double* ring, const double** a, double** o,
                                      Py_ssize_t n) noexcept nogil:
    """Steps through the warm-up; then admf_adosc_run: the A/D line's
    increments four bars at a time (vectorized, the division and the inputs'
    finiteness too), and the line and both EMAs in registers."""
    cdef double* y = o[0]
    cdef Py_ssize_t i = 0
    cdef double x[4]
    cdef double st[3]
    cdef double k[4]
    cdef unsigned long long nf
    while i < n and s.n <= s.lookback:
        x[0], x[1], x[2], x[3] = a[0][i], a[1][i], a[2][i], a[3][i]
        ChaikinOscillator_step(s, ring, x, &y[i])
        i += 1
    if not rows_finite(a, 4, 0, i):
        return 1
    if i == n:
        return 0
    st[0], st[1], st[2] = s.ad, s.fast, s.slow
    k[0], k[1], k[2], k[3] = s.kf, s.kf1, s.ks, s.ks1
    nf = admf_adosc_run(a[0] + i, a[1] + i, a[2] + i, a[3] + i, y + i, n - i, st, k)
    s.ad, s.fast, s.slow = st[0], st[1], st[2]
    s.n += n - i
    return (nf >> 63) != 0


# Aroon (TA-Lib AROON: over the last n + 1 bars, the bars since the highest
# high and the lowest low (the latest of ties), (down, up) = 100 / n * (n -
# bars since)): two deques of n + 1, the highs' in ring[0:2(n+1)]

cdef struct AroonSt:
    DequeSt hi
    DequeSt lo
    i64 period


cdef inline i64 Aroon_NRING(i64 period) noexcept nogil:
    return 4 * (period + 1)


cdef inline void Aroon_init(AroonSt* s, i64 period) noexcept nogil:
    deque_init(&s.hi, period + 1)
    deque_init(&s.lo, period + 1)
    s.period = period


cdef inline void Aroon_step(AroonSt* s, double* ring, const double* x, double* out) noexcept nogil:
    cdef i64 w = s.period + 1
    cdef double today, factor
    deque_add(&s.hi, ring, x[0], True)
    deque_add(&s.lo, ring + 2 * w, x[1], False)
    if s.hi.k < w:
        out[0] = out[1] = NAN
        return
    today = <double>(s.hi.k - 1)
    factor = 100.0 / <double>s.period
    out[0] = factor * (<double>s.period - (today - deque_front_index(&s.lo, ring + 2 * w)))
    out[1] = factor * (<double>s.period - (today - deque_front_index(&s.hi, ring)))


cdef inline int Aroon_run(AroonSt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    """Steps while the window reaches into earlier bars; then, a block at a
    time, the extremes' ages by doubling (admf_age_max / _min: no branch on
    the data; TA-Lib tracks the indices, rescanning the window when one
    leaves it) and the outputs from them."""
    cdef const double* H = a[0]
    cdef const double* L = a[1]
    cdef i64 w = s.period + 1
    cdef Py_ssize_t i = 0, j, j0, j1, B = 4 * BLOCK
    cdef double x[2]
    cdef double out[2]
    cdef double* ah
    cdef double* al
    cdef double* buf
    cdef double factor = 100.0 / <double>s.period, dp = <double>s.period
    if not rows_finite(a, 2, 0, n):
        return 1
    B = 4 * w if 4 * w > B else B       # the windows' overlap recomputed: at most a quarter
    ah = <double*>scratch((2 * (B + w) + admf_age_buf(w)) * sizeof(double))
    if ah == NULL:                      # before any step: nothing changed
        return RUN_NOMEM
    al = ah + (B + w)
    buf = al + (B + w)
    while i < n and i < w - 1:
        x[0], x[1] = H[i], L[i]
        Aroon_step(s, ring, x, out)
        o[0][i], o[1][i] = out[0], out[1]
        i += 1
    j0 = i
    while j0 < n:                       # bars j0 .. j1 - 1: their windows from bar j0 - w + 1
        j1 = j0 + B if j0 + B < n else n
        admf_age_max(H + j0 - w + 1, ah, j1 - j0 + w - 1, w, buf)
        admf_age_min(L + j0 - w + 1, al, j1 - j0 + w - 1, w, buf)
        for j in range(j0, j1):
            o[0][j] = factor * (dp - al[j - j0 + w - 1])
            o[1][j] = factor * (dp - ah[j - j0 + w - 1])
        j0 = j1
    free(ah)
    if i < n:
        deques_refill(&s.hi, &s.lo, ring, ring + 2 * w, H, L, n, s.hi.k + (n - i), False)
    return 0


# CCI (TA-Lib CCI: typical price (h + l + c) / 3; its mean over the last n
# and the mean absolute deviation from that mean, both summed over the window
# in the ring's slot order as TA-Lib sums its circular buffer; (tp - mean) /
# (0.015 * deviation), 0 when either is within TA_EPSILON of the prices'
# scale): O(n) per bar, as TA-Lib.  The run: the typical prices into a
# scratch array (the ring's last p - 1 first), the windows summed from it in
# slot order (cci_windows), then the ring as the steps would leave it

cdef struct CCISt:
    i64 n, pos, period


cdef inline i64 CCI_NRING(i64 period) noexcept nogil:
    return period


cdef inline void CCI_init(CCISt* s, i64 period) noexcept nogil:
    s.n = s.pos = 0
    s.period = period


cdef inline double cci_out(double tp, double avg, double dev, double dp) noexcept nogil:
    """The output from the newest typical price, the window's mean and its
    summed absolute deviation."""
    cdef double d = tp - avg
    if fabs(d) <= TA_EPS * (fabs(tp) + fabs(avg)) or dev <= TA_EPS * fabs(avg) * dp:
        return 0.0                      # TA-Lib's zero tests, at the prices' scale
    return d / (0.015 * (dev / dp))


cdef inline void CCI_step(CCISt* s, double* ring, const double* x, double* out) noexcept nogil:
    cdef i64 p = s.period
    cdef double tp = (x[0] + x[1] + x[2]) / 3.0
    cdef double avg, dev
    ring[s.pos] = tp
    s.pos += 1
    if s.pos == p:
        s.pos = 0
    s.n += 1
    if s.n < p:
        out[0] = NAN
        return
    avg = arr_sum(ring, p) / <double>p
    dev = arr_absdev(ring, p, avg)
    out[0] = cci_out(tp, avg, dev, <double>p)


cdef inline void cci_windows(const double* T, double* y, Py_ssize_t m, i64 p, i64 pos) noexcept nogil:
    """CCI past its warm-up over an array of typical prices: bar t's window
    is T[t:t + p], its newest value in ring slot pos (pos + t wrapped for
    bar t), and both sums run in the ring's slot order, as the step's (and
    TA-Lib's circular buffer): slots 0 .. pos, T[t + p - 1 - pos:t + p],
    then slots pos + 1 .. p - 1, T[t:t + p - 1 - pos].  The first part of
    the mean's sum is the one the bar before summed, plus the newest value
    (pre: over slots 0 .. pos, begun again at slot 0), so only the second
    part is summed anew: about half the additions.  The deviation's terms
    depend on the bar's mean: both parts anew.  The step reads its ring
    right after storing the newest value in it, and a 16-byte pair load
    over that pending 8-byte store waits for it to reach the cache: each
    bar then waited for the last one.  Here every value was written before
    the loop, and the bars' sums overlap."""
    cdef double dp = <double>p, pre, avg, dev
    cdef const double* w
    cdef Py_ssize_t t
    cdef i64 n1
    pre = arr_sum(T + p - 1 - pos, pos)     # slots 0 .. pos - 1
    for t in range(m):
        w = T + t
        n1 = pos + 1
        pre = (0.0 if pos == 0 else pre) + w[p - 1]
        if p <= 16:                     # the branch goes the same way every bar
            avg = sum16_from(pre, w, p - n1) / dp
            dev = absdev16_from(absdev16_from(0.0, w + p - n1, n1, avg), w, p - n1, avg)
        else:
            avg = sum_from(pre, w, p - n1) / dp
            dev = absdev2(w + p - n1, n1, w, p - n1, avg)
        y[t] = cci_out(w[p - 1], avg, dev, dp)
        pos += 1
        if pos == p:
            pos = 0


cdef inline int CCI_run(CCISt* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    cdef const double* H = a[0]
    cdef const double* L = a[1]
    cdef const double* C = a[2]
    cdef i64 p = s.period, pos, k
    cdef Py_ssize_t i = 0, t, m
    cdef double* T
    cdef double x[3]
    if not rows_finite(a, 3, 0, n):
        return 1
    T = <double*>scratch((p - 1 + n) * sizeof(double))
    if T == NULL:
        return RUN_NOMEM
    while i < n and s.n < p - 1:        # the warm-up: until the ring holds p - 1 values
        x[0], x[1], x[2] = H[i], L[i], C[i]
        CCI_step(s, ring, x, &o[0][i])
        i += 1
    m = n - i
    if m > 0:
        pos = s.pos                     # the slot of the next value
        for k in range(1, p):           # the last p - 1 values, oldest first
            T[p - 1 - k] = ring[pos - k if pos >= k else pos - k + p]
        for t in range(m):
            T[p - 1 + t] = (H[i + t] + L[i + t] + C[i + t]) / 3.0
        cci_windows(T, o[0] + i, m, p, pos)
        pos = (pos + m) % p             # the slot of the next value, after m more
        for k in range(1, p + 1):       # the last p values back in their slots
            ring[pos - k if pos >= k else pos - k + p] = T[p - 1 + m - k]
        s.pos = pos
        s.n += m
    free(T)
    return 0


# T3 (TA-Lib T3: six EMAs chained, k = 2 / (n + 1) as fma(1 - k, e, k * x);
# e1 seeded with the mean of the first n inputs, each next one with the mean
# of its input's first n values (the seed and n - 1 updates), so the first
# output comes after 6 (n - 1) bars; c1 e6 + c2 e5 + c3 e4 + c4 e3 with
# Tillson's coefficients of the volume factor v, as fma(c4, e3, fma(c3, e4,
# fma(c1, e6, c2 * e5))): the multiply-adds TA-Lib's build fuses, measured
# to give its bits)

cdef struct T3St:
    i64 n, period
    double k, k1, sum, c1, c2, c3, c4
    double e1, e2, e3, e4, e5, e6


cdef inline void T3_init(T3St* s, i64 period, double v) noexcept nogil:
    cdef double t = v * v
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


cdef inline double t3_out(T3St* s) noexcept nogil:
    return fma(s.c4, s.e3, fma(s.c3, s.e4, fma(s.c1, s.e6, s.c2 * s.e5)))


cdef inline double t3_push(T3St* s, double x, i64 levels) noexcept nogil:
    """Update e1 .. e<levels> with x; the last one updated."""
    s.e1 = fma(s.k1, s.e1, s.k * x)
    if levels == 1:
        return s.e1
    s.e2 = fma(s.k1, s.e2, s.k * s.e1)
    if levels == 2:
        return s.e2
    s.e3 = fma(s.k1, s.e3, s.k * s.e2)
    if levels == 3:
        return s.e3
    s.e4 = fma(s.k1, s.e4, s.k * s.e3)
    if levels == 4:
        return s.e4
    s.e5 = fma(s.k1, s.e5, s.k * s.e4)
    if levels == 5:
        return s.e5
    s.e6 = fma(s.k1, s.e6, s.k * s.e5)
    return s.e6


cdef inline void t3_seed(T3St* s, i64 level, double v) noexcept nogil:
    """e<level> = v."""
    if level == 2:
        s.e2 = v
    elif level == 3:
        s.e3 = v
    elif level == 4:
        s.e4 = v
    elif level == 5:
        s.e5 = v
    else:
        s.e6 = v


cdef inline void T3_step(T3St* s, double* ring, const double* x, double* out) noexcept nogil:
    cdef i64 p = s.period, m, stage
    s.n += 1
    m = s.n - p
    if p > 1 and m > 5 * (p - 1):       # every level seeded (the common case, first)
        t3_push(s, x[0], 6)
        out[0] = t3_out(s)
        return
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
    stage = (m - 1) // (p - 1) + 1      # 1 .. 5: seeding e2 .. e6
    s.sum += t3_push(s, x[0], stage)
    if m % (p - 1) == 0:                # the stage's last bar: the next level's seed
        t3_seed(s, stage + 1, s.sum / p)
        s.sum = s.sum / p
        if stage == 5:
            out[0] = t3_out(s)


cdef inline int T3_run(T3St* s, double* ring, const double** a, double** o, Py_ssize_t n) noexcept nogil:
    """Steps through the staged seeding, then the six EMAs in registers
    (admf_t3_run)."""
    cdef const double* x = a[0]
    cdef double* y = o[0]
    cdef i64 p = s.period
    cdef Py_ssize_t i = 0
    cdef double e[6]
    while i < n and (p == 1 or s.n < 6 * p - 5):
        T3_step(s, ring, &x[i], &y[i])
        i += 1
    if i < n:
        e[0], e[1], e[2], e[3], e[4], e[5] = s.e1, s.e2, s.e3, s.e4, s.e5, s.e6
        admf_t3_run(x + i, y + i, n - i, e, s.k, s.k1, s.c1, s.c2, s.c3, s.c4)
        s.e1, s.e2, s.e3, s.e4, s.e5, s.e6 = e[0], e[1], e[2], e[3], e[4], e[5]
        s.n += n - i
    return not admf_all_finite(x, n)


# ParabolicSAR (TA-Lib SAR: the first direction from the second bar's -DM
# (short when the low fell by more than the high rose), the SAR starting at the
# first bar's extreme and the extreme point at the second's; each bar outputs
# the SAR, then moves the extreme point and the acceleration factor (by
# ``acceleration``, up to ``maximum``; ``acceleration`` itself capped at
# ``maximum``, as TA-Lib) and the SAR, sar + af (ep - sar) as fma(af, ep -
# sar, sar) (TA-Lib's build contracts it: measured), kept out of the last two
# bars' range; a bar crossing the SAR reverses it at the extreme point)

cdef struct ParabolicSARSt:
    i64 n, is_long
    double acc, mx, af, ep, sar, ph, pl


cdef inline void ParabolicSAR_init(ParabolicSARSt* s, double acc, double mx) noexcept nogil:
    s.n = 0
    s.is_long = 1
    s.acc = acc if acc <= mx else mx
    s.mx = mx
    s.af = s.acc
    s.ep = s.sar = s.ph = s.pl = 0.0


cdef inline double sar_bar(ParabolicSARSt* s, double h, double l) noexcept nogil:
    """One bar from the third on: the SAR to output; the next one in s.sar."""
    cdef double ph = s.ph, pl = s.pl, sar, out
    s.ph, s.pl = h, l
    if s.is_long:
        if l <= s.sar:                  # reversal to short: the SAR jumps to the extreme point
            s.is_long = 0
            sar = s.ep
            sar = ph if sar < ph else sar
            sar = h if sar < h else sar
            out = sar
            s.af = s.acc
            s.ep = l
            sar = fma(s.af, s.ep - sar, sar)
            sar = ph if sar < ph else sar
            sar = h if sar < h else sar
        else:
            out = s.sar
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
        out = sar
        s.af = s.acc
        s.ep = h
        sar = fma(s.af, s.ep - sar, sar)
        sar = pl if sar > pl else sar
        sar = l if sar > l else sar
    else:
        out = s.sar
        if l < s.ep:
            s.ep = l
            s.af += s.acc
            s.af = s.mx if s.af > s.mx else s.af
        sar = fma(s.af, s.ep - s.sar, s.sar)
        sar = ph if sar < ph else sar
        sar = h if sar < h else sar
    s.sar = sar
    return out


cdef inline void ParabolicSAR_step(ParabolicSARSt* s, double* ring, const double* x, double* out) noexcept nogil:
    cdef double h = x[0], l = x[1], dm
    s.n += 1
    if s.n == 1:
        s.ph, s.pl = h, l
        out[0] = NAN
        return
    if s.n == 2:                        # TA-Lib: -DM of period 1 decides; ep and sar from the two bars
        dm = s.pl - l
        s.is_long = not (dm > 0.0 and h - s.ph < dm)
        s.ep, s.sar = (h, s.pl) if s.is_long else (l, s.ph)
        s.ph, s.pl = h, l               # the first bar's "previous" range is its own
    out[0] = sar_bar(s, h, l)


cdef inline void sar_bars(ParabolicSARSt* s, const double* H, const double* L, double* y, Py_ssize_t j,
                          Py_ssize_t e) noexcept nogil:
    """sar_bar over bars j .. e - 1 (j >= 1: the previous bar's range read from
    the arrays) in registers: a loop per trend, each reversal between them."""
    cdef double sar = s.sar, ep = s.ep, af = s.af, acc = s.acc, mx = s.mx, h, l, t
    cdef bint up = s.is_long
    while j < e:
        if up:
            while j < e:
                l = L[j]
                if l <= sar:
                    break
                h = H[j]
                y[j] = sar
                t = af + acc            # a new extreme: selects, not a branch (it is taken at random)
                t = mx if t > mx else t
                af = t if h > ep else af
                ep = h if h > ep else ep
                t = fma(af, ep - sar, sar)
                t = L[j - 1] if t > L[j - 1] else t
                sar = l if t > l else t
                j += 1
            if j == e:
                break
            up = False                  # reversal to short: the SAR jumps to the extreme point
            h = H[j]
            t = H[j - 1] if ep < H[j - 1] else ep
            t = h if t < h else t
            y[j] = t
            af = acc
            ep = l
            t = fma(af, ep - t, t)
            t = H[j - 1] if t < H[j - 1] else t
            sar = h if t < h else t
        else:
            while j < e:
                h = H[j]
                if h >= sar:
                    break
                l = L[j]
                y[j] = sar
                t = af + acc
                t = mx if t > mx else t
                af = t if l < ep else af
                ep = l if l < ep else ep
                t = fma(af, ep - sar, sar)
                t = H[j - 1] if t < H[j - 1] else t
                sar = h if t < h else t
                j += 1
            if j == e:
                break
            up = True                   # reversal to long
            l = L[j]
            t = L[j - 1] if ep > L[j - 1] else ep
            t = l if t > l else t
            y[j] = t
            af = acc
            ep = h
            t = fma(af, ep - t, t)
            t = L[j - 1] if t > L[j - 1] else t
            sar = l if t > l else t
        j += 1
    s.sar, s.ep, s.af, s.is_long = sar, ep, af, up
    s.ph, s.pl = H[e - 1], L[e - 1]


cdef inline int ParabolicSAR_run(ParabolicSARSt* s, double* ring, const double** a, double** o,
                                 Py_ssize_t n) noexcept nogil:
    """The first two bars stepped; then, a block at a time, its inputs checked
    and read again from L1, sar_bars on a local copy of the state."""
    cdef const double* H = a[0]
    cdef const double* L = a[1]
    cdef double* y = o[0]
    cdef Py_ssize_t i = 0, j, j0, j1
    cdef double x[2]
    cdef ParabolicSARSt st
    while i < n and s.n < 2:
        x[0], x[1] = H[i], L[i]
        ParabolicSAR_step(s, ring, x, &y[i])
        i += 1
    st = s[0]
    j0 = i
    while j0 < n:
        j1 = j0 + 4 * BLOCK if j0 + 4 * BLOCK < n else n
        if not rows_finite(a, 2, j0, j1):
            return 1
        j = j0
        if j == 0:                      # the previous bar's range is in the state
            y[0] = sar_bar(&st, H[0], L[0])
            j = 1
        if j < j1:
            sar_bars(&st, H, L, y, j, j1)
        j0 = j1
    st.n += n - i
    s[0] = st
    return not rows_finite(a, 2, 0, i)


# StochRSI (TA-Lib STOCHRSI with an SMA fastD: the RSI, then TA-Lib's STOCHF
# of it, fastK over ``fastk`` RSIs with Stochastic's scale-aware zero test,
# fastD the SMA of ``fastd`` fastKs (TA-Lib's plain running total); both
# outputs from bar period + fastk + fastd - 2, as TA-Lib): the two deques (4 *
# fastk), then fastD's window

cdef struct StochRSISt:
    RSISt rsi
    DequeSt hi, lo
    SmaPlain d


cdef inline i64 StochRSI_NRING(i64 period, i64 fastk, i64 fastd) noexcept nogil:
    return 4 * fastk + fastd


cdef inline void StochRSI_init(StochRSISt* s, i64 period, i64 fastk, i64 fastd) noexcept nogil:
    RSI_init(&s.rsi, period)
    deque_init(&s.hi, fastk)
    deque_init(&s.lo, fastk)
    s.d.k = s.d.pos = 0
    s.d.period = fastd
    s.d.total = 0.0


cdef inline void stochrsi_k(StochRSISt* s, double* ring, double r, double* out) noexcept nogil:
    """An RSI value into STOCHF: (fastk, fastd), NaN until both are ready."""
    cdef i64 n = s.hi.period
    cdef double hh, ll, k, d
    out[0] = out[1] = NAN
    hh = ext_add(&s.hi, ring, r, True)
    ll = ext_add(&s.lo, ring + 2 * n, r, False)
    if s.hi.k < n:
        return
    if fabs(hh - ll) <= TA_EPS * (fabs(hh) + fabs(ll)):    # Stochastic's fastK
        k = 0.0
    else:
        k = (r - ll) / ((hh - ll) / 100.0)
    d = sma_plain(&s.d, ring + 4 * n, k)
    if not isnan(d):
        out[0] = k
        out[1] = d


cdef inline void StochRSI_step(StochRSISt* s, double* ring, const double* x, double* out) noexcept nogil:
    cdef double r
    rsi_step(&s.rsi, x, &r, False)
    if isnan(r):
        out[0] = out[1] = NAN
    else:
        stochrsi_k(s, ring, r, out)


cdef inline void stochrsi_fast(StochRSISt* s, double* ring, const double* HH, const double* LL,
                               const double* R, double** o, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """StochRSI_run's pass over RSIs i .. n - 1 (fastD warm), their windows'
    extremes in HH[j - i] and LL[j - i]: fastK and fastD's total in
    registers."""
    cdef double* y0 = o[0]
    cdef double* y1 = o[1]
    cdef i64 fd = s.d.period
    cdef double* rd = ring + 4 * s.hi.period
    cdef i64 q
    cdef Py_ssize_t j
    cdef double hh, ll, k, t
    q, t = s.d.pos, s.d.total
    for j in range(i, n):
        hh, ll = HH[j - i], LL[j - i]
        if fabs(hh - ll) <= TA_EPS * (fabs(hh) + fabs(ll)):
            k = 0.0
        else:
            k = (R[j] - ll) / ((hh - ll) / 100.0)
        rd[q] = k                       # sma_plain, the total in a register
        q += 1
        if q == fd:
            q = 0
        t += k
        y0[j] = k
        y1[j] = t / <double>fd
        t -= rd[q]
    s.d.pos, s.d.total = q, t
    s.d.k += n - i


cdef inline int StochRSI_run(StochRSISt* s, double* ring, const double** a, double** o,
                             Py_ssize_t n) noexcept nogil:
    """RSI's run into a scratch array; STOCHF stepped over its values while its
    window reaches into earlier ones or fastD warms up; then, a block at a
    time, the windows' extremes (windows_next, as Stochastic_run's) and
    fastK and fastD's total over them."""
    cdef double* R
    cdef double* y0 = o[0]
    cdef double* y1 = o[1]
    cdef i64 fk = s.hi.period, fd = s.d.period
    cdef Py_ssize_t i, k0, j0, j1
    cdef double out[2]
    cdef Windows w
    if n == 0:
        return 0
    R = windows_alloc(&w, fk, n)        # the RSIs, then the windows' scratch
    if R == NULL:                       # before any change
        return RUN_NOMEM
    k0 = 0 if s.rsi.n >= s.rsi.period else s.rsi.period - s.rsi.n      # RSI's first value here
    if rsi_run(&s.rsi, a[0], R, n, False):
        free(R)
        return 1
    k0 = n if k0 > n else k0
    for i in range(k0):
        y0[i] = y1[i] = NAN
    i = k0
    while i < n and (i < k0 + fk - 1 or s.d.k < fd):
        stochrsi_k(s, ring, R[i], out)
        y0[i], y1[i] = out[0], out[1]
        i += 1
    j0 = i
    while j0 < n:
        j1 = windows_next(&w, R, R, j0, n)
        stochrsi_fast(s, ring, w.hi, w.lo, R, o, j0, j1)
        j0 = j1
    if i < n:
        deques_refill(&s.hi, &s.lo, ring, ring + 2 * fk, R, R, n, s.hi.k + (n - i))
    free(R)
    return 0


# UltimateOscillator (TA-Lib ULTOSC: the periods sorted, the shortest weighted
# 4, the middle 2, the longest 1; from bar 1 the terms close - min(low,
# previous close) and the true range; each period's sums TA-Lib's plain running
# totals, a window's first term added at bar longest - period + 1; 100 * (4 a1
# / b1 + 2 a2 / b2 + a3 / b3) / 7, a ratio left out unless its b is above 0;
# first output at bar longest): the terms of the longest window, close's in
# ring[0:p3], the true ranges' in ring[p3:2 p3]. A window that holds no
# nonzero true range (nz: the last bar with one) has its totals set to exact
# zeros before the ratios, as TA-Lib's are: a flat window never divides one
# rounding residue by another.

cdef struct UltimateOscillatorSt:
    i64 n, pos, p1, p2, p3, nz
    double pc, a1, a2, a3, b1, b2, b3


cdef inline i64 UltimateOscillator_NRING(i64 p1, i64 p2, i64 p3) noexcept nogil:
    return 2 * (p1 if p1 >= p2 and p1 >= p3 else (p2 if p2 >= p3 else p3))


cdef inline void UltimateOscillator_init(UltimateOscillatorSt* s, i64 p1, i64 p2, i64 p3) noexcept nogil:
    if p1 > p2:
        p1, p2 = p2, p1
    if p2 > p3:
        p2, p3 = p3, p2
    if p1 > p2:
        p1, p2 = p2, p1
    s.p1, s.p2, s.p3 = p1, p2, p3
    s.n = s.pos = s.nz = 0
    s.pc = s.a1 = s.a2 = s.a3 = s.b1 = s.b2 = s.b3 = 0.0


cdef inline void ult_flat(UltimateOscillatorSt* s, i64 nz, i64 t, double* a1, double* b1, double* a2,
                          double* b2, double* a3, double* b3) noexcept nogil:
    """Exact zeros for the totals of each window ending at bar t that holds
    no nonzero true range (the last one at bar nz); the shortest is one."""
    a1[0] = b1[0] = 0.0
    if nz <= t - s.p2:
        a2[0] = b2[0] = 0.0
    if nz <= t - s.p3:
        a3[0] = b3[0] = 0.0


cdef inline void UltimateOscillator_step_s(UltimateOscillatorSt* s, double* ring, Py_ssize_t rs,
                                           const double* x, double* out) noexcept nogil:
    cdef i64 t = s.n, p3 = s.p3, j
    cdef double pc = s.pc, cm, tr, v, a1, b1, a2, b2, a3, b3
    s.n += 1
    s.pc = x[2]
    if t == 0:
        out[0] = NAN
        return
    cm = x[2] - (x[1] if x[1] < pc else pc)
    tr = x[0] - x[1]
    v = fabs(pc - x[0])
    tr = v if v > tr else tr
    v = fabs(pc - x[1])
    tr = v if v > tr else tr
    ring[s.pos * rs] = cm
    ring[(p3 + s.pos) * rs] = tr
    if tr != 0.0:
        s.nz = t
    if t >= p3:                         # every window takes the bar (p1, p2 >= 1)
        # the totals in locals, stored once: out may alias the state
        a1, b1, a2, b2, a3, b3 = s.a1 + cm, s.b1 + tr, s.a2 + cm, s.b2 + tr, s.a3 + cm, s.b3 + tr
        if s.nz <= t - s.p1:
            ult_flat(s, s.nz, t, &a1, &b1, &a2, &b2, &a3, &b3)
        out[0] = ult_out(a1, b1, a2, b2, a3, b3)
        j = s.pos - s.p1 + 1            # each window's oldest term leaves
        j += p3 if j < 0 else 0
        s.a1, s.b1 = a1 - ring[j * rs], b1 - ring[(p3 + j) * rs]
        j = s.pos - s.p2 + 1
        j += p3 if j < 0 else 0
        s.a2, s.b2 = a2 - ring[j * rs], b2 - ring[(p3 + j) * rs]
        j = s.pos - p3 + 1
        j += p3 if j < 0 else 0
        s.a3, s.b3 = a3 - ring[j * rs], b3 - ring[(p3 + j) * rs]
    else:                               # the warm-up: the windows fill
        if t > p3 - s.p1:
            s.a1 += cm
            s.b1 += tr
        if t > p3 - s.p2:
            s.a2 += cm
            s.b2 += tr
        s.a3 += cm
        s.b3 += tr
        out[0] = NAN                    # (one store a bar, not two)
    s.pos += 1
    if s.pos == p3:
        s.pos = 0


cdef inline void UltimateOscillator_step(UltimateOscillatorSt* s, double* ring, const double* x,
                                         double* out) noexcept nogil:
    UltimateOscillator_step_s(s, ring, 1, x, out)


cdef inline void ult_terms(const double* H, const double* L, const double* C, Py_ssize_t lo, Py_ssize_t hi,
                           double* cm, double* tr) noexcept nogil:
    """Bars lo .. hi - 1's terms (lo >= 1), element-wise: cm[j - lo], tr[j - lo]."""
    cdef Py_ssize_t j
    cdef double pc, t, v
    for j in range(lo, hi):
        pc = C[j - 1]
        cm[j - lo] = C[j] - (L[j] if L[j] < pc else pc)
        t = H[j] - L[j]
        v = fabs(pc - H[j])
        t = v if v > t else t
        v = fabs(pc - L[j])
        tr[j - lo] = v if v > t else t


cdef inline int UltimateOscillator_run(UltimateOscillatorSt* s, double* ring, const double** a, double** o,
                                       Py_ssize_t n) noexcept nogil:
    """Steps until the warm-up is over and the longest window lies in the
    array; then, a block at a time, the block's terms element-wise into a
    scratch array after the previous longest - 1 bars' terms, and the running
    totals over it in registers (the leaving terms read back from it), each
    bar's six totals kept for the output's four divisions, which run packed a
    chunk of ULT_CHUNK bars at a time (admf_ult_ratios); the ring refilled
    with the last window's terms."""
    cdef const double* H = a[0]
    cdef const double* L = a[1]
    cdef const double* C = a[2]
    cdef double* y = o[0]
    cdef i64 p1 = s.p1, p2 = s.p2, p3 = s.p3
    cdef Py_ssize_t i = 0, j, j0, j1, k, m, w = p3 - 1, B = 4 * BLOCK
    cdef double x[3]
    cdef double* cm
    cdef double* tr
    cdef double a1, a2, a3, b1, b2, b3
    cdef Py_ssize_t nz                  # the last bar with a nonzero true range
    cdef Py_ssize_t c0, c1
    cdef double* tot                    # a chunk's totals: rows a1, b1, a2, b2, a3, b3
    if not rows_finite(a, 3, 0, n):
        return 1
    B = w if w > B else B               # the carried terms cost at most one copy per bar
    cm = <double*>scratch((2 * (w + B) + 6 * ULT_CHUNK) * sizeof(double))
    if cm == NULL:
        return RUN_NOMEM
    tot = cm + 2 * (w + B)
    while i < n and (s.n <= p3 or i < p3):
        x[0], x[1], x[2] = H[i], L[i], C[i]
        UltimateOscillator_step(s, ring, x, &y[i])
        i += 1
    if i == n:
        free(cm)
        return 0
    tr = cm + (w + B)
    ult_terms(H, L, C, i - w, i, cm, tr)
    a1, a2, a3, b1, b2, b3 = s.a1, s.a2, s.a3, s.b1, s.b2, s.b3
    nz = s.nz - (s.n - i)               # the step's bar count, as an index
    j0 = i
    while True:
        j1 = j0 + B if j0 + B < n else n
        ult_terms(H, L, C, j0, j1, cm + w, tr + w)     # bar j's terms at w + (j - j0)
        c0 = j0
        while c0 < j1:
            c1 = c0 + ULT_CHUNK if c0 + ULT_CHUNK < j1 else j1
            for j in range(c0, c1):     # UltimateOscillator_step's last branch
                k = w + (j - j0)
                a1 += cm[k]
                a2 += cm[k]
                a3 += cm[k]
                b1 += tr[k]
                b2 += tr[k]
                b3 += tr[k]
                nz = j if tr[k] != 0.0 else nz
                if nz <= j - p1:        # the shortest window is flat
                    ult_flat(s, nz, j, &a1, &b1, &a2, &b2, &a3, &b3)
                m = j - c0              # the output's totals: admf_ult_ratios below
                tot[m] = a1
                tot[ULT_CHUNK + m] = b1
                tot[2 * ULT_CHUNK + m] = a2
                tot[3 * ULT_CHUNK + m] = b2
                tot[4 * ULT_CHUNK + m] = a3
                tot[5 * ULT_CHUNK + m] = b3
                a1 -= cm[k - p1 + 1]
                b1 -= tr[k - p1 + 1]
                a2 -= cm[k - p2 + 1]
                b2 -= tr[k - p2 + 1]
                a3 -= cm[k - w]
                b3 -= tr[k - w]
            admf_ult_ratios(tot, ULT_CHUNK, y + c0, c1 - c0)
            c0 = c1
        if j1 == n:
            break
        memmove(cm, cm + (j1 - j0), w * sizeof(double))     # the next block's leaving terms
        memmove(tr, tr + (j1 - j0), w * sizeof(double))
        j0 = j1
    s.a1, s.a2, s.a3, s.b1, s.b2, s.b3 = a1, a2, a3, b1, b2, b3
    s.nz = nz + (s.n - i)
    for j in range(n - p3, n):          # the ring as steps leave it: bar j's terms in its slot
        k = w + (j - j0)
        m = (s.pos + p3 + (j - i) % p3) % p3
        ring[m] = cm[k]
        ring[p3 + m] = tr[k]
    s.pos = (s.pos + (n - i)) % p3
    s.n += n - i
    s.pc = C[n - 1]
    free(cm)
    return 0
