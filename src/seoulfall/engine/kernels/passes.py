"""The fused pass over the agents in chunks, its counting without atomics, and the tallies."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from seoulfall.engine import rng
from seoulfall.engine.kernels.agent import _key_tuple, agent_step
from seoulfall.engine.kernels.layout import (
    C_ATT,
    C_KILLS,
    C_STR,
    DEAD,
    ESCAPED,
    ESCAPED_LEVEL,
    EV_CARRIER,
    EV_IMMUNE,
    EV_KILL,
    EVACUATED,
    EVOLVED,
    FLED,
    FLED_LEVEL,
    HUMAN,
    HYBRID,
    I_UNITS,
    IMMUNE_ATTACK,
    INFECTED,
    LEFT_AT,
    LEVEL_SHIFT,
    NLIVING,
    NO_ROW,
    P_H_DRIFT,
    P_MASS_ACTION,
    P_W_NEIGHBOUR,
    P_W_OWN,
    SHELTER,
    SOLDIER,
    SOLDIER_LEVEL,
    STATE_MASK,
    STATE_NAMES,
    ZOMBIE,
)


@njit(inline="always", cache=True)
def event_count(evc):
    """What an event (``cell << 2 | kind``) adds: ``(cell, column, amount)``.

    A zombie destroyed (``EV_KILL``) and a hybrid's attack (``EV_CARRIER``, ``EV_IMMUNE``)
    add to a column of the next counts; a human infected aboard (``EV_ABOARD``) has column
    -1: one more in ``aboard`` for the car of that cell. Read by the CPU's merge
    (:func:`merge_overflow`) and the GPU's pass, which add it with atomics.
    """
    c = evc >> 2
    kind = evc & 3
    if kind == EV_KILL:
        return c, C_KILLS, 1
    if kind == EV_CARRIER:
        return c, C_ATT, 1
    if kind == EV_IMMUNE:
        return c, C_ATT, IMMUNE_ATTACK
    return c, -1, 1


@njit(inline="always", cache=True)
def pass_mode(P):
    """How the pass steps under the float parameters ``P``: ``(general, fast, drift_bits)``.

    ``general``: contacts beyond the own cell or mass action; ``fast``: the humans' fast
    path, whose drift draw is one integer compare against ``drift_bits``
    (``rng.unit_threshold``; 0 off the fast path). The CPU's pass and the GPU's host.
    """
    general = P[P_W_NEIGHBOUR] > 0.0 or P[P_W_OWN] != 1.0 or P[P_MASS_ACTION] > 0.0
    fast = not general and P[P_H_DRIFT] < 1.0
    drift_bits = rng.unit_threshold(P[P_H_DRIFT]) if fast else np.uint64(0)
    return general, fast, drift_bits


@njit(cache=True, nogil=True)
def merge_overflow(nxt, ovf, novf, ev, nev, n, IP, aboard):
    """Add what the chunks could not count in their own cell ranges, then the events.

    An overflow entry is ``cell << 8 | byte`` (the agent's state byte; a sheltered human
    adds no strength: it cannot fight from its shelter); an event is ``cell << 2 | kind``:
    a zombie destroyed there (``EV_KILL``), a hybrid's attack (``EV_CARRIER``,
    ``EV_IMMUNE``), or a human infected aboard the car of that cell (``EV_ABOARD``: added
    to ``aboard``, one count a car, the cars being the last rows of ``nxt``).
    """
    nchunks = novf.size
    for ch in range(nchunks):
        for j in range(ch * n // nchunks, novf[ch]):
            c = ovf[j] >> 8
            b = ovf[j] & 255
            s = b & STATE_MASK
            nxt[c, s] += 1
            if s == HUMAN and (b & SHELTER) == 0:
                nxt[c, C_STR] += IP[I_UNITS + (b >> LEVEL_SHIFT)]
        for j in range(ch * n // nchunks, nev[ch]):
            c, col, amount = event_count(ev[j])
            if col >= 0:
                nxt[c, col] += amount
            else:
                aboard[c - (nxt.shape[0] - aboard.shape[0])] += 1


@njit(cache=True, nogil=True, _nrt=False)
def pass_chunk(
    ch,
    keys,
    cell,
    state,
    timer,
    aid,
    nbr,
    cnt,
    fz,
    fh,
    fe,
    fy,
    fs,
    fn,
    fv,
    zk,
    home,
    cz,
    zw,
    clk,
    gcell,
    sroute,
    scar,
    smin,
    P,
    IP,
    CT,
    cst,
    ccell,
    cwhy,
    nx,
    nxt,
    bounds,
    ovf,
    novf,
    ev,
    nev,
    stats,
):
    """One chunk of the pass: agents ``[ch n / nchunks, (ch + 1) n / nchunks)``.

    ``keys``: the step's random-stream keys (:func:`step_keys`), an array, read into a tuple
    (held in registers; array elements would be re-read for every agent). Compiled without
    reference counting (it allocates nothing), so that the per-agent function inlined into
    its loop costs no atomic reference-count operations on its array arguments.

    ``fz``, ``fh``, ``fe``, ``fy``: zombies humans sense, humans zombies sense, humans evolved
    zombies sense, zombies hybrids hear (box sums); ``fs``, ``fn``: scheduled sound and the
    noise of fights (float fields); ``fv``: steps to the evacuation target; ``zk``: the
    per-step probability that a zombie standing in the cell is shot (a guarded line);
    ``home``, ``cz``, ``zw``, ``clk``: the daily journeys, ``gcell``, ``sroute``, ``scar``,
    ``smin``: the subway (``kernels/commute.py``).
    ``CT`` holds the named characters' traits (speed, alertness, self-control) by agent id;
    the pass writes their state and cell into ``cst`` and ``ccell``, and the cause of a
    change of state this step into ``cwhy`` (``CAUSE_*``; 0 for none).
    """
    n = cell.size
    nchunks = bounds.size - 1
    kt = _key_tuple(keys)
    general, fast, drift_bits = pass_mode(P)
    blo = bounds[ch]
    bhi = bounds[ch + 1]
    nxt[blo:bhi] = 0
    lo = ch * n // nchunks
    hi = (ch + 1) * n // nchunks
    no = lo
    ne = lo
    t0 = t1 = t2 = t3 = t4 = 0
    zr0 = zc0 = NO_ROW
    zr1 = zc1 = -1
    # the row of cell c: (c + 0.5) / nx lies at least 0.5 / nx from an integer, far more
    # than the rounding of two double operations for any raster below 10^12 cells
    inv_nx = 1.0 / nx
    trip = (home, cz, zw, clk, gcell, sroute, scar, smin)
    ngrid = cnt.shape[0] - scar.shape[0]  # the cells past it are the subway's cars
    for i in range(lo, hi):
        c, st, nsb, units, evc = agent_step(
            i, kt, cell, state, timer, aid, nbr, cnt, fz, fh, fe, fy, fs, fn, fv, zk, trip, nx, P,
            IP, CT, cst, ccell, cwhy, fast, general, drift_bits,
        )  # fmt: skip
        if evc >= 0:
            ev[ne] = evc
            ne += 1
        if st >= DEAD:
            continue
        # count: into this chunk's own cell range, or the overflow list
        if blo <= c < bhi:
            nxt[c, st] += 1
            nxt[c, C_STR] += units
        else:
            ovf[no] = (np.int64(c) << 8) | nsb
            no += 1
        if st == HUMAN:
            t0 += 1
        elif st == HYBRID:
            t4 += 1
        else:
            if st == INFECTED:
                t1 += 1
            elif st == ZOMBIE:
                t2 += 1
            else:
                t3 += 1
            if c >= ngrid:
                continue  # aboard a train: no place on the map's fields
            rr = int((c + 0.5) * inv_nx)  # c // nx, exact (see above), without a division
            cc = c - rr * nx
            zr0 = min(zr0, rr)
            zr1 = max(zr1, rr)
            zc0 = min(zc0, cc)
            zc1 = max(zc1, cc)
    stats[ch, 0] = t0
    stats[ch, 1] = t1
    stats[ch, 2] = t2
    stats[ch, 3] = t3
    stats[ch, 4] = t4
    stats[ch, 5] = zr0
    stats[ch, 6] = zr1
    stats[ch, 7] = zc0
    stats[ch, 8] = zc1
    novf[ch] = no
    nev[ch] = ne


#: The arguments of ``pass_chunk`` after ``ch``, by name: callers build them by name
#: (``Stepper._pass_args``), so that the order is said once, here in the signature.
PASS_ARGS = pass_chunk.py_func.__code__.co_varnames[1 : pass_chunk.py_func.__code__.co_argcount]

_PASS_BOUNDS = PASS_ARGS.index("bounds")  # where ``bounds`` sits among them


@njit(cache=True, nogil=True)
def combine_stats(stats, bbox, totals):
    """Totals per living state and the threat box, from the chunks' statistics."""
    bbox[0] = bbox[2] = NO_ROW
    bbox[1] = bbox[3] = -1
    totals[:] = 0
    for ch in range(stats.shape[0]):
        for j in range(NLIVING):
            totals[j] += stats[ch, j]
        bbox[0] = min(bbox[0], stats[ch, 5])
        bbox[1] = max(bbox[1], stats[ch, 6])
        bbox[2] = min(bbox[2], stats[ch, 7])
        bbox[3] = max(bbox[3], stats[ch, 8])


