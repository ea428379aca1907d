# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
"""Compiled stores and call path of admf_perf's caches.

Twin (specification): ``_cache_py.py``. Semantics: docs/caching.md.

One intrusive-list core serves every policy. A ``_Node`` embeds two links:
``order`` (its place in the order list: LRU/FIFO/UNBOUNDED share one list on
the store, LFU keeps one list per frequency ``Bucket``) and ``time`` (its
place in the write-order list that TTL purges from). The store's own hash
table (open addressing, see ``Slot``) maps key -> node, owns the nodes and
knows each node's slot, so an eviction is O(1) with no key comparison; a
node is in the table exactly when it is linked into the lists.

The GIL is held throughout. Python code can run only in a key's
``__hash__``/``__eq__`` (a lookup that sees the store change meanwhile starts
over), a ``timer`` call, a garbage-collection pass or a reference drop, and
each operation holds what it works on and is consistent at those points.
"""

cimport cython
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from libc.stdlib cimport calloc, free, malloc
from libc.math cimport fabs
from libc.string cimport memset

import threading

from admf_perf._ext._types import CacheInfo, KWD_MARK

cdef extern from "Python.h":
    ctypedef PyObject* (*vectorcallfunc)(PyObject*, PyObject* const*, size_t, PyObject*)
    ctypedef PyObject* (*ternaryfunc)(PyObject*, PyObject*, PyObject*)
    Py_hash_t PyObject_Hash_ptr "PyObject_Hash"(PyObject* o)
    void PyObject_GC_UnTrack(PyObject* o)
    int PyObject_RichCompareBool(PyObject* a, PyObject* b, int op)
    int Py_EQ
    Py_ssize_t PY_SSIZE_T_MAX
    void Py_INCREF_ptr "Py_INCREF"(PyObject* o)
    void Py_DECREF_ptr "Py_DECREF"(PyObject* o)
    bint PyLong_CheckExact_ptr "PyLong_CheckExact"(PyObject* o)
    bint PyUnicode_CheckExact_ptr "PyUnicode_CheckExact"(PyObject* o)
    ctypedef int (*admf_visitproc "visitproc")(PyObject*, void*) noexcept
    ctypedef int (*admf_traverseproc "traverseproc")(PyObject*, admf_visitproc, void*) noexcept
    Py_hash_t PyObject_Hash_raw "PyObject_Hash"(object o)
    Py_hash_t PyObject_Hash(object o) except -1
    PyObject* PyErr_Occurred()
    int PyErr_ExceptionMatches(object exc)
    void PyErr_Clear()
    Py_ssize_t Py_REFCNT(object o)
    Py_ssize_t PyVectorcall_NARGS(size_t nargsf)
    object PyObject_Vectorcall(object func, PyObject* const* args, size_t nargsf, PyObject* kwnames)
    PyObject* PyVectorcall_Call(PyObject* callable, PyObject* tuple, PyObject* dict)
    object PyTuple_New(Py_ssize_t n)
    void PyTuple_SET_ITEM(object t, Py_ssize_t i, object o)
    PyObject* PyTuple_GET_ITEM(object t, Py_ssize_t i)
    Py_ssize_t PyTuple_GET_SIZE(object t)
    bint PyLong_CheckExact(object o)
    bint PyUnicode_CheckExact(object o)
    void PyType_Modified(PyTypeObject* t)
    unsigned long Py_TPFLAGS_HAVE_VECTORCALL
    size_t PY_VECTORCALL_ARGUMENTS_OFFSET

