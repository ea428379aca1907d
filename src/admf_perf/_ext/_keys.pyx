# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# cython: freethreading_compatible=True
"""Cache-key construction and hashing (compiled).

Same behaviour as the pure-Python twin ``_keys_py`` (the specification; read
its docstring for the rules).  What is compiled here:

* ``generate_key``: exact builtin scalars (int, float, str, bytes, bool, None)
  are placed in the key without any conversion call, a small keyword dict with
  exact ``str`` names is sorted by an insertion sort on ``PyUnicode_Compare``
  (no ``sorted()``), and the key tuple is built in place.
* ``digest``: the two-lane fmix64 sum as a C loop over the buffer's uint64
  words, run without the GIL for large buffers.
"""
import sys

import numpy as np

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_Next
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport uint64_t

__all__ = ["digest", "generate_key"]


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* Little-endian loads/stores, whatever the host byte order, so that the
       digest equals the twin's ('<u8' words) on every platform. */
    static inline uint64_t admf_keys_load_le64(const unsigned char *p) {
        uint64_t v;
        memcpy(&v, p, 8);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap64(v);
    #endif
        return v;
    }
    static inline void admf_keys_store_le64(unsigned char *p, uint64_t v) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap64(v);
    #endif
        memcpy(p, &v, 8);
    }
    """
    uint64_t _load_le64 "admf_keys_load_le64"(const unsigned char* p) noexcept nogil
    void _store_le64 "admf_keys_store_le64"(unsigned char* p, uint64_t v) noexcept nogil


cdef extern from "Python.h":
    # Borrowed-pointer variants for the keyword fast path (exact str only:
    # they cannot fail nor run Python code).
    int _unicode_compare_ptr "PyUnicode_Compare"(PyObject* a, PyObject* b)
    bint _unicode_check_exact_ptr "PyUnicode_CheckExact"(PyObject* o)
    # Nonzero (with RecursionError set) when too deep: see _enter_recursion.
    int Py_EnterRecursiveCall(const char* where) noexcept
    void Py_LeaveRecursiveCall() noexcept


# --------------------------------------------------------------------------
# digest
# --------------------------------------------------------------------------

cdef enum:
    _NOGIL_BYTES = 32768        # release the GIL for buffers at least this big

cdef uint64_t _FMIX_C1 = 0xFF51AFD7ED558CCDULL
cdef uint64_t _FMIX_C2 = 0xC4CEB9FE1A85EC53ULL
cdef uint64_t _PA = 0x9E3779B97F4A7C15ULL
cdef uint64_t _SA = 0x243F6A8885A308D3ULL
cdef uint64_t _PB = 0xC2B2AE3D27D4EB4FULL
cdef uint64_t _SB = 0x13198A2E03707344ULL


cdef inline uint64_t _fmix64(uint64_t k) noexcept nogil:
    k ^= k >> 33
    k *= _FMIX_C1
    k ^= k >> 33
    k *= _FMIX_C2
    k ^= k >> 33
    return k


cdef void _digest_raw(const unsigned char* p, Py_ssize_t n, unsigned char* out) noexcept nogil:
    """The twin's algorithm: two position-keyed fmix64 lanes summed mod 2**64."""
    cdef Py_ssize_t nw = n >> 3
    cdef Py_ssize_t i, j
    cdef Py_ssize_t tail = n & 7
    cdef uint64_t a = 0, b = 0, w
    cdef uint64_t ka = _SA, kb = _SB
    for i in range(nw):
        w = _load_le64(p + 8 * i)
        a += _fmix64(w ^ ka)
        b += _fmix64(w ^ kb)
        ka += _PA
        kb += _PB
    if tail:
        w = 0
        for j in range(tail):
            w |= (<uint64_t>p[8 * nw + j]) << (8 * j)
        a += _fmix64(w ^ ka)
        b += _fmix64(w ^ kb)
    a ^= <uint64_t>n
    b ^= <uint64_t>n
    a += b
    b += a
    a = _fmix64(a)
    b = _fmix64(b)
    a += b
    b += a
    _store_le64(out, a)
    _store_le64(out + 8, b)


