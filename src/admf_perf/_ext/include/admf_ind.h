/* Shared C of the compiled indicators (_indicators.pyx, _ind_kernels.pxd):
 * what Cython cannot say as directly.
 *
 * - admf_all_finite / admf_nf_run: the finiteness of an array, a sum of
 *   x * 0.0 in vectors (one fused multiply-add per four values where the
 *   build has FMA; cloned for AVX2 where the CPU has it); ADMF_NF: a value's
 *   finiteness with integer operations, inside a loop that reads it anyway;
 * - admf_lag_sub / admf_lag_roc: MOM and ROC over an array, element-wise
 *   (vectorized: each output is one IEEE operation, the same bits at any
 *   vector width), with the finiteness of the inputs on the way;
 * - admf_true_range, admf_obv_delta: the steps' shared parts, and the two-pass
 *   runs built on them (admf_atr_run, admf_obv_run: a vectorized pass, then
 *   the recurrence over it, a block at a time);
 * - admf_vhgw_max / admf_vhgw_min: van Herk / Gil-Werman rolling extremes;
 * - admf_sqrt_block / admf_bb_block: packed square roots (StdDev, BBANDS);
 * - admf_rsi_out / admf_rsi_out_block: RSI's and CMO's output (a bar; n bars);
 * - admf_ult / admf_ult_ratios: ULTOSC's output from its totals (a bar; n bars,
 *   the divisions packed);
 * - admf_deque_keep: the rolling extremes' deque, dropping from its back;
 * - admf_window_add_max / _min: a short window of an extreme (Stochastic, StochRSI);
 * - admf_sum_lr / admf_absdev_lr: a short window's sums, left to right;
 * - the missing-argument NaN payload and the result-tuple reuse of update.
 *
 * Floating-point contraction is off (-ffp-contract=off, and the pragma below
 * for compilers that honour it): results are bit-identical on every
 * compiler and CPU.
 */
#ifndef ADMF_IND_H
#define ADMF_IND_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#endif
#if defined(__FMA__)
#include <immintrin.h>
#endif

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define ADMF_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ADMF_CLONES
#endif

/* A recurrence whose outputs are stored one by one: GCC's straight-line
   vectorizer would gather four of them into one packed store, recomputing
   them with a packed fma and shuffles beside the scalar chain (the AVX2
   build's ATR run: 1.10 against 0.95 ns a bar without it).  The
   element-wise runs (TRANGE, MOM, ROC, OBV, the rolling extremes) go
   without it too: measured faster (docs/indicators.md). */
#if defined(__GNUC__) && !defined(__clang__)
#define ADMF_NO_SLP __attribute__((optimize("no-tree-slp-vectorize")))
#else
#define ADMF_NO_SLP
#endif

/* -- the CPU: may the AVX2 + FMA builds (_ind_simd, _ind_bank_simd) load? -- */

static int admf_cpu_avx2(void) {
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* ---- fused multiply-add: one rounding, one instruction where possible ---- */

/* C99 fma(): a * b + c rounded once, the same bits on every CPU.  Where the
   build targets FMA (the AVX2 build, -mfma) or the ISA always has it
   (aarch64), the compiler emits the instruction for fma().  The baseline
   x86-64 build cannot assume it: fma() there is a libm call, whose cost
   (and the registers it clobbers) showed in every update.  admf_fma issues
   the instruction itself when the CPU (and the OS, for the AVX state) has
   it, checked once when the module is imported; otherwise it calls libm.  Same bits either
   way. */
#if defined(__FMA__) || defined(__aarch64__) || defined(_M_ARM64) || \
    !((defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__))
#define admf_fma fma
#define admf_fma_init() ((void)0)
#else
/* 0: libm's fma (right everywhere) until admf_fma_init, run when the module
   is imported, finds the instruction. Never -1 and "detect on first use":
   a test that may call a function kept the flag's load in front of every
   fma of a loop (T3's bank update: three instructions per fma). */
static int admf_fma_hw = 0;
static void admf_fma_init(void) {
    __builtin_cpu_init();
    admf_fma_hw = __builtin_cpu_supports("avx") && __builtin_cpu_supports("fma");
}
static inline double admf_fma(double a, double b, double c) {
    if (__builtin_expect(admf_fma_hw, 1)) {
        __asm__("vfmadd231sd %2, %1, %0" : "+x"(c) : "x"(a), "x"(b));   /* c = a * b + c */
        return c;
    }
    return fma(a, b, c);
}
#endif

/* ---- constants (the twin writes the same values) ------------------------ */

#define ADMF_TA_EPS 1e-14                               /* TA-Lib's TA_EPSILON */
#define ADMF_KAMA_MAX (2.0 / (30.0 + 1.0))
#define ADMF_KAMA_DIFF (2.0 / (2.0 + 1.0) - 2.0 / (30.0 + 1.0))
#define ADMF_VAR_TRIG (8.0 * 0x1p-53 * 0x1p33)           /* 2**-17 */
#define ADMF_VAR_E0 (-1e-300)  /* below 0: an exactly flat window is not re-centred again */

/* ---- scratch ----------------------------------------------------------- */

/* A run's scratch array.  The tests make the next admf_scratch_failures
   calls fail (this module's copy), to drive every run's fallback. */
static Py_ssize_t admf_scratch_failures = 0;

static inline void* admf_scratch(size_t n) {
    if (admf_scratch_failures > 0) {
        admf_scratch_failures--;
        return NULL;
    }
    return malloc(n);
}

/* ---- finiteness ------------------------------------------------------- */

/* bit 63 set when the double at p is not finite: (bits & exponent) + 2**52
   carries into the sign bit exactly for an all-ones exponent */
#define ADMF_NF(acc, p) do { uint64_t b_; memcpy(&b_, (p), 8); \
    (acc) |= (b_ & 0x7ff0000000000000ULL) + 0x0010000000000000ULL; } while (0)

/* admf_nf_run (the finiteness bits of an array) and admf_all_finite are
   below the vector types. */

/* ---- lagged ratios (ROC; MOM's run is below the vector types) -------- */

/* TA-Lib's ROC: o[i] = ((a[i] / a[i-p]) - 1) * 100, 0 where a[i-p] == 0 */
ADMF_CLONES ADMF_NO_SLP
static uint64_t admf_lag_roc(const double* a, double* o, Py_ssize_t lo, Py_ssize_t n, Py_ssize_t p) {
    uint64_t acc = 0;
    for (Py_ssize_t i = lo; i < n; i++) {
        double old = a[i - p], r;
        ADMF_NF(acc, &a[i]);
        r = ((a[i] / old) - 1.0) * 100.0;
        o[i] = old != 0.0 ? r : 0.0;
    }
    return acc;
}

/* ---- true range (ATR, ADX) and OBV's step, and their runs ---------------- */

/* TA-Lib's TRANGE in its order: the largest of h - l, |h - pc|, |l - pc|; the
   selects keep a NaN of h - l (a non-finite high or low) */
/* x != 0.0 (true for NaN too) by the bits: an integer test, without the
   comparison's unordered case (MFI's counts of nonzero flows) */
static inline int admf_nonzero(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return (u << 1) != 0;
}

static inline double admf_true_range(double h, double l, double pc) {
    double r = h - l, t = fabs(h - pc);
    r = t > r ? t : r;
    t = fabs(l - pc);
    return t > r ? t : r;
}

/* OBV's change: + the volume when the close rises, - when it falls, else 0 */
static inline double admf_obv_delta(double c, double prev, double v) {
    return c > prev ? v : (c < prev ? -v : 0.0);
}