cdef extern from *:
    """
    #include <time.h>
    #ifdef CLOCK_MONOTONIC_COARSE
    #define ADMF_CLOCK_COARSE CLOCK_MONOTONIC_COARSE
    #else
    #define ADMF_CLOCK_COARSE CLOCK_MONOTONIC
    #endif
    static inline double admf_clock(clockid_t id) {
        struct timespec ts;
        clock_gettime(id, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    /* Propagate the exception that is already set (Cython: except -1). */
    static inline int admf_error_set(void) { return PyErr_Occurred() ? -1 : 0; }
    static inline int admf_fail(void) { return -1; }
    #define ADMF_GET_TRAVERSE(t) ((t)->tp_traverse)
    #define ADMF_SET_TRAVERSE(t, f) ((t)->tp_traverse = (f))
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
    ctypedef int clockid_t
    clockid_t CLOCK_MONOTONIC
    clockid_t ADMF_CLOCK_COARSE
    double admf_clock(clockid_t) nogil
    vectorcallfunc ADMF_AS_VECTORCALL(void*)
    PyObject** ADMF_TUPLE_ITEMS(object)
    admf_traverseproc ADMF_GET_TRAVERSE(PyTypeObject*)
    void ADMF_SET_TRAVERSE(PyTypeObject*, admf_traverseproc)
    PyObject** ADMF_TUPLE_ITEMS_PTR(PyObject*)
    bint ADMF_PROBE_TUPLES
    int admf_error_set() except -1
    int admf_fail() except -1
    void ADMF_TYPE_SET_VECTORCALL(PyTypeObject*, Py_ssize_t)

cdef extern from "admf_sketch.h":
    int admf_sketch_frequency(const unsigned char* t, unsigned long long h, int bits,
                              Py_ssize_t width) noexcept nogil
    int admf_sketch_increment(unsigned char* t, unsigned long long h, int bits,
                              Py_ssize_t width) noexcept nogil
    void admf_sketch_halve(unsigned char* t, Py_ssize_t nbytes) noexcept nogil

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
# The intrusive list
# ---------------------------------------------------------------------------

cdef struct Link:
    Link* prev
    Link* next

cdef struct Bucket:
    Link chain      # first member: a Link* to it is a Bucket*
    Link items      # the entries of this frequency, least recently used first
    Py_ssize_t freq


cdef inline void link_init(Link* head) noexcept nogil:
    head.prev = head
    head.next = head


cdef inline void link_remove(Link* l) noexcept nogil:
    l.prev.next = l.next
    l.next.prev = l.prev
    l.prev = l
    l.next = l


cdef inline void link_append(Link* head, Link* l) noexcept nogil:
    """Insert l at the tail (just before head)."""
    l.prev = head.prev
    l.next = head
    head.prev.next = l
    head.prev = l


cdef inline void link_insert_after(Link* pos, Link* l) noexcept nogil:
    l.prev = pos
    l.next = pos.next
    pos.next.prev = l
    pos.next = l


cdef inline void link_move_to_tail(Link* head, Link* l) noexcept nogil:
    if l.next != head:
        l.prev.next = l.next
        l.next.prev = l.prev
        link_append(head, l)


# The hash table: open addressing, linear probing, Fibonacci hashing of the
# Python hash. A slot holds a node (an owned reference), or is EMPTY (NULL) or
# a TOMBSTONE. It holds exactly the linked nodes: a node enters and leaves the
# table and the lists together, with no Python code in between. A lookup runs
# Python code only in a key's __eq__; if the store changed meanwhile it starts
# over (as CPython's dict does), so two equal keys are never both stored.
cdef struct Slot:
    Py_hash_t hash
    PyObject* node

cdef char _TOMBSTONE_TARGET
cdef PyObject* TOMBSTONE = <PyObject*>&_TOMBSTONE_TARGET
cdef enum:
    MIN_CAPACITY = 8


# Offsets of a node's links inside its object, to get from a link to its node.
cdef Py_ssize_t ORDER_OFFSET = 0
cdef Py_ssize_t TIME_OFFSET = 0


cdef inline PyObject* node_of_order(Link* l) noexcept nogil:
    return <PyObject*>(<char*>l - ORDER_OFFSET)


cdef inline PyObject* node_of_time(Link* l) noexcept nogil:
    return <PyObject*>(<char*>l - TIME_OFFSET)


@cython.final
@cython.freelist(256)
cdef class _Node:
    """One entry. The store's dict owns it; lists point at it. ``bucket``:
    LFU: its frequency bucket; W-TinyLFU: the head of the list it is in.

    Fields read on a hit come first, so a hit touches as few cache lines as it can.
    """
    cdef PyObject* owner        # the CacheCore it is linked into, or NULL
    cdef Link order
    cdef object value
    cdef double last_access
    cdef Py_ssize_t access_count
    cdef double expires_at
    cdef Bucket* bucket
    cdef object key             # (its hash is in its table slot)
    cdef double created_at
    cdef Link time
    cdef object args
    cdef object kwargs
    cdef Py_ssize_t slot        # its index in the store's table while linked
    cdef Py_ssize_t nbytes      # its measured size (0 when the store does not measure)


cdef object _MISS = object()   # "no live entry" from lookups that count statistics


# ---------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------

@cython.no_gc_clear
cdef class CacheCore:
    """The store behind ``Cache``: policy, TTL, statistics (see ``Cache``)."""
    cdef Slot* slots            # the hash table (capacity = mask + 1, a power of 2)
    cdef Py_ssize_t mask
    cdef int shift              # 64 - log2(capacity)
    cdef Py_ssize_t filled      # slots not EMPTY (entries and tombstones)
    cdef Link order             # LRU/FIFO/TLRU/UNBOUNDED: the order list; W-TinyLFU: the window
    cdef Link buckets           # LFU: buckets by increasing frequency
    cdef Link times             # with ttl: entries by write time
    cdef Bucket* spare          # LFU: free buckets for reuse
    cdef Py_ssize_t size
    cdef Py_ssize_t maxsize     # -1: never evicts
    cdef Py_ssize_t nbytes      # the linked nodes' measured bytes
    cdef Py_ssize_t maxbytes    # PY_SSIZE_T_MAX: no byte budget (one comparison tests both)
    cdef object measure         # measure(key, value) -> int >= 0, or None: not measured
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
    # W-TinyLFU (last: the other policies' fields stay together)
    cdef Link probation         # the main area's probation and protected lists
    cdef Link protected
    cdef Py_ssize_t wlen, plen, qlen    # the lengths of window, probation, protected
    cdef unsigned char* sketch  # 4 rows x sk_width 4-bit counters
    cdef Py_ssize_t sk_width
    cdef Py_ssize_t sk_cap      # the width it may grow to
    cdef Py_ssize_t sk_adds     # increments since the last aging
    cdef int sk_bits            # log2(sk_width)
    # the hill climber (with a max_size): the capacities it moves, its sample
    cdef Py_ssize_t wmax, qmax
    cdef Py_ssize_t sample_hits, sample_misses, adjustment
    cdef double previous_rate, step
    cdef object __weakref__

    def __cinit__(self, *args, **kwargs):
        _table_alloc(self, MIN_CAPACITY)
        link_init(&self.order)
        link_init(&self.buckets)
        link_init(&self.times)
        link_init(&self.probation)
        link_init(&self.protected)
        self.sketch = NULL
        self.spare = NULL
        self.maxsize = 128
        self.maxbytes = PY_SSIZE_T_MAX

    def __init__(self, max_size=128, int policy=P_LRU, ttl=None, timer=None, max_bytes=None,
                 measure=None):
        if self.size:
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
        self.plain_writes = timer is None and not self.has_ttl and measure is None

    def __dealloc__(self):
        _unlink_all(self)
        _table_release(self, self.slots, self.mask + 1)
        self.slots = NULL
        _free_buckets(self)
        free(self.sketch)
        self.sketch = NULL

    # -- hot API ---------------------------------------------------------------
    def get(self, key, default=None):
        """The value of ``key`` (a use), or ``default``."""
        value = _get(self, key, PyObject_Hash(key))
        if value is _MISS:
            return default
        return value

    def set(self, key, value, args=None, kwargs=None):
        """Store ``value`` under ``key`` (an overwrite is a use)."""
        _write(self, key, value, args, kwargs)

    def __getitem__(self, key):
        value = _get(self, key, PyObject_Hash(key))
        if value is _MISS:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value):
        _write(self, key, value, None, None)

    def __delitem__(self, key):
        cdef _Node node = _find_live(self, key, PyObject_Hash(key), True)
        if node is None:
            raise KeyError(key)
        _remove(self, node)

    def __contains__(self, key):
        return _peek(self, key, PyObject_Hash(key)) is not None

    def __len__(self):
        if self.has_ttl:
            _purge(self, _now(self))
        return self.size

    def pop(self, key, default=_MISS):
        """Remove ``key`` and return its value (not a use); ``default`` or KeyError if absent."""
        cdef _Node node = _find_live(self, key, PyObject_Hash(key), True)
        if node is None:
            if default is _MISS:
                raise KeyError(key)
            return default
        _remove(self, node)
        return node.value

    # -- cold API --------------------------------------------------------------
    def keys(self):
        """Snapshot of the live keys, in order-list order."""
        return [(<_Node>n).key for n in _snapshot(self)]

    def values(self):
        """Snapshot of the live values, in order-list order."""
        return [(<_Node>n).value for n in _snapshot(self)]

    def items(self):
        """Snapshot of the live (key, value) pairs, in order-list order."""
        return [((<_Node>n).key, (<_Node>n).value) for n in _snapshot(self)]

    def _discard(self, key):
        """Remove ``key`` if live (not an eviction); True when something was removed."""
        cdef _Node node = _find_live(self, key, PyObject_Hash(key), True)
        if node is None:
            return False
        _remove(self, node)
        return True

    def _discard_matching(self, predicate):
        """Remove the live entries whose key satisfies ``predicate``; return how many."""
        cdef _Node node
        cdef Py_ssize_t removed = 0
        for node in _snapshot(self):
            if node.owner != NULL and predicate(node.key) and node.owner != NULL:
                _remove(self, node)
                removed += 1
        return removed

    def expire(self):
        """Remove the expired entries now; return how many."""
        if not self.has_ttl:
            return 0
        return _purge(self, _now(self))

    def clear(self):
        """Remove every entry (statistics stay)."""
        cdef Slot* old = self.slots
        cdef Py_ssize_t capacity = self.mask + 1
        _unlink_all(self)
        _table_alloc(self, MIN_CAPACITY)
        self.miss_key = None
        if self.wtlfu:
            _wtlfu_reset(self)
        # The entries are dropped after the store is empty and consistent:
        # values' __del__ may use it.
        _table_release(self, old, capacity)

    def reset_stats(self):
        self.hits = self.misses = self.evictions = self.expirations = 0

    def _counters(self):
        """(hits, misses, evictions, expirations)."""
        return self.hits, self.misses, self.evictions, self.expirations

    def _entry(self, key):
        """(value, created_at, last_access, access_count, expires_at, args, kwargs) or None."""
        cdef _Node node = _peek(self, key, PyObject_Hash(key))
        if node is None:
            return None
        return (node.value, node.created_at, node.last_access, node.access_count,
                node.expires_at if self.has_ttl else None, node.args, node.kwargs)

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
        if self.has_ttl:
            _purge(self, _now(self))
        return self.nbytes

    @property
    def ttl(self):
        return self.ttl_seconds if self.has_ttl else None

    @property
    def policy(self):
        return self.policy_code

    def _check(self, strict=True):
        """Assert the internal invariants (for tests).

        Always: the lists are sound, every linked node belongs to this store,
        ``size`` counts them, LFU buckets increase, the time list is in expiry
        order. ``strict``: also that the dict maps exactly the linked nodes,
        which holds unless a key's ``__eq__`` mutated the store during a dict
        operation (a plain dict can then hold two equal keys, and so can this).
        """
        cdef _Node node
        cdef Link* l
        cdef Bucket* b
        cdef Py_ssize_t last_freq = 0
        nodes = _snapshot_raw(self)
        assert len(nodes) == self.size, (len(nodes), self.size)
        assert len(set(map(id, nodes))) == len(nodes), "a node is linked twice"
        for node in nodes:
            assert node.owner == <PyObject*>self
        # The table holds exactly the linked nodes, each in its slot (always:
        # this store never keeps two equal keys; strict is for the twin's sake).
        cdef Py_ssize_t i, in_table = 0
        for i in range(self.mask + 1):
            if self.slots[i].node != NULL and self.slots[i].node != TOMBSTONE:
                in_table += 1
                assert (<_Node>self.slots[i].node).owner == <PyObject*>self
                assert (<_Node>self.slots[i].node).slot == i
        assert in_table == self.size, (in_table, self.size)
        assert self.filled >= in_table and self.filled * 2 <= self.mask + 1 + 2
        for node in nodes:
            assert self.slots[node.slot].node == <PyObject*>node
        if self.maxsize >= 0:
            assert self.size <= self.maxsize, (self.size, self.maxsize)
        assert self.nbytes == sum([node.nbytes for node in nodes]), self.nbytes
        assert self.nbytes <= self.maxbytes, (self.nbytes, self.maxbytes)
        if self.lfu:
            l = self.buckets.next
            while l != &self.buckets:
                b = <Bucket*>l
                assert b.freq > last_freq and b.items.next != &b.items
                last_freq = b.freq
                l = l.next
        cdef Py_ssize_t window, protected
        if self.wtlfu:
            assert _tagged_length(&self.order) == self.wlen, self.wlen
            assert _tagged_length(&self.probation) == self.plen, self.plen
            assert _tagged_length(&self.protected) == self.qlen, self.qlen
            _caps(self, &window, &protected)
            if self.maxsize > 0:
                assert self.qlen <= protected, (self.qlen, protected)
                assert window >= 1 and protected >= 0 and window + protected <= self.maxsize
        if self.has_ttl:
            count = 0
            last = -1e308
            l = self.times.next
            while l != &self.times:
                node = <_Node>node_of_time(l)
                assert node.expires_at >= last
                last = node.expires_at
                count += 1
                l = l.next
            assert count == self.size


# -- store internals (module functions: direct C calls, no vtable) -------------

# Clocks (docs/caching.md). Without a user ``timer``: a store with a ttl
# reads the precise monotonic clock (time.monotonic()'s) on every write and
# lookup, so expiry is exact; a store without one only stamps metadata, from
# the kernel's coarse monotonic clock (same time base, a few ns instead of ~33,
# a few ms behind). A ``timer`` is used for all of it.
cdef inline double _now(CacheCore c) except? -1.0:
    """The precise time."""
    if c.timer is None:
        return admf_clock(CLOCK_MONOTONIC)
    return float(c.timer())


cdef inline double _write_time(CacheCore c) except? -1.0:
    """The time stamped on a write: precise with a ttl (expiry is exact), else coarse."""
    if c.timer is not None:
        return float(c.timer())
    if c.has_ttl:
        return admf_clock(CLOCK_MONOTONIC)
    return admf_clock(ADMF_CLOCK_COARSE)


cdef inline void _touch(CacheCore c, PyObject* node) noexcept:
    """A use of a live entry: reorder per policy."""
    if c.move_on_hit:
        link_move_to_tail(&c.order, &(<_Node>node).order)
    elif c.lfu:
        _lfu_promote(c, node)
    elif c.wtlfu:
        _wtlfu_hit(c, node)


cdef inline object _get(CacheCore c, object key, Py_hash_t h):
    """The value of a live entry, counting a hit, or _MISS counting a miss."""
    cdef Py_ssize_t pos
    cdef PyObject* p = _table_find(c, <PyObject*>key, h, &pos)
    if p != NULL:
        if _hit_fast(c, p):
            return (<_Node>p).value
        return _get_slow(c, <_Node>p)
    c.misses += 1
    c.miss_hash = h
    c.miss_pos = pos
    c.miss_at = c.mutations
    c.miss_key = key         # drops the previous one: the store is consistent here
    return _MISS


cdef unsigned long long UNKNOWN = <unsigned long long>-1   # `absent_at`: nothing known


cdef inline unsigned long long _absent_at(CacheCore c, object key, Py_hash_t h) noexcept:
    """`mutations` when key was last seen absent, or UNKNOWN."""
    if key is c.miss_key and h == c.miss_hash:
        return c.miss_at
    return UNKNOWN


# -- the table -------------------------------------------------------------------

cdef inline Py_ssize_t _home(CacheCore c, Py_hash_t h) noexcept nogil:
    """The first slot of hash h (Fibonacci hashing: spreads sequential ints)."""
    return <Py_ssize_t>((<unsigned long long>h * 0x9E3779B97F4A7C15ULL) >> c.shift)


cdef int _table_alloc(CacheCore c, Py_ssize_t capacity) except -1:
    """Give c an empty table of `capacity` slots (a power of 2 >= MIN_CAPACITY)."""
    cdef Slot* slots = <Slot*>calloc(capacity, sizeof(Slot))
    cdef int bits = 0
    if slots == NULL:
        raise MemoryError()
    while (<Py_ssize_t>1 << bits) < capacity:
        bits += 1
    c.slots = slots
    c.mask = capacity - 1
    c.shift = 64 - bits
    c.filled = 0
    c.mutations += 1
    return 0


cdef void _table_release(CacheCore c, Slot* slots, Py_ssize_t capacity) noexcept:
    """Drop the references of a table no longer in use, then free it."""
    cdef Py_ssize_t i
    if slots == NULL:
        return
    for i in range(capacity):
        if slots[i].node != NULL and slots[i].node != TOMBSTONE:
            Py_DECREF_ptr(slots[i].node)     # may run a value's __del__: slots is private now
    free(slots)


cdef PyObject* _table_find(CacheCore c, PyObject* key, Py_hash_t h, Py_ssize_t* pos) except? NULL:
    """The node of key (borrowed), or NULL and in pos the slot to insert it at.

    Python code runs only in a key's __eq__; when it changed the store, the
    lookup starts over on the table as it is then.
    """
    cdef Slot* slots
    cdef Py_ssize_t i, free_slot
    cdef PyObject* node
    cdef PyObject* other
    cdef unsigned long long before
    cdef int equal
    while True:
        slots = c.slots
        i = _home(c, h)
        free_slot = -1
        while True:
            node = slots[i].node
            if node == NULL:
                pos[0] = free_slot if free_slot >= 0 else i
                return NULL
            if node == TOMBSTONE:
                if free_slot < 0:
                    free_slot = i
            elif slots[i].hash == h:
                other = <PyObject*>(<_Node>node).key
                if other == key:
                    return node
                if (PyLong_CheckExact_ptr(other) and PyLong_CheckExact_ptr(key)) or (
                        PyUnicode_CheckExact_ptr(other) and PyUnicode_CheckExact_ptr(key)):
                    if PyObject_RichCompareBool(other, key, Py_EQ):   # no Python code
                        return node
                else:
                    before = c.mutations
                    Py_INCREF_ptr(node)          # holds the stored key too
                    equal = PyObject_RichCompareBool(other, key, Py_EQ)   # Python: __eq__
                    Py_DECREF_ptr(node)          # only frees it if it left the store meanwhile
                    if equal < 0:
                        return NULL
                    if c.mutations != before:
                        break                    # changed meanwhile: start over
                    if equal:
                        return node
            i = (i + 1) & c.mask


cdef Py_ssize_t _table_free_slot(CacheCore c, Py_hash_t h) noexcept:
    """The first EMPTY or TOMBSTONE slot of h's probe sequence (h known absent)."""
    cdef Py_ssize_t i = _home(c, h)
    while c.slots[i].node != NULL and c.slots[i].node != TOMBSTONE:
        i = (i + 1) & c.mask
    return i


