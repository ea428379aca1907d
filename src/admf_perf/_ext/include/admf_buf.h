/* Large buffers that grow without copying (_timeseries.pyx: the columns of a
 * TimeSeriesArray; _cache.pyx: a store's entries array).
 *
 * On Linux a large buffer is a mapping of its own, grown by mremap, which
 * moves page tables instead of copying bytes: growing a 100 MB buffer costs
 * what growing a 1 MB one does.  A mapping starts on a page, so it is also
 * aligned to any cache line.  Elsewhere (no mremap) ADMF_BUF_MMAP is 0,
 * admf_buf_map returns NULL, and callers keep to malloc and copy.
 *
 *   admf_buf_map(n)           a fresh mapping of n bytes (zero pages; NULL:
 *                             no mmap here, or no memory)
 *   admf_buf_remap(p, o, n)   mapping p of o bytes resized to n, its first
 *                             min(o, n) bytes kept (NULL on failure: p is
 *                             then untouched)
 *   admf_buf_unmap(p, n)      release mapping p of n bytes
 *   admf_buf_hugepages(p, n, mapped)
 *                             ask for transparent huge pages on a buffer of
 *                             ADMF_BUF_HUGE bytes or more, as numpy does for
 *                             its data (a fresh 80 MB buffer otherwise costs
 *                             ~40k page faults).  A mapping is advised whole,
 *                             so it stays one VMA (mremap refuses a range
 *                             spanning two: EFAULT); a malloc'd block only on
 *                             the pages wholly inside it.
 *
 * Nothing here tells tracemalloc: a caller whose small buffers it sees
 * (PyMem_RawMalloc) tracks its mappings itself (PyTraceMalloc_Track).
 */
#ifndef ADMF_BUF_H
#define ADMF_BUF_H

#include <stddef.h>
#include <stdint.h>

#if defined(__linux__)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/mman.h>
#define ADMF_BUF_MMAP 1
#else
#define ADMF_BUF_MMAP 0
#endif

#define ADMF_BUF_HUGE ((Py_ssize_t)1 << 22)

static inline void admf_buf_hugepages(char* p, Py_ssize_t nbytes, int mapped)
{
#if ADMF_BUF_MMAP && defined(MADV_HUGEPAGE)
    if (p != NULL && nbytes >= ADMF_BUF_HUGE) {
        uintptr_t start = mapped ? (uintptr_t)p : (((uintptr_t)p + 4095) & ~(uintptr_t)4095);
        uintptr_t end = mapped ? (((uintptr_t)p + (uintptr_t)nbytes + 4095) & ~(uintptr_t)4095)
                               : (((uintptr_t)p + (uintptr_t)nbytes) & ~(uintptr_t)4095);
        if (end > start) madvise((void*)start, end - start, MADV_HUGEPAGE);
    }
#else
    (void)p; (void)nbytes; (void)mapped;
#endif
}

static inline char* admf_buf_map(Py_ssize_t nbytes)
{
#if ADMF_BUF_MMAP
    void* m = mmap(NULL, (size_t)(nbytes < 1 ? 1 : nbytes), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    admf_buf_hugepages((char*)m, nbytes, 1);
    return (char*)m;
#else
    (void)nbytes;
    return NULL;
#endif
}

static inline char* admf_buf_remap(char* p, Py_ssize_t old_n, Py_ssize_t new_n)
{
#if ADMF_BUF_MMAP
    void* r = mremap(p, (size_t)(old_n < 1 ? 1 : old_n), (size_t)(new_n < 1 ? 1 : new_n),
                     MREMAP_MAYMOVE);
    if (r == MAP_FAILED) return NULL;
    admf_buf_hugepages((char*)r, new_n, 1);
    return (char*)r;
#else
    (void)p; (void)old_n; (void)new_n;
    return NULL;
#endif
}

static inline void admf_buf_unmap(char* p, Py_ssize_t nbytes)
{
#if ADMF_BUF_MMAP
    if (p != NULL) munmap(p, (size_t)(nbytes < 1 ? 1 : nbytes));
#else
    (void)p; (void)nbytes;
#endif
}

#endif
