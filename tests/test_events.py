"""The playbook: each event does what it says, fires when it should, and is recorded."""

import json

import numpy as np
import pytest
from baseline import STILL
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cli import run_cli

from seoulfall import Scenario, simulate
from seoulfall.engine import kernels as K
from seoulfall.scenario import ScenarioError
from seoulfall.simulation import Simulation


def seoul(events, **over):
    """Seoul at 1/500 scale, the default creatures and cast, only the given events."""
    base = {"population.scale": 0.002, "time.days": 1.0, "outbreak.zombies": 40}
    return Scenario.load("seoul-falls-no-response", {**base, **over}).override({"events": events})


def by_id(sim):
    order = np.argsort(sim.agents.aid)
    return sim.agents.cell[order].copy(), sim.agents.states()[order].copy()


def step_through(sim, steps):
    """Run step by step (events included), yielding the agents by id after each step."""
    book = sim.playbook
    for step in range(steps):
        book.fire_due(step)
        sim.advance(step, 1)
        yield step, by_id(sim)


def test_quarantine_lets_nobody_cross_the_cordon():
    sc = seoul([{"type": "quarantine", "at_min": 0, "districts": ["Gangnam-gu", "Seocho-gu"]}])
    sim = Simulation(sc, seed=1)
    world = sim.world
    d = world.district.ravel()
    inside = np.isin(d, [world.district_index("Gangnam"), world.district_index("Seocho")])
    cell0, _ = by_id(sim)
    # on the street, each agent's side; aboard the subway (cells past the map's) the side of
    # the station its car left, where a sealed cordon puts it back
    side0 = inside[sim.street[np.maximum(cell0, 0)]]
    moved = 0
    for _, (cell, _) in step_through(sim, 300):
        on_map = (cell >= 0) & (cell < d.size)  # on the street
        assert np.array_equal(inside[cell[on_map]], side0[on_map])
        moved = (cell != cell0).sum()
    assert moved > 1000  # people kept moving, within their side
    rec = sim.playbook.records[0]
    assert rec["type"] == "quarantine" and rec["t_min"] == 0 and rec["links_closed"] > 100


def test_closed_bridges_take_nobody_across():
    sc = seoul(
        [{"type": "close_bridges", "at_min": 0, "bridges": "all"}], **{"human.drift_mps": 0.5}
    )
    sim = Simulation(sc, seed=2)
    bridge = sim.world.bridge.ravel() >= 0
    cell0, _ = by_id(sim)
    assert not bridge[cell0].any()
    for _, (cell, _) in step_through(sim, 200):
        assert not bridge[cell[(cell >= 0) & (cell < bridge.size)]].any()  # on the street
    assert sim.playbook.records[0]["cells_closed"] == int(bridge.sum())


def test_named_bridges_close_only_their_cells():
    sc = seoul([{"type": "close_bridges", "at_min": 0, "bridges": ["Hannam Bridge"]}])
    sim = Simulation(sc, seed=2)
    sim.playbook.fire_due(0)
    w = sim.world
    closed = w.bridge.ravel() == w.bridge_names.index("Hannam Bridge")
    assert sim.playbook.records[0]["cells_closed"] == int(closed.sum()) > 0
    into = np.isin(sim.nbr, np.flatnonzero(closed))
    assert not into.any()
    other = (w.bridge.ravel() >= 0) & ~closed
    assert np.isin(sim.nbr, np.flatnonzero(other)).any()  # the other bridges stay open


