"""Argument checks shared by the public modules (errors name the parameter)."""
from __future__ import annotations

from typing import Any

_INF = float("inf")


def finite_real(value: Any, name: str) -> float:
    """``value`` as a finite float; ``TypeError``/``ValueError`` naming ``name``.

    Accepts int, float and anything with ``__float__`` (numpy scalars,
    Decimal, Fraction); refuses bool.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got bool")
    if not isinstance(value, (int, float)):
        try:
            value = value.__float__()
        except AttributeError:
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from None
    value = float(value)
    if not -_INF < value < _INF:
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def positive_int(value: Any, name: str) -> int:
    """``value`` if it is an int >= 1 (not bool); else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    return value
