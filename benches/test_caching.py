"""Caching scenarios (``admf_perf.bench.caching``): every implementation."""
import pytest

from admf_perf.bench import scenarios

CASES = [pytest.param(s, impl, id=f"{s.slug}-{impl.name}")
         for s in scenarios(group="caching") for impl in s.implementations]


@pytest.mark.parametrize(("scenario", "impl"), CASES)
def test_caching(run_scenario, scenario, impl):
    run_scenario(scenario, impl)