cdef int _table_resize(CacheCore c, Py_ssize_t needed) except -1:
    """Rehash the entries into a table with room for `needed` (from stored hashes)."""
    cdef Slot* old = c.slots
    cdef Py_ssize_t old_capacity = c.mask + 1
    cdef Py_ssize_t capacity = MIN_CAPACITY
    cdef Py_ssize_t i, j
    cdef unsigned long long mutations = c.mutations
    while capacity < 4 * needed:
        capacity *= 2
    _table_alloc(c, capacity)
    for i in range(old_capacity):
        if old[i].node != NULL and old[i].node != TOMBSTONE:
            j = _table_free_slot(c, old[i].hash)
            c.slots[j] = old[i]
            (<_Node>old[i].node).slot = j
            c.filled += 1
    c.mutations = mutations + 1
    free(old)
    return 0


cdef int _table_insert(CacheCore c, PyObject* node, Py_hash_t h, Py_ssize_t pos) except -1:
    """Put a new node (key known absent) at pos, a free slot of h's sequence."""
    if c.slots[pos].node == NULL:
        if (c.filled + 1) * 2 > c.mask + 1:
            _table_resize(c, c.size + 1)
            pos = _table_free_slot(c, h)
            if c.slots[pos].node == NULL:
                c.filled += 1
        else:
            c.filled += 1
    c.slots[pos].hash = h
    c.slots[pos].node = node
    Py_INCREF_ptr(node)
    (<_Node>node).slot = pos
    return 0


