"""Hot paths: each a compiled Cython module and its pure-Python twin.

``load(name)`` returns ``admf_perf._ext.<name>`` (compiled) or
``admf_perf._ext.<name>_py`` (the twin, the readable specification).  The twin
is chosen when ``ADMF_PERF_NO_EXTENSIONS`` is set to a true value, or when the
compiled module cannot be imported; the latter warns once, so a broken build
never runs silently slow.  ``COMPILED`` records which one each name got.
"""
from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

__all__ = ["COMPILED", "NO_EXTENSIONS", "load"]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


#: True when ``ADMF_PERF_NO_EXTENSIONS`` asks for the pure-Python twins.
NO_EXTENSIONS: bool = _env_flag("ADMF_PERF_NO_EXTENSIONS")

#: Module name -> True when the compiled module is the one in use.
COMPILED: dict[str, bool] = {}

_warned = False


def load(name: str) -> ModuleType:
    """Import the hot-path module ``name`` (e.g. ``"_cache"``)."""
    global _warned
    if not NO_EXTENSIONS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ImportError as exc:
            if not _warned:
                _warned = True
                warnings.warn(
                    f"admf_perf: compiled module {name!r} is not available ({exc}); "
                    "using the pure-Python implementations, which are much slower. "
                    "Reinstall with `pip install .` to compile them, or set "
                    "ADMF_PERF_NO_EXTENSIONS=1 to silence this warning.",
                    RuntimeWarning,
                    stacklevel=3,
                )
        else:
            COMPILED[name] = True
            return module
    COMPILED[name] = False
    return importlib.import_module(f"{__name__}.{name}_py")
