# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
# cython: freethreading_compatible=True
"""Compiled stores and call path of admf_perf's caches.

Twin (specification): ``_cache_py.py``. Semantics: docs/caching.md.

One compact store serves every policy, laid out as CPython's dict: the
entries live in one contiguous array (``Entry``, one 64-byte line each: what
a hit touches; the rest in a parallel ``Cold`` array) and an index table of
C ints maps a key's hash to its entry (open addressing). The order lists
(LRU/FIFO/UNBOUNDED: one; LFU: one per frequency ``Bucket``; W-TinyLFU:
window, probation, protected) and the time list that TTL purges from link
entries by index, so no entry is a heap object of its own. An entry is in
the table exactly when it is linked into the lists; evicting it finds its
slot from its stored hash, comparing no key.

The GIL is held throughout. Python code can run only in a key's
``__hash__``/``__eq__`` (a lookup that sees the store change meanwhile starts
over), a ``timer`` call, a garbage-collection pass or a reference drop, and
each operation is consistent at those points. An index found before Python
code ran is trusted after it only while its entry still holds the very key
object found there (``_holds``).
"""

cimport cython
from cpython.object cimport PyObject, PyTypeObject
from cpython.list cimport PyList_New
from cpython.ref cimport Py_INCREF, Py_XDECREF
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.math cimport fabs
from libc.string cimport memcpy, memset

from admf_perf._ext._ft cimport ADMF_FT, admf_cs, admf_cs_begin, admf_cs_end

import threading

from admf_perf._ext._types import CacheInfo, KWD_MARK

cdef extern from "Python.h":
    ctypedef PyObject* (*ternaryfunc)(PyObject*, PyObject*, PyObject*)
    Py_hash_t PyObject_Hash_ptr "PyObject_Hash"(PyObject* o)
    void PyObject_GC_UnTrack(PyObject* o)
    int PyObject_RichCompareBool(PyObject* a, PyObject* b, int op)
    int Py_EQ
    Py_ssize_t PY_SSIZE_T_MAX
    void Py_INCREF_ptr "Py_INCREF"(PyObject* o)
    void Py_DECREF_ptr "Py_DECREF"(PyObject* o)
    void Py_XINCREF_ptr "Py_XINCREF"(PyObject* o)
    void Py_XDECREF_ptr "Py_XDECREF"(PyObject* o)
    void PyList_SET_ITEM_ptr "PyList_SET_ITEM"(object l, Py_ssize_t i, PyObject* o)
    ctypedef int (*admf_visitproc "visitproc")(PyObject*, void*) noexcept
    ctypedef int (*admf_traverseproc "traverseproc")(PyObject*, admf_visitproc, void*) noexcept
    ctypedef int (*admf_inquiry "inquiry")(PyObject*) noexcept
    Py_hash_t PyObject_Hash_raw "PyObject_Hash"(object o)
    Py_hash_t PyObject_Hash(object o) except -1
    PyObject* PyErr_Occurred()
    int PyErr_ExceptionMatches(object exc)
    void PyErr_Clear()
    Py_ssize_t Py_REFCNT(object o)
    Py_ssize_t PyVectorcall_NARGS(size_t nargsf)
    PyObject** PySequence_Fast_ITEMS(object o)
    object PyObject_Vectorcall(object func, PyObject* const* args, size_t nargsf, PyObject* kwnames)
    PyObject* PyVectorcall_Call(PyObject* callable, PyObject* tuple, PyObject* dict)
    object PyTuple_New(Py_ssize_t n)
    void PyTuple_SET_ITEM(object t, Py_ssize_t i, object o)
    PyObject* PyTuple_GET_ITEM(object t, Py_ssize_t i)
    Py_ssize_t PyTuple_GET_SIZE(object t)
    Py_ssize_t PyTuple_GET_SIZE_ptr "PyTuple_GET_SIZE"(PyObject* t)
    bint PyTuple_CheckExact_ptr "PyTuple_CheckExact"(PyObject* o)
    bint PyLong_CheckExact_ptr "PyLong_CheckExact"(PyObject* o)
    bint PyUnicode_CheckExact_ptr "PyUnicode_CheckExact"(PyObject* o)
    bint PyLong_CheckExact(object o)
    bint PyUnicode_CheckExact(object o)
    void PyType_Modified(PyTypeObject* t)
    unsigned long Py_TPFLAGS_HAVE_VECTORCALL
    size_t PY_VECTORCALL_ARGUMENTS_OFFSET

cdef extern from *:
    """
    /* Equality of two objects of one exact type, int or str, whose
       comparison runs no Python code: straight to the type's slot (what
       PyObject_RichCompareBool ends up calling). 1, 0, or -1 on error. */
    static inline int admf_exact_eq(PyObject *a, PyObject *b) {
        PyObject *r = Py_TYPE(a)->tp_richcompare(a, b, Py_EQ);
        if (r == NULL) return -1;
        int eq = (r == Py_True);
        Py_DECREF(r);
        return eq;
    }
    static inline int admf_same_exact_scalar(PyObject *a, PyObject *b) {
        return Py_IS_TYPE(a, Py_TYPE(b)) && (PyLong_CheckExact(a) || PyUnicode_CheckExact(a));
    }
    /* _hit_fast inline wherever it is called (GCC's size heuristics once
       left it out of line in _call_in: +3% instructions on a hit of f(a, b));
       Cython's own prototype follows, with the same signature. */
    #if defined(__GNUC__) || defined(__clang__)
    struct __pyx_obj_9admf_perf_4_ext_6_cache_CacheCore;
    static inline __attribute__((always_inline)) int __pyx_f_9admf_perf_4_ext_6_cache__hit_fast(
        struct __pyx_obj_9admf_perf_4_ext_6_cache_CacheCore *, Py_ssize_t);
    #endif
    /* A new tuple of n objects (NULL with an exception set). */
    static inline PyObject* admf_tuple_of(PyObject* const* items, Py_ssize_t n) {
        PyObject* t = PyTuple_New(n);
        if (t != NULL)
            for (Py_ssize_t i = 0; i < n; i++) {
                Py_INCREF(items[i]);
                PyTuple_SET_ITEM(t, i, items[i]);
            }
        return t;
    }
    /* A new reference handed to Cython as the object it returns. */
    static inline PyObject* admf_steal(PyObject* o) { return o; }
    /* Propagate the exception that is already set (Cython: except -1). */
    static inline int admf_error_set(void) { return PyErr_Occurred() ? -1 : 0; }
    static inline int admf_fail(void) { return -1; }
    #define ADMF_GET_TRAVERSE(t) ((t)->tp_traverse)
    #define ADMF_SET_TRAVERSE(t, f) ((t)->tp_traverse = (f))
    #define ADMF_SET_CLEAR(t, f) ((t)->tp_clear = (f))
    #define ADMF_TUPLE_ITEMS(t) (((PyTupleObject *)(t))->ob_item)
    #define ADMF_TUPLE_ITEMS_PTR(t) (((PyTupleObject *)(t))->ob_item)
    /* Reusing one tuple to look keys up needs tuples that do not cache their hash. */
    #define ADMF_PROBE_TUPLES (PY_VERSION_HEX < 0x030E0000)
    #define ADMF_AS_VECTORCALL(f) ((vectorcallfunc)(void (*)(void))(f))
    #define ADMF_AS_TERNARY(f) ((ternaryfunc)(void (*)(void))(f))
    #define ADMF_TYPE_SET_VECTORCALL(t, off) \\
        do { (t)->tp_vectorcall_offset = (off); \\
             (t)->tp_flags |= Py_TPFLAGS_HAVE_VECTORCALL; \\
             (t)->tp_call = PyVectorcall_Call; } while (0)
    """
    vectorcallfunc ADMF_AS_VECTORCALL(void*)
    PyObject** ADMF_TUPLE_ITEMS(object)
    admf_traverseproc ADMF_GET_TRAVERSE(PyTypeObject*)
    void ADMF_SET_TRAVERSE(PyTypeObject*, admf_traverseproc)
    void ADMF_SET_CLEAR(PyTypeObject*, admf_inquiry)
    PyObject** ADMF_TUPLE_ITEMS_PTR(PyObject*)
    bint ADMF_PROBE_TUPLES
    int admf_error_set() except -1
    int admf_exact_eq(PyObject*, PyObject*) noexcept
    bint admf_same_exact_scalar(PyObject*, PyObject*) noexcept
    object admf_steal(PyObject*)
    PyObject* admf_tuple_of(PyObject* const* items, Py_ssize_t n) noexcept
    object admf_tuple_obj "admf_tuple_of"(PyObject* const* items, Py_ssize_t n)
    int admf_fail() except -1
    void ADMF_TYPE_SET_VECTORCALL(PyTypeObject*, Py_ssize_t)

cdef extern from "admf_rdlock.h":
    ctypedef struct admf_rd_slot:
        pass
    bint ADMF_RD_ENABLED
    int ADMF_RD_SLOTS
    int ADMF_USES_N
    unsigned long long ULLONG_MAX
    admf_use* admf_uses_at(admf_uses* u, unsigned int k) noexcept nogil
    int admf_uses_push(admf_uses* u, int entry, double when, unsigned long long at) noexcept nogil
    void admf_uses_drop(admf_uses* u) noexcept nogil
    unsigned int admf_uses_len(admf_uses* u) noexcept nogil
    unsigned int admf_uses_tail(admf_uses* u) noexcept nogil
    unsigned int admf_uses_head(admf_uses* u) noexcept nogil
    void admf_uses_set_head(admf_uses* u, unsigned int h) noexcept nogil
    bint admf_flag_try(admf_flag* f) noexcept nogil
    void admf_flag_clear(admf_flag* f) noexcept nogil
    void admf_mask_mark(admf_mask* m, int k) noexcept nogil
    unsigned int admf_mask_get(admf_mask* m) noexcept nogil
    unsigned int admf_mask_take(admf_mask* m) noexcept nogil
    admf_rd_slot* admf_rd_enter(void* store, admf_writers* writers) noexcept nogil
    void admf_rd_leave(admf_rd_slot* slot) noexcept nogil
    int admf_rd_index(admf_rd_slot* slot) noexcept nogil
    int admf_wr_enter(void* store, admf_writers* writers) noexcept nogil
    unsigned long long admf_use_time() noexcept nogil
    unsigned long long admf_use_cutoff() noexcept nogil
    void* admf_aligned_calloc(size_t n) noexcept nogil
    void admf_aligned_free(void* p) noexcept nogil
    void admf_wr_leave(admf_writers* writers) noexcept nogil

cdef extern from "admf_internals.h":
    # docs/internals.md: ADMF_PERF_PORTABLE=1 turns the internals below off
    bint admf_internals
    int admf_internals_init() noexcept


cdef extern from *:
    """
    /* A small exact int's hash without the call: its value (CPython's hash
       of an int under 2**61 - 1 in size; -1, the error value, hashes to -2),
       read through Cython's own PyLong macros, which Cython keeps in step
       with each CPython's layout (ob_size up to 3.11, lv_tag from 3.12,
       PyUnstable_Long_CompactValue where it exists) and turns off where it
       does not know it (CYTHON_USE_PYLONG_INTERNALS 0). Macros, so they
       expand where Cython's are defined. docs/internals.md. */
    #if defined(CYTHON_USE_PYLONG_INTERNALS) && CYTHON_USE_PYLONG_INTERNALS
    #define ADMF_INT_HASH 1
    #define __pyx_compact_int(o) (PyLong_CheckExact(o) && __Pyx_PyLong_IsCompact(o))
    #define __pyx_compact_value(o) ((Py_hash_t)__Pyx_PyLong_CompactValue(o))
    #else
    #define ADMF_INT_HASH 0
    #define __pyx_compact_int(o) 0
    #define __pyx_compact_value(o) ((Py_hash_t)0)
    #endif
    """
    bint ADMF_INT_HASH
    bint _compact_int "__pyx_compact_int"(object o) noexcept
    Py_hash_t _compact_value "__pyx_compact_value"(object o) noexcept

cdef extern from "admf_clock.h":
    int ADMF_CLOCK_PRECISE
    int ADMF_CLOCK_COARSE
    double admf_clock(int coarse) noexcept nogil

cdef extern from "admf_buf.h":
    bint ADMF_BUF_MMAP
    char* admf_buf_map(Py_ssize_t nbytes) noexcept nogil
    char* admf_buf_remap(char* p, Py_ssize_t old_n, Py_ssize_t new_n) noexcept nogil
    void admf_buf_unmap(char* p, Py_ssize_t nbytes) noexcept nogil

cdef extern from "admf_sketch.h":
    int admf_sketch_frequency(const unsigned char* t, unsigned long long h, int bits,
                              Py_ssize_t width) noexcept nogil
    int admf_sketch_increment(unsigned char* t, unsigned long long h, int bits,
                              Py_ssize_t width) noexcept nogil
    void admf_sketch_halve(unsigned char* t, Py_ssize_t nbytes) noexcept nogil
    Py_ssize_t admf_sketch_nbytes(Py_ssize_t width) noexcept nogil

# Policy codes: the same as admf_perf._ext._types (LRU, LFU, FIFO, TLRU, UNBOUNDED, WTINYLFU).
cdef enum:
    P_LRU = 0
    P_LFU = 1
    P_FIFO = 2
    P_TLRU = 3
    P_UNBOUNDED = 4
    P_WTINYLFU = 5

# W-TinyLFU's sketch: counters per row at first and at most (_cache_py.SKETCH_MIN/MAX),
# and its hill climber (_cache_py.STEP_PERCENT and the rest).
cdef enum:
    SKETCH_MIN = 16
    SKETCH_MAX = 1 << 24
    TRANSFER_MAX = 1000
cdef double STEP_PERCENT = 0.0625
cdef double STEP_DECAY = 0.98
cdef double RESTART_THRESHOLD = 0.05


# ---------------------------------------------------------------------------
# Entries and their lists
# ---------------------------------------------------------------------------