cdef inline bint _hit_fast(CacheCore c, PyObject* p) noexcept:
    """Record a hit on a live entry that is certainly not expired; else False."""
    cdef double t
    if (<_Node>p).owner == NULL or c.precise:
        return False
    if c.has_ttl:
        t = admf_clock(CLOCK_MONOTONIC)     # expiry is decided on the precise clock
        if t >= (<_Node>p).expires_at:
            return False
    else:
        t = admf_clock(ADMF_CLOCK_COARSE)   # only a time stamp: the cheap clock
    (<_Node>p).last_access = t
    (<_Node>p).access_count = (<_Node>p).access_count + 1
    c.hits += 1
    _touch(c, p)
    return True


cdef object _get_slow(CacheCore c, _Node borrowed):
    """_get for a store with ttl or a timer, or an entry being removed."""
    cdef double now
    # A strong reference across the timer call: other threads may evict the
    # entry meanwhile, and an evicted node is recycled only if nobody holds it.
    cdef _Node node = borrowed
    if node.owner == NULL:
        c.misses += 1
        return _MISS
    now = _now(c)
    if node.owner == NULL:  # removed while the timer ran
        c.misses += 1
        return _MISS
    if c.has_ttl and now >= node.expires_at:
        if _remove(c, node):
            c.expirations += 1
        c.misses += 1
        return _MISS
    node.last_access = now
    node.access_count += 1
    c.hits += 1
    _touch(c, <PyObject*>node)
    return node.value


cdef _Node _find_live(CacheCore c, object key, Py_hash_t h, bint drop_expired):
    """The live entry of key or None, without statistics except expirations."""
    cdef Py_ssize_t pos
    cdef PyObject* p = _table_find(c, <PyObject*>key, h, &pos)
    cdef _Node node
    if p == NULL:
        return None
    node = <_Node>p
    if c.has_ttl and _now(c) >= node.expires_at:
        if drop_expired and _remove(c, node):
            c.expirations += 1
        return None
    return node if node.owner != NULL else None


cdef inline _Node _peek(CacheCore c, object key, Py_hash_t h):
    return _find_live(c, key, h, False)


cdef void _detach(CacheCore c, PyObject* p) noexcept:
    """Take a linked node out of every list (no dict operation, no Python code).

    Also called from a dying node's __dealloc__: no new reference to it is taken.
    """
    cdef Bucket* b
    link_remove(&(<_Node>p).order)
    if c.ranked:
        if c.lfu:
            b = (<_Node>p).bucket
            if b != NULL and b.items.next == &b.items:
                link_remove(&b.chain)
                _bucket_release(c, b)
        else:
            _wtlfu_count(c, _segment(p), -1)
        (<_Node>p).bucket = NULL
    if c.has_ttl:
        link_remove(&(<_Node>p).time)
    (<_Node>p).owner = NULL
    c.size -= 1
    c.nbytes -= (<_Node>p).nbytes
    c.mutations += 1


