"""Season 2's creatures: evolved zombies, hybrids, shelter, wounds, sound and the cast."""

import json

import numpy as np
import pytest
from test_engine import agents_by_id, assert_step_matches_plain

from seoulfall import Scenario, simulate
from seoulfall.engine import kernels as K
from seoulfall.engine import plain
from seoulfall.simulation import Simulation


def well_mixed(agents, **over):
    """One cell; season-2 mechanics stay off unless given."""
    return Scenario.load("well-mixed", {"population.agents": agents, **over})


def hybrids_cast(n, kind):
    return [{"name": f"h{i}", "state": "hybrid", "kind": kind, "cell": [0, 0]} for i in range(n)]


def set_states(sim, mask_by_id, state):
    """Give the agents with ``mask_by_id[aid]`` a state, then recount the cells."""
    a = sim.agents
    a.state[mask_by_id[a.aid]] = state
    sim.recount()


def test_zombies_never_bite_hybrids():
    # a cell of zombies and hybrids only, zombies that bite hard and are never destroyed
    sc = well_mixed(
        1000,
        **{
            "outbreak.zombies": 500,
            "zombie.bite_rate": 50.0,
            "human.kill_rate": 0.0,
            "hybrid.strength": 0.0,
            "time.days": 0.1,
        },
    )
    sim = Simulation(sc, seed=1)
    a = sim.agents
    set_states(sim, np.arange(a.n) % 2 == 1, K.HYBRID)
    hybrids0 = np.sort(a.aid[a.states() == K.HYBRID])
    sim.run()
    assert np.array_equal(np.sort(a.aid[a.states() == K.HYBRID]), hybrids0)
    assert (a.states() == K.INFECTED).sum() == 0


@pytest.mark.parametrize("kind", ["immune", "carrier"])
def test_immune_hybrids_never_infect_and_carriers_do(kind):
    # 20 ever-hungry hybrids with no self-control among 2000 humans, no zombies
    sc = Scenario.from_dict(
        {
            "world": {"map": "well-mixed"},
            "population": {"agents": 2020},
            "outbreak": {"zombies": 0},
            "time": {"days": 0.5, "dt_min": 1.0},
            "infection": {"turn_median_min": 2.0},
            "hybrid": {
                "hunger_hours": 0.0,
                "lapse_rate": 0.2,
                "self_control": 0.0,
                "strength": 0.0,
            },
            "human": {"retaliation": 0.0, "kill_rate": 0.0},
            "cast": hybrids_cast(20, kind),
        }
    )
    res = simulate(sc, seed=4)
    end = res.timeseries.iloc[-1]
    bitten = 2000 - end["human"]
    # each hybrid bites at 0.2 per minute when hungry: about 20 x 0.2 x 720 x (feeds reset
    # hunger to 0, which is already hungry) = 2880 attempts, far more than enough to matter
    assert bitten > 500
    if kind == "immune":
        assert end["infected"] + end["zombie"] + end["evolved"] == 0
        assert end["dead"] == bitten  # an immune hybrid's bite kills
        assert end["hybrid"] == 20
    else:
        assert end["zombie"] + end["infected"] > 0.9 * bitten  # a carrier's bite infects


def test_humans_who_see_a_hybrid_bite_may_kill_it_unless_pain_tolerant():
    deaths = {}
    for pain in (1.0, 10.0):
        sc = Scenario.from_dict(
            {
                "world": {"map": "well-mixed"},
                "population": {"agents": 50_400},
                "outbreak": {"zombies": 0},
                "time": {"days": 1 / 1440, "dt_min": 1.0},
                "hybrid": {
                    "hunger_hours": 0.0,
                    "lapse_rate": 1e4,
                    "self_control": 0.0,
                    "pain_tolerance": pain,
                },
                "human": {"retaliation": 0.5},
                "cast": hybrids_cast(400, "immune"),
            }
        )
        deaths[pain] = 400 - simulate(sc, seed=2).timeseries["hybrid"].iloc[-1]
    for pain, n in deaths.items():  # every hybrid bites once: killed with 1 - exp(-0.5 / pain)
        p = -np.expm1(-0.5 / pain)
        assert abs(n - 400 * p) < 4 * np.sqrt(400 * p * (1 - p)), pain