# An entry lives in the store's entries array and is named by its index.
# What a hit reads and writes is one 64-byte line (``Entry``); what it never
# touches (a cached call's arguments, the measured size, the time list) is in
# the parallel ``Cold`` array. Lists are doubly linked through indices; NIL
# ends them. A free entry has ``key == NULL`` and is chained by ``next``.
cdef enum:
    NIL = -1
    EMPTY = -1         # an index-table slot that holds no entry
    MIN_CAPACITY = 8   # index-table slots at least
    PROBE_LIMIT = 32   # a longer probe turns an identity-hashed table to Fibonacci hashing
    READ_PROBE_LIMIT = 8   # free-threaded readers: a longer probe takes the locked path
    PREFETCH_MIN = 16384   # a full store this large fetches its victims early (_prefetch_victims)
    MIN_ENTRIES = 8
    ENT_MAP_MIN = 1 << 20      # entries arrays of 1 MiB and more: a mapping grown by mremap (admf_buf.h)
    MAX_ENTRIES = 0x7FFFFFF0   # indices are C ints
    F_COLD_OBJECTS = 1          # the entry holds args or kwargs (in Cold)
    W = 0              # W-TinyLFU's lists (``tag``): window (the order list), probation, protected
    PROBATION = 1
    PROTECTED = 2

# Entry, Cold, List and Bucket: _cache.pxd


cdef inline void list_init(List* lst) noexcept nogil:
    lst.first = lst.last = NIL
    lst.len = 0


cdef inline void list_remove(Entry* ent, List* lst, int i) noexcept nogil:
    cdef int p = ent[i].prev
    cdef int n = ent[i].next
    if p != NIL:
        ent[p].next = n
    else:
        lst.first = n
    if n != NIL:
        ent[n].prev = p
    else:
        lst.last = p
    lst.len -= 1


cdef inline void list_append(Entry* ent, List* lst, int i) noexcept nogil:
    ent[i].next = NIL
    ent[i].prev = lst.last
    if lst.last != NIL:
        ent[lst.last].next = i
    else:
        lst.first = i
    lst.last = i
    lst.len += 1


cdef inline void list_move_to_tail(Entry* ent, List* lst, int i) noexcept nogil:
    cdef int p, n
    if lst.last == i:
        return
    p = ent[i].prev
    n = ent[i].next             # not NIL: i is not last
    if p != NIL:
        ent[p].next = n
    else:
        lst.first = n
    ent[n].prev = p
    ent[i].prev = lst.last
    ent[i].next = NIL
    ent[lst.last].next = i
    lst.last = i


# The time list links through Cold (expiry order: earliest first).
cdef inline void time_remove(Cold* cold, List* lst, int i) noexcept nogil:
    cdef int p = cold[i].tprev
    cdef int n = cold[i].tnext
    if p != NIL:
        cold[p].tnext = n
    else:
        lst.first = n
    if n != NIL:
        cold[n].tprev = p
    else:
        lst.last = p
    lst.len -= 1


cdef inline void time_insert_after(Cold* cold, List* lst, int pos, int i) noexcept nogil:
    """Link i after pos (NIL: first)."""
    cdef int n = cold[pos].tnext if pos != NIL else lst.first
    cold[i].tprev = pos
    cold[i].tnext = n
    if pos != NIL:
        cold[pos].tnext = i
    else:
        lst.first = i
    if n != NIL:
        cold[n].tprev = i
    else:
        lst.last = i
    lst.len += 1


cdef object _MISS = object()   # "no live entry" from lookups that count statistics


# ---------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------

@cython.no_gc_clear
cdef class CacheCore:
    """The store behind ``Cache``: policy, TTL, statistics (see ``Cache``)."""

    def __cinit__(self, *args, **kwargs):
        self.index = NULL
        _storage_forget(self)       # the entries arrays come with the first entry
        self.sketch = NULL
        _table_alloc(self, MIN_CAPACITY)
        self.maxsize = 128
        self.maxbytes = PY_SSIZE_T_MAX

    def __init__(self, max_size=128, int policy=P_LRU, ttl=None, timer=None, max_bytes=None,
                 measure=None):
        if self.size or self.uses != NULL:     # (uses: free-threaded readers have come)
            raise RuntimeError("CacheCore.__init__ called on a store in use")
        if policy < P_LRU or policy > P_WTINYLFU:
            raise ValueError(f"policy must be a code from admf_perf._ext._types; got {policy}")
        self.policy_code = policy
        self.maxsize = -1 if (max_size is None or policy == P_UNBOUNDED) else <Py_ssize_t>max_size
        if self.maxsize < -1:
            raise ValueError("max_size must be >= 0 or None")
        self.lfu = policy == P_LFU
        self.wtlfu = policy == P_WTINYLFU
        self.ranked = self.lfu or self.wtlfu
        if self.wtlfu:
            self.sk_cap = _sketch_cap(self.maxsize)
            if _wtlfu_reset(self) < 0:
                raise MemoryError()
        self.move_on_hit = policy == P_LRU or policy == P_TLRU
        self.has_ttl = ttl is not None
        self.ttl_seconds = float(ttl) if ttl is not None else 0.0
        if self.has_ttl and not self.ttl_seconds > 0:
            raise ValueError("ttl must be > 0 or None")
        self.timer = timer
        self.precise = timer is not None
        # bytes: counted when there is a measure, bounded when there is a budget too
        if max_bytes is not None and measure is None:
            raise ValueError("max_bytes needs a measure (the wrapper passes the default one)")
        self.maxbytes = PY_SSIZE_T_MAX if max_bytes is None else <Py_ssize_t>max_bytes
        if self.maxbytes < 0 or self.maxbytes == PY_SSIZE_T_MAX and max_bytes is not None:
            raise ValueError("max_bytes must be >= 0 and < 2**63 - 1, or None")
        self.measure = measure
        self.measured = measure is not None
        self.plain_writes = timer is None and not self.has_ttl and measure is None

    def __dealloc__(self):
        _release_entries(self.ent, self.cold, self.ent_used)
        _entries_free(self.ent_block, self.ent_cap, self.ent_mapped)
        free(self.cold)
        free(self.index)
        free(self.bk)
        free(self.sketch)
        admf_aligned_free(self.uses)
        self.uses = NULL
        self.ent_block = self.ent = NULL
        self.cold = NULL
        self.index = NULL
        self.bk = NULL
        self.sketch = NULL
        self.ent_used = self.size = 0

    # -- hot API ---------------------------------------------------------------
    def get(self, key, default=None):
        """The value of ``key`` (a use), or ``default``."""
        value = _get_locked(self, key)
        if value is _MISS:
            return default
        return value

    def set(self, key, value, args=None, kwargs=None):
        """Store ``value`` under ``key`` (an overwrite is a use)."""
        _write_locked(self, key, value, args, kwargs)

    def __getitem__(self, key):
        value = _get_locked(self, key)
        if value is _MISS:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value):
        _write_locked(self, key, value, None, None)

    def __delitem__(self, key):
        if not _as_writer(self, _op_discard, key, None, 0):
            raise KeyError(key)

    def __contains__(self, key):
        return _contains_locked(self, key)

    def __len__(self):
        return _as_writer(self, _op_live_total, False, None, 0)

    def pop(self, key, default=_MISS):
        """Remove ``key`` and return its value (not a use); ``default`` or KeyError if absent."""
        return _as_writer(self, _op_pop, key, default, 0)

    # -- cold API --------------------------------------------------------------
    def keys(self):
        """Snapshot of the live keys, in order-list order."""
        return _as_writer(self, _op_snapshot, 0, None, 0)

    def values(self):
        """Snapshot of the live values, in order-list order."""
        return _as_writer(self, _op_snapshot, 1, None, 0)

    def items(self):
        """Snapshot of the live (key, value) pairs, in order-list order."""
        return _as_writer(self, _op_snapshot, None, None, 0)

    def _discard(self, key):
        """Remove ``key`` if live (not an eviction); True when something was removed."""
        return _as_writer(self, _op_discard, key, None, 0)

    def _discard_matching(self, predicate):
        """Remove the live entries whose key satisfies ``predicate``; return how many."""
        return _as_writer(self, _op_discard_matching, predicate, None, 0)

    def expire(self):
        """Remove the expired entries now; return how many."""
        return _as_writer(self, _op_expire, None, None, 0)

    def clear(self):
        """Remove every entry (statistics stay)."""
        _as_writer(self, _op_clear, None, None, 0)

    def reset_stats(self):
        _as_writer(self, _op_reset_stats, None, None, 0)

    def _counters(self):
        """(hits, misses, evictions, expirations)."""
        return _as_writer(self, _op_counters, None, None, 0)

    def _entry(self, key):
        """(value, created_at, last_access, access_count, expires_at, args, kwargs) or None."""
        return _as_writer(self, _op_entry, key, None, 0)

    def _table(self):
        """(index-table slots, slots holding an entry, Fibonacci hashing on)."""
        return _as_writer(self, _op_table, None, None, 0)

    def __sizeof__(self):
        """The store's own bytes: the object, its index table, entries
        arrays, LFU buckets, sketch and readers' rings (not the keys and values it holds, as
        ``dict.__sizeof__``)."""
        return _as_writer(self, _op_sizeof, None, None, 0)

    @property
    def max_size(self):
        return None if self.maxsize < 0 else self.maxsize

    @property
    def max_bytes(self):
        return None if self.maxbytes == PY_SSIZE_T_MAX else self.maxbytes

    @property
    def nbytes(self):
        """The bytes of the live entries as measured when stored (None: not measured)."""
        if self.measure is None:
            return None
        return _as_writer(self, _op_live_total, True, None, 0)

    @property
    def ttl(self):
        return self.ttl_seconds if self.has_ttl else None

    @property
    def policy(self):
        return self.policy_code

    def _check(self, strict=True):
        """Assert the internal invariants (for tests): ``_op_check``."""
        _as_writer(self, _op_check, strict, None, 0)


# -- store internals (module functions: direct C calls, no vtable) -------------

# Clocks (docs/caching.md). Without a user ``timer``: a store with a ttl
# reads the precise monotonic clock (time.monotonic()'s) on every write and
# lookup, so expiry is exact; a store without one only stamps metadata, from
# the kernel's coarse monotonic clock (same time base, a few ns instead of ~33,
# a few ms behind). A ``timer`` is used for all of it.
cdef inline double _now(CacheCore c) except? -1.0:
    """The precise time."""
    if c.timer is None:
        return admf_clock(ADMF_CLOCK_PRECISE)
    return float(c.timer())


cdef inline double _write_time(CacheCore c) except? -1.0:
    """The time stamped on a write: precise with a ttl (expiry is exact), else coarse."""
    if c.timer is not None:
        return float(c.timer())
    if c.has_ttl:
        return admf_clock(ADMF_CLOCK_PRECISE)
    return admf_clock(ADMF_CLOCK_COARSE)


cdef inline bint _holds(CacheCore c, Py_ssize_t i, object key) noexcept:
    """Entry i is live and holds this very key object (the caller holds it,
    so no other object can have its address): after Python code, the entry
    a caller found is still the one it found."""
    return 0 <= i < c.ent_used and c.ent[i].key == <PyObject*>key


cdef inline void _touch(CacheCore c, Py_ssize_t i) noexcept:
    """A use of a live entry: reorder per policy."""
    if c.move_on_hit:
        list_move_to_tail(c.ent, &c.lists[W], <int>i)
    elif c.lfu:
        _lfu_promote(c, i)
    elif c.wtlfu:
        _wtlfu_hit(c, i)


cdef inline object _get_locked(CacheCore c, object key):
    """``_get`` under the store's lock on a free-threaded build (the key
    hashed before, without it; a hit that needs no Python code takes no
    lock: ``_read_ft``); with the GIL, ``_get`` as it always was."""
    if ADMF_FT:
        return _get_ft(c, key)
    return _get(c, key, _hash(key))


cdef object _get_ft(CacheCore c, object key):
    cdef Py_hash_t h = _hash(key)
    cdef PyObject* value = _read_ft(c, <PyObject*>key, h, True)
    if value != NULL:
        return admf_steal(value)
    return _as_writer(c, _op_get, key, None, h)


cdef object _op_get(CacheCore c, object key, object unused, Py_hash_t h):
    _uses_alloc(c)
    return _get(c, key, h)


cdef inline bint _contains_locked(CacheCore c, object key) except -1:
    """Whether ``key`` has a live entry (not a use), under the store's lock
    on a free-threaded build (or as a reader: ``_read_ft``)."""
    if ADMF_FT:
        return _contains_ft(c, key)
    return _find_live(c, key, _hash(key), False) >= 0


cdef bint _contains_ft(CacheCore c, object key) except -1:
    cdef Py_hash_t h = _hash(key)
    cdef PyObject* value = _read_ft(c, <PyObject*>key, h, False)
    if value != NULL:
        Py_DECREF_ptr(value)
        return True
    return _as_writer(c, _op_contains, key, None, h) is True


cdef object _op_contains(CacheCore c, object key, object unused, Py_hash_t h):
    _uses_alloc(c)
    return _find_live(c, key, h, False) >= 0


cdef inline int _write_locked(CacheCore c, object key, object value, object args,
                              object kwargs) except -1:
    """``_write`` under the store's lock on a free-threaded build."""
    if ADMF_FT:
        return _write_ft(c, key, value, args, kwargs)
    return _write(c, key, value, args, kwargs)


cdef int _write_ft(CacheCore c, object key, object value, object args, object kwargs) except -1:
    cdef admf_cs cs
    _lock(&cs, c)
    try:
        return _write(c, key, value, args, kwargs)
    finally:
        _unlock(&cs, c)


# -- free-threaded builds: hits without the lock (include/admf_rdlock.h) ---------
#
# Every operation under the store's critical section is a writer: _lock
# enters the section and then _wr_enter (which waits for the readers in the
# store to leave), _unlock leaves both; _as_writer runs an operation between
# them, on every exit. With the GIL all of it is nothing.

cdef inline void _wr_enter(CacheCore c) noexcept:
    if ADMF_FT:
        if admf_wr_enter(<void*>c, &c.writers) and c.uses != NULL:
            _apply_uses(c, ULLONG_MAX, admf_mask_take(&c.pending))


cdef inline void _wr_leave(CacheCore c) noexcept:
    if ADMF_FT:
        admf_wr_leave(&c.writers)


# The operations under the store's critical section. Each is written once as
# an op (the store, two objects, a hash) and run by _as_writer, which holds the
# lock as a writer on every exit; the methods only name their op.
ctypedef object (*writer_op)(CacheCore c, object a, object b, Py_hash_t h)


cdef object _as_writer(CacheCore c, writer_op op, object a, object b, Py_hash_t h):
    """``op(c, a, b, h)`` under the store's critical section, as a writer (on
    a free-threaded build; with the GIL, the call alone)."""
    cdef admf_cs cs
    if not ADMF_FT:
        return op(c, a, b, h)
    _lock(&cs, c)
    try:
        return op(c, a, b, h)
    finally:
        _unlock(&cs, c)


