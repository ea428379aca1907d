"""A universe in one call: ``IndicatorBank``, one indicator per symbol.

``IndicatorBank(cls, n_symbols, *, nan_policy="raise", **params)`` holds
``cls(**params)``'s state for each of ``n_symbols`` symbols and moves them
all in one call, without the GIL, with the class's own kernels (so each
symbol's outputs are the single indicator's, bit for bit)::

    bank = IndicatorBank(RSI, 500, period=14)
    for bar in closes:                      # closes: (n_bars, 500)
        rsi = bank.update(bar)              # (500,): NaN where not ready

    rsi = IndicatorBank(RSI, 500).batch(closes, threads=2)   # (n_bars, 500)

- ``update(*rows)``: one 1-D row of ``n_symbols`` values per input of
  ``cls`` (``close``; ``high, low, close``; ``close, volume``; ...). Returns
  a new float64 array ``(n_symbols,)``, or ``(n_symbols, n_outputs)`` with
  the outputs in the class's order.
- ``batch(*panels, threads=1)``: ``(n_bars, n_symbols)`` panels; returns
  ``(n_bars, n_symbols)`` or ``(n_bars, n_symbols, n_outputs)`` and leaves
  the state as after those bars. A wide DataFrame (bars x symbols) in gives a
  DataFrame out with the same index and columns (columns ``(output,
  symbol)`` for several outputs). ``threads=N`` splits the symbols across N
  native threads. All or nothing: on an error no symbol's state changes.
- Any float dtype, C or Fortran order, strided views: converted to float64
  as needed (a float64 array is read in place, whatever its strides).
- ``nan_policy="raise"`` (default): a non-finite input is a ValueError
  naming the symbol's index (and the bar, in ``batch``).
  ``nan_policy="skip"``: a NaN in any input of a symbol is a missing bar
  for that symbol: its state does not change and its output is its last
  value (NaN while not ready). An infinite input is an error either way.
- ``ready`` (a new bool array), ``n_symbols``, ``len(bank)``, ``bank[i]``
  (a copy of symbol i's indicator, negative indices too), ``reset()``,
  ``copy()``, pickling (each symbol's state as the indicator pickles it, so
  a bank pickled by the compiled module loads into the pure-Python twin's
  and back).
- A bank is for one thread at a time: while a ``batch`` runs (without the
  GIL), any other call on the bank raises RuntimeError.
- ``source=`` (composition) is not supported: bank the source's class, and
  feed its outputs to a second bank.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _ext
from .._validate import check_int

if TYPE_CHECKING:  # the stub describes both implementations
    from .._ext import _indicators as _ind
else:
    _ind = _ext.load("_indicators")

__all__ = ["IndicatorBank"]

#: The outputs' names of the multi-output classes (DataFrame columns).
OUTPUT_NAMES = {
    "MACD": ("macd", "signal", "hist"),
    "BollingerBands": ("upper", "middle", "lower"),
    "Stochastic": ("slowk", "slowd"),
    "Aroon": ("down", "up"),
}

_POLICIES = ("raise", "skip")


def _classes() -> tuple[type, ...]:
    return tuple(getattr(_ind, name) for name in _ind.__all__)


class IndicatorBank:
    """One ``cls(**params)`` per symbol, updated in one call (module docs)."""

    __slots__ = ("_cls", "_params", "_policy", "_core", "_name", "_n", "_nin", "_innames")

    def __init__(self, cls: type, n_symbols: int, *, nan_policy: str = "raise", **params: Any) -> None:
        if not isinstance(cls, type) or cls not in _classes():
            names = ", ".join(_ind.__all__)
            raise TypeError(f"cls must be one of admf_perf's indicator classes ({names}), got {cls!r}")
        n = check_int(n_symbols, "n_symbols", minimum=1)
        if nan_policy not in _POLICIES:
            raise ValueError(f"nan_policy must be 'raise' or 'skip', got {nan_policy!r}")
        if params.get("source") is not None:
            raise TypeError(f"IndicatorBank: {cls.__name__} with a source= is not supported (bank the "
                            "source's class, then feed its outputs to a second bank)")
        params.pop("source", None)
        proto = cls(**params)
        self._cls = cls
        self._params = params
        self._policy = nan_policy
        self._name = f"IndicatorBank({cls.__name__})"
        self._core = _ind.BankCore(proto, n, nan_policy == "skip")
        self._n = n
        self._nin = self._core.n_inputs
        self._innames = tuple(proto._input_names())     # the inputs' names, for messages

    # -- one bar ---------------------------------------------------------------------

    def update(self, *rows: Any) -> np.ndarray:
        """One bar for every symbol: one row of ``n_symbols`` values per input."""
        out = self._core.update(rows)      # float64 C rows of n_symbols: straight in
        if out is not NotImplemented:
            return out
        if len(rows) != self._nin:
            self._arity("update", len(rows))
        return self._core.update(tuple(self._row(k, row) for k, row in enumerate(rows)))

    def _row(self, k: int, row: Any) -> np.ndarray:
        name = self._input_names()[k]
        try:
            a = np.ascontiguousarray(np.asarray(row, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{self._name}.update: input {name!r} must be an array of real numbers "
                            f"({exc})") from None
        if a.shape != (self._n,):
            raise ValueError(f"{self._name}.update: input {name!r} must have shape "
                             f"({self._n},) (one value per symbol), got {a.shape}")
        return a

    # -- many bars -------------------------------------------------------------------

    def batch(self, *panels: Any, threads: int = 1) -> Any:
        """``update`` over every bar of ``(n_bars, n_symbols)`` panels."""
        core = self._core
        threads = check_int(threads, "threads", minimum=1)
        if len(panels) != self._nin:
            self._arity("batch", len(panels))
        frame = next((p for p in panels if _is_frame(p)), None)
        arrs = []
        for name, panel in zip(self._input_names(), panels, strict=True):
            try:
                a = np.asarray(panel, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{self._name}.batch: input {name!r} must be an array of real numbers "
                                f"({exc})") from None
            if a.ndim != 2 or a.shape[1] != self._n:
                raise ValueError(f"{self._name}.batch: input {name!r} must have shape (n_bars, "
                                 f"{self._n}), got {a.shape}")
            if not a.flags.aligned or a.strides[0] % 8 or a.strides[1] % 8:
                a = np.ascontiguousarray(a)
            arrs.append(a)
        if len({a.shape[0] for a in arrs}) > 1:
            raise ValueError(f"{self._name}.batch: panels of different lengths "
                             f"({', '.join(str(a.shape[0]) for a in arrs)})")
        out = core.batch(arrs, threads)
        if frame is not None:
            return self._frame(out, frame)
        return out

    def _frame(self, out: np.ndarray, frame: Any) -> Any:
        import pandas as pd

        if out.ndim == 2:
            return pd.DataFrame(out, index=frame.index, columns=frame.columns)
        names = OUTPUT_NAMES[self._cls.__name__]
        cols = pd.MultiIndex.from_product([names, frame.columns], names=["output", frame.columns.name])
        wide = out.transpose(0, 2, 1).reshape(out.shape[0], -1)
        return pd.DataFrame(wide, index=frame.index, columns=cols)

    # -- state -----------------------------------------------------------------------

    @property
    def ready(self) -> np.ndarray:
        """A new bool array: True where the symbol's output is no longer NaN."""
        return self._core.ready()

    @property
    def n_symbols(self) -> int:
        return self._n

    @property
    def nan_policy(self) -> str:
        return self._policy

    @property
    def indicator(self) -> type:
        """The class of every symbol's indicator."""
        return self._cls

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> Any:
        """A copy of symbol ``i``'s indicator (its state now)."""
        n = self._n
        j = check_int(i, "i")
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError(f"{self._name}: symbol index {i} out of range for {n} symbols")
        return self._core.get(j)

    def reset(self) -> None:
        """Every symbol back to the freshly constructed state."""
        self._core.reset()

    def copy(self) -> IndicatorBank:
        """An independent bank with the same states."""
        other = IndicatorBank.__new__(IndicatorBank)
        other._cls, other._params, other._policy, other._name = (
            self._cls, dict(self._params), self._policy, self._name)
        other._core = self._core.copy()
        other._n, other._nin, other._innames = self._n, self._nin, self._innames
        return other

    def __copy__(self) -> IndicatorBank:
        return self.copy()

    def __deepcopy__(self, memo: dict) -> IndicatorBank:
        return self.copy()

    def __reduce__(self) -> tuple:
        states = [self._core.get(j).__getstate__() for j in range(self._n)]
        return (_rebuild, (self._cls.__name__, self._n, self._policy, self._params, states))

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self._params.items())
        return f"IndicatorBank({self._cls.__name__}, {self._n}, nan_policy={self._policy!r}{args})"

    # -- messages ------------------------------------------------------------------------

    def _input_names(self) -> tuple[str, ...]:
        return self._innames

    def _arity(self, method: str, got: int) -> None:
        names = self._input_names()
        raise TypeError(f"{self._name}.{method}() takes {len(names)} input{'s' if len(names) != 1 else ''} "
                        f"({', '.join(names)}), got {got}")


def _is_frame(x: Any) -> bool:
    return type(x).__name__ == "DataFrame" and hasattr(x, "columns") and hasattr(x, "index")


def _rebuild(cls_name: str, n: int, policy: str, params: dict, states: list) -> IndicatorBank:
    """Unpickle into the implementation in use (each symbol's state as its
    indicator pickles it: the same numbers in both)."""
    from admf_perf._ext._indicator_state import upgrade

    cls = getattr(_ind, cls_name)
    bank = IndicatorBank(cls, n, nan_policy=policy, **params)
    for j, state in enumerate(states):
        ind = cls(**params)
        ind.__setstate__(upgrade(state, cls_name))
        bank._core.put(j, ind)
    return bank