/* ADX's directional movements from the high's rise dp and the low's fall
   dm: -DM = dm when dm > 0 and dp < dm, else +DM = dp when dp > 0 and
   dp > dm, else both 0.  Selects (max, compare, and), not branches: on
   prices the conditions are coin flips that a predictor misses half the
   time. */
static inline void admf_adx_dm(double dp, double dm, double* pd, double* md) {
    /* dm > 0 and dp < dm  <=>  dm > max(dp, 0); likewise for dp (finite inputs) */
#if defined(__SSE2__) || defined(_M_X64)
    __m128d vp = _mm_set_sd(dp), vm = _mm_set_sd(dm), z = _mm_setzero_pd();
    *md = _mm_cvtsd_f64(_mm_and_pd(_mm_cmpgt_sd(vm, _mm_max_sd(vp, z)), vm));
    *pd = _mm_cvtsd_f64(_mm_and_pd(_mm_cmpgt_sd(vp, _mm_max_sd(vm, z)), vp));
#else
    double p0 = dp > 0.0 ? dp : 0.0, m0 = dm > 0.0 ? dm : 0.0;
    *md = dm > p0 ? dm : 0.0;
    *pd = dp > m0 ? dp : 0.0;
#endif
}

#define ADMF_BLOCK 512     /* bars per block of the two-pass run (OBV): in L1 */

/* NATR from an ATR and its close (NATR_step and admf_atr_run) */
static inline double admf_natr(double a, double c) {
    return c != 0.0 ? (a / c) * 100.0 : 0.0;
}

/* ChaikinOscillator's A/D increment of a bar whose range r = h - l is above
   0 (ChaikinOscillator_step and admf_adosc_run) */
static inline double admf_ad_inc(double h, double l, double c, double v, double r) {
    return (((c - l) - (h - c)) / r) * v;
}

/* ATR past its seed (period > 1), in one pass: four true ranges at a time
   (vectorized, with the closes' finiteness), times 1/n, then Wilder's fma(atr, a1, .)
   over them from registers, so that the independent part overlaps the
   recurrence.  pc: the close before c[0]; *atr in and out.  natr: the
   outputs are NATR's (admf_natr), the division four bars at a time beside
   the chain.  The finiteness bits.  The vector lanes compute exactly
   admf_true_range (the same comparisons and selects) and admf_natr, so the
   bits do not depend on the path. */
#if defined(__GNUC__) || defined(__clang__)
typedef double admf_v4d __attribute__((vector_size(32), aligned(8), may_alias));
typedef uint64_t admf_v4u __attribute__((vector_size(32), aligned(8), may_alias));
typedef int64_t admf_v4i __attribute__((vector_size(32)));
/* m ? a : b, lane by lane (m: all ones or all zeros) */
#define ADMF_V4SEL(m, a, b) ((admf_v4d)(((admf_v4i)(a) & (m)) | ((admf_v4i)(b) & ~(m))))
#define ADMF_V4NF(acc, p) ((acc) |= (*(const admf_v4u*)(p) & 0x7ff0000000000000ULL) + 0x0010000000000000ULL)
#define ADMF_HAVE_V4 1
#endif

/* The finiteness bits of a[0:n]: bit 63 set when a value is not finite, as
   ADMF_NF sets it (callers read no other bit).  x * 0.0 is 0 for a finite x and NaN for an infinity or a
   NaN, and a NaN added to a sum stays: sixteen values a turn in four
   vector sums (their additions' latency overlaps), one fused multiply-add
   each where the build has FMA (the load folded in: 0.3 instructions a
   value, against 0.88 for ADMF_NF's and, add and or), a multiply and an
   add where not; the rest by ADMF_NF. */
#ifdef ADMF_HAVE_V4
/* One turn of those sums: s += x * 0.0, a fused multiply-add where the
   build has FMA (admf_nf_run, admf_lag_sub) */
#if defined(__FMA__)
#define ADMF_V4NF_ADD(s, x, zero) ((s) = (admf_v4d)_mm256_fmadd_pd((x), (zero), (s)))
#else
#define ADMF_V4NF_ADD(s, x, zero) ((s) += (x) * (zero))
#endif
/* The finiteness bits of four such sums: bit 63 when a lane is NaN */
static inline uint64_t admf_v4nf_bits(admf_v4d s0, admf_v4d s1, admf_v4d s2, admf_v4d s3) {
    admf_v4d t = (s0 + s1) + (s2 + s3);
    return (t[0] != t[0] || t[1] != t[1] || t[2] != t[2] || t[3] != t[3]) ? 1ULL << 63 : 0;
}
#endif

ADMF_CLONES
static uint64_t admf_nf_run(const double* a, Py_ssize_t n) {
    uint64_t acc = 0;
    Py_ssize_t i = 0;
#ifdef ADMF_HAVE_V4
    if (n >= 16) {
        const admf_v4d zero = {0.0, 0.0, 0.0, 0.0};
        admf_v4d s0 = zero, s1 = zero, s2 = zero, s3 = zero;
        for (; i + 16 <= n; i += 16) {
            ADMF_V4NF_ADD(s0, *(const admf_v4d*)(a + i), zero);
            ADMF_V4NF_ADD(s1, *(const admf_v4d*)(a + i + 4), zero);
            ADMF_V4NF_ADD(s2, *(const admf_v4d*)(a + i + 8), zero);
            ADMF_V4NF_ADD(s3, *(const admf_v4d*)(a + i + 12), zero);
        }
        acc = admf_v4nf_bits(s0, s1, s2, s3);
    }
#endif
    for (; i < n; i++) ADMF_NF(acc, &a[i]);
    return acc;
}

static int admf_all_finite(const double* a, Py_ssize_t n) {
    return (admf_nf_run(a, n) >> 63) == 0;
}

/* ---- lagged differences (MOM) ----------------------------------------- */

/* o[i] = a[i] - a[i - p] for i in [lo, n); returns the finiteness bits of
   a[lo:n].  Sixteen values a turn, each loaded once: its finiteness is
   summed from the register the subtraction read, x * 0.0 into four vector
   sums as admf_nf_run does (one fused multiply-add each where the build has
   FMA), not ADMF_NF's integer and, add and or on a second load of it, which
   had made this run the slower of it and TA-Lib's MOM in wall-clock time
   (1.16-1.20x on this project's AMD machines, for fewer instructions).
   Each output is one IEEE subtraction: the same bits at any width. */
ADMF_CLONES ADMF_NO_SLP
static uint64_t admf_lag_sub(const double* a, double* o, Py_ssize_t lo, Py_ssize_t n, Py_ssize_t p) {
    uint64_t acc = 0;
    Py_ssize_t i = lo;
#ifdef ADMF_HAVE_V4
    if (n - lo >= 16) {
        const admf_v4d zero = {0.0, 0.0, 0.0, 0.0};
        admf_v4d s0 = zero, s1 = zero, s2 = zero, s3 = zero;
        for (; i + 16 <= n; i += 16) {
            admf_v4d x0 = *(const admf_v4d*)(a + i), x1 = *(const admf_v4d*)(a + i + 4);
            admf_v4d x2 = *(const admf_v4d*)(a + i + 8), x3 = *(const admf_v4d*)(a + i + 12);
            *(admf_v4d*)(o + i) = x0 - *(const admf_v4d*)(a + i - p);
            *(admf_v4d*)(o + i + 4) = x1 - *(const admf_v4d*)(a + i + 4 - p);
            *(admf_v4d*)(o + i + 8) = x2 - *(const admf_v4d*)(a + i + 8 - p);
            *(admf_v4d*)(o + i + 12) = x3 - *(const admf_v4d*)(a + i + 12 - p);
            ADMF_V4NF_ADD(s0, x0, zero);
            ADMF_V4NF_ADD(s1, x1, zero);
            ADMF_V4NF_ADD(s2, x2, zero);
            ADMF_V4NF_ADD(s3, x3, zero);
        }
        acc = admf_v4nf_bits(s0, s1, s2, s3);
    }
#endif
    for (; i < n; i++) {
        ADMF_NF(acc, &a[i]);
        o[i] = a[i] - a[i - p];
    }
    return acc;
}


