import numba
import numpy as np
import pytest

from seoulfall import Scenario, simulate
from seoulfall.engine import kernels as K
from seoulfall.engine import plain, rng
from seoulfall.simulation import Simulation


def assert_step_matches_plain(sim, step):
    """One kernel step from the simulation's state equals the plain Python step; returns
    the plain step's (cell, state) and the state before, both in id order."""
    a = sim.agents
    ny, nx = sim.world.shape
    ids = np.argsort(a.aid)
    before = a.cell[ids].copy(), a.state[ids].copy()
    st = sim.stepper
    aboard = st.aboard.copy()
    st._sound(step)  # the sound and noise fields this step reads
    st._clock(step)  # and the journeys' clock
    ref = plain.step(
        step,
        sim.seed,
        a.cell,
        a.state,
        a.timer,
        a.aid,
        sim.nbr,
        st.cnt.copy(),  # the map's cells and the subway's cars
        sim.stepper.params_at(step),
        sim.IP,
        ny,
        nx,
        fs=st.fs.copy(),
        fn=st.fn.copy(),
        CT=st.CT,
        fv=st.fv.copy(),
        zk=st.zk.copy(),
        trip=st.trip(),
        aboard=aboard,
    )
    sim.advance(step, 1)  # may re-sort the agents: compare by id
    for want, have in zip(ref[:3], agents_by_id(sim)):
        assert np.array_equal(want[ids], have)
    assert np.array_equal(ref[3], st.cnt)
    assert np.array_equal(aboard, st.aboard)  # the humans infected aboard
    return (ref[0][ids], ref[1][ids]), before


def agents_by_id(sim):
    a = sim.agents
    order = np.argsort(a.aid)
    return a.cell[order], a.state[order], a.timer[order]


def test_conservation_and_no_negative_counts_every_step(small_seoul):
    sim = Simulation(small_seoul, seed=3)
    n = sim.agents.n
    passable = sim.passable_all  # the map's passable cells, then the subway's cars
    cnt = sim.stepper.cnt
    for step in range(300):
        sim.advance(step, 1)
        counts = sim.tally().sum(axis=0)
        assert counts.sum() == n and (counts >= 0).all()
        living = sim.agents.states() < K.NLIVING
        # per-cell counts agree with the agents and every agent stands on a passable cell
        assert cnt[:, : K.NLIVING].sum() == living.sum()
        human = (sim.agents.states() == K.HUMAN) & (sim.agents.state & K.SHELTER == 0)
        units = np.bincount(
            sim.agents.cell[human],
            sim.IP[K.I_UNITS : K.I_UNITS + 8][sim.agents.state[human] >> K.LEVEL_SHIFT],
            minlength=cnt.shape[0],
        )
        assert np.array_equal(cnt[:, K.C_STR], units)  # the humans' strength per cell
        assert np.array_equal(sim.totals, counts[: K.NLIVING])
        on_map = sim.agents.cell >= 0  # off the map: the army's reserve
        assert passable[sim.agents.cell[on_map]].all()
        assert (sim.agents.states()[~on_map] >= K.DEAD).all()
        assert np.isfinite(sim.agents.timer).all()
    assert counts[K.ZOMBIE] + counts[K.INFECTED] + counts[K.DEAD] > 20  # things happened


def test_agents_cross_the_river_only_by_bridge(small_seoul):
    sim = Simulation(small_seoul.override({"human.drift_mps": 2.0}), seed=1)
    w = sim.world
    side = np.array([1 if s == "north" else 2 for s in w.district_sides])[w.district.ravel()]
    on_bridge = w.bridge.ravel() >= 0
    water = w.water.ravel()
    ng = water.size  # cells past it: the subway's cars, which cross under the river

    def street(cells):
        on = (cells >= 0) & (cells < ng)
        return on, np.where(on, cells, 0)

    was, cells = street(agents_by_id(sim)[0])
    prev = side[cells]
    crossed = 0
    for step in range(120):
        sim.advance(step, 1)
        on, cells = street(agents_by_id(sim)[0])
        assert not (water[cells] & ~on_bridge[cells] & on).any()
        cur = side[cells]
        # on the street from one step to the next, a change of side happens only on a bridge
        # (its halves belong to the two banks)
        changed = (cur != prev) & on & was
        assert on_bridge[cells[changed]].all()
        crossed += int(changed.sum())
        prev, was = cur, on
    assert crossed > 0