cdef object _op_find(CacheCore c, object key, object unused, Py_hash_t h):
    """The live value of ``key`` (not a use), or ``_MISS``."""
    cdef Py_ssize_t i = _find_live(c, key, h, False)
    return <object>c.ent[i].value if i >= 0 else _MISS


cdef object _op_store(CacheCore c, object key, object stored, Py_hash_t h):
    """Store ``stored``: (value, args, kwargs), under ``key``."""
    _store(c, key, h, stored[0], stored[1], stored[2], False, UNKNOWN, 0)


cdef object _op_discard(CacheCore c, object key, object unused, Py_hash_t h):
    """Remove ``key``'s live entry (not an eviction); whether there was one."""
    cdef Py_ssize_t i = _find_live(c, key, _hash(key), True)
    if i < 0:
        return False
    _remove(c, i)
    return True


cdef object _op_live_total(CacheCore c, object nbytes, object unused, Py_hash_t h):
    """The live entries' count (or measured bytes), the expired ones purged first."""
    if c.has_ttl:
        _purge(c, _now(c))
    return c.nbytes if nbytes else c.size


cdef object _op_pop(CacheCore c, object key, object default, Py_hash_t h):
    cdef Py_ssize_t i = _find_live(c, key, _hash(key), True)
    if i < 0:
        if default is _MISS:
            raise KeyError(key)
        return default
    value = <object>c.ent[i].value
    _remove(c, i)
    return value


cdef object _op_snapshot(CacheCore c, object which, object unused, Py_hash_t h):
    """Keys (0), values (1) or (key, value) pairs (None), in order-list order."""
    if which is None:
        return _snapshot_pairs(c, False)
    return _snapshot(c, which)


cdef object _op_discard_matching(CacheCore c, object predicate, object unused, Py_hash_t h):
    cdef Py_ssize_t removed = 0
    cdef Py_ssize_t i
    for key, i in _snapshot_pairs(c, True):
        # still the same entry: the key stored at i is this very object
        if _holds(c, i, key) and predicate(key) and _holds(c, i, key):
            _remove(c, i)
            removed += 1
    return removed


cdef object _op_expire(CacheCore c, object unused, object unused2, Py_hash_t h):
    if not c.has_ttl:
        return 0
    return _purge(c, _now(c))


cdef object _op_clear(CacheCore c, object unused, object unused2, Py_hash_t h):
    _empty(c)


cdef object _op_reset_stats(CacheCore c, object unused, object unused2, Py_hash_t h):
    c.hits = c.misses = c.evictions = c.expirations = 0


cdef object _op_counters(CacheCore c, object unused, object unused2, Py_hash_t h):
    return c.hits, c.misses, c.evictions, c.expirations


cdef object _op_entry(CacheCore c, object key, object unused, Py_hash_t h):
    cdef Py_ssize_t i = _find_live(c, key, _hash(key), False)
    cdef Entry* e
    cdef double created, last
    cdef Py_ssize_t count
    if i < 0:
        return None
    e = &c.ent[i]
    # Everything is read before anything is allocated (an allocation may
    # start a garbage-collection pass that runs Python code).
    value = <object>e.value
    created = e.created_at
    last = e.last_access
    count = e.access_count
    args = kwargs = None
    if e.flags & F_COLD_OBJECTS:
        if c.cold[i].args != NULL:
            args = <object>c.cold[i].args
        if c.cold[i].kwargs != NULL:
            kwargs = <object>c.cold[i].kwargs
    return (value, created, last, count,
            created + c.ttl_seconds if c.has_ttl else None, args, kwargs)


cdef object _op_table(CacheCore c, object unused, object unused2, Py_hash_t h):
    return c.mask + 1, c.filled, bool(c.scatter)


cdef object _op_sizeof(CacheCore c, object unused, object unused2, Py_hash_t h):
    cdef Py_ssize_t n = (c.mask + 1) * sizeof(int) + c.bk_cap * sizeof(Bucket)
    if c.ent_block != NULL:
        n += c.ent_cap * (sizeof(Entry) + sizeof(Cold)) + (0 if c.ent_mapped else 64)
    if c.sketch != NULL:
        n += admf_sketch_nbytes(c.sk_width)
    if c.uses != NULL:
        n += ADMF_RD_SLOTS * sizeof(admf_uses)
    return object.__sizeof__(c) + n


cdef object _op_check(CacheCore c, object strict, object unused, Py_hash_t h):
    """Assert the internal invariants (for tests).

    The lists are sound and hold exactly the live entries, tagged with
    their list (or bucket); ``size`` counts them; LFU buckets increase;
    the time list is in expiry order; the index table maps each live
    entry's key, from its home slot, to it and to nothing else; the free
    entries are the others. ``strict`` is for the twin's sake (this store
    never keeps two equal keys).
    """
    cdef Py_ssize_t i, j, s, d, n, live = 0, free_count = 0, in_table = 0, seen_nbytes = 0
    cdef int b, last_freq = 0
    cdef Py_ssize_t window, protected
    order = _order_indices(c)
    assert len(order) == c.size, (len(order), c.size)
    assert len(set(order)) == len(order), "an entry is linked twice"
    for i in range(c.ent_used):
        if c.ent[i].key != NULL:
            live += 1
            seen_nbytes += c.cold[i].nbytes if c.measured else 0
    assert live == c.size, (live, c.size)
    for i in order:
        assert c.ent[i].key != NULL, "a free entry is linked"
    i = c.free_head
    while i != NIL:
        assert 0 <= i < c.ent_used and c.ent[i].key == NULL
        free_count += 1
        assert free_count <= c.ent_used, "the free list loops"
        i = c.ent[i].next
    assert free_count + live == c.ent_used, (free_count, live, c.ent_used)
    for j in range(c.mask + 1):
        i = c.index[j]
        if i >= 0:
            in_table += 1
            assert i < c.ent_used and c.ent[i].key != NULL
            s = _home(c, c.ent[i].hash)
            d = 0
            while c.index[s] != i:       # its probe reaches it: no EMPTY slot before,
                assert c.index[s] != EMPTY, "an EMPTY slot hides an entry from its probe"
                assert _dist(c, s, c.index[s]) >= d, "Robin Hood order broken"   # nor one nearer home
                s = (s + 1) & c.mask
                d += 1
            assert s == j
        else:
            assert i == EMPTY, i
    assert in_table == c.size, (in_table, c.size)
    assert c.filled == in_table and c.filled * 2 <= c.mask + 1 + 2, (c.filled, c.mask)
    assert c.mult == (FIBONACCI if c.scatter else (<object>1) << c.shift)
    if c.maxsize >= 0:
        assert c.size <= c.maxsize, (c.size, c.maxsize)
    assert c.nbytes == seen_nbytes, (c.nbytes, seen_nbytes)
    assert c.nbytes <= c.maxbytes, (c.nbytes, c.maxbytes)
    if c.lfu:
        b = c.bk_first
        n = 0
        while b != NIL:
            assert c.bk[b].freq > last_freq and c.bk[b].items.len > 0
            assert _list_length(c, &c.bk[b].items, b) == c.bk[b].items.len
            last_freq = c.bk[b].freq
            n += c.bk[b].items.len
            b = c.bk[b].next
        assert n == c.size
    elif c.wtlfu:
        for b in range(3):
            assert _list_length(c, &c.lists[b], b) == c.lists[b].len, b
        _caps(c, &window, &protected)
        if c.maxsize > 0:
            assert c.lists[PROTECTED].len <= protected, (c.lists[PROTECTED].len, protected)
            assert window >= 1 and protected >= 0 and window + protected <= c.maxsize
    else:
        assert c.lists[W].len == c.size
    if c.has_ttl:
        n = 0
        last = -1e308
        i = c.times.first
        while i != NIL:
            assert c.ent[i].created_at >= last
            last = c.ent[i].created_at
            n += 1
            assert n <= c.size
            i = c.cold[i].tnext
        assert n == c.size == c.times.len


cdef void _uses_alloc(CacheCore c) noexcept:
    """The readers' buffers (free-threaded builds), made by the first locked
    lookup; without them (no memory) every lookup takes the lock."""
    if ADMF_FT and c.uses == NULL:
        c.uses = <admf_uses*>admf_aligned_calloc(ADMF_RD_SLOTS * sizeof(admf_uses))


cdef void _apply_uses(CacheCore c, unsigned long long before, unsigned int rings) noexcept:
    """Apply the uses the readers buffered that are stamped ``before`` (all:
    ULLONG_MAX), in time order (a merge of the slots' rings, each in time
    order): use count, hit, time stamp and the policy's reordering, as a hit
    under the lock does (_hit_fast). Only the rings of the mask ``rings`` are
    read (a ring not in ``pending`` holds none). The caller is the first
    writer in (the readers have left) or the reader holding ``applying`` (the
    other readers go on reading and appending)."""
    cdef int ring[32]
    cdef unsigned int head[32]
    cdef unsigned int tail[32]
    cdef int k, m = 0, best
    cdef admf_use* use
    cdef admf_use* first
    for k in range(ADMF_RD_SLOTS):
        if not (rings >> k) & 1:
            continue
        head[m] = admf_uses_head(&c.uses[k])
        tail[m] = admf_uses_tail(&c.uses[k])
        if head[m] != tail[m]:
            ring[m] = k
            m += 1
    while m:
        best = 0
        first = admf_uses_at(&c.uses[ring[0]], head[0])
        for k in range(1, m):
            use = admf_uses_at(&c.uses[ring[k]], head[k])
            if use.at < first.at:
                best = k
                first = use
        if first.at >= before:
            break
        _record_use(c, first.entry, first.when)    # the coarse clock at the hit, as _hit_fast's
        head[best] += 1
        if head[best] == tail[best]:
            admf_uses_set_head(&c.uses[ring[best]], head[best])
            m -= 1
            ring[best] = ring[m]
            head[best] = head[m]
            tail[best] = tail[m]
    for k in range(m):
        admf_uses_set_head(&c.uses[ring[k]], head[k])


cdef inline int _eq_item(PyObject* a, PyObject* b) noexcept:
    """a == b for a key or a key's item, decided without Python code (the
    same object, or two exact ints or strs): 1 or 0; -1 when it cannot be."""
    if a == b:
        return 1
    if admf_same_exact_scalar(a, b):
        return admf_exact_eq(a, b)      # no Python code; -1 only on an error
    return -1


cdef int _eq_no_code(PyObject* stored, PyObject* key) noexcept:
    """_eq_item, and also two exact tuples of such items (a cached
    function's key of several arguments): 1 or 0, or -1 (undecided)."""
    cdef Py_ssize_t n, j
    cdef int r = _eq_item(stored, key)
    if r >= 0 or not (PyTuple_CheckExact_ptr(stored) and PyTuple_CheckExact_ptr(key)):
        return r
    n = PyTuple_GET_SIZE_ptr(stored)
    if n != PyTuple_GET_SIZE_ptr(key):
        return 0
    for j in range(n):
        r = _eq_item(ADMF_TUPLE_ITEMS_PTR(stored)[j], ADMF_TUPLE_ITEMS_PTR(key)[j])
        if r <= 0:
            return r
    return 1


cdef PyObject* _read_ft(CacheCore c, PyObject* key, Py_hash_t h, bint use) noexcept:
    """Free-threaded builds: the value of ``key``'s live entry (a new
    reference), found as a reader, without the store's lock, and (``use``)
    its use buffered for the next writer to apply (_apply_uses); NULL when
    it cannot be decided so (a writer is in; a miss; a ttl or a timer; a
    comparison that would run Python code; a long probe; a full buffer): the
    caller takes the locked path, which decides it. Never NULL with an
    exception set."""
    cdef admf_rd_slot* slot
    cdef Py_ssize_t s, steps = 0
    cdef int i, eq
    cdef PyObject* value
    cdef admf_uses* u
    cdef unsigned long long at
    if not ADMF_RD_ENABLED or c.uses == NULL or c.precise or c.has_ttl:
        return NULL
    slot = admf_rd_enter(<void*>c, &c.writers)
    if slot == NULL:
        return NULL
    at = admf_use_time()
    s = _home(c, h)
    while True:
        i = c.index[s]
        if steps > READ_PROBE_LIMIT or _probe_ends(c, s, i, h, steps):
            admf_rd_leave(slot)
            return NULL
        if c.ent[i].hash == h:
            eq = _eq_no_code(c.ent[i].key, key)
            if eq > 0:
                break
            if eq < 0:
                admf_rd_leave(slot)
                PyErr_Clear()           # an error of an int or str comparison (none is known)
                return NULL
        s = (s + 1) & c.mask
        steps += 1
    if use:
        u = &c.uses[admf_rd_index(slot)]
        if not admf_uses_push(u, i, admf_clock(ADMF_CLOCK_COARSE), at):
            admf_rd_leave(slot)         # full: the locked path applies them all
            return NULL
        admf_mask_mark(&c.pending, admf_rd_index(slot))
        if admf_uses_len(u) >= ADMF_USES_N // 2 and admf_flag_try(&c.applying):
            _apply_uses(c, admf_use_cutoff(), admf_mask_get(&c.pending))
            admf_flag_clear(&c.applying)
    value = c.ent[i].value
    Py_INCREF_ptr(value)
    admf_rd_leave(slot)
    return value


cdef inline object _get(CacheCore c, object key, Py_hash_t h):
    """The value of a live entry, counting a hit, or _MISS counting a miss."""
    cdef Py_ssize_t pos
    cdef Py_ssize_t i = _find(c, <PyObject*>key, h, &pos)
    if i >= 0:
        if _hit_fast(c, i):
            return <object>c.ent[i].value
        return _get_slow(c, i)
    c.misses += 1
    c.miss_hash = h
    c.miss_pos = pos
    c.miss_at = c.mutations
    c.miss_key = key         # drops the previous one: the store is consistent here
    return _MISS


cdef unsigned long long UNKNOWN = <unsigned long long>-1   # `absent_at`: nothing known


cdef inline Py_hash_t _hash_raw(object key) noexcept:
    """hash(key), -1 with the exception set on error; a small exact int's
    without a call (ADMF_INT_HASH)."""
    cdef Py_hash_t v
    if ADMF_INT_HASH and admf_internals and _compact_int(key):
        v = _compact_value(key)
        return -2 if v == -1 else v
    return PyObject_Hash_raw(key)


cdef inline Py_hash_t _hash(object key) except -1:
    """hash(key) (_hash_raw), raising its error."""
    return _hash_raw(key)