ADMF_CLONES ADMF_NO_SLP
static uint64_t admf_atr_run(const double* h, const double* l, const double* c, double* y,
                             Py_ssize_t n, double pc, double* atr, double a1, double inv, int natr) {
    uint64_t acc = 0;
    double a = *atr;
    Py_ssize_t j = 1;
    if (n <= 0) return 0;
    ADMF_NF(acc, &h[0]); ADMF_NF(acc, &l[0]); ADMF_NF(acc, &c[0]);
    a = admf_fma(a, a1, admf_true_range(h[0], l[0], pc) * inv);
    y[0] = natr ? admf_natr(a, c[0]) : a;
#ifdef ADMF_HAVE_V4
    {
        admf_v4u va = {0, 0, 0, 0};
        const admf_v4i absm = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
        const admf_v4d zero = {0.0, 0.0, 0.0, 0.0};
        for (; j + 4 <= n; j += 4) {
            admf_v4d hv = *(const admf_v4d*)(h + j), lv = *(const admf_v4d*)(l + j);
            admf_v4d pv = *(const admf_v4d*)(c + j - 1), r, t;
            double b0, b1, b2, b3;
            ADMF_V4NF(va, c + j);       /* a high or low that is not finite: see below */
            r = hv - lv;
            t = (admf_v4d)((admf_v4i)(hv - pv) & absm);
            r = ADMF_V4SEL(t > r, t, r);
            t = (admf_v4d)((admf_v4i)(lv - pv) & absm);
            r = ADMF_V4SEL(t > r, t, r) * inv;
            b0 = a = admf_fma(a, a1, r[0]);
            b1 = a = admf_fma(a, a1, r[1]);
            b2 = a = admf_fma(a, a1, r[2]);
            b3 = a = admf_fma(a, a1, r[3]);
            if (natr) {                 /* NATR: the division packed, off the chain */
                admf_v4d av = {b0, b1, b2, b3}, cv = *(const admf_v4d*)(c + j);
                *(admf_v4d*)(y + j) = ADMF_V4SEL(cv != zero, (av / cv) * 100.0, zero);
            } else {
                y[j] = b0; y[j + 1] = b1; y[j + 2] = b2; y[j + 3] = b3;
            }
        }
        acc |= va[0] | va[1] | va[2] | va[3];
        /* a high or a low that is not finite makes its true range, and so the
           ATR, not finite for good (a1 > 0, true ranges >= 0): only then are
           they looked at (an ATR that overflowed on finite prices is not an
           error either) */
        if (!isfinite(a)) acc |= admf_nf_run(h, j) | admf_nf_run(l, j);
    }
#endif
    for (; j < n; j++) {
        ADMF_NF(acc, &h[j]); ADMF_NF(acc, &l[j]); ADMF_NF(acc, &c[j]);
        a = admf_fma(a, a1, admf_true_range(h[j], l[j], c[j - 1]) * inv);
        y[j] = natr ? admf_natr(a, c[j]) : a;
    }
    *atr = a;
    return acc;
}

/* ChaikinOscillator past its warm-up (ChaikinOscillator_step's last
   branch): the A/D line's increments, ((c - l) - (h - c)) / (h - l) * v
   where h > l, else + 0.0 (the line is never -0.0: the same bits), four bars
   at a time (vectorized, the division and the inputs' finiteness too), and
   the line and both EMAs, fma(k1, ema, k * ad), over them from registers.
   Software-pipelined: the next four bars' increments are computed in the
   turn that runs the recurrences over the current four, so the out-of-order
   core overlaps them with the EMAs' latency.  st: ad, fast, slow in and
   out; k: kf, 1 - kf, ks, 1 - ks.  The finiteness bits of all four inputs. */
ADMF_CLONES
static uint64_t admf_adosc_run(const double* h, const double* l, const double* c, const double* v,
                               double* y, Py_ssize_t n, double* st, const double* k) {
    uint64_t acc = 0;
    double ad = st[0], fast = st[1], slow = st[2], r;
    const double kf = k[0], kf1 = k[1], ks = k[2], ks1 = k[3];
    Py_ssize_t j = 0;
#define ADMF_ADOSC_STEP(INC, J) do { \
        ad += (INC); \
        fast = admf_fma(kf1, fast, kf * ad); \
        slow = admf_fma(ks1, slow, ks * ad); \
        y[J] = fast - slow; \
    } while (0)
#ifdef ADMF_HAVE_V4
    if (n >= 8) {
        admf_v4u va = {0, 0, 0, 0};
        const admf_v4d zero = {0.0, 0.0, 0.0, 0.0};
        admf_v4d cur, next;
#define ADMF_ADOSC_INC4(J, OUT) do { \
            admf_v4d hv = *(const admf_v4d*)(h + (J)), lv = *(const admf_v4d*)(l + (J)); \
            admf_v4d cv = *(const admf_v4d*)(c + (J)), vv = *(const admf_v4d*)(v + (J)); \
            admf_v4d rv = hv - lv; \
            ADMF_V4NF(va, h + (J)); ADMF_V4NF(va, l + (J)); \
            ADMF_V4NF(va, c + (J)); ADMF_V4NF(va, v + (J)); \
            (OUT) = ADMF_V4SEL(rv > zero, (((cv - lv) - (hv - cv)) / rv) * vv, zero); \
        } while (0)
        ADMF_ADOSC_INC4(0, cur);
        for (; j + 8 <= n; j += 4) {
            ADMF_ADOSC_INC4(j + 4, next);
            ADMF_ADOSC_STEP(cur[0], j);
            ADMF_ADOSC_STEP(cur[1], j + 1);
            ADMF_ADOSC_STEP(cur[2], j + 2);
            ADMF_ADOSC_STEP(cur[3], j + 3);
            cur = next;
        }
#undef ADMF_ADOSC_INC4
        acc |= va[0] | va[1] | va[2] | va[3];
    }
#endif
    for (; j < n; j++) {
        ADMF_NF(acc, &h[j]); ADMF_NF(acc, &l[j]); ADMF_NF(acc, &c[j]); ADMF_NF(acc, &v[j]);
        r = h[j] - l[j];
        ADMF_ADOSC_STEP(r > 0.0 ? admf_ad_inc(h[j], l[j], c[j], v[j], r) : 0.0, j);
    }
#undef ADMF_ADOSC_STEP
    st[0] = ad; st[1] = fast; st[2] = slow;
    return acc;
}

/* KAMA past its seed over bars [lo, hi) of x (lo > p: x[j - p - 1] exists):
   the step of kama_core (_ind_kernels.pxd), four bars at a time.  The
   changes and the efficiency ratios of four bars are vectorized (the sum of
   changes still grows one addition at a time, in order); only the
   fma(x - kama, er, kama) recurrence is left per bar, so far fewer
   operations wait on it.  The same operations on every value as the step:
   the same bits.  *sumroc and *kama in and out. */
static inline double admf_kama_er(double x, double old, double sumroc) {
    double roc = x - old, er;
    if (sumroc <= roc || fabs(sumroc) <= ADMF_TA_EPS * (fabs(x) + fabs(old))) er = 1.0;
    else er = fabs(roc / sumroc);
    er = er * ADMF_KAMA_DIFF + ADMF_KAMA_MAX;
    return er * er;
}

