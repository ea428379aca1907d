/* An object's address hashed into a table of 2**(64 - shift) slots:
 * Fibonacci hashing of the address without its low 4 bits (alignment).
 * _pool.pyx: ObjectPool's set of the objects given out; _risk.pyx:
 * PositionCore's identity table of symbols.
 */
#ifndef ADMF_ADDR_H
#define ADMF_ADDR_H

#include <stddef.h>
#include <stdint.h>

static inline size_t admf_addr_slot(const void* p, int shift)
{
    return (size_t)((((unsigned long long)(uintptr_t)p >> 4) * 11400714819323198485ULL) >> shift);
}

#endif /* ADMF_ADDR_H */
