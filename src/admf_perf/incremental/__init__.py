"""Incremental calculation: O(1) per bar.

- :mod:`.indicators`: the compiled indicators, equal to TA-Lib's;
- :mod:`.bank`: ``IndicatorBank``, one indicator per symbol of a universe,
  updated in one call;
- :mod:`.calculator`: ``IncrementalCalculator`` (the hooks a calculator
  implements) and ``MovingAverageCalculator``;
- :mod:`.cached_indicators`: indicator series and strategy signals cached by
  bar and parameters;
- :mod:`.portfolio`: ``IncrementalPositionTracker`` and ``Position``;
- :mod:`.risk`: ``CachingRiskCalculator``.

Semantics: docs/indicators.md (and docs/api.md).
"""
from __future__ import annotations

from .bank import IndicatorBank
from .cached_indicators import CachedIndicator, CachedMovingAverage, cached_indicator, cached_signal
from .calculator import IncrementalCalculator, MovingAverageCalculator
from .indicators import (
    ADX,
    APO,
    ATR,
    CCI,
    CMO,
    DEMA,
    EMA,
    KAMA,
    MACD,
    MFI,
    NATR,
    OBV,
    PPO,
    ROC,
    RSI,
    SMA,
    T3,
    TEMA,
    TRIMA,
    VWAP,
    WMA,
    Aroon,
    BollingerBands,
    ChaikinOscillator,
    Momentum,
    ParabolicSAR,
    RollingMax,
    RollingMin,
    StdDev,
    Stochastic,
    StochRSI,
    TrueRange,
    UltimateOscillator,
    WilliamsR,
)
from .portfolio import IncrementalPositionTracker, Position
from .risk import CachingRiskCalculator

__all__ = [
    "ADX", "APO", "ATR", "CCI", "CMO", "MFI", "TRIMA", "Aroon", "ChaikinOscillator", "DEMA", "EMA", "KAMA", "MACD",
    "NATR", "OBV", "PPO", "ROC", "RSI", "SMA", "TEMA", "VWAP", "WMA", "BollingerBands", "CachedIndicator",
    "CachedMovingAverage", "CachingRiskCalculator", "IncrementalCalculator", "IncrementalPositionTracker",
    "IndicatorBank", "Momentum", "MovingAverageCalculator", "Position", "RollingMax", "RollingMin", "StdDev",
    "Stochastic", "StochRSI", "T3", "TrueRange",
    "UltimateOscillator", "WilliamsR", "ParabolicSAR", "cached_indicator", "cached_signal",
]