cdef int _remove(CacheCore c, _Node node) except -1:
    """Remove a live node from the store (lists and table); 0 if it was gone already.

    No Python code runs: the caller holds node (a reference), so dropping the
    table's cannot free it.
    """
    if node.owner == NULL:
        return 0
    c.slots[node.slot].node = TOMBSTONE
    _detach(c, <PyObject*>node)
    Py_DECREF_ptr(<PyObject*>node)
    return 1


cdef PyObject* _victim(CacheCore c) noexcept:
    """The entry to evict next (the store is not empty)."""
    cdef Bucket* b
    if not c.ranked:
        return node_of_order(c.order.next)
    if c.lfu:
        b = <Bucket*>c.buckets.next
        return node_of_order(b.items.next)
    return _wtlfu_victim(c)


cdef PyObject* _victim_except(CacheCore c, PyObject* keep) noexcept:
    """The entry to evict next other than ``keep``, or NULL when there is none."""
    cdef PyObject* v
    cdef Link* l
    cdef Bucket* b
    if c.size == 0:
        return NULL
    if c.wtlfu:
        return _wtlfu_first_except(c, keep)
    v = _victim(c)
    if v != keep:
        return v
    l = (<_Node>keep).order.next                # keep is first: the one after it
    if c.lfu:
        b = (<_Node>keep).bucket
        if l != &b.items:
            return node_of_order(l)
        if b.chain.next == &c.buckets:
            return NULL
        return node_of_order((<Bucket*>b.chain.next).items.next)
    return NULL if l == &c.order else node_of_order(l)


cdef int _evict_bytes(CacheCore c, _Node keep, Py_ssize_t incoming) except -1:
    """Evict in policy order, never ``keep``, until the bytes (plus
    ``incoming``) fit the budget.  Dropping a victim may run Python code (its
    value's __del__) between steps: the store is whole at each."""
    cdef PyObject* p
    cdef _Node victim
    while c.nbytes + incoming > c.maxbytes:
        p = _victim_except(c, <PyObject*>keep)
        if p == NULL:
            return 0
        victim = <_Node>p
        if _remove(c, victim):
            c.evictions += 1
    return 0


cdef void _time_link(CacheCore c, _Node node) noexcept:
    """Link a written node into the time list, in expiry order: at the tail,
    unless writes made while its key was looked up (a key's __eq__ running
    Python code) were stamped later than this one."""
    cdef Link* pos = c.times.prev
    while pos != &c.times and (<_Node>node_of_time(pos)).expires_at > node.expires_at:
        pos = pos.prev
    link_insert_after(pos, &node.time)


cdef void _attach(CacheCore c, _Node node) noexcept:
    """Link a new node (already in the dict) into the lists."""
    cdef Bucket* b
    node.owner = <PyObject*>c
    if c.has_ttl:
        _time_link(c, node)
    c.size += 1
    c.nbytes += node.nbytes
    c.mutations += 1
    if not c.ranked:
        link_append(&c.order, &node.order)
    elif c.lfu:
        b = <Bucket*>c.buckets.next
        if c.buckets.next == &c.buckets or b.freq != 1:
            b = _bucket_new(c, 1)
            link_insert_after(&c.buckets, &b.chain)
        node.bucket = b
        link_append(&b.items, &node.order)
    else:
        link_append(&c.order, &node.order)
        _wtlfu_add(c, <PyObject*>node)


cdef Py_ssize_t _purge(CacheCore c, double now) except -1:
    """Remove the expired entries from the head of the time list."""
    cdef Py_ssize_t n = 0
    cdef _Node node
    while c.times.next != &c.times:
        node = <_Node>node_of_time(c.times.next)
        if node.expires_at > now:
            break
        if _remove(c, node):
            c.expirations += 1
            n += 1
        node = None     # dropped here, between steps: its value's __del__ may use the store
    return n


cdef Py_ssize_t _measure(CacheCore c, object key, object value) except -1:
    """The entry's measured bytes (its own function: _store keeps no Python
    temporaries for it)."""
    return c.measure(key, value)


cdef int _store_too_big(CacheCore c, object key, Py_hash_t h, bint overwrite) except -1:
    """A value over the whole byte budget: not stored, one eviction; an
    overwrite by it removes the key's old value."""
    cdef _Node node = _find_live(c, key, h, True)  # Python: __eq__
    if node is not None and overwrite:
        _remove(c, node)                            # the old value must not outlive its overwrite
    if node is None or overwrite:
        c.evictions += 1
    return 0


cdef int _rewrite(CacheCore c, _Node node, object value, object args, object kwargs,
                  double now, Py_ssize_t size) except -1:
    """Overwrite a live entry in place: a new write, and a use (it moves per
    policy). Its old value, args and kwargs are dropped on return, when the
    store is consistent (their __del__ may use it)."""
    cdef object _old_value = node.value
    cdef object _old_args = node.args
    cdef object _old_kwargs = node.kwargs
    node.value = value
    node.args = args
    node.kwargs = kwargs
    node.created_at = node.last_access = now
    node.access_count = 0
    node.expires_at = now + c.ttl_seconds
    if not c.ranked:
        link_move_to_tail(&c.order, &node.order)
    elif c.lfu:
        _lfu_promote(c, <PyObject*>node)
    else:
        _wtlfu_hit(c, <PyObject*>node)
    if c.has_ttl:
        link_remove(&node.time)
        _time_link(c, node)
    if c.measure is not None:
        c.nbytes += size - node.nbytes
        node.nbytes = size
    return 0


cdef int _write(CacheCore c, object key, object value, object args, object kwargs) except -1:
    """set / c[k] = v. On a store whose writes run no Python code but the
    key's __eq__ (``plain_writes``: no ttl, measure or timer), a key not known
    absent is looked up once and, when live, overwritten in place; otherwise,
    and for a new key, _store (told where the key goes when the lookup found
    it absent)."""
    cdef Py_hash_t h = PyObject_Hash(key)
    cdef unsigned long long absent_at = _absent_at(c, key, h)
    cdef Py_ssize_t pos = c.miss_pos
    cdef PyObject* p
    if absent_at == UNKNOWN and c.plain_writes:
        p = _table_find(c, <PyObject*>key, h, &pos)     # Python: __eq__
        if p != NULL:
            _rewrite(c, <_Node>p, value, args, kwargs, admf_clock(ADMF_CLOCK_COARSE), 0)
            return 0
        absent_at = c.mutations
    return _store(c, key, h, value, args, kwargs, True, absent_at, pos)