def test_same_seed_is_bit_identical_whatever_the_thread_count(small_seoul, monkeypatch):
    from seoulfall.engine import stepper

    monkeypatch.setattr(stepper, "SERIAL_BELOW", 0)  # split even this small run into chunks
    sc = small_seoul.override({"time.days": 0.25})
    one = Simulation(sc, seed=5, threads=1)
    one.run()
    two = Simulation(sc, seed=5, threads=2)
    assert two.stepper.nthreads == min(2, numba.config.NUMBA_NUM_THREADS)
    two.run()
    for x, y in zip(agents_by_id(one), agents_by_id(two)):
        assert np.array_equal(x, y)
    r1 = simulate(sc, seed=5, threads=1)
    r2 = simulate(sc, seed=5, threads=2)
    assert r1.timeseries.equals(r2.timeseries)
    assert r1.districts.equals(r2.districts)


def test_the_pass_runs_on_every_thread_asked_for(small_seoul, monkeypatch):
    """A run steps on the threads asked for, even after ``warm_up`` built a one-thread stepper.

    numba's thread count belongs to the calling thread; a stepper once set it only when
    built, so the tiny stepper of ``warm_up`` left every run on one thread.
    """
    from seoulfall.engine import kernels, stepper

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread on this machine")
    monkeypatch.setattr(stepper, "SERIAL_BELOW", 0)
    # every step on all threads (the tuner's one-thread trials are tested on their own)
    sc = small_seoul.override({"time.days": 0.05, "engine.tune_threads": False})
    seen = []
    real = kernels.pass_parallel

    def spy(*args):
        if args[2].size > 2:  # not the tiny stepper of warm_up
            seen.append(numba.get_num_threads())
        return real(*args)

    monkeypatch.setattr(kernels, "pass_parallel", spy)
    sim = Simulation(sc, seed=5, threads=2)
    numba.set_num_threads(1)  # as any other code on this thread may have done
    sim.run()
    assert sim.stepper.nthreads == 2
    assert len(seen) == sim.nsteps
    assert set(seen) == {2}


def test_the_thread_tuner_steps_on_the_faster_after_each_trial():
    from seoulfall.engine.stepper import ThreadTuner

    t = ThreadTuner(2, every=32, steps=4)
    assert [t.threads_for(s) for s in range(10)] == [1] * 4 + [2] * 4 + [2, 2]
    for s in range(8):  # one thread takes 3 ms a step, two take 5 ms (a busy machine)
        t.record(s, t.threads_for(s), 0.003 if t.threads_for(s) == 1 else 0.005)
    assert t.best == 1 and t.threads_for(20) == 1 and (t.trials, t.chose_one) == (1, 1)
    for s in range(32, 40):  # the load is gone: two threads are faster again
        t.record(s, t.threads_for(s), 0.003 if t.threads_for(s) == 1 else 0.002)
    assert t.best == 2 and t.threads_for(60) == 2 and (t.trials, t.chose_one) == (2, 1)
    t.record(50, 2, 99.0)  # outside a trial: not counted
    assert t.spent == {1: 0.0, 2: 0.0}
    assert ThreadTuner(1).threads_for(3) == 1


def test_switching_threads_mid_run_changes_nothing(small_seoul, monkeypatch):
    from seoulfall.engine import stepper

    monkeypatch.setattr(stepper, "SERIAL_BELOW", 0)
    sc = small_seoul.override({"time.days": 0.25})

    class Flipping(stepper.ThreadTuner):
        """Chooses the other count after every trial, whatever the timings."""

        def record(self, step, threads, seconds):
            super().record(step, threads, seconds)
            if step % self.every == 2 * self.steps - 1:
                self.best = 1 if self.trials % 2 else self.most

    tuned = Simulation(sc, seed=5, threads=2)
    tuned.stepper.tuner = Flipping(2, every=24, steps=3)
    used = []
    real = tuned.stepper._pass

    def spy(step):
        used.append(tuned.stepper._k)
        return real(step)

    tuned.stepper._pass = spy
    r_tuned = tuned.run()
    static = Simulation(sc.override({"engine.tune_threads": False}), seed=5, threads=2)
    r_static = static.run()
    assert static.stepper.tuned is False and set(used) == {1, 2} and used.count(1) > 50
    assert r_tuned.timeseries.equals(r_static.timeseries)
    assert r_tuned.districts.equals(r_static.districts)
    for x, y in zip(agents_by_id(tuned), agents_by_id(static)):
        assert np.array_equal(x, y)


