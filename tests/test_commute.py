"""The daily journeys (``[commute]``) and the public alert: homes, day cells, the schedule."""

import numpy as np
import pytest
from test_engine import assert_step_matches_plain

from seoulfall import Scenario
from seoulfall.engine import kernels as K
from seoulfall.scenario import ScenarioError
from seoulfall.simulation import Simulation
from seoulfall.world.commute import daytime_population, distances_km, furness, mean_journey_km
from seoulfall.world.seoul import data_dir

#: Seoul with nobody infected, moving (Monday 07:00 at the start).
CITY = {"population.scale": 0.003, "outbreak.zombies": 0, "events": [], "cast": []}


def city(days, **more):
    return Scenario.load("seoul-falls", {**CITY, "time.days": days, "commute.share": 0.6, **more})


def people_per_district(sim):
    return sim.tally()[:-1].sum(axis=1)


@pytest.fixture(scope="module")
def week():
    """Per-district people at 03:00 and 14:00 of each day of a week and a day, no outbreak."""
    sim = Simulation(city(8.5), seed=5)
    out = {}
    step = 0
    for day in range(8):
        for hour in (14, 27):  # 14:00 this day, 03:00 the next
            to = day * 1440 + (hour - 7) * 60
            sim.advance(step, to - step)
            step = to
            out[day, hour % 24] = people_per_district(sim)
    return sim, out


def test_at_14_on_a_weekday_the_districts_hold_their_daytime_population(week):
    sim, out = week
    day = daytime_population(data_dir(), list(sim.world.district_codes))
    for d in (0, 1, 7):  # Monday, Tuesday, the next Monday
        have = out[d, 14]
        want = day / day.sum() * have.sum()
        assert np.abs(have / want - 1).max() < 0.10, (d, have / want)
    # Jung-gu more than doubles by day; Eunpyeong-gu empties a little
    night = out[0, 3]
    jung, eunpyeong = (sim.world.district_index(n) for n in ("Jung-gu", "Eunpyeong-gu"))
    assert out[1, 14][jung] > 2.0 * night[jung] and out[1, 14][eunpyeong] < 0.9 * night[eunpyeong]


