"""Cache-key construction and hashing: the pure-Python twin of ``_keys.pyx``.

This module is the readable specification of the compiled ``_keys`` module;
both behave identically (``digest`` returns the very same bytes) and the test
suite runs on both.

``generate_key(args, kwargs=None, include_self=True)`` turns the arguments of
a call into a hashable tuple::

    (converted args..., _KWARGS_MARK, name1, value1, name2, value2, ...)

Keyword arguments are sorted by name; the mark is present only when there are
keyword arguments, so ``f(1)`` and ``f(x=1)`` get different keys.  Each value is
*converted* by these rules, in this order:

1. exact ``int``, ``float``, ``str``, ``bytes``, ``bool`` and ``None``: the value
   itself (a float NaN becomes the ``_NAN`` tag, so all NaNs key alike);
2. exact ``tuple``/``list`` -> ``(_TUPLE | _LIST, converted items...)``;
   exact ``dict`` -> ``(_DICT, frozenset of (converted key, converted value))``;
   exact ``set``/``frozenset`` -> ``(_SET, frozenset of converted items)``;
3. an object whose type has a callable ``cache_key`` -> its converted
   ``cache_key()`` (a ``cache_key()`` returning the object itself means "key me
   by the remaining rules");
4. numpy ``ndarray`` -> ``(_ARRAY, shape, dtype key, 16-byte digest of the
   C-order bytes)``; object (and variable-width string) arrays carry their
   converted ``tolist()`` instead of a digest.  A numpy scalar is used as it
   is, except that NaN/NaT are canonicalised;
5. pandas ``Series``, ``DataFrame``, ``Index`` and extension arrays (only looked
   for when pandas has been imported):
   ``(_SERIES, name, dtype, values key, index key)``,
   ``(_FRAME, columns key, dtypes, values key per column, index key)``,
   ``(_INDEX, names, dtype, values key)``, ``(_EXTARRAY, dtype, length, digest)``.
   A values key is the digest of the raw values for numeric/bool/datetime
   numpy dtypes, the converted items for object dtype, and otherwise the digest
   of ``pandas.util.hash_array`` (one uint64 per element);
6. subclasses of tuple/list/dict/set/frozenset as their base type; a
   ``bytearray`` as the equal ``bytes``; other float/complex NaNs canonicalised;
7. a tag object itself passed in as a value -> ``(_TAG, its name)``; any
   other hashable object: itself.  An unhashable one is a ``TypeError``
   naming the argument (``args[1]``, ``kwargs['x']``, with the path inside
   containers) and its type.

The tags (``_LIST``, ``_NAN``...) are private sentinel objects, so no user value
can collide with them.

``digest(obj)`` is a fast non-cryptographic 128-bit hash of a buffer's bytes
(C order).  The algorithm, on the bytes read as little-endian uint64 words
``w[0..m)`` (a trailing partial word is zero-padded) and the byte length ``n``::

    a = sum(fmix64(w[i] ^ (i * PA + SA)))  mod 2**64
    b = sum(fmix64(w[i] ^ (i * PB + SB)))  mod 2**64
    a ^= n; b ^= n; a += b; b += a
    a = fmix64(a); b = fmix64(b); a += b; b += a
    digest = a.to_bytes(8, "little") + b.to_bytes(8, "little")

with murmur3's 64-bit finaliser ``fmix64``.  Every word goes through a bijective
mix keyed by its position in both lanes, so flipping any bit changes the
digest and moving words around does too.  Here it is vectorised with numpy
(uint64 arithmetic wraps modulo 2**64); the compiled module runs the same
recurrence in a C loop without the GIL.
"""
from __future__ import annotations

import sys
from operator import itemgetter
from typing import Any

import numpy as np

__all__ = ["digest", "generate_key"]

# --------------------------------------------------------------------------
# digest
# --------------------------------------------------------------------------

_MASK = (1 << 64) - 1
_FMIX_C1 = 0xFF51AFD7ED558CCD
_FMIX_C2 = 0xC4CEB9FE1A85EC53
# Per-lane position keys: key_i = i * P + S (mod 2**64).
_PA = 0x9E3779B97F4A7C15
_SA = 0x243F6A8885A308D3
_PB = 0xC2B2AE3D27D4EB4F
_SB = 0x13198A2E03707344

_U33 = np.uint64(33)
_UC1 = np.uint64(_FMIX_C1)
_UC2 = np.uint64(_FMIX_C2)
_UPA = np.uint64(_PA)
_USA = np.uint64(_SA)
_UPB = np.uint64(_PB)
_USB = np.uint64(_SB)

#: Words per vectorised block (bounds the temporaries at a few MB).
_CHUNK_WORDS = 1 << 16


def _fmix64(k: int) -> int:
    """murmur3's 64-bit finaliser on a Python int (mod 2**64)."""
    k ^= k >> 33
    k = (k * _FMIX_C1) & _MASK
    k ^= k >> 33
    k = (k * _FMIX_C2) & _MASK
    k ^= k >> 33
    return k


