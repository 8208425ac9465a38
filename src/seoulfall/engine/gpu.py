"""The GPU backend: the same per-agent step on an NVIDIA GPU (numba's CUDA target).

``--backend gpu`` (``Simulation(..., backend="gpu")``) runs the agent pass as a CUDA kernel,
one thread per agent, calling the very function the CPU pass inlines
(:func:`seoulfall.engine.kernels.agent_step`). What differs is only how the pass counts:
atomic additions into the next step's per-cell counts, an atomic cursor into the list of
events, atomic minima and maxima for the threat box. Counts are integers and every
decision uses the counts at the start of the step and counter-based random numbers keyed by
(seed, stream, step, agent id), and the noise of fights is summed in cell order, so a seed
gives the same run on the GPU as on the CPU, agent for agent (the tests check it through
numba's CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``).

What stays on the host, per step: the sensing fields (over the raster, about 1 % of the
work at full Seoul), the noise of fights and the playbook. The agents stay on the device
for a whole ``advance`` call (between recorded rows), and so does what only the playbook
changes (the parameters by day and by night, the evacuation's ways, the lines' guards).
An ordinary step makes six copies (counted in ``transfers``): the fields, the step's keys
and clock go out; the number of events, the per-cell counts (32 bytes per cell) and the
statistics come back; scheduled sound, the noise of fights and the named characters add
theirs. Agents are not sorted on the device (sorting only ever changed speed).
"""

from __future__ import annotations

import numpy as np
from numba import config, cuda

from seoulfall.engine import kernels as K
from seoulfall.engine import rng
from seoulfall.engine.stepper import BackendError, Stepper

THREADS_PER_BLOCK = 256


def _unwrap(x):
    """The NumPy array behind an array of numba's CUDA simulator (anything else as is).

    A tuple's arrays are unwrapped one by one.
    """
    if isinstance(x, tuple):  # the journeys' arrays travel as one tuple
        return tuple(_unwrap(v) for v in x)
    item = x.__dict__.get("_item") if hasattr(x, "__dict__") else None
    return item._ary if item is not None else x


def _on_host(fn):
    # Under NUMBA_ENABLE_CUDASIM the kernel runs as Python and its arrays are the
    # simulator's wrappers, which compiled CPU code cannot take: hand it the arrays behind.
    return lambda *args: fn(*(_unwrap(x) for x in args))


#: What the kernel calls: on a GPU numba compiles ``kernels.agent_step`` (and the key tuple)
#: for the device; in the simulator they run compiled for the CPU on the same arrays.
if config.ENABLE_CUDASIM:
    _agent_step = _on_host(K.agent_step)

    def _key_tuple(keys):
        return tuple(np.uint64(k) for k in _unwrap(keys))  # uint64 scalars, as on the device

else:
    _agent_step, _key_tuple = K.agent_step, K._key_tuple


def available() -> bool:
    """Whether the GPU backend can run here (a CUDA GPU, or numba's CUDA simulator)."""
    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver is no GPU
        return False


@cuda.jit
def _pass(keys, cell, state, timer, aid, nbr, cnt, fz, fh, fe, fy, fs, fn, fv, zk, home, cz,
          zw, clk, gcell, sroute, scar, smin, P, IP, CT, cst, ccell, cwhy, nx, fast, general,
          drift_bits, nxt, ev, nev, stats):  # fmt: skip
    i = cuda.grid(1)
    if i >= cell.size:
        return
    c, st, nsb, units, evc = _agent_step(
        i, _key_tuple(keys), cell, state, timer, aid, nbr, cnt, fz, fh, fe, fy, fs, fn, fv, zk,
        (home, cz, zw, clk, gcell, sroute, scar, smin), nx, P, IP, CT, cst, ccell, cwhy, fast,
        general, drift_bits,
    )  # fmt: skip
    if evc >= 0:
        ev[cuda.atomic.add(nev, 0, 1)] = evc
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


@cuda.jit
def _events(ev, nev, nxt, aboard):
    """Add the step's events (zombies destroyed, hybrids' attacks) to the next counts.

    And the humans infected aboard a train to ``aboard`` (a count a car).
    """
    j = cuda.grid(1)
    if j >= nev[0]:
        return
    c = ev[j] >> 2
    kind = ev[j] & 3
    if kind == K.EV_KILL:
        cuda.atomic.add(nxt, (c, K.C_KILLS), 1)
    elif kind == K.EV_CARRIER:
        cuda.atomic.add(nxt, (c, K.C_ATT), 1)
    elif kind == K.EV_IMMUNE:
        cuda.atomic.add(nxt, (c, K.C_ATT), K.IMMUNE_ATTACK)
    else:
        cuda.atomic.add(aboard, c - (nxt.shape[0] - aboard.shape[0]), 1)


