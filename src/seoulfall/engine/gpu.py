"""The GPU backend: the whole step on an NVIDIA GPU (numba's CUDA target).

``--backend gpu`` (``Simulation(..., backend="gpu")``) runs every part of a step as CUDA
kernels on arrays that stay on the device:

- the sensing fields, one thread a cell (:func:`seoulfall.engine.kernels.field_cell`: each
  cell sums its whole box, where the CPU slides sums over tiles);
- the agent pass, one thread an agent, calling the very function the CPU pass inlines
  (:func:`seoulfall.engine.kernels.agent_step`). It counts with atomic additions into the
  next step's per-cell counts, adds the step's events (zombies destroyed, hybrids' attacks,
  humans infected aboard) there at once, and keeps the statistics and the threat box with
  atomic minima and maxima;
- the noise of fights, one thread a cell (:func:`seoulfall.engine.kernels.noise_cell`), the
  named characters' log (a slot list per character) and the cars' first zombie.

Counts are integers, every decision uses the counts at the start of the step and
counter-based random numbers keyed by (seed, stream, step, agent id), and each cell adds the
noise of fights in the order of their cells, as the CPU does: a seed gives the same run on
the GPU as on the CPU, agent for agent (the tests check it through numba's CUDA simulator,
``NUMBA_ENABLE_CUDASIM=1``).

The device sorts the agents by cell only where the scenario asks (``engine.sort_every``):
a counting sort (count with atomics, scan, scatter), in no set order within a cell.

The host touches the device when it reads the agents back (:meth:`GPUStepper.sync`: rows,
snapshots, checkpoints, an event; the device keeps its copies), when it changes them (an
event, a recount: :meth:`GPUStepper.edited`, then all go out again before the next step),
when it reads the counts (:meth:`GPUStepper.counts`), while a trigger watches (one number a
step, :meth:`GPUStepper.any_zombie`), and when a scheduled sound starts or stops. An
ordinary step makes no copy between host and device (counted in ``transfers``): the step's
random keys and clock go as the kernel's arguments.

Each stepper launches on its own CUDA stream, so the runs of one process (several seeds,
:func:`seoulfall.sweep.ensemble` with ``backend="gpu"``) overlap on one card.
"""

from __future__ import annotations

import time

import numpy as np
from numba import config, cuda, njit

from seoulfall.engine import kernels as K
from seoulfall.engine.stepper import Stepper, require_gpu

THREADS_PER_BLOCK = 256

#: Steps of the named characters' log kept on the device between two reads (a character
#: changes state at most once a step: a read every this many steps cannot overflow).
CAST_LOG_STEPS = 1024


def _unwrap(x):
    """The NumPy array behind an array of numba's CUDA simulator (anything else as is).

    A device array (``_ary``), or a kernel's argument (``_item``, which wraps one). A tuple's
    arrays are unwrapped one by one.
    """
    if isinstance(x, tuple):  # the journeys' arrays travel as one tuple
        return tuple(_unwrap(v) for v in x)
    attrs = x.__dict__ if hasattr(x, "__dict__") else {}
    if "_item" in attrs:
        return attrs["_item"]._ary
    return attrs.get("_ary", x)


def _on_host(fn):
    # Under NUMBA_ENABLE_CUDASIM the kernel runs as Python and its arrays are the
    # simulator's wrappers, which compiled CPU code cannot take: hand it the arrays behind.
    return lambda *args: fn(*(_unwrap(x) for x in args))


#: What the pass kernel calls: on a GPU numba compiles ``kernels.agent_step`` for the device;
#: in the simulator it runs compiled for the CPU on the same arrays.
_agent_step = _on_host(K.agent_step) if config.ENABLE_CUDASIM else K.agent_step


def available() -> bool:
    """Whether the GPU backend can run here (a CUDA GPU, or numba's CUDA simulator)."""
    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver is no GPU
        return False


