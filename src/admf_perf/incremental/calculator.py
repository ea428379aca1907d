"""Incremental calculation: update a result with new data instead of recomputing it.

``IncrementalCalculator`` is the base: ``calculate(*args, **kwargs)`` asks the
subclass whether the previous result can be extended
(``_can_update_incrementally``); if so it calls ``_update_incrementally``,
otherwise ``_calculate_full``. ``MovingAverageCalculator`` is the worked
example: a moving average over a growing price series, extended by the new
bars only, on the compiled ``SMA``.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .._validate import check_str, positive_int
from ..caching.registry import CacheManager
from .indicators import SMA

__all__ = ["IncrementalCalculator", "MovingAverageCalculator"]

_names = itertools.count(1)


class IncrementalCalculator:
    """Base class of calculations that can extend their last result.

    Subclasses implement the three hooks; ``calculate`` chooses between them
    and counts how often each path ran (``stats()``). Calculators register
    with the ``CacheManager`` (``clear_all`` resets them).
    """

    def __init__(self, name: str | None = None) -> None:
        check_str(name, "name", allow_none=True)
        self.name = name if name is not None else f"{type(self).__name__.lower()}-{next(_names)}"
        self._result: Any = None
        self._has_result = False
        self.full_calculations = 0
        self.incremental_updates = 0
        CacheManager.get_instance().register(self)

    def calculate(self, *args: Any, **kwargs: Any) -> Any:
        """The result for these inputs, extending the previous one when possible."""
        if self._has_result and self._can_update_incrementally(*args, **kwargs):
            result = self._update_incrementally(*args, **kwargs)
            self.incremental_updates += 1
        else:
            result = self._calculate_full(*args, **kwargs)
            self.full_calculations += 1
        self._result = result
        self._has_result = True
        return result

    @property
    def result(self) -> Any:
        """The last result (None before the first ``calculate``)."""
        return self._result

    def reset(self) -> None:
        """Forget the previous result: the next ``calculate`` is a full one."""
        self._result = None
        self._has_result = False

    def stats(self) -> dict[str, int]:
        return {"full_calculations": self.full_calculations,
                "incremental_updates": self.incremental_updates}

    # -- hooks -------------------------------------------------------------------
    def _can_update_incrementally(self, *args: Any, **kwargs: Any) -> bool:
        """True when the previous result can be extended to these inputs."""
        raise NotImplementedError

    def _update_incrementally(self, *args: Any, **kwargs: Any) -> Any:
        """Extend the previous result (``self._result``) to these inputs."""
        raise NotImplementedError

    def _calculate_full(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the result from scratch."""
        raise NotImplementedError


class MovingAverageCalculator(IncrementalCalculator):
    """Simple moving average of a growing price series.

    ``calculate(prices)`` returns a float64 array as long as ``prices`` (NaN
    during the first ``window - 1`` bars, as TA-Lib). When ``prices`` extends
    the series of the previous call (same length or longer, same last seen
    value at the same position), only the new bars are processed: O(new bars).
    Any other series is computed in full.
    """

    def __init__(self, window: int, name: str | None = None) -> None:
        self.window = positive_int(window, "window")
        self._sma = SMA(self.window)
        self._buffer = np.empty(0)
        self._seen = 0                   # bars consumed
        self._last = np.nan              # the last bar consumed
        super().__init__(name)

    def _can_update_incrementally(self, prices: Any) -> bool:
        n = self._seen
        return n > 0 and len(prices) >= n and float(prices[n - 1]) == self._last

    def _update_incrementally(self, prices: Any) -> np.ndarray:
        new = np.asarray(prices[self._seen:], dtype=np.float64)
        return self._extend(new)

    def _calculate_full(self, prices: Any) -> np.ndarray:
        self._sma.reset()
        self._seen = 0
        self._buffer = np.empty(0)       # results handed out before stay as they were
        return self._extend(np.asarray(prices, dtype=np.float64))

    def _extend(self, new: np.ndarray) -> np.ndarray:
        total = self._seen + len(new)
        if total > len(self._buffer):   # amortized O(1) growth
            grown = np.empty(max(total, 2 * len(self._buffer), 64))
            grown[:self._seen] = self._buffer[:self._seen]
            self._buffer = grown
        if len(new):
            self._buffer[self._seen:total] = self._sma.batch(new)
            self._last = float(new[-1])
        self._seen = total
        view = self._buffer[:total]
        view.flags.writeable = False     # the next call extends this buffer
        return view

    def reset(self) -> None:
        super().reset()
        self._sma.reset()
        self._seen = 0
        self._last = np.nan