def _fmix64_array(k: np.ndarray) -> np.ndarray:
    """fmix64 on a uint64 array, in place (numpy wraps modulo 2**64)."""
    k ^= k >> _U33
    k *= _UC1
    k ^= k >> _U33
    k *= _UC2
    k ^= k >> _U33
    return k


def _lane_sums(words: np.ndarray, first_index: int) -> tuple[int, int]:
    """Both lanes' sums for ``words`` (uint64), the first at ``first_index``."""
    idx = np.arange(first_index, first_index + len(words), dtype=np.uint64)
    a = _fmix64_array(words ^ (idx * _UPA + _USA))
    b = _fmix64_array(words ^ (idx * _UPB + _USB))
    return int(a.sum(dtype=np.uint64)), int(b.sum(dtype=np.uint64))


def _byte_view(obj: Any) -> np.ndarray:
    """``obj``'s bytes in C order as a 1-d uint8 array (a view when possible)."""
    if type(obj) is bytes:
        return np.frombuffer(obj, dtype=np.uint8)
    if not isinstance(obj, np.ndarray):
        obj = np.asarray(memoryview(obj))  # TypeError when obj has no buffer
    if obj.dtype.hasobject:
        raise TypeError("digest: arrays holding Python objects have no stable bytes")
    return np.ascontiguousarray(obj).reshape(-1).view(np.uint8)


def digest(obj: Any) -> bytes:
    """16-byte non-cryptographic hash of the bytes of ``obj`` in C order.

    ``obj`` is ``bytes``, a numpy array (any layout; object arrays refused) or
    any other object exporting a buffer (``bytearray``, ``memoryview``...).
    """
    data = _byte_view(obj)
    n = data.size
    nw = n >> 3
    a = b = 0
    for start in range(0, nw, _CHUNK_WORDS):
        stop = min(nw, start + _CHUNK_WORDS)
        words = data[start * 8:stop * 8].view("<u8")
        sa, sb = _lane_sums(words, start)
        a = (a + sa) & _MASK
        b = (b + sb) & _MASK
    if n & 7:
        tail = int.from_bytes(data[nw * 8:].tobytes(), "little")  # zero-padded word
        a = (a + _fmix64(tail ^ ((nw * _PA + _SA) & _MASK))) & _MASK
        b = (b + _fmix64(tail ^ ((nw * _PB + _SB) & _MASK))) & _MASK
    a ^= n
    b ^= n
    a = (a + b) & _MASK
    b = (b + a) & _MASK
    a = _fmix64(a)
    b = _fmix64(b)
    a = (a + b) & _MASK
    b = (b + a) & _MASK
    return a.to_bytes(8, "little") + b.to_bytes(8, "little")


# --------------------------------------------------------------------------
# generate_key
# --------------------------------------------------------------------------