ADMF_CLONES
static void admf_kama_run(const double* x, double* y, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t p,
                          double* sumroc, double* kama) {
    double sr = *sumroc, k = *kama;
    Py_ssize_t j = lo;
#ifdef ADMF_HAVE_V4
    const admf_v4i absm = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
    const admf_v4d one = {1.0, 1.0, 1.0, 1.0};
    for (; j + 4 <= hi; j += 4) {
        admf_v4d xv = *(const admf_v4d*)(x + j), xp = *(const admf_v4d*)(x + j - 1);
        admf_v4d ov = *(const admf_v4d*)(x + j - p), op = *(const admf_v4d*)(x + j - p - 1);
        admf_v4d d = (admf_v4d)((admf_v4i)(xv - xp) & absm) - (admf_v4d)((admf_v4i)(op - ov) & absm);
        admf_v4d sv, roc = xv - ov, q, er;
        admf_v4i m;
        sv[0] = sr += d[0];
        sv[1] = sr += d[1];
        sv[2] = sr += d[2];
        sv[3] = sr += d[3];
        m = (sv <= roc) | ((admf_v4d)((admf_v4i)sv & absm) <=
                           ADMF_TA_EPS * ((admf_v4d)((admf_v4i)xv & absm) + (admf_v4d)((admf_v4i)ov & absm)));
        q = (admf_v4d)((admf_v4i)(roc / sv) & absm);
        er = ADMF_V4SEL(m, one, q) * ADMF_KAMA_DIFF + ADMF_KAMA_MAX;
        er = er * er;
        k = admf_fma(x[j] - k, er[0], k); y[j] = k;
        k = admf_fma(x[j + 1] - k, er[1], k); y[j + 1] = k;
        k = admf_fma(x[j + 2] - k, er[2], k); y[j + 2] = k;
        k = admf_fma(x[j + 3] - k, er[3], k); y[j + 3] = k;
    }
#endif
    for (; j < hi; j++) {
        sr += fabs(x[j] - x[j - 1]) - fabs(x[j - p - 1] - x[j - p]);
        k = admf_fma(x[j] - k, admf_kama_er(x[j], x[j - p], sr), k);
        y[j] = k;
    }
    *sumroc = sr;
    *kama = k;
}

/* OBV after its first bar: blocks of changes (vectorized, with the inputs'
   finiteness), then their running sum in place.  prev: the close before
   c[0]; *obv in and out.  The finiteness bits. */
ADMF_NO_SLP
static uint64_t admf_obv_run(const double* c, const double* v, double* y, Py_ssize_t n,
                             double prev, double* obv) {
    uint64_t acc = 0;
    double o = *obv;
    for (Py_ssize_t b = 0; b < n; b += ADMF_BLOCK) {
        Py_ssize_t e = b + ADMF_BLOCK < n ? b + ADMF_BLOCK : n, j = b;
        if (b == 0 && n) {
            ADMF_NF(acc, &c[0]); ADMF_NF(acc, &v[0]);
            y[0] = admf_obv_delta(c[0], prev, v[0]);
            j = 1;
        }
        for (; j < e; j++) {
            ADMF_NF(acc, &c[j]); ADMF_NF(acc, &v[j]);
            y[j] = admf_obv_delta(c[j], c[j - 1], v[j]);
        }
        for (j = b; j < e; j++) {
            o += y[j];
            y[j] = o;
        }
    }
    *obv = o;
    return acc;
}

/* T3 past its seeding: the six EMAs e[0..5] (in and out), each
   fma(k1, e, k * input), and the output fma(c4, e3, fma(c3, e4, fma(c1,
   e6, c2 * e5))), for n bars.  Skewed: the turn for bar j updates e1 to
   bar j, e2 to bar j - 1, ..., e6 to bar j - 5, from the values the turn
   before left, so a turn's six multiply-adds are independent of each other.
   In bar order they form one chain of six (with the output, about 55 cycles
   of latency a bar), and the out-of-order core held too few bars to overlap
   them.  The same operations on the same operands: the same bits as bar by
   bar.  The output of bar j - 5 needs e3 and e4 of that bar: e3 two turns
   old (P3A; P3B is one turn old), e4 one (P4).  A turn writes the new e3
   over P3A and the new e4 over P4, so the roles of the three e3 and the two
   e4 variables rotate: six turns bring them back, and no value is copied
   (a turn that copied them was spilled to the stack: 1.17x TA-Lib's
   instructions).  The output's four constants are read from memory, kc
   made opaque each loop (ADMF_OPAQUE): in registers beside the nine values
   and k, k1 they had left too few, and GCC spilled state instead.
   Measured: T3.batch of 1M bars 2.94 to 2.51 ns a bar (TA-Lib 2.83-2.85),
   instructions -1.5%. */
#define ADMF_T3_TURN(XJ, YJ, E3, P3B, P3A, E4, P4) do {                       \
        e6 = admf_fma(k1, e6, k * e5);                                        \
        (YJ) = admf_fma(kc[3], P3A, admf_fma(kc[2], P4, admf_fma(kc[0], e6, kc[1] * e5))); \
        e5 = admf_fma(k1, e5, k * E4);                                        \
        P4 = admf_fma(k1, E4, k * E3);                                        \
        P3A = admf_fma(k1, E3, k * e2);                                       \
        e2 = admf_fma(k1, e2, k * e1);                                        \
        e1 = admf_fma(k1, e1, k * (XJ));                                      \
    } while (0)

/* p's value unknown to the compiler from here on: what it points to is
   loaded again where used, not kept in registers across the loop */
#if defined(__GNUC__) || defined(__clang__)
#define ADMF_OPAQUE(p) __asm__("" : "+r"(p) : : "memory")
#else
#define ADMF_OPAQUE(p) ((void)0)
#endif

/* six turns from bar o of the loop's pointers: the roles back in place */
#define ADMF_T3_SIX(o) do {                                                   \
        ADMF_T3_TURN(xp[(o)], yp[(o)], a, b, c, d, f);                        \
        ADMF_T3_TURN(xp[(o) + 1], yp[(o) + 1], c, a, b, f, d);                \
        ADMF_T3_TURN(xp[(o) + 2], yp[(o) + 2], b, c, a, d, f);                \
        ADMF_T3_TURN(xp[(o) + 3], yp[(o) + 3], a, b, c, f, d);                \
        ADMF_T3_TURN(xp[(o) + 4], yp[(o) + 4], c, a, b, d, f);                \
        ADMF_T3_TURN(xp[(o) + 5], yp[(o) + 5], b, c, a, f, d);                \
    } while (0)