def test_different_seeds_differ(small_seoul):
    sc = small_seoul.override({"time.days": 0.25})
    a = simulate(sc, seed=1).timeseries
    b = simulate(sc, seed=2).timeseries
    assert not a.equals(b)


def test_sorting_never_changes_results(small_seoul):
    sc = small_seoul.override({"time.days": 0.2})
    a = Simulation(sc.override({"engine.sort_every": 0}), seed=9)
    a.run()
    b = Simulation(sc.override({"engine.sort_every": 3}), seed=9)
    b.run()
    for x, y in zip(agents_by_id(a), agents_by_id(b)):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("steps_before", [0, 9, 15])
@pytest.mark.parametrize("drift_mps", [0.05, 0.5])  # 0.03 hops a step, and 0.3: a coin toss
def test_kernel_step_equals_plain_python_step(small_seoul, steps_before, drift_mps):
    sc = small_seoul.override(
        {
            "human.drift_mps": drift_mps,
            "population.scale": 0.001,
            "zombie.evolve_rate_per_day": 200.0,
            "infection.hybrid_probability": 0.3,
            "zombie.bite_rate": 2.0,
            "human.kill_rate": 1.0,
            "outbreak.zombies": 300,
        }
    )
    sim = Simulation(sc, seed=11)
    # the kernel decides moves whose probability is a coin toss without a branch
    coin = K.COIN_LO < sim.P[K.P_H_DRIFT] < K.COIN_HI
    assert coin == (drift_mps == 0.5)
    sim.advance(0, steps_before)
    after, before = assert_step_matches_plain(sim, steps_before)
    assert (after[0] != before[0]).sum() > 5  # the step moved agents...
    assert (after[1] != before[1]).sum() > 0  # ...and changed states


@pytest.mark.parametrize("steps_before", [0, 30])
def test_kernel_step_equals_plain_python_step_with_graded_sensing_and_journeys(steps_before):
    """The moving city with graded fields: the same step in the kernels and in plain."""
    sc = Scenario.load(
        "seoul-moves",
        {
            "population.scale": 0.001,
            "outbreak.zombies": 300,
            "zombie.bite_rate": 2.0,
            "interaction.sensing": "graded",
            "zombie.sense_m": 400.0,  # four cells: the graded field in steps
        },
    )
    sim = Simulation(sc, seed=12)
    assert sim.IP[K.I_GRADED] == 1 and sim.P[K.P_COMMUTE] == 1
    sim.advance(0, steps_before)
    after, before = assert_step_matches_plain(sim, steps_before)
    assert (after[0] != before[0]).sum() > 50 and (after[1] != before[1]).sum() > 0


def test_skipping_tiles_never_changes_a_graded_run(small_seoul):
    sc = small_seoul.override({"time.days": 0.5, "interaction.sensing": "graded"})
    runs = []
    for every in (False, True):
        sim = Simulation(sc, seed=5)
        sim.stepper.every_tile = every
        sim.run()
        runs.append(agents_by_id(sim))
    for x, y in zip(*runs):
        assert np.array_equal(x, y)
    assert (runs[0][1] & K.STATE_MASK != K.HUMAN).sum() > 100  # the outbreak spread


