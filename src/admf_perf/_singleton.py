"""The process-wide instance behind ``get_instance()`` of the managers."""
from __future__ import annotations

import threading
from typing import Any, TypeVar

_T = TypeVar("_T", bound="Singleton")
_lock = threading.RLock()  # a constructor may ask for another manager


class Singleton:
    """``get_instance()`` returns one instance per class, created on first use."""

    _instance: Any = None

    @classmethod
    def get_instance(cls: type[_T]) -> _T:
        """The process-wide instance."""
        instance = cls.__dict__.get("_instance")
        if instance is None:
            with _lock:
                instance = cls.__dict__.get("_instance")
                if instance is None:
                    instance = cls()
                    cls._instance = instance
        return instance