class _Tag:
    """A private marker inside keys; equal only to itself."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"<CacheKey {self._name}>"

    def __reduce__(self) -> str:
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


class _Unkeyable(Exception):
    """Internal: ``obj`` cannot be keyed; ``path`` grows innermost first."""

    def __init__(self, obj: Any, cause: BaseException) -> None:
        super().__init__(obj)
        self.obj = obj
        self.cause = cause
        self.path: list[str] = []


def _short_repr(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 40 else text[:37] + "..."


def _unkeyable_error(exc: _Unkeyable, where: str) -> TypeError:
    path = where + "".join(reversed(exc.path))
    return TypeError(
        f"CacheKey.generate_key: cannot key {path} of type {type(exc.obj).__name__!r}: "
        "unhashable and has no cache_key()"
    )


def _name_order(name: Any) -> tuple[str, str, str]:
    """Sort key for keyword names when they are not all exact ``str``."""
    return (type(name).__module__, type(name).__qualname__, repr(name))


_PLAIN = frozenset((int, str, bytes, bool, type(None)))


def _convert(x: Any) -> Any:
    """The hashable stand-in of one value (rules 1-7 of the module docstring)."""
    t = type(x)
    if t in _PLAIN:
        return x
    if t is float:
        return x if x == x else _NAN
    if t is tuple:
        return _convert_seq(_TUPLE, x)
    if t is list:
        return _convert_seq(_LIST, x)
    if t is dict:
        return _convert_dict(x)
    if t is set or t is frozenset:
        return _convert_set(x)
    return _convert_other(x, t)


def _convert_seq(tag: _Tag, seq: Any) -> tuple:
    items = tuple(seq)
    out = [tag]
    i = 0
    try:
        for i, item in enumerate(items):  # noqa: B007 -- i names the item in the error
            out.append(_convert(item))
    except _Unkeyable as exc:
        exc.path.append(f"[{i}]")
        raise
    return tuple(out)


def _convert_dict(d: Any) -> tuple:
    pairs = []
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
    return (_DICT, frozenset(pairs))


def _convert_set(s: Any) -> tuple:
    out = []
    for item in tuple(s):
        try:
            out.append(_convert(item))
        except _Unkeyable as exc:
            exc.path.append(f"<member {_short_repr(item)}>")
            raise
    return (_SET, frozenset(out))


def _convert_other(x: Any, t: type) -> Any:
    meth = getattr(t, "cache_key", None)
    if meth is not None and callable(meth):
        result = x.cache_key()
        if result is not x:
            try:
                return _convert(result)
            except _Unkeyable as exc:
                exc.path.append(".cache_key()")
                raise
    if isinstance(x, np.ndarray):
        return _array_key(x)
    if isinstance(x, np.generic):
        if x.dtype.kind in "fcmM" and x != x:
            return _nan_key(x)
    else:
        pd = sys.modules.get("pandas")
        if pd is not None:
            found, key = _pandas_key(pd, x)
            if found:
                return key
        if isinstance(x, tuple):
            return _convert_seq(_TUPLE, x)
        if isinstance(x, list):
            return _convert_seq(_LIST, x)
        if isinstance(x, dict):
            return _convert_dict(x)
        if isinstance(x, (set, frozenset)):
            return _convert_set(x)
        if isinstance(x, bytearray):
            return bytes(x)
        if isinstance(x, (float, complex)) and x != x:
            return _nan_key(x)
        if t is _Tag:
            return (_TAG, x._name)
    try:
        hash(x)
    except TypeError as exc:
        raise _Unkeyable(x, exc) from None
    return x


def _nan_key(x: Any) -> Any:
    """Canonical key of a NaN float/complex (numpy or builtin) or a NaT."""
    if isinstance(x, (complex, np.complexfloating)):
        return (_COMPLEX, _convert(float(x.real)), _convert(float(x.imag)))
    if isinstance(x, (np.datetime64, np.timedelta64)):
        return (_NAT, x.dtype.str)
    return _NAN


def _dtype_key(dt: np.dtype) -> str:
    return dt.str if dt.names is None else str(dt)


def _array_key(a: np.ndarray) -> tuple:
    dt = a.dtype
    if dt.hasobject or dt.kind == "T":
        body = _convert(a.tolist())
    else:
        body = digest(a)
    return (_ARRAY, a.shape, _dtype_key(dt), body)


# ---- pandas (never imported here: only used once the caller has imported it)


def _pandas_key(pd: Any, x: Any) -> tuple[bool, Any]:
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
        return True, (_EXTARRAY, str(x.dtype), len(x), digest(pd.util.hash_array(x)))
    return False, None


def _with_path(component: str, func: Any, *args: Any) -> Any:
    try:
        return func(*args)
    except _Unkeyable as exc:
        exc.path.append(component)
        raise


def _values_key(pd: Any, obj: Any) -> Any:
    """Key of the values of a Series or an Index."""
    dt = obj.dtype
    if isinstance(dt, np.dtype):
        if dt.hasobject:
            return _with_path(".values", _convert, obj.tolist())
        return digest(obj.to_numpy())
    return digest(pd.util.hash_array(obj.array))


def _index_key(pd: Any, idx: Any) -> tuple:
    return (
        _INDEX,
        _with_path(".names", _convert, tuple(idx.names)),
        str(idx.dtype),
        _values_key(pd, idx),
    )


def _series_key(pd: Any, s: Any) -> tuple:
    return (
        _SERIES,
        _with_path(".name", _convert, s.name),
        str(s.dtype),
        _values_key(pd, s),
        _with_path(".index", _index_key, pd, s.index),
    )


def _frame_key(pd: Any, df: Any) -> tuple:
    values = []
    for label, column in df.items():
        values.append(_with_path(f"[{_short_repr(label)}]", _values_key, pd, column))
    return (
        _FRAME,
        _with_path(".columns", _index_key, pd, df.columns),
        tuple(str(dt) for dt in df.dtypes),
        tuple(values),
        _with_path(".index", _index_key, pd, df.index),
    )


# ---- entry point


def generate_key(args: Any, kwargs: Any = None, include_self: bool = True) -> tuple:
    """Hashable key of a call's ``args`` (a sequence) and ``kwargs`` (a mapping).

    Equal arguments give equal keys; keyword order does not matter.  With
    ``include_self=False`` the first positional argument is left out.  An
    argument that cannot be keyed raises ``TypeError`` naming it.
    """
    args = tuple(args)
    start = 1 if (not include_self and args) else 0
    # Snapshot the keyword items first: converting an argument may run user
    # code (cache_key, __hash__), which must not change what gets keyed.
    if kwargs is None:
        items = []
    else:
        items = list((kwargs if type(kwargs) is dict else dict(kwargs)).items())
        if all(type(name) is str for name, _ in items):
            items.sort(key=itemgetter(0))
        else:
            items.sort(key=lambda item: _name_order(item[0]))
    key: list[Any] = []
    for i in range(start, len(args)):
        try:
            key.append(_convert(args[i]))
        except _Unkeyable as exc:
            raise _unkeyable_error(exc, f"args[{i}]") from exc.cause
    if not items:
        return tuple(key)
    key.append(_KWARGS)
    for name, value in items:
        try:
            converted_value = _convert(value)
            key.append(_convert(name))
        except _Unkeyable as exc:
            raise _unkeyable_error(exc, f"kwargs[{_short_repr(name)}]") from exc.cause
        key.append(converted_value)
    return tuple(key)