cdef int _store(CacheCore c, object key, Py_hash_t h, object value, object args,
                object kwargs, bint overwrite, unsigned long long absent_at,
                Py_ssize_t pos) except -1:
    """Insert or overwrite key. Python code may run at the marked points only.

    ``absent_at``/``pos``: the store's ``mutations`` count when key was found
    absent and the slot it would take (UNKNOWN if not known); while nothing has
    changed since, no lookup is needed.
    """
    cdef double now
    cdef PyObject* p = NULL
    cdef _Node node = None
    cdef _Node victim = None
    cdef object _old_key, _old_value, _old_args, _old_kwargs  # dropped at return
    cdef unsigned long long expected
    cdef Py_ssize_t size = 0
    if c.maxsize == 0:
        return 0
    if c.measure is not None:
        size = _measure(c, key, value)              # Python: the measure, before any change
    now = _write_time(c)                            # Python: timer
    if c.has_ttl:
        _purge(c, now)                              # Python: values' __del__
    if size > c.maxbytes:                           # over the whole budget: not stored (counted)
        return _store_too_big(c, key, h, overwrite)
    while True:
        if absent_at != c.mutations:
            p = _table_find(c, <PyObject*>key, h, &pos)   # Python: __eq__
        if p != NULL:
            node = <_Node>p
            if c.has_ttl and now >= node.expires_at:
                pos = node.slot                     # its slot is key's to take
                if _remove(c, node):
                    c.expirations += 1
                node = None
            elif not overwrite:
                return 0
            else:
                _rewrite(c, node, value, args, kwargs, now, size)   # Python: old value's __del__
                if c.measure is not None:
                    _evict_bytes(c, node, 0)        # Python: evicted values' __del__
                return 0
        # A new entry: evict first, so it is never its own victim. Removals run
        # no Python code, but dropping a previous victim can (its value's
        # __del__): then the lookup is redone.
        expected = c.mutations
        while (c.maxsize > 0 and c.size >= c.maxsize) or (
                c.nbytes + size > c.maxbytes and c.size > 0):
            victim = <_Node>_victim(c)
            if _remove(c, victim):
                c.evictions += 1
            expected += 1
        if c.mutations == expected and node is None:
            if victim is not None and Py_REFCNT(victim) == 1:
                node = victim                       # reuse the evicted node
                _old_key = node.key                 # held: its __del__ runs after the store is whole
                _old_value = node.value
                if node.args is not None or node.kwargs is not None:
                    _old_args = node.args
                    _old_kwargs = node.kwargs
            else:
                node = _Node.__new__(_Node)         # Python: a GC pass it may start
                link_init(&node.order)
                link_init(&node.time)
        if c.mutations == expected:
            break
        absent_at = UNKNOWN
        p = NULL
    node.key = key
    node.value = value
    if args is not None or node.args is not None:
        node.args = args
    if kwargs is not None or node.kwargs is not None:
        node.kwargs = kwargs
    node.created_at = node.last_access = now
    node.expires_at = now + c.ttl_seconds
    node.access_count = 0
    node.nbytes = size
    _table_insert(c, <PyObject*>node, h, pos)
    _attach(c, node)
    return 0


# -- LFU buckets ------------------------------------------------------------------

cdef Bucket* _bucket_new(CacheCore c, Py_ssize_t freq) noexcept:
    cdef Bucket* b = c.spare
    if b != NULL:
        c.spare = <Bucket*>b.chain.next
    else:
        b = <Bucket*>malloc(sizeof(Bucket))
        if b == NULL:
            abort_no_memory()
    b.freq = freq
    link_init(&b.chain)
    link_init(&b.items)
    return b


cdef extern from "stdlib.h":
    void abort() nogil


cdef void abort_no_memory() noexcept nogil:
    # A 40-byte allocation failing leaves no sane way on; CPython does the same.
    abort()


cdef inline void _bucket_release(CacheCore c, Bucket* b) noexcept:
    b.chain.next = <Link*>c.spare
    c.spare = b


cdef void _lfu_promote(CacheCore c, PyObject* p) noexcept:
    """Move a node to the bucket of the next frequency (at its tail)."""
    cdef Link* order = &(<_Node>p).order
    cdef Bucket* b = (<_Node>p).bucket
    cdef Bucket* target
    cdef Link* nxt = b.chain.next
    if nxt != &c.buckets and (<Bucket*>nxt).freq == b.freq + 1:
        target = <Bucket*>nxt
    elif order.prev == &b.items and order.next == &b.items:
        b.freq += 1                      # alone in its bucket: the bucket moves up
        return
    else:
        target = _bucket_new(c, b.freq + 1)
        link_insert_after(&b.chain, &target.chain)
    link_remove(order)
    link_append(&target.items, order)
    (<_Node>p).bucket = target
    if b.items.next == &b.items:
        link_remove(&b.chain)
        _bucket_release(c, b)


cdef void _free_buckets(CacheCore c) noexcept:
    cdef Bucket* b
    while c.buckets.next != &c.buckets:
        b = <Bucket*>c.buckets.next
        link_remove(&b.chain)
        free(b)
    while c.spare != NULL:
        b = c.spare
        c.spare = <Bucket*>b.chain.next
        free(b)

# -- W-TinyLFU (docs/caching.md; twin: _WTinyLFUOrder, _Sketch) -------------------
# The window is the order list; probation and protected are the main area. A
# node's ``bucket`` holds the head of its list (cast), its key's hash is in its
# table slot.

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
    cdef unsigned char* t = <unsigned char*>calloc(width * 2, 1)
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


cdef inline Py_hash_t _node_hash(CacheCore c, PyObject* p) noexcept nogil:
    return c.slots[(<_Node>p).slot].hash


cdef inline void _sketch_increment(CacheCore c, Py_hash_t h) noexcept nogil:
    if admf_sketch_increment(c.sketch, <unsigned long long>h, c.sk_bits, c.sk_width):
        c.sk_adds += 1
        if c.sk_adds >= 10 * c.sk_width:    # aging: every counter halved
            admf_sketch_halve(c.sketch, 2 * c.sk_width)
            c.sk_adds //= 2


cdef inline int _frequency(CacheCore c, PyObject* p) noexcept nogil:
    return admf_sketch_frequency(c.sketch, <unsigned long long>_node_hash(c, p), c.sk_bits, c.sk_width)


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
        memset(c.sketch, 0, c.sk_width * 2)     # no memory for a new one: this one, emptied
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
    while c.qlen > protected:
        _wtlfu_move(c, node_of_order(c.protected.next), &c.probation)


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
            if quota < 1 or c.plen + c.qlen == 0:
                break
            quota -= 1
            _wtlfu_move(c, node_of_order(c.probation.next if c.plen else c.protected.next), &c.order)
        c.qmax += quota
        c.wmax -= quota
        c.adjustment = quota
    elif c.adjustment < 0 and c.wmax > 1:
        quota = min(-c.adjustment, c.wmax - 1)
        c.qmax += quota
        c.wmax -= quota
        for _i in range(TRANSFER_MAX):
            if quota < 1 or c.wlen == 0:
                break
            quota -= 1
            _wtlfu_move(c, node_of_order(c.order.next), &c.probation)
        c.qmax -= quota
        c.wmax += quota
        c.adjustment = -quota


cdef inline Link* _segment(PyObject* p) noexcept nogil:
    return <Link*>(<_Node>p).bucket


cdef inline void _wtlfu_count(CacheCore c, Link* seg, Py_ssize_t delta) noexcept nogil:
    if seg == &c.order:
        c.wlen += delta
    elif seg == &c.probation:
        c.plen += delta
    else:
        c.qlen += delta


