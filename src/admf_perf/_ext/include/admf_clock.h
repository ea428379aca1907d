/* A monotonic clock in seconds, on every platform (_cache.pyx: TTL expiry
 * and time stamps; the twin reads time.monotonic()).
 *
 *   admf_clock(ADMF_CLOCK_PRECISE)  the precise clock (expiry is decided on it)
 *   admf_clock(ADMF_CLOCK_COARSE)   a cheaper clock with the same origin, for
 *                                   time stamps only (Linux:
 *                                   CLOCK_MONOTONIC_COARSE; elsewhere the
 *                                   precise one)
 *
 * POSIX (Linux, macOS 10.12+, the BSDs): clock_gettime(CLOCK_MONOTONIC), as
 * time.monotonic() on Linux. Windows: QueryPerformanceCounter, as
 * time.monotonic() there. A platform with neither fails to compile here, not
 * at run time.
 */
#ifndef ADMF_CLOCK_H
#define ADMF_CLOCK_H

#define ADMF_CLOCK_PRECISE 0
#define ADMF_CLOCK_COARSE 1

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

static inline double admf_clock(int coarse)
{
    /* The frequency is fixed at boot: read once (a benign race: every thread
       writes the same value). */
    static double period = 0.0;
    LARGE_INTEGER t;
    (void)coarse;
    if (period == 0.0) {
        LARGE_INTEGER f;
        QueryPerformanceFrequency(&f);
        period = 1.0 / (double)f.QuadPart;
    }
    QueryPerformanceCounter(&t);
    return (double)t.QuadPart * period;
}

#else
#include <time.h>
#if !defined(CLOCK_MONOTONIC)
#error "admf_clock.h: no CLOCK_MONOTONIC on this platform"
#endif
#ifdef CLOCK_MONOTONIC_COARSE
#define ADMF_CLOCKID_COARSE CLOCK_MONOTONIC_COARSE
#else
#define ADMF_CLOCKID_COARSE CLOCK_MONOTONIC
#endif

static inline double admf_clock(int coarse)
{
    struct timespec ts;
    clock_gettime(coarse ? ADMF_CLOCKID_COARSE : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
#endif

#endif