cdef inline unsigned long long _absent_at(CacheCore c, object key, Py_hash_t h) noexcept:
    """`mutations` when key was last seen absent, or UNKNOWN."""
    if key is c.miss_key and h == c.miss_hash:
        return c.miss_at
    return UNKNOWN


# -- the index table and the entries arrays --------------------------------------

cdef unsigned long long FIBONACCI = 0x9E3779B97F4A7C15ULL   # 2**64 / golden ratio, odd


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define admf_prefetch(p) __builtin_prefetch(p)
    #else
    #define admf_prefetch(p) ((void)(p))
    #endif
    """
    void admf_prefetch(const void* p) noexcept nogil


cdef inline Py_ssize_t _home(CacheCore c, Py_hash_t h) noexcept nogil:
    """The first slot of hash h: its low bits (sequential ints take
    sequential slots: a scan reads the table in order), or, once a key that
    is not an exact int came or a probe ran long, Fibonacci hashing (spreads
    hashes whose low bits cluster or repeat)."""
    return <Py_ssize_t>((<unsigned long long>h * c.mult) >> c.shift)


cdef void _table_use(CacheCore c, int* index, Py_ssize_t capacity) noexcept:
    """Make ``index`` (``capacity`` slots, a power of 2 >= MIN_CAPACITY) c's
    empty index table, freeing the one it had (unless it is that one)."""
    cdef int bits = 0
    memset(index, 0xFF, capacity * sizeof(int))     # every slot EMPTY (-1)
    while (<Py_ssize_t>1 << bits) < capacity:
        bits += 1
    if c.index != index:
        free(c.index)
    c.index = index
    c.mask = capacity - 1
    c.shift = 64 - bits
    c.mult = FIBONACCI if c.scatter else (<unsigned long long>1) << c.shift
    c.filled = 0
    c.mutations += 1


cdef int _table_alloc(CacheCore c, Py_ssize_t capacity) except -1:
    """Give c a new empty index table of `capacity` slots."""
    cdef int* index = <int*>malloc(capacity * sizeof(int))
    if index == NULL:
        raise MemoryError()
    _table_use(c, index, capacity)
    return 0


cdef inline void _entries_free(void* block, Py_ssize_t cap, bint mapped) noexcept nogil:
    """Free an entries array's block (``cap`` entries; ``mapped``: a mapping)."""
    if mapped:
        admf_buf_unmap(<char*>block, cap * sizeof(Entry))
    else:
        free(block)


cdef int _entries_grow(CacheCore c) except -1:
    """Double the entries arrays (indices stay valid; pointers into them do not).

    Entries of 1 MiB and more live in a mapping of their own (Linux), grown
    by mremap: page tables move, the entries are not copied (filling a large
    store copied each entry about once more before). A mapping starts on a
    page, so the entries stay one per cache line; a malloc'd block is
    over-allocated by 64 bytes and aligned by hand."""
    cdef Py_ssize_t cap = 2 * c.ent_cap if c.ent_cap else MIN_ENTRIES
    cdef Py_ssize_t nbytes
    cdef void* block = NULL
    cdef Entry* ent
    cdef Cold* cold
    if c.ent_cap >= MAX_ENTRIES:
        raise OverflowError(f"a cache holds at most {<Py_ssize_t>MAX_ENTRIES} entries")
    if cap > MAX_ENTRIES:
        cap = MAX_ENTRIES
    nbytes = cap * sizeof(Entry)
    if c.lfu and _buckets_fit(c, cap + 1) < 0:
        raise MemoryError()
    cold = <Cold*>realloc(c.cold, cap * sizeof(Cold))   # larger than needed if what follows fails: harmless
    if cold == NULL:
        raise MemoryError()
    c.cold = cold
    if c.ent_mapped:
        block = admf_buf_remap(<char*>c.ent_block, c.ent_cap * sizeof(Entry), nbytes)
        if block == NULL:
            raise MemoryError()
        ent = <Entry*>block
    else:
        if ADMF_BUF_MMAP and nbytes >= ENT_MAP_MIN:
            block = admf_buf_map(nbytes)
        if block != NULL:
            ent = <Entry*>block
            c.ent_mapped = True
        else:
            block = malloc(nbytes + 64)
            if block == NULL:
                raise MemoryError()
            ent = <Entry*>(((<size_t>block) + 63) & ~(<size_t>63))
        if c.ent_used:
            memcpy(ent, c.ent, c.ent_used * sizeof(Entry))
        free(c.ent_block)
    c.ent_block = block
    c.ent = ent
    c.ent_cap = cap
    return 0


cdef Py_ssize_t _entry_new(CacheCore c) except -1:
    """A free entry's index (its fields are the caller's to set)."""
    cdef Py_ssize_t i = c.free_head
    if i != NIL:
        c.free_head = c.ent[i].next
        return i
    if c.ent_used == c.ent_cap:
        _entries_grow(c)
    i = c.ent_used
    c.ent_used += 1
    c.ent[i].key = NULL     # free until the caller has put it in the table
    return i


cdef void _release_entries(Entry* ent, Cold* cold, Py_ssize_t used) noexcept:
    """Drop the references held by entries no longer in any store."""
    cdef Py_ssize_t i
    for i in range(used):
        if ent[i].key != NULL:
            Py_DECREF_ptr(ent[i].key)
            Py_DECREF_ptr(ent[i].value)
            if ent[i].flags & F_COLD_OBJECTS:
                Py_XDECREF_ptr(cold[i].args)
                Py_XDECREF_ptr(cold[i].kwargs)


cdef void _storage_forget(CacheCore c) noexcept nogil:
    """No entries arrays, order lists or LFU buckets (freeing what there
    was is the caller's part)."""
    c.ent_block = NULL
    c.ent_mapped = False
    c.ent = NULL
    c.cold = NULL
    c.ent_cap = c.ent_used = 0
    c.free_head = NIL
    list_init(&c.lists[0])
    list_init(&c.lists[1])
    list_init(&c.lists[2])
    list_init(&c.times)
    c.bk = NULL
    c.bk_cap = 0
    c.bk_first = c.bk_last = c.bk_free = NIL


cdef void _empty(CacheCore c) noexcept:
    """Empty the store (clear, and the collector's tp_clear): it lets go of
    its entries arrays, shrinks its table, then drops the entries, when it is
    empty and consistent (values' __del__ may use it). Allocates nothing it
    cannot do without."""
    cdef void* old_block = c.ent_block
    cdef Entry* old_ent = c.ent
    cdef Cold* old_cold = c.cold
    cdef Py_ssize_t old_used = c.ent_used
    cdef Py_ssize_t old_cap = c.ent_cap
    cdef bint old_mapped = c.ent_mapped
    cdef Bucket* old_bk = c.bk              # LFU's buckets go with the entries
    cdef int* index = <int*>malloc(MIN_CAPACITY * sizeof(int))
    cdef int k
    if c.uses != NULL:                      # free-threaded: the buffered uses' entries go
        for k in range(ADMF_RD_SLOTS):
            admf_uses_drop(&c.uses[k])
    _storage_forget(c)
    free(old_bk)
    c.size = 0
    c.nbytes = 0
    if index != NULL:
        _table_use(c, index, MIN_CAPACITY)
    else:
        _table_use(c, c.index, c.mask + 1)     # no memory for a smaller one: this one, emptied
    if c.wtlfu:
        _wtlfu_reset(c)
    c.miss_key = None
    _release_entries(old_ent, old_cold, old_used)
    _entries_free(old_block, old_cap, old_mapped)
    free(old_cold)


cdef inline Py_ssize_t _find(CacheCore c, PyObject* key, Py_hash_t h, Py_ssize_t* pos) except -2:
    """The index of key's entry, or -1 and in pos the slot to insert it at.
    The common hit, the very key object in its home slot, is decided here,
    inline (identity first, as CPython's dict), and so is the common miss,
    an empty home slot."""
    cdef Py_ssize_t s = _home(c, h)
    cdef int i = c.index[s]
    if i >= 0:
        if c.ent[i].key == key:
            return i
    else:
        pos[0] = s
        return -1
    return _find_probe(c, key, h, pos)


cdef Py_ssize_t _find_probe(CacheCore c, PyObject* key, Py_hash_t h, Py_ssize_t* pos) except -2:
    """_find: the whole probe sequence.

    Python code runs only in a key's __eq__; when it changed the store, the
    lookup starts over on the table as it is then.
    """
    cdef Py_ssize_t s, steps
    cdef int i
    cdef PyObject* other
    cdef unsigned long long before
    cdef int equal
    while True:
        s = _home(c, h)
        steps = 0
        while True:
            i = c.index[s]
            if _probe_ends(c, s, i, h, steps):
                if steps > PROBE_LIMIT and _table_scatter(c):
                    break                       # rebuilt: start over
                pos[0] = s
                return -1
            if c.ent[i].hash == h:
                other = c.ent[i].key
                if other == key:
                    if steps > PROBE_LIMIT and _table_scatter(c):
                        break
                    return i
                if admf_same_exact_scalar(other, key):
                    equal = admf_exact_eq(other, key)         # no Python code
                    if equal:
                        return i if equal > 0 else -2
                else:
                    before = c.mutations
                    Py_INCREF_ptr(other)
                    equal = PyObject_RichCompareBool(other, key, Py_EQ)   # Python: __eq__
                    Py_DECREF_ptr(other)        # only frees it if it left the store meanwhile
                    if equal < 0:
                        return -2
                    if c.mutations != before:
                        break                   # changed meanwhile: start over
                    if equal:
                        return i
            s = (s + 1) & c.mask
            steps += 1


cdef inline bint _probe_ends(CacheCore c, Py_ssize_t s, int i, Py_hash_t h, Py_ssize_t steps) noexcept nogil:
    """The probe for hash h, at its ``steps``-th slot s (holding entry i),
    ends absent: an empty slot, or an entry nearer its home (Robin Hood)."""
    return i == EMPTY or (c.ent[i].hash != h and _dist(c, s, i) < steps)


cdef Py_ssize_t _slot_of(CacheCore c, Py_ssize_t i) noexcept nogil:
    """The table slot of live entry i (from its stored hash; no key compared)."""
    cdef Py_ssize_t s = _home(c, c.ent[i].hash)
    while c.index[s] != i:
        s = (s + 1) & c.mask
    return s


cdef inline Py_ssize_t _dist(CacheCore c, Py_ssize_t s, int e) noexcept nogil:
    """How far slot s is from the home of entry e."""
    return (s - _home(c, c.ent[e].hash)) & c.mask


cdef inline void _unindex(CacheCore c, Py_ssize_t s) noexcept nogil:
    """Free slot s of a removed entry by backward shift: the rest of its run
    moves back one slot, up to an EMPTY slot or an entry in its home (Robin
    Hood order keeps that sound). No markers: a table is rebuilt only to
    grow."""
    cdef Py_ssize_t j
    cdef int e
    while True:
        j = (s + 1) & c.mask
        e = c.index[j]
        if e == EMPTY or _dist(c, j, e) == 0:
            break
        c.index[s] = e
        s = j
    c.index[s] = EMPTY
    c.filled -= 1


cdef inline void _table_put(CacheCore c, Py_ssize_t s, int i) noexcept nogil:
    """Put entry i in slot s, its Robin Hood place (from _find or
    _table_free_slot): the rest of the run moves on one slot (it stays
    sorted by home)."""
    cdef int e
    while True:
        e = c.index[s]
        c.index[s] = i
        if e == EMPTY:
            break
        i = e
        s = (s + 1) & c.mask
    c.filled += 1


cdef inline Py_ssize_t _table_free_slot(CacheCore c, Py_hash_t h) noexcept nogil:
    """The Robin Hood place of hash h (known absent): the first slot of its
    probe that is EMPTY or holds an entry nearer its home."""
    cdef Py_ssize_t s = _home(c, h)
    cdef Py_ssize_t d = 0
    cdef int e
    while True:
        e = c.index[s]
        if e == EMPTY or _dist(c, s, e) < d:
            return s
        s = (s + 1) & c.mask
        d += 1


cdef int _table_resize(CacheCore c, Py_ssize_t needed) except -1:
    """Rebuild the index table with room for `needed` (from stored hashes)."""
    cdef Py_ssize_t capacity = MIN_CAPACITY
    while capacity < 3 * needed:
        capacity *= 2
    _table_alloc(c, capacity)
    _table_refill(c)
    return 0


cdef void _table_refill(CacheCore c) noexcept nogil:
    """Put every live entry in c's new, empty index table (_table_use
    counted the change)."""
    cdef Py_ssize_t i
    for i in range(c.ent_used):
        if c.ent[i].key != NULL:
            _table_put(c, _table_free_slot(c, c.ent[i].hash), <int>i)


cdef bint _table_scatter(CacheCore c) noexcept:
    """After a probe over PROBE_LIMIT slots (the keys' low bits repeat: a
    stride, like nanosecond time stamps), or at the first key that is not an
    exact int: switch to Fibonacci hashing for good and rebuild the table;
    False when it already was, or no memory (then the table stays as it
    is)."""
    cdef int* index
    if c.scatter:
        return False
    index = <int*>malloc((c.mask + 1) * sizeof(int))
    if index == NULL:
        return False
    c.scatter = True
    _table_use(c, index, c.mask + 1)
    _table_refill(c)
    return True


cdef Py_ssize_t _table_room(CacheCore c, Py_hash_t h, Py_ssize_t pos) except -1:
    """The slot for a new key of hash h (known absent): pos, its Robin Hood
    place, unless one more entry needs a larger table first."""
    if (c.filled + 1) * 2 > c.mask + 1:
        _table_resize(c, c.size + 1)
        pos = _table_free_slot(c, h)
    return pos


cdef inline bint _hit_fast(CacheCore c, Py_ssize_t i) noexcept:
    """Record a hit on a live entry that is certainly not expired; else False."""
    cdef double t
    cdef Entry* e = &c.ent[i]
    if c.precise:
        return False
    if c.has_ttl:
        t = admf_clock(ADMF_CLOCK_PRECISE)     # expiry is decided on the precise clock
        if t >= e.created_at + c.ttl_seconds:
            return False
    else:
        t = admf_clock(ADMF_CLOCK_COARSE)   # only a time stamp: the cheap clock
    _record_use(c, i, t)
    return True


cdef inline void _record_use(CacheCore c, Py_ssize_t i, double when) noexcept:
    """A hit on live entry i at ``when``: its time stamp and use count, the
    store's hits, and the policy's reordering (every hit: _hit_fast,
    _get_slow and the readers' buffered uses, _apply_uses)."""
    cdef Entry* e = &c.ent[i]
    e.last_access = when
    e.access_count += 1
    c.hits += 1
    _touch(c, i)