def test_evolved_zombies_outlive_ordinary_ones_against_the_same_fighters():
    # 2000 zombies, half evolved, among 2000 humans who fight and are never bitten
    sc = well_mixed(
        4000,
        **{
            "outbreak.zombies": 2000,
            "zombie.bite_rate": 0.0,
            "human.kill_rate": 0.02,
            "evolved.kill_resistance": 3.0,
            "time.days": 1 / 24,
        },
    )
    sim = Simulation(sc, seed=7)
    a = sim.agents
    zombie_ids = np.zeros(a.n, bool)
    zombie_ids[a.aid[a.states() == K.ZOMBIE]] = True
    evolved = zombie_ids & (np.arange(a.n) % 2 == 0)
    set_states(sim, evolved, K.EVOLVED)
    sim.run()
    _, state, _ = agents_by_id(sim)
    ordinary = zombie_ids & ~evolved
    ordinary_left = (ordinary & (state == K.ZOMBIE)).sum() / ordinary.sum()
    evolved_left = (evolved & (state == K.EVOLVED)).sum() / evolved.sum()
    assert evolved_left > ordinary_left + 0.1
    # a zombie destroyed at rate k f / N: evolved ones at a third of it; survival ratio
    # log(evolved) / log(ordinary) = 1/3 while the humans (f / N) stay put
    assert np.log(evolved_left) / np.log(ordinary_left) == pytest.approx(1 / 3, abs=0.08)


def test_feeding_makes_zombies_evolve_faster():
    evolved = {}
    for per_bite in (0.0, 200.0):
        sc = well_mixed(
            3000,
            **{
                "outbreak.zombies": 300,
                "zombie.bite_rate": 0.05,
                "human.kill_rate": 0.0,
                "infection.turn_median_min": 1e4,  # the bitten stay infected: no new zombies
                "zombie.evolve_rate_per_day": 10.0,
                "zombie.evolve_per_bite_per_day": per_bite,
                "time.days": 30 / 1440,
            },
        )
        res = simulate(sc, seed=3)
        evolved[per_bite] = res.timeseries["evolved"].iloc[-1]
    # unfed: 1 - exp(-10 x 30/1440) = 19 % of 300 = 57; each zombie feeds on about
    # 2700 x (1 - exp(-0.05 x 300 / 3000)) / 300 = 0.045 bites a minute, which adds
    # 0.045 x t x 200 / 1440 per minute: far more evolve
    assert evolved[0.0] == pytest.approx(57, abs=4 * np.sqrt(57))
    assert evolved[200.0] > 2 * evolved[0.0]


def test_shelter_cuts_the_bite_hazard_until_enough_zombies_crowd_in():
    bites = {}
    for zombies in (2, 8):
        sc = well_mixed(
            40_000 + zombies,
            **{
                "outbreak.zombies": zombies,
                "zombie.bite_rate": 5000.0,
                "human.kill_rate": 0.0,
                "human.shelter_factor": 0.25,
                "human.shelter_breach": 5,
                "infection.turn_median_min": 100.0,
                "time.dt_min": 0.1,
            },
        )
        sim = Simulation(sc, seed=5)
        a = sim.agents
        human = np.zeros(a.n, bool)
        human[a.aid[a.states() == K.HUMAN]] = True
        shelter = human & (np.arange(a.n) % 2 == 0)
        a.state[shelter[a.aid]] |= K.SHELTER
        sim.recount()
        sim.advance(0, 1)
        _, state, _ = agents_by_id(sim)
        bitten = state & K.STATE_MASK == K.INFECTED
        bites[zombies] = (bitten[shelter].mean(), bitten[human & ~shelter].mean())
    # 2 zombies: about 500 bites among the open, 125 among the sheltered (sd of the ratio
    # about 10 %): the shelter holds
    sheltered, open_ = bites[2]
    assert sheltered / open_ == pytest.approx(0.25, rel=0.3)
    sheltered, open_ = bites[8]  # 8 >= 5: the shelter falls (about 1900 bites each)
    assert sheltered / open_ == pytest.approx(1.0, rel=0.12)