def test_random_numbers_are_uniform_and_streams_independent():
    ids = np.arange(200_000, dtype=np.int32)
    u = rng.uniform_array(1, rng.BITE, 7, ids)
    assert abs(u.mean() - 0.5) < 0.003 and abs(u.var() - 1 / 12) < 0.002
    hist = np.histogram(u, bins=20, range=(0, 1))[0]
    expected = u.size / 20
    chi2 = ((hist - expected) ** 2 / expected).sum()
    assert chi2 < 45  # 19 degrees of freedom: p < 0.001 beyond 43.8
    v = rng.uniform_array(1, rng.KILL, 7, ids)
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.01
    w = rng.uniform_array(1, rng.BITE, 8, ids)
    assert abs(np.corrcoef(u, w)[0, 1]) < 0.01
    assert np.array_equal(u, rng.uniform_array(1, rng.BITE, 7, ids))
    # the plain Python generator draws the same numbers
    key = plain.step_key(1, rng.BITE, 7)
    assert [plain.unit(plain.bits(key, i)) for i in range(5)] == list(u[:5])


def test_bites_follow_the_frequency_dependent_hazard():
    # one cell, 1 zombie among many humans, no kills: P(bitten in one step) = 1-exp(-b/N dt)
    sc = Scenario.load(
        "well-mixed",
        {
            "population.agents": 100_001,
            "human.kill_rate": 0.0,
            "zombie.bite_rate": 2000.0,
            "time.dt_min": 0.01,
            "infection.turn_median_min": 100.0,
        },
    )
    sim = Simulation(sc, seed=4)
    sim.advance(0, 1)
    bitten = int((sim.agents.states() == K.INFECTED).sum())
    p = -np.expm1(-2000.0 * 1 / 100_001 * 0.01)
    mean, sd = 100_000 * p, np.sqrt(100_000 * p * (1 - p))
    assert abs(bitten - mean) < 4 * sd


def test_turn_times_are_log_normal_with_the_scenario_median():
    bits = [plain.bits(plain.step_key(0, rng.TURN, 0), i) for i in range(20_000)]
    t = np.array([plain.turn_time(b, 2.0, 0.8) for b in bits])
    assert np.median(t) == pytest.approx(2.0, rel=0.03)
    assert np.std(np.log(t)) == pytest.approx(0.8, rel=0.03)


def test_well_mixed_conserves_z_plus_one_minus_alpha_s_on_average():
    # Alemi: Z + (1 - alpha) S is conserved by the ODE; the agent mean is close when N is large
    sc = Scenario.load(
        "well-mixed",
        {
            "population.agents": 20_000,
            "outbreak.zombies": 200,
            "time.days": 0.5,
            "time.dt_min": 0.05,
        },
    )
    res = simulate(sc, seed=2)
    alpha = 0.8
    start = res.timeseries.iloc[0]
    end = res.timeseries.iloc[-1]
    q0 = start["zombie"] + (1 - alpha) * start["human"]
    q1 = end["zombie"] + (1 - alpha) * end["human"]
    assert end["human"] == 0
    assert q1 == pytest.approx(q0, rel=0.08)


def test_kernel_step_equals_plain_python_step_with_neighbour_contacts():
    sc = Scenario.load(
        "lattice",
        {
            "world.size": 41,
            "population.agents": 41 * 41,
            "interaction.own_weight": 0.5,
            "zombie.speed_mps": 1.0,
            "outbreak.zombies": 30,
            "time.dt_min": 0.5,
        },
    )
    sim = Simulation(sc, seed=2)
    sim.advance(0, 12)
    after, before = assert_step_matches_plain(sim, 12)
    assert (after[1] != before[1]).sum() > 0


def test_lattice_world_spreads_only_between_neighbours():
    # with no movement and neighbour contacts, zombies form one connected cluster
    from scipy import ndimage

    sc = Scenario.load(
        "lattice",
        {"world.size": 31, "population.agents": 31 * 31, "human.kill_rate": 0.0, "time.days": 0.01},
    )
    sim = Simulation(sc, seed=1)
    sim.run()
    zombie = np.zeros(31 * 31, bool)
    zombie[sim.agents.cell[sim.agents.states() == K.ZOMBIE]] = True
    labels, n = ndimage.label(zombie.reshape(31, 31))
    assert n == 1 and zombie[15 * 31 + 15]
    assert 1 < zombie.sum() < 31 * 31


