"""Fuzzed scenarios: every input is either refused in one line or runs a few steps correctly."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seoulfall import Scenario
from seoulfall.engine import kernels as K
from seoulfall.scenario import ScenarioError
from seoulfall.simulation import Simulation

WEIRD = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.lists(st.integers(-5, 400), max_size=3),
    st.sampled_from(["Mapo-gu", "Atlantis", "all", "hybrid", "immune", "가나다", "", "1e400"]),
)
KEYS = [
    "zombie.bite_rate",
    "zombie.evolve_per_bite_per_day",
    "human.kill_rate",
    "human.shelter_probability",
    "human.strength_sigma",
    "hybrid.self_control",
    "hybrid.hunger_hours",
    "infection.wound_probability",
    "infection.hybrid_probability",
    "noise.fight_radius_m",
    "outbreak.zombies",
    "outbreak.cell",
    "time.dt_min",
    "world.size",
    "population.agents",
    "unknown.key",
]
EVENT = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "quarantine",
                "close_bridges",
                "sound_lure",
                "airstrike",
                "deploy_soldiers",
                "evacuate",
                "party",
            ]
        )
    },  # fmt: skip
    optional={
        "at_min": st.one_of(st.floats(-10, 30), st.integers(-3, 30)),
        "day": st.floats(0, 0.02),
        "trigger": st.sampled_from(["first_zombie_in", "first_zombie_north", "never"]),
        "cell": st.lists(st.integers(-2, 40), min_size=1, max_size=3),
        "district": st.sampled_from(["0", "Mapo-gu", "lattice"]),
        "districts": st.lists(st.sampled_from(["0", "lattice", "x"]), max_size=2),
        "kill_probability": st.floats(-1, 2),
        "count": st.integers(-5, 50),
        "loudness": st.floats(-1, 100),
        "radius_m": st.floats(-100, 5000),
        "lure": st.sampled_from(["a", "b"]),
        "name": st.sampled_from(["a", "b"]),
        "path": st.lists(st.lists(st.integers(-1, 40), min_size=2, max_size=2), max_size=2),
    },
)
GOOD_SET = st.one_of(
    st.tuples(st.sampled_from(["zombie.bite_rate", "human.kill_rate"]), st.floats(0, 5)),
    st.tuples(
        st.sampled_from(
            ["human.shelter_probability", "infection.hybrid_probability", "hybrid.self_control",
             "infection.wound_probability", "hybrid.carrier_fraction"]
        ),
        st.floats(0, 1),
    ),
    st.tuples(st.just("hybrid.hunger_hours"), st.floats(0, 1)),
    st.tuples(st.just("outbreak.zombies"), st.integers(0, 40)),
)  # fmt: skip
DISTRICTS = ["Jungang-dong", "Buk-dong", "Nam-dong", "Seobuk-dong"]
GOOD_EVENT = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("airstrike"), "at_min": st.floats(0, 5),
         "kill_probability": st.floats(0, 1)},
        optional={"cell": st.lists(st.integers(5, 25), min_size=2, max_size=2),
                  "place": st.sampled_from(["Downtown", "Hyosan High School"])},
    ),
    st.fixed_dictionaries(
        {"type": st.just("quarantine"), "at_min": st.floats(0, 5),
         "districts": st.lists(st.sampled_from(DISTRICTS), min_size=1, max_size=2)},
        optional={"kill_probability": st.floats(0, 1)},
    ),
    st.fixed_dictionaries(
        {"type": st.just("evacuate"), "at_min": st.floats(0, 5),
         "districts": st.lists(st.sampled_from(DISTRICTS), min_size=1, max_size=2),
         "place": st.sampled_from(["South Checkpoint", "Downtown"])},
        optional={"remove": st.booleans()},
    ),
    st.fixed_dictionaries(
        {"type": st.just("deploy_soldiers"), "at_min": st.floats(0, 5),
         "district": st.sampled_from(DISTRICTS), "count": st.integers(1, 3000)},
    ),
    st.fixed_dictionaries(
        {"type": st.just("sound_lure"), "at_min": st.floats(0, 5), "place": st.just("Downtown"),
         "name": st.just("a"), "duration_min": st.floats(1, 30)},
        optional={"path": st.lists(st.lists(st.integers(20, 30), min_size=2, max_size=2),
                                   max_size=2)},
    ),
    st.fixed_dictionaries(
        {"type": st.just("close_bridges"),
         "trigger": st.sampled_from(["first_zombie_in", "first_zombie_north",
                                     "first_zombie_south"]),
         "trigger_district": st.sampled_from(DISTRICTS)},
    ),
)  # fmt: skip
CAST = st.fixed_dictionaries(
    {"name": st.text(min_size=0, max_size=5)},
    optional={
        "cell": st.lists(st.integers(-1, 40), min_size=2, max_size=2),
        "state": st.sampled_from(["human", "hybrid", "zombie", "ghost"]),
        "kind": st.sampled_from(["immune", "carrier", "x"]),
        "strength": st.floats(0, 6),
        "self_control": st.floats(-0.5, 1.5),
    },
)


def base(world):
    if world == "hyosan":
        return {
            "world": {"map": "hyosan"},
            "population": {"scale": 0.01},
            "time": {"days": 0.01, "dt_min": 1.0},
            "outbreak": {"zombies": 20, "cell": [14, 21]},
        }
    if world == "lattice":
        return {
            "world": {"map": "lattice", "size": 30},
            "population": {"agents": 900},
            "time": {"days": 0.01, "dt_min": 1.0},
            "outbreak": {"zombies": 30},
        }
    return {
        "world": {"map": "well-mixed"},
        "population": {"agents": 300},
        "time": {"days": 0.005, "dt_min": 0.5},
        "outbreak": {"zombies": 5},
    }


def check(raw, overrides):
    """Refused with a one-line ScenarioError, or runs its steps keeping every invariant."""
    try:
        sc = Scenario.from_dict(raw, overrides)
        sim = Simulation(sc, seed=1)
    except ScenarioError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and "Traceback" not in msg
        return "refused"
    steps = min(sc.steps, 20)
    n = sim.agents.n
    book = sim.playbook
    for step in range(steps):
        book.fire_due(step)
        sim.advance(step, 1)
        tally = sim.tally().sum(axis=0)
        assert tally.sum() == n and (tally >= 0).all()
        on = sim.agents.cell >= 0
        assert sim.world.passable.ravel()[sim.agents.cell[on]].all()
        assert np.isfinite(sim.agents.timer).all()
        assert (sim.agents.states()[~on] >= K.DEAD).all()
    return "ran"


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    world=st.sampled_from(["well-mixed", "lattice", "hyosan", "hyosan"]),
    sets=st.one_of(
        st.lists(GOOD_SET, max_size=3),
        st.lists(st.one_of(GOOD_SET, st.tuples(st.sampled_from(KEYS), WEIRD)), max_size=3),
    ),
    events=st.one_of(st.lists(GOOD_EVENT, max_size=4), st.lists(EVENT, max_size=3)),
    cast=st.one_of(st.just([]), st.lists(CAST, max_size=2)),
    drop=st.sampled_from([None, None, None, "world", "time", "population"]),
)
def test_fuzzed_scenarios_are_refused_in_one_line_or_run(world, sets, events, cast, drop):
    raw = base(world)
    if drop:
        raw.pop(drop)
    raw["events"] = events
    raw["cast"] = cast
    overrides = {}
    for key, value in sets:
        if isinstance(value, float) and not math.isfinite(value) and key == "unknown.key":
            continue
        overrides[key] = value
    check(raw, overrides)


def test_the_fuzzer_reaches_both_outcomes():
    assert check(base("lattice"), {}) == "ran"
    assert check(base("lattice"), {"zombie.bite_rate": float("nan")}) == "refused"
    ev = {"type": "airstrike", "at_min": 1, "cell": [5, 5], "kill_probability": 1.0}
    assert check({**base("lattice"), "events": [ev]}, {}) == "ran"
