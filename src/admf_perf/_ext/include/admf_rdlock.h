/* Hits that take no lock, on a free-threaded CPython (docs/freethreading.md,
   "Hits without the lock").

   A store's operations hold its critical section (admf_ft.h), and two
   threads hitting one store then take turns.  A hit that runs no Python code
   (its key is an exact int or str, or a tuple of them, and the store has no
   ttl or timer) instead enters the store as a *reader*:

     - readers: each thread announces the store it reads in a slot (a cache
       line per slot, chosen from its stack's address), then checks that no
       writer is in the store; the hit's lookup reads the table and the
       entries, takes a reference to the value, and appends the use (the
       entry, and when: admf_use_time) to the store's ring of that slot
       (Caffeine's read buffers): nothing that another reader writes;
     - applying the uses (order lists, statistics, sketch) in time order:
       a reader whose ring is half full does it, if no other is doing it
       (`applying`), while the others go on reading (the lookups and the
       order are disjoint state);
     - writers: every other operation (under the critical section) counts
       itself into the store's `writers` first; the count going from 0 to 1
       waits until no slot announces the store (an applying reader
       included), then applies every buffered use: those of the rings the
       store's `pending` mask names (a reader sets its ring's bit when the
       bit is clear, the first writer clears them all), so that a store
       no reader used since the last writer costs its next writer no scan
       of the rings.  While `writers` is above
       0, readers take the locked path, and so does a reader whose ring is
       full.

   The entry/exit handshake is Dekker's: a reader stores its slot and then
   loads `writers`, a writer stores `writers` and then loads the slots, both
   sequentially consistent, so at least one sees the other.  A writer thus
   never changes or frees what a reader is reading.  A critical section
   suspended while its thread blocks (in a key's __eq__, say) keeps its
   count: readers stay out until every writer has left.  Two threads whose
   slots collide: the second takes the locked path.

   The order uses are applied in is a valid order of the operations (the
   cache is linearizable, tests/test_linearizable.py): uses are merged by
   time, and a reader applies only those stamped before it started
   applying (`before`): a use stamped earlier but not yet appended belongs
   to an operation that overlaps every use applied after it.

   With the GIL, none of this is compiled (ADMF_FT is 0). */
#ifndef ADMF_RDLOCK_H
#define ADMF_RDLOCK_H
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <limits.h>
#include "admf_clock.h"

#define ADMF_USES_N 64          /* uses a ring holds (a power of 2) */

/* A store's ring of one slot's uses: `tail` is written by the slot's
   reader, `head` by whoever applies them. */
typedef struct { int entry; double when; unsigned long long at; } admf_use;

#ifdef Py_GIL_DISABLED
#include <stdatomic.h>
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#define admf_cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define admf_cpu_relax() __asm__ __volatile__("yield")
#else
#define admf_cpu_relax() ((void)0)
#endif

/* Readers only where the time stamps are the time-stamp counter (below);
   elsewhere every hit takes the lock, as before. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define ADMF_RD_ENABLED 1
#else
#define ADMF_RD_ENABLED 0
#endif
#define ADMF_RD_SLOTS 16
#define ADMF_RD_SPINS 256       /* pauses a reader waits for a writer to leave */
#define ADMF_WR_SPINS 4096      /* pauses a writer waits for a reader before yielding */
#if defined(__unix__) || defined(__APPLE__)
#include <sched.h>
#define admf_yield() sched_yield()
#else
#define admf_yield() admf_cpu_relax()
#endif

typedef struct {
    _Alignas(64) _Atomic(unsigned int) tail;
    _Atomic(unsigned int) head;
    admf_use use[ADMF_USES_N];
} admf_uses;

typedef struct {
    _Atomic(void*) store;
    char pad[64 - sizeof(void*)];
} admf_rd_slot;

static _Alignas(64) admf_rd_slot admf_rd_slots[ADMF_RD_SLOTS];

typedef _Atomic(Py_ssize_t) admf_writers;
typedef atomic_int admf_flag;
typedef atomic_uint admf_mask;

/* The calling thread's slot, from its stack's address (threads' stacks are
   megabytes apart; no thread-local storage to look up).  Any slot would do:
   a slot is held by one reader at a time, and its ring stays in time order
   whoever holds it. */
static inline admf_rd_slot* admf_rd_slot_of(void) {
    char here;
    uintptr_t t = (uintptr_t)&here >> 20;
    return &admf_rd_slots[(t * 0x9E3779B97F4A7C15ULL) >> 60];
}