def test_airstrike_kills_with_its_probability_inside_and_nobody_outside():
    sc = seoul(
        [{"type": "airstrike", "at_min": 60, "district": "Mapo-gu", "kill_probability": 0.7}],
        **{"outbreak.zombies": 0},
    )
    sim = Simulation(sc, seed=3)
    mapo = sim.world.district.ravel() == sim.world.district_index("Mapo")
    for _ in step_through(sim, 60):
        pass
    cell, before = by_id(sim)
    street = (cell >= 0) & (cell < mapo.size)  # aboard a train, underground: out of reach
    there = street & mapo[np.where(street, cell, 0)] & (before < K.NLIVING)
    sim.playbook.fire_due(60)
    _, state = by_id(sim)
    rec = sim.playbook.records[0]
    killed = sum(rec["killed"].values())
    n = int(there.sum())
    assert killed == int(((state == K.DEAD) & (before != K.DEAD)).sum())
    assert abs(killed - 0.7 * n) < 4 * np.sqrt(n * 0.7 * 0.3)
    outside = ~there & (before != K.DEAD)
    assert not (state[outside] == K.DEAD).any()


def test_soldiers_wait_in_reserve_then_deploy_and_advance_on_zombies():
    sc = seoul(
        [{"type": "deploy_soldiers", "at_min": 120, "district": "Gangnam-gu", "count": 25_000}],
        **{"time.days": 4 / 24, "output.every_min": 10},
    )
    res = simulate(sc, seed=4)
    ts = res.timeseries
    agents = res.summary["agents"]
    states = ["human", "infected", "zombie", "evolved", "hybrid", "dead", "reserve", "soldier"]
    assert (ts[states].sum(axis=1) == agents).all()  # conservation with the reserve
    # 25,000 x 0.002; the row at t = 120 min is the state before the step the event starts
    assert (ts.loc[ts.t_min <= 120, "reserve"] == 50).all()
    assert (ts.loc[ts.t_min > 120, "reserve"] == 0).all()
    assert res.events[0]["deployed"] == 50


def test_soldiers_stay_engaged_where_civilians_flee():
    # soldiers and civilians at the edge of the range (5 cells) at which they sense a zombie:
    # civilians flee out of range, soldiers never leave it (they close in on the zombie)
    sc = Scenario.load(
        "lattice",
        {
            "world.size": 41,
            "population.agents": 41 * 41,
            "outbreak.zombies": 0,
            "interaction.own_weight": 1.0,
            "interaction.neighbour_weight": 0.0,
            "interaction.mixing": "frequency",
            "human.flee_mps": 1.0,
            "human.sense_m": 500,
            "time.dt_min": 1.0,
        },
    )
    sim = Simulation(sc, seed=5)
    a = sim.agents
    a.state[:] = K.DEAD
    a.cell[:] = 0
    centre = 20 * 41 + 20
    a.state[0], a.cell[0] = K.ZOMBIE, centre
    for j in range(1, 201):
        a.cell[j] = centre + 5 * (1 if j % 2 else -1)  # five cells east or west
        a.state[j] = K.HUMAN | ((K.SOLDIER_LEVEL if j <= 100 else 0) << K.LEVEL_SHIFT)
    sim.P[K.P_Z_CHASE] = sim.P[K.P_Z_WANDER] = 0.0
    sim.stepper.P_night[:] = sim.P
    sim.recount()
    sim.advance(0, 10)
    order = np.argsort(a.aid)
    r, c = np.divmod(a.cell[order][1:201], 41)
    dist = np.maximum(np.abs(r - 20), np.abs(c - 20))  # sensing windows are squares
    soldiers, civilians = dist[:100], dist[100:]
    assert soldiers.max() <= 5 and soldiers.mean() < 5
    assert (civilians > 5).mean() > 0.9


def test_evacuees_head_for_the_target_and_leave_the_map():
    sc = seoul(
        [
            {
                "type": "evacuate",
                "at_min": 0,
                "districts": ["Jongno-gu"],
                "district": "Dobong-gu",
                "remove": True,
            }
        ],
        **{"outbreak.zombies": 0, "time.days": 0.5},
    )
    res = simulate(sc, seed=6)
    rec = res.events[0]
    ts = res.timeseries
    assert rec["evacuating"] > 200
    assert ts["evacuated"].iloc[0] == 0
    assert ts["evacuated"].iloc[-1] == rec["evacuating"]  # everyone got out within 12 h
    assert ts["evacuated"].is_monotonic_increasing and ts["evacuated"].iloc[1] < rec["evacuating"]