@njit(cache=True)
def count_cells(cell, state, cnt, IP):
    """Per-cell counts of the living states, from scratch."""
    cnt[:] = 0
    for i in range(cell.size):
        s = state[i] & STATE_MASK
        if s < NLIVING and cell[i] >= 0:
            cnt[cell[i], s] += 1
            if s == HUMAN and (state[i] & SHELTER) == 0:
                cnt[cell[i], C_STR] += IP[I_UNITS + (state[i] >> LEVEL_SHIFT)]


@njit(cache=True)
def threat_bbox(cnt, nx, bbox):
    """Bounding box (rmin, rmax, cmin, cmax) of cells with infected, zombies or evolved."""
    bbox[0] = bbox[2] = NO_ROW
    bbox[1] = bbox[3] = -1
    for c in range(cnt.shape[0]):
        if cnt[c, INFECTED] + cnt[c, ZOMBIE] + cnt[c, EVOLVED] > 0:
            r = c // nx
            q = c - r * nx
            bbox[0] = min(bbox[0], r)
            bbox[1] = max(bbox[1], r)
            bbox[2] = min(bbox[2], q)
            bbox[3] = max(bbox[3], q)


@njit(cache=True)
def chunk_bounds(cell, nchunks, ncells, bounds):
    """Cell ranges owned by each chunk: split where the (sorted) agent array splits.

    A running maximum keeps the ranges disjoint and ordered even when agents are not sorted;
    sorting only makes the overflow list short.
    """
    n = cell.size
    bounds[0] = 0
    for ch in range(1, nchunks):
        c = cell[ch * n // nchunks] if n > 0 else 0
        if c < 0:
            c = ncells
        bounds[ch] = min(ncells, max(bounds[ch - 1], c))
    bounds[nchunks] = ncells


@njit(cache=True)
def tally(cell, state, cell_district, ndistricts):
    """Agents per (district, state); row ``ndistricts`` holds agents off the map.

    Each agent in the state it is reported in (:func:`reported_state`); the fled and
    escaped in the district they left from.
    """
    out = np.zeros((ndistricts + 1, len(STATE_NAMES)), np.int64)
    for i in range(cell.size):
        c = cell[i]
        if c <= LEFT_AT:
            c = LEFT_AT - c
        out[cell_district[c] if c >= 0 else ndistricts, reported_state(state[i])] += 1
    return out


@njit(cache=True, inline="always")
def reported_state(sb):
    """The state an agent's byte reports: its low bits, or the variant its level makes it.

    A soldier is a human of the soldiers' level; the fled and escaped are evacuated agents
    of their levels (they left over the city's edge).
    """
    s = sb & STATE_MASK
    lvl = sb >> LEVEL_SHIFT
    if s == HUMAN and lvl == SOLDIER_LEVEL:
        return SOLDIER
    if s == EVACUATED and lvl == FLED_LEVEL:
        return FLED
    if s == EVACUATED and lvl == ESCAPED_LEVEL:
        return ESCAPED
    return s


@njit(cache=True)
def reported_states(state):
    """:func:`reported_state` of every byte of ``state``."""
    out = np.empty(state.size, np.uint8)
    for i in range(state.size):
        out[i] = reported_state(state[i])
    return out


@njit(parallel=True, cache=True)
def pass_parallel(nthreads, *args):
    """Every chunk of the pass on ``nthreads`` numba threads, dealt out in turn.

    ``args``: those of :func:`pass_chunk` after ``ch``. Thread ``t`` steps chunks ``t, t +
    nthreads, ...``: neighbouring chunks cost alike, so dealing them out balances the threads
    where one range per thread would not (numba's ``prange`` schedules statically).
    """
    nchunks = args[_PASS_BOUNDS].size - 1
    for t in prange(nthreads):
        for ch in range(t, nchunks, nthreads):
            pass_chunk(ch, *args)


@njit(cache=True, nogil=True)
def pass_serial(*args):
    """Every chunk of the pass in turn on the calling thread, outside numba's thread pool.

    What the stepper runs when one thread is faster (a busy machine: ``ThreadTuner``): even
    ``pass_parallel(1, ...)`` goes through the thread pool, whose other threads wait for
    cores the machine has given to other work.
    """
    nchunks = args[_PASS_BOUNDS].size - 1
    for ch in range(nchunks):
        pass_chunk(ch, *args)


@njit(inline="always", cache=True)
def zombie_in(i, args):
    """1.0 if cell ``cells[i]`` holds a zombie or an evolved zombie, else 0.0.

    ``args``: ``(cnt, cells)``; one thread a cell on the GPU (the largest is the answer).
    """
    cnt, cells = args
    c = cells[i]
    return 1.0 if cnt[c, ZOMBIE] + cnt[c, EVOLVED] > 0 else 0.0


@njit(cache=True)
def any_zombie(cnt, cells):
    """Whether any of ``cells`` holds a zombie or an evolved zombie."""
    for i in range(cells.size):
        if zombie_in(i, (cnt, cells)) > 0.0:
            return True
    return False