def _blocks(n: int) -> int:
    return max(1, (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK)


def _each(body, largest: bool = False):
    """A launcher of ``body(i, args)`` for ``i < n``, one GPU thread each.

    Called as ``launch(n, args, out, stream)``; with ``largest``, ``out[0]`` becomes the
    largest of ``out[0]`` and the values ``body`` returns (an atomic maximum). In numba's
    CUDA simulator, which runs a thread as Python in about half a millisecond, the same body
    runs in a loop compiled for the CPU instead: a raster's cells would take a minute a step.
    """
    if config.ENABLE_CUDASIM:
        if largest:

            @njit
            def loop(n, args, out):
                for i in range(n):
                    out[0] = max(out[0], body(i, args))

        else:

            @njit
            def loop(n, args, out):
                for i in range(n):
                    body(i, args)

        def run(n, args, out, stream):
            loop(n, _unwrap(args), _unwrap(out))

        return run
    if largest:

        @cuda.jit
        def kernel(n, args, out):
            i = cuda.grid(1)
            if i < n:
                cuda.atomic.max(out, 0, body(i, args))

    else:

        @cuda.jit
        def kernel(n, args, out):
            i = cuda.grid(1)
            if i < n:
                body(i, args)

    def launch(n, args, out, stream):
        if n > 0:
            kernel[_blocks(n), THREADS_PER_BLOCK, stream](n, args, out)

    launch.kernel = kernel  # for benchmarks/gpu_compile.py
    return launch


@njit(inline="always", cache=True)
def _cast_log(w, args):
    """Character ``w``'s state change in a step, if any, into its slots of the log.

    ``args``: ``(cst, ccell, cwhy, prev, log, nlog, step)``; ``log[w, k]`` holds
    (step, state, cell, cause) of its ``k``-th change since the host last read the log.
    """
    cst, ccell, cwhy, prev, log, nlog, step = args
    s = cst[w]
    if s != prev[w]:
        k = nlog[w]
        if k < log.shape[1]:
            log[w, k, 0] = step
            log[w, k, 1] = s
            log[w, k, 2] = ccell[w]
            log[w, k, 3] = cwhy[w]
        nlog[w] = k + 1
        prev[w] = s


@njit(inline="always", cache=True)
def _first_zombie(k, args):
    """Car ``k``: the step after the first one that ended with a zombie aboard."""
    cnt, first, ngrid, step = args
    c = ngrid + k
    if first[k] < 0 and cnt[c, K.ZOMBIE] + cnt[c, K.EVOLVED] > 0:
        first[k] = step + 1


#: Keys of the sort's scan a thread adds up (:func:`_scan_part`).
SCAN_PART = 1024


@njit(inline="always", cache=True)
def _scan_part(k, args):
    """Sort, scan 1: the agents of keys ``[k SCAN_PART, (k + 1) SCAN_PART)``, in ``part[k]``."""
    hist, part = args
    s = 0
    for c in range(k * SCAN_PART, min(hist.size, (k + 1) * SCAN_PART)):
        s += hist[c]
    part[k] = s


@njit(inline="always", cache=True)
def _scan_parts(k, args):
    """Sort, scan 2 (one thread): each part's first place (an exclusive prefix sum)."""
    (part,) = args
    run = 0
    for j in range(part.size):
        v = part[j]
        part[j] = run
        run += v


@njit(inline="always", cache=True)
def _scan_keys(k, args):
    """Sort, scan 3: each key's first place, from its part's (into ``hist``)."""
    hist, part = args
    run = part[k]
    for c in range(k * SCAN_PART, min(hist.size, (k + 1) * SCAN_PART)):
        v = hist[c]
        hist[c] = run
        run += v


@cuda.jit
def _sort_count(cell, state, ncells, hist):
    """Sort, count: agents per key (:func:`kernels.sort._sort_key`: cell, off the map, dead)."""
    i = cuda.grid(1)
    if i < cell.size:
        cuda.atomic.add(hist, K._sort_key(cell[i], state[i], ncells), 1)


@cuda.jit
def _sort_scatter(cell, state, timer, aid, home, ncells, hist, bcell, bstate, btimer, baid,
                  bhome):  # fmt: skip
    """Sort, scatter: each agent to a place of its key (in no set order within a key)."""
    i = cuda.grid(1)
    if i >= cell.size:
        return
    j = cuda.atomic.add(hist, K._sort_key(cell[i], state[i], ncells), 1)
    bcell[j] = cell[i]
    bstate[j] = state[i]
    btimer[j] = timer[i]
    baid[j] = aid[i]
    if home.shape[0] >= cell.size:
        for k in range(home.shape[1]):
            bhome[j, k] = home[i, k]


_scan_sums = _each(_scan_part)
_scan_firsts = _each(_scan_parts)
_scan_places = _each(_scan_keys)
_fields = _each(K.field_cell)
_noise_fade = _each(K.noise_fade_cell, largest=True)
_noise = _each(K.noise_cell)
_cast = _each(_cast_log)
_first_car = _each(_first_zombie)
_zombie_in = _each(K.zombie_in, largest=True)


@cuda.jit
def _pass(keys, cell, state, timer, aid, nbr, cnt, fz, fh, fe, fy, fs, fn, fv, zk, home, cz,
          zw, clk, gcell, sroute, scar, smin, P, IP, CT, cst, ccell, cwhy, nx, fast, general,
          drift_bits, nxt, aboard, stats):  # fmt: skip
    """One thread an agent: its step, then its counts and its event into ``nxt``."""
    i = cuda.grid(1)
    if i >= cell.size:
        return
    c, st, nsb, units, evc = _agent_step(
        i, keys, cell, state, timer, aid, nbr, cnt, fz, fh, fe, fy, fs, fn, fv, zk,
        (home, cz, zw, clk, gcell, sroute, scar, smin), nx, P, IP, CT, cst, ccell, cwhy, fast,
        general, drift_bits,
    )  # fmt: skip
    if evc >= 0:  # the event at once (the CPU lists them, then merges them in)
        ce, col, amount = K.event_count(evc)
        if col >= 0:
            cuda.atomic.add(nxt, (ce, col), amount)
        else:
            cuda.atomic.add(aboard, ce - (nxt.shape[0] - aboard.shape[0]), 1)
    if st >= K.DEAD:
        return
    cuda.atomic.add(nxt, (c, st), 1)
    if units != 0:
        cuda.atomic.add(nxt, (c, K.C_STR), units)
    cuda.atomic.add(stats, st, 1)
    if (st == K.INFECTED or st == K.ZOMBIE or st == K.EVOLVED) and c < cnt.shape[0] - scar.shape[0]:
        rr = c // nx
        cc = c - rr * nx
        cuda.atomic.min(stats, K.NLIVING + 0, rr)
        cuda.atomic.max(stats, K.NLIVING + 1, rr)
        cuda.atomic.min(stats, K.NLIVING + 2, cc)
        cuda.atomic.max(stats, K.NLIVING + 3, cc)


def _stats_start() -> np.ndarray:
    """The statistics before a pass: no agent counted, an empty threat box."""
    init = np.zeros(K.NSTATS, np.int64)
    init[K.NLIVING + 0] = init[K.NLIVING + 2] = K.NO_ROW
    init[K.NLIVING + 1] = init[K.NLIVING + 3] = -1
    return init


class GPUStepper(Stepper):
    """A :class:`Stepper` whose steps run on the GPU (same results as the CPU's).

    ``stream``: the CUDA stream it launches on (default: a new one).
    """

    def __init__(self, *args, stream=None, **kwargs):
        require_gpu()
        kwargs["threads"] = 1  # the host side runs in one thread
        super().__init__(*args, **kwargs)
        self.stream = cuda.stream() if stream is None else stream
        self._d = None  # the agents' and tables' device arrays, while they hold the host's
        self._stale = False  # whether the device holds a newer state than the host
        self._cnt_fresh = True  # whether ``cnt`` holds the device's counts
        self._trigger_cells = {}  # id -> (cells, on the device), for ``any_zombie``
        #: Copies between host and device, counted (``_up``, ``_down``): the tests check
        #: that an ordinary step makes none.
        self.transfers = 0
        #: Seconds spent in each part of the steps, when ``timed`` (the benchmarks): each
        #: part waits for the device before its clock stops, which costs speed.
        self.timed = False
        self.seconds = dict.fromkeys(("fields", "pass", "noise", "cast", "sort", "host"), 0.0)
        #: Steps between sorts by cell on the device: ``engine.sort_every`` where the scenario
        #: sets it; unset, never (the CPU's reasons, its caches, are not the GPU's, and
        #: whether sorting pays on a GPU is not measured yet).
        self.gpu_sort_every = max(0, int(self.IP[K.I_SORT_EVERY]))

    def _up(self, host, dev) -> None:
        """Copy ``host`` into the device array ``dev`` (counted)."""
        dev.copy_to_device(host, stream=self.stream)
        self.transfers += 1

    def _down(self, dev, host) -> None:
        """Copy the device array ``dev`` into ``host`` (counted; call ``_wait`` to read it)."""
        dev.copy_to_host(host, stream=self.stream)
        self.transfers += 1

    def _to_device(self, host):
        """A new device array holding ``host`` (counted)."""
        self.transfers += 1
        return cuda.to_device(host, stream=self.stream)

    def _wait(self) -> None:
        self.stream.synchronize()

    def ms_per_step(self, wall: float, steps: int) -> dict[str, float]:
        """Milliseconds a step in each part of ``steps`` timed steps (``timed``).

        ``wall``: their seconds in all; the host's part is the rest (its own work, launches,
        the Python between them).
        """
        ms = {k: 1e3 * v / steps for k, v in self.seconds.items()}
        ms["host"] = 1e3 * wall / steps - sum(v for k, v in ms.items() if k != "host")
        return ms

    def _clock_part(self, part: str, t0: float) -> float:
        """With ``timed``: wait for the device and add the time since ``t0`` to ``part``."""
        if not self.timed:
            return t0
        self._wait()
        t1 = time.perf_counter()
        self.seconds[part] += t1 - t0
        return t1

    def sort(self) -> None:
        """Nothing to sort on the host: the device counts with atomics, in any order."""
        self.n_active = self.agents.n

    def _device_buffers(self):
        """Device arrays kept for the whole run (allocated once, filled on the device)."""
        if getattr(self, "_dev", None) is None:
            ncast = self.cast_state.size
            zeros = np.zeros(1)
            self._dev = {
                "cnt": (cuda.device_array_like(self.cnt), cuda.device_array_like(self.cnt)),
                "fields": cuda.device_array_like(self.fields),
                "sound": cuda.device_array((2, self.cnt.shape[0]), np.float32),
                "fv": cuda.device_array_like(self.fv),
                "zk": cuda.device_array_like(self.zk),
                "P": cuda.device_array_like(self.P),
                "P_night": cuda.device_array_like(self.P_night),
                "stats": cuda.device_array(K.NSTATS, np.int64),
                "top": cuda.device_array(1, np.float64),
                "flag": cuda.device_array(1, np.float64),
                "prev": cuda.device_array(ncast, np.uint8),
                "log": cuda.device_array((ncast, CAST_LOG_STEPS, 4), np.int64),
                "nlog": cuda.device_array(ncast, np.int64),
                "first": cuda.device_array_like(self.first_zombie_car),
                # what a step starts from, copied on the device (no host transfer): the next
                # counts zeroed, the statistics' start values, no noise, no log
                "zeros": cuda.to_device(np.zeros_like(self.cnt)),
                "stats0": cuda.to_device(_stats_start()),
                "zero": cuda.to_device(zeros),
                "nlog0": cuda.to_device(np.zeros(ncast, np.int64)),
            }
            self.transfers += 4
        return self._dev

    def edited(self) -> None:
        """The host changed what the device holds: send it all again before the next step.

        Called only where the host holds the latest state (after :meth:`sync`).
        """
        self._d = None
        self._stale = False

    def _begin(self) -> None:
        """Send the agents, the counts and the playbook's tables, unless the device has them.

        It keeps them from the last call, read back or not (``defer_sync``), until the host
        changes them (:meth:`edited`: an event, a recount, a checkpoint).
        """
        if self._d is not None:
            return
        a = self.agents
        # the agents and the tables the playbook changes between calls (strikes, soldiers,
        # evacuations, cordons, closed bridges and lines)
        self._d = {
            name: self._to_device(x)
            for name, x in (
                ("cell", a.cell), ("state", a.state), ("timer", a.timer), ("aid", a.aid),
                ("nbr", self.nbr), ("IP", self.IP), ("CT", self.CT), ("home", self.home),
                ("cz", self.cz), ("zw", self.zw), ("gcell", self.gcell),
                ("sroute", self.sroute), ("scar", self.scar), ("smin", self.smin),
                ("aboard", self.aboard), ("cst", self.cast_state), ("ccell", self.cast_cell),
                ("cwhy", self.cast_cause),
            )
        }  # fmt: skip
        b = self._device_buffers()
        self._dcur, self._dnxt = b["cnt"]
        stats = np.concatenate([self.totals, self.bbox])  # the pass's statistics, as they are
        for host, dev in ((self.cnt, self._dcur), (stats, b["stats"]), (self.fv, b["fv"]),
                          (self.zk, b["zk"]), (self.P, b["P"]), (self.P_night, b["P_night"]),
                          (self.fs, b["sound"][0]), (self.fn, b["sound"][1]),
                          (self.first_zombie_car, b["first"])):  # fmt: skip
            self._up(host, dev)
        b["prev"].copy_to_device(self._d["cst"], stream=self.stream)  # device to device
        b["nlog"].copy_to_device(b["nlog0"], stream=self.stream)
        self._logged = 0  # steps logged since the host last read the log
        self._stale = False
        self._cnt_fresh = True

    def counts(self) -> np.ndarray:
        """The per-cell counts now: read back from the device if it holds newer ones."""
        if self._stale and not self._cnt_fresh:
            self._down(self._dcur, self.cnt)
            self._wait()
            self._cnt_fresh = True
        return self.cnt

    def any_zombie(self, cells: np.ndarray) -> bool:
        """Whether any of ``cells`` holds a zombie now (one number read from the device)."""
        if not self._stale or self._cnt_fresh:
            return super().any_zombie(cells)
        b = self._device_buffers()
        cache = self._trigger_cells
        if id(cells) not in cache:  # the trigger's cells go out once
            cache[id(cells)] = (cells, self._to_device(cells))
        b["flag"].copy_to_device(b["zero"], stream=self.stream)
        _zombie_in(cells.size, (self._dcur, cache[id(cells)][1]), b["flag"], self.stream)
        flag = np.zeros(1)
        self._down(b["flag"], flag)
        self._wait()
        return bool(flag[0] > 0.0)

    def _counts_now(self):
        return self._dcur  # on the device: only device kernels read it

    def _fields(self, cur) -> None:
        b = self._device_buffers()
        t0 = time.perf_counter()
        args = (cur, b["stats"], b["P"], self._d["IP"], self.nx, self.ny, b["fields"])
        _fields(cur.shape[0], args, b["zero"], self.stream)
        self._clock_part("fields", t0)

    def _sound(self, step: int) -> None:
        """Scheduled sound: rendered on the host, sent when a source starts or stops."""
        active = self._active
        super()._sound(step)
        if self._active != active:
            self._up(self.fs, self._device_buffers()["sound"][0])

    def _pass(self, step: int) -> int:
        d, b = self._d, self._device_buffers()
        t0 = time.perf_counter()
        n = self.agents.n
        cur, nxt = self._dcur, self._dnxt
        fz, fh, fe, fy = b["fields"]
        fs, fn = b["sound"]
        P = self.params_at(step)
        dP = b["P_night"] if P is self.P_night else b["P"]
        general, fast, drift_bits = K.pass_mode(P)
        drift_bits = np.uint64(drift_bits)  # (numba gives it back as a Python int)
        # the step's keys and clock are the kernel's arguments: no copy
        K.step_keys(self.seed, step, self.keys)
        self._clock(step)
        keys = tuple(np.uint64(k) for k in self.keys)
        clk = tuple(np.uint64(k) for k in self.clk)
        nxt.copy_to_device(b["zeros"], stream=self.stream)  # device to device
        b["stats"].copy_to_device(b["stats0"], stream=self.stream)
        t0 = self._clock_part("host", t0)
        _pass[_blocks(n), THREADS_PER_BLOCK, self.stream](
            keys, d["cell"], d["state"], d["timer"], d["aid"], d["nbr"], cur,
            fz, fh, fe, fy, fs, fn, b["fv"], b["zk"], d["home"], d["cz"], d["zw"],
            clk, d["gcell"], d["sroute"], d["scar"], d["smin"],
            dP, d["IP"], d["CT"], d["cst"],
            d["ccell"], d["cwhy"], self.nx, fast, general, drift_bits, nxt, d["aboard"],
            b["stats"],
        )  # fmt: skip
        self._clock_part("pass", t0)
        return max(1, n)

    def _fight_noise(self, span: int) -> None:
        """Fade the noise and add the step's fights, on the device (after the pass)."""
        b = self._device_buffers()
        t0 = time.perf_counter()
        radius, loud, keep = self.noise
        fn = b["sound"][1]
        b["top"].copy_to_device(b["zero"], stream=self.stream)
        _noise_fade(self.ngrid, (fn, keep), b["top"], self.stream)
        args = (fn, b["top"], self._dnxt, self.nx, self.ny, radius, loud)
        _noise(self.ngrid, args, b["zero"], self.stream)
        self._clock_part("noise", t0)

    def _cast_changes(self, before, step: int) -> None:
        """The named characters' changes of the step, logged on the device."""
        b, d = self._device_buffers(), self._d
        t0 = time.perf_counter()
        if self._logged == CAST_LOG_STEPS:  # full: the host reads it (once in 1024 steps)
            self._read_cast_log()
        args = (d["cst"], d["ccell"], d["cwhy"], b["prev"], b["log"], b["nlog"], step)
        _cast(self.cast_state.size, args, b["zero"], self.stream)
        self._logged += 1
        self._clock_part("cast", t0)

    def _read_cast_log(self) -> None:
        """Append the device's log of the named characters to ``cast_records``, then empty it.

        In the CPU's order: by step, then by character.
        """
        b = self._device_buffers()
        nlog = np.zeros(self.cast_state.size, np.int64)
        log = np.zeros((self.cast_state.size, CAST_LOG_STEPS, 4), np.int64)
        self._down(b["nlog"], nlog)
        if nlog.any():
            self._down(b["log"], log)
        self._wait()
        recs = [(int(s), w, int(st), int(c), int(why))
                for w in range(nlog.size) for s, st, c, why in log[w, : nlog[w]]]  # fmt: skip
        self.cast_records.extend((w, s, st, c, why) for s, w, st, c, why in sorted(recs))
        b["nlog"].copy_to_device(b["nlog0"], stream=self.stream)
        self._logged = 0

    def _end_step(self, step: int) -> None:
        self._dcur, self._dnxt = self._dnxt, self._dcur
        self._stale = True
        self._cnt_fresh = False
        if self.gpu_sort_every > 0 and (step + 1) % self.gpu_sort_every == 0:
            self._sort_on_device()

    def _sort_on_device(self) -> None:
        """Sort the agents by cell on the device (a counting sort: count, scan, scatter).

        The order within a cell is the atomics' (no set order): results never depend on
        the agents' order, which only speed does.
        """
        d, b = self._d, self._device_buffers()
        t0 = time.perf_counter()
        n, nkeys = self.agents.n, self.cnt.shape[0] + 2
        if "sorted" not in b:  # the other half of each agent array, and the scan's
            b["sorted"] = {k: cuda.device_array_like(d[k]) for k in
                           ("cell", "state", "timer", "aid", "home")}  # fmt: skip
            b["hist"] = cuda.device_array(nkeys, np.int64)
            b["hist0"] = cuda.to_device(np.zeros(nkeys, np.int64))
            b["part"] = cuda.device_array(-(-nkeys // SCAN_PART), np.int64)
            self.transfers += 1
        hist, part, o = b["hist"], b["part"], b["sorted"]
        hist.copy_to_device(b["hist0"], stream=self.stream)
        ncells = self.cnt.shape[0]
        launch = (_blocks(n), THREADS_PER_BLOCK, self.stream)
        _sort_count[launch](d["cell"], d["state"], ncells, hist)
        _scan_sums(part.size, (hist, part), b["zero"], self.stream)
        _scan_firsts(1, (part,), b["zero"], self.stream)
        _scan_places(part.size, (hist, part), b["zero"], self.stream)
        _sort_scatter[launch](
            d["cell"], d["state"], d["timer"], d["aid"], d["home"], ncells, hist,
            o["cell"], o["state"], o["timer"], o["aid"], o["home"],
        )  # fmt: skip
        for k in o:  # the sorted halves become the agents
            d[k], o[k] = o[k], d[k]
        self._clock_part("sort", t0)

    def _zombies_aboard(self, step: int) -> None:
        b = self._device_buffers()
        _first_car(b["first"].size, (self._dcur, b["first"], self.ngrid, step), b["zero"],
                   self.stream)  # fmt: skip

    def _end(self) -> None:
        """Bring the agents back, unless they may stay on the device (``defer_sync``)."""
        if not self.defer_sync:
            self.sync()

    def sync(self) -> None:
        """Bring back the agents and what the steps changed (the device keeps its copies)."""
        a, d = self.agents, self._d
        if not self._stale:
            return  # the host holds the latest state
        b = self._device_buffers()
        stats = np.zeros(K.NSTATS, np.int64)
        if self.gpu_sort_every > 0:  # the agents' order changed on the device
            self._down(d["aid"], a.aid)
            if self.commuting:
                self._down(d["home"], self.home)
        for dev, host in ((d["cell"], a.cell), (d["state"], a.state), (d["timer"], a.timer),
                          (d["aboard"], self.aboard), (self._dcur, self.cnt), (b["stats"], stats),
                          (b["sound"][1], self.fn), (b["first"], self.first_zombie_car),
                          (d["cst"], self.cast_state), (d["ccell"], self.cast_cell),
                          (d["cwhy"], self.cast_cause)):  # fmt: skip
            self._down(dev, host)
        if int(self.IP[K.I_NCAST]):
            self._read_cast_log()
        self._wait()
        self._stale = False
        self._cnt_fresh = True
        self.totals[:] = stats[: K.NLIVING]
        self.bbox[:] = stats[K.NLIVING :]
        # the region the CPU's noise of fights may be loud in (a checkpoint keeps it)
        loud = np.flatnonzero(self.fn[: self.ngrid])
        self.noise_region[:] = K.NO_BBOX
        if loud.size:
            rows, cols = np.divmod(loud, self.nx)
            self.noise_region[:] = rows.min(), rows.max(), cols.min(), cols.max()