def test_sound_lure_sounds_along_its_path_for_its_duration():
    sc = seoul(
        [
            {
                "type": "sound_lure",
                "at_min": 10,
                "cell": [200, 200],
                "path": [[200, 260]],
                "loudness": 40,
                "radius_m": 1000,
                "duration_min": 60,
            }
        ],
        **{"outbreak.zombies": 0},
    )
    sim = Simulation(sc, seed=7)
    nx = sim.world.shape[1]
    loud = {}
    for step in range(80):
        sim.playbook.fire_due(step)
        sim.advance(step, 1)
        loud[step] = sim.stepper.fs.copy()
    assert not loud[9].any()
    assert loud[20][200 * nx + 200] == pytest.approx(40) and loud[20][200 * nx + 260] == 0
    assert loud[50][200 * nx + 260] == pytest.approx(40) and loud[50][200 * nx + 200] == 0
    assert not loud[75].any()


def test_trigger_fires_at_the_first_step_with_a_zombie_there():
    sc = seoul(
        [{"type": "close_bridges", "trigger": "first_zombie_in", "trigger_district": "Gangnam-gu"}]
    )
    res = simulate(sc, seed=0)
    assert res.events[0]["t_min"] == 0  # the outbreak starts in Gangnam-gu
    sc = seoul([{"type": "close_bridges", "trigger": "first_zombie_north"}], **{"time.days": 2})
    sim = Simulation(sc, seed=0)
    north = np.array([s == "north" for s in sim.world.district_sides])
    d = sim.world.district.ravel()
    cells = np.flatnonzero(north[d] & (d >= 0))
    for step in range(2 * 1440):
        fired = sim.playbook.fire_due(step)
        z = sim.cnt[cells, K.ZOMBIE].sum() + sim.cnt[cells, K.EVOLVED].sum()
        assert bool(fired) == (z > 0 and not sim.playbook.records[:-1] and bool(fired))
        if fired:
            assert z > 0 and fired[0]["t_min"] == step
            break
        assert z == 0
        sim.advance(step, 1)
    else:
        pytest.fail("no zombie went north in two days")