cdef bytes _digest_buffer(object obj):
    """Digest of a C-contiguous buffer exporter (bytes, C-contiguous ndarray)."""
    cdef Py_buffer view
    cdef unsigned char out[16]
    PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE)
    try:
        if view.len >= _NOGIL_BYTES:
            with nogil:
                _digest_raw(<const unsigned char*>view.buf, view.len, out)
        else:
            _digest_raw(<const unsigned char*>view.buf, view.len, out)
    finally:
        PyBuffer_Release(&view)
    return PyBytes_FromStringAndSize(<char*>out, 16)


cdef object _ndarray = np.ndarray
cdef object _np_generic = np.generic
cdef object _np_complexfloating = np.complexfloating
cdef object _np_datetime_like = (np.datetime64, np.timedelta64)
cdef object _ascontiguousarray = np.ascontiguousarray
cdef object _asarray = np.asarray


cdef bytes _digest_array(object a):
    """Digest of the C-order bytes of ndarray ``a``."""
    if a.dtype.hasobject:
        raise TypeError("digest: arrays holding Python objects have no stable bytes")
    try:
        return _digest_buffer(a)
    except (ValueError, BufferError):   # not C-contiguous
        return _digest_buffer(_ascontiguousarray(a).reshape(-1).view(np.uint8))


def digest(obj):
    """16-byte non-cryptographic hash of the bytes of ``obj`` in C order.

    ``obj`` is ``bytes``, a numpy array (any layout; object arrays refused) or
    any other object exporting a buffer (``bytearray``, ``memoryview``...).
    """
    if type(obj) is bytes:
        return _digest_buffer(obj)
    if not isinstance(obj, _ndarray):
        obj = _asarray(memoryview(obj))
    return _digest_array(obj)


# --------------------------------------------------------------------------
# generate_key
# --------------------------------------------------------------------------


class _Tag:
    """A private marker inside keys; equal only to itself."""

    __slots__ = ("_name",)

    def __init__(self, name):
        self._name = name

    def __repr__(self):
        return f"<CacheKey {self._name}>"

    def __reduce__(self):
        # Pickles (and copies) as a reference to the module-level singleton.
        return "_" + self._name.upper()


_KWARGS = _Tag("kwargs")
_TUPLE = _Tag("tuple")
_LIST = _Tag("list")
_DICT = _Tag("dict")
_SET = _Tag("set")
_NAN = _Tag("nan")
_NAT = _Tag("nat")
_COMPLEX = _Tag("complex")
_ARRAY = _Tag("array")
_SERIES = _Tag("series")
_INDEX = _Tag("index")
_FRAME = _Tag("frame")
_EXTARRAY = _Tag("extarray")
_TAG = _Tag("tag")  # marks a tag object passed in as a value

# C-level references to the tags (no module-dict lookups on the hot path).
cdef object KWARGS = _KWARGS
cdef object TUPLE = _TUPLE
cdef object LIST = _LIST
cdef object DICT = _DICT
cdef object SET = _SET
cdef object NAN = _NAN
cdef object NAT = _NAT
cdef object COMPLEX = _COMPLEX
cdef object ARRAY = _ARRAY
cdef object SERIES = _SERIES
cdef object INDEX = _INDEX
cdef object FRAME = _FRAME
cdef object EXTARRAY = _EXTARRAY
cdef object TAG = _TAG
cdef object TagType = _Tag


class _Unkeyable(Exception):
    """Internal: ``obj`` cannot be keyed; ``path`` grows innermost first."""

    def __init__(self, obj, cause):
        super().__init__(obj)
        self.obj = obj
        self.cause = cause
        self.path = []


cdef str _short_repr(object obj):
    cdef str text = repr(obj)
    return text if len(text) <= 40 else text[:37] + "..."


cdef object _unkeyable_error(object exc, str where):
    path = where + "".join(reversed(exc.path))
    return TypeError(
        f"CacheKey.generate_key: cannot key {path} of type {type(exc.obj).__name__!r}: "
        "unhashable and has no cache_key()"
    )


def _name_order(name):
    """Sort key for keyword names when they are not all exact ``str``."""
    return (type(name).__module__, type(name).__qualname__, repr(name))


