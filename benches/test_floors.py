"""Floors for context: an empty call and a dict hit in the same loop."""
import pytest

from admf_perf.bench import FLOOR_GROUP, scenarios

CASES = [pytest.param(s, impl, id=f"{s.slug}-{impl.name}")
         for s in scenarios(group=FLOOR_GROUP) for impl in s.implementations]


@pytest.mark.parametrize(("scenario", "impl"), CASES)
def test_floors(run_scenario, scenario, impl):
    run_scenario(scenario, impl)
