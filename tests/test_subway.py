"""The subway (``[subway]``): the network, the riders' ways, closures, the alert, bites aboard."""

import numpy as np
import pytest

from seoulfall import Scenario
from seoulfall.engine import kernels as K
from seoulfall.simulation import Simulation
from seoulfall.world import subway as S

QUIET = {"population.scale": 0.002, "time.days": 0.2, "outbreak.zombies": 0, "events": [],
         "cast": []}  # fmt: skip


def walk_route(net, route, g_from, g_to):
    """The cars of the way from group ``g_from`` to ``g_to`` (``routes``' table)."""
    cars, k = [], route[g_to, net.ncars + g_from]
    while k >= 0:
        cars.append(int(k))
        assert len(cars) <= net.ncars, "a way that never ends"
        k = route[g_to, k]
    return cars, k


def assert_a_way_along_the_lines(net, cars, g_from, g_to, line_open, group_open):
    """Each car follows the one before on its line, or changes line inside one group."""
    assert net.node_group[net.car_from[cars[0]]] == g_from
    assert net.node_group[net.car_to[cars[-1]]] == g_to
    for a, b in zip(cars, cars[1:]):
        assert line_open[net.car_line[b]]
        if net.car_line[a] == net.car_line[b] and net.car_from[b] == net.car_to[a]:
            assert net.car_to[b] != net.car_from[a]  # never back the way it came
        else:  # a change of line: inside one interchange, open
            g = net.node_group[net.car_to[a]]
            assert net.node_group[net.car_from[b]] == g and group_open[g]


@pytest.fixture(scope="module")
def net(small_world):
    return S.build(small_world, S.Path(S.__file__).parent / "data", 40.0, 0.5, 4.0)


@pytest.fixture(scope="module")
def small_world():
    from seoulfall.world import load_world

    return load_world(Scenario.load("seoul-falls"))


def test_the_network_is_the_data_on_the_map(net, small_world):
    assert len(net.node_cell) == 406 and len(net.lines) == 16
    assert net.ncars == 2 * 392 - 6  # every link both ways, the Eungam loop's six one way
    assert small_world.passable.ravel()[net.node_cell].all()
    # a car's minutes: its straight length at 40 km/h plus the 0.5 min dwell
    assert (net.car_minutes > 0.5).all() and np.median(net.car_minutes) == pytest.approx(2, 0.3)
    assert (net.onward[:, 0] >= 0).all()  # a train always runs on (at a terminus, back)


def test_the_ways_follow_the_lines_and_change_only_at_interchanges(net):
    gen = np.random.default_rng(1)
    lo, go = np.ones(len(net.lines), bool), np.ones(net.ngroups, bool)
    route = S.routes(net, lo, go)
    pairs = gen.integers(0, net.ngroups, (300, 2))
    found = 0
    for a, b in pairs:
        if a == b or route[b, net.ncars + a] < 0:
            continue
        cars, end = walk_route(net, route, a, b)
        assert end == S.ALIGHT
        assert_a_way_along_the_lines(net, cars, a, b, lo, go)
        found += 1
    assert found > 250  # most pairs of stations are joined
    # Gangnam to City Hall: line 2 closed, the way takes no line-2 car
    two = net.lines.index("2")
    lo[two] = False
    route = S.routes(net, lo, go)
    cars, end = walk_route(net, route, net.group_index("Gangnam"), net.group_index("City Hall"))
    assert end == S.ALIGHT and cars and not (net.car_line[cars] == two).any()
    assert_a_way_along_the_lines(
        net, cars, net.group_index("Gangnam"), net.group_index("City Hall"), lo, go
    )
    # a closed station: nobody boards, gets off or changes there
    lo[:] = True
    seoul = net.group_index("Seoul Station")
    go[seoul] = False
    route = S.routes(net, lo, go)
    assert (route[seoul] == S.NO_ROUTE).all() and (route[:, net.ncars + seoul] == S.NO_ROUTE).all()


def ride_log(sim, steps):
    """Each step's cells of every agent, by id (rows: steps), the events fired on time."""
    a = sim.agents
    out = np.empty((steps, a.n), np.int64)
    for s in range(steps):
        sim.playbook.fire_due(s)
        sim.advance(s, 1)
        out[s, a.aid] = a.cell
    return out


@pytest.fixture(scope="module")
def morning():
    sim = Simulation(Scenario.load("seoul-falls", QUIET), seed=2)
    return sim, ride_log(sim, 150)  # 07:00 to 09:30: the morning rush