cdef inline int _enter_recursion() except -1:
    """Py_EnterRecursiveCall: RecursionError instead of a C stack overflow."""
    if Py_EnterRecursiveCall(" while building a cache key"):
        return -1
    return 0


cdef inline bint _plain(object x) noexcept:
    """Exact int/str/bytes/bool/None, or an exact non-NaN float: keyed as itself."""
    cdef type t = type(x)
    if t is str or t is int or t is float and PyFloat_AS_DOUBLE(x) == PyFloat_AS_DOUBLE(x):
        return True
    return x is None or t is bool or t is bytes


cdef inline object _convert(object x):
    """The hashable stand-in of one value (see the twin's rules 1-7)."""
    if _plain(x):
        return x
    cdef type t = type(x)
    if t is float:
        return NAN
    if t is tuple:
        return _convert_seq(TUPLE, <tuple>x)
    if t is list:
        return _convert_seq(LIST, tuple(<list>x))
    if t is dict:
        return _convert_dict(x)
    if t is set or t is frozenset:
        return _convert_set(x)
    return _convert_other(x, t)


cdef tuple _convert_seq(object tag, tuple items):
    cdef Py_ssize_t n = len(items)
    cdef Py_ssize_t i = 0
    cdef tuple out = PyTuple_New(n + 1)
    Py_INCREF(tag)
    PyTuple_SET_ITEM(out, 0, tag)
    _enter_recursion()
    try:
        for i in range(n):
            item = <object>PyTuple_GET_ITEM(items, i)
            if not _plain(item):
                item = _convert(item)
            Py_INCREF(item)
            PyTuple_SET_ITEM(out, i + 1, item)
    except _Unkeyable as exc:
        exc.path.append(f"[{i}]")
        raise
    finally:
        Py_LeaveRecursiveCall()
    return out


cdef tuple _convert_dict(object d):
    cdef list pairs = []
    _enter_recursion()
    try:
        for k, v in list(d.items()):
            try:
                ck = _convert(k)
            except _Unkeyable as exc:
                exc.path.append(f"<key {_short_repr(k)}>")
                raise
            try:
                cv = _convert(v)
            except _Unkeyable as exc:
                exc.path.append(f"[{_short_repr(k)}]")
                raise
            pairs.append((ck, cv))
    finally:
        Py_LeaveRecursiveCall()
    return (DICT, frozenset(pairs))


cdef tuple _convert_set(object s):
    cdef list out = []
    _enter_recursion()
    try:
        for item in tuple(s):
            try:
                out.append(_convert(item))
            except _Unkeyable as exc:
                exc.path.append(f"<member {_short_repr(item)}>")
                raise
    finally:
        Py_LeaveRecursiveCall()
    return (SET, frozenset(out))


cdef object _convert_other(object x, type t):
    meth = getattr(t, "cache_key", None)
    if meth is not None and callable(meth):
        result = x.cache_key()
        if result is not x:
            _enter_recursion()
            try:
                return _convert(result)
            except _Unkeyable as exc:
                exc.path.append(".cache_key()")
                raise
            finally:
                Py_LeaveRecursiveCall()
    if isinstance(x, _ndarray):
        return _array_key(x)
    if isinstance(x, _np_generic):
        if x.dtype.kind in "fcmM" and x != x:
            return _nan_key(x)
    else:
        pd = sys.modules.get("pandas")
        if pd is not None:
            found, key = _pandas_key(pd, x)
            if found:
                return key
        if isinstance(x, tuple):
            return _convert_seq(TUPLE, tuple(x))
        if isinstance(x, list):
            return _convert_seq(LIST, tuple(x))
        if isinstance(x, dict):
            return _convert_dict(x)
        if isinstance(x, (set, frozenset)):
            return _convert_set(x)
        if isinstance(x, bytearray):
            return bytes(x)
        if isinstance(x, (float, complex)) and x != x:
            return _nan_key(x)
        if t is TagType:
            return (TAG, x._name)
    try:
        hash(x)
    except TypeError as exc:
        raise _Unkeyable(x, exc) from None
    return x