/* When a use happened: a time that never goes back, across threads (an
   operation that returned before another started stamps an earlier time).
   x86-64: the time-stamp counter, read once the instructions before it have
   run (rdtscp: after the reader's entry); the cut-off of whoever applies
   them also keeps what follows from running first (lfence: the rings are
   read after it).  This assumes the counter in step on every core, as an
   invariant TSC is and as Linux requires before its clock reads it; a
   machine where it is not could apply two uses of hits that did not
   overlap out of order (the order lists only; nothing is lost).  Elsewhere
   (readers off) the monotonic clock, unused. */
#if ADMF_RD_ENABLED
#include <x86intrin.h>
static inline unsigned long long admf_use_time(void) {
    unsigned int aux;
    return __rdtscp(&aux);
}
static inline unsigned long long admf_use_cutoff(void) {
    unsigned long long t = admf_use_time();
    _mm_lfence();
    return t;
}
#else
static inline unsigned long long admf_use_time(void) {
    return (unsigned long long)(admf_clock(ADMF_CLOCK_PRECISE) * 1e9);
}
static inline unsigned long long admf_use_cutoff(void) {
    unsigned long long t = admf_use_time();
    atomic_thread_fence(memory_order_seq_cst);
    return t;
}
#endif

/* Enter `store` as a reader: the slot, or NULL (a writer stays in, or the
   slot is taken): then take the locked path. */
static inline admf_rd_slot* admf_rd_enter(void* store, admf_writers* writers) {
    admf_rd_slot* s = admf_rd_slot_of();
    int spins = 0;
    for (;;) {
        void* expected = NULL;
        if (!atomic_compare_exchange_strong(&s->store, &expected, store))
            return NULL;
        if (atomic_load(writers) == 0)
            return s;
        atomic_store_explicit(&s->store, NULL, memory_order_release);
        /* a writer is in: most are short; wait a little before the lock */
        do {
            if (++spins > ADMF_RD_SPINS)
                return NULL;
            admf_cpu_relax();
        } while (atomic_load_explicit(writers, memory_order_relaxed) != 0);
    }
}

static inline void admf_rd_leave(admf_rd_slot* s) {
    atomic_store_explicit(&s->store, NULL, memory_order_release);
}

static inline int admf_rd_index(admf_rd_slot* s) { return (int)(s - admf_rd_slots); }

/* A writer comes in (under the store's critical section): 1 when it is the
   first, and the readers have left (the buffered uses are then its to
   apply). */
static inline int admf_wr_enter(void* store, admf_writers* writers) {
    Py_ssize_t w = atomic_load_explicit(writers, memory_order_relaxed);
    atomic_store(writers, w + 1);
    if (w != 0)
        return 0;
    for (int i = 0; i < ADMF_RD_SLOTS; i++) {
        for (unsigned int spins = 0; atomic_load(&admf_rd_slots[i].store) == store; spins++) {
            if (spins < ADMF_WR_SPINS)
                admf_cpu_relax();
            else
                admf_yield();       /* the reader's thread was preempted: let it run */
        }
    }
    return 1;
}

static inline void admf_wr_leave(admf_writers* writers) {
    Py_ssize_t w = atomic_load_explicit(writers, memory_order_relaxed);
    atomic_store_explicit(writers, w - 1, memory_order_release);
}

/* The ring's reader: append a use (0: full); how many it holds. */
static inline int admf_uses_push(admf_uses* u, int entry, double when, unsigned long long at) {
    unsigned int t = atomic_load_explicit(&u->tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&u->head, memory_order_acquire) >= ADMF_USES_N)
        return 0;
    u->use[t & (ADMF_USES_N - 1)].entry = entry;
    u->use[t & (ADMF_USES_N - 1)].when = when;
    u->use[t & (ADMF_USES_N - 1)].at = at;
    atomic_store_explicit(&u->tail, t + 1, memory_order_release);
    return 1;
}

static inline unsigned int admf_uses_len(admf_uses* u) {
    return atomic_load_explicit(&u->tail, memory_order_relaxed)
           - atomic_load_explicit(&u->head, memory_order_relaxed);
}

/* Whoever applies: the ring's bounds, its k-th use, and the new head. */
static inline admf_use* admf_uses_at(admf_uses* u, unsigned int k) {
    return &u->use[k & (ADMF_USES_N - 1)];
}
static inline unsigned int admf_uses_tail(admf_uses* u) {
    return atomic_load_explicit(&u->tail, memory_order_acquire);
}
static inline unsigned int admf_uses_head(admf_uses* u) {
    return atomic_load_explicit(&u->head, memory_order_relaxed);
}
static inline void admf_uses_set_head(admf_uses* u, unsigned int h) {
    atomic_store_explicit(&u->head, h, memory_order_release);
}