def _stats_start() -> np.ndarray:
    """The statistics before a pass: no agent counted, an empty threat box."""
    init = np.zeros(K.NSTATS, np.int64)
    init[K.NLIVING + 0] = init[K.NLIVING + 2] = K.NO_ROW
    init[K.NLIVING + 1] = init[K.NLIVING + 3] = -1
    return init


def _blocks(n: int) -> int:
    return max(1, (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK)


class GPUStepper(Stepper):
    """A :class:`Stepper` whose agent pass runs on the GPU (same results as the CPU's)."""

    def __init__(self, *args, **kwargs):
        if not available():
            raise BackendError(
                "--backend gpu: no CUDA GPU found (numba.cuda.is_available() is False); "
                "use --backend cpu"
            )
        kwargs["threads"] = 1  # the host side runs in one thread
        super().__init__(*args, **kwargs)
        self.stats_g = np.zeros(K.NSTATS, np.int64)
        self.nev_g = np.zeros(1, np.int64)
        self._d = None  # the agents' device arrays while they are on the device
        #: Copies between host and device, counted (``_up``, ``_down``): the tests check
        #: how many an ordinary step makes.
        self.transfers = 0

    def _up(self, host, dev) -> None:
        """Copy ``host`` into the device array ``dev`` (counted)."""
        dev.copy_to_device(host)
        self.transfers += 1

    def _down(self, dev, host) -> None:
        """Copy the device array ``dev`` into ``host`` (counted)."""
        dev.copy_to_host(host)
        self.transfers += 1

    def sort(self) -> None:
        """Nothing to sort: the device counts with atomics, whatever the agents' order."""
        self.n_active = self.agents.n

    def _device_buffers(self):
        """Device arrays kept for the whole run (allocated once, filled every step)."""
        if getattr(self, "_dev", None) is None:
            n, ncells = self.agents.n, self.cnt.shape[0]
            self._dev = {
                "cnt": (cuda.device_array_like(self.cnt), cuda.device_array_like(self.cnt)),
                "fields": cuda.device_array_like(self.fields),
                "sound": cuda.device_array((2, ncells), np.float32),
                "fv": cuda.device_array_like(self.fv),
                "zk": cuda.device_array_like(self.zk),
                "P": cuda.device_array_like(self.P),
                "P_night": cuda.device_array_like(self.P_night),
                "keys": cuda.device_array_like(self.keys),
                "clk": cuda.device_array_like(self.clk),
                "ev": cuda.device_array(max(1, n), np.int64),
                "nev": cuda.device_array(1, np.int64),
                "stats": cuda.device_array(K.NSTATS, np.int64),
                # what a pass starts from, copied on the device (no host transfer): the next
                # counts zeroed, no event, the statistics' start values
                "zeros": cuda.to_device(np.zeros_like(self.cnt)),
                "nev0": cuda.to_device(np.zeros(1, np.int64)),
                "stats0": cuda.to_device(_stats_start()),
            }
        return self._dev

    # The step sequence is ``Stepper.advance``'s; the device replaces the pass and the
    # transfers around it. Per step the host computes the fields (and sound, noise) from the
    # counts, sends them, runs the pass and the events, and reads back the counts, the
    # statistics, the events when fights make noise, and the cast.
    def _begin(self) -> None:
        """Send the agents and the counts to the device, unless they stayed there.

        They stay from the last call (``defer_sync``) only while the host changed nothing:
        whatever changes them (an event, a checkpoint) calls :meth:`sync` first.
        """
        if self._d is not None:
            return
        a = self.agents
        # the agents and the neighbour table go out at every call: the playbook changes
        # them between calls (strikes, soldiers, evacuations, cordons, closed bridges)
        self._d = {
            name: cuda.to_device(x)
            for name, x in (
                ("cell", a.cell), ("state", a.state), ("timer", a.timer), ("aid", a.aid),
                ("nbr", self.nbr), ("IP", self.IP), ("CT", self.CT), ("home", self.home),
                ("cz", self.cz), ("zw", self.zw), ("gcell", self.gcell),
                ("sroute", self.sroute), ("scar", self.scar), ("smin", self.smin),
                ("aboard", self.aboard), ("cst", self.cast_state), ("ccell", self.cast_cell),
                ("cwhy", self.cast_cause),
            )
        }  # fmt: skip
        self.transfers += len(self._d)
        b = self._device_buffers()
        self._dcur, self._dnxt = b["cnt"]
        self._up(self.cnt, self._dcur)
        # what only the playbook changes, between calls: the evacuation's ways, the lines'
        # guards, the parameters by day and by night; and sound and noise as they are now
        # (sent again at a step only while a source sounds or fights make noise)
        for host, dev in ((self.fv, b["fv"]), (self.zk, b["zk"]), (self.P, b["P"]),
                          (self.P_night, b["P_night"]), (self.fs, b["sound"][0]),
                          (self.fn, b["sound"][1])):  # fmt: skip
            self._up(host, dev)

    def _counts_now(self) -> np.ndarray:
        return self.cnt  # the host's copy, read back after every step

    def _pass(self, step: int) -> int:
        d, b = self._d, self._device_buffers()
        n = self.agents.n
        cur, nxt = self._dcur, self._dnxt
        fz, fh, fe, fy = b["fields"]
        fs, fn = b["sound"]
        ev, nev, stats = b["ev"], b["nev"], b["stats"]
        P = self.params_at(step)
        dP = b["P_night"] if P is self.P_night else b["P"]
        general = P[K.P_W_NEIGHBOUR] > 0.0 or P[K.P_W_OWN] != 1.0 or P[K.P_MASS_ACTION] > 0
        fast = not general and P[K.P_H_DRIFT] < 1.0
        drift_bits = np.uint64(rng.unit_threshold(P[K.P_H_DRIFT]) if fast else 0)
        K.step_keys(self.seed, step, self.keys)
        self._clock(step)
        self._up(self.fields, b["fields"])
        self._up(self.keys, b["keys"])
        self._up(self.clk, b["clk"])
        if self.sources:  # scheduled sound: the host renders it every step
            self._up(self.fs, fs)
        if self.noise[1] > 0.0:  # the noise of last step's fights
            self._up(self.fn, fn)
        for start, dev in ((b["zeros"], nxt), (b["nev0"], nev), (b["stats0"], stats)):
            dev.copy_to_device(start)  # device to device
        _pass[_blocks(n), THREADS_PER_BLOCK](
            b["keys"], d["cell"], d["state"], d["timer"], d["aid"], d["nbr"], cur,
            fz, fh, fe, fy, fs, fn, b["fv"], b["zk"], d["home"], d["cz"], d["zw"],
            b["clk"], d["gcell"], d["sroute"], d["scar"], d["smin"],
            dP, d["IP"], d["CT"], d["cst"],
            d["ccell"], d["cwhy"], self.nx, fast, general, drift_bits, nxt, ev, nev, stats,
        )  # fmt: skip
        self._down(nev, self.nev_g)
        m = int(self.nev_g[0])
        if m:
            _events[_blocks(m), THREADS_PER_BLOCK](ev, nev, nxt, d["aboard"])
        self._down(nxt, self.cnt)
        self._down(stats, self.stats_g)
        self.totals[:] = self.stats_g[: K.NLIVING]
        self.bbox[:] = self.stats_g[K.NLIVING :]
        if self.noise[1] > 0.0:  # the fights' places, for their noise on the host
            if m:
                self._down(ev[:m], self.ev[:m])
            self.nev[0] = m
        if int(self.IP[K.I_NCAST]):
            self._down(d["cst"], self.cast_state)
            self._down(d["ccell"], self.cast_cell)
            self._down(d["cwhy"], self.cast_cause)
        return max(1, n)

    def _end_step(self, step: int) -> None:
        self._dcur, self._dnxt = self._dnxt, self._dcur  # never sorted (see ``sort``)

    def _end(self) -> None:
        """Bring the agents back, unless they may stay on the device (``defer_sync``)."""
        if not self.defer_sync:
            self.sync()

    def sync(self) -> None:
        """Bring the agents back from the device; the next call sends them again."""
        a, d = self.agents, self._d
        if d is None:
            return
        self._d = None
        for dev, host in ((d["cell"], a.cell), (d["state"], a.state), (d["timer"], a.timer),
                          (d["aboard"], self.aboard)):  # fmt: skip
            self._down(dev, host)

    def warm_up(self) -> None:
        """Compile the host's kernels and the device's (one step of two agents)."""
        super().warm_up()