def test_sheltered_humans_do_not_fight():
    sc = well_mixed(101, **{"outbreak.zombies": 1})
    sim = Simulation(sc, seed=1)
    assert sim.cnt[0, K.C_STR] == 4 * 100  # strength 1 is 4 units
    a = sim.agents
    a.state[(a.states() == K.HUMAN) & (np.arange(a.n) < 50)] |= K.SHELTER
    sim.recount()
    assert sim.cnt[0, K.C_STR] == 4 * (100 - int((a.state & K.SHELTER > 0).sum()))


def test_destroying_zombies_wounds_fighters_who_turn_later():
    sc = well_mixed(
        2000,
        **{
            "outbreak.zombies": 1000,
            "zombie.bite_rate": 0.0,
            "human.kill_rate": 0.5,
            "infection.wound_probability": 1.0,
            "infection.wound_median_min": 45.0,
            "infection.wound_sigma": 0.15,
            "infection.turn_median_min": 2.0,
            "time.days": 10 / 1440,
        },
    )
    sim = Simulation(sc, seed=8)
    sim.run()
    a = sim.agents
    infected = a.states() == K.INFECTED
    assert infected.sum() > 100  # nobody bites: every infection is a wound
    left = a.timer[infected]  # minutes left: 45 x lognormal minus at most 10 elapsed
    assert 25 < np.median(left) < 45
    assert left.max() < 45 * np.exp(0.15 * 5)


def test_zombies_drift_towards_a_noise_source():
    dist = {}
    for loud in (0.0, 10.0):
        sounds = [{"cell": [30, 30], "loudness": loud, "radius_m": 3000, "duration_min": 600}]
        sc = Scenario.load(
            "lattice",
            {
                "world.size": 61,
                "population.agents": 61 * 61,
                "outbreak.zombies": 61 * 61,
                "interaction.own_weight": 1.0,
                "interaction.neighbour_weight": 0.0,
                "zombie.speed_mps": 1.0,
                "zombie.wander_mps": 0.3,
                "time.days": 60 / 1440,
                "sounds": sounds if loud else [],
            },
        )
        sim = Simulation(sc, seed=2)
        sim.run()
        r, c = np.divmod(sim.agents.cell, 61)
        dist[loud] = np.hypot(r - 30, c - 30).mean()
    # 1 m/s for an hour is 36 cells: those within 30 cells (3 km) crowd the source
    assert dist[0.0] > 20
    assert dist[10.0] < 0.6 * dist[0.0]


def test_fights_make_noise_that_fades():
    sc = Scenario.load("seoul-falls", {"population.scale": 0.002, "time.days": 0.3})
    sim = Simulation(sc, seed=1)
    radius, loud, keep = sim.stepper.noise
    assert loud == 1.0 and radius == 5.0 and keep == pytest.approx(np.exp(-0.1))
    heard = 0.0
    for step in range(int(0.3 * 1440)):
        sim.advance(step, 1)
        kills = np.flatnonzero(sim.cnt[:, K.C_KILLS])
        if kills.size:  # this step's fights: at least their own loudness at their cells
            assert (sim.stepper.fn[kills] >= loud * sim.cnt[kills, K.C_KILLS] - 1e-4).all()
            heard = max(heard, float(sim.stepper.fn.max()))
    assert heard > 0