cdef object _get_slow(CacheCore c, Py_ssize_t i):
    """_get for a store with ttl or a timer."""
    cdef double now
    # The stored key, held across the timer call: the entry is still the one
    # found when it still holds it.
    key = <object>c.ent[i].key
    now = _now(c)
    if not _holds(c, i, key):   # removed while the timer ran
        c.misses += 1
        return _MISS
    if c.has_ttl and now >= c.ent[i].created_at + c.ttl_seconds:
        _remove(c, i)
        c.expirations += 1
        c.misses += 1
        return _MISS
    _record_use(c, i, now)
    return <object>c.ent[i].value


cdef Py_ssize_t _find_live(CacheCore c, object key, Py_hash_t h, bint drop_expired) except -2:
    """The index of key's live entry or -1, without statistics except
    expirations. Valid until the next Python code."""
    cdef Py_ssize_t pos
    cdef Py_ssize_t i = _find(c, <PyObject*>key, h, &pos)
    if i < 0 or not c.has_ttl:
        return i
    return _live_ttl(c, i, drop_expired)


cdef Py_ssize_t _live_ttl(CacheCore c, Py_ssize_t i, bint drop_expired) except -2:
    """_find_live's answer for entry i of a store with a ttl."""
    cdef double now
    stored = <object>c.ent[i].key
    now = _now(c)                               # Python: timer
    if not _holds(c, i, stored):
        return -1
    if now >= c.ent[i].created_at + c.ttl_seconds:
        if drop_expired:
            _remove(c, i)
            c.expirations += 1
        return -1
    return i


cdef void _detach(CacheCore c, Py_ssize_t i) noexcept:
    """Take a live entry out of every list (no table operation, no Python code)."""
    cdef int b
    if c.lfu:
        b = c.ent[i].tag
        list_remove(c.ent, &c.bk[b].items, <int>i)
        if c.bk[b].items.len == 0:
            _bucket_unchain(c, b)
    else:
        list_remove(c.ent, &c.lists[c.ent[i].tag], <int>i)
    if c.has_ttl:
        time_remove(c.cold, &c.times, <int>i)
    c.size -= 1
    if c.measured:
        c.nbytes -= c.cold[i].nbytes
    c.mutations += 1


cdef int _remove(CacheCore c, Py_ssize_t i) except -1:
    """Remove live entry i (lists, table, entry). Its references are dropped
    last, when the store is consistent: Python code (their __del__) may run
    then."""
    cdef PyObject* key = c.ent[i].key
    cdef PyObject* value = c.ent[i].value
    cdef PyObject* args = NULL
    cdef PyObject* kwargs = NULL
    _unindex(c, _slot_of(c, i))
    _detach(c, i)
    if c.ent[i].flags & F_COLD_OBJECTS:
        args = c.cold[i].args
        kwargs = c.cold[i].kwargs
    c.ent[i].key = NULL
    c.ent[i].next = c.free_head
    c.free_head = <int>i
    Py_DECREF_ptr(key)
    Py_DECREF_ptr(value)
    Py_XDECREF_ptr(args)
    Py_XDECREF_ptr(kwargs)
    return 0


cdef Py_ssize_t _victim(CacheCore c) noexcept:
    """The entry to evict next (the store is not empty)."""
    if not c.ranked:
        return c.lists[W].first
    if c.lfu:
        return c.bk[c.bk_first].items.first
    return _wtlfu_victim(c)


cdef Py_ssize_t _victim_except(CacheCore c, Py_ssize_t keep) noexcept:
    """The entry to evict next other than ``keep``, or -1 when there is none."""
    cdef Py_ssize_t v
    cdef int b
    if c.size == 0:
        return -1
    if c.wtlfu:
        return _wtlfu_first_except(c, keep)
    v = _victim(c)
    if v != keep:
        return v
    if c.ent[keep].next != NIL:                  # keep is first: the one after it
        return c.ent[keep].next
    if c.lfu:
        b = c.bk[c.ent[keep].tag].next
        return c.bk[b].items.first if b != NIL else -1
    return -1


cdef int _evict_bytes(CacheCore c, Py_ssize_t keep, object keep_key, Py_ssize_t incoming) except -1:
    """Evict in policy order, never ``keep`` (while it holds ``keep_key``),
    until the bytes (plus ``incoming``) fit the budget. Dropping a victim may
    run Python code (its value's __del__) between steps: the store is whole
    at each."""
    cdef Py_ssize_t v
    while c.nbytes + incoming > c.maxbytes:
        v = _victim_except(c, keep if _holds(c, keep, keep_key) else -1)
        if v < 0:
            return 0
        _remove(c, v)
        c.evictions += 1
    return 0


cdef inline double _expiry(CacheCore c, Py_ssize_t i) noexcept nogil:
    return c.ent[i].created_at + c.ttl_seconds


cdef void _time_link(CacheCore c, Py_ssize_t i) noexcept:
    """Link a written entry into the time list, in expiry order: at the tail,
    unless writes made while its key was looked up (a key's __eq__ running
    Python code) were stamped later than this one."""
    cdef int pos = c.times.last
    cdef double at = _expiry(c, i)
    while pos != NIL and _expiry(c, pos) > at:
        pos = c.cold[pos].tprev
    time_insert_after(c.cold, &c.times, pos, <int>i)


cdef void _attach(CacheCore c, Py_ssize_t i) noexcept:
    """Link a new entry (already in the table) into the lists."""
    cdef int b
    if c.has_ttl:
        _time_link(c, i)
    c.size += 1
    if c.measured:
        c.nbytes += c.cold[i].nbytes
    c.mutations += 1
    if not c.ranked:
        c.ent[i].tag = W
        list_append(c.ent, &c.lists[W], <int>i)
    elif c.lfu:
        b = c.bk_first
        if b == NIL or c.bk[b].freq != 1:
            b = _bucket_new(c, 1, NIL)
        c.ent[i].tag = b
        list_append(c.ent, &c.bk[b].items, <int>i)
    else:
        c.ent[i].tag = W
        list_append(c.ent, &c.lists[W], <int>i)
        _wtlfu_add(c, i)


cdef Py_ssize_t _purge(CacheCore c, double now) except -1:
    """Remove the expired entries from the head of the time list."""
    cdef Py_ssize_t n = 0
    cdef int i
    while c.times.first != NIL:
        i = c.times.first
        if _expiry(c, i) > now:
            break
        _remove(c, i)       # Python, between steps: its value's __del__ may use the store
        c.expirations += 1
        n += 1
    return n


cdef Py_ssize_t _measure(CacheCore c, object key, object value) except -1:
    """The entry's measured bytes (its own function: _store keeps no Python
    temporaries for it)."""
    return c.measure(key, value)


cdef int _store_too_big(CacheCore c, object key, Py_hash_t h, bint overwrite) except -1:
    """A value over the whole byte budget: not stored, one eviction; an
    overwrite by it removes the key's old value."""
    cdef Py_ssize_t i = _find_live(c, key, h, True)  # Python: __eq__
    if i >= 0 and overwrite:
        _remove(c, i)                               # the old value must not outlive its overwrite
    if i < 0 or overwrite:
        c.evictions += 1
    return 0


cdef inline void _set_cold_objects(CacheCore c, Py_ssize_t i, object args, object kwargs) noexcept:
    """Store args and kwargs (None: none) in a new entry."""
    if args is None and kwargs is None:
        c.ent[i].flags = 0
        return
    c.ent[i].flags = F_COLD_OBJECTS
    c.cold[i].args = NULL if args is None else <PyObject*>args
    c.cold[i].kwargs = NULL if kwargs is None else <PyObject*>kwargs
    Py_XINCREF_ptr(c.cold[i].args)
    Py_XINCREF_ptr(c.cold[i].kwargs)


cdef inline int _rewrite(CacheCore c, Py_ssize_t i, object value, object args, object kwargs,
                         double now, Py_ssize_t size) except -1:
    """Overwrite a live entry in place: a new write, and a use (it moves per
    policy). Its old value, args and kwargs are dropped last, when the store
    is consistent (their __del__ may use it). Inline for the common case (a
    recency list, no args or kwargs, ttl or measure); _rewrite_any else."""
    cdef Entry* e = &c.ent[i]
    cdef PyObject* old_value = e.value
    if (c.ranked or e.flags or args is not None or kwargs is not None
            or c.has_ttl or c.measured):
        return _rewrite_any(c, i, value, args, kwargs, now, size)
    Py_INCREF(value)
    e.value = <PyObject*>value
    e.created_at = e.last_access = now
    e.access_count = 0
    list_move_to_tail(c.ent, &c.lists[W], <int>i)
    Py_DECREF_ptr(old_value)
    return 0


cdef int _rewrite_any(CacheCore c, Py_ssize_t i, object value, object args, object kwargs,
                      double now, Py_ssize_t size) except -1:
    """_rewrite, every case."""
    cdef Entry* e = &c.ent[i]
    cdef PyObject* old_value = e.value
    cdef PyObject* old_args = NULL
    cdef PyObject* old_kwargs = NULL
    if e.flags & F_COLD_OBJECTS:
        old_args = c.cold[i].args
        old_kwargs = c.cold[i].kwargs
    Py_INCREF(value)
    e.value = <PyObject*>value
    _set_cold_objects(c, i, args, kwargs)
    e.created_at = e.last_access = now
    e.access_count = 0
    if not c.ranked:
        list_move_to_tail(c.ent, &c.lists[W], <int>i)
    elif c.lfu:
        _lfu_promote(c, i)
    else:
        _wtlfu_hit(c, i)
    if c.has_ttl:
        time_remove(c.cold, &c.times, <int>i)
        _time_link(c, i)
    if c.measured:
        c.nbytes += size - c.cold[i].nbytes
        c.cold[i].nbytes = size
    Py_DECREF_ptr(old_value)
    Py_XDECREF_ptr(old_args)
    Py_XDECREF_ptr(old_kwargs)
    return 0


cdef inline void _prefetch_victims(CacheCore c) noexcept nogil:
    """A full store in list order (LRU, FIFO) after a new key: what evicting
    the next victim touches (its key, value and index slot) and the entry of
    the one after it are fetched now, so that a large store's misses overlap
    the caller's work instead of waiting in the next store.  Hints only:
    nothing is read but the next victim's entry (fetched the same way by the
    previous store)."""
    cdef Entry* e = &c.ent[c.lists[W].first]
    admf_prefetch(e.key)
    admf_prefetch(e.value)
    admf_prefetch(&c.index[_home(c, e.hash)])
    if e.next != NIL:
        admf_prefetch(&c.ent[e.next])


cdef inline int _write(CacheCore c, object key, object value, object args, object kwargs) except -1:
    """set / c[k] = v. On a store whose writes run no Python code but the
    key's __eq__ (``plain_writes``: no ttl, measure or timer), a key not known
    absent is looked up once and, when live, overwritten in place; otherwise,
    and for a new key, _store (told where the key goes when the lookup found
    it absent)."""
    cdef Py_hash_t h = _hash(key)
    cdef unsigned long long absent_at = _absent_at(c, key, h)
    cdef Py_ssize_t pos = c.miss_pos
    cdef Py_ssize_t i
    if absent_at == UNKNOWN and c.plain_writes:
        i = _find(c, <PyObject*>key, h, &pos)     # Python: __eq__
        if i >= 0:
            _rewrite(c, i, value, args, kwargs, admf_clock(ADMF_CLOCK_COARSE), 0)
            return 0
        absent_at = c.mutations
    return _store(c, key, h, value, args, kwargs, True, absent_at, pos)


cdef int _overwrite(CacheCore c, Py_ssize_t i, object value, object args, object kwargs,
                    double now, Py_ssize_t size) except -1:
    """_store's overwrite of live entry i: rewritten, then the budget restored."""
    stored = <object>c.ent[i].key
    _rewrite(c, i, value, args, kwargs, now, size)  # Python: old value's __del__
    if c.measured:
        _evict_bytes(c, i, stored, 0)               # Python: evicted values' __del__
    return 0


cdef int _store(CacheCore c, object key, Py_hash_t h, object value, object args,
                object kwargs, bint overwrite, unsigned long long absent_at,
                Py_ssize_t pos) except -1:
    """Insert or overwrite key. Python code may run at the marked points only.

    ``absent_at``/``pos``: the store's ``mutations`` count when key was found
    absent and the slot it would take (UNKNOWN if not known); while nothing has
    changed since, no lookup is needed.
    """
    cdef double now
    cdef Py_ssize_t i = -1
    cdef Py_ssize_t size = 0
    cdef unsigned long long expected, pos_at
    cdef Entry* e
    if c.maxsize == 0:
        return 0
    if c.measured:
        size = _measure(c, key, value)              # Python: the measure, before any change
    now = _write_time(c)                            # Python: timer
    if c.has_ttl:
        _purge(c, now)                              # Python: values' __del__
    if size > c.maxbytes:                           # over the whole budget: not stored (counted)
        return _store_too_big(c, key, h, overwrite)
    while True:
        i = -1
        if absent_at != c.mutations:
            i = _find(c, <PyObject*>key, h, &pos)   # Python: __eq__
        pos_at = c.mutations                        # pos is key's free slot as the table is now
        if i >= 0:
            if c.has_ttl and now >= _expiry(c, i):
                expected = c.mutations + 1
                _remove(c, i)                       # Python: its value's __del__
                c.expirations += 1
                if c.mutations != expected:
                    absent_at = UNKNOWN
                    continue
            elif not overwrite:
                return 0
            else:
                return _overwrite(c, i, value, args, kwargs, now, size)
        # A new entry: evict first, so it is never its own victim. Dropping a
        # victim can run Python code (its value's __del__): then the lookup is
        # redone.
        expected = c.mutations
        while (c.maxsize > 0 and c.size >= c.maxsize) or (
                c.nbytes + size > c.maxbytes and c.size > 0):
            _remove(c, _victim(c))                  # Python: its value's __del__
            c.evictions += 1
            expected += 1
            if c.mutations != expected:
                break
        if c.mutations == expected:
            break
        absent_at = UNKNOWN
    # No Python code from here on.
    if not c.scatter and not PyLong_CheckExact(key):
        # Low bits serve int keys (in memory order); a tuple's or a
        # float's hash is spread better by Fibonacci hashing.
        _table_scatter(c)
    if c.mutations != pos_at:
        # Our own removals (backward shifts) or a rebuild since (no Python
        # code ran: key is still absent) may have moved key's place.
        pos = _table_free_slot(c, h)
    pos = _table_room(c, h, pos)
    i = _entry_new(c)
    _table_put(c, pos, <int>i)
    e = &c.ent[i]
    Py_INCREF(key)
    Py_INCREF(value)
    e.key = <PyObject*>key
    e.value = <PyObject*>value
    e.hash = h
    e.created_at = e.last_access = now
    e.access_count = 0
    _set_cold_objects(c, i, args, kwargs)
    if c.measured:
        c.cold[i].nbytes = size
    _attach(c, i)
    if c.size >= c.maxsize >= PREFETCH_MIN and not c.ranked:
        _prefetch_victims(c)
    return 0