def test_events_are_written_to_events_jsonl_and_the_summary(tmp_path, capsys):
    code, out, err = run_cli(
        [
            "run",
            "--out",
            str(tmp_path),
            "--scale",
            "0.002",
            "--days",
            "0.2",
            "--set",
            'events+={type = "airstrike", at_min = 30, district = "Mapo-gu", name = "test"}',
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    lines = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    strike = [e for e in lines if e.get("name") == "test"]
    assert len(strike) == 1 and strike[0]["type"] == "airstrike" and strike[0]["t_min"] == 30
    assert set(strike[0]["killed"]) == {"human", "infected", "zombie", "evolved", "hybrid"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [e["type"] for e in summary["events"]] == [e["type"] for e in lines]


def test_set_can_disable_and_move_events():
    sc = Scenario.load("seoul-falls", ["events.1.enabled=false", "events.2.day=3"])
    assert not sc.events[1].enabled and sc.events[2].day == 3
    sim = Simulation(sc.override({"population.scale": 0.001}), seed=0)
    types = [e.type for _, e, _, _ in sim.playbook.pending]
    assert "deploy_soldiers" not in types and len(types) == len(sc.events) - 1


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        ({"type": "close_bridges", "at_min": 0, "bridges": ["Golden Gate"]}, "unknown bridge"),
        ({"type": "airstrike", "at_min": 0, "lure": "nope"}, "no sound_lure of that name"),
        ({"type": "airstrike", "at_min": 0, "day": 1, "district": "Mapo"}, "exactly one of"),
        ({"type": "quarantine", "at_min": 0}, "needs districts"),
        ({"type": "quarantine", "at_min": 0, "districts": ["Atlantis"]}, "unknown district"),
        ({"type": "tsunami", "at_min": 0}, "events.0.type"),
        ({"type": "airstrike", "at_min": -5, "district": "Mapo"}, "events.0.at_min"),
        ({"type": "evacuate", "day": 1, "districts": ["Mapo"]}, "needs a district, cell or place"),
    ],
)
def test_bad_events_are_refused_in_one_line(event, needle):
    with pytest.raises(ScenarioError, match=needle) as e:
        Scenario.load("seoul-falls").override({"events": [event]})
    assert "\n" not in str(e.value)


def test_triggers_north_and_south_need_seoul():
    with pytest.raises(ScenarioError, match="only on the seoul map"):
        Scenario.load("lattice").override(
            {"events": [{"type": "close_bridges", "trigger": "first_zombie_north"}]}
        )


def test_the_default_response_changes_the_outcome():
    base = {"population.scale": 0.001, "time.days": 1.6}  # every response has begun by now
    with_ = simulate(Scenario.load("seoul-falls", base), seed=0)
    without = simulate(Scenario.load("seoul-falls-no-response", base), seed=0)
    assert {e["type"] for e in with_.events} >= {"close_bridges", "deploy_soldiers", "evacuate"}
    assert without.events == []
    assert (
        with_.timeseries["human"].iloc[-1] + with_.timeseries["evacuated"].iloc[-1]
        > (without.timeseries["human"].iloc[-1])
    )


def test_hyosan_world_is_a_city_of_170000_with_its_school():
    from seoulfall.world import load_world

    w = load_world(Scenario.load("hyosan"))
    assert w.residents.sum() == 170_000
    assert len(w.district_names) == 7 and len(w.bridge_names) == 3
    r, c = w.places["Hyosan High School"]
    assert w.passable[r, c] and w.residents[r, c] > 0
    # the river splits the city: without its bridges no southern cell joins the north
    from scipy import ndimage

    land = w.passable & ~(w.bridge >= 0)
    labels, n = ndimage.label(land)
    south = {s == "south" for s in w.district_sides}
    assert n >= 2 and south == {True, False}
    with_bridges, m = ndimage.label(w.passable)
    assert m == 1


def test_hyosan_lands_near_the_shows_outcome():
    # the show: about 60,000 dead of 170,000 (some 10,000 of them uninfected), 110,000 out
    res = simulate("hyosan", seed=0)
    final = res.summary["final"]
    assert res.summary["agents"] == 170_000
    assert 80_000 <= final["evacuated"] <= 120_000
    assert 45_000 <= final["dead"] <= 90_000
    strikes = [e for e in res.events if e["type"] == "airstrike"]
    killed_humans = sum(e["killed"]["human"] for e in strikes)
    assert 2_000 <= killed_humans <= 20_000
    assert {e["type"] for e in res.events} == {
        "quarantine",
        "evacuate",
        "sound_lure",
        "airstrike",
    }


def test_a_sound_lure_event_pulls_zombies_towards_it():
    dist = {}
    for lure in (False, True):
        events = [
            {
                "type": "sound_lure",
                "at_min": 0,
                "cell": [30, 30],
                "loudness": 10,
                "radius_m": 3000,
                "duration_min": 600,
            }
        ]
        sc = Scenario.load(
            "lattice",
            {
                "world.size": 61,
                "population.agents": 61 * 61,
                "outbreak.zombies": 61 * 61,
                "interaction.neighbour_weight": 0.0,
                "interaction.own_weight": 1.0,
                "zombie.speed_mps": 1.0,
                "zombie.wander_mps": 0.3,
                "time.dt_min": 1.0,
                "time.days": 60 / 1440,
            },
        ).override({"events": events if lure else []})
        sim = Simulation(sc, seed=2)
        sim.run()
        r, c = np.divmod(sim.agents.cell, 61)
        dist[lure] = np.hypot(r - 30, c - 30).mean()
    assert dist[True] < 0.6 * dist[False]


def test_a_district_emptied_by_evacuation_has_not_fallen():
    from seoulfall.results import _fall_day

    days = np.arange(5.0)
    humans = np.array([100, 100, 5, 5, 5])
    nobody = np.zeros(5, int)
    zombies = np.array([0, 0, 0, 3, 3])
    # emptied by evacuation: 95 saved, then zombies come: still not fallen
    assert _fall_day(days, humans, np.array([0, 0, 95, 95, 95]), zombies) is None
    # emptied with no zombie ever: not fallen; eaten after a zombie came: fallen then
    assert _fall_day(days, humans, nobody, nobody) is None
    assert _fall_day(days, humans, nobody, zombies) == 3.0
    assert _fall_day(days, humans, nobody, np.array([1, 0, 0, 0, 0])) == 2.0


def test_the_evacuated_centre_does_not_fall_and_is_counted_as_saved():
    # the city that walks: by train, zombies reach the centre before the evacuation
    over = {"population.scale": 0.002, "time.days": 2.0, "subway.enabled": False}
    res = simulate(Scenario.load("seoul-falls", over))
    ev = next(e for e in res.events if e["type"] == "evacuate")
    d = res.summary["districts"]
    centre = {"11110", "11140", "11170"}  # Jongno-gu, Jung-gu, Yongsan-gu
    assert set(ev["evacuating_from"]) == centre
    assert sum(ev["evacuating_from"].values()) == ev["evacuating"]
    for code in centre:
        humans = res.districts[res.districts["district"] == code]["human"].to_numpy()
        assert humans.min() <= 0.1 * humans[0]  # emptied at some hour ...
        assert d[code]["fall_day"] is None and d[code]["evacuated"] > 0  # ... but saved
    assert d["11680"]["fall_day"] is not None  # Gangnam-gu, where it starts, falls


def test_set_replaces_an_events_timing_even_a_trigger():
    sc = Scenario.load("seoul-falls", ["events.0.day=2"])
    assert sc.events[0].day == 2.0 and sc.events[0].trigger is None
    back = sc.override(['events.0.trigger="first_zombie_in"', "events.0.trigger_district=Mapo"])
    assert back.events[0].trigger == "first_zombie_in" and back.events[0].day is None
    assert Scenario.load("seoul-falls", ["events.1.at_min=90"]).events[1].day is None


def test_events_are_addressed_by_name_too():
    sc = Scenario.load("seoul-falls", ['events."army at the outbreak".day=3'])
    assert sc.events[1].day == 3.0 and sc.events[1].name == "army at the outbreak"
    with pytest.raises(ScenarioError, match="named: 'bridges closed'"):
        Scenario.load("seoul-falls", ['events."no such event".day=3'])


@settings(max_examples=60, deadline=None)
@given(name=st.text(min_size=1, max_size=80).filter(lambda t: not t.isdigit()))
def test_any_event_name_can_be_addressed_with_a_quoted_key(name):
    import tomli_w

    sc = Scenario.load("well-mixed", {"events": [{"type": "airstrike", "day": 1.0,
                                                  "cell": [0, 0], "name": name}]})  # fmt: skip
    quoted = tomli_w.dumps({name: 0}).split(" = ")[0]
    moved = sc.override([f"events.{quoted}.day=0.5"])
    assert moved.events[0].day == 0.5 and moved.events[0].name == name


def test_the_outbreak_starts_inside_its_district_and_the_playbook_follows_it():
    sc = Scenario.load(
        "seoul-falls",
        {"outbreak.district": "Jongno-gu", "outbreak.zombies": 200,
         "population.scale": 0.002, "time.days": 2.55},
    )  # fmt: skip
    sim = Simulation(sc)
    jongno = sim.world.district_index("Jongno-gu")
    zombies = sim.agents.cell[sim.agents.states() == K.ZOMBIE]
    assert zombies.size == 200 and (sim.world.district.ravel()[zombies] == jongno).all()
    res = sim.run()
    nx = sim.world.shape[1]
    for e in res.events:
        if e["type"] in ("deploy_soldiers", "sound_lure"):
            r, c = e["cell"]
            assert sim.world.district.ravel()[r * nx + c] == jongno, e
    with pytest.raises(ScenarioError, match="outbreak"):
        Scenario.load("well-mixed", {"events": [{"type": "airstrike", "day": 1.0,
                                                 "district": "outbreak"}]})  # fmt: skip


def test_a_scenario_written_before_event_types_had_their_own_keys_still_loads():
    # written by 0.1.0 at 7f47566: every event carries every type's keys
    path = __import__("pathlib").Path(__file__).parent / "data" / "scenario-0.1-hyosan.toml"
    assert "count = 10000" in path.read_text(encoding="utf-8")  # a foreign key is there
    old = Scenario.load(path)
    assert old == Scenario.load("hyosan")
    assert old.fingerprint() == Scenario.load("hyosan").fingerprint()


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        # the natural slip: one district for a cordon; each type takes only its own keys
        (
            {"type": "quarantine", "day": 1, "district": "Mapo", "districts": ["Mapo"]},
            "unknown key 'events.0.district' (did you mean 'districts'?)",
        ),
        ({"type": "airstrike", "day": 1, "district": "Mapo", "count": 5}, "'events.0.count'"),
        ({"type": "close_bridges", "day": 1, "loudness": 5.0}, "'events.0.loudness'"),
        ({"day": 1}, "events.0.type: missing; allowed: quarantine"),
        ({"type": "flood", "day": 1}, "events.0.type = 'flood': unknown event type"),
        (
            {"type": "airstrike", "day": 1, "district": "Mapo", "kill_probability": 2},
            "events.0.kill_probability = 2",
        ),
        ({"type": "close_subway", "day": 1, "lines": ["10"]}, "events.0.lines: unknown line '10'"),
        (
            {"type": "close_subway", "day": 1, "stations": ["Atlantis"]},
            "events.0.stations: unknown station 'Atlantis'",
        ),
    ],
)
def test_each_event_type_takes_its_own_keys(event, needle):
    with pytest.raises(ScenarioError) as e:
        Scenario.load("seoul-falls").override({"events": [event]})
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_event_types_are_their_own_classes():
    from seoulfall.playbook import EVENT_CLASSES, EVENT_TYPES, EventBase

    sc = Scenario.load("hyosan")
    kinds = {e.type: type(e) for e in sc.events}
    assert set(kinds) <= set(EVENT_TYPES) and len(EVENT_TYPES) == len(EVENT_CLASSES) == 10
    for t, cls in kinds.items():
        assert issubclass(cls, EventBase) and EVENT_TYPES[EVENT_CLASSES.index(cls)] == t
    # a strike has no soldiers' count, a cordon no loudness: the fields belong to the type
    assert (
        not hasattr(kinds["airstrike"], "count") or "count" not in kinds["airstrike"].model_fields
    )
    assert "loudness" not in kinds["quarantine"].model_fields


