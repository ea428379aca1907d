/* The switch for the CPython internals the compiled modules use
 * (docs/internals.md). Each use is also behind a version guard; this switch
 * turns every one of them off at run time, so that the suite runs each
 * public-API fallback on whatever interpreter it is on:
 *
 *   ADMF_PERF_PORTABLE=1 python -m pytest ...
 *
 * Read once, when a module initializes (admf_internals_init): a value other
 * than "", "0", "false", "no" or "off" (any case) means portable. One copy per
 * module (static), all read from the same environment variable.
 */
#ifndef ADMF_INTERNALS_H
#define ADMF_INTERNALS_H

#include <stdlib.h>

/* 1: the internals may be used (the default); 0: the fallbacks only. */
static int admf_internals = 1;

static int admf_flag_set(const char *v)
{
    static const char *const off[] = {"", "0", "false", "no", "off"};
    char low[8];
    size_t i, k;
    if (v == NULL)
        return 0;
    for (i = 0; v[i] != '\0'; i++) {
        if (i >= sizeof(low) - 1)
            return 1;               /* longer than any "off" word */
        low[i] = (char)((v[i] >= 'A' && v[i] <= 'Z') ? v[i] - 'A' + 'a' : v[i]);
    }
    low[i] = '\0';
    for (k = 0; k < sizeof(off) / sizeof(off[0]); k++) {
        size_t j = 0;
        while (off[k][j] != '\0' && off[k][j] == low[j])
            j++;
        if (off[k][j] == '\0' && low[j] == '\0')
            return 0;
    }
    return 1;
}

/* Called once at module initialization; returns the value in use. */
static int admf_internals_init(void)
{
    admf_internals = !admf_flag_set(getenv("ADMF_PERF_PORTABLE"));
    return admf_internals;
}

#endif
