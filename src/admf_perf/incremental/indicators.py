"""Incremental technical indicators: O(1) per bar, equal to TA-Lib's.

Thirty-four classes, each with TA-Lib 0.8's defaults and seeding (semantics:
docs/indicators.md; API: DESIGN.md, section "Incremental calculation"):

============================================  ==========================  ======================
class                                         ``update`` inputs           output
============================================  ==========================  ======================
``SMA``, ``EMA``, ``WMA``, ``DEMA``,          ``x``                       float
``TEMA``, ``KAMA`` ``(period=30)``
``RSI(period=14)``                            ``x``                       float
``MACD(fast=12, slow=26, signal=9)``          ``x``                       (macd, signal, hist)
``BollingerBands(20, 2.0, 2.0)``              ``x``                       (upper, middle, lower)
``StdDev(period=5, nbdev=1.0)``               ``x``                       float
``RollingMin``, ``RollingMax`` ``(30)``       ``x``                       float
``ROC``, ``Momentum`` ``(period=10)``         ``x``                       float
``ATR``, ``ADX`` ``(period=14)``              ``high, low, close``        float
``Stochastic(fastk=5, slowk=3, slowd=3)``     ``high, low, close``        (slowk, slowd)
``OBV()``                                     ``close, volume``           float
``VWAP()`` (``reset()`` starts a session)     ``price, volume``           float
``TrueRange()``                               ``high, low, close``        float
``NATR``, ``WilliamsR`` ``(period=14)``       ``high, low, close``        float
``CMO(period=14)``                            ``x``                       float
``APO``, ``PPO`` ``(fast=12, slow=26)``       ``x``                       float
``TRIMA(period=30)``                          ``x``                       float
``MFI(period=14)``                            ``high, low, close, volume``  float
``ChaikinOscillator(fast=3, slow=10)``        ``high, low, close, volume``  float
``Aroon(period=14)``                          ``high, low``               (down, up)
``CCI(period=14)``                            ``high, low, close``        float
``T3(period=5, vfactor=0.7)``                 ``x``                       float
``ParabolicSAR(acceleration=0.02,             ``high, low``               float
maximum=0.2)``
``StochRSI(period=14, fastk=5, fastd=3)``     ``x``                       (fastk, fastd)
``UltimateOscillator(7, 14, 28)``             ``high, low, close``        float
============================================  ==========================  ======================

Every indicator has ``update(*inputs)`` (NaN during warm-up, exactly where
TA-Lib's output is NaN), ``peek(*inputs)`` (the value if this bar closed now;
no state changes), ``value``, ``ready``, ``count``, ``reset()``, ``copy()``,
pickling mid-stream, and ``batch(*arrays)``, which equals ``update`` on each
element bit for bit and leaves the same state (warm up on history in batch,
then stream).  NaN or infinite input raises ``ValueError``.

Composition: a single-input indicator takes ``source=`` another
single-output indicator and is then fed the source's inputs::

    ema_of_rsi = EMA(10, source=RSI(14))
    ema_of_rsi.update(close)         # RSI's input; RSI's warm-up NaNs are skipped

The classes are compiled (``_ext/_indicators.pyx``); with
``ADMF_PERF_NO_EXTENSIONS=1`` (or without a build) the pure-Python twin
``_ext/_indicators_py.py`` is used, with the same names and behaviour.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _ext

if TYPE_CHECKING:  # the stub describes both implementations
    from .._ext import _indicators as _ind
else:
    _ind = _ext.load("_indicators")

__all__ = [
    "ADX",
    "ATR",
    "DEMA",
    "EMA",
    "KAMA",
    "MACD",
    "OBV",
    "ROC",
    "RSI",
    "SMA",
    "TEMA",
    "VWAP",
    "WMA",
    "BollingerBands",
    "Momentum",
    "RollingMax",
    "RollingMin",
    "StdDev",
    "Stochastic",
    "CMO",
    "NATR",
    "TrueRange",
    "WilliamsR",
    "APO",
    "PPO",
    "TRIMA",
    "MFI",
    "ChaikinOscillator",
    "Aroon",
    "CCI",
    "T3",
    "ParabolicSAR",
    "StochRSI",
    "UltimateOscillator",
]

SMA = _ind.SMA
EMA = _ind.EMA
WMA = _ind.WMA
DEMA = _ind.DEMA
TEMA = _ind.TEMA
KAMA = _ind.KAMA
RSI = _ind.RSI
MACD = _ind.MACD
BollingerBands = _ind.BollingerBands
StdDev = _ind.StdDev
RollingMin = _ind.RollingMin
RollingMax = _ind.RollingMax
ROC = _ind.ROC
Momentum = _ind.Momentum
ATR = _ind.ATR
ADX = _ind.ADX
Stochastic = _ind.Stochastic
OBV = _ind.OBV
VWAP = _ind.VWAP
TrueRange = _ind.TrueRange
NATR = _ind.NATR
WilliamsR = _ind.WilliamsR
CMO = _ind.CMO
APO = _ind.APO
PPO = _ind.PPO
TRIMA = _ind.TRIMA
MFI = _ind.MFI
ChaikinOscillator = _ind.ChaikinOscillator
Aroon = _ind.Aroon
CCI = _ind.CCI
T3 = _ind.T3
ParabolicSAR = _ind.ParabolicSAR
StochRSI = _ind.StochRSI
UltimateOscillator = _ind.UltimateOscillator
