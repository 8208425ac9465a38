"""The edge of the city (``world.edge = "open"``): who may cross it, and how it is counted."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from test_engine import agents_by_id, assert_step_matches_plain

from seoulfall import Scenario, simulate
from seoulfall.cli import summary_text
from seoulfall.engine import kernels as K
from seoulfall.scenario import ScenarioError
from seoulfall.simulation import Simulation
from seoulfall.world.raster import NEIGHBOUR_OFFSETS, lattice
from seoulfall.world.seoul import load_seoul

#: Seoul at 1/1000 with the outbreak in Gangdong-gu, on the city's eastern edge, no events.
EAST = {
    "population.scale": 0.001,
    "outbreak.district": "Gangdong-gu",
    "outbreak.zombies": 60,
    "events": [],
    "world.edge": "open",
}


def east(days, **more):
    cast = [{"name": f"c{i}", "district": "Gangdong-gu"} for i in range(300)]
    return Scenario.load("seoul-falls", {**EAST, "time.days": days, "cast": cast, **more})


def test_the_open_edge_is_the_land_boundary_clear_of_the_river():
    w = load_seoul()
    ex = w.edge_exits()
    ny, nx = w.shape
    cells, ks = np.nonzero(ex)
    assert cells.size > 1000  # Seoul's land boundary is about 140 km: some 1,400 links
    assert w.land.ravel()[cells].all() and (w.bridge.ravel()[cells] < 0).all()
    r, c = cells // nx, cells % nx
    dr, dc = np.array(NEIGHBOUR_OFFSETS).T
    rr, cc = r + dr[ks], c + dc[ks]
    inside = (rr >= 0) & (rr < ny) & (cc >= 0) & (cc < nx)
    assert not w.inside[rr[inside], cc[inside]].any()  # every link leads off the map
    # ... to the land beyond, never into a hole between districts (three cells of the raster
    # no gu's polygon holds)
    regions, n = ndimage.label(~w.inside)
    rims = np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]])
    holes = np.setdiff1d(np.arange(1, n + 1), rims)
    assert holes.size == 3 and not np.isin(regions[rr[inside], cc[inside]], holes).any()
    # where the Han leaves Seoul (west and east) nobody walks out along it
    for rc in zip(r, c):
        assert not w.water[max(0, rc[0] - 2) : rc[0] + 3, max(0, rc[1] - 2) : rc[1] + 3].any()
    # every boundary land cell clear of the river has a way out
    off = np.pad(~w.inside & ~np.isin(regions, holes), 1, constant_values=True)
    touches = np.zeros(w.shape, bool)
    for dr_, dc_ in NEIGHBOUR_OFFSETS:
        touches |= off[1 + dr_ : 1 + dr_ + ny, 1 + dc_ : 1 + dc_ + nx]
    boundary = np.flatnonzero((touches & w.land & (w.bridge < 0)).ravel())
    assert 0.95 * boundary.size < np.unique(cells).size <= boundary.size
    # a lattice's edge is its rim: four links out of each side
    ex = lattice(10, 100).edge_exits()
    assert ex.sum() == 40 and ex.sum(axis=0).tolist() == [10, 10, 10, 10]


def test_the_edge_is_a_wall_unless_opened_and_well_mixed_has_none():
    for edge in (None, "wall"):
        sim = Simulation(east(0.01, **{"world.edge": edge}), seed=1)
        assert (sim.nbr >= -1).all()
    sim = Simulation(east(0.01), seed=1)
    assert (sim.nbr == K.EXIT).sum() == sim.world.edge_exits().sum()
    with pytest.raises(ScenarioError, match="world.edge = 'open': the well-mixed map has no edge"):
        Scenario.load("well-mixed", {"world.edge": "open"})


def test_without_zombies_nobody_crosses_the_open_edge():
    """Nobody leaves a city that sees no zombie: the open edge changes nothing (bit for bit),
    the moving city's journeys included."""
    runs = []
    for edge in ("wall", "open"):
        sim = Simulation(east(0.02, **{"outbreak.zombies": 0, "world.edge": edge}), seed=2)
        sim.advance(0, 30)
        runs.append(agents_by_id(sim))
    for wall, open_ in zip(*runs):
        assert np.array_equal(wall, open_)


@pytest.fixture(scope="module")
def fled():
    """Seoul's eastern edge half a day into an outbreak next to it, the edge open."""
    sim = Simulation(east(0.5), seed=3)
    return sim, sim.run()


