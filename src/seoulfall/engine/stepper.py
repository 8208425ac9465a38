"""Drive the kernels: the per-step sequence, the work buffers and the worker threads.

Each step runs the agent pass as one chunk per thread (numba's threads, through the small
``kernels.pass_parallel`` wrapper); the counting sort runs its chunks on a thread pool (the
kernels release the GIL). Only that wrapper is compiled with ``parallel=True``, which keeps
numba's compile time low. Results never depend on the number of threads: each chunk's
decisions use only the counts at the start of the step and counter-based random numbers, and
counts are integers.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from seoulfall import safeload
from seoulfall.engine import kernels as K
from seoulfall.engine import rng
from seoulfall.engine.parameters import FLOAT, FLOAT_OLDER_SIZES, MAX_RATE_FACTOR
from seoulfall.engine.population import Agents

#: Below this many agents a step runs in one chunk on the calling thread (no hand-off).
#: Measured here (2 cores, the default scenario, same runs): 9.6 k agents, 2 days: 2.3-2.4 s
#: on one thread, 2.8-2.9 s on two; 96 k agents, 3 days: 12.1-12.9 s vs 9.5 s; 384 k, 1 day:
#: 8.3-9.0 s vs 5.2-5.6 s. Compiling the parallel wrapper adds about 4 s to a first run.
#: (An earlier measurement that found two threads no faster up to 1 M agents was made
#: while a bug kept every run on one thread.)
SERIAL_BELOW = 50_000
#: With several threads the pass splits its agents into this many parts per thread, dealt out
#: in turn (thread t takes parts t, t + threads, ...). The work of a part varies a hundredfold
#: (a chunk of sleeping city against one of the front); measured on day 2 of full Seoul, one
#: part per thread left one thread idle for 65 % of the pass (41 ms against 118 ms).
PARTS_PER_THREAD = 16
#: Steps between sorts by cell when the scenario leaves it unset: every 16 steps from
#: ``SERIAL_BELOW`` agents, where they outgrow the caches, every 128 below. Measured here on
#: one thread: the default scenario at 480 k agents, 80 M agent-steps/s sorting every 16
#: steps against 74.5 every 128 (day 2: 31.5 against 28.4); the Mesa benchmark's model at
#: 1 M agents, where half the agents hop every step, 47-52 against 34.5; at 9.6 k agents the
#: default scenario is 5-15 % faster sorting every 128. (It once depended on the thread
#: count alone, which left large one-thread runs sorting every 128 steps.)
SORT_EVERY = (16, 128)
#: With several threads the stepper measures which is faster now, one thread or all of them:
#: every ``TUNE_EVERY`` steps it times ``TUNE_STEPS`` steps on one thread, then as many on all,
#: and steps on the faster until the next trial. The split of the work is static (each
#: thread's parts are dealt out before the step), so a thread that the operating system
#: suspends for another busy process holds up the whole step: measured here (2 cores, the
#: default scenario, 2 days), 15.8 s on two threads against 19.4 s on one on a quiet
#: machine, but 30.3 s against 19.3 s with one other busy process. Results never depend on
#: the thread count, so switching changes only speed. (``engine.tune_threads = false``
#: keeps every step on all threads.)
TUNE_EVERY = 256
TUNE_STEPS = 8


#: The last ways to the zones computed (``Stepper.route_commuters``), by their links and
#: zones' digest.
_WAYS: dict = {}


class ThreadTuner:
    """Chooses, by measurement, how many threads the next steps use: one, or all ``most``."""

    def __init__(self, most: int, every: int = TUNE_EVERY, steps: int = TUNE_STEPS):
        self.most, self.every, self.steps = most, every, steps
        self.best = most
        self.spent = {1: 0.0, most: 0.0}  # seconds of the current trial's steps
        self.trials = 0  # trials decided so far
        self.chose_one = 0  # of which for one thread

    def threads_for(self, step: int) -> int:
        """Threads for ``step``: a trial's, or the faster of the last trial."""
        if self.most == 1:
            return 1
        phase = step % self.every
        if phase < self.steps:
            return 1
        if phase < 2 * self.steps:
            return self.most
        return self.best

    def record(self, step: int, threads: int, seconds: float) -> None:
        """The time a step took; at a trial's end, choose the faster for the next steps."""
        phase = step % self.every
        if self.most == 1 or phase >= 2 * self.steps:
            return
        self.spent[threads] += seconds
        if phase == 2 * self.steps - 1:  # the trial is complete
            self.best = 1 if self.spent[1] < self.spent[self.most] else self.most
            self.trials += 1
            self.chose_one += self.best == 1
            self.spent = {1: 0.0, self.most: 0.0}


class BackendError(RuntimeError):
    """The backend asked for cannot run here (no CUDA GPU for ``gpu``)."""


