"""Cache-key construction and hashing (compiled; twin: ``_keys_py``).

``generate_key`` turns a call's arguments into a hashable tuple
``(converted args..., <kwargs mark>, name1, value1, ...)`` with keyword
arguments sorted by name; containers, numpy arrays, pandas objects and objects
with a ``cache_key()`` method are converted to hashable stand-ins.  ``digest``
is a fast non-cryptographic 128-bit hash of a buffer's bytes in C order.
"""
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["digest", "generate_key"]

def generate_key(
    args: Iterable[Any],
    kwargs: Mapping[Any, Any] | Iterable[tuple[Any, Any]] | None = None,
    include_self: bool = True,
) -> tuple[Any, ...]:
    """Hashable key of a call's ``args`` and ``kwargs``.

    Equal arguments give equal keys; keyword order does not matter.  With
    ``include_self=False`` the first positional argument is left out.  An
    argument that cannot be keyed raises ``TypeError`` naming it
    (``args[2]``, ``kwargs['x']``) and its type.
    """

def digest(obj: Any) -> bytes:
    """16-byte non-cryptographic hash of the bytes of ``obj`` in C order.

    ``obj`` is ``bytes``, a numpy array (any layout; object arrays refused) or
    any other object exporting a buffer.  Equal to ``_keys_py.digest``.
    """
