# cython: language_level=3
# Declarations of the compiled cache (_cache.pyx), for cimport:
#
#     from admf_perf._ext._cache cimport CacheCore, CachedFunction
#
# ``admf_perf.cache.Cache`` subclasses CacheCore and ``cached`` returns a
# CachedFunction; their state is private (the twin, _cache_py.py, is the
# specification). The layout of an entry is documented in _cache.pyx.
cimport cython
from cpython.object cimport PyObject

cdef extern from "Python.h":
    ctypedef PyObject* (*vectorcallfunc)(PyObject*, PyObject* const*, size_t, PyObject*)

cdef extern from "admf_rdlock.h":
    # free-threaded builds: hits without the lock (include/admf_rdlock.h)
    ctypedef Py_ssize_t admf_writers
    ctypedef struct admf_use:
        int entry
        double when
        unsigned long long at
    ctypedef struct admf_uses:
        pass
    ctypedef int admf_flag
    ctypedef unsigned int admf_mask

cdef enum:
    MAX_PROBE = 4     # arities up to this are looked up through a probe tuple


# An entry of the store (see "Entries and their lists" in _cache.pyx)
cdef struct Entry:
    PyObject* key               # owned; NULL: free
    PyObject* value             # owned
    Py_hash_t hash
    int prev, next              # the order list (free: next free entry)
    int tag                     # LFU: its bucket; W-TinyLFU: its list
    int flags
    double last_access
    Py_ssize_t access_count
    double created_at           # its write time (expires at created_at + ttl)

cdef struct Cold:
    PyObject* args              # owned, or NULL
    PyObject* kwargs            # owned, or NULL
    Py_ssize_t nbytes           # measured size (only kept when the store measures)
    int tprev, tnext            # the time list (with a ttl)

cdef struct List:
    int first, last             # least recently used first
    Py_ssize_t len

cdef struct Bucket:             # LFU: the entries of one frequency
    List items
    int prev, next              # the chain of buckets by increasing frequency (free: next free)
    Py_ssize_t freq


@cython.no_gc_clear
cdef class CacheCore:
    # the index table: open addressing, linear probing, Robin Hood order (a
    # run's entries sorted by home slot: a miss stops early) and backward-shift
    # removal (no markers); a slot holds an entry's index or EMPTY. A hash's
    # home slot is (h * mult) >> shift: its low bits (mult = 2**shift, as
    # CPython's dict) while every key is an exact int and no probe ran long,
    # then Fibonacci hashing for good
    cdef int* index
    cdef Py_ssize_t mask        # capacity - 1 (a power of 2)
    cdef int shift              # 64 - log2(capacity)
    cdef unsigned long long mult
    cdef bint scatter           # Fibonacci hashing (sticky: survives clear and rebuilds)
    cdef Py_ssize_t filled      # slots holding an entry
    # the entries (64-byte aligned: one per cache line) and their cold halves
    cdef Entry* ent
    cdef Cold* cold
    cdef void* ent_block        # what ent points into (malloc'd, or mapped: admf_buf.h)
    cdef bint ent_mapped
    cdef Py_ssize_t ent_cap
    cdef Py_ssize_t ent_used    # entries ever handed out: [0, ent_used) are live or free
    cdef int free_head          # the free entries, chained by next
    # the order lists: LRU/FIFO/TLRU/UNBOUNDED use lists[0];
    # W-TinyLFU: window, probation, protected
    cdef List lists[3]
    cdef List times             # with ttl: entries by expiry
    cdef Bucket* bk             # LFU: the buckets (one more than entries can ever need)
    cdef Py_ssize_t bk_cap
    cdef int bk_first, bk_last, bk_free
    cdef Py_ssize_t size
    cdef Py_ssize_t maxsize     # -1: never evicts
    cdef Py_ssize_t nbytes      # the live entries' measured bytes
    cdef Py_ssize_t maxbytes    # PY_SSIZE_T_MAX: no byte budget (one comparison tests both)
    cdef object measure         # measure(key, value) -> int >= 0, or None: not measured
    cdef bint measured          # measure is not None (entries' nbytes kept)
    cdef int policy_code
    cdef bint ranked            # LFU or W-TinyLFU: not one order list (one test on LRU's paths)
    cdef bint lfu
    cdef bint wtlfu
    cdef bint move_on_hit
    cdef bint has_ttl
    cdef bint precise           # a user timer: every time stamp comes from it
    cdef bint plain_writes      # no ttl, measure or timer: a write runs no Python code but __eq__
    cdef double ttl_seconds
    cdef object timer
    cdef unsigned long long hits
    cdef unsigned long long misses
    cdef unsigned long long evictions
    cdef unsigned long long expirations
    cdef unsigned long long mutations   # structural changes, to detect reentrant ones
    # The last key a lookup missed, its hash and `mutations` then: a set of the
    # same key right after (get-or-set) knows it is absent without a lookup.
    cdef object miss_key
    cdef Py_hash_t miss_hash
    cdef unsigned long long miss_at
    cdef Py_ssize_t miss_pos            # where that key would be inserted
    # W-TinyLFU
    cdef unsigned char* sketch  # 4 rows x sk_width counters, a byte each
    cdef Py_ssize_t sk_width
    cdef Py_ssize_t sk_cap      # the width it may grow to
    cdef Py_ssize_t sk_adds     # increments since the last aging
    cdef int sk_bits            # log2(sk_width)
    # the hill climber (with a max_size): the capacities it moves, its sample
    cdef Py_ssize_t wmax, qmax
    cdef Py_ssize_t sample_hits, sample_misses, adjustment
    cdef double previous_rate, step
    # free-threaded builds: writers in the store (readers keep out while > 0),
    # the rings that may hold uses (a bit each; beside `writers`, a line the
    # readers read), the uses readers found (a ring per slot) and the flag of
    # the reader applying them (include/admf_rdlock.h)
    cdef admf_writers writers
    cdef admf_mask pending
    cdef admf_uses* uses
    cdef admf_flag applying
    cdef object __weakref__


@cython.final
cdef class _Token:
    cdef object __weakref__


@cython.final
cdef class MethodTokens:
    cdef dict by_id
    cdef object cache_ref
    cdef object __weakref__

    cpdef object token(self, obj)


@cython.final
cdef class _TokenCallback:
    cdef object tokens_ref
    cdef Py_ssize_t ident
    cdef object token


@cython.final
cdef class _Flight:
    cdef object event
    cdef long owner
    cdef object result
    cdef object error


@cython.final
cdef class CachedFunction:
    cdef vectorcallfunc vectorcall
    cdef object func
    cdef CacheCore core
    cdef bint typed
    cdef bint single_flight
    cdef object key_maker
    cdef object fallback
    cdef dict flights
    cdef object flight_lock
    cdef MethodTokens tokens
    # Probe tuples: one per arity, holding borrowed arguments while a call's key
    # is looked up, so a hit allocates no key. NULL while checked out.
    cdef PyObject* probes[MAX_PROBE + 1]
    cdef dict __dict__
    cdef object __weakref__


@cython.final
cdef class _BoundCachedMethod:
    cdef vectorcallfunc vectorcall
    cdef CachedFunction func
    cdef object obj
    cdef object token
