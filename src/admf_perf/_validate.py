"""Argument checks of every public entry point: one convention.

- A value of the wrong type raises ``TypeError``; a value of the right type
  that is out of range or not one of the accepted values raises
  ``ValueError``.
- The message names the parameter and what it accepts, then what it got:
  ``"max_workers must be an int >= 1 or None, got 0"`` (the value for a
  ``ValueError``, the type for a ``TypeError``).
- Integers: ``int`` and any ``numbers.Integral`` (numpy integers), never
  ``bool``; reals: any ``numbers.Real`` (and anything with ``__float__``
  for :func:`finite_real`), never ``bool``.  NaN is out of every range.

Each check returns the value normalized (``int``, ``float``, ``str``), so
callers write ``n = check_int(n, "n", minimum=1)``.
"""
from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from typing import Any

__all__ = [
    "check_bool",
    "check_callable",
    "check_choice",
    "check_int",
    "check_path",
    "check_real",
    "check_str",
    "finite_real",
    "positive_int",
]


def _accepts(what: str, allow_none: bool) -> str:
    return what + (" or None" if allow_none else "")


def _type_error(name: str, accepts: str, value: Any) -> TypeError:
    return TypeError(f"{name} must be {accepts}, got {type(value).__name__}")


def _value_error(name: str, accepts: str, value: Any) -> ValueError:
    return ValueError(f"{name} must be {accepts}, got {value!r}")


def _range_text(kind: str, minimum: float | None, maximum: float | None, open_minimum: bool = False) -> str:
    if minimum is not None and maximum is not None:
        return f"{kind} in {'(' if open_minimum else '['}{minimum}, {maximum}]"
    if minimum is not None:
        return f"{kind} {'>' if open_minimum else '>='} {minimum}"
    if maximum is not None:
        return f"{kind} <= {maximum}"
    return kind


def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None,
              allow_none: bool = False) -> Any:
    """``value`` as an ``int`` in ``[minimum, maximum]`` (or None when allowed)."""
    accepts = _accepts(_range_text("an int", minimum, maximum), allow_none)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _type_error(name, accepts, value)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _value_error(name, accepts, value)
    return value


def positive_int(value: Any, name: str) -> int:
    """``value`` as an ``int >= 1``."""
    result: int = check_int(value, name, minimum=1)
    return result


def check_real(value: Any, name: str, *, minimum: float | None = None, maximum: float | None = None,
               open_minimum: bool = False, allow_none: bool = False, what: str = "a number") -> Any:
    """``value`` as a finite ``float`` in the range (``open_minimum``: strictly
    above ``minimum``), or None when allowed."""
    accepts = _accepts(_range_text(what, minimum, maximum, open_minimum), allow_none)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _type_error(name, accepts, value)
    x = float(value)
    if not math.isfinite(x) or (minimum is not None and (x <= minimum if open_minimum else x < minimum)) or (
            maximum is not None and x > maximum):
        finite = math.isfinite(x) or "finite" in accepts
        raise _value_error(name, accepts if finite else "finite and " + accepts, value)
    return x


def finite_real(value: Any, name: str) -> float:
    """``value`` as a finite float: int, float and anything with
    ``__float__`` (numpy scalars, Decimal, Fraction); never bool."""
    if isinstance(value, bool):
        raise _type_error(name, "a real number", value)
    if not isinstance(value, (int, float)):
        try:
            value = value.__float__()
        except AttributeError:
            raise _type_error(name, "a real number", value) from None
    x = float(value)
    if not math.isfinite(x):
        raise _value_error(name, "a finite real number", x)
    return x


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is ``True`` or ``False`` (not an int, not a numpy bool)."""
    if not isinstance(value, bool):
        raise _type_error(name, "a bool", value)
    return value


def check_str(value: Any, name: str, *, allow_none: bool = False, nonempty: bool = False) -> Any:
    """``value`` as a ``str`` (non-empty when asked), or None when allowed."""
    accepts = _accepts("a non-empty str" if nonempty else "a str", allow_none)
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise _type_error(name, accepts, value)
    if nonempty and not value:
        raise _value_error(name, accepts, value)
    return value


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices`` (a ``ValueError`` lists them;
    a value of another type than every choice is a ``TypeError``)."""
    options = list(choices)
    accepts = "one of " + ", ".join(repr(c) for c in options)
    if value in options:
        return value
    if options and not any(isinstance(value, type(c)) for c in options):
        raise _type_error(name, accepts, value)
    raise _value_error(name, accepts, value)


def check_callable(value: Any, name: str, *, allow_none: bool = False, what: str = "a callable") -> Any:
    """``value`` if it is callable (or None when allowed)."""
    if value is None and allow_none:
        return None
    if not callable(value):
        raise _type_error(name, _accepts(what, allow_none), value)
    return value


def check_path(value: Any, name: str = "path", *, allow_bytes: bool = False) -> Any:
    """``os.fspath(value)``: a ``str`` (or ``bytes`` when allowed) path."""
    accepts = "a str" + (", bytes" if allow_bytes else "") + " or os.PathLike path"
    try:
        path = os.fspath(value)
    except TypeError:
        raise _type_error(name, accepts, value) from None
    if isinstance(path, bytes) and not allow_bytes:
        raise _type_error(name, accepts, path)
    return path

