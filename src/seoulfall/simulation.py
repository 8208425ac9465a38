"""The simulation loop: set up a world and its agents, step the kernels, record counts."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from seoulfall.engine import kernels as K
from seoulfall.engine.params import build_params, cast_traits, night_params, noise_params
from seoulfall.engine.population import Agents, create_agents, start_cell
from seoulfall.engine.stepper import Stepper
from seoulfall.results import Results
from seoulfall.scenario import Scenario
from seoulfall.snapshots import Recorder
from seoulfall.world import Raster, load_world


class Simulation:
    """One run of a scenario with one seed.

    >>> sim = Simulation(Scenario.load("well-mixed"), seed=1)   # doctest: +SKIP
    >>> results = sim.run()                                        # doctest: +SKIP
    """

    def __init__(self, scenario: Scenario, seed: int | None = None, threads: int | None = None):
        t0 = time.perf_counter()
        if seed is not None:
            scenario = scenario.override({"seed": int(seed)})
        self.scenario = scenario
        self.seed = scenario.seed
        self.world: Raster = load_world(scenario)
        self.agents: Agents = create_agents(self.world, scenario, self.seed)
        self.P, self.IP = build_params(scenario, self.world.cell_m)
        self.nsteps = scenario.steps
        self.record_every = max(1, int(round(scenario.output.every_min / scenario.time.dt_min)))
        self.snapshot_every = max(
            1, int(round(scenario.output.snapshot_every_min / scenario.time.dt_min))
        )
        self.nbr = self.world.neighbour_table()
        clock = scenario.time
        self.stepper = Stepper(
            self.agents,
            self.world.shape,
            self.nbr,
            self.P,
            self.IP,
            self.seed,
            threads=threads,
            P_night=night_params(self.P, scenario.zombie.night_factor),
            is_night=lambda step: clock.is_night(step * clock.dt_min),
            cast_traits=cast_traits(scenario),
            noise=noise_params(scenario, self.world.cell_m),
        )
        gen = np.random.default_rng([self.seed, 100, 2])
        dt = clock.dt_min
        for i, snd in enumerate(scenario.sounds):
            c = start_cell(self.world, scenario, gen, snd, f"sounds.{i}")
            start = int(round(snd.start_min / dt))
            end = start + max(1, int(round(snd.duration_min / dt)))
            self.stepper.add_sound(c, snd.loudness, snd.radius_m / self.world.cell_m, start, end)
        self.cell_district = self.world.district.ravel().astype(np.int32)
        self.ndistricts = len(self.world.district_codes)
        from seoulfall.events import Playbook

        self.playbook = Playbook(self)
        st = self.stepper
        self.cast_start = [
            (int(st.cast_state[w]), int(st.cast_cell[w])) for w in range(len(scenario.cast))
        ]
        self.setup_seconds = time.perf_counter() - t0

    @property
    def cnt(self) -> np.ndarray:
        """Per-cell counts now, shape (ncells, ``kernels.NCOLS``).

        The living states, then the strength units of humans not in shelter, hybrid attacks
        and zombies destroyed in the last step.
        """
        return self.stepper.cnt

    @property
    def totals(self) -> np.ndarray:
        """Living agents per state now."""
        return self.stepper.totals

    def recount(self) -> None:
        """Rebuild the per-cell counts after agents were edited by hand."""
        self.stepper.recount()

    def advance(self, step0: int, nsteps: int) -> None:
        """Run ``nsteps`` steps starting at step number ``step0``."""
        self.stepper.advance(step0, nsteps)

    def tally(self) -> np.ndarray:
        """Agents per (district, state) now; the last row counts agents off the map."""
        a = self.agents
        return K.tally(a.cell, a.state, self.cell_district, self.ndistricts)

    def soldiers_of(self, event) -> int:
        """Agents a ``deploy_soldiers`` event brings (its count, scaled on resident maps)."""
        from seoulfall.engine.population import soldiers

        return soldiers(self.world, self.scenario, event)

    def cast_records(self) -> list[dict]:
        """The named characters' records: each one's start, then every change of state."""
        sc = self.scenario
        if not sc.cast:
            return []
        st = self.stepper
        codes, names = self.world.district_codes, self.world.district_names
        dt = sc.time.dt_min

        def rec(who, t_min, state, cell):
            d = int(self.cell_district[cell]) if cell >= 0 else -1
            r = {
                "name": sc.cast[who].name,
                "t_min": float(t_min),
                "day": float(t_min) / 1440.0,
                "state": K.STATE_NAMES[state],
                "district": codes[d] if d >= 0 else None,
                "district_name": names[d] if d >= 0 else None,
            }
            if state == K.HYBRID:
                r["kind"] = "carrier" if self.cast_kind(who) else "immune"
            return r

        out = [rec(w, 0.0, *self.cast_start[w]) for w in range(len(sc.cast))]
        out += [rec(w, (step + 1) * dt, s, c) for w, step, s, c in st.cast_records]
        return out

    def cast_kind(self, who: int) -> bool:
        """Whether character ``who`` is (or would be, as a hybrid) a carrier."""
        a = self.agents
        j = int(np.flatnonzero(a.aid == who)[0])
        return bool(a.state[j] & K.CARRIER)

    def run(self, progress: Callable[[int, int], None] | None = None) -> Results:
        """Run to the end and return the results.

        Parameters
        ----------
        progress : callable, optional
            Called as ``progress(step, nsteps)`` after each recorded block of steps.
        """
        t_start = time.perf_counter()
        self.stepper.warm_up()  # compile (or load the cache) outside the timed stepping
        compile_seconds = time.perf_counter() - t_start
        times = []
        records = []
        step = 0
        times.append(0)
        records.append(self.tally())
        dt = self.scenario.time.dt_min
        snaps = Recorder(self.world.passable)
        a = self.agents
        snaps.take(0.0, self.cnt, a.cell, a.state)
        stepping = 0.0
        book = self.playbook
        while step < self.nsteps:
            book.fire_due(step)
            k = min(
                self.record_every - step % self.record_every,
                self.snapshot_every - step % self.snapshot_every,
                self.nsteps - step,
            )
            nxt = book.next_step()
            if nxt is not None and nxt > step:
                k = min(k, nxt - step)
            if book.watching:
                k = 1  # a trigger is checked before every step
            t0 = time.perf_counter()
            self.advance(step, k)
            stepping += time.perf_counter() - t0
            step += k
            if step % self.snapshot_every == 0 or step == self.nsteps:
                snaps.take(step * dt, self.cnt, a.cell, a.state)
            if step % self.record_every and step != self.nsteps:
                continue
            times.append(step)
            records.append(self.tally())
            if progress is not None:
                progress(step, self.nsteps)
        wall = time.perf_counter() - t_start + self.setup_seconds
        return Results.from_records(
            events=book.records,
            cast=self.cast_records(),
            snapshots=snaps.result(),
            scenario=self.scenario,
            world=self.world,
            t_min=np.asarray(times, float) * self.scenario.time.dt_min,
            counts=np.stack(records),
            steps=self.nsteps,
            timing={
                "wall_seconds": wall,
                "stepping_seconds": stepping,
                "setup_seconds": self.setup_seconds,
                "compile_seconds": compile_seconds,
                "threads": self.stepper.nchunks,
            },
        )


def simulate(
    scenario: Scenario | str = "seoul-falls",
    seed: int | None = None,
    *,
    scale: float | None = None,
    days: float | None = None,
    overrides: dict | list | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Results:
    """Run a scenario once and return its :class:`~seoulfall.results.Results`.

    Parameters
    ----------
    scenario : Scenario or str
        A scenario, or a bundled name / TOML path for :meth:`Scenario.load`.
    seed : int, optional
        Overrides the scenario's seed.
    scale, days : float, optional
        Shorthands for ``population.scale`` and ``time.days``.
    overrides : dict or list of str, optional
        Further overrides, as for :meth:`Scenario.override`.
    threads : int, optional
        Number of threads (results are identical for any count).
    progress : callable, optional
        ``progress(step, nsteps)``.
    """
    sc = Scenario.load(scenario) if isinstance(scenario, str) else scenario
    extra = dict(overrides) if isinstance(overrides, dict) else {}
    if scale is not None:
        extra["population.scale"] = scale
    if days is not None:
        extra["time.days"] = days
    if extra:
        sc = sc.override(extra)
    if overrides is not None and not isinstance(overrides, dict):
        sc = sc.override(overrides)
    return Simulation(sc, seed=seed, threads=threads).run(progress=progress)