def test_those_who_cross_are_counted_where_they_left(fled):
    sim, res = fled
    a = sim.agents
    gone = a.cell <= K.LEFT_AT
    left_from = K.LEFT_AT - a.cell[gone]
    state = K.reported_states(a.state[gone])
    # every one left from a cell with a way out, as a human (fled) or infected (escaped)
    assert sim.world.edge_exits().any(axis=1)[left_from].all()
    assert set(state.tolist()) == {K.FLED, K.ESCAPED}
    edge = res.summary["edge"]
    final = res.summary["final"]
    assert edge["fled"] == final["fled"] == int(np.sum(state == K.FLED)) > 20
    assert edge["escaped"] == final["escaped"] == int(np.sum(state == K.ESCAPED)) > 20
    assert not edge["contained"]
    assert sum(v["fled"] + v["escaped"] for v in edge["through"].values()) == gone.sum()
    assert "11740" in edge["through"]  # through Gangdong-gu, where it began
    last = res.districts[res.districts["t_min"] == res.districts["t_min"].max()]
    for code, row in last.set_index("district").iterrows():  # counted where they left from
        want = edge["through"].get(code, {"fled": 0, "escaped": 0})
        assert (row["fled"], row["escaped"]) == (want["fled"], want["escaped"]), code
    # the time series count them every record; nobody is lost (conservation)
    ts = res.timeseries
    states = [c for c in ts.columns if c in K.STATE_NAMES]
    assert (ts[states].sum(axis=1) == a.n).all()
    assert ts["fled"].is_monotonic_increasing and ts["escaped"].is_monotonic_increasing


def test_a_character_who_crosses_has_fled_and_survived(fled):
    _, res = fled
    fates = res.summary["cast"]
    gone = {n: f for n, f in fates.items() if f["state"] in ("fled", "escaped")}
    assert any(f["state"] == "fled" for f in gone.values())
    for f in gone.values():
        assert f["survived"] == (f["state"] == "fled")
        assert f["cause"] == {"fled": "fled_the_city", "escaped": "escaped_the_city"}[f["state"]]
        assert f["district"] is None


def test_the_kernel_crosses_the_edge_as_the_plain_step_does():
    sim = Simulation(east(0.1), seed=4)
    sim.advance(0, 80)  # 80 minutes in: people flee the growing outbreak over the edge
    left = 0
    for step in range(80, 100):
        (cell, _), (before, _) = assert_step_matches_plain(sim, step)
        left += int(np.sum((cell <= K.LEFT_AT) & (before > K.LEFT_AT)))
    assert left > 0  # the crossing was exercised


def test_a_cordon_closes_its_stretch_of_the_edge():
    cordon = {"type": "quarantine", "districts": ["Gangdong-gu"], "at_min": 0}
    sim = Simulation(east(0.25, events=[cordon]), seed=3)
    res = sim.run()
    assert "11740" not in res.summary["edge"]["through"]  # none through the cordoned district
    inside = sim.world.district.ravel() == sim.world.district_index("Gangdong-gu")
    assert not (sim.nbr[inside] == K.EXIT).any()


def test_a_report_and_a_summary_say_who_crossed_and_where(fled, tmp_path):
    from seoulfall import Results
    from seoulfall.cli import summary_text

    _, res = fled
    res.save(tmp_path / "run")
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    edge = res.summary["edge"]
    assert "<h2>Over the city's edge</h2>" in page and "Gangdong-gu" in page
    assert f"{edge['escaped']:,} infected crossed the city" in page
    text = summary_text(Results.load(tmp_path / "run").summary, tmp_path)
    assert f"edge: {edge['escaped']:,} infected crossed" in text
    assert f"{edge['fled']:,} people fled by land" in text
    # a summary.json whose edge is damaged is refused in one line, not a traceback
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    s["edge"]["fled"] = -1
    (tmp_path / "run" / "summary.json").write_text(json.dumps(s))
    from seoulfall.safeload import DamagedFile

    with pytest.raises(DamagedFile, match="edge.fled"):
        Results.load(tmp_path / "run")