ADMF_NO_SLP
static void admf_t3_run(const double* x, double* y, Py_ssize_t n, double* e, double k, double k1,
                        double c1, double c2, double c3, double c4) {
    double kc_[4] = {c1, c2, c3, c4};
    const double* kc = kc_;
    double e1 = e[0], e2 = e[1], a = e[2], d = e[3], e5 = e[4], e6 = e[5];
    double b, c, f, t3, t4;
    Py_ssize_t j;
    int t;
    if (n < 5) {                        /* bar by bar */
        for (j = 0; j < n; j++) {
            e1 = admf_fma(k1, e1, k * x[j]);
            e2 = admf_fma(k1, e2, k * e1);
            a = admf_fma(k1, a, k * e2);
            d = admf_fma(k1, d, k * a);
            e5 = admf_fma(k1, e5, k * d);
            e6 = admf_fma(k1, e6, k * e5);
            y[j] = admf_fma(c4, a, admf_fma(c3, d, admf_fma(c1, e6, c2 * e5)));
        }
        e[0] = e1; e[1] = e2; e[2] = a; e[3] = d; e[4] = e5; e[5] = e6;
        return;
    }
    /* the skew's start: e1 to bar 4, e2 to 3, e3 (a) to 2, e4 (d) to 1, e5
       to 0; c and b: e3 of bars 0 and 1, f: e4 of bar 0 */
    e1 = admf_fma(k1, e1, k * x[0]);
    e2 = admf_fma(k1, e2, k * e1); e1 = admf_fma(k1, e1, k * x[1]);
    c = a = admf_fma(k1, a, k * e2); e2 = admf_fma(k1, e2, k * e1); e1 = admf_fma(k1, e1, k * x[2]);
    f = d = admf_fma(k1, d, k * a); b = a = admf_fma(k1, a, k * e2); e2 = admf_fma(k1, e2, k * e1);
    e1 = admf_fma(k1, e1, k * x[3]);
    e5 = admf_fma(k1, e5, k * d); d = admf_fma(k1, d, k * a); a = admf_fma(k1, a, k * e2);
    e2 = admf_fma(k1, e2, k * e1); e1 = admf_fma(k1, e1, k * x[4]);
    /* at the top of each loop: e3 = a, P3B = b, P3A = c, e4 = d, P4 = f.
       Twelve turns a loop and one pointer each for x and y: the loop's own
       instructions are a few per twelve bars. */
    {
        const double* xp = x + 5;
        double* yp = y;
        for (; x + n - xp > 11; xp += 12, yp += 12) {
            ADMF_OPAQUE(kc);
            ADMF_T3_SIX(0);
            ADMF_T3_SIX(6);
        }
        j = xp - x;
    }
    for (; j < n; j++) {                /* one turn, then the roles back in place */
        ADMF_T3_TURN(x[j], y[j - 5], a, b, c, d, f);
        t3 = c; c = b; b = a; a = t3;
        t4 = f; f = d; d = t4;
    }
    /* the skew's end: the last five bars of e2 .. e6 and their outputs */
    for (t = 0; t < 5; t++) {
        e6 = admf_fma(k1, e6, k * e5);
        y[n - 5 + t] = admf_fma(c4, c, admf_fma(c3, f, admf_fma(c1, e6, c2 * e5)));
        if (t < 4) e5 = admf_fma(k1, e5, k * d);
        t4 = t < 3 ? admf_fma(k1, d, k * a) : d;
        t3 = t < 2 ? admf_fma(k1, a, k * e2) : a;
        if (t < 1) e2 = admf_fma(k1, e2, k * e1);
        c = b; b = a; a = t3;
        f = d; d = t4;
    }
    e[0] = e1; e[1] = e2; e[2] = a; e[3] = d; e[4] = e5; e[5] = e6;
}
#undef ADMF_T3_SIX
#undef ADMF_T3_TURN

/* TRANGE over arrays: y[j] = the true range of bar j against c[j - 1], for
   j in [1, n); returns the finiteness bits of h, l and c[0:n] (one pass:
   vectorized, no second read of the inputs) */
ADMF_CLONES ADMF_NO_SLP
static uint64_t admf_trange_run(const double* h, const double* l, const double* c, double* y, Py_ssize_t n) {
    uint64_t acc = 0;
    if (n <= 0) return 0;
    ADMF_NF(acc, &h[0]); ADMF_NF(acc, &l[0]); ADMF_NF(acc, &c[0]);
    for (Py_ssize_t j = 1; j < n; j++) {
        ADMF_NF(acc, &h[j]); ADMF_NF(acc, &l[j]); ADMF_NF(acc, &c[j]);
        y[j] = admf_true_range(h[j], l[j], c[j - 1]);
    }
    return acc;
}

/* ---- van Herk / Gil-Werman rolling extremes ---------------------------- */

/* Windows of p ending at i in [p-1, n) (n >= p): blocks of p aligned at 0;
   the prefix extremes of a block and the suffix extremes of the previous
   one give every window's extreme in 3 comparisons per element, without
   branches; a block's prefix and suffix run in one loop, two independent
   chains.  buf: 2 * (p + 1) doubles.  The inputs' finiteness is the
   caller's to check.  A tie picks either equal value: the same value.
   Windows of at most ADMF_DIRECT_WINDOW bars go without blocks (DIRECT):
   the extreme of 2, 3 or 4 bars directly, and of a longer window by
   doubling (a sparse table's rows: the extremes of 2, 4, 8, ... bars, a
   pass each, then two overlapping ones cover the window; idempotent, so the
   overlap is harmless).  Every pass is element-wise, so vectorized, and
   runs over a block of ADMF_DIRECT_BLOCK outputs (and its window's p - 1
   bars before) that stays in L1: log2(p) + 1 packed passes against vhgw's
   3 scalar comparisons an element, and no branch on the data either way. */
#define ADMF_DIRECT_WINDOW 32
#define ADMF_DIRECT_BLOCK 1024
#if defined(_MSC_VER)
#define ADMF_RESTRICT __restrict
#else
#define ADMF_RESTRICT restrict
#endif
#define ADMF_BEST2(BETTER, x, y) (BETTER(x, y) ? (x) : (y))
#define ADMF_WINDOW_DIRECT(NAME, BETTER)                                            \
ADMF_CLONES static void NAME(const double* ADMF_RESTRICT a, double* ADMF_RESTRICT o, Py_ssize_t n, \
                             Py_ssize_t p) {                                       \
    double s1[ADMF_DIRECT_BLOCK + ADMF_DIRECT_WINDOW];                             \
    double s2[ADMF_DIRECT_BLOCK + ADMF_DIRECT_WINDOW];                             \
    double *t, *u, *tmp;                                                           \
    Py_ssize_t i, i0, i1, k, m, w, d;                                              \
    const double* b;                                                               \
    switch (p) {                                                                   \
    case 1:                                                                        \
        for (i = 0; i < n; i++) o[i] = a[i];                                       \
        return;                                                                    \
    case 2:                                                                        \
        for (i = 1; i < n; i++) o[i] = ADMF_BEST2(BETTER, a[i], a[i - 1]);         \
        return;                                                                    \
    case 3:                                                                        \
        for (i = 2; i < n; i++)                                                    \
            o[i] = ADMF_BEST2(BETTER, a[i], ADMF_BEST2(BETTER, a[i - 1], a[i - 2])); \
        return;                                                                    \
    case 4:                                                                        \
        for (i = 3; i < n; i++)                                                    \
            o[i] = ADMF_BEST2(BETTER, ADMF_BEST2(BETTER, a[i], a[i - 1]),          \
                              ADMF_BEST2(BETTER, a[i - 2], a[i - 3]));             \
        return;                                                                    \
    }                                                                              \
    for (i0 = p - 1; i0 < n; i0 = i1) {                                            \
        i1 = i0 + ADMF_DIRECT_BLOCK < n ? i0 + ADMF_DIRECT_BLOCK : n;              \
        b = a + i0 - p + 1;             /* t[k], u[k]: windows ending at b + k */  \
        m = i1 - i0 + p - 1;                                                       \
        t = s1; u = s2;                                                            \
        for (k = 1; k < m; k++) t[k] = ADMF_BEST2(BETTER, b[k], b[k - 1]);         \
        for (w = 2; 2 * w <= p; w *= 2) {                                          \
            for (k = 2 * w - 1; k < m; k++) u[k] = ADMF_BEST2(BETTER, t[k], t[k - w]); \
            tmp = t; t = u; u = tmp;                                               \
        }                                                                          \
        d = p - w;                      /* 0 <= d < w: two windows of w cover p */ \
        if (d == 0)                                                                \
            for (k = p - 1; k < m; k++) o[i0 - p + 1 + k] = t[k];                  \
        else                                                                       \
            for (k = p - 1; k < m; k++) o[i0 - p + 1 + k] = ADMF_BEST2(BETTER, t[k], t[k - d]); \
    }                                                                              \
}
/* Windows of p >= 2 ending at i in [p-1, n), by doubling as above, with
   the extreme's age: ago[i] = i - the index of the window's extreme, the
   newest of equal ones (Aroon; as TA-Lib's tracking and the deque keep it).
   A pass joins a window with the one before it, taking the newer one's
   extreme unless the older one's is strictly better, and its age plus the
   offset: selects, no branch on the data.  Blocks of ADMF_AGE_BLOCK
   outputs, or 4 p for a longer window (its p - 1 bars before recomputed:
   at most a quarter); buf: admf_age_buf(p) doubles. */