def test_riders_board_at_their_station_follow_the_lines_at_the_trains_speed(morning):
    sim, log = morning
    net, ng, st = sim.subway, sim.world.ncells, sim.stepper
    riders = np.flatnonzero((log >= ng).any(axis=0))
    assert riders.size > 500 and (sim.home[riders, 4] >= 0).all()  # only the riders ride
    prev, now = log[:-1, riders], log[1:, riders]
    board = (prev < ng) & (now >= ng)
    hg = sim.home[riders, 4] >> 16  # the morning: from the station nearest home
    on_cars = now[board] - ng
    assert (net.node_group[net.car_from[on_cars]] == np.broadcast_to(hg, board.shape)[board]).all()
    assert (prev[board] == net.group_cell[np.broadcast_to(hg, board.shape)[board]]).all()
    off = (prev >= ng) & (now < ng)  # off at the station at the end of the car
    assert (now[off] == net.node_cell[net.car_to[prev[off] - ng]]).all()
    moved = (prev >= ng) & (now >= ng) & (prev != now)
    a, b = prev[moved] - ng, now[moved] - ng
    on_line = (net.car_line[a] == net.car_line[b]) & (net.car_from[b] == net.car_to[a])
    change = net.node_group[net.car_to[a]] == net.node_group[net.car_from[b]]
    assert (on_line | change).all() and change[~on_line].all()
    # the trains' speed: the steps (minutes) spent in a car, over every whole stay in one,
    # against the car's minutes (a stay ends each step with probability 1 / minutes)
    stays, minutes = [], []
    for col in log[:, riders].T:
        edges = np.flatnonzero(np.diff(col)) + 1
        for s0, s1 in zip(edges[:-1], edges[1:]):
            if col[s0] >= ng:
                stays.append(s1 - s0)
                minutes.append(net.car_minutes[col[s0] - ng])
    assert len(stays) > 3000
    assert np.mean(stays) / np.mean(minutes) == pytest.approx(1.0, abs=0.05)
    assert st.aboard.sum() == 0  # no zombie: nobody infected aboard


@pytest.mark.parametrize("how", ["close_subway", "public_alert"])
def test_closed_lines_carry_nobody_and_after_the_alert_nobody_rides(how):
    event = {"type": how, "at_min": 60}
    if how == "close_subway":
        event["lines"] = ["2", "9"]
    sim = Simulation(Scenario.load("seoul-falls", {**QUIET, "events": [event]}), seed=2)
    ng, net = sim.world.ncells, sim.subway
    res = sim.run()
    rec = res.events[0]
    assert rec["riders_off"] > 0  # some were aboard at 08:00 and got off
    log = ride_log(
        Simulation(Scenario.load("seoul-falls", {**QUIET, "events": [event]}), seed=2), 150
    )
    after = log[61:]
    aboard = after[after >= ng] - ng
    if how == "close_subway":
        closed = np.isin(net.car_line, [net.lines.index("2"), net.lines.index("9")])
        assert aboard.size > 0 and not closed[aboard].any()
        assert closed[log[:60][log[:60] >= ng] - ng].any()  # they carried riders before
        assert res.summary["subway"]["lines"]["2"]["open"] is False
    else:
        assert aboard.size == 0  # the trains stopped: nobody rides, nobody boards


def test_zombies_aboard_infect_riders_and_carry_the_outbreak_down_the_line():
    """Five zombies placed at 07:40 in the busiest car of the trains, against five placed in
    the street at the station that car leaves, the trains stopped: over five seeds, aboard
    they infect riders, and within an hour the infected and the zombies stand in more
    districts."""
    reached = {True: [], False: []}
    aboard = 0
    for seed in range(5):
        for open_ in (True, False):
            sc = Scenario.load("seoul-falls", {**QUIET, "population.scale": 0.005})
            sim = Simulation(sc, seed=seed)
            net, st, a, ng = sim.subway, sim.stepper, sim.agents, sim.world.ncells
            sim.advance(0, 40)
            car = int(np.argmax(st.cnt[ng:, K.HUMAN]))
            assert st.cnt[ng + car, K.HUMAN] >= 5  # the rush hour
            j = np.flatnonzero((a.states() == K.HUMAN) & (a.cell >= 0) & (a.cell < ng))[:5]
            a.state[j] = K.ZOMBIE
            if open_:
                a.cell[j] = ng + car
            else:
                a.cell[j] = net.node_cell[net.car_from[car]]
                st.line_open[:] = False
                st.leave_trains(np.ones(net.ncars, bool))
                st.set_param("subway", 0.0)
            st.recount()
            sim.advance(40, 60)
            sim.check()
            aboard += int(st.aboard.sum())
            threat = (a.states() == K.INFECTED) | (a.states() == K.ZOMBIE)
            cells = a.cell[threat & (a.cell >= 0)]
            reached[open_].append(np.unique(sim.cell_district[cells]).size)
    assert aboard >= 5, reached  # humans were infected aboard
    assert sum(reached[True]) > sum(reached[False]), reached
    assert np.mean(np.array(reached[True]) >= np.array(reached[False])) >= 0.8, reached


