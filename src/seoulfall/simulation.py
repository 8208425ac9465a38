"""The simulation loop: set up a world and its agents, step the kernels, record counts."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from seoulfall import checkpoint, runfolder, safeload
from seoulfall.checkpoint import RunState
from seoulfall.engine import kernels as K
from seoulfall.engine import rng
from seoulfall.engine.params import build_params, cast_traits, night_params, noise_params
from seoulfall.engine.population import (
    Agents,
    create_agents,
    outbreak_district,
    soldiers,
    start_cell,
)
from seoulfall.engine.stepper import BackendError as BackendError  # re-exported: scripts catch it
from seoulfall.engine.stepper import Stepper, gpu_backend, require_gpu
from seoulfall.playbook.runner import Playbook
from seoulfall.results import Results
from seoulfall.scenario import KST, SYNTHETIC_MAPS, Scenario, ScenarioError
from seoulfall.snapshots import Recorder, frame_bytes
from seoulfall.world import Raster, load_world
from seoulfall.world import subway as subway_mod
from seoulfall.world.commute import homes_and_day_cells
from seoulfall.world.seoul import data_dir

#: Where the agent pass can run: ``--backend`` of ``seoulfall run``.
BACKENDS = ("cpu", "gpu")


def check_backend(backend: str) -> None:
    """Refuse, in one line, a backend that is unknown or cannot run here.

    Raises :class:`ScenarioError` (unknown) or ``BackendError`` (no CUDA GPU, or numba's CUDA
    support missing): before anything is built or written.
    """
    if backend not in BACKENDS:
        raise ScenarioError(f"backend = {backend!r}: unknown; allowed: {', '.join(BACKENDS)}")
    if backend == "gpu":
        require_gpu()


class InvariantError(RuntimeError):
    """A broken invariant: a bug, never bad input."""


class Simulation:
    """One run of a scenario with one seed.

    >>> sim = Simulation(Scenario.load("well-mixed"), seed=1)   # doctest: +SKIP
    >>> results = sim.run()                                        # doctest: +SKIP
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int | None = None,
        threads: int | None = None,
        backend: str = "cpu",
    ):
        t0 = time.perf_counter()
        check_backend(backend)
        self.backend = backend
        if seed is not None:
            scenario = scenario.override({"seed": int(seed)})
        self.scenario = scenario
        self.seed = scenario.seed
        self.world: Raster = load_world(scenario)
        check_fits(self.world, scenario)
        self.agents: Agents = create_agents(self.world, scenario, self.seed)
        self.P, self.IP = build_params(scenario, self.world.cell_m)
        self.outbreak_district = outbreak_district(self.world, scenario, self.agents)
        self.nsteps = scenario.steps
        self.record_every = max(1, int(round(scenario.output.every_min / scenario.time.dt_min)))
        self.snapshot_every = max(
            1, int(round(scenario.output.snapshot_every_min / scenario.time.dt_min))
        )
        self.nbr = self.world.neighbour_table()
        if scenario.world.edge == "open":  # the land beyond the edge: a way out, no cell
            self.nbr[self.world.edge_exits()] = K.EXIT
        clock = scenario.time
        self.cell_district = self.world.district.ravel().astype(np.int32)
        self.home = None  # each agent's home and day cell by id (``[commute]``)
        if self.P[K.P_COMMUTE] > 0.0:
            folder = data_dir() if scenario.world.map == "seoul" else None
            a = self.agents
            gen = np.random.default_rng([self.seed, rng.SETUP, 5])
            self.home = homes_and_day_cells(self.world, scenario, a.cell, a.aid, gen, folder)
        self.subway = self.tracks = None  # the subway's network, and its tables for the kernels
        ngrid = self.world.ncells
        if scenario.riding:
            self.subway, self.tracks = subway_mod.tables(
                self.world, scenario, self.home, data_dir()
            )
        net = self.subway
        cars = net.node_cell[net.car_from] if net is not None else np.zeros(0, np.int64)
        # every cell an agent may stand in: the raster's, then the subway's cars; the street
        # cell each stands for (a car's: the station it left), and so its district
        self.passable_all = np.r_[self.world.passable.ravel(), np.ones(cars.size, bool)]
        self.street = np.r_[np.arange(ngrid), cars].astype(np.int64)
        self.cell_district = self.cell_district[self.street]
        stepper = Stepper
        if backend == "gpu":
            stepper = gpu_backend().GPUStepper
        self.stepper = stepper(
            self.agents,
            self.world.shape,
            self.nbr,
            self.P,
            self.IP,
            self.seed,
            threads=threads,
            P_night=night_params(self.P, scenario.zombie.night_factor),
            is_night=night_table(clock, self.nsteps).__getitem__,
            cast_traits=cast_traits(scenario),
            noise=noise_params(scenario, self.world.cell_m),
            tune_threads=scenario.engine.tune_threads,
            home=self.home,
            zones=(self.world.zones(), self.world.passable.ravel()),
            clock=(minute_of_week(clock.start), clock.dt_min),
            subway=self.tracks,
        )
        gen = np.random.default_rng([self.seed, 100, 2])
        dt = clock.dt_min
        for i, snd in enumerate(scenario.sounds):
            c = start_cell(self.world, scenario, gen, snd, f"sounds.{i}", self.outbreak_district)
            start = int(round(snd.start_min / dt))
            end = start + max(1, int(round(snd.duration_min / dt)))
            self.stepper.add_sound(c, snd.loudness, snd.radius_m / self.world.cell_m, start, end)
        self.ndistricts = len(self.world.district_codes)
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
        return self.stepper.counts()[: self.world.ncells]

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

    def check(self) -> None:
        """Check the invariants now; raise :class:`InvariantError` naming the broken one.

        Conservation (the states sum to the agents), no negative count, the per-cell counts
        agree with the agents, every agent on the map stands on a passable cell, every agent
        off it is dead, evacuated or in reserve, and every timer is finite.
        """
        a = self.agents
        tally = self.tally().sum(axis=0)
        if tally.sum() != a.n or (tally < 0).any():
            raise InvariantError(f"conservation: states sum to {tally.sum()} of {a.n} agents")
        cnt = self.stepper.cnt  # the map's cells and the subway's cars
        if (cnt < 0).any():
            raise InvariantError("a per-cell count is negative")
        living = tally[: K.NLIVING].copy()
        living[K.HUMAN] += tally[K.SOLDIER]  # the kernels count soldiers among humans
        if not np.array_equal(cnt[:, : K.NLIVING].sum(axis=0), living):
            raise InvariantError("per-cell counts disagree with the agents")
        on = a.cell >= 0
        if not self.passable_all[a.cell[on]].all():
            raise InvariantError("an agent stands on an impassable cell")
        if (a.states()[~on] < K.DEAD).any():
            raise InvariantError("a living agent is off the map")
        if not np.isfinite(a.timer).all():
            raise InvariantError("a timer is not finite")

    def subway_summary(self) -> dict | None:
        """``summary["subway"]``: riders, the infected aboard, zombies on each line.

        When a zombie (or evolved zombie) first rode each line, and from which station;
        None without a subway.
        """
        net, st = self.subway, self.stepper
        if net is None:
            return None
        dt = self.scenario.time.dt_min
        lines = {}
        for j, name in enumerate(net.lines):
            cars = np.flatnonzero(net.car_line == j)
            first = st.first_zombie_car[cars]
            seen = first >= 0
            k = cars[seen][np.argmin(first[seen])] if seen.any() else -1
            lines[name] = {
                "infected_aboard": int(st.aboard[cars].sum()),
                "first_zombie_day": float(first[seen].min() * dt / 1440.0) if k >= 0 else None,
                "first_zombie_from": net.group_name[net.node_group[net.car_from[k]]]
                if k >= 0
                else None,
                "open": bool(st.line_open[j]),
            }
        return {
            "riders": int((self.home[:, 4] >= 0).sum()),
            "infected_aboard": int(st.aboard.sum()),
            "lines": lines,
        }

    def soldiers_of(self, event) -> int:
        """Agents a ``deploy_soldiers`` event brings (its count, scaled on resident maps)."""
        return soldiers(self.world, self.scenario, event)

    def _cast_cells(self) -> np.ndarray | None:
        """The named characters' cells now (``None`` without a cast)."""
        ncast = int(self.IP[K.I_NCAST])
        if not ncast:
            return None
        cells = self.stepper.cast_cell[:ncast]
        return np.where(cells >= 0, self.street[np.maximum(cells, 0)], cells).astype(np.int32)

    def cast_records(self) -> list[dict]:
        """The named characters' records: each one's start, then every change of state.

        A change names its ``cause`` (``engine/states.py``'s ``CAUSES``: who bit or killed
        the character, or what else changed it) and the district where it happened (for
        ``evacuated``, none: the character has left the map).
        """
        sc = self.scenario
        if not sc.cast:
            return []
        st = self.stepper
        codes, names = self.world.district_codes, self.world.district_names
        dt = sc.time.dt_min

        def rec(who, t_min, state, cell, cause=0):
            d = int(self.cell_district[cell]) if cell >= 0 else -1
            r = {
                "name": sc.cast[who].name,
                "t_min": float(t_min),
                "day": float(t_min) / 1440.0,
                "state": K.STATE_NAMES[state],
                "district": codes[d] if d >= 0 else None,
                "district_name": names[d] if d >= 0 else None,
                "cause": K.CAUSE_NAMES[cause] or None,
            }
            if state == K.HYBRID:
                r["kind"] = "carrier" if self.cast_kind(who) else "immune"
            return r

        out = [rec(w, 0.0, *self.cast_start[w]) for w in range(len(sc.cast))]
        out += [rec(w, (step + 1) * dt, *r) for w, step, *r in st.cast_records]
        return out

    def cast_kind(self, who: int) -> bool:
        """Whether character ``who`` is (or would be, as a hybrid) a carrier."""
        a = self.agents
        j = int(np.flatnonzero(a.aid == who)[0])
        return bool(a.state[j] & K.CARRIER)

    def run(
        self,
        progress: Callable[[int, int], None] | None = None,
        checkpoint_every: int | None = None,
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
        check_every: int | None = None,
        checkpoint_keep: int = 3,
        tick: Callable[[int], None] | None = None,
        tick_every: int | None = None,
    ) -> Results:
        """Run to the end and return the results.

        Parameters
        ----------
        progress : callable, optional
            Called as ``progress(step, nsteps)`` after each recorded block of steps.
        checkpoint_every : int, optional
            Write a checkpoint (:mod:`seoulfall.checkpoint`) into ``checkpoint_dir`` every
            this many steps.
        resume : bool
            Continue from the newest checkpoint in ``checkpoint_dir`` (from the start if
            there is none); the results are identical to an uninterrupted run's.
        check_every : int, optional
            Check the invariants (:meth:`check`) every this many steps; by default at every
            recorded row of the time series.
        checkpoint_keep : int
            Checkpoints kept in ``checkpoint_dir``: the newest ones (0: every one).
        tick : callable, optional
            Called as ``tick(step)`` between two steps at least every ``tick_every`` steps
            (the studio's live frames and its pauses). The steps go in smaller blocks then,
            which changes no result.
        """
        t_start = time.perf_counter()
        self.stepper.warm_up()  # compile (or load the cache) outside the timed stepping
        compile_seconds = time.perf_counter() - t_start
        dt = self.scenario.time.dt_min
        a = self.agents
        folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
        spool = folder / SPOOL if folder is not None else None
        every = int(checkpoint_every) if checkpoint_every and folder is not None else 0
        check_outputs_fit(self, spool, every, checkpoint_keep)
        latest = checkpoint.newest(folder) if (resume and folder is not None) else None
        if latest is not None:
            state = checkpoint.restore(self, latest, spool)
        else:
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
            snaps = Recorder(self.world.passable, spool)
            snaps.take(0.0, self.cnt, a.cell, a.state, self._cast_cells())
            state = RunState(step=0, times=[0], records=[self.tally()], snaps=snaps)
        self.resumed_from = state.step
        book = self.playbook
        try:
            while state.step < self.nsteps:
                step = state.step
                book.fire_due(step)
                k = min(
                    self.record_every - step % self.record_every,
                    self.snapshot_every - step % self.snapshot_every,
                    self.nsteps - step,
                )
                if every:
                    k = min(k, every - step % every)
                if check_every:
                    k = min(k, check_every - step % check_every)
                if tick_every:
                    k = min(k, tick_every - step % tick_every)
                nxt = book.next_step()
                if nxt is not None and nxt > step:
                    k = min(k, nxt - step)
                if book.watching:
                    k = 1  # a trigger is checked before every step
                # what the host does after this call, at step + k
                s = step + k
                snap = s % self.snapshot_every == 0 or s == self.nsteps
                checked = bool(check_every) and s % check_every == 0
                row = s % self.record_every == 0 or s == self.nsteps
                saved = bool(every) and s % every == 0 and s < self.nsteps
                # none of it, and no tick, reads the agents (an event that fires brings them
                # back first): a GPU may keep them for the next call instead of copying them
                # back and forth
                self.stepper.defer_sync = not (snap or checked or row or saved or tick is not None)
                t0 = time.perf_counter()
                self.advance(step, k)
                state.stepping += time.perf_counter() - t0
                step = state.step = s
                if snap:
                    state.snaps.take(step * dt, self.cnt, a.cell, a.state, self._cast_cells())
                if checked:
                    self.check()
                if row:
                    if not check_every:
                        self.check()
                    state.times.append(step)
                    state.records.append(self.tally())
                    if progress is not None:
                        progress(step, self.nsteps)
                if saved:
                    checkpoint.save(self, state, folder, keep=checkpoint_keep)
                if tick is not None:
                    tick(step)
        finally:  # a GPU that kept the agents gives them back, even on an error or an interrupt
            self.stepper.defer_sync = False
            self.stepper.sync()
        times, records, snaps, stepping = state.times, state.records, state.snaps, state.stepping
        wall = time.perf_counter() - t_start + self.setup_seconds
        return Results.from_records(
            subway=self.subway_summary(),
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
                "threads": self.stepper.nthreads,
            },
        )