cdef void _wtlfu_move(CacheCore c, PyObject* p, Link* seg) noexcept nogil:
    """Move a node to the tail of another list."""
    link_remove(&(<_Node>p).order)
    _wtlfu_count(c, _segment(p), -1)
    link_append(seg, &(<_Node>p).order)
    (<_Node>p).bucket = <Bucket*>seg
    _wtlfu_count(c, seg, 1)


cdef void _wtlfu_add(CacheCore c, PyObject* p) noexcept nogil:
    """A new node, just appended to the window: count it in the sketch (after
    widening the sketch if the store outgrew it) and push the window's
    overflow into probation."""
    cdef Py_ssize_t window, protected
    (<_Node>p).bucket = <Bucket*>&c.order
    c.wlen += 1
    if c.size > c.sk_width and c.sk_width < c.sk_cap:
        _sketch_alloc(c, min(_sketch_cap(c.size), c.sk_cap))   # no memory: the narrower one goes on
    _sketch_increment(c, _node_hash(c, p))
    _caps(c, &window, &protected)
    while c.wlen > window:
        _wtlfu_move(c, node_of_order(c.order.next), &c.probation)
    if c.maxsize > 0:
        _climb(c)


cdef void _wtlfu_hit(CacheCore c, PyObject* p) noexcept nogil:
    """A use: counted in the sketch; a hit in probation promotes to protected
    (whose overflow goes back to probation), elsewhere it moves to the tail."""
    cdef Link* seg = _segment(p)
    _sketch_increment(c, _node_hash(c, p))
    c.sample_hits += 1
    if seg != &c.probation:
        link_move_to_tail(seg, &(<_Node>p).order)
        return
    _wtlfu_move(c, p, &c.protected)
    _demote(c)


cdef PyObject* _wtlfu_victim(CacheCore c) noexcept nogil:
    """The entry to evict for a new one: the window's least recently used (the
    candidate, when the window holds its share) against the main area's; the
    candidate stays, moved to probation, only if its frequency is higher."""
    cdef Py_ssize_t window, protected
    cdef PyObject* victim = NULL
    cdef PyObject* candidate
    _caps(c, &window, &protected)
    if c.plen:
        victim = node_of_order(c.probation.next)
    elif c.qlen:
        victim = node_of_order(c.protected.next)
    if c.wlen == 0 or (c.wlen < window and victim != NULL):
        return victim
    candidate = node_of_order(c.order.next)
    if victim == NULL:
        return candidate
    if _frequency(c, candidate) > _frequency(c, victim):
        _wtlfu_move(c, candidate, &c.probation)
        return victim
    return candidate


cdef PyObject* _first_except(Link* head, PyObject* keep) noexcept nogil:
    cdef Link* l = head.next
    while l != head:
        if node_of_order(l) != keep:
            return node_of_order(l)
        l = l.next
    return NULL


cdef PyObject* _wtlfu_first_except(CacheCore c, PyObject* keep) noexcept nogil:
    """Eviction order without admission (the bytes of an overwrite): probation,
    protected, window, least recently used first, never ``keep``."""
    cdef PyObject* p = _first_except(&c.probation, keep)
    if p == NULL:
        p = _first_except(&c.protected, keep)
    if p == NULL:
        p = _first_except(&c.order, keep)
    return p


cdef Py_ssize_t _tagged_length(Link* head) noexcept:
    """The length of a W-TinyLFU list, or -1 if a node in it is tagged with another."""
    cdef Py_ssize_t n = 0
    cdef Link* l = head.next
    while l != head:
        if <Link*>(<_Node>node_of_order(l)).bucket != head:
            return -1
        n += 1
        l = l.next
    return n


cdef void _unlink_list(Link* head) noexcept:
    """Detach the nodes of one order list (no Python code)."""
    cdef Link* l = head.next
    cdef Link* nxt
    while l != head:
        nxt = l.next
        (<_Node>node_of_order(l)).owner = NULL
        (<_Node>node_of_order(l)).bucket = NULL
        link_init(l)
        l = nxt
    link_init(head)


cdef void _unlink_all(CacheCore c) noexcept:
    """Detach every node (they stay in the dict, unlinked) and empty the lists."""
    cdef Link* l
    cdef Link* nxt
    cdef Bucket* b
    if c.lfu:
        while c.buckets.next != &c.buckets:
            b = <Bucket*>c.buckets.next
            l = b.items.next
            while l != &b.items:
                nxt = l.next
                (<_Node>node_of_order(l)).owner = NULL
                (<_Node>node_of_order(l)).bucket = NULL
                link_init(l)
                l = nxt
            link_remove(&b.chain)
            _bucket_release(c, b)
    else:
        _unlink_list(&c.order)
        if c.wtlfu:
            _unlink_list(&c.probation)
            _unlink_list(&c.protected)
            c.wlen = c.plen = c.qlen = 0
    l = c.times.next
    while l != &c.times:
        nxt = l.next
        link_init(l)
        l = nxt
    link_init(&c.times)
    c.size = 0
    c.nbytes = 0
    c.mutations += 1


cdef list _snapshot_raw(CacheCore c):
    """The linked nodes in order-list order (strong references)."""
    cdef list out = []
    cdef Link* l
    cdef Bucket* b
    cdef Link* bl
    if c.lfu:
        bl = c.buckets.next
        while bl != &c.buckets:
            b = <Bucket*>bl
            l = b.items.next
            while l != &b.items:
                out.append(<object>node_of_order(l))
                l = l.next
            bl = bl.next
    else:
        if c.wtlfu:
            _append_list(out, &c.probation)
            _append_list(out, &c.protected)
        _append_list(out, &c.order)
    return out


cdef void _append_list(list out, Link* head) except *:
    cdef Link* l = head.next
    while l != head:
        out.append(<object>node_of_order(l))
        l = l.next


cdef list _snapshot(CacheCore c):
    if c.has_ttl:
        _purge(c, _now(c))
    return _snapshot_raw(c)


# ---------------------------------------------------------------------------
# Cached functions
# ---------------------------------------------------------------------------

cdef bint _enabled = True

cdef enum:
    MAX_PROBE = 4     # arities up to this are looked up through a probe tuple


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
    cdef Py_ssize_t i
    t = PyTuple_New(nargs)
    for i in range(nargs):
        item = <object>args[i]
        Py_INCREF(item)
        PyTuple_SET_ITEM(t, i, item)
    return t


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
    cdef object __weakref__

    def __repr__(self):
        return f"<instance token {id(self):#x}>"


@cython.final
cdef class MethodTokens:
    """Identity tokens for the instances a cached method is called on.

    A token stands for its instance in keys, so the cache never holds the
    instance; when the instance dies its entries are removed from the cache.
    """
    cdef dict by_id
    cdef object cache_ref
    cdef object __weakref__

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
    cdef object tokens_ref
    cdef Py_ssize_t ident
    cdef object token

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
    cdef object event
    cdef long owner
    cdef object result
    cdef object error

    def __init__(self):
        self.event = threading.Event()
        self.owner = threading.get_ident()