CURFEW = {"type": "curfew", "name": "martial law", "at_min": 0, "drift_factor": 0.0}


def _far_humans_moved(events, steps=30):
    """How many humans of Dobong-gu (far from the Gangnam outbreak) moved in ``steps``."""
    sc = Scenario.load(
        "seoul-falls-no-response", {"population.scale": 0.002, "human.drift_mps": 0.05}
    ).override({"events": events})
    sim = Simulation(sc, seed=3)
    sim.playbook.fire_due(0)
    a = sim.agents
    far = sim.world.district_index("Dobong-gu")
    who = np.flatnonzero((a.states() == K.HUMAN) & (a.cell >= 0))
    who = who[sim.cell_district[a.cell[who]] == far]
    ids, cells = a.aid[who].copy(), a.cell[who].copy()
    sim.advance(0, steps)
    now = dict(zip(a.aid.tolist(), a.cell.tolist()))
    return len(ids), sum(now[i] != c for i, c in zip(ids.tolist(), cells.tolist()))


def test_a_curfew_keeps_people_home_and_leaves_fleeing_alone():
    n, moved_free = _far_humans_moved([])
    n2, moved_curfew = _far_humans_moved([CURFEW])
    assert n == n2 > 500
    assert moved_free > 0.1 * n  # 30 steps of drift move many of them
    assert moved_curfew == 0  # nobody there senses a zombie: nobody moves
    # near the outbreak people still flee: the curfew changes only the drift speed
    sc = Scenario.load("seoul-falls-no-response", {"population.scale": 0.002}).override(
        {"events": [CURFEW]}
    )
    sim = Simulation(sc, seed=3)
    rec = sim.playbook.fire_due(0)[0]
    assert rec["type"] == "curfew" and rec["drift_factor"] == 0.0
    assert sim.stepper.P[K.P_H_DRIFT] == 0.0 and sim.stepper.P[K.P_H_FLEE] > 0.0