def night_table(clock, nsteps: int) -> np.ndarray:
    """Whether each step (``0 .. nsteps``) starts at night: computed once, read every step.

    The same arithmetic as ``Time.is_night``, on arrays (the same doubles, the same answers).
    """
    if clock.night_start_hour == clock.night_end_hour:
        return np.zeros(nsteps + 1, bool)
    s = clock.start.astimezone(KST)
    t_min = np.arange(nsteps + 1, dtype=np.float64) * clock.dt_min
    hour = (s.hour + s.minute / 60 + s.second / 3600 + t_min / 60) % 24
    a, b = clock.night_start_hour % 24, clock.night_end_hour % 24
    return ((a <= hour) & (hour < b)) if a < b else ((hour >= a) | (hour < b))


def minute_of_week(start) -> float:
    """Minutes from the Monday midnight (KST) before ``start`` to ``start``."""
    s = start.astimezone(KST)
    return s.weekday() * 1440.0 + s.hour * 60.0 + s.minute + s.second / 60.0


#: The file that receives a checkpointed run's map snapshots as they are taken, in its
#: checkpoint folder (``snapshots.Recorder``): the frames never wait in memory.
SPOOL = runfolder.SPOOL


def check_outputs_fit(sim: Simulation, spool: Path | None, every: int, keep: int) -> None:
    """Refuse, before its first step, a run whose outputs cannot fit.

    Its snapshots in memory (no spool), or its snapshots and checkpoints on disk.
    """
    import shutil

    if spool is None:
        check_fits(sim.world, sim.scenario, snapshots=True)
        return
    _, _, frames = memory_needed(sim.world, sim.scenario)
    need = frames * frame_bytes(int(sim.world.passable.sum()))
    if every:
        per = sim.agents.n * 13 + sim.stepper.cnt.nbytes + sim.nbr.nbytes + (1 << 20)
        ncheck = sim.nsteps // every
        need += (min(ncheck, keep) if keep else ncheck) * per
    where = spool.parent
    while not where.exists() and where != where.parent:
        where = where.parent  # the folder will be made: ask the disk it will be made on
    free = shutil.disk_usage(where if where.exists() else Path.cwd()).free
    if need > free:
        raise ScenarioError(
            f"this run's snapshots and checkpoints need about {need / 2**30:.1f} GiB of disk "
            f"but {free / 2**30:.1f} GiB is free there: raise output.snapshot_every_min, keep "
            "fewer checkpoints, or write elsewhere"
        )


