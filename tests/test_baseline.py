"""Every bundled scenario's small pinned run is reproduced exactly (tests/baseline.py)."""

import json

import pytest
from baseline import PIN, RUNS, compute, first_difference


@pytest.fixture(scope="module")
def pinned():
    return json.loads(PIN.read_text(encoding="utf-8"))


def test_the_pin_covers_every_bundled_scenario(pinned):
    from seoulfall.scenario import bundled_scenarios

    assert set(pinned) == set(RUNS)
    assert {name.split("[")[0] for name in RUNS} == set(bundled_scenarios())


@pytest.mark.parametrize("name", list(RUNS))
def test_bundled_scenario_reproduces_its_pinned_run(name, pinned):
    diff = first_difference(pinned[name], compute(name))
    assert diff is None, f"{name} changed at {diff}; on purpose? python tests/baseline.py --update"


def test_first_difference_finds_a_changed_count():
    a = {"timeseries": {"human": [5, 4, 3]}, "fall_day": None}
    assert first_difference(a, json.loads(json.dumps(a))) is None
    b = json.loads(json.dumps(a))
    b["timeseries"]["human"][2] = 2
    assert first_difference(a, b) == ".timeseries.human[2]: 3 -> 2"
    assert first_difference({"x": 1}, {"x": 1.0}) == ".x: 1 -> 1.0"