cdef object _nan_key(object x):
    """Canonical key of a NaN float/complex (numpy or builtin) or a NaT."""
    if isinstance(x, (complex, _np_complexfloating)):
        return (COMPLEX, _convert(float(x.real)), _convert(float(x.imag)))
    if isinstance(x, _np_datetime_like):
        return (NAT, x.dtype.str)
    return NAN


cdef str _dtype_key(object dt):
    return dt.str if dt.names is None else str(dt)


cdef tuple _array_key(object a):
    dt = a.dtype
    if dt.hasobject or dt.kind == "T":
        body = _convert(a.tolist())
    else:
        body = _digest_array(a)
    return (ARRAY, a.shape, _dtype_key(dt), body)


# ---- pandas (never imported here: only used once the caller has imported it)


cdef tuple _pandas_key(object pd, object x):
    try:
        series, frame, index = pd.Series, pd.DataFrame, pd.Index
        extarray = pd.api.extensions.ExtensionArray
    except AttributeError:  # pandas is still being imported
        return False, None
    if isinstance(x, series):
        return True, _series_key(pd, x)
    if isinstance(x, frame):
        return True, _frame_key(pd, x)
    if isinstance(x, index):
        return True, _index_key(pd, x)
    if isinstance(x, extarray):
        return True, (EXTARRAY, str(x.dtype), len(x), _digest_array(pd.util.hash_array(x)))
    return False, None


cdef object _values_key(object pd, object obj):
    """Key of the values of a Series or an Index."""
    dt = obj.dtype
    if isinstance(dt, np.dtype):
        if dt.hasobject:
            try:
                return _convert(obj.tolist())
            except _Unkeyable as exc:
                exc.path.append(".values")
                raise
        return _digest_array(obj.to_numpy())
    return _digest_array(pd.util.hash_array(obj.array))


cdef tuple _index_key(object pd, object idx):
    try:
        names = _convert(tuple(idx.names))
    except _Unkeyable as exc:
        exc.path.append(".names")
        raise
    return (INDEX, names, str(idx.dtype), _values_key(pd, idx))


cdef tuple _series_key(object pd, object s):
    try:
        name = _convert(s.name)
    except _Unkeyable as exc:
        exc.path.append(".name")
        raise
    values = _values_key(pd, s)
    try:
        index = _index_key(pd, s.index)
    except _Unkeyable as exc:
        exc.path.append(".index")
        raise
    return (SERIES, name, str(s.dtype), values, index)


cdef tuple _frame_key(object pd, object df):
    cdef list values = []
    for label, column in df.items():
        try:
            values.append(_values_key(pd, column))
        except _Unkeyable as exc:
            exc.path.append(f"[{_short_repr(label)}]")
            raise
    try:
        columns = _index_key(pd, df.columns)
    except _Unkeyable as exc:
        exc.path.append(".columns")
        raise
    try:
        index = _index_key(pd, df.index)
    except _Unkeyable as exc:
        exc.path.append(".index")
        raise
    return (FRAME, columns, tuple([str(dt) for dt in df.dtypes]), tuple(values), index)


# ---- entry point

cdef enum:
    _KW_FAST_MAX = 16           # keyword dicts up to this size skip sorted()


cdef Py_ssize_t _fill_kwargs_fast(tuple key, Py_ssize_t at, dict kwargs, Py_ssize_t nk):
    """Place the items of ``kwargs`` (exact str names) sorted by name at ``key[at:]``.

    Returns 1 on success, 0 when the fast path does not apply (a name is not
    an exact str, or too many items).  Runs no Python code.
    """
    cdef PyObject* names[_KW_FAST_MAX]
    cdef PyObject* values[_KW_FAST_MAX]
    cdef PyObject* k
    cdef PyObject* v
    cdef Py_ssize_t pos = 0, count = 0, j
    if nk > _KW_FAST_MAX:
        return 0
    while PyDict_Next(kwargs, &pos, &k, &v):
        if count >= nk or not _unicode_check_exact_ptr(k):
            return 0
        j = count
        while j > 0 and _unicode_compare_ptr(names[j - 1], k) > 0:
            names[j] = names[j - 1]
            values[j] = values[j - 1]
            j -= 1
        names[j] = k
        values[j] = v
        count += 1
    if count != nk:
        return 0
    for j in range(nk):
        Py_INCREF(<object>names[j])
        PyTuple_SET_ITEM(key, at + 2 * j, <object>names[j])
        Py_INCREF(<object>values[j])
        PyTuple_SET_ITEM(key, at + 2 * j + 1, <object>values[j])
    return 1