@cython.final
cdef class CachedFunction:
    """What ``cached`` returns: a functools-compatible caching wrapper."""
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

    def __cinit__(self, *args, **kwargs):
        cdef Py_ssize_t n
        self.vectorcall = ADMF_AS_VECTORCALL(<void*>_cached_vectorcall)
        for n in range(MAX_PROBE + 1):
            self.probes[n] = NULL
        if ADMF_PROBE_TUPLES:
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
        if not callable(func):
            raise TypeError("func must be callable")
        self.func = func
        self.core = cache
        self.typed = bool(typed)
        self.key_maker = key_maker
        self.fallback = fallback_key
        self.single_flight = bool(single_flight)
        self.flights = {}
        self.flight_lock = threading.RLock()
        self.tokens = MethodTokens(cache)

    @property
    def cache(self):
        return self.core

    def cache_info(self):
        """(hits, misses, maxsize, currsize), as functools."""
        return CacheInfo(self.core.hits, self.core.misses, self.core.max_size, len(self.core))

    def cache_clear(self):
        """Remove every entry and reset the statistics, as functools."""
        self.core.clear()
        self.core.reset_stats()

    def cache_parameters(self):
        return {"maxsize": self.core.max_size, "typed": self.typed}

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


cdef object _cached_vectorcall(object self, PyObject* const* args, size_t nargsf,
                               PyObject* kwnames):
    return _call(<CachedFunction>self, args, PyVectorcall_NARGS(nargsf), kwnames, nargsf,
                 None, None)


cdef object _call(CachedFunction f, PyObject* const* args, Py_ssize_t nargs,
                  PyObject* kwnames, size_t nargsf, object instance, object token):
    """One call; ``instance``/``token`` are set for ``obj.method(...)`` calls."""
    cdef CacheCore c = f.core
    cdef object key
    cdef Py_hash_t h
    cdef PyObject* p = NULL
    cdef PyObject* probe = NULL
    cdef PyObject** items
    cdef Py_ssize_t i
    cdef bint explicit = False
    cdef bint looked_up = False
    cdef unsigned long long miss_at
    cdef Py_ssize_t pos = 0
    if not _enabled:
        return _call_func(f, args, nargs, kwnames, nargsf, instance)
    if c.maxsize == 0:
        c.misses += 1
        return _call_func(f, args, nargs, kwnames, nargsf, instance)
    if f.key_maker is not None:
        key = f.key_maker(_key_args(args, nargs, token), _kwargs_dict(args, nargs, kwnames))
        explicit = True
        h = PyObject_Hash(key)
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
                    p = _table_find(c, probe, h, &pos)              # Python: __eq__
                    looked_up = True
            finally:
                for i in range(nargs):
                    items[i] = NULL
                f.probes[nargs] = probe
            if p != NULL and _hit_fast(c, p):
                return (<_Node>p).value
            key = _args_tuple(args, nargs)
        else:
            key = _functools_key(args, nargs, kwnames, token, f.typed)
            h = PyObject_Hash_raw(key)                              # Python: __hash__
        if h == -1:
            if f.fallback is None or not PyErr_ExceptionMatches(TypeError):
                admf_fail()
            PyErr_Clear()
            key = f.fallback(_key_args(args, nargs, token), _kwargs_dict(args, nargs, kwnames))
            explicit = True
            h = PyObject_Hash(key)
    if not looked_up:
        p = _table_find(c, <PyObject*>key, h, &pos)      # Python: __eq__
        if p != NULL and _hit_fast(c, p):
            return (<_Node>p).value
    if p != NULL:
        value = _get_slow(c, <_Node>p)
        if value is not _MISS:
            return value
    else:
        c.misses += 1
    if f.single_flight:
        return _flight_call(f, key, h, explicit, args, nargs, kwnames, nargsf, instance)
    miss_at = c.mutations if p == NULL else UNKNOWN
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
    cdef _Node node
    with f.flight_lock:
        flight = f.flights.get(key)
        leader = flight is None
        if leader:
            node = _peek(f.core, key, h)
            if node is not None:      # stored between our miss and now
                return node.value
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
            _store(f.core, key, h, result, _args_tuple(args, nargs),
                   _kwargs_dict(args, nargs, kwnames), False, UNKNOWN, 0)
        else:
            _store(f.core, key, h, result, None, None, False, UNKNOWN, 0)
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
    cdef vectorcallfunc vectorcall
    cdef CachedFunction func
    cdef object obj
    cdef object token

    def __cinit__(self, *args, **kwargs):
        self.vectorcall = ADMF_AS_VECTORCALL(<void*>_bound_vectorcall)

    def __init__(self, CachedFunction func, obj):
        self.func = func
        self.obj = obj
        self.token = func.tokens.token(obj)

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
    return _call(b.func, args, PyVectorcall_NARGS(nargsf), kwnames, nargsf, b.obj, b.token)


# ---------------------------------------------------------------------------
# Module set-up: link offsets and vectorcall slots
# ---------------------------------------------------------------------------

cdef admf_traverseproc _core_base_traverse = NULL


cdef int _core_traverse(PyObject* o, admf_visitproc visit, void* arg) noexcept:
    """CacheCore's tp_traverse: Cython's, plus the nodes its table owns."""
    cdef int r = _core_base_traverse(o, visit, arg) if _core_base_traverse != NULL else 0
    cdef Slot* slots = (<CacheCore>o).slots
    cdef Py_ssize_t i
    if r or slots == NULL:
        return r
    for i in range((<CacheCore>o).mask + 1):
        if slots[i].node != NULL and slots[i].node != TOMBSTONE:
            r = visit(slots[i].node, arg)
            if r:
                return r
    return 0


cdef _setup():
    global ORDER_OFFSET, TIME_OFFSET, _core_base_traverse
    # The table's references to nodes are invisible to Cython's tp_traverse:
    # visit them too, so the collector can break cycles through cached values.
    _core_base_traverse = ADMF_GET_TRAVERSE(<PyTypeObject*>CacheCore)
    ADMF_SET_TRAVERSE(<PyTypeObject*>CacheCore, _core_traverse)
    cdef _Node probe = _Node.__new__(_Node)
    ORDER_OFFSET = <char*>&probe.order - <char*><PyObject*>probe
    TIME_OFFSET = <char*>&probe.time - <char*><PyObject*>probe
    cdef CachedFunction fn = CachedFunction.__new__(CachedFunction)
    ADMF_TYPE_SET_VECTORCALL(<PyTypeObject*>CachedFunction,
                             <char*>&fn.vectorcall - <char*><PyObject*>fn)
    PyType_Modified(<PyTypeObject*>CachedFunction)
    cdef _BoundCachedMethod bm = _BoundCachedMethod.__new__(_BoundCachedMethod)
    ADMF_TYPE_SET_VECTORCALL(<PyTypeObject*>_BoundCachedMethod,
                             <char*>&bm.vectorcall - <char*><PyObject*>bm)
    PyType_Modified(<PyTypeObject*>_BoundCachedMethod)

_setup()
