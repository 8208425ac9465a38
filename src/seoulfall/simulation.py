"""The simulation loop: set up a world and its agents, step the kernels, record counts."""

from __future__ import annotations

import time
from collections.abc import Callable

import numba
import numpy as np

from seoulfall.engine import kernels as K
from seoulfall.engine.params import build_params
from seoulfall.engine.population import Agents, create_agents
from seoulfall.results import Results
from seoulfall.scenario import Scenario
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
        if threads is not None:
            numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        self.world: Raster = load_world(scenario)
        self.agents: Agents = create_agents(self.world, scenario, self.seed)
        self.P, self.IP = build_params(scenario, self.world.cell_m)
        self.nsteps = scenario.steps
        self.record_every = max(1, int(round(scenario.output.every_min / scenario.time.dt_min)))
        self._alloc()
        self.setup_seconds = time.perf_counter() - t0

    def _alloc(self) -> None:
        ny, nx = self.world.shape
        ncells = ny * nx
        n = self.agents.n
        nchunks = numba.get_num_threads()
        self.nbr = self.world.neighbour_table()
        self.cnt = np.zeros((ncells, K.NLIVING), np.int32)
        self.work = np.zeros_like(self.cnt)
        self.bounds = np.zeros(nchunks + 1, np.int64)
        self.ovf = np.zeros(n, np.int64)
        self.novf = np.zeros(nchunks, np.int64)
        self.stats = np.zeros((nchunks, K.NSTATS), np.int64)
        self.fields = np.zeros((5, ncells), np.int32)  # fz, fh, fe, and two work rows
        self.regions = np.zeros((3, 4), np.int64)
        self.bbox = np.zeros(4, np.int64)
        self.shist = np.zeros((nchunks, ncells + 1), np.int64)
        self.buf = (
            np.empty(n, np.int32),
            np.empty(n, np.int8),
            np.empty(n, np.float32),
            np.empty(n, np.int32),
        )
        self.cell_district = self.world.district.ravel().astype(np.int32)
        self.ndistricts = len(self.world.district_codes)
        self.totals = np.zeros(K.NLIVING, np.int64)
        self.recount()

    def recount(self) -> None:
        """Rebuild the per-cell counts, threat box and totals after agents were edited."""
        a = self.agents
        K.count_cells(a.cell, a.state, self.cnt)
        K.threat_bbox(self.cnt, self.world.shape[1], self.bbox)
        self.totals[:] = self.cnt.sum(axis=0)

    def advance(self, step0: int, nsteps: int) -> None:
        """Run ``nsteps`` steps starting at step number ``step0``."""
        a = self.agents
        ny, nx = self.world.shape
        K.advance(
            step0,
            nsteps,
            self.seed,
            ny,
            nx,
            a.cell,
            a.state,
            a.timer,
            a.aid,
            self.nbr,
            self.cnt,
            self.work,
            self.bounds,
            self.ovf,
            self.novf,
            self.stats,
            *self.fields,
            self.regions,
            self.bbox,
            self.totals,
            self.P,
            self.IP,
            self.shist,
            *self.buf,
        )

    def tally(self) -> np.ndarray:
        """Agents per (district, state) now; the last row counts agents off the map."""
        a = self.agents
        return K.tally(a.cell, a.state, self.cell_district, self.ndistricts)

    def run(self, progress: Callable[[int, int], None] | None = None) -> Results:
        """Run to the end and return the results.

        Parameters
        ----------
        progress : callable, optional
            Called as ``progress(step, nsteps)`` after each recorded block of steps.
        """
        t_start = time.perf_counter()
        self.advance(0, 0)  # compile (or load the cache) outside the timed stepping
        compile_seconds = time.perf_counter() - t_start
        times = []
        records = []
        step = 0
        times.append(0)
        records.append(self.tally())
        stepping = 0.0
        while step < self.nsteps:
            k = min(self.record_every - step % self.record_every, self.nsteps - step)
            t0 = time.perf_counter()
            self.advance(step, k)
            stepping += time.perf_counter() - t0
            step += k
            times.append(step)
            records.append(self.tally())
            if progress is not None:
                progress(step, self.nsteps)
        wall = time.perf_counter() - t_start + self.setup_seconds
        return Results.from_records(
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
                "threads": numba.get_num_threads(),
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