cdef int _fill_kwargs_slow(tuple key, Py_ssize_t at, dict kwargs, Py_ssize_t nk) except -1:
    """As ``_fill_kwargs_fast`` for any names: sorted by name, or by
    ``_name_order`` when some name is not an exact str."""
    cdef list items = list(kwargs.items())
    cdef Py_ssize_t j = 0
    if len(items) != nk:
        raise RuntimeError("CacheKey.generate_key: kwargs changed size while keying")
    if all([type(name) is str for name, _ in items]):
        items.sort(key=lambda item: item[0])
    else:
        items.sort(key=lambda item: _name_order(item[0]))
    for name, value in items:
        Py_INCREF(name)
        PyTuple_SET_ITEM(key, at + 2 * j, name)
        Py_INCREF(value)
        PyTuple_SET_ITEM(key, at + 2 * j + 1, value)
        j += 1
    return 0


cdef int _convert_slot(tuple key, Py_ssize_t pos) except -1:
    """Replace ``key[pos]`` (not plain) by its converted form."""
    cdef PyObject* old = PyTuple_GET_ITEM(key, pos)
    value = _convert(<object>old)       # the key keeps ``old`` alive meanwhile
    Py_INCREF(value)
    PyTuple_SET_ITEM(key, pos, value)
    Py_XDECREF(old)
    return 0


cdef tuple _generate_key(object args, object kwargs, bint include_self):
    cdef tuple targs = args if type(args) is tuple else tuple(args)
    cdef Py_ssize_t total = len(targs)
    cdef Py_ssize_t skip = 0 if (include_self or total == 0) else 1
    cdef Py_ssize_t na = total - skip
    cdef Py_ssize_t nk = 0, i = 0, pos = 0
    cdef dict kw = None
    if kwargs is not None:
        kw = kwargs if type(kwargs) is dict else dict(kwargs)
        nk = len(kw)
    cdef tuple key = PyTuple_New(na + (2 * nk + 1 if nk else 0))
    if nk:
        # Keyword names and raw values go in first, sorted, before any user
        # code can run (cache_key, __hash__): the key then owns references to
        # them, whatever that code does to the dict.  Values are converted
        # in place afterwards.
        Py_INCREF(KWARGS)
        PyTuple_SET_ITEM(key, na, KWARGS)
        if not _fill_kwargs_fast(key, na + 1, kw, nk):
            _fill_kwargs_slow(key, na + 1, kw, nk)
    try:
        for i in range(na):
            item = <object>PyTuple_GET_ITEM(targs, i + skip)
            if not _plain(item):
                item = _convert(item)
            Py_INCREF(item)
            PyTuple_SET_ITEM(key, i, item)
    except _Unkeyable as exc:
        raise _unkeyable_error(exc, f"args[{i + skip}]") from exc.cause
    try:
        for i in range(nk):
            # the value first, then the name (the error message shows the raw name)
            pos = na + 2 + 2 * i
            if not _plain(<object>PyTuple_GET_ITEM(key, pos)):
                _convert_slot(key, pos)
            pos -= 1
            if not _plain(<object>PyTuple_GET_ITEM(key, pos)):
                _convert_slot(key, pos)
    except _Unkeyable as exc:
        name = <object>PyTuple_GET_ITEM(key, na + 1 + 2 * i)
        raise _unkeyable_error(exc, f"kwargs[{_short_repr(name)}]") from exc.cause
    return key


def generate_key(args, kwargs=None, bint include_self=True):
    """Hashable key of a call's ``args`` (a sequence) and ``kwargs`` (a mapping).

    Equal arguments give equal keys; keyword order does not matter.  With
    ``include_self=False`` the first positional argument is left out.  An
    argument that cannot be keyed raises ``TypeError`` naming it.
    """
    return _generate_key(args, kwargs, include_self)
