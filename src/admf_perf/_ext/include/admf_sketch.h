/* W-TinyLFU's frequency sketch (_cache.pyx; twin: _Sketch in _cache_py.py).
 *
 * A count-min sketch of 4 rows of `width` counters (a power of 2) that
 * saturate at 15, one byte each: counter j of row r is byte r * width + j.
 * (Caffeine packs two 4-bit counters per byte; a byte each costs 2 bytes
 * more per entry and saves the nibble shifts and masks, about a third of an
 * increment's instructions.) A key's Python hash is mixed (two
 * multiply-xorshift rounds), then each row takes the top `bits` bits of the
 * mix times its odd seed. The estimate is the smallest of the 4 counters; an
 * increment adds 1 to each counter below 15. Aging halves every counter.
 */
#ifndef ADMF_SKETCH_H
#define ADMF_SKETCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ADMF_SKETCH_MIX 0xD6E8FEB86659FD93ULL
#define ADMF_SKETCH_MAX 15

static inline void admf_sketch_index(uint64_t h, int bits, ptrdiff_t width, ptrdiff_t *idx)
{
    static const uint64_t seeds[4] = {0xC3A5C85C97CB3127ULL, 0xB492B66FBE98F273ULL,
                                      0x9AE16A3B2F90404FULL, 0xCBF29CE484222325ULL};
    uint64_t x = h;
    int shift = 64 - bits;
    int r;
    x ^= x >> 32;
    x *= ADMF_SKETCH_MIX;
    x ^= x >> 32;
    x *= ADMF_SKETCH_MIX;
    x ^= x >> 32;
    for (r = 0; r < 4; r++)
        idx[r] = r * width + (ptrdiff_t)((x * seeds[r]) >> shift);
}

static inline int admf_sketch_frequency(const unsigned char *t, uint64_t h, int bits, ptrdiff_t width)
{
    ptrdiff_t idx[4];
    int f, r;
    admf_sketch_index(h, bits, width, idx);
    f = t[idx[0]];
    for (r = 1; r < 4; r++)
        f = t[idx[r]] < f ? t[idx[r]] : f;
    return f;
}

/* 1 when a counter grew (it counts toward the aging sample). */
static inline int admf_sketch_increment(unsigned char *t, uint64_t h, int bits, ptrdiff_t width)
{
    ptrdiff_t idx[4];
    int added = 0, r, below;
    admf_sketch_index(h, bits, width, idx);
    for (r = 0; r < 4; r++) {
        below = t[idx[r]] < ADMF_SKETCH_MAX;
        t[idx[r]] = (unsigned char)(t[idx[r]] + below);
        added |= below;
    }
    return added;
}

/* The table's size in bytes for `width` counters per row. */
static inline ptrdiff_t admf_sketch_nbytes(ptrdiff_t width)
{
    return 4 * width;
}

static inline void admf_sketch_halve(unsigned char *t, ptrdiff_t nbytes)
{
    ptrdiff_t i;
    for (i = 0; i < nbytes; i++)
        t[i] = (unsigned char)(t[i] >> 1);
}

#endif