/* Forget a ring's uses (the store emptied: their entries are gone). */
static inline void admf_uses_drop(admf_uses* u) {
    atomic_store_explicit(&u->head, atomic_load_explicit(&u->tail, memory_order_acquire),
                          memory_order_release);
}

/* The store's mask of rings that may hold uses.  A reader marks its ring
   after a push (the read alone when the bit is already set: a line the
   readers share and seldom write); only the first writer clears it, when no
   reader is in, so a ring holding a use always has its bit set (a reader
   applying the uses leaves the bits as they are).  The reader's slot, left
   with a release store after the mark, publishes it to that writer. */
static inline void admf_mask_mark(admf_mask* m, int k) {
    unsigned int bit = 1u << k;
    if (!(atomic_load_explicit(m, memory_order_relaxed) & bit))
        atomic_fetch_or(m, bit);
}
static inline unsigned int admf_mask_get(admf_mask* m) { return atomic_load(m); }
static inline unsigned int admf_mask_take(admf_mask* m) { return atomic_exchange(m, 0u); }

/* The flag of the reader applying the uses. */
static inline int admf_flag_try(admf_flag* f) {
    int expected = 0;
    return atomic_load_explicit(f, memory_order_relaxed) == 0
           && atomic_compare_exchange_strong(f, &expected, 1);
}
static inline void admf_flag_clear(admf_flag* f) {
    atomic_store_explicit(f, 0, memory_order_release);
}

_Static_assert(ADMF_RD_SLOTS <= 32, "_apply_uses merges at most 32 rings");

#else   /* the GIL: nothing */
#define ADMF_RD_ENABLED 0
#define ADMF_RD_SLOTS 1
#define ADMF_RD_SPINS 0
typedef struct { unsigned int tail, head; admf_use use[1]; } admf_uses;
typedef struct { char unused; } admf_rd_slot;
typedef Py_ssize_t admf_writers;
typedef int admf_flag;
typedef unsigned int admf_mask;
static inline unsigned long long admf_use_time(void) { return 0; }
static inline unsigned long long admf_use_cutoff(void) { return 0; }
static inline admf_rd_slot* admf_rd_enter(void* store, admf_writers* writers) {
    (void)store; (void)writers; return NULL;
}
static inline void admf_rd_leave(admf_rd_slot* s) { (void)s; }
static inline int admf_rd_index(admf_rd_slot* s) { (void)s; return 0; }
static inline int admf_wr_enter(void* store, admf_writers* writers) {
    (void)store; (void)writers; return 0;
}
static inline void admf_wr_leave(admf_writers* writers) { (void)writers; }
static inline int admf_uses_push(admf_uses* u, int entry, double when, unsigned long long at) {
    (void)u; (void)entry; (void)when; (void)at; return 0;
}
static inline unsigned int admf_uses_len(admf_uses* u) { (void)u; return 0; }
static inline unsigned int admf_uses_tail(admf_uses* u) { (void)u; return 0; }
static inline admf_use* admf_uses_at(admf_uses* u, unsigned int k) { (void)k; return &u->use[0]; }
static inline unsigned int admf_uses_head(admf_uses* u) { (void)u; return 0; }
static inline void admf_uses_set_head(admf_uses* u, unsigned int h) { (void)u; (void)h; }
static inline void admf_uses_drop(admf_uses* u) { (void)u; }
static inline int admf_flag_try(admf_flag* f) { (void)f; return 0; }
static inline void admf_mask_mark(admf_mask* m, int k) { (void)m; (void)k; }
static inline unsigned int admf_mask_get(admf_mask* m) { (void)m; return 0; }
static inline unsigned int admf_mask_take(admf_mask* m) { (void)m; return 0; }
static inline void admf_flag_clear(admf_flag* f) { (void)f; }
#endif

/* Zeroed memory aligned to a cache line, and its release (NULL: nothing). */
static inline void* admf_aligned_calloc(size_t n) {
    char* raw = (char*)calloc(n + 64 + sizeof(void*), 1);
    if (raw == NULL)
        return NULL;
    uintptr_t a = ((uintptr_t)(raw + sizeof(void*)) + 63) & ~(uintptr_t)63;
    ((void**)a)[-1] = raw;
    return (void*)a;
}

static inline void admf_aligned_free(void* p) {
    if (p != NULL)
        free(((void**)p)[-1]);
}

#endif