# -- LFU buckets ------------------------------------------------------------------
# In an array with one more bucket than there can be entries (every bucket in
# the chain holds an entry, and a promotion may need one more), so taking one
# never allocates.

cdef int _buckets_fit(CacheCore c, Py_ssize_t cap) noexcept:
    """Grow the buckets to ``cap``; -1 if there is no memory for it."""
    cdef Py_ssize_t j
    cdef Bucket* bk
    if c.bk_cap >= cap:
        return 0
    bk = <Bucket*>realloc(c.bk, cap * sizeof(Bucket))
    if bk == NULL:
        return -1
    c.bk = bk
    for j in range(c.bk_cap, cap):
        bk[j].next = c.bk_free
        c.bk_free = <int>j
    c.bk_cap = cap
    return 0


cdef int _bucket_new(CacheCore c, Py_ssize_t freq, int after) noexcept:
    """A new empty bucket of ``freq``, chained after bucket ``after`` (NIL: first)."""
    cdef int b = c.bk_free
    cdef int n = c.bk[after].next if after != NIL else c.bk_first
    c.bk_free = c.bk[b].next
    c.bk[b].freq = freq
    list_init(&c.bk[b].items)
    c.bk[b].prev = after
    c.bk[b].next = n
    if after != NIL:
        c.bk[after].next = b
    else:
        c.bk_first = b
    if n != NIL:
        c.bk[n].prev = b
    else:
        c.bk_last = b
    return b


cdef void _bucket_unchain(CacheCore c, int b) noexcept:
    """Take an empty bucket out of the chain and free it."""
    cdef int p = c.bk[b].prev
    cdef int n = c.bk[b].next
    if p != NIL:
        c.bk[p].next = n
    else:
        c.bk_first = n
    if n != NIL:
        c.bk[n].prev = p
    else:
        c.bk_last = p
    c.bk[b].next = c.bk_free
    c.bk_free = b


cdef void _lfu_promote(CacheCore c, Py_ssize_t i) noexcept:
    """Move an entry to the bucket of the next frequency (at its tail)."""
    cdef int b = c.ent[i].tag
    cdef int nxt = c.bk[b].next
    cdef int target
    if nxt != NIL and c.bk[nxt].freq == c.bk[b].freq + 1:
        target = nxt
    elif c.bk[b].items.len == 1:
        c.bk[b].freq += 1                   # alone in its bucket: the bucket moves up
        return
    else:
        target = _bucket_new(c, c.bk[b].freq + 1, b)
    list_remove(c.ent, &c.bk[b].items, <int>i)
    list_append(c.ent, &c.bk[target].items, <int>i)
    c.ent[i].tag = target
    if c.bk[b].items.len == 0:
        _bucket_unchain(c, b)


# -- W-TinyLFU (docs/caching.md; twin: _WTinyLFUOrder, _Sketch) -------------------
# The window is lists[W]; probation and protected are the main area. An
# entry's ``tag`` names its list.

cdef Py_ssize_t _sketch_cap(Py_ssize_t maxsize) noexcept nogil:
    """``maxsize`` rounded up to a power of 2 within [SKETCH_MIN, SKETCH_MAX]
    (SKETCH_MAX when negative): the width the sketch may grow to
    (_cache_py.sketch_width)."""
    cdef Py_ssize_t width = SKETCH_MIN
    if maxsize < 0:
        return SKETCH_MAX
    while width < maxsize and width < SKETCH_MAX:
        width <<= 1
    return width


cdef int _sketch_alloc(CacheCore c, Py_ssize_t width) noexcept nogil:
    """A fresh sketch of ``width`` counters per row; -1 (the old one kept) if
    there is no memory for it."""
    cdef unsigned char* t = <unsigned char*>calloc(admf_sketch_nbytes(width), 1)
    cdef int bits = 0
    if t == NULL:
        return -1
    free(c.sketch)
    c.sketch = t
    c.sk_width = width
    while (<Py_ssize_t>1 << bits) < width:
        bits += 1
    c.sk_bits = bits
    c.sk_adds = 0
    return 0


cdef inline void _sketch_increment(CacheCore c, Py_hash_t h) noexcept nogil:
    if admf_sketch_increment(c.sketch, <unsigned long long>h, c.sk_bits, c.sk_width):
        c.sk_adds += 1
        if c.sk_adds >= 10 * c.sk_width:    # aging: every counter halved
            admf_sketch_halve(c.sketch, admf_sketch_nbytes(c.sk_width))
            c.sk_adds //= 2


cdef inline int _frequency(CacheCore c, Py_ssize_t i) noexcept nogil:
    return admf_sketch_frequency(c.sketch, <unsigned long long>c.ent[i].hash, c.sk_bits, c.sk_width)


