/* Shared C of the compiled indicators (_indicators.pyx, _ind_kernels.pxd):
 * what Cython cannot say as directly.
 *
 * - admf_all_finite / admf_nf_*: the finiteness of arrays with integer
 *   operations that the compiler vectorizes (cloned for AVX2 where the CPU
 *   has it: the same result, fewer instructions);
 * - admf_lag_sub / admf_lag_roc: MOM and ROC over an array, element-wise
 *   (vectorized: each output is one IEEE operation, the same bits at any
 *   vector width), with the finiteness of the inputs on the way;
 * - admf_vhgw_max / admf_vhgw_min: van Herk / Gil-Werman rolling extremes;
 * - admf_sqrt_block / admf_bb_block: packed square roots (StdDev, BBANDS);
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
#include <string.h>

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

/* ---- the CPU: may the AVX2 build of the runs (_ind_simd) load? ---------- */

static int admf_cpu_avx2(void) {
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

/* ---- constants (the twin writes the same values) ------------------------ */

#define ADMF_TA_EPS 1e-14                               /* TA-Lib's TA_EPSILON */
#define ADMF_KAMA_MAX (2.0 / (30.0 + 1.0))
#define ADMF_KAMA_DIFF (2.0 / (2.0 + 1.0) - 2.0 / (30.0 + 1.0))
#define ADMF_VAR_TRIG (8.0 * 0x1p-53 * 0x1p33)           /* 2**-17 */
#define ADMF_VAR_E0 (-1e-300)  /* below 0: an exactly flat window is not re-centred again */

/* ---- finiteness ------------------------------------------------------- */

/* bit 63 set when the double at p is not finite: (bits & exponent) + 2**52
   carries into the sign bit exactly for an all-ones exponent */
#define ADMF_NF(acc, p) do { uint64_t b_; memcpy(&b_, (p), 8); \
    (acc) |= (b_ & 0x7ff0000000000000ULL) + 0x0010000000000000ULL; } while (0)

ADMF_CLONES
static uint64_t admf_nf_run(const double* a, Py_ssize_t n) {
    uint64_t acc = 0;
    for (Py_ssize_t i = 0; i < n; i++) ADMF_NF(acc, &a[i]);
    return acc;
}

static int admf_all_finite(const double* a, Py_ssize_t n) {
    return (admf_nf_run(a, n) >> 63) == 0;
}

/* ---- lagged differences (MOM, ROC) ------------------------------------- */

/* o[i] = a[i] - a[i - p] for i in [lo, n); returns the finiteness bits of a[lo:n] */
ADMF_CLONES
static uint64_t admf_lag_sub(const double* a, double* o, Py_ssize_t lo, Py_ssize_t n, Py_ssize_t p) {
    uint64_t acc = 0;
    for (Py_ssize_t i = lo; i < n; i++) {
        ADMF_NF(acc, &a[i]);
        o[i] = a[i] - a[i - p];
    }
    return acc;
}

/* TA-Lib's ROC: o[i] = ((a[i] / a[i-p]) - 1) * 100, 0 where a[i-p] == 0 */
ADMF_CLONES
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

/* ---- van Herk / Gil-Werman rolling extremes ---------------------------- */

/* Windows of p ending at i in [p-1, n) (n >= p): blocks of p aligned at 0;
   the prefix extremes of a block and the suffix extremes of the previous
   one give every window's extreme in 3 comparisons per element, without
   branches.  buf: 2 * (p + 1) doubles.  Returns 1 when some a[i] is not
   finite.  A tie picks either equal value: the same value. */
#define ADMF_VHGW(NAME, BETTER, WORST)                                              \
static int NAME(const double* a, double* o, Py_ssize_t n, Py_ssize_t p, double* buf) { \
    double *sp = buf, *sc = buf + (p + 1), *tmp;                                       \
    Py_ssize_t kf = n / p, k, t;                                                       \
    double g, h, v, w;                                                                 \
    sp[p] = sc[p] = WORST;                                                             \
    h = WORST;                                                                         \
    for (t = p - 1; t >= 0; t--) { v = a[t]; h = BETTER(v, h) ? v : h; sp[t] = h; }    \
    o[p - 1] = sp[0];                                                                  \
    for (k = 1; k <= kf; k++) {                                                        \
        Py_ssize_t bs = k * p, L = (k < kf) ? p : n - kf * p;                          \
        if (L == 0) break;                                                             \
        g = WORST; h = WORST;                                                          \
        for (t = 0; t < L; t++) {                                                      \
            v = a[bs + t]; g = BETTER(v, g) ? v : g;                                   \
            w = sp[t + 1]; o[bs + t] = BETTER(w, g) ? w : g;                           \
        }                                                                              \
        for (t = L - 1; t >= 0; t--) { v = a[bs + t]; h = BETTER(v, h) ? v : h; sc[t] = h; } \
        tmp = sp; sp = sc; sc = tmp;                                                   \
    }                                                                                  \
    return (admf_nf_run(a, n) >> 63) != 0;                                             \
}
#define ADMF_GT(a, b) ((a) > (b))
#define ADMF_LT(a, b) ((a) < (b))
ADMF_VHGW(admf_vhgw_max, ADMF_GT, -INFINITY)
ADMF_VHGW(admf_vhgw_min, ADMF_LT, INFINITY)

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

#endif /* ADMF_IND_H */