#: Bytes a run needs per agent at its peak (the agents, the sort's buffers, the daily
#: journeys, setup's temporaries). Measured at full Seoul (9,607,372 agents, 2026-11-27):
#: peak resident 1.29 GB with the journeys and the subway, 1.03 GB without, over a
#: process of 0.26 GB before any agent: 108 and 80 bytes an agent.
BYTES_PER_AGENT = 110


def memory_needed(
    world: Raster, scenario: Scenario, snapshots: bool = True
) -> tuple[int, int, int]:
    """Bytes a run of ``scenario`` on ``world`` needs, its agents and its snapshot frames.

    The agents (residents x scale, plus every soldier of the playbook), the map snapshots
    kept until the run is written (two copies at the end), the recorded rows and the map's
    own arrays.
    """
    res = float(world.residents.sum())
    synthetic = world.name in SYNTHETIC_MAPS
    n = res if synthetic else res * scenario.population.scale
    n += sum(soldiers(world, scenario, e) for e in scenario.events if e.enabled)
    steps = scenario.steps
    dt = scenario.time.dt_min
    frames = steps // max(1, round(scenario.output.snapshot_every_min / dt)) + 2
    rows = steps // max(1, round(scenario.output.every_min / dt)) + 2
    npass = int(world.passable.sum())
    need = (
        n * BYTES_PER_AGENT
        + (2 * frames * frame_bytes(npass) if snapshots else 0)
        + 2 * rows * (len(world.district_codes) + 1) * len(K.STATE_NAMES) * 8
        + world.ncells * 200
    )
    return int(need), int(n), int(frames)