def test_a_run_with_a_curfew_resumes_to_the_same_results(tmp_path):
    curfew = {**CURFEW, "at_min": 90, "drift_factor": 0.25}
    sc = Scenario.load(
        "seoul-falls-no-response", {"population.scale": 0.001, "time.days": 0.25}
    ).override({"events": [curfew]})
    first = Simulation(sc, seed=1)
    whole_drift = first.stepper.P[K.P_H_DRIFT]
    whole = first.run(checkpoint_every=60, checkpoint_dir=tmp_path, checkpoint_keep=0)
    ckpts = sorted(tmp_path.glob("ckpt-*.json"))
    for later in ckpts[2:]:  # written after the curfew: the changed drift is in the file
        later.unlink()
        later.with_suffix(".npz").unlink()
    sim = Simulation(sc, seed=1)
    resumed = sim.run(checkpoint_every=60, checkpoint_dir=tmp_path, resume=True)
    assert sim.resumed_from == 120  # from the checkpoint written after the curfew (step 90)
    assert sim.stepper.P[K.P_H_DRIFT] == whole_drift * 0.25
    assert resumed.timeseries.equals(whole.timeseries) and resumed.events == whole.events
    assert resumed.summary["final"] == whole.summary["final"]


def _rate_run(tmp_path=None, **event):
    # the still city: in a moving one people walk into fights and are wounded (infected
    # without a bite), which "no bites, nobody infected" below does not mean to test
    over = {"population.scale": 0.001, "time.days": 0.25, **STILL}
    sc = Scenario.load("seoul-falls-no-response", over)
    if event:
        sc = sc.override({"events": [{"type": "set_rate", "name": "slider", **event}]})
    sim = Simulation(sc, seed=1)
    ckpt = {"checkpoint_every": 60, "checkpoint_dir": tmp_path, "checkpoint_keep": 0}
    return sim, sim.run(**(ckpt if tmp_path else {}))