def test_the_cast_is_recorded_and_nam_ra_starts_as_an_immune_hybrid(tmp_path):
    res = simulate("seoul-falls", seed=0, scale=0.002, days=0.5)
    res.save(tmp_path)
    rec = [json.loads(x) for x in (tmp_path / "cast.jsonl").read_text().splitlines()]
    names = ["On-jo", "Cheong-san", "Nam-ra", "Su-hyeok", "Dae-su", "Ha-ri", "Hyo-ryung", "Mi-jin"]
    start = [r for r in rec if r["t_min"] == 0]
    assert [r["name"] for r in start] == names
    assert {r["district_name"] for r in start} == {"Mapo-gu"}
    nam_ra = start[2]
    assert nam_ra["state"] == "hybrid" and nam_ra["kind"] == "immune"
    assert all(r["state"] == "human" for r in start if r["name"] != "Nam-ra")
    for r in rec:
        assert set(r) >= {"name", "t_min", "day", "state", "district"}
        assert r["day"] == pytest.approx(r["t_min"] / 1440)
    summary = json.loads((tmp_path / "summary.json").read_text())
    last = {r["name"]: r["state"] for r in rec}
    assert {n: f["state"] for n, f in summary["cast"].items()} == last
    # every recorded change is a real change of that character's state
    seen = {}
    for r in rec:
        assert seen.get(r["name"]) != r["state"]
        seen[r["name"]] = r["state"]


def test_cast_changes_are_recorded_at_the_step_they_happen():
    # a character alone with many zombies is bitten at once and turns after its turn time
    sc = well_mixed(
        501,
        **{
            "outbreak.zombies": 500,
            "zombie.bite_rate": 100.0,
            "infection.turn_median_min": 3.0,
            "infection.turn_sigma": 0.0,
            "time.days": 10 / 1440,
            "time.dt_min": 1.0,
            "cast": [{"name": "Cheong-san", "cell": [0, 0]}],
        },
    )
    res = simulate(sc, seed=1)
    states = [(r["t_min"], r["state"]) for r in res.cast]
    # bitten in the first step (t = 1 min); the 3 minutes run from the step of the bite
    assert states[:3] == [(0.0, "human"), (1.0, "infected"), (3.0, "zombie")]


def test_the_default_run_shows_evolved_zombies_and_hybrids():
    res = simulate("seoul-falls", seed=0, scale=0.002, days=1.5)
    ts = res.timeseries
    assert ts["evolved"].max() > 0
    assert ts["hybrid"].max() > 1  # Nam-ra, and others who turned


def every_mechanism(cast=()):
    """Seoul at 1/1000 with every creature mechanism strong, a siren, and ``cast``."""
    sc = Scenario.load(
        "seoul-falls",
        {
            "population.scale": 0.001,
            "time.days": 0.2,
            "outbreak.zombies": 300,
            "zombie.bite_rate": 2.0,
            "zombie.evolve_rate_per_day": 100.0,
            "zombie.evolve_per_bite_per_day": 500.0,
            "human.kill_rate": 1.0,
            "human.shelter_probability": 0.5,
            "infection.hybrid_probability": 0.3,
            "infection.wound_probability": 0.5,
            "hybrid.hunger_hours": 0.0,
            "hybrid.lapse_rate": 1.0,
            "outbreak.district": "Mapo-gu",
            "world.residents": "district",  # as pinned when these tests were written
        },
    )
    siren = {"district": "Mapo-gu", "loudness": 50.0, "radius_m": 3000, "duration_min": 90}
    over = {"sounds": [siren]}
    if cast:
        over["cast"] = list(cast)
    return sc.override(over)


@pytest.mark.parametrize("steps_before", [0, 30])
def test_kernel_equals_plain_with_every_creature_mechanism(steps_before):
    sim = Simulation(every_mechanism(), seed=13)
    sim.advance(0, steps_before)
    after, before = assert_step_matches_plain(sim, steps_before)
    assert (after[1] != before[1]).sum() > 5
    assert (sim.stepper.fs > 0).sum() > 100


