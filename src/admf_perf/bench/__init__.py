"""Benchmark harness: scenarios of this toolkit beside their anchors.

``admf-perf bench`` (see :mod:`admf_perf.cli`) and the pytest-benchmark suites
in ``benches/`` share these definitions:

- :mod:`.scenario`: :class:`Scenario` (the timed loop, ours, the anchors, the
  gate) and the registry (:func:`scenarios`); scenario modules are listed in
  :data:`SCENARIO_MODULES` (:mod:`.floors`, :mod:`.caching`, ...).
- :mod:`.timing`: interleaved minimum-time measurement.
- :mod:`.runner`: measure scenarios, with retries.
- :mod:`.report`: verdicts (ratio ours / reference anchor against the gate),
  the table, the JSON record.

Gates compare ratios measured in one process, never absolute times, so they
hold on any machine.
"""
from __future__ import annotations

from admf_perf.bench.scenario import (
    FLOOR_GROUP,
    SCENARIO_MODULES,
    Gate,
    Impl,
    Scenario,
    Timed,
    Unavailable,
    register,
    scenarios,
)

__all__ = [
    "FLOOR_GROUP",
    "SCENARIO_MODULES",
    "Gate",
    "Impl",
    "Scenario",
    "Timed",
    "Unavailable",
    "register",
    "scenarios",
]
