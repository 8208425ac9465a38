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
for a whole ``advance`` call (between recorded rows), the per-cell counts (32 bytes per
cell) come back every step and the fields go out. Agents are not sorted on the device
(sorting only ever changed speed).
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
                "keys": cuda.device_array_like(self.keys),
                "clk": cuda.device_array_like(self.clk),
                "ev": cuda.device_array(max(1, n), np.int64),
                "nev": cuda.device_array(1, np.int64),
                "stats": cuda.device_array(K.NSTATS, np.int64),
                "zeros": cuda.to_device(np.zeros_like(self.cnt)),
            }
        return self._dev

    # The step sequence is ``Stepper.advance``'s; the device replaces the pass and the
    # transfers around it. Per step the host computes the fields (and sound, noise) from the
    # counts, sends them, runs the pass and the events, and reads back the counts, the
    # statistics, the events when fights make noise, and the cast.
    def _begin(self) -> None:
        """Send the agents (once per ``advance``) and the counts to the device."""
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
        b = self._device_buffers()
        self._dcur, self._dnxt = b["cnt"]
        self._dcur.copy_to_device(self.cnt)

    def _counts_now(self) -> np.ndarray:
        return self.cnt  # the host's copy, read back after every step

    def _pass(self, step: int) -> int:
        d, b = self._d, self._device_buffers()
        n = self.agents.n
        cur, nxt = self._dcur, self._dnxt
        fz, fh, fe, fy = b["fields"]
        fs, fn = b["sound"]
        ev, nev, stats = b["ev"], b["nev"], b["stats"]
        init = np.zeros(K.NSTATS, np.int64)
        init[K.NLIVING + 0] = init[K.NLIVING + 2] = K.NO_ROW
        init[K.NLIVING + 1] = init[K.NLIVING + 3] = -1
        P = self.params_at(step)
        general = P[K.P_W_NEIGHBOUR] > 0.0 or P[K.P_W_OWN] != 1.0 or P[K.P_MASS_ACTION] > 0
        fast = not general and P[K.P_H_DRIFT] < 1.0
        drift_bits = np.uint64(rng.unit_threshold(P[K.P_H_DRIFT]) if fast else 0)
        K.step_keys(self.seed, step, self.keys)
        self._clock(step)
        for host, dev in (
            (self.fields, b["fields"]), (self.fs, fs), (self.fn, fn), (self.fv, b["fv"]),
            (self.zk, b["zk"]), (P, b["P"]), (self.keys, b["keys"]), (self.clk, b["clk"]),
            (b["zeros"], nxt),
            (np.zeros(1, np.int64), nev), (init, stats),
        ):  # fmt: skip
            dev.copy_to_device(host)
        _pass[_blocks(n), THREADS_PER_BLOCK](
            b["keys"], d["cell"], d["state"], d["timer"], d["aid"], d["nbr"], cur,
            fz, fh, fe, fy, fs, fn, b["fv"], b["zk"], d["home"], d["cz"], d["zw"],
            b["clk"], d["gcell"], d["sroute"], d["scar"], d["smin"],
            b["P"], d["IP"], d["CT"], d["cst"],
            d["ccell"], d["cwhy"], self.nx, fast, general, drift_bits, nxt, ev, nev, stats,
        )  # fmt: skip
        nev.copy_to_host(self.nev_g)
        m = int(self.nev_g[0])
        if m:
            _events[_blocks(m), THREADS_PER_BLOCK](ev, nev, nxt, d["aboard"])
        nxt.copy_to_host(self.cnt)
        stats.copy_to_host(self.stats_g)
        self.totals[:] = self.stats_g[: K.NLIVING]
        self.bbox[:] = self.stats_g[K.NLIVING :]
        if self.noise[1] > 0.0:  # the fights' places, for their noise on the host
            if m:
                self.ev[:m] = ev[:m].copy_to_host()
            self.nev[0] = m
        if int(self.IP[K.I_NCAST]):
            d["cst"].copy_to_host(self.cast_state)
            d["ccell"].copy_to_host(self.cast_cell)
            d["cwhy"].copy_to_host(self.cast_cause)
        return max(1, n)

    def _end_step(self, step: int) -> None:
        self._dcur, self._dnxt = self._dnxt, self._dcur  # never sorted (see ``sort``)

    def _end(self) -> None:
        """Bring the agents back."""
        a, d = self.agents, self._d
        d["cell"].copy_to_host(a.cell)
        d["state"].copy_to_host(a.state)
        d["timer"].copy_to_host(a.timer)
        d["aboard"].copy_to_host(self.aboard)
        self._d = None

    def warm_up(self) -> None:
        """Compile the host's kernels and the device's (one step of two agents)."""
        super().warm_up()