def test_the_kernel_gives_the_named_characters_the_causes_of_the_plain_step():
    # 600 characters where the outbreak starts (a zombie, four hybrids among them), stepped
    # until they change; each step the kernel's causes equal the reference's
    cast = [{"name": f"c{i}", "district": "Mapo-gu"} for i in range(600)]
    cast[1]["state"] = "zombie"
    for i, kind in ((2, "carrier"), (3, "immune"), (4, "carrier"), (5, "immune")):
        cast[i].update(state="hybrid", kind=kind, self_control=0.0)
    sim = Simulation(every_mechanism(cast), seed=5)
    st = sim.stepper
    ny, nx = sim.world.shape
    seen = []
    for step in range(40):
        a = sim.agents
        ids = np.flatnonzero(a.aid < 600)
        alive = a.aid[ids][a.states()[ids] < K.DEAD]  # the characters the pass visits
        st._sound(step)
        why = {}
        plain.step(
            step, sim.seed, a.cell, a.state, a.timer, a.aid, sim.nbr, st.cnt.copy(),
            st.params_at(step), sim.IP, ny, nx, fs=st.fs.copy(), fn=st.fn.copy(), CT=st.CT,
            fv=st.fv.copy(), zk=st.zk.copy(), why=why,
            trip=st.trip(),
        )  # fmt: skip
        sim.advance(step, 1)
        want = [K.CAUSE_NAMES.index(why.get(int(w), "")) for w in alive]
        assert st.cast_cause[alive].tolist() == want, step
        seen += [why[int(w)] for w in alive if int(w) in why]
    # the reference's causes are those of the records the run keeps
    recorded = [r["cause"] for r in sim.cast_records() if r["t_min"] > 0]
    assert sorted(recorded) == sorted(seen)
    kinds = {"bitten_by_zombie", "bitten_by_evolved", "evolved", "turned", "turned_hybrid"}
    assert kinds | {"killed_by_humans"} <= set(seen), set(seen)


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"cast": [{"name": "X", "district": "Atlantis"}]}, "cast.0.district"),
        ({"cast": [{"name": "X"}, {"name": "X"}]}, "given twice"),
        ({"cast": [{"name": "X", "state": "ghost"}]}, "cast.0.state"),
        ({"cast": [{"name": "X", "strength": 9}]}, "cast.0.strength"),
        ({"cast": [{"name": "X", "wings": 2}]}, "unknown key 'cast.0.wings'"),
        ({"sounds": [{"loudness": 5}]}, "sounds.0: needs a district or a cell"),
        ({"sounds": [{"cell": [1, 1], "loudness": -5}]}, "sounds.0.loudness"),
        ({"hybrid.self_control": 1.5}, "hybrid.self_control"),
    ],
)
def test_bad_creature_settings_are_refused_with_the_key(over, needle):
    from seoulfall.scenario import ScenarioError

    with pytest.raises(ScenarioError, match=needle.replace(".", r"\.")) as e:
        Scenario.load("seoul-falls").override(over)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kind", ["immune", "carrier"])
def test_a_hybrids_victims_and_its_death_name_their_cause(kind):
    # 20 hungry hybrids without self-control among 200 named humans, no zombie: an immune
    # hybrid's bite kills, a carrier's infects, and the humans who see a bite fight back
    cast = [{"name": f"p{i}", "cell": [0, 0]} for i in range(200)] + hybrids_cast(20, kind)
    sc = Scenario.from_dict(
        {
            "world": {"map": "well-mixed"},
            "population": {"agents": 220},
            "outbreak": {"zombies": 0},
            "time": {"days": 0.25, "dt_min": 1.0},
            "infection": {"turn_median_min": 10_000.0},  # nobody turns within the run
            "hybrid": {"hunger_hours": 0.0, "lapse_rate": 0.05, "self_control": 0.0},
            "human": {"retaliation": 0.5, "kill_rate": 0.0},
            "cast": cast,
        }
    )
    res = simulate(sc, seed=3)
    causes = {}
    for r in res.cast:
        if r["t_min"] > 0:
            causes.setdefault((r["name"][0], r["state"]), set()).add(r["cause"])
    bitten = ("p", "dead") if kind == "immune" else ("p", "infected")
    assert causes.pop(bitten) == {"killed_by_hybrid" if kind == "immune" else "bitten_by_hybrid"}
    assert causes.pop(("h", "dead")) == {"killed_after_bite"}
    assert causes == {}
