"""Every registered scenario (caching, indicators, risk, the floors), every
implementation, under pytest-benchmark; ``benchmark.group`` is the scenario.

Select with ``-k``: ``python -m pytest benches --benchmark-only -k indicators``.
"""
import pytest

from admf_perf.bench import scenarios

CASES = [pytest.param(s, impl, id=f"{s.group}-{s.slug}-{impl.name}")
         for s in scenarios() for impl in s.implementations]


@pytest.mark.parametrize(("scenario", "impl"), CASES)
def test_scenario(run_scenario, scenario, impl):
    run_scenario(scenario, impl)