#define ADMF_AGE_BLOCK 512
static inline Py_ssize_t admf_age_block(Py_ssize_t p) {
    return 4 * p > ADMF_AGE_BLOCK ? 4 * p : ADMF_AGE_BLOCK;
}
static inline Py_ssize_t admf_age_buf(Py_ssize_t p) {
    return 4 * (admf_age_block(p) + p);
}
#define ADMF_WINDOW_AGE(NAME, BETTER_EQ)                                            \
ADMF_CLONES static void NAME(const double* ADMF_RESTRICT a, double* ADMF_RESTRICT ago, \
                             Py_ssize_t n, Py_ssize_t p, double* ADMF_RESTRICT buf) { \
    Py_ssize_t blk = admf_age_block(p), i0, i1, k, m, w, d;                        \
    double *t, *u, *ta, *ua, *tmp;                                                 \
    const double* b;                                                               \
    for (i0 = p - 1; i0 < n; i0 = i1) {                                            \
        i1 = i0 + blk < n ? i0 + blk : n;                                          \
        b = a + i0 - p + 1;             /* t[k], ta[k]: the window ending at b + k */ \
        m = i1 - i0 + p - 1;                                                       \
        t = buf; u = t + (blk + p); ta = u + (blk + p); ua = ta + (blk + p);       \
        for (k = 1; k < m; k++) {                                                  \
            int c = BETTER_EQ(b[k], b[k - 1]);                                     \
            t[k] = c ? b[k] : b[k - 1];                                            \
            ta[k] = c ? 0.0 : 1.0;                                                 \
        }                                                                          \
        for (w = 2; 2 * w <= p; w *= 2) {                                          \
            for (k = 2 * w - 1; k < m; k++) {                                      \
                int c = BETTER_EQ(t[k], t[k - w]);                                 \
                u[k] = c ? t[k] : t[k - w];                                        \
                ua[k] = c ? ta[k] : ta[k - w] + (double)w;                         \
            }                                                                      \
            tmp = t; t = u; u = tmp;                                               \
            tmp = ta; ta = ua; ua = tmp;                                           \
        }                                                                          \
        d = p - w;                      /* 0 <= d < w: two windows of w cover p */ \
        for (k = p - 1; k < m; k++)                                                \
            ago[i0 - p + 1 + k] = (d == 0 || BETTER_EQ(t[k], t[k - d])) ? ta[k] : ta[k - d] + (double)d; \
    }                                                                              \
}
#define ADMF_GE(a, b) ((a) >= (b))
#define ADMF_LE(a, b) ((a) <= (b))
ADMF_WINDOW_AGE(admf_age_max, ADMF_GE)
ADMF_WINDOW_AGE(admf_age_min, ADMF_LE)

#define ADMF_VHGW(NAME, DIRECT, BETTER, WORST)                                      \
ADMF_NO_SLP static void NAME(const double* a, double* o, Py_ssize_t n, Py_ssize_t p, double* buf) { \
    double *sp = buf, *sc = buf + (p + 1), *tmp;                                       \
    Py_ssize_t kf = n / p, k, t;                                                       \
    double g, h, v, w;                                                                 \
    if (p <= ADMF_DIRECT_WINDOW) {                                                     \
        DIRECT(a, o, n, p);                                                            \
        return;                                                                        \
    }                                                                                  \
    sp[p] = sc[p] = WORST;                                                             \
    h = WORST;                                                                         \
    for (t = p - 1; t >= 0; t--) { v = a[t]; h = BETTER(v, h) ? v : h; sp[t] = h; }    \
    o[p - 1] = sp[0];                                                                  \
    for (k = 1; k <= kf; k++) {                                                        \
        Py_ssize_t bs = k * p, L = (k < kf) ? p : n - kf * p;                          \
        if (L == 0) break;                                                             \
        g = WORST; h = WORST;                                                          \
        for (t = 0; t < L; t++) {  /* the prefix and the suffix chains overlap */      \
            v = a[bs + t]; g = BETTER(v, g) ? v : g;                                   \
            w = sp[t + 1]; o[bs + t] = BETTER(w, g) ? w : g;                           \
            v = a[bs + L - 1 - t]; h = BETTER(v, h) ? v : h; sc[L - 1 - t] = h;        \
        }                                                                              \
        tmp = sp; sp = sc; sc = tmp;                                                   \
    }                                                                                  \
}
#define ADMF_GT(a, b) ((a) > (b))
#define ADMF_LT(a, b) ((a) < (b))
ADMF_WINDOW_DIRECT(admf_direct_max, ADMF_GT)
ADMF_WINDOW_DIRECT(admf_direct_min, ADMF_LT)
ADMF_VHGW(admf_vhgw_max, admf_direct_max, ADMF_GT, -INFINITY)
ADMF_VHGW(admf_vhgw_min, admf_direct_min, ADMF_LT, INFINITY)

/* ---- UltimateOscillator's output ---------------------------------------- */

/* UltimateOscillator's output from its six totals (its step, and the
   scalar tail below): 100 * ((0.0 + 4 (a1 / b1) + 2 (a2 / b2) + a3 / b3) / 7),
   a ratio left out unless its b is above 0. */
static inline double admf_ult(double a1, double b1, double a2, double b2, double a3, double b3) {
    double o = 0.0;
    if (b1 > 0.0) o += 4.0 * (a1 / b1);
    if (b2 > 0.0) o += 2.0 * (a2 / b2);
    if (b3 > 0.0) o += a3 / b3;
    return 100.0 * (o / 7.0);
}

/* The same over n bars (t: the rows a1, b1, a2, b2, a3, b3, each of stride
   r), admf_ult element-wise.  Four bars at a time, the ratios
   left out by selects of 0.0: adding 0.0 changes no sum here (it starts at
   +0.0 and is never -0.0), so the bits are the scalar's.  Four divisions a
   bar, packed: their throughput, not the totals' chains, bounded the loop. */
ADMF_CLONES
static void admf_ult_ratios(const double* t, Py_ssize_t r, double* y, Py_ssize_t n) {
    Py_ssize_t j = 0;
#ifdef ADMF_HAVE_V4
    const admf_v4d zero = {0.0, 0.0, 0.0, 0.0};
    for (; j + 4 <= n; j += 4) {
        admf_v4d a1 = *(const admf_v4d*)(t + j), b1 = *(const admf_v4d*)(t + r + j);
        admf_v4d a2 = *(const admf_v4d*)(t + 2 * r + j), b2 = *(const admf_v4d*)(t + 3 * r + j);
        admf_v4d a3 = *(const admf_v4d*)(t + 4 * r + j), b3 = *(const admf_v4d*)(t + 5 * r + j);
        admf_v4d ov = zero + ADMF_V4SEL(b1 > zero, 4.0 * (a1 / b1), zero);
        ov = ov + ADMF_V4SEL(b2 > zero, 2.0 * (a2 / b2), zero);
        ov = ov + ADMF_V4SEL(b3 > zero, a3 / b3, zero);
        *(admf_v4d*)(y + j) = 100.0 * (ov / 7.0);
    }
#endif
    for (; j < n; j++)
        y[j] = admf_ult(t[j], t[r + j], t[2 * r + j], t[3 * r + j], t[4 * r + j], t[5 * r + j]);
}