def test_night_slows_ordinary_zombies_and_not_evolved_ones():
    # a field of wandering zombies, half of them evolved, by day (noon) and by night (23:00)
    moves = {}
    for label, start in (("day", "2026-03-02T12:00:00"), ("night", "2026-03-02T23:00:00")):
        sc = Scenario.load(
            "lattice",
            {
                "world.size": 80,
                "population.agents": 6400,
                "outbreak.zombies": 6400,
                "interaction.neighbour_weight": 0.0,
                "interaction.own_weight": 1.0,
                "interaction.mixing": "frequency",
                "zombie.wander_mps": 0.5,
                "zombie.night_factor": 0.5,
                "time.start": start,
                "time.dt_min": 1.0,
            },
        )
        sim = Simulation(sc, seed=3)
        a = sim.agents
        a.state[a.aid % 2 == 1] = K.EVOLVED
        sim.recount()
        hops = {K.ZOMBIE: 0, K.EVOLVED: 0}
        for step in range(20):  # 20 minutes: all at noon or all at night
            before = agents_by_id(sim)[0].copy()
            sim.advance(step, 1)
            after, state, _ = agents_by_id(sim)
            for kind in hops:
                hops[kind] += int(((after != before) & (state == kind)).sum())
        for kind in hops:
            moves[label, kind] = hops[kind]
    # evolved: same rate by day and night; ordinary: about half at night (factor 0.5)
    assert moves["night", K.EVOLVED] == pytest.approx(moves["day", K.EVOLVED], rel=0.1)
    ratio = moves["night", K.ZOMBIE] / moves["day", K.ZOMBIE]
    assert 0.35 < ratio < 0.65


def test_night_lowers_the_ordinary_bite_rate_by_the_factor():
    # one cell, one zombie among many humans: bites in one step follow beta * factor at night
    counts = {}
    for label, start in (("day", "2026-03-02T12:00:00"), ("night", "2026-03-02T02:00:00")):
        sc = Scenario.load(
            "well-mixed",
            {
                "population.agents": 200_001,
                "human.kill_rate": 0.0,
                "zombie.bite_rate": 2000.0,
                "time.dt_min": 0.01,
                "infection.turn_median_min": 100.0,
                "zombie.night_factor": 0.3,
                "time.start": start,
            },
        )
        sim = Simulation(sc, seed=6)
        sim.advance(0, 1)
        counts[label] = int((sim.agents.states() == K.INFECTED).sum())
    for label, factor in (("day", 1.0), ("night", 0.3)):
        p = -np.expm1(-2000.0 * factor / 200_001 * 0.01)
        mean, sd = 200_000 * p, np.sqrt(200_000 * p * (1 - p))
        assert abs(counts[label] - mean) < 4 * sd, label


def test_clock_knows_night_hours():
    t = Scenario.load("seoul-falls", {"time.start": "2026-03-02T19:00:00"}).time
    assert not t.is_night(0) and t.is_night(61) and t.is_night(60 * 10.5)
    assert not t.is_night(60 * 11) and t.is_night(60 * 25.5)
    assert not Scenario.load("seoul-falls", {"time.night_start_hour": 6.0}).time.is_night(0)


def test_shell_sort_sorts_like_numpy():
    """The sort the noise of fights uses (order-independent sums) sorts correctly."""
    gen = np.random.default_rng(1)
    for n in (0, 1, 2, 3, 17, 1000, 40_000):
        x = gen.integers(-5, 1 << 40, n)
        want = np.sort(x)
        K._shell_sort(x)
        assert np.array_equal(x, want), n


def test_the_bound_never_says_no_to_a_hit():
    """``_may_hit(u, x)`` is True whenever ``u < 1 - exp(-x)`` or ``u < -expm1(-x)``.

    The kernel skips the exponential when the bound says no, so one wrong "no" would change
    a decision. Hazards over many scales, and uniforms on the 2^-53 grid just below, at and
    above each probability (where rounding could matter).
    """
    import math

    gen = np.random.default_rng(7)
    xs = np.concatenate(
        [
            10.0 ** gen.uniform(-18, 1.5, 20_000),
            np.array([1e-300, 5e-324, 1e-16, 1.1e-16, 2.2e-16, 1e-15, 1e-9, 0.5, 1.0, 40.0]),
        ]
    )
    step = 2.0**-53
    hits = 0
    for x in xs:
        for p in (1.0 - math.exp(-x), -math.expm1(-x)):
            base = math.floor(p / step)
            for k in range(-2, 3):
                u = max(0.0, (base + k) * step)
                if u < p:
                    hits += 1
                    assert K._may_hit(u, x), (u, x, p)
    assert hits > 40_000  # the uniforms below each probability were reached
    # and it does say no far above the hazard, which is the point
    assert not K._may_hit(0.01, 1e-4)