cdef inline void _start_caps(Py_ssize_t n, Py_ssize_t* window, Py_ssize_t* protected) noexcept nogil:
    """The window's share (1%) and protected's (80% of the main area) of n
    entries to start with; exact for any n."""
    cdef Py_ssize_t main = 99 * (n // 100) + (99 * (n % 100)) // 100
    window[0] = n - main
    protected[0] = 80 * (main // 100) + (80 * (main % 100)) // 100


cdef inline void _caps(CacheCore c, Py_ssize_t* window, Py_ssize_t* protected) noexcept nogil:
    """The capacities of window and protected: the climber's with a max_size,
    else the starting shares of the current size."""
    if c.maxsize > 0:
        window[0] = c.wmax
        protected[0] = c.qmax
    else:
        _start_caps(c.size if c.size > 1 else 1, window, protected)


cdef int _wtlfu_reset(CacheCore c) noexcept nogil:
    """A fresh history: the narrowest sketch, the climber at its start. -1
    when there is no memory for a sketch and none to empty instead."""
    if _sketch_alloc(c, min(<Py_ssize_t>SKETCH_MIN, c.sk_cap)) < 0:
        if c.sketch == NULL:
            return -1
        memset(c.sketch, 0, admf_sketch_nbytes(c.sk_width))     # no memory for a new one: this one, emptied
        c.sk_adds = 0
    _start_caps(c.maxsize if c.maxsize > 0 else 1, &c.wmax, &c.qmax)
    c.sample_hits = c.sample_misses = c.adjustment = 0
    c.previous_rate = 0.0
    c.step = -STEP_PERCENT * <double>(c.maxsize if c.maxsize > 0 else 0)
    return 0


cdef void _demote(CacheCore c) noexcept nogil:
    """Protected's overflow back to probation."""
    cdef Py_ssize_t window, protected
    _caps(c, &window, &protected)
    while c.lists[PROTECTED].len > protected:
        _wtlfu_move(c, c.lists[PROTECTED].first, PROBATION)


cdef void _climb(CacheCore c) noexcept nogil:
    """After a new entry (a miss): adapt the window's share to the hit rate
    (Caffeine's hill climber; the twin's _WTinyLFUOrder._climb)."""
    cdef Py_ssize_t requests, quota, _i
    cdef double rate, change, amount
    c.sample_misses += 1
    requests = c.sample_hits + c.sample_misses
    if requests >= 10 * c.sk_width:
        rate = <double>c.sample_hits / <double>requests
        change = rate - c.previous_rate
        amount = c.step if change >= 0 else -c.step
        if fabs(change) >= RESTART_THRESHOLD:
            c.step = STEP_PERCENT * <double>c.maxsize * (1.0 if amount >= 0 else -1.0)
        else:
            c.step = STEP_DECAY * amount
        c.previous_rate = rate
        c.adjustment = <Py_ssize_t>amount
        c.sample_hits = c.sample_misses = 0
    _demote(c)
    if c.adjustment > 0:
        quota = min(c.adjustment, c.qmax)
        c.qmax -= quota
        c.wmax += quota
        _demote(c)
        for _i in range(TRANSFER_MAX):
            if quota < 1 or c.lists[PROBATION].len + c.lists[PROTECTED].len == 0:
                break
            quota -= 1
            _wtlfu_move(c, c.lists[PROBATION].first if c.lists[PROBATION].len
                        else c.lists[PROTECTED].first, W)
        c.qmax += quota
        c.wmax -= quota
        c.adjustment = quota
    elif c.adjustment < 0 and c.wmax > 1:
        quota = min(-c.adjustment, c.wmax - 1)
        c.qmax += quota
        c.wmax -= quota
        for _i in range(TRANSFER_MAX):
            if quota < 1 or c.lists[W].len == 0:
                break
            quota -= 1
            _wtlfu_move(c, c.lists[W].first, PROBATION)
        c.qmax -= quota
        c.wmax += quota
        c.adjustment = -quota


cdef void _wtlfu_move(CacheCore c, Py_ssize_t i, int seg) noexcept nogil:
    """Move an entry to the tail of another list."""
    list_remove(c.ent, &c.lists[c.ent[i].tag], <int>i)
    list_append(c.ent, &c.lists[seg], <int>i)
    c.ent[i].tag = seg


cdef void _wtlfu_add(CacheCore c, Py_ssize_t i) noexcept nogil:
    """A new entry, just appended to the window: count it in the sketch (after
    widening the sketch if the store outgrew it) and push the window's
    overflow into probation."""
    cdef Py_ssize_t window, protected
    if c.size > c.sk_width and c.sk_width < c.sk_cap:
        _sketch_alloc(c, min(_sketch_cap(c.size), c.sk_cap))   # no memory: the narrower one goes on
    _sketch_increment(c, c.ent[i].hash)
    _caps(c, &window, &protected)
    while c.lists[W].len > window:
        _wtlfu_move(c, c.lists[W].first, PROBATION)
    if c.maxsize > 0:
        _climb(c)


cdef void _wtlfu_hit(CacheCore c, Py_ssize_t i) noexcept nogil:
    """A use: counted in the sketch; a hit in probation promotes to protected
    (whose overflow goes back to probation), elsewhere it moves to the tail."""
    cdef int seg = c.ent[i].tag
    _sketch_increment(c, c.ent[i].hash)
    c.sample_hits += 1
    if seg != PROBATION:
        list_move_to_tail(c.ent, &c.lists[seg], <int>i)
        return
    _wtlfu_move(c, i, PROTECTED)
    _demote(c)


cdef Py_ssize_t _wtlfu_victim(CacheCore c) noexcept nogil:
    """The entry to evict for a new one: the window's least recently used (the
    candidate, when the window holds its share) against the main area's; the
    candidate stays, moved to probation, only if its frequency is higher."""
    cdef Py_ssize_t window, protected
    cdef Py_ssize_t victim = NIL
    cdef Py_ssize_t candidate
    _caps(c, &window, &protected)
    if c.lists[PROBATION].len:
        victim = c.lists[PROBATION].first
    elif c.lists[PROTECTED].len:
        victim = c.lists[PROTECTED].first
    if c.lists[W].len == 0 or (c.lists[W].len < window and victim != NIL):
        return victim
    candidate = c.lists[W].first
    if victim == NIL:
        return candidate
    if _frequency(c, candidate) > _frequency(c, victim):
        _wtlfu_move(c, candidate, PROBATION)
        return victim
    return candidate


cdef Py_ssize_t _first_except(CacheCore c, List* lst, Py_ssize_t keep) noexcept nogil:
    cdef int i = lst.first
    while i != NIL:
        if i != keep:
            return i
        i = c.ent[i].next
    return NIL


cdef Py_ssize_t _wtlfu_first_except(CacheCore c, Py_ssize_t keep) noexcept nogil:
    """Eviction order without admission (the bytes of an overwrite): probation,
    protected, window, least recently used first, never ``keep``."""
    cdef Py_ssize_t i = _first_except(c, &c.lists[PROBATION], keep)
    if i == NIL:
        i = _first_except(c, &c.lists[PROTECTED], keep)
    if i == NIL:
        i = _first_except(c, &c.lists[W], keep)
    return i


# -- walks -----------------------------------------------------------------------

cdef Py_ssize_t _list_length(CacheCore c, List* lst, int tag) noexcept:
    """The length of a list walked both ways, or -1 if an entry in it is tagged
    with another list or its links disagree (for _check)."""
    cdef Py_ssize_t n = 0
    cdef int i = lst.first
    cdef int prev = NIL
    while i != NIL:
        if c.ent[i].tag != tag or c.ent[i].prev != prev or n > c.ent_used:
            return -1
        n += 1
        prev = i
        i = c.ent[i].next
    return n if prev == lst.last else -1


cdef List* _next_order_list(CacheCore c, int* at) noexcept nogil:
    """The order lists one by one, in order-list order (LFU: its buckets,
    least frequent first; W-TinyLFU: probation, protected, window); ``at``
    starts at NIL and follows; NULL after the last."""
    cdef int k = at[0]
    if c.lfu:
        k = c.bk_first if k == NIL else c.bk[k].next
        at[0] = k
        return NULL if k == NIL else &c.bk[k].items
    k = 0 if k == NIL else k + 1
    at[0] = k
    if not c.wtlfu:
        return &c.lists[W] if k == 0 else NULL
    if k == 0:
        return &c.lists[PROBATION]
    if k == 1:
        return &c.lists[PROTECTED]
    return &c.lists[W] if k == 2 else NULL


cdef list _order_indices(CacheCore c):
    """The live entries' indices in order-list order (no Python code runs but
    list appends)."""
    cdef list out = []
    cdef int at = NIL
    cdef int i
    cdef List* lst = _next_order_list(c, &at)
    while lst != NULL:
        i = lst.first
        while i != NIL:
            out.append(i)
            i = c.ent[i].next
        lst = _next_order_list(c, &at)
    return out


cdef Py_ssize_t _fill(CacheCore c, list out, Py_ssize_t n, List* lst, int field) noexcept:
    """Put the keys (field 0) or values (1) of lst into out from n on; no
    allocation."""
    cdef int i = lst.first
    cdef PyObject* o
    while i != NIL:
        o = c.ent[i].key if field == 0 else c.ent[i].value
        Py_INCREF_ptr(o)
        PyList_SET_ITEM_ptr(out, n, o)
        n += 1
        i = c.ent[i].next
    return n


cdef list _snapshot_raw(CacheCore c, int field):
    """The live keys (field 0) or values (1) in order-list order. The list is
    allocated first; filling it allocates nothing, so no Python code runs
    meanwhile."""
    cdef list out
    cdef Py_ssize_t n = 0
    cdef int at = NIL
    cdef List* lst
    while True:
        n = c.size
        out = PyList_New(n)     # may run a collection, and Python code
        if c.size == n:
            break
    n = 0
    lst = _next_order_list(c, &at)
    while lst != NULL:
        n = _fill(c, out, n, lst, field)
        lst = _next_order_list(c, &at)
    return out


cdef list _snapshot(CacheCore c, int field):
    if c.has_ttl:
        _purge(c, _now(c))
    return _snapshot_raw(c, field)


cdef list _snapshot_pairs(CacheCore c, bint indices):
    """(key, value), or (key, index) with ``indices``, of the live entries
    in order-list order: both halves taken with no change between them."""
    cdef list keys, second
    cdef unsigned long long before
    while True:
        keys = _snapshot(c, 0)
        before = c.mutations
        second = _order_indices(c) if indices else _snapshot_raw(c, 1)
        if c.mutations == before and len(second) == len(keys):
            return list(zip(keys, second))


# ---------------------------------------------------------------------------
# Cached functions
# ---------------------------------------------------------------------------

cdef bint _enabled = True

# MAX_PROBE (arities up to it are looked up through a probe tuple): _cache.pxd


def set_enabled(flag):
    """Globally enable or disable cached functions (CacheManager.enable/disable)."""
    global _enabled
    _enabled = bool(flag)


def is_enabled():
    return _enabled


cdef object _functools_key(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                           object prefix, bint typed):
    """functools' key for (prefix?, *args, **kwargs)."""
    cdef Py_ssize_t nkw = PyTuple_GET_SIZE(<object>kwnames) if kwnames != NULL else 0
    cdef Py_ssize_t npos = nargs + (1 if prefix is not None else 0)
    cdef Py_ssize_t size = npos + (1 + 2 * nkw if nkw else 0) + (npos + nkw if typed else 0)
    cdef Py_ssize_t i, j = 0
    cdef object item
    if npos == 1 and nkw == 0 and not typed:
        item = prefix if prefix is not None else <object>args[0]
        if PyLong_CheckExact(item) or PyUnicode_CheckExact(item):
            return item
    key = PyTuple_New(size)
    if prefix is not None:
        Py_INCREF(prefix)
        PyTuple_SET_ITEM(key, j, prefix)
        j += 1
    for i in range(nargs):
        item = <object>args[i]
        Py_INCREF(item)
        PyTuple_SET_ITEM(key, j, item)
        j += 1
    if nkw:
        Py_INCREF(KWD_MARK)
        PyTuple_SET_ITEM(key, j, KWD_MARK)
        j += 1
        for i in range(nkw):
            item = <object>PyTuple_GET_ITEM(<object>kwnames, i)
            Py_INCREF(item)
            PyTuple_SET_ITEM(key, j, item)
            item = <object>args[nargs + i]
            Py_INCREF(item)
            PyTuple_SET_ITEM(key, j + 1, item)
            j += 2
    if typed:
        if prefix is not None:
            item = type(prefix)
            Py_INCREF(item)
            PyTuple_SET_ITEM(key, j, item)
            j += 1
        for i in range(nargs + nkw):
            item = type(<object>args[i])
            Py_INCREF(item)
            PyTuple_SET_ITEM(key, j, item)
            j += 1
    return key


cdef tuple _args_tuple(PyObject* const* args, Py_ssize_t nargs):
    return <tuple>admf_tuple_obj(args, nargs)


cdef dict _kwargs_dict(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames):
    cdef dict d = {}
    cdef Py_ssize_t i
    if kwnames != NULL:
        for i in range(PyTuple_GET_SIZE(<object>kwnames)):
            d[<object>PyTuple_GET_ITEM(<object>kwnames, i)] = <object>args[nargs + i]
    return d


def make_key(tuple args, kwargs, bint typed):
    """functools' key of a call (the compiled path builds the same key)."""
    cdef list flat = list(args)
    cdef tuple names = tuple(kwargs) if kwargs else ()
    if kwargs:
        flat.extend(kwargs.values())
    stack = tuple(flat)
    return _key_from_tuple(stack, len(args), names, typed)


cdef object _key_from_tuple(tuple stack, Py_ssize_t nargs, tuple names, bint typed):
    return _functools_key(<PyObject* const*>ADMF_TUPLE_ITEMS(stack), nargs,
                          <PyObject*>names if names else NULL, None, typed)


def call_key(tuple key_args, kwargs, bint typed, key_maker, fallback):
    """(key, explicit) of one call of a cached function (see _cache_py.call_key)."""
    if key_maker is not None:
        return key_maker(key_args, kwargs), True
    key = make_key(key_args, kwargs, typed)
    if PyObject_Hash_raw(key) == -1:
        if fallback is None or not PyErr_ExceptionMatches(TypeError):
            admf_fail()
        PyErr_Clear()
        return fallback(key_args, kwargs), True
    return key, False


@cython.final
cdef class _Token:
    """Stands for one instance in the keys of a cached method."""

    def __repr__(self):
        return f"<instance token {id(self):#x}>"


@cython.final
cdef class MethodTokens:
    """Identity tokens for the instances a cached method is called on.

    A token stands for its instance in keys, so the cache never holds the
    instance; when the instance dies its entries are removed from the cache.
    """

    def __init__(self, cache):
        import weakref
        self.by_id = {}
        self.cache_ref = weakref.ref(cache)

    cpdef object token(self, obj):
        import weakref
        found = self.by_id.get(id(obj))
        if found is not None and (<tuple>found)[0]() is obj:
            return (<tuple>found)[1]
        token = _Token()
        try:
            ref = weakref.ref(obj, _TokenCallback(self, id(obj), token))
        except TypeError:
            return obj  # not weakly referenceable: keyed by the object itself
        self.by_id[id(obj)] = (ref, token)
        return token


@cython.final
cdef class _TokenCallback:
    def __init__(self, MethodTokens tokens, Py_ssize_t ident, token):
        import weakref
        self.tokens_ref = weakref.ref(tokens)
        self.ident = ident
        self.token = token

    def __call__(self, ref):
        cdef MethodTokens tokens = self.tokens_ref()
        if tokens is None:
            return
        found = tokens.by_id.get(self.ident)
        if found is not None and (<tuple>found)[1] is self.token:
            del tokens.by_id[self.ident]
        cache = tokens.cache_ref()
        if cache is not None:
            token = self.token
            cache._discard_matching(
                lambda k: type(k) is tuple and len(k) > 0 and k[0] is token)


@cython.final
cdef class _Flight:
    def __init__(self):
        self.event = threading.Event()
        self.owner = threading.get_ident()


@cython.final
cdef class CachedFunction:
    """What ``cached`` returns: a functools-compatible caching wrapper."""

    def __cinit__(self, *args, **kwargs):
        cdef Py_ssize_t n
        self.vectorcall = ADMF_AS_VECTORCALL(<void*>_cached_vectorcall)
        for n in range(MAX_PROBE + 1):
            self.probes[n] = NULL
        if ADMF_PROBE_TUPLES and admf_internals:
            for n in range(1, MAX_PROBE + 1):
                probe = PyTuple_New(n)
                PyObject_GC_UnTrack(<PyObject*>probe)   # it owns none of its items
                Py_INCREF(probe)
                self.probes[n] = <PyObject*>probe

    def __dealloc__(self):
        cdef Py_ssize_t n
        for n in range(MAX_PROBE + 1):
            Py_XDECREF(self.probes[n])

    def __init__(self, func, CacheCore cache, typed=False, key_maker=None, fallback_key=None,
                 single_flight=False):
        if self.core is not None:       # a free-threaded hit reads the store through a borrowed pointer
            raise RuntimeError("CachedFunction.__init__ called on a function already set up")
        if not callable(func):
            raise TypeError("func must be callable")
        typed = bool(typed)
        single_flight = bool(single_flight)
        tokens = MethodTokens(cache)
        self.func = func
        self.typed = typed
        self.key_maker = key_maker
        self.fallback = fallback_key
        self.single_flight = single_flight
        self.flights = {}
        self.flight_lock = threading.RLock()
        self.tokens = tokens
        self.core = cache       # last: a store means set up (_call's check), whatever raised before

    @property
    def cache(self):
        return self.core

    def cache_info(self):
        """(hits, misses, maxsize, currsize), as functools."""
        hits, misses = self.core._counters()[:2]     # the readers' uses applied (free-threaded)
        return CacheInfo(hits, misses, self.core.max_size, len(self.core))

    def cache_clear(self):
        """Remove every entry and reset the statistics, as functools."""
        self.core.clear()
        self.core.reset_stats()

    def cache_parameters(self):
        return {"maxsize": self.core.max_size, "typed": self.typed}

    def __call__(self, *args, **kwargs):
        # The call without the vectorcall slot (ADMF_PERF_PORTABLE; _setup
        # installs the slot otherwise, and it takes every call).
        return _call_tuple(self, args, kwargs, None, None)

    def __get__(self, obj, objtype):
        if obj is None:
            return self
        return _BoundCachedMethod(self, obj)

    def __reduce__(self):
        return self.__qualname__

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        return f"<cached function {getattr(self, '__qualname__', self.func)!r}>"


cdef int _not_set_up() except -1:
    """The error of a cached function without a store (or a bound method
    without its function): made by ``__new__`` without ``__init__``, or
    emptied by the garbage collector breaking a cycle (a call from a
    finalizer that runs after it)."""
    raise TypeError("this cached function has no store: it was made without __init__, "
                    "or the garbage collector has cleared it")


cdef object _call_tuple(CachedFunction f, tuple args, dict kwargs, object instance, object token):
    """A call from tp_call's (args, kwargs), put in vectorcall form (public
    API only): the positional arguments, then the keyword values, their
    names in a tuple."""
    cdef Py_ssize_t nargs = len(args)
    if f is None:
        _not_set_up()
    if not kwargs:
        return _call(f, PySequence_Fast_ITEMS(args), nargs, NULL, <size_t>nargs, instance, token)
    cdef list flat = list(args)
    flat.extend(kwargs.values())
    cdef tuple kwnames = tuple(kwargs)
    return _call(f, PySequence_Fast_ITEMS(flat), nargs, <PyObject*>kwnames, <size_t>nargs,
                 instance, token)


cdef object _cached_vectorcall(object self, PyObject* const* args, size_t nargsf,
                               PyObject* kwnames):
    return _call(<CachedFunction>self, args, PyVectorcall_NARGS(nargsf), kwnames, nargsf,
                 None, None)


cdef object _call(CachedFunction f, PyObject* const* args, Py_ssize_t nargs,
                  PyObject* kwnames, size_t nargsf, object instance, object token):
    """One call; ``instance``/``token`` are set for ``obj.method(...)`` calls.
    A free-threaded build runs it under the store's lock (``_call_locked``),
    let go while the function runs."""
    if <PyObject*>f.core == <PyObject*>None:
        _not_set_up()
    if ADMF_FT:
        return _call_ft(f, args, nargs, kwnames, nargsf, instance, token)
    return _call_in(f, args, nargs, kwnames, nargsf, instance, token, NULL)


cdef object _call_ft(CachedFunction f, PyObject* const* args, Py_ssize_t nargs,
                     PyObject* kwnames, size_t nargsf, object instance, object token):
    """A free-threaded build's call: a hit whose key is made without Python
    code (positional exact ints and strs) is found as a reader
    (``_read_ft``); anything else runs under the store's lock."""
    cdef admf_cs cs
    cdef PyObject* value
    if (_enabled and kwnames == NULL and token is None and f.key_maker is None and not f.typed
            and 0 < nargs <= MAX_PROBE):     # (a store: _call's check)
        value = _call_read_ft(<PyObject*>f.core, args, nargs)
        if value != NULL:
            return admf_steal(value)
    _lock(&cs, f.core)
    try:
        _uses_alloc(f.core)
        return _call_in(f, args, nargs, kwnames, nargsf, instance, token, &cs)
    finally:
        _unlock(&cs, f.core)


cdef PyObject* _call_read_ft(PyObject* core, PyObject* const* args, Py_ssize_t nargs) noexcept:
    """``_read_ft`` for a cached call of positional exact ints and strs (its
    key, made without Python code: the argument, or a tuple of them); NULL
    otherwise. Pointers only: no reference to the shared store or function
    is taken (on a free-threaded build each would be an atomic operation on
    a line every thread writes)."""
    cdef Py_ssize_t i
    cdef PyObject* key
    cdef PyObject* value = NULL
    cdef Py_hash_t h
    for i in range(nargs):
        if not (PyLong_CheckExact_ptr(args[i]) or PyUnicode_CheckExact_ptr(args[i])):
            return NULL
    if nargs == 1:
        h = PyObject_Hash_ptr(args[0])          # no Python code, no error
        return _read_ft(<CacheCore>core, args[0], h, True)
    key = admf_tuple_of(args, nargs)
    if key == NULL:
        PyErr_Clear()
        return NULL
    h = PyObject_Hash_ptr(key)                  # no Python code
    if h != -1:
        value = _read_ft(<CacheCore>core, key, h, True)
    else:
        PyErr_Clear()
    Py_DECREF_ptr(key)
    return value


cdef inline void _lock(admf_cs* cs, CacheCore c) noexcept:
    """The store's critical section, entered as a writer (free-threaded)."""
    admf_cs_begin(cs, c)
    _wr_enter(c)


cdef inline void _unlock(admf_cs* cs, CacheCore c) noexcept:
    _wr_leave(c)
    admf_cs_end(cs)


cdef object _unlocked(admf_cs* cs, CachedFunction f, PyObject* const* args, Py_ssize_t nargs,
                      PyObject* kwnames, size_t nargsf, object instance):
    """The function, called with the store's lock let go (free-threaded)."""
    _unlock(cs, f.core)
    try:
        return _call_func(f, args, nargs, kwnames, nargsf, instance)
    finally:
        _lock(cs, f.core)


cdef inline object _call_in(CachedFunction f, PyObject* const* args, Py_ssize_t nargs,
                            PyObject* kwnames, size_t nargsf, object instance, object token,
                            admf_cs* cs):
    """``_call``'s body: ``cs`` is the held lock of a free-threaded build
    (NULL with the GIL); every call of the function lets it go."""
    cdef CacheCore c = f.core
    cdef object key
    cdef Py_hash_t h
    cdef Py_ssize_t i_entry = -1
    cdef PyObject* probe = NULL
    cdef PyObject** items
    cdef Py_ssize_t i
    cdef bint explicit = False
    cdef bint looked_up = False
    cdef unsigned long long miss_at
    cdef Py_ssize_t pos = 0
    if not _enabled:
        if ADMF_FT:
            return _unlocked(cs, f, args, nargs, kwnames, nargsf, instance)
        return _call_func(f, args, nargs, kwnames, nargsf, instance)
    if c.maxsize == 0:
        c.misses += 1
        if ADMF_FT:
            return _unlocked(cs, f, args, nargs, kwnames, nargsf, instance)
        return _call_func(f, args, nargs, kwnames, nargsf, instance)
    if f.key_maker is not None:
        key = f.key_maker(_key_args(args, nargs, token), _kwargs_dict(args, nargs, kwnames))
        explicit = True
        h = _hash(key)
    else:
        if kwnames == NULL and token is None and not f.typed and 0 < nargs <= MAX_PROBE:
            if nargs > 1 or not (PyLong_CheckExact(<object>args[0])
                                 or PyUnicode_CheckExact(<object>args[0])):
                probe = f.probes[nargs]
        if probe != NULL:
            # Look the arguments up in the probe tuple; build a key only on a miss.
            f.probes[nargs] = NULL
            items = ADMF_TUPLE_ITEMS_PTR(probe)
            for i in range(nargs):
                items[i] = <PyObject*>args[i]
            try:
                h = PyObject_Hash_ptr(probe)                        # Python: __hash__
                if h != -1:
                    i_entry = _find(c, probe, h, &pos)              # Python: __eq__
                    looked_up = True
            finally:
                for i in range(nargs):
                    items[i] = NULL
                f.probes[nargs] = probe
            if i_entry >= 0 and _hit_fast(c, i_entry):
                return <object>c.ent[i_entry].value
            key = _args_tuple(args, nargs)
        else:
            key = _functools_key(args, nargs, kwnames, token, f.typed)
            h = _hash_raw(key)                                      # Python: __hash__
        if h == -1:
            if f.fallback is None or not PyErr_ExceptionMatches(TypeError):
                admf_fail()
            PyErr_Clear()
            key = f.fallback(_key_args(args, nargs, token), _kwargs_dict(args, nargs, kwnames))
            explicit = True
            h = _hash(key)
    if not looked_up:
        i_entry = _find(c, <PyObject*>key, h, &pos)      # Python: __eq__
        if i_entry >= 0 and _hit_fast(c, i_entry):
            return <object>c.ent[i_entry].value
    if i_entry >= 0:
        value = _get_slow(c, i_entry)
        if value is not _MISS:
            return value
    else:
        c.misses += 1
    if f.single_flight:
        if ADMF_FT:                     # the flight takes the lock where it needs it
            _unlock(cs, c)
            try:
                return _flight_call(f, key, h, explicit, args, nargs, kwnames, nargsf, instance)
            finally:
                _lock(cs, c)
        return _flight_call(f, key, h, explicit, args, nargs, kwnames, nargsf, instance)
    miss_at = c.mutations if i_entry < 0 else UNKNOWN
    if ADMF_FT:
        result = _unlocked(cs, f, args, nargs, kwnames, nargsf, instance)
    else:
        result = _call_func(f, args, nargs, kwnames, nargsf, instance)
    if explicit:
        _store(c, key, h, result, _args_tuple(args, nargs), _kwargs_dict(args, nargs, kwnames),
               False, miss_at, pos)
    else:
        _store(c, key, h, result, None, None, False, miss_at, pos)
    return result


cdef tuple _key_args(PyObject* const* args, Py_ssize_t nargs, object token):
    cdef tuple t = _args_tuple(args, nargs)
    if token is not None:
        return (token,) + t
    return t


cdef object _call_func(CachedFunction f, PyObject* const* args, Py_ssize_t nargs,
                       PyObject* kwnames, size_t nargsf, object instance):
    """Call the user function with the caller's arguments (and the instance first)."""
    cdef PyObject* small[16]
    cdef PyObject** stack
    cdef Py_ssize_t total, i
    if instance is None:
        return PyObject_Vectorcall(f.func, args, nargsf, kwnames)
    total = nargs + (PyTuple_GET_SIZE(<object>kwnames) if kwnames != NULL else 0)
    if total + 1 <= 16:
        stack = small
    else:
        stack = <PyObject**>malloc((total + 1) * sizeof(PyObject*))
        if stack == NULL:
            raise MemoryError()
    try:
        stack[0] = <PyObject*>instance
        for i in range(total):
            stack[i + 1] = <PyObject*>args[i]
        return PyObject_Vectorcall(f.func, <PyObject* const*>stack, nargs + 1, kwnames)
    finally:
        if stack != small:
            free(stack)


cdef object _flight_call(CachedFunction f, object key, Py_hash_t h, bint explicit,
                         PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                         size_t nargsf, object instance):
    """A miss with single_flight: one thread runs the function, the others wait."""
    cdef _Flight flight
    cdef bint leader
    with f.flight_lock:
        flight = f.flights.get(key)
        leader = flight is None
        if leader:
            value = _as_writer(f.core, _op_find, key, None, h)
            if value is not _MISS:            # stored between our miss and now
                return value
            flight = _Flight()
            f.flights[key] = flight
    if not leader:
        if flight.owner == threading.get_ident():   # recursion on the same key
            return _call_func(f, args, nargs, kwnames, nargsf, instance)
        flight.event.wait()
        if flight.error is not None:
            raise flight.error
        return flight.result
    try:
        result = _call_func(f, args, nargs, kwnames, nargsf, instance)
        flight.result = result
        if explicit:
            _as_writer(f.core, _op_store, key,
                       (result, _args_tuple(args, nargs), _kwargs_dict(args, nargs, kwnames)), h)
        else:
            _as_writer(f.core, _op_store, key, (result, None, None), h)
        return result
    except BaseException as exc:
        flight.error = exc
        raise
    finally:
        with f.flight_lock:
            if f.flights.get(key) is flight:
                del f.flights[key]
        flight.event.set()


@cython.final
cdef class _BoundCachedMethod:
    """``obj.method`` of a cached function: keyed by obj's identity token."""

    def __cinit__(self, *args, **kwargs):
        self.vectorcall = ADMF_AS_VECTORCALL(<void*>_bound_vectorcall)

    def __init__(self, CachedFunction func not None, obj):
        if func.core is None:
            _not_set_up()
        self.func = func
        self.obj = obj
        self.token = func.tokens.token(obj)

    def __call__(self, *args, **kwargs):
        return _call_tuple(self.func, args, kwargs, self.obj, self.token)

    @property
    def __func__(self):
        return self.func

    @property
    def __self__(self):
        return self.obj

    def __getattr__(self, name):
        return getattr(self.func, name)

    def __repr__(self):
        return f"<bound cached method {getattr(self.func, '__qualname__', '?')} of {self.obj!r}>"


cdef object _bound_vectorcall(object self, PyObject* const* args, size_t nargsf,
                              PyObject* kwnames):
    cdef _BoundCachedMethod b = <_BoundCachedMethod>self
    if b.func is None:
        _not_set_up()
    return _call(b.func, args, PyVectorcall_NARGS(nargsf), kwnames, nargsf, b.obj, b.token)


# ---------------------------------------------------------------------------
# Module set-up: link offsets and vectorcall slots
# ---------------------------------------------------------------------------

cdef admf_traverseproc _core_base_traverse = NULL


cdef int _core_traverse(PyObject* o, admf_visitproc visit, void* arg) noexcept:
    """CacheCore's tp_traverse: Cython's, plus what its entries hold."""
    cdef int r = _core_base_traverse(o, visit, arg) if _core_base_traverse != NULL else 0
    cdef CacheCore c = <CacheCore>o
    cdef Py_ssize_t i
    if r:
        return r
    for i in range(c.ent_used):
        if c.ent[i].key != NULL:
            r = visit(c.ent[i].key, arg) or visit(c.ent[i].value, arg)
            if r == 0 and c.ent[i].flags & F_COLD_OBJECTS:
                if c.cold[i].args != NULL:
                    r = visit(c.cold[i].args, arg)
                if r == 0 and c.cold[i].kwargs != NULL:
                    r = visit(c.cold[i].kwargs, arg)
            if r:
                return r
    return 0


cdef int _core_clear(PyObject* o) noexcept:
    """CacheCore's tp_clear (the collector breaking a cycle through a cached
    value): the store empties itself."""
    _empty(<CacheCore>o)
    return 0


# -- get and set as specializable method descriptors -------------------------------
# ``Cache`` (caching/cache.py) is a Python subclass of CacheCore, and each of
# its subclasses gets ``get`` and ``set`` as METH_FASTCALL | METH_KEYWORDS
# method descriptors made for it (PyDescr_NewMethod, public API; see
# admf_fastmeth.h): the interpreter specializes their calls on that exact
# type, while a call of Cython's def method takes the generic path. The
# bodies are those of CacheCore.get and CacheCore.set.

cdef extern from *:
    """
    #include "admf_fastmeth.h"
    static const char* const __pyx_cache_get_names[] = {"key", "default"};
    static const char* const __pyx_cache_set_names[] = {"key", "value", "args", "kwargs"};
    static PyMethodDef __pyx_cache_fast_defs[2] = {
        {"get", NULL, METH_FASTCALL | METH_KEYWORDS,
         "get($self, /, key, default=None)\\n--\\n\\n"
         "The value of ``key`` (a use), or ``default``."},
        {"set", NULL, METH_FASTCALL | METH_KEYWORDS,
         "set($self, /, key, value, args=None, kwargs=None)\\n--\\n\\n"
         "Store ``value`` under ``key`` (an overwrite is a use)."},
    };
    """
    ctypedef struct PyMethodDef:
        pass
    PyMethodDef* _FAST_DEFS "__pyx_cache_fast_defs"
    const char** _GET_NAMES "__pyx_cache_get_names"
    const char** _SET_NAMES "__pyx_cache_set_names"
    int admf_bind_args(const char* fname, const char** names, Py_ssize_t nreq, Py_ssize_t n,
                       PyObject** args, Py_ssize_t nargs, PyObject* kwnames,
                       PyObject** out) except -1
    object admf_fast_method(object tp, PyMethodDef* definition, void* impl)
    bint admf_is_fast(object d, PyMethodDef* definition) noexcept


# The methods' C functions (PyCFunctionFastWithKeywords): the common call
# straight to the store, any other bound as a Python function's would be.

cdef object _get_fast(object self, PyObject** args, Py_ssize_t nargs, PyObject* kwnames):
    cdef PyObject* a[2]
    if kwnames == NULL and nargs == 1:
        value = _get_locked(<CacheCore>self, <object>args[0])
        return None if value is _MISS else value
    a[0] = NULL
    a[1] = <PyObject*>None
    admf_bind_args("get", _GET_NAMES, 1, 2, args, nargs, kwnames, a)
    value = _get_locked(<CacheCore>self, <object>a[0])
    return <object>a[1] if value is _MISS else value


cdef object _set_fast(object self, PyObject** args, Py_ssize_t nargs, PyObject* kwnames):
    cdef PyObject* a[4]
    if kwnames == NULL and nargs == 2:
        _write_locked(<CacheCore>self, <object>args[0], <object>args[1], None, None)
        return None
    a[0] = a[1] = NULL
    a[2] = a[3] = <PyObject*>None
    admf_bind_args("set", _SET_NAMES, 2, 4, args, nargs, kwnames, a)
    _write_locked(<CacheCore>self, <object>a[0], <object>a[1], <object>a[2], <object>a[3])
    return None


_FAST_NAMES = ("get", "set")


def _fast_methods(type cls):
    """Give ``cls`` (a Python subclass of CacheCore) ``get`` and ``set`` as
    method descriptors made for it, unless a class in its MRO defines its
    own. Called for ``Cache`` and, by ``Cache.__init_subclass__``, for each
    subclass."""
    if not issubclass(cls, CacheCore) or cls is CacheCore:
        raise TypeError(f"cls must be a Python subclass of CacheCore, got {cls!r}")
    cdef int which
    for which, name in enumerate(_FAST_NAMES):
        for owner in cls.__mro__:
            if name in owner.__dict__:
                break
        if owner is CacheCore or admf_is_fast(owner.__dict__[name], &_FAST_DEFS[which]):
            # not an owner's own get/set: one made here for cls
            setattr(cls, name, admf_fast_method(cls, &_FAST_DEFS[which],
                                                <void*>(_set_fast if which else _get_fast)))


cdef _setup():
    global _core_base_traverse
    # The entries' references are invisible to Cython's tp_traverse: visit
    # them too, and let the collector empty a store to break cycles through
    # cached values.
    _core_base_traverse = ADMF_GET_TRAVERSE(<PyTypeObject*>CacheCore)
    ADMF_SET_TRAVERSE(<PyTypeObject*>CacheCore, _core_traverse)
    ADMF_SET_CLEAR(<PyTypeObject*>CacheCore, _core_clear)
    if not admf_internals:
        return                  # ADMF_PERF_PORTABLE: tp_call (__call__) takes the calls
    cdef CachedFunction fn = CachedFunction.__new__(CachedFunction)
    ADMF_TYPE_SET_VECTORCALL(<PyTypeObject*>CachedFunction,
                             <char*>&fn.vectorcall - <char*><PyObject*>fn)
    PyType_Modified(<PyTypeObject*>CachedFunction)
    cdef _BoundCachedMethod bm = _BoundCachedMethod.__new__(_BoundCachedMethod)
    ADMF_TYPE_SET_VECTORCALL(<PyTypeObject*>_BoundCachedMethod,
                             <char*>&bm.vectorcall - <char*><PyObject*>bm)
    PyType_Modified(<PyTypeObject*>_BoundCachedMethod)

admf_internals_init()   # docs/internals.md: ADMF_PERF_PORTABLE=1 turns the internals off
_setup()


def _internals_in_use():
    """Which CPython internals this module uses (docs/internals.md); all
    False under ADMF_PERF_PORTABLE=1."""
    return {"type_vectorcall": bool(admf_internals),
            "probe_tuples": bool(ADMF_PROBE_TUPLES and admf_internals),
            "int_hash": bool(ADMF_INT_HASH and admf_internals)}