/* ---- RSI's and CMO's output ---------------------------------------------- */

/* RSI's 100 * (gain / (gain + loss)), or CMO's 100 * ((gain - loss) / (gain +
   loss)); 0 when that sum is 0 (their steps, and the tail below). */
static inline double admf_rsi_out(double gain, double loss, int cmo) {
    double t = gain + loss;
    if (t == 0.0) return 0.0;
    return cmo ? 100.0 * ((gain - loss) / t) : 100.0 * (gain / t);
}

/* The same over n bars (g, l: the smoothed gains and losses), four bars at a
   time: the division's throughput, not the sums' chains, bounds the scalar
   loop.  A zero sum's lane divides by zero (in the default, masked floating-
   point environment: a flag, no trap, as admf_ult_ratios' lanes) and is
   replaced by 0.0, so the bits are admf_rsi_out's. */
ADMF_CLONES
static void admf_rsi_out_block(const double* g, const double* l, double* y, Py_ssize_t n, int cmo) {
    Py_ssize_t j = 0;
#ifdef ADMF_HAVE_V4
    const admf_v4d zero = {0.0, 0.0, 0.0, 0.0};
    for (; j + 4 <= n; j += 4) {
        admf_v4d gv = *(const admf_v4d*)(g + j), lv = *(const admf_v4d*)(l + j);
        admf_v4d t = gv + lv, q = gv;
        if (cmo) q = gv - lv;
        q = q / t;
        *(admf_v4d*)(y + j) = ADMF_V4SEL(t != zero, 100.0 * q, zero);
    }
#endif
    for (; j < n; j++) y[j] = admf_rsi_out(g[j], l[j], cmo);
}

/* ---- square roots (StdDev, BollingerBands) ----------------------------- */

/* sqrt of a value known to be >= 0, correctly rounded (the instruction) */
static inline double admf_sqrt(double v) { return sqrt(v); }

/* out[j] = sqrt(v[j]) * nb (v[j] >= 0): each correctly rounded, packed */
ADMF_CLONES
static void admf_sqrt_block(const double* v, double* out, Py_ssize_t n, double nb) {
    for (Py_ssize_t j = 0; j < n; j++) out[j] = sqrt(v[j]) * nb;
}

/* the bands from variances v[j] >= 0 and means md[j] */
ADMF_CLONES
static void admf_bb_block(const double* v, const double* md, double* up, double* mid, double* lo,
                          Py_ssize_t n, double u, double d) {
    for (Py_ssize_t j = 0; j < n; j++) {
        double sd = sqrt(v[j]), m = md[j];
        up[j] = m + sd * u;
        mid[j] = m;
        lo[j] = m - sd * d;
    }
}

/* ---- the Python side of update ------------------------------------------ */

/* The default of every update/peek input: a NaN with a private payload, so
   a missing argument costs nothing on the hot path (it is not finite, and
   only the non-finite path looks at the payload). */
#define ADMF_MISSING_BITS 0x7FFADF00000DEAD1ULL
static inline double admf_missing(void) {
    double d; uint64_t u = ADMF_MISSING_BITS; memcpy(&d, &u, 8); return d;
}
static inline int admf_is_missing(double x) {
    uint64_t u; memcpy(&u, &x, 8); return u == ADMF_MISSING_BITS;
}

/* ---- the monotonic deque of the rolling extremes ------------------------ */

/* The deque's length once every value at its back that x makes irrelevant
   is dropped (is_max: those <= x; else those >= x).  pairs is a ring of n
   slots, each a value and its bar index side by side (pairs[2 * j],
   pairs[2 * j + 1]: the back's value, the front's index and the new pair
   share a cache line while the deque is short); the front is at head.  One
   compare a turn, not unrolled: usually zero to two values go, and
   -funroll-loops' eight-way copy cost a dozen instructions of remainder
   dispatch on every push. */
static inline int64_t admf_deque_keep(const double* pairs, int64_t head, int64_t size, int64_t n,
                                      double x, int is_max) {
    int64_t n2 = 2 * n, b2 = 2 * (head + size - 1);     /* the back's value: pairs[b2] */
    if (b2 >= n2) b2 -= n2;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 1
#endif
    while (size > 0) {
        if (is_max ? !(pairs[b2] <= x) : !(pairs[b2] >= x)) break;
        size--;
        b2 -= 2;
        if (b2 < 0) b2 += n2;
    }
    return size;
}

/* ---- left-to-right sums of a short window (CCI, sums TA-Lib recomputes) ---- */

#if defined(__GNUC__) && __GNUC__ >= 7
#define ADMF_FALLTHROUGH __attribute__((fallthrough))
#else
#define ADMF_FALLTHROUGH ((void)0)
#endif

/* TERM(k) for k = n, n - 1, ..., 1 (0 <= n <= 16; ADMF_DOWN8: 8): a
   switch entered at case n that falls through to case 1.  With TERM(k)
   reading unit -k before an end pointer e = a + n units, that is a's units
   0 .. n - 1 in order, in straight-line code after one indexed jump: a
   short window's loop control and remainder branches cost more than its
   additions did (CCI's 14 terms: 42 instructions a sum in a loop of four a
   turn, 24 so). */
#define ADMF_CASES_8_TO_1(TERM)                                               \
    case 8: TERM(8); ADMF_FALLTHROUGH;                                        \
    case 7: TERM(7); ADMF_FALLTHROUGH;                                        \
    case 6: TERM(6); ADMF_FALLTHROUGH;                                        \
    case 5: TERM(5); ADMF_FALLTHROUGH;                                        \
    case 4: TERM(4); ADMF_FALLTHROUGH;                                        \
    case 3: TERM(3); ADMF_FALLTHROUGH;                                        \
    case 2: TERM(2); ADMF_FALLTHROUGH;                                        \
    case 1: TERM(1); ADMF_FALLTHROUGH;                                        \
    default: break;

#define ADMF_DOWN8(n, TERM)                                                   \
    switch (n) {                                                              \
    ADMF_CASES_8_TO_1(TERM)                                                   \
    }

#define ADMF_DOWN16(n, TERM)                                                  \
    switch (n) {                                                              \
    case 16: TERM(16); ADMF_FALLTHROUGH;                                      \
    case 15: TERM(15); ADMF_FALLTHROUGH;                                      \
    case 14: TERM(14); ADMF_FALLTHROUGH;                                      \
    case 13: TERM(13); ADMF_FALLTHROUGH;                                      \
    case 12: TERM(12); ADMF_FALLTHROUGH;                                      \
    case 11: TERM(11); ADMF_FALLTHROUGH;                                      \
    case 10: TERM(10); ADMF_FALLTHROUGH;                                      \
    case 9: TERM(9); ADMF_FALLTHROUGH;                                        \
    ADMF_CASES_8_TO_1(TERM)                                                   \
    }

/* a[0] + a[1] + ... + a[n - 1] added left to right, as TA-Lib adds its
   buffers: sixteen a turn while more are left, then the rest straight. */
static inline double admf_sum_lr_from(double s, const double* a, int64_t n) {
    const double* e;
#define ADMF_SUM_TERM(k) (s += e[-(k)])
    for (; n > 16; n -= 16, a += 16) {
        e = a + 16;
        ADMF_DOWN16(16, ADMF_SUM_TERM)
    }
    e = a + n;
    ADMF_DOWN16(n, ADMF_SUM_TERM)
#undef ADMF_SUM_TERM
    return s;
}