@pytest.mark.parametrize("fled, city_falls", [((0, 10, 20), False), ((0, 2, 4), True)])
def test_the_fled_are_saved_for_the_city_not_for_the_district_they_left_through(fled, city_falls):
    """SPEC §8: humans fled alive are saved, not fallen; a district's fled are counted where
    they left the city, not where they lived, so they do not save that district."""
    from seoulfall import Results
    from seoulfall.world import load_world

    sc = Scenario.load("lattice", {"world.edge": "open"})
    world = load_world(sc)
    counts = np.zeros((3, len(world.district_codes) + 1, len(K.STATE_NAMES)), np.int64)
    col = {s: K.STATE_NAMES.index(s) for s in ("human", "zombie", "fled")}
    counts[:, 0, col["human"]] = [100, 50, 5]  # 5 % of the humans left in the city
    counts[:, 0, col["zombie"]] = [1, 40, 75]
    counts[:, 0, col["fled"]] = fled
    res = Results.from_records(sc, world, np.array([0.0, 60.0, 120.0]), counts, 120, {})
    day = 120.0 / 1440.0
    assert res.summary["fall_day"] == (day if city_falls else None)
    assert [d["fall_day"] for d in res.summary["districts"].values()] == [day]
    assert res.summary["edge"]["fled"] == fled[-1]


def test_the_fall_map_rings_where_the_infected_crossed(fled):
    from seoulfall.report import plot_fall_map

    sim, res = fled
    world = sim.world
    ax = plot_fall_map(res, world).axes[0]
    rings = {
        line.get_gid()[8:]: line for line in ax.lines if str(line.get_gid()).startswith("escaped:")
    }
    through = res.summary["edge"]["through"]
    assert set(rings) == {code for code, v in through.items() if v["escaped"]}
    ways = world.edge_exits().any(axis=1).reshape(world.shape)
    for code, line in rings.items():  # on a way out of the district they left through
        r, c = int(line.get_ydata()[0]), int(line.get_xdata()[0])
        assert ways[r, c] and world.district_codes[world.district[r, c]] == code
    big = max(rings, key=lambda code: through[code]["escaped"])
    assert rings[big].get_markersize() == max(x.get_markersize() for x in rings.values())


def test_a_run_whose_characters_crossed_saves_after_an_event_recounts(tmp_path):
    """An event recounts the agents (an airstrike here, after characters have crossed): the
    characters' cells were read from the agents' as they were, −2 − c for those who left,
    and the snapshots then refused them ("cast_cells holds values ... outside [-1, ...]"):
    the default run failed at its end."""
    from seoulfall import Results

    strike = {"type": "airstrike", "day": 0.45, "district": "Gangdong-gu", "kill_probability": 0.1}
    sim = Simulation(east(0.5, events=[strike]), seed=3)
    res = sim.run()
    gone = {f["state"] for f in res.summary["cast"].values()} & {"fled", "escaped"}
    assert gone and (sim.stepper.cast_cell >= -1).all()
    res.save(tmp_path / "run")
    assert Results.load(tmp_path / "run").summary["edge"] == res.summary["edge"]


def test_a_city_held_only_by_those_who_fled_is_said_so():
    """Every district fell, the city's fall day is null because the fled count as saved:
    the printed summary and the report say it, not that Seoul held."""
    from seoulfall.outcome import saved_by_flight

    d = {
        "11110": {"name": "Jongno-gu", "fall_day": 1.2},
        "11680": {"name": "Gangnam-gu", "fall_day": 0.5},
    }
    s = {"fall_day": None, "districts": d, "edge": {"fled": 14978}}
    assert saved_by_flight(s) == 14978
    assert saved_by_flight({**s, "edge": {"fled": 0}}) is None  # nobody fled: it held
    d2 = {**d, "11110": {"name": "Jongno-gu", "fall_day": None}}
    assert saved_by_flight({**s, "districts": d2}) is None  # a district stands: it held
    assert saved_by_flight({**s, "fall_day": 1.3}) is None  # it fell
    # a run's summary made into such a city: the printed summary's first line says so
    res = simulate(Scenario.load("seoul-falls", {"population.scale": 0.001, "time.days": 0.1}))
    s = dict(res.summary, fall_day=None, edge={**res.summary["edge"], "fled": 385})
    s["districts"] = {c: {**v, "fall_day": 1.0} for c, v in s["districts"].items()}
    line = summary_text(s, Path("x")).splitlines()[0]
    assert "every district fell (the city held only with the 385 who fled" in line, line
    assert "Seoul held" in summary_text(res.summary, Path("x")).splitlines()[0]