def test_the_integer_threshold_draws_as_the_uniform_does():
    """``bits < unit_threshold(p)`` exactly when ``to_unit(bits) < p`` (the fast path's drift).

    Probabilities over many scales and at the grid's edges; bits at each multiple of 2^11
    around ``p 2^64``, one above it and one below the next (where a rounding would show).
    """
    gen = np.random.default_rng(3)
    edges = [0.0, 2.0**-53, 0.03, 0.5, np.nextafter(1.0, 0.0)]
    ps = np.concatenate([gen.uniform(0, 1, 5_000), 10.0 ** gen.uniform(-17, 0, 5_000), edges])
    below = 0
    for p in ps:
        t = int(rng.unit_threshold(p))
        assert t < 2**64
        m = int(p * 2.0**53)  # the grid point at or below p
        for k in range(m - 2, m + 3):
            for off in (0, 1, 2047):
                bits = (k << 11) + off
                if not 0 <= bits < 2**64:
                    continue
                want = rng.to_unit(np.uint64(bits)) < p
                assert (bits < t) == want, (p, bits)
                below += want
    assert below > 20_000  # both answers were checked, many times


def test_every_parameter_slot_is_declared_once_and_named_in_the_kernels():
    from seoulfall.engine import parameters

    for vec, prefix, size in (
        (parameters.FLOAT, "P_", K.NPARAMS),
        (parameters.INT, "I_", K.NIPARAMS),
    ):
        named = {v for k, v in vars(K).items() if k.startswith(prefix) and isinstance(v, int)}
        width = sum(p.width for p in vec.params)
        assert vec.size == size == width
        # every declared parameter has its constant in the kernels, at its own slot
        assert {vec.slot(n) for n in vec.names()} == named
        assert len(set(vec.names())) == len(vec.params)
    assert K.P_EVAC_REMOVE == parameters.FLOAT.slot("evac_remove")
    night = {p.name for p in parameters.FLOAT.params if p.night}
    assert night == {"bite", "z_chase", "z_wander"}  # the night scales ordinary zombies only


def test_the_night_scales_exactly_the_declared_parameters():
    from seoulfall.engine.params import build_params, night_params

    sc = Scenario.load("seoul-falls")
    P, _ = build_params(sc, 100.0)
    night = night_params(P, 0.5)
    changed = set(np.flatnonzero(night != P))
    assert changed == {K.P_BITE, K.P_Z_CHASE, K.P_Z_WANDER}
    assert night[K.P_BITE] == P[K.P_BITE] * 0.5


def test_the_playbook_sets_parameters_through_the_stepper_only_where_allowed():
    sim = Simulation(Scenario.load("seoul-falls", {"population.scale": 0.0005}), seed=0)
    sim.stepper.set_param("evac_remove", 1.0)
    assert sim.stepper.P[K.P_EVAC_REMOVE] == sim.stepper.P_night[K.P_EVAC_REMOVE] == 1.0
    with pytest.raises(ValueError, match="not settable"):
        sim.stepper.set_param("bite", 0.1)  # the night scales it; no event sets it
    with pytest.raises(ValueError, match="not a value an event may set"):
        sim.stepper.set_param("evac_remove", 0.5)  # a switch
    drift = sim.stepper.P[K.P_H_DRIFT]
    with pytest.raises(ValueError, match="not a value an event may set"):
        sim.stepper.set_param("h_drift", drift * 2)  # an event may only lower it
    sim.stepper.set_param("h_drift", drift / 2)
    assert sim.stepper.P[K.P_H_DRIFT] == sim.stepper.P_night[K.P_H_DRIFT] == drift / 2