static inline double admf_sum_lr(const double* a, int64_t n) {
    return admf_sum_lr_from(0.0, a, n);
}

/* admf_absdev_acc's running sum: the low lane of an SSE2 register (no
   conversion from a double in between: the one GCC emits, vmovq between
   registers, is an instruction valgrind 3.19 cannot run), or a double */
#if defined(__SSE2__) || defined(_M_X64)
typedef __m128d admf_absacc;
#define ADMF_ABSACC_ZERO _mm_setzero_pd()
#define ADMF_ABSACC_VALUE(s) _mm_cvtsd_f64(s)
#else
typedef double admf_absacc;
#define ADMF_ABSACC_ZERO 0.0
#define ADMF_ABSACC_VALUE(s) (s)
#endif

/* s + |a[0] - m| + |a[1] - m| + ..., left to right (as admf_sum_lr).  Where
   SSE2 is (every x86-64), the differences and their absolute values a pair
   at a time (subpd, andpd: the scalar's bits), only the additions one by
   one (addsd into the low lane of an accumulator: a scalar accumulator
   cost GCC two register copies a pair); the pairs run as admf_sum_lr's
   terms, eight at most a switch (ADMF_DOWN8: sixteen made CCI's step too
   large for GCC to inline it in its run).  Always inlined: GCC's size
   estimate of the jump table left it a call.  (A pair load over a value
   its caller has just stored, 8 bytes, waits for that store to reach the
   cache: CCI's step does, and its batch runs from an array instead.) */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline admf_absacc admf_absdev_acc(admf_absacc s, const double* a, int64_t n, double m) {
    const double* e;
#if defined(__SSE2__) || defined(_M_X64)
    const __m128d mm = _mm_set1_pd(m), mask = _mm_castsi128_pd(_mm_set1_epi64x(INT64_MAX));
    __m128d t;
#define ADMF_ABSDEV_TERM(k) (t = _mm_and_pd(_mm_sub_pd(_mm_loadu_pd(e - 2 * (k)), mm), mask), \
                             s = _mm_add_sd(s, t), s = _mm_add_sd(s, _mm_unpackhi_pd(t, t)))
#define ADMF_ABSDEV_UNIT 2
    if (n & 1) {
        s = _mm_add_sd(s, _mm_and_pd(_mm_sub_sd(_mm_load_sd(a), mm), mask));
        a++;
    }
    n >>= 1;                            /* pairs */
#else
#define ADMF_ABSDEV_TERM(k) (s += fabs(e[-(k)] - m))
#define ADMF_ABSDEV_UNIT 1
#endif
    for (; n > 8; n -= 8, a += 8 * ADMF_ABSDEV_UNIT) {
        e = a + 8 * ADMF_ABSDEV_UNIT;
        ADMF_DOWN8(8, ADMF_ABSDEV_TERM)
    }
    e = a + n * ADMF_ABSDEV_UNIT;
    ADMF_DOWN8(n, ADMF_ABSDEV_TERM)
#undef ADMF_ABSDEV_TERM
#undef ADMF_ABSDEV_UNIT
    return s;
}

#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline double admf_absdev_lr(const double* a, int64_t n, double m) {
    return ADMF_ABSACC_VALUE(admf_absdev_acc(ADMF_ABSACC_ZERO, a, n, m));
}

/* The same sums from a start value, for a window in two parts (CCI's run:
   the ring's slot order over an array in bar order).  Up to 16 terms, one
   by one: one entry into the run of terms, no loop, no odd one out. */
static inline double admf_sum16_from(double s, const double* a, int64_t n) {
    const double* e = a + n;
#define ADMF_SUM_TERM(k) (s += e[-(k)])
    ADMF_DOWN16(n, ADMF_SUM_TERM)
#undef ADMF_SUM_TERM
    return s;
}

/* The extreme of a short window (1 <= n <= 8) held oldest first in
   e[-n] .. e[-1]: each value in order, kept when the running extreme is not
   above it (below it: the minimum).  So of equal values the newest wins, as
   the deque keeps it (0.0 and -0.0 too), and each term is one maxsd / minsd
   with a memory operand, no branch: that instruction is r > v ? r : v
   exactly, but GCC wrote the expression as two loads, a compare and an
   integer cmov, so the accumulator is the low lane of an SSE2 register.
   Windows of the rolling extremes up to SHORT_WINDOW (8) bars (their ring:
   each value twice, the window in a row). */
#if defined(__GNUC__)
#define ADMF_NOINLINE __attribute__((noinline))
#else
#define ADMF_NOINLINE
#endif
#if defined(__SSE2__) || defined(_M_X64)
#define ADMF_WINDOW_EXT(name, init, op)                                       \
    static inline double name(const double* e, int64_t n) {                  \
        __m128d r = _mm_set1_pd(init);                                        \
        ADMF_DOWN8(n, op)                                                     \
        return _mm_cvtsd_f64(r);                                              \
    }
#define ADMF_WMAX_TERM(k) (r = _mm_max_sd(r, _mm_load_sd(e - (k))))
#define ADMF_WMIN_TERM(k) (r = _mm_min_sd(r, _mm_load_sd(e - (k))))
#else
#define ADMF_WINDOW_EXT(name, init, op)                                       \
    static inline double name(const double* e, int64_t n) {                  \
        double r = (init);                                                    \
        ADMF_DOWN8(n, op)                                                     \
        return r;                                                             \
    }
#define ADMF_WMAX_TERM(k) (r = (r > e[-(k)]) ? r : e[-(k)])
#define ADMF_WMIN_TERM(k) (r = (r < e[-(k)]) ? r : e[-(k)])
#endif
ADMF_WINDOW_EXT(admf_window_max, -HUGE_VAL, ADMF_WMAX_TERM)
ADMF_WINDOW_EXT(admf_window_min, HUGE_VAL, ADMF_WMIN_TERM)
#undef ADMF_WINDOW_EXT
#undef ADMF_WMAX_TERM
#undef ADMF_WMIN_TERM

/* x into a short window's ring (2n values: x in slots j and j + n, j =
   *head, then *head the next slot) and the window's extreme.  Out of line:
   inlined, the scan made the steps that hold it too large for GCC to
   inline them in a bank's loop, which cost more than this call. */
#define ADMF_WINDOW_ADD(name, ext)                                            \
    ADMF_NOINLINE static double name(double* ring, long long* head, long long n, double x) { \
        long long j = *head;                                                  \
        ring[j] = x;                                                          \
        ring[j + n] = x;                                                      \
        *head = j + 1 < n ? j + 1 : 0;                                        \
        return ext(ring + j + n + 1, n);                                      \
    }
ADMF_WINDOW_ADD(admf_window_add_max, admf_window_max)
ADMF_WINDOW_ADD(admf_window_add_min, admf_window_min)
#undef ADMF_WINDOW_ADD

static inline double admf_absdev16_from(double s, const double* a, int64_t n, double m) {
    const double* e = a + n;
#define ADMF_ABSDEV_TERM(k) (s += fabs(e[-(k)] - m))
    ADMF_DOWN16(n, ADMF_ABSDEV_TERM)
#undef ADMF_ABSDEV_TERM
    return s;
}

/* |a1[0] - m| + ... + |a1[n1 - 1] - m| + |a2[0] - m| + ..., left to right */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline double admf_absdev2_lr(const double* a1, int64_t n1, const double* a2, int64_t n2, double m) {
    return ADMF_ABSACC_VALUE(admf_absdev_acc(admf_absdev_acc(ADMF_ABSACC_ZERO, a1, n1, m), a2, n2, m));
}

#endif /* ADMF_IND_H */
