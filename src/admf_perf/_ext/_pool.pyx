# cython: language_level=3, boundscheck=False, wraparound=False
# cython: initializedcheck=False, embedsignature=True
# cython: freethreading_compatible=True
"""Compiled hot path of ``pool.py`` (``ObjectPool``): the free list.

Twin (specification): ``_pool_py.py``.  ``admf_perf.pool.ObjectPool``
subclasses ``PoolCore`` and adds the validation, the defaults, ``borrow()``
and the docs.

State: ``_free``, a list used from C as a LIFO stack of idle objects, and
the set of the objects given out, a C open-addressing table of object
addresses holding strong references (so an address is never reused while its
object is out).  ``acquire`` pops an idle
object or calls the factory; ``release`` checks the object is out, runs the
reset hook (none, the ``reset`` callable, or a subclass's ``_reset_object``:
decided once in ``__init__``), then keeps or drops it.  Every bookkeeping
step is a C section that runs no Python code, so the GIL makes it atomic;
the factory and the reset hook run outside them and may raise.
"""

cimport cython
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_DECREF
from libc.stdlib cimport calloc, free as c_free

cdef extern from "Python.h":
    Py_ssize_t list_size "PyList_GET_SIZE"(object lst)
    PyObject* list_item "PyList_GET_ITEM"(object lst, Py_ssize_t i)
    void list_set_size "Py_SET_SIZE"(object lst, Py_ssize_t n)
    int list_append "PyList_Append"(object lst, object item) except -1

cdef enum:
    HOOK_NONE = 0
    HOOK_CALLABLE = 1
    HOOK_METHOD = 2


cdef extern from "admf_addr.h":
    # Fibonacci hashing of the address (low bits are alignment)
    size_t _slot "admf_addr_slot"(PyObject* p, int shift) noexcept nogil


cdef class PoolCore:
    """Free list of reusable objects (see the module docs)."""

    def __cinit__(self, *args, **kwargs):
        self._free = []
        self._tab = <PyObject**>calloc(8, sizeof(PyObject*))
        if self._tab is NULL:
            raise MemoryError()
        self._mask = 7
        self._shift = 64 - 3

    def __dealloc__(self):
        cdef size_t i
        cdef PyObject** tab = self._tab
        self._tab = NULL
        if tab is not NULL:
            for i in range(self._mask + 1):
                if tab[i] is not NULL:
                    Py_DECREF(<object>tab[i])
            c_free(tab)

    def __init__(self, factory, Py_ssize_t max_size, reset=None):
        self._factory = factory
        self._max_size = max_size
        self._reset = reset
        if type(self)._reset_object is not PoolCore._reset_object:
            self._hook = HOOK_METHOD
        elif reset is not None:
            self._hook = HOOK_CALLABLE
        else:
            self._hook = HOOK_NONE

    # -- the set of objects given out -------------------------------------

    cdef int _reserve(self) except -1:
        """Room for one more entry (load factor <= 1/2)."""
        cdef size_t cap = self._mask + 1, i, j, newcap, newmask
        cdef int newshift
        cdef PyObject** tab
        cdef PyObject** old = self._tab
        if <size_t>(self._used + 1) * 2 <= cap:
            return 0
        newcap = cap * 2
        newmask = newcap - 1
        newshift = self._shift - 1
        tab = <PyObject**>calloc(newcap, sizeof(PyObject*))
        if tab is NULL:
            raise MemoryError()
        for i in range(cap):
            if old[i] is not NULL:
                j = _slot(old[i], newshift)
                while tab[j] is not NULL:
                    j = (j + 1) & newmask
                tab[j] = old[i]
        self._tab = tab
        self._mask = newmask
        self._shift = newshift
        c_free(old)
        return 0

    cdef inline bint _contains(self, PyObject* p) noexcept:
        cdef size_t i = _slot(p, self._shift)
        while self._tab[i] is not NULL:
            if self._tab[i] == p:
                return True
            i = (i + 1) & self._mask
        return False

    cdef inline void _add(self, PyObject* p) noexcept:
        """Insert ``p`` (not present; room reserved), stealing a reference."""
        cdef size_t i = _slot(p, self._shift)
        while self._tab[i] is not NULL:
            i = (i + 1) & self._mask
        self._tab[i] = p
        self._used += 1

    cdef inline bint _discard(self, PyObject* p) noexcept:
        """Remove ``p``; True when it was present (its reference is the caller's)."""
        cdef PyObject** tab = self._tab
        cdef size_t mask = self._mask, i, j, k
        cdef int shift = self._shift
        i = _slot(p, shift)
        while tab[i] != p:
            if tab[i] is NULL:
                return False
            i = (i + 1) & mask
        j = i
        while True:  # backward-shift deletion
            j = (j + 1) & mask
            if tab[j] is NULL:
                break
            k = _slot(tab[j], shift)
            if (i < k <= j) if i <= j else (i < k or k <= j):
                continue
            tab[i] = tab[j]
            i = j
        tab[i] = NULL
        self._used -= 1
        return True

    # -- API ----------------------------------------------------------------

    @property
    def factory(self):
        return self._factory

    @property
    def reset(self):
        return self._reset

    @property
    def max_size(self):
        return self._max_size

    @property
    def in_use(self):
        return self._used

    @property
    def idle(self):
        return len(self._free)

    @cython.critical_section
    def acquire(self):
        cdef list free = self._free
        cdef Py_ssize_t n = list_size(free)
        cdef PyObject* p
        cdef object obj
        if <size_t>(self._used + 1) * 2 > self._mask + 1:
            self._reserve()
        if n:
            p = list_item(free, n - 1)
            list_set_size(free, n - 1)  # the list's reference moves to the set
            self._add(p)
            self._reused += 1
            return <object>p
        obj = self._factory()
        p = <PyObject*>obj
        self._reserve()  # the factory may have run acquire()
        if self._contains(p):
            raise ValueError(
                f"factory returned an object this pool has already given out "
                f"({type(obj).__name__} at 0x{id(obj):x}); the factory must return a new object")
        Py_INCREF(obj)
        self._add(p)
        self._created += 1
        return obj

    @cython.critical_section
    def release(self, obj):
        if not self._discard(<PyObject*>obj):
            self._not_out(obj)
        Py_DECREF(obj)  # the set's reference; the argument keeps obj alive
        if self._hook:
            try:
                if self._hook == HOOK_CALLABLE:
                    self._reset(obj)
                else:
                    self._reset_object(obj)
            except BaseException:
                self._dropped += 1
                raise
        if list_size(self._free) < self._max_size:
            list_append(self._free, obj)
        else:
            self._dropped += 1

    cdef int _not_out(self, obj) except -1:
        for x in self._free:
            if x is obj:
                raise ValueError(
                    f"{type(obj).__name__} object at 0x{id(obj):x} was already released to this pool")
        raise ValueError(
            f"{type(obj).__name__} object at 0x{id(obj):x} is not in use from this pool "
            "(never acquired from it, or already released)")

    def _reset_object(self, obj):
        if self._reset is not None:
            self._reset(obj)

    @cython.critical_section
    def clear(self):
        cdef list old = self._free
        self._free = []
        return len(old)

    @cython.critical_section
    def stats(self):
        return {
            "created": self._created,
            "reused": self._reused,
            "in_use": self._used,
            "idle": len(self._free),
            "dropped": self._dropped,
            "max_size": self._max_size,
        }