def check_fits(world: Raster, scenario: Scenario, snapshots: bool = False) -> None:
    """Refuse, before allocating anything, a run that cannot fit in the memory available.

    The snapshots count only with ``snapshots`` (a run that keeps them in memory).
    """
    need, n, frames = memory_needed(world, scenario, snapshots)
    have = safeload.memory_available()
    if need > 0.9 * have:
        raise ScenarioError(
            f"this run needs about {need / 2**30:.1f} GiB ({n:,} agents, {frames:,} map "
            f"snapshots) but {have / 2**30:.1f} GiB of memory is available: lower "
            "population.scale (or population.agents, events' count), time.days, or raise "
            "output.snapshot_every_min"
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
    backend: str = "cpu",
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
    backend : {"cpu", "gpu"}
        Where the agent pass runs (:mod:`seoulfall.engine.gpu`); the same seed gives the
        same results on either.
    """
    sc = resolve(scenario, scale=scale, days=days, overrides=overrides)
    return Simulation(sc, seed=seed, threads=threads, backend=backend).run(progress=progress)


def resolve(
    scenario: Scenario | str,
    *,
    scale: float | None = None,
    days: float | None = None,
    overrides: dict | list | None = None,
) -> Scenario:
    """A scenario (or a name / path to load) with shorthands applied.

    The ``scale``, ``days`` and ``overrides`` of :func:`simulate` and
    :func:`seoulfall.ensemble`, in that order.
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
    return sc