def test_the_summary_and_report_say_what_the_subway_did(tmp_path):
    from seoulfall.outcome import underground
    from seoulfall.results import Results

    sim = Simulation(Scenario.load("seoul-falls", {**QUIET, "time.days": 0.05}), seed=0)
    res = sim.run()
    sw = res.summary["subway"]
    assert sw["riders"] == int((sim.home[:, 4] >= 0).sum()) > 0
    assert set(sw["lines"]) == set(sim.subway.lines)
    assert underground(res.summary).startswith(f"{sw['riders']:,} commuters rode; 0 infected")
    folder = res.save(tmp_path / "run")
    html = (folder / "report.html").read_text()
    assert "<h2>The subway</h2>" in html and "Seoul Open Data Plaza" in html
    back = Results.load(folder)
    assert back.summary["subway"] == sw


def test_the_kernel_is_plain_python_aboard():
    """Riders boarding, riding, changing lines and getting off, zombies aboard biting them
    and zombies at stations boarding: each step of the kernel equals ``plain.step``, agent
    for agent, with the counts of the cars and the humans infected aboard. The zombies at
    the stations board at the rate ``subway.zombie_board`` says."""
    from test_engine import assert_step_matches_plain

    sc = Scenario.load("seoul-falls", {**QUIET, "population.scale": 0.005})
    sim = Simulation(sc, seed=4)
    st, a, ng = sim.stepper, sim.agents, sim.world.ncells
    sim.advance(0, 40)
    busy = np.argsort(st.cnt[ng:, K.HUMAN])[-20:]  # zombies in the 20 busiest cars
    j = np.flatnonzero((a.states() == K.HUMAN) & (a.cell >= 0) & (a.cell < ng))[:40]
    a.state[j] = np.where(np.arange(40) % 2, K.ZOMBIE, K.EVOLVED)
    a.cell[j] = ng + np.repeat(busy, 2)
    net = sim.subway
    out = np.flatnonzero((a.states() == K.HUMAN) & (a.cell >= 0) & (a.cell < ng))[-300:]
    a.state[out] = K.ZOMBIE  # and 300 at the stations' street cells
    a.cell[out] = net.group_cell[np.arange(300) % net.ngroups]
    st.recount()
    moved = tries = boarded = 0
    for step in range(40, 52):
        at = a.aid[np.isin(a.cell, net.group_cell) & (a.states() == K.ZOMBIE)]
        (cell, _), (before, _) = assert_step_matches_plain(sim, step)
        moved += int(((before >= ng) & (cell != before)).sum())
        tries += at.size
        boarded += int((cell[at] >= ng).sum())
    assert moved > 100 and st.aboard.sum() > 0  # rides went on, and bites aboard
    p = sc.subway.zombie_board  # a minute a step: binomial, 4 standard deviations
    assert abs(boarded - p * tries) < 4 * np.sqrt(tries * p * (1 - p)) + 1, (boarded, tries)


def test_the_fall_map_draws_the_lines_dashed_where_closed_and_where_zombies_boarded():
    from seoulfall.report.maps import plot_fall_map

    event = {"type": "close_subway", "at_min": 10, "lines": ["2"]}
    sim = Simulation(Scenario.load("seoul-falls", {**QUIET, "time.days": 0.02,
                                                   "events": [event]}), seed=0)  # fmt: skip
    res = sim.run()
    assert res.summary["subway"]["lines"]["2"]["open"] is False
    res.summary["subway"]["lines"]["3"]["first_zombie_from"] = "Gangnam"  # as if one rode
    fig = plot_fall_map(res, sim.world)
    drawn = {a.get_gid(): a for a in fig.axes[0].get_lines() if a.get_gid()}
    lines = {g.split(":", 1)[1]: a for g, a in drawn.items() if g.startswith("subway:")}
    assert set(lines) == set(sim.subway.lines)
    assert lines["2"].get_linestyle() != "-" and lines["3"].get_linestyle() == "-"
    x, y = drawn["zombie-aboard:3"].get_data()
    r, c = divmod(int(sim.subway.group_cell[sim.subway.group_index("Gangnam")]), sim.world.shape[1])
    assert (x[0], y[0]) == (c, r)
    assert [g for g in drawn if g.startswith("zombie-aboard:")] == ["zombie-aboard:3"]
