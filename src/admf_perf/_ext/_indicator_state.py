"""Unpickling of indicators, whichever implementation wrote the pickle.

A pickled indicator is ``rebuild(class name, constructor arguments, state)``
where the state is plain numbers (``STATE_VERSION``, count, outputs, the
kernel's state as a dict, the ring as a list, the source): the compiled
module and its pure-Python twin write and read the same, so a pickle loads
into the implementation this process uses (``admf_perf._ext.load``).
"""
from __future__ import annotations

from typing import Any

__all__ = ["rebuild"]


def rebuild(name: str, args: tuple[Any, ...], state: tuple[Any, ...]) -> Any:
    from admf_perf._ext import load

    obj = getattr(load("_indicators"), name)(*args)
    obj.__setstate__(state)
    return obj