def gpu_backend():
    """The GPU backend's module (:mod:`seoulfall.engine.gpu`), imported on first use.

    Raises
    ------
    BackendError
        numba's CUDA support is missing or fails to import (numba-cuda absent, or a NumPy
        it does not support): one line that says which, never a traceback.
    """
    try:
        from seoulfall.engine import gpu
    except Exception as exc:  # noqa: BLE001 - whatever the import raises, said in one line
        why = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise BackendError(
            f"backend gpu: numba's CUDA support cannot load ({why}); install seoulfall[gpu] "
            "or use cpu"
        ) from None
    return gpu


def require_gpu():
    """The GPU backend's module, where it can run here; else one line (``BackendError``).

    Refused: numba's CUDA support missing or failing to import (:func:`gpu_backend`), or no
    CUDA GPU (nor numba's CUDA simulator).
    """
    gpu = gpu_backend()
    if not gpu.available():
        raise BackendError(
            "--backend gpu: no CUDA GPU found (numba.cuda.is_available() is False); "
            "use --backend cpu"
        )
    return gpu


class Stepper:
    """Per-cell counts, sensing fields and work buffers for one set of agents.

    Parameters
    ----------
    agents : Agents
        The agent arrays (modified in place).
    shape : tuple of int
        Raster (ny, nx).
    nbr : ndarray
        Neighbour table (``Raster.neighbour_table``).
    P, IP : ndarray
        Parameter vectors (``engine.params.build_params``).
    seed : int
        Random seed.
    threads : int, optional
        Worker threads (default: the machine's cores).
    P_night : ndarray, optional
        Float parameters for night steps (default: ``P``).
    is_night : callable, optional
        ``is_night(step) -> bool``; without it no step is at night.
    cast_traits : ndarray, optional
        (ncast, 3) speed, alertness and self-control of the named characters, who are the
        agents with ids ``0 .. ncast - 1`` (``IP[I_NCAST]`` must equal ncast).
    noise : tuple, optional
        ``(radius_cells, loudness, keep)`` of the noise of fights: each zombie destroyed adds
        a disc of that radius and loudness, which fades by ``keep`` per step.
    tune_threads : bool
        With several threads, choose by measurement between one thread and all of them
        (:class:`ThreadTuner`); False steps on all of them.
    home : ndarray, optional
        (agents, 5) int32: each agent's home, day cell (-1: none), minute of the day it
        leaves, minutes it stays away, and its stations (-1: it walks), by id, for the
        daily journeys
        (``kernels/commute.py``; read only when ``P[P_COMMUTE]`` is set).
    zones : tuple, optional
        ``(zone, passable)`` of every cell (``kernels.cell_zones``), with ``home``.
    clock : tuple, optional
        ``(minute of the week at step 0, KST, 0 at Monday midnight; step length in min)``.
    subway : tuple, optional
        ``(gcell, sroute, scar, smin, car_line, routes)``: the subway's tables
        (``kernels/commute.py``), each car's line, and ``routes(line_open, group_open)``,
        which recomputes ``sroute`` (``world.subway.routes``). Its cars are cells past the
        raster's: the counts, fields and sort have a row for each.
    """

    def __init__(
        self,
        agents,
        shape,
        nbr,
        P,
        IP,
        seed: int,
        threads: int | None = None,
        P_night=None,
        is_night=None,
        cast_traits=None,
        noise=(0.0, 0.0, 0.0),
        tune_threads: bool = True,
        home=None,
        zones=None,
        clock=(0.0, 1.0),
        subway=None,
    ):
        self.agents = agents
        self.ny, self.nx = shape
        self.nbr = nbr
        self.P, self.IP = P, IP
        self.P_night = P if P_night is None else P_night
        self.P0, self.P0_night = self.P.copy(), self.P_night.copy()  # as the scenario set them
        self.is_night = is_night  # step -> bool; None: never night
        self.seed = int(seed)
        n = agents.n
        self.threads = max(
            1, min(int(threads or os.cpu_count() or 1), numba.config.NUMBA_NUM_THREADS)
        )
        self.nthreads = 1 if n < SERIAL_BELOW else self.threads  # threads the steps use
        self.nchunks = self.nthreads * (PARTS_PER_THREAD if self.nthreads > 1 else 1)  # parts
        # threads the next steps use: all, or one where measured faster (``ThreadTuner``)
        self.tuner = ThreadTuner(self.nthreads if tune_threads else 1)
        self.tuned = tune_threads
        self._k = self.nthreads
        if subway is None:  # no cars: tables the kernels read nothing of
            none = np.zeros(0, np.int32)
            subway = (np.zeros(1, np.int32), np.full((1, 1), -2, np.int32),
                      np.zeros((0, 4), np.int32), np.ones(0), none, None)  # fmt: skip
        self.gcell, self.sroute, self.scar, self.smin, self.car_line, self._routes = subway
        ncars = self.scar.shape[0]
        self.ngrid = self.ny * self.nx  # the cars' cells come after the raster's
        ncells = self.ngrid + ncars
        nlines = int(self.car_line.max()) + 1 if ncars else 0
        # the subway's state: lines and stations open, humans infected in each car, the
        # step a zombie (or evolved) first rode each car (-1: none yet)
        self.line_open = np.ones(nlines, bool)
        self.group_open = np.ones(self.gcell.size if ncars else 0, bool)
        self.aboard = np.zeros(ncars, np.int64)
        self.first_zombie_car = np.full(ncars, -1, np.int64)
        self.cnt = np.zeros((ncells, K.NCOLS), np.int32)
        self.work = np.zeros_like(self.cnt)
        self.bounds = np.zeros(self.nchunks + 1, np.int64)
        self.ovf = np.zeros(n, np.int64)
        self.novf = np.zeros(self.nchunks, np.int64)
        self.stats = np.zeros((self.nchunks, K.NSTATS), np.int64)
        self.ev = np.zeros(n, np.int64)  # events of a step: zombies destroyed, hybrid attacks
        self.nev = np.zeros(self.nchunks, np.int64)
        # zombies seen by humans, humans seen by zombies, by evolved, zombies heard by hybrids
        self.fields = np.zeros((4, ncells), np.int32)
        self.fz, self.fh, self.fe, self.fy = self.fields
        self.fsrc = np.zeros((2, ncells), np.int32)  # humans, zombies + evolved per cell
        self.ftmp = np.zeros((4, ncells), np.int32)  # one scratch row per field
        ntiles = -(-self.ny // K.TILE) * -(-self.nx // K.TILE)
        self.tiles = np.zeros(ntiles, np.int32)  # T_* flags of the step's tiles
        # flags within a reader's reach, then within each field's sensing radius
        self.near = np.zeros((5, ntiles), np.int32)
        self.need = np.zeros(4, np.int64)  # which fields the step needs
        self.dirty = np.zeros((4, ntiles), np.uint8)  # tiles of a field that may be non-zero
        self.every_tile = False  # True: compute the fields on every tile (for the tests)
        # sound: scheduled sources (fs) and the fading noise of fights (fn)
        self.keys = np.zeros(K.NKEYS, np.uint64)  # the step's random-stream keys
        self.fs = np.zeros(ncells, np.float32)
        self.fn = np.zeros(ncells, np.float32)
        # the playbook: steps to the evacuation target, and guarded lines (kill probability)
        self.fv = np.full(ncells, K.FAR, np.int32)
        self.zk = np.zeros(ncells, np.float32)
        self.noise_region = K.NO_BBOX.copy()
        self.noise = tuple(float(v) for v in noise)
        self.sources: list[tuple[int, float, float, int, int]] = []
        self._active: tuple = ()
        CT = np.ones((1, 3)) if cast_traits is None else np.asarray(cast_traits, float)
        self.CT = CT if len(CT) else np.ones((1, 3))
        ncast = int(IP[K.I_NCAST])
        self.cast_state = np.zeros(max(1, ncast), np.uint8)
        self.cast_cell = np.zeros(max(1, ncast), np.int32)
        self.cast_cause = np.zeros(max(1, ncast), np.uint8)  # why it changed this step
        # the daily journeys: homes, day cells and hours by id; each cell's zone (dong) and
        # index among the passable cells; every passable cell's way to each zone
        # (by id as built, and in the agents' order, which the sort keeps: the pass reads
        # it in order, a row an agent, where reading it by id missed the caches)
        if home is None and P[K.P_COMMUTE] > 0.0:
            raise ValueError("P[P_COMMUTE] is set: the daily journeys need home and zones")
        self.commuting = home is not None
        self.home_by_id = np.full((1, 5), -1, np.int32) if home is None else home
        self.home = self.home_by_id.copy()
        if home is None:
            self.cz, self.zw = np.full((1, 3), -1, np.int32), np.zeros((1, 1), np.uint8)
        else:
            self.cz, self.zw = K.cell_zones(*zones)
            if ncars:  # the stations' street cells, where zombies may board
                self.cz[self.gcell, 2] = np.arange(self.gcell.size)
        self.clock = (float(clock[0]), float(clock[1]))
        # minute of the week now, the step's key (``kernels/commute.py``)
        self.clk = np.zeros(4, np.uint64)
        self.route_commuters()
        # (id, step, state, cell, cause): a cause is a code of ``states.CAUSES``
        self.cast_records: list[tuple[int, int, int, int, int]] = []
        self.bbox = np.zeros(4, np.int64)
        self.totals = np.zeros(K.NLIVING, np.int64)
        self.shist = np.zeros((self.nthreads, ncells + 2), np.int64)  # sorting: by thread
        # agents [n_active, n) are dead and sorted last: the pass never visits them
        self.n_active = n
        self.buf = (
            np.empty(n, np.int32),
            np.empty(n, np.uint8),
            np.empty(n, np.float32),
            np.empty(n, np.int32),
            np.empty_like(self.home),
        )
        self.pool = ThreadPoolExecutor(self.nthreads) if self.nthreads > 1 else None
        if self.pool is not None:
            weakref.finalize(self, self.pool.shutdown, wait=False)
        self.recount()

    def trip(self) -> tuple:
        """The journeys' and the subway's tables, as ``plain.step`` takes them (``trip``)."""
        return (self.home_by_id, self.cz, self.zw, self.clk.copy(), self.gcell, self.sroute,
                self.scar, self.smin)  # fmt: skip

    def route_commuters(self) -> None:
        """Steps to every zone over the links open now (again after links are cut).

        The ways depend only on the links and the zones: the last ones computed are kept
        (``_WAYS``), and a run set up on the same map takes a copy (0.26 s a run on Seoul).
        """
        self.edited()
        if not self.commuting:
            return
        key = hashlib.sha256(self.nbr.tobytes() + self.cz.tobytes()).hexdigest()
        if key in _WAYS and _WAYS[key].shape == self.zw.shape:
            self.zw[:] = _WAYS[key]
            return
        K.zone_ways(self.nbr, self.cz, self.zw)
        _WAYS.clear()
        _WAYS[key] = self.zw.copy()

    def _clock(self, step: int) -> None:
        """The clock at the start of ``step`` into ``clk``.

        The minute of the week, the step's key of the ``commute`` stream, the minute of the
        day and the day of the week (0: Monday).
        """
        if not self.commuting:
            return  # nothing reads them
        m0, dt = self.clock
        minute = int(math.floor(m0 + step * dt + 1e-9)) % 10080
        self.clk[:] = (minute, rng.step_key(self.seed, rng.COMMUTE, step), minute % 1440,
                       minute // 1440)  # fmt: skip

    def recount(self) -> None:
        """Rebuild the per-cell counts, threat box and totals from the agents.

        Every agent is visited again until the next sort: an edit may have revived one.
        """
        self.edited()
        a = self.agents
        self.n_active = a.n
        if self.commuting:  # the journeys' rows in the agents' order
            self.home[:] = self.home_by_id[a.aid]
        K.count_cells(a.cell, a.state, self.cnt, self.IP)
        K.threat_bbox(self.cnt[: self.ngrid], self.nx, self.bbox)
        self.totals[:] = self.cnt[:, : K.NLIVING].sum(axis=0)
        ncast = int(self.IP[K.I_NCAST])
        if ncast:
            ids = np.flatnonzero(a.aid < ncast)
            who = a.aid[ids]
            self.cast_state[who] = K.reported_states(a.state[ids])
            self.cast_cell[who] = np.maximum(a.cell[ids], -1)  # off the map: -1, left or not

    # -- a checkpoint's part: to_checkpoint, check_checkpoint, from_checkpoint ---------------
    ARRAYS = ("cnt", "fn", "noise_region", "fv", "zk", "P", "P_night", "cast_state", "cast_cell")

    def to_checkpoint(self) -> tuple[dict, dict]:
        """What a checkpoint keeps: (JSON fields, arrays) between two steps."""
        meta = {"n_active": self.n_active, "sources": self.sources}
        meta["cast_records"] = self.cast_records
        if self.aboard.size:  # the subway's state (runs with a subway only)
            meta["subway"] = {
                "aboard": self.aboard.tolist(),
                "first_car": self.first_zombie_car.tolist(),
                "line_open": self.line_open.tolist(),
                "group_open": self.group_open.tolist(),
            }
        return meta, {k: getattr(self, k) for k in self.ARRAYS}

    def check_checkpoint(
        self, meta: dict, z: dict, what: str, states: np.ndarray, step: int
    ) -> dict:
        """Checked copies of a checkpoint's stepper state (``DamagedFile`` if wrong).

        ``states``: the checkpoint's agents' states (checked), ``step``: its step.
        """
        bad = safeload.DamagedFile
        E, R = safeload.expect, safeload.in_range
        ncells = self.cnt.shape[0]
        z = dict(z)
        for k, p0 in (("P", self.P0), ("P_night", self.P0_night)):
            # a vector written before the later parameters existed: they had their
            # scenario values (the table of older sizes is in ``engine/parameters.py``)
            v = z.get(k)
            if (
                isinstance(v, np.ndarray)
                and v.dtype == p0.dtype
                and v.shape in [(n,) for n in FLOAT_OLDER_SIZES]
            ):
                z[k] = np.concatenate([v, p0[v.size :]])
        got = {
            k: E(z, k, what, getattr(self, k).dtype, getattr(self, k).shape) for k in self.ARRAYS
        }
        n_active = meta["n_active"]
        if not (0 <= n_active <= states.size) or (states[n_active:] != K.DEAD).any():
            raise bad(f"{what}: n_active = {n_active} does not fit the agents")
        R(got["fn"], 0.0, 3.0e38, "fn", what)
        R(got["zk"], 0.0, 1.0, "zk", what)
        R(got["cnt"][:, K.NLIVING :], 0, np.iinfo(np.int32).max, "cnt", what)
        nr = got["noise_region"]
        # empty: as set up (``NO_BBOX``), or as the fading noise leaves it when it falls
        # silent (rows and columns from ``NO_ROW`` to -1; such checkpoints were refused
        # before 2026-11-27); then no cell may hold noise
        emptied = [int(v) for v in nr] == [K.NO_ROW, -1, K.NO_ROW, -1]
        if np.array_equal(nr, K.NO_BBOX) or emptied:
            if got["fn"].any():
                raise bad(f"{what}: fn holds noise outside noise_region")
        elif not (0 <= nr[0] <= nr[1] < self.ny and 0 <= nr[2] <= nr[3] < self.nx):
            raise bad(f"{what}: noise_region is not a box on the map")
        for name in ("P", "P_night"):  # only what events may set can differ from the scenario's
            have, want = got[name], self.P0 if name == "P" else self.P0_night
            for p in FLOAT.params:
                i = FLOAT.slot(p.name)
                if not p.allows(float(have[i]), float(want[i])):
                    raise bad(f"{what}: {name} differs from this scenario's parameters")
        R(got["cast_state"], 0, len(K.STATE_NAMES) - 1, "cast_state", what)
        R(got["cast_cell"], -1, ncells - 1, "cast_cell", what)
        sources = []
        for s in meta["sources"]:
            ok = (
                isinstance(s, list)
                and len(s) == 5
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in s)
            )
            if not ok or not (0 <= s[0] < ncells and 0 < s[1] <= 1e6 and 0 < s[2] <= 1e6):
                raise bad(f"{what}: meta.sources holds {s!r}, not a sound source")
            if not (math.isfinite(s[1]) and math.isfinite(s[2])):
                raise bad(f"{what}: meta.sources holds a value that is not finite")
            sources.append((int(s[0]), float(s[1]), float(s[2]), int(s[3]), int(s[4])))
        if sources[: len(self.sources)] != self.sources:
            raise bad(f"{what}: meta.sources lost this scenario's sounds")
        ncast = int(self.IP[K.I_NCAST])
        cast_records = []
        for r in meta["cast_records"]:
            # (id, step, state, cell, cause); checkpoints written before causes were
            # recorded hold four values: their changes have no cause (0)
            ok = isinstance(r, list) and len(r) in (4, 5) and all(type(v) is int for v in r)
            r = r + [0] if ok and len(r) == 4 else r
            if not ok or not (0 <= r[0] < ncast and 0 <= r[1] < step
                              and 0 <= r[2] < K.NBYTE_STATES and -1 <= r[3] < ncells
                              and 0 <= r[4] < len(K.CAUSE_NAMES)):  # fmt: skip
                raise bad(f"{what}: meta.cast_records holds {r!r}")
            cast_records.append(tuple(r))
        got.update(n_active=n_active, sources=sources, cast_records=cast_records, what=what)
        got["subway"] = self._check_subway(meta.get("subway"), what, step)
        return got

    def _check_subway(self, sw, what: str, step: int) -> dict | None:
        """A checkpoint's subway state (``meta.subway``), checked; None without a subway."""
        if not self.aboard.size:
            if sw is not None:
                raise safeload.DamagedFile(f"{what}: meta.subway in a run without a subway")
            return None
        sizes = {"aboard": self.aboard.size, "first_car": self.aboard.size,
                 "line_open": self.line_open.size, "group_open": self.group_open.size}  # fmt: skip
        ok = isinstance(sw, dict) and set(sw) == set(sizes)
        ok = ok and all(
            isinstance(sw[k], list) and len(sw[k]) == m
            and all(type(v) in (int, bool) for v in sw[k])
            for k, m in sizes.items()
        )  # fmt: skip
        if ok:
            out = {k: np.array(sw[k], np.int64) for k in sizes}
            ok = (
                (out["aboard"] >= 0).all() and (out["aboard"] <= self.agents.n).all()
                and ((out["first_car"] == -1) | ((out["first_car"] >= 1)
                     & (out["first_car"] <= step))).all()
                and all(np.isin(out[k], (0, 1)).all() for k in ("line_open", "group_open"))
            )  # fmt: skip
        if not ok:
            raise safeload.DamagedFile(f"{what}: meta.subway is not this run's subway state")
        return out

    def from_checkpoint(self, checked: dict) -> None:
        """Take the state :meth:`check_checkpoint` returned (after the agents are loaded).

        The counts of the living come from the agents, not from the file: a recount must
        agree with them.
        """
        what = checked["what"]
        self.recount()
        saved = checked["cnt"]
        if not np.array_equal(saved[:, : K.NLIVING + 1], self.cnt[:, : K.NLIVING + 1]):
            raise safeload.DamagedFile(f"{what}: cnt disagrees with the agents")
        for name in self.ARRAYS:  # cnt too: the last step's attacks and kills, read next
            getattr(self, name)[:] = checked[name]
        self.n_active = checked["n_active"]
        self.sources = checked["sources"]
        self._active = ()
        self.cast_records = checked["cast_records"]
        self.route_commuters()  # over the checkpoint's links
        if self.aboard.size:
            sw = checked["subway"]
            self.aboard[:], self.first_zombie_car[:] = sw["aboard"], sw["first_car"]
            self.line_open[:], self.group_open[:] = sw["line_open"], sw["group_open"]
            self.reroute()
        K.threat_bbox(self.cnt[: self.ngrid], self.nx, self.bbox)
        self.totals[:] = self.cnt[:, : K.NLIVING].sum(axis=0)

    def add_sound(self, cell: int, loudness: float, radius: float, start: int, end: int):
        """Add a sound source at ``cell``, heard within ``radius`` cells.

        It sounds from step ``start`` to step ``end`` (exclusive) with
        ``loudness * (1 - d / radius)`` at distance ``d``.
        """
        self.sources.append((int(cell), float(loudness), float(radius), int(start), int(end)))

    def _sound(self, step: int) -> None:
        active = tuple(s for s in self.sources if s[3] <= step < s[4])
        if active != self._active:
            self._active = active
            src = np.array([s[:3] for s in active], float).reshape(-1, 3)
            K.render_sources(self.fs, self.nx, self.ny, src)

    def _each_chunk(self, fn, *args) -> None:
        """Run ``fn(ch, *args)`` for every thread's chunk: 0 here, the others on the pool.

        On one thread (``_k``, the tuner's choice) every chunk runs here, in turn.
        """
        if self.pool is None or self._k == 1:
            for ch in range(self.nthreads):
                fn(ch, *args)
            return
        futures = [self.pool.submit(fn, ch, *args) for ch in range(1, self.nthreads)]
        fn(0, *args)
        for f in futures:
            f.result()

    #: Whether the agents may stay where the pass runs after an ``advance`` (a GPU's memory)
    #: until :meth:`sync`. ``Simulation.run`` sets it for the calls after which nothing on
    #: the host reads them; the CPU's agents are always on the host.
    defer_sync = False

    def sync(self) -> None:
        """Bring the agents back to the host where a backend kept them (the CPU: nothing)."""

    def edited(self) -> None:
        """The host changed the agents or the stepper's tables (an event, a recount).

        A backend holding copies of them (a GPU) drops its copies and sends them again
        before the next step; the CPU has none. Whatever edits them calls it:
        :meth:`recount`, the setters, the routes, and ``Playbook._fire`` after an event.
        """

    def sort(self) -> None:
        """Stable counting sort of the agents by cell (never changes results, only speed).

        Only the agents before ``n_active`` are sorted: those after it are dead, already
        last, and stay so (at day 1 of full Seoul a third of the agents).
        """
        a = self.agents
        na = self.n_active
        cell, state, timer, aid = a.cell[:na], a.state[:na], a.timer[:na], a.aid[:na]
        home = self.home[:na] if self.commuting else self.home
        ncells = self.cnt.shape[0]
        self._each_chunk(K.sort_count, cell, state, ncells, self.shist)
        K.sort_offsets(self.shist)
        args = (cell, state, timer, aid, home)
        self._each_chunk(K.sort_scatter, *args, ncells, self.shist, *self.buf)
        self._each_chunk(K.sort_copy_back, self.nthreads, *args, *self.buf)
        self.n_active = na - int(np.count_nonzero(state == K.DEAD))

    def _fields(self, cur) -> None:
        args = (
            cur, self.nx, self.ny, self.bbox, self.totals, self.P, self.IP, self.fsrc,
            self.tiles, self.near, self.need, self.dirty, self.ftmp, self.fields,
            self.every_tile,
        )  # fmt: skip
        if self._k > 1:
            K.compute_fields_parallel(self._k, *args)
        else:
            K.compute_fields(*args)

    def set_param(self, name: str, value: float) -> None:
        """Set a float parameter for day and night steps: the playbook's one way in.

        Only parameters declared ``settable`` (``engine/parameters.py``), to a value their
        declaration allows; none the night scales.
        """
        self.edited()
        p = FLOAT.param(name)
        i = FLOAT.slot(name)
        if p.settable is None or p.night:
            raise ValueError(f"parameter {name!r} is not settable during a run")
        if not p.allows(value, self.P0[i]):
            raise ValueError(f"parameter {name!r}: {value} is not a value an event may set")
        self.P[i] = self.P_night[i] = value

    def scale_rate(self, key: str, factor: float) -> None:
        """Multiply a rate (a scenario key of ``RATE_KEYS``) by ``factor``, by day and by night.

        Every parameter declared proportional to it gets ``factor`` times its scenario value
        (not its current one: a second change replaces the first).
        """
        self.edited()
        params = [p for p in FLOAT.params if p.rate == key]
        if not params:
            raise ValueError(f"{key!r} is not a rate an event may change")
        if not (math.isfinite(factor) and 0.0 <= factor <= MAX_RATE_FACTOR):
            raise ValueError(f"rate factor {factor}: between 0 and {MAX_RATE_FACTOR:g}")
        for p in params:
            i = FLOAT.slot(p.name)
            self.P[i] = self.P0[i] * factor
            self.P_night[i] = self.P0_night[i] * factor

    def params_at(self, step: int) -> np.ndarray:
        """The float parameters in force at a step (night scales ordinary zombies)."""
        if self.is_night is not None and self.is_night(step):
            return self.P_night
        return self.P

    #: The arguments of the pass that change from step to step (the others are the stepper's
    #: own arrays, under the same names, filled in place).
    _STEP_ARGS = ("cell", "state", "timer", "aid", "cnt", "nxt", "P")
    #: The stepper's attributes passed under another name.
    _RENAMED = {"cst": "cast_state", "ccell": "cast_cell", "cwhy": "cast_cause"}

    def _pass_args(self, step, cur, nxt) -> tuple:
        """The arguments of ``kernels.pass_chunk`` after ``ch``, in the order of its signature.

        Built by name (``kernels.PASS_ARGS``): a stepper array is passed under its own
        name, so two arrays of one type cannot trade places unnoticed. The arrays that stay
        the same are looked up once per ``advance`` (:meth:`_begin`); a step fills in the
        rest (a few microseconds less a step than looking every one up).
        """
        if getattr(self, "_arg_base", None) is None:
            self._bind_args()
        a = self.agents
        na = self.n_active  # views of the same dtype and layout: no new compilation
        K.step_keys(self.seed, step, self.keys)
        self._clock(step)
        args = self._arg_base.copy()
        i = self._arg_at
        args[i["cell"]], args[i["state"]] = a.cell[:na], a.state[:na]
        args[i["timer"]], args[i["aid"]] = a.timer[:na], a.aid[:na]
        args[i["cnt"]], args[i["nxt"]], args[i["P"]] = cur, nxt, self.params_at(step)
        return tuple(args)

    def _bind_args(self) -> None:
        """Look up the pass's unchanging arguments by name (see :meth:`_pass_args`)."""
        self._arg_at = {k: K.PASS_ARGS.index(k) for k in self._STEP_ARGS}
        self._arg_base = [
            None if k in self._STEP_ARGS else getattr(self, self._RENAMED.get(k, k))
            for k in K.PASS_ARGS
        ]

    # -- the step sequence: one for every backend ------------------------------------------
    def advance(self, step0: int, nsteps: int) -> None:
        """Advance the agents by ``nsteps`` steps, the first numbered ``step0``.

        Each step: the sensing fields from the counts at its start, the sound sources of the
        step, the agent pass (:meth:`_pass`, the one part a backend replaces, with the
        transfers around it in :meth:`_begin`, :meth:`_end_step` and :meth:`_end`), the
        noise of the step's fights, and the named characters' changes of state.
        """
        ncast = int(self.IP[K.I_NCAST])
        loud = self.noise[1]
        self._begin()
        tune = self.tuned and self.nthreads > 1
        for step in range(step0, step0 + nsteps):
            if tune:
                self._k = self.tuner.threads_for(step)
                t0 = time.perf_counter()
            self._fields(self._counts_now())
            if self.sources:
                self._sound(step)
            before = self.cast_state.copy() if ncast else None
            span = self._pass(step)
            if tune:
                self.tuner.record(step, self._k, time.perf_counter() - t0)
            if loud > 0.0:
                self._fight_noise(span)
            if ncast:
                self._cast_changes(before, step)
            self._end_step(step)
            if self.aboard.size:
                self._zombies_aboard(step)
        self._end()

    def _fight_noise(self, span: int) -> None:
        """The noise of the step's fights (``ev``, ``nev`` over ``span`` agents) into ``fn``."""
        radius, loud, keep = self.noise
        K.fight_noise(self.fn, self.ev, self.nev, span, self.nx, self.ny, radius, loud, keep,
                      self.noise_region)  # fmt: skip

    def _cast_changes(self, before: np.ndarray, step: int) -> None:
        """Record the named characters whose state the pass of ``step`` changed."""
        self.record_cast_changes(before, step)

    def counts(self) -> np.ndarray:
        """The per-cell counts now (``cnt``), brought to the host where a backend holds them."""
        return self.cnt

    def any_zombie(self, cells: np.ndarray) -> bool:
        """Whether any of ``cells`` holds a zombie or an evolved zombie now."""
        return K.any_zombie(self.counts(), cells)

    def _zombies_aboard(self, step: int) -> None:
        """Mark the cars a zombie or evolved zombie rides after ``step`` for the first time."""
        cars = self._counts_now()[self.ngrid :]
        new = (cars[:, K.ZOMBIE] + cars[:, K.EVOLVED] > 0) & (self.first_zombie_car < 0)
        self.first_zombie_car[new] = step + 1

    def reroute(self) -> None:
        """The riders' next cars over the lines and stations open now (``sroute``)."""
        self.edited()
        self.sroute[:] = self._routes(self.line_open, self.group_open)

    def leave_trains(self, cars: np.ndarray, at: np.ndarray | None = None) -> int:
        """Everyone aboard the cars ``cars`` (a mask) gets off at the car's next station.

        ``at``: instead, each car's street cell where its riders get off. Returns how many
        got off. Counts are rebuilt (``recount``).
        """
        a = self.agents
        k = a.cell - self.ngrid
        off = (k >= 0) & cars[np.clip(k, 0, cars.size - 1)]
        a.cell[off] = (self.scar[:, 0] if at is None else at)[k[off]]
        self.recount()
        return int(off.sum())

    def record_cast_changes(self, before: np.ndarray, step: int, cause: int | None = None) -> None:
        """Record each named character whose state differs from ``before``, at ``step``.

        The cause is the one the pass wrote (``cast_cause``), or ``cause`` when given (an
        event's, between steps).
        """
        for who in np.flatnonzero(self.cast_state != before):
            why = int(self.cast_cause[who]) if cause is None else cause
            rec = (int(who), step, int(self.cast_state[who]), int(self.cast_cell[who]), why)
            self.cast_records.append(rec)

    def _begin(self) -> None:
        """Before the steps of an ``advance``: the chunks, and numba's threads."""
        a = self.agents
        self._cur, self._nxt = self.cnt, self.work
        self._bind_args()  # the stepper's arrays as they are now (a checkpoint may replace some)
        sort_every = int(self.IP[K.I_SORT_EVERY])
        if sort_every < 0:  # auto: often once the agents outgrow the caches
            sort_every = SORT_EVERY[0] if a.n >= SERIAL_BELOW else SORT_EVERY[1]
        self._sort_every = sort_every
        K.chunk_bounds(a.cell[: self.n_active], self.nchunks, self.cnt.shape[0], self.bounds)
        if self.pool is not None:
            # numba's thread count belongs to the calling thread, and any other stepper (the
            # tiny one of ``warm_up``, a user's) may have set it since: set it where the pass
            # runs. It was once set only in the constructor, and every run through
            # ``Simulation.run`` stepped on one thread after ``warm_up``.
            numba.set_num_threads(self.nthreads)

    def _counts_now(self) -> np.ndarray:
        """The per-cell counts at the start of the step (on the host)."""
        return self._cur

    def _pass(self, step: int) -> int:
        """The agent pass of one step: counts into the next table, the step's events listed.

        Returns the span of agents over which ``ev`` and ``nev`` list the events.
        """
        args = self._pass_args(step, self._cur, self._nxt)
        if self.pool is None:
            K.pass_chunk(0, *args)
        elif self._k == 1:  # the tuner found one thread faster: stay out of the thread pool
            K.pass_serial(*args)
        else:  # numba's own threads: about 0.3 ms a step less than handing off to the pool
            K.pass_parallel(self._k, *args)
        K.merge_overflow(
            self._nxt, self.ovf, self.novf, self.ev, self.nev, self.n_active, self.IP, self.aboard
        )
        K.combine_stats(self.stats, self.bbox, self.totals)
        return self.n_active

    def _end_step(self, step: int) -> None:
        """After a step: the next counts become the current ones; a sort when it is due."""
        self._cur, self._nxt = self._nxt, self._cur
        if self._sort_every > 0 and (step + 1) % self._sort_every == 0:
            self.sort()
            a = self.agents
            K.chunk_bounds(a.cell[: self.n_active], self.nchunks, self.cnt.shape[0], self.bounds)

    def _end(self) -> None:
        """After the steps: the counts where the rest of the run reads them."""
        if self._cur is not self.cnt:
            self.cnt[:] = self._cur

    def warm_up(self) -> None:
        """Compile (or load from cache) every kernel on a copy of tiny inputs."""
        tiny = Agents(
            cell=np.zeros(2, np.int32),
            state=np.array([0, 2], np.uint8),
            timer=np.zeros(2, np.float32),
            aid=np.arange(2, dtype=np.int32),
        )
        IP = self.IP.copy()
        IP[K.I_NCAST] = 0
        P = self.P.copy()
        P[K.P_COMMUTE] = 0.0  # the tiny world has no homes (the code compiles all the same)
        IP[K.I_SORT_EVERY] = 1
        s = type(self)(  # the GPU stepper compiles its device kernels here too
            tiny,
            (1, 1),
            np.full((1, 4), -1, np.int32),  # the neighbour table
            P,
            IP,
            self.seed,
            threads=1,
            noise=(1.0, 1.0, 0.5),
        )
        s.add_sound(0, 1.0, 1.0, 0, 1)
        s.advance(0, 1)
        if self.nthreads > 1:  # the parallel wrappers cost seconds to compile: only if used
            K.pass_parallel(1, *s._pass_args(1, s.cnt, s.work))
            K.pass_serial(*s._pass_args(1, s.cnt, s.work))
            s.nthreads = s._k = 2  # so that _fields takes (and compiles) its two-thread path
            s._fields(s.cnt)
        K.tally(tiny.cell, tiny.state, np.zeros(1, np.int32), 1)