def test_a_rate_change_scales_the_rate_from_its_step_and_resumes(tmp_path):
    _, plain = _rate_run()
    # factor 1 is the scenario's rate: the run is the one without the event, bit for bit
    _, same = _rate_run(rate="zombie.bite_rate", factor=1.0, at_min=90)
    assert same.timeseries.equals(plain.timeseries)
    # no bites from the start: nobody is ever infected and the zombies never grow
    _, none = _rate_run(rate="zombie.bite_rate", factor=0.0, at_min=0)
    ts = none.timeseries
    assert (ts["infected"] == 0).all() and ts["zombie"].max() <= ts["zombie"].iloc[0]
    assert plain.timeseries["infected"].max() > 0
    # bites x 2.5 from minute 90: zombies and evolved, by day and by night
    sim, whole = _rate_run(tmp_path, rate="zombie.bite_rate", factor=2.5, at_min=90)
    st = sim.stepper
    for i in (K.P_BITE, K.P_BITE_E):
        assert st.P[i] == 2.5 * st.P0[i] and st.P_night[i] == 2.5 * st.P0_night[i]
    assert st.P[K.P_KILL] == st.P0[K.P_KILL]
    assert whole.events[0]["rate"] == "zombie.bite_rate" and whole.events[0]["factor"] == 2.5
    assert not whole.timeseries.equals(plain.timeseries)
    assert whole.timeseries["dead"].iloc[-1] != plain.timeseries["dead"].iloc[-1]
    for later in sorted(tmp_path.glob("ckpt-*.json"))[2:]:  # resume after the change
        later.unlink()
        later.with_suffix(".npz").unlink()
    sc = sim.scenario
    again = Simulation(sc, seed=1)
    resumed = again.run(checkpoint_every=60, checkpoint_dir=tmp_path, resume=True)
    assert again.resumed_from == 120 and again.stepper.P[K.P_BITE] == st.P[K.P_BITE]
    assert resumed.timeseries.equals(whole.timeseries) and resumed.events == whole.events


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        ({"rate": "zombie.bite_rate", "factor": 11}, "factor"),
        ({"rate": "zombie.bite_rate", "factor": -1}, "factor"),
        ({"rate": "zombie.speed_mps", "factor": 2}, "human.kill_rate"),
        ({"rate": "zombie.bite_rate"}, "factor"),
    ],
)
def test_a_bad_rate_change_is_refused_in_one_line(event, needle):
    with pytest.raises(ScenarioError) as e:
        Scenario.load("seoul-falls").override(
            {"events": [{"type": "set_rate", "at_min": 5, **event}]}
        )
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_soldiers_are_counted_apart_from_humans():
    # 50,000 soldiers deployed at day 1.5 into the fallen Gangnam-gu of the moving city (the
    # default's 10,000 fall there within the hour): some still stand at 1.6
    over = {"population.scale": 0.002, "time.days": 1.6, "events.1.count": 50000}
    over["subway.enabled"] = False  # the city that walks: its centre still stands to evacuate
    sc = Scenario.load("seoul-falls", over)
    sim = Simulation(sc, seed=0)
    res = sim.run()
    a = sim.agents
    human = (a.states() == K.HUMAN) & (a.cell >= 0)
    soldier = human & ((a.state >> K.LEVEL_SHIFT) == K.SOLDIER_LEVEL)
    assert res.summary["final"]["soldier"] == int(soldier.sum()) > 0
    assert res.summary["final"]["human"] == int((human & ~soldier).sum())
    ts = res.timeseries
    deploy = next(e for e in res.events if e["type"] == "deploy_soldiers")
    before = ts[ts["t_min"] < deploy["t_min"]]
    assert (before["soldier"] == 0).all() and (before["reserve"] == deploy["deployed"]).all()
    # every agent in exactly one column: soldiers left the reserve and are not humans
    states = [c for c in ts.columns if c in K.STATE_NAMES]
    assert {"human", "soldier", "reserve", "evacuated"} <= set(states)
    assert (ts[states].sum(axis=1) == res.summary["agents"]).all()
    # the districts' table splits them alike, and the run's invariants hold with them
    last = res.districts[res.districts["t_min"] == ts["t_min"].iloc[-1]]
    assert int(last["soldier"].sum()) == res.summary["final"]["soldier"]
    sim.check()


@pytest.mark.parametrize(
    ("event", "cause"),
    [
        ({"type": "airstrike", "at_min": 60, "district": "Mapo-gu", "kill_probability": 1.0},
         "airstrike"),
        ({"type": "evacuate", "at_min": 0, "districts": ["Mapo-gu"], "district": "Dobong-gu",
          "remove": True}, "evacuated"),
    ],
)  # fmt: skip
def test_the_casts_changes_made_by_events_name_their_cause(event, cause):
    # the cast starts in Mapo-gu: struck there, or evacuated from there, with no zombie
    res = simulate(seoul([event], **{"outbreak.zombies": 0, "time.days": 0.5}), seed=4)
    changes = [r for r in res.cast if r["t_min"] > 0]
    assert len(changes) >= 5
    assert {r["cause"] for r in changes} == {cause}
    assert {r["state"] for r in changes} == {"dead" if cause == "airstrike" else "evacuated"}
    assert all(r["cause"] is None for r in res.cast if r["t_min"] == 0)