def test_at_night_and_at_weekends_people_are_home_and_the_city_keeps_its_shape(week):
    sim, out = week
    residents = np.bincount(
        sim.cell_district[sim.home[sim.home[:, 0] >= 0, 0]], minlength=len(sim.world.district_codes)
    )
    for d in range(8):
        assert np.abs(out[d, 3] / residents - 1).max() < 0.02, d  # 03:00: at home
    for d in (5, 6):  # Saturday and Sunday 14:00: nobody went to work
        assert np.abs(out[d, 14] / residents - 1).max() < 0.02, d
    assert np.abs(out[7, 3] / out[0, 3] - 1).max() < 0.02  # a week on: the same city
    # most are on their home cell or next to it at 03:00
    a = sim.agents
    nx = sim.world.shape[1]
    home = sim.home[a.aid, 0]
    off = np.abs(a.cell // nx - home // nx) + np.abs(a.cell % nx - home % nx)
    assert np.mean(off <= 3) > 0.97


def test_the_gravity_model_meets_both_margins_and_prefers_near_districts():
    sim = Simulation(city(0.01), seed=1)
    dist = distances_km(sim.world)
    o = np.arange(1.0, 26.0)
    d = o[::-1].copy()
    for beta in (0.0, 0.25, 1.0):
        t = furness(o, d, np.exp(-beta * dist))
        assert np.allclose(t.sum(axis=1), o) and np.allclose(t.sum(axis=0), d)
    near = furness(o, d, np.exp(-1.0 * dist))
    far = furness(o, d, np.exp(-0.0 * dist))
    assert mean_journey_km(near, dist) < 0.7 * mean_journey_km(far, dist)  # shorter journeys


def test_commuters_share_and_homes():
    sim = Simulation(city(0.01, **{"commute.share": 0.3}), seed=2)
    home, day = sim.home[:, 0], sim.home[:, 1]
    on = home >= 0
    assert np.array_equal(home[sim.agents.aid], np.where(sim.agents.cell >= 0, sim.agents.cell, -1))
    moving = np.mean(day[on] != home[on])
    assert abs(moving - 0.3) < 0.01  # about 29,000 draws: 0.3 within 4 sigma
    passable = sim.world.passable.ravel()
    assert (
        passable[day[on]].all() and (sim.world.residents.ravel()[day[on & (day != home)]] > 0).all()
    )


def test_the_kernel_follows_the_plain_rules_of_the_journeys():
    sim = Simulation(city(0.2, **{"population.scale": 0.0005}), seed=4)
    sim.advance(0, 40)  # 07:40: many on their way
    moving = 0
    for step in range(40, 46):
        (cell, _), (before, _) = assert_step_matches_plain(sim, step)
        moving += int(np.sum(cell != before))
    assert moving > 100  # the journeys were exercised


def test_without_the_table_or_switched_off_nothing_changes():
    base = {"population.scale": 0.002, "time.days": 0.1}
    # the default without its [commute] table
    a = Simulation(Scenario.load("seoul-falls", base).model_copy(update={"commute": None}), seed=3)
    b = Simulation(Scenario.load("seoul-falls", {**base, "commute.enabled": False}), seed=3)
    assert b.P[K.P_COMMUTE] == 0 and np.array_equal(a.P, b.P) and b.home is None
    for sim in (a, b):
        sim.advance(0, 144)
    assert np.array_equal(a.agents.cell, b.agents.cell)
    assert np.array_equal(a.agents.state, b.agents.state)


def test_after_the_alert_everyone_goes_home_and_nobody_leaves():
    alert = {"type": "public_alert", "at_min": 240}  # 11:00 on Monday
    at_home = {}
    for events in ([alert], []):
        sim = Simulation(city(1.25, events=events), seed=6)  # to Tuesday 13:00
        res = sim.run()
        a = sim.agents
        nx = sim.world.shape[1]
        home = sim.home[a.aid, 0]
        off = np.abs(a.cell // nx - home // nx) + np.abs(a.cell % nx - home % nx)
        at_home[bool(events)] = np.mean(off <= 3)
        if events:
            rec = [e for e in res.events if e["type"] == "public_alert"]
            assert len(rec) == 1 and rec[0]["t_min"] == 240 and rec[0]["commuting"]
    assert at_home[True] > 0.97  # Tuesday's commute did not happen
    assert at_home[False] < 0.6  # without the alert most went to work


def test_a_curfew_in_a_moving_city_sends_everyone_home():
    curfew = {"type": "curfew", "at_min": 120}  # 09:00 on Monday, the city at work
    sim = Simulation(city(0.25, events=[curfew]), seed=7)  # to 13:00
    res = sim.run()
    rec = [e for e in res.events if e["type"] == "curfew"][0]
    assert rec["commuting_stopped"] and sim.stepper.P[K.P_ALERT] == 1.0
    a = sim.agents
    nx = sim.world.shape[1]
    home = sim.home[a.aid, 0]
    off = np.abs(a.cell // nx - home // nx) + np.abs(a.cell % nx - home % nx)
    assert np.mean(off <= 3) > 0.97  # at 13:00 without it most would be at work


def test_bad_commute_keys_are_refused_in_one_line():
    for key, value in (("commute.share", 0.0), ("commute.speed_mps", -1.0), ("commute.x", 1)):
        with pytest.raises(ScenarioError) as e:
            Scenario.load("seoul-falls", {key: value})
        assert key in str(e.value) and "\n" not in str(e.value)


def test_every_way_is_a_first_step_of_a_shortest_way_and_closed_bridges_cut_it():
    from seoulfall.playbook.runner import bfs_distance

    sim = Simulation(city(0.01), seed=1)
    st, nbr = sim.stepper, sim.nbr
    passable = np.flatnonzero(sim.world.passable.ravel())
    zone = sim.world.zones()
    for z in (0, 137, 424):  # three dongs, north, middle, south
        dist = bfs_distance(nbr, np.flatnonzero((zone == z) & sim.world.passable.ravel()))
        way = st.zw[z, st.cz[passable, 1]]
        inside = dist[passable] == 0
        assert (way[inside] == K.IN_ZONE).all() and (way[~inside] < 4).all()
        nxt = nbr[passable[~inside], way[~inside]]
        assert (dist[nxt] == dist[passable[~inside]] - 1).all()
    # the bridges close: a dong across the river is out of reach from the other bank
    south = sim.world.district_index("Gangnam-gu")
    district = sim.cell_district[: zone.size]  # the map's cells (the subway's cars after)
    z = int(zone[np.flatnonzero((district == south) & (zone >= 0))[0]])
    north_cell = np.flatnonzero(
        (district == sim.world.district_index("Jongno-gu")) & sim.world.passable.ravel()
    )[0]
    assert st.zw[z, st.cz[north_cell, 1]] < 4
    sim.playbook._fire(0, Scenario.load("seoul-falls").events[0], 1)  # close_bridges
    assert st.zw[z, st.cz[north_cell, 1]] == K.NO_WAY


def test_a_city_of_one_agent_has_its_ways():
    """The ways were built only when the journeys' table had more than one row: a run of
    one agent (a lattice of one district, every cell in its zone) had none."""
    sc = Scenario.load("lattice", {"population.agents": 1, "outbreak.zombies": 0,
                                   "commute.share": 1.0})  # fmt: skip
    st = Simulation(sc, seed=0).stepper
    assert st.commuting and (st.zw == K.IN_ZONE).all()
