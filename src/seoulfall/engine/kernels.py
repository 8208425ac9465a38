"""Compiled kernels: one simulation step over flat agent arrays.

The kernels know nothing of scenarios, files or the command line: they take arrays and a
parameter vector (:mod:`seoulfall.engine.params` builds it). One step is a single fused pass
over the agents, split into contiguous chunks, one per thread:

1. **Interact** using the per-cell counts at the start of the step (frequency-dependent):
   a human in cell c is bitten with probability ``1 - exp(-dt (b_z Z_c + b_e E_c) / N_c)``;
   a zombie is destroyed with probability ``1 - exp(-dt k (H_c + s_y Y_c) / N_c)`` (an
   evolved zombie with ``k / resist``); ``N_c`` counts the living agents in the cell (human,
   infected, zombie, evolved, hybrid).
2. **Turn**: a bitten human becomes ``infected`` with a turn time drawn from a log-normal;
   when it has elapsed the agent becomes a zombie, or a hybrid with a small probability.
   Ordinary zombies evolve with a constant per-step probability.
3. **Move** by hops to passable von Neumann neighbours: the number of hops per step is
   ``floor(x)`` plus one with probability ``frac(x)``, ``x`` being the speed in cells per
   step of the agent's current mode. Zombies climb the field of humans they sense (box sum
   within their sensing radius) and stop on a cell with humans; humans flee down the field of
   zombies they sense, and otherwise drift at random; hybrids drift and never flee.
4. **Count** each living agent into the per-cell counts of the next step. Each chunk owns a
   disjoint range of cells (agents are kept sorted by cell, so a chunk's agents mostly stand
   in its range) and counts there without atomics; the few agents that stand outside their
   chunk's range go to an overflow list added afterwards.

Every random draw comes from :mod:`seoulfall.engine.rng` keyed by (seed, stream, step,
agent id), and counts are integers, so a step's outcome does not depend on the number of
threads or the order of agents.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from seoulfall.engine import rng
from seoulfall.engine.rng import agent_bits, step_key, to_unit

# Agent states (the values stored in the ``state`` array).
HUMAN, INFECTED, ZOMBIE, EVOLVED, HYBRID, DEAD, EVACUATED, RESERVE = range(8)
STATE_NAMES = ("human", "infected", "zombie", "evolved", "hybrid", "dead", "evacuated", "reserve")
NLIVING = 5  # states 0..4 stand on the map and are counted per cell

# Indices into the float parameter vector.
P_DT = 0
P_BITE = 1
P_BITE_E = 2
P_KILL = 3
P_KILL_E = 4
P_Y_STRENGTH = 5
P_TURN_MEDIAN = 6
P_TURN_SIGMA = 7
P_HYBRID_P = 8
P_EVOLVE_P = 9
P_H_FLEE = 10
P_H_DRIFT = 11
P_Z_CHASE = 12
P_Z_WANDER = 13
P_E_CHASE = 14
P_E_WANDER = 15
P_Y_DRIFT = 16
P_W_OWN = 17  # contact weight of the own cell
P_W_NEIGHBOUR = 18  # contact weight of each von Neumann neighbour
P_MASS_ACTION = 19  # 1: hazards are not divided by the (weighted) population
NPARAMS = 20

# Indices into the integer parameter vector.
I_R_H = 0  # radius (cells) within which humans sense zombies
I_R_Z = 1  # radius within which zombies sense humans
I_R_E = 2  # radius within which evolved zombies sense humans
I_MAXHOP = 3  # most hops any agent makes in one step
I_SORT_EVERY = 4  # steps between counting sorts by cell (0: never)
NIPARAMS = 5

MAXHOP = 8
# Per-chunk statistics written by the pass: totals of the living states, then the bounding
# box (row min, row max, col min, col max) of cells holding infected, zombies or evolved
# zombies: the "threat box", outside which no field can matter in the next step.
NSTATS = NLIVING + 4

_MODE_STAY, _MODE_RANDOM, _MODE_CHASE, _MODE_FLEE = 0, 1, 2, 3


@njit(cache=True)
def _turn_time(bits, median, sigma):
    """Log-normal turn time (minutes) from 64 random bits (Box-Muller on two halves)."""
    if median <= 0.0:
        return 0.0
    u1 = (float(bits >> np.uint64(32)) + 0.5) * (1.0 / 4294967296.0)
    u2 = (float(bits & np.uint64(0xFFFFFFFF)) + 0.5) * (1.0 / 4294967296.0)
    z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
    return median * math.exp(sigma * z)


@njit(cache=True, nogil=True)
def box_field(cnt, k0, two, nx, ny, r, bbox, pad, prev, src, tmp, out):
    """Box sum within radius ``r`` of ``cnt[:, k0]`` (plus ``cnt[:, k0 + 1]`` if ``two``).

    Computed over the threat box ``bbox`` (rmin, rmax, cmin, cmax) grown by ``pad``, with
    running sums (cost independent of ``r``): a horizontal pass into ``tmp``, then a vertical
    one into ``out``. Cells outside that region hold 0: what the region computed last time
    (``prev``) covered and this one does not is cleared, and ``prev`` is updated. An empty
    ``bbox`` (rmin > rmax) leaves the whole field 0.
    """
    if bbox[0] > bbox[1]:
        r0 = r1 = c0 = c1 = 0
    else:
        r0 = max(0, bbox[0] - pad)
        r1 = min(ny, bbox[1] + pad + 1)
        c0 = max(0, bbox[2] - pad)
        c1 = min(nx, bbox[3] + pad + 1)
    for rr in range(prev[0], prev[1]):
        row = rr * nx
        if r0 <= rr < r1:
            for cc in range(prev[2], min(prev[3], c0)):
                out[row + cc] = 0
            for cc in range(max(prev[2], c1), prev[3]):
                out[row + cc] = 0
        else:
            for cc in range(prev[2], prev[3]):
                out[row + cc] = 0
    prev[0], prev[1], prev[2], prev[3] = r0, r1, c0, c1
    if r1 <= r0:
        return
    qa = max(0, r0 - r)
    qb = min(ny, r1 + r)
    ca = max(0, c0 - r)
    cb = min(nx, c1 + r)
    for q in range(qa, qb):
        base = q * nx
        if two:
            for cc in range(ca, cb):
                src[base + cc] = cnt[base + cc, k0] + cnt[base + cc, k0 + 1]
        else:
            for cc in range(ca, cb):
                src[base + cc] = cnt[base + cc, k0]
        s = 0
        for p in range(ca, min(cb, c0 + r + 1)):
            s += src[base + p]
        for cc in range(c0, c1):
            tmp[base + cc] = s
            if cc + r + 1 < cb:
                s += src[base + cc + r + 1]
            if cc - r >= ca:
                s -= src[base + cc - r]
    w = c1 - c0
    acc = np.zeros(w, np.int32)
    for q in range(qa, min(qb, r0 + r + 1)):
        b = q * nx + c0
        for j in range(w):
            acc[j] += tmp[b + j]
    for rr in range(r0, r1):
        ob = rr * nx + c0
        for j in range(w):
            out[ob + j] = acc[j]
        if rr + r + 1 < qb:
            ab = (rr + r + 1) * nx + c0
            for j in range(w):
                acc[j] += tmp[ab + j]
        if rr - r >= qa:
            sb = (rr - r) * nx + c0
            for j in range(w):
                acc[j] -= tmp[sb + j]


@njit(cache=True, nogil=True)
def merge_overflow(nxt, ovf, novf, n):
    """Add the agents the chunks could not count in their own cell ranges."""
    nchunks = novf.size
    for ch in range(nchunks):
        for j in range(ch * n // nchunks, novf[ch]):
            nxt[ovf[j] >> 3, ovf[j] & 7] += 1


@njit(cache=True)
def _contacts(cnt, nbr, c, P):
    """Weighted humans, zombies, evolved, hybrids and population seen from cell ``c``.

    Own cell weight ``w0``, each passable neighbour ``w1``; the population is 1 under mass
    action (hazards then count contacts, not fractions).
    """
    w0 = P[P_W_OWN]
    w1 = P[P_W_NEIGHBOUR]
    h = w0 * cnt[c, HUMAN]
    z = w0 * cnt[c, ZOMBIE]
    e = w0 * cnt[c, EVOLVED]
    y = w0 * cnt[c, HYBRID]
    n = w0 * (cnt[c, 0] + cnt[c, 1] + cnt[c, 2] + cnt[c, 3] + cnt[c, 4])
    if w1 > 0.0:
        for k in range(4):
            nb = nbr[c, k]
            if nb >= 0:
                h += w1 * cnt[nb, HUMAN]
                z += w1 * cnt[nb, ZOMBIE]
                e += w1 * cnt[nb, EVOLVED]
                y += w1 * cnt[nb, HYBRID]
                n += w1 * (cnt[nb, 0] + cnt[nb, 1] + cnt[nb, 2] + cnt[nb, 3] + cnt[nb, 4])
    if P[P_MASS_ACTION] > 0.0:
        n = 1.0
    return h, z, e, y, n


@njit(cache=True, nogil=True)
def pass_chunk(
    ch,
    step,
    seed,
    cell,
    state,
    timer,
    aid,
    nbr,
    cnt,
    fz,
    fh,
    fe,
    P,
    IP,
    nx,
    nxt,
    bounds,
    ovf,
    novf,
    stats,
):
    """One chunk of the pass: agents ``[ch n / nchunks, (ch + 1) n / nchunks)``."""
    n = cell.size
    nchunks = bounds.size - 1
    dt = P[P_DT]
    kbite = step_key(seed, rng.BITE, step)
    kkill = step_key(seed, rng.KILL, step)
    kturn = step_key(seed, rng.TURN, step)
    khyb = step_key(seed, rng.HYBRID, step)
    kevo = step_key(seed, rng.EVOLVE, step)
    kmove = step_key(seed, rng.MOVE, step)
    khop = np.empty(MAXHOP, np.uint64)
    for h in range(MAXHOP):
        khop[h] = step_key(seed, rng.HOP + h, step)
    maxhop = IP[I_MAXHOP]
    general = P[P_W_NEIGHBOUR] > 0.0 or P[P_W_OWN] != 1.0 or P[P_MASS_ACTION] > 0.0
    drift = P[P_H_DRIFT]
    fast = not general and drift < 1.0
    blo = bounds[ch]
    bhi = bounds[ch + 1]
    nxt[blo:bhi] = 0
    lo = ch * n // nchunks
    hi = (ch + 1) * n // nchunks
    no = lo
    t0 = t1 = t2 = t3 = t4 = 0
    zr0 = zc0 = 1 << 30
    zr1 = zc1 = -1
    for i in range(lo, hi):
        st = state[i]
        if st >= DEAD:
            continue
        c0 = cell[i]
        if fast and st == HUMAN and cnt[c0, ZOMBIE] + cnt[c0, EVOLVED] == 0 and fz[c0] == 0:
            # The common case, made cheap: a human with no zombie in its cell or in sight
            # only drifts (the same draws and decisions as the general path below).
            c = c0
            if drift > 0.0:
                b = agent_bits(kmove, aid[i])
                if to_unit(b) < drift:
                    nb = nbr[c0, int(b & np.uint64(3))]
                    if nb >= 0:
                        c = nb
                        cell[i] = c
            if blo <= c < bhi:
                nxt[c, HUMAN] += 1
            else:
                ovf[no] = c * 8 + HUMAN
                no += 1
            t0 += 1
            continue
        c = c0
        st0 = st
        a = aid[i]
        # the timer matters only to the infected: leave its memory untouched otherwise
        tm = timer[i] if st == INFECTED else 0.0
        # 1-2. interact and turn, on the counts at the start of the step
        if st == HUMAN or st == ZOMBIE or st == EVOLVED:
            if general:
                h, z, e, y, nc = _contacts(cnt, nbr, c, P)
            else:
                h = cnt[c, HUMAN]
                z = cnt[c, ZOMBIE]
                e = cnt[c, EVOLVED]
                y = cnt[c, HYBRID]
                nc = h + cnt[c, INFECTED] + z + e + y
            if st == HUMAN:
                if z + e > 0:
                    haz = (P[P_BITE] * z + P[P_BITE_E] * e) / nc
                    if to_unit(agent_bits(kbite, a)) < 1.0 - math.exp(-haz * dt):
                        st = INFECTED
                        tm = _turn_time(agent_bits(kturn, a), P[P_TURN_MEDIAN], P[P_TURN_SIGMA])
            else:
                f = h + P[P_Y_STRENGTH] * y
                if f > 0:
                    kr = P[P_KILL] if st == ZOMBIE else P[P_KILL_E]
                    if to_unit(agent_bits(kkill, a)) < 1.0 - math.exp(-kr * f / nc * dt):
                        st = DEAD
                if st == ZOMBIE and P[P_EVOLVE_P] > 0.0:
                    if to_unit(agent_bits(kevo, a)) < P[P_EVOLVE_P]:
                        st = EVOLVED
        if st == INFECTED:
            tm -= dt
            if tm <= 0.0:
                tm = 0.0
                st = ZOMBIE
                if P[P_HYBRID_P] > 0.0 and to_unit(agent_bits(khyb, a)) < P[P_HYBRID_P]:
                    st = HYBRID
        if st == DEAD:
            state[i] = st
            continue
        # 3. move
        mode = _MODE_STAY
        x = 0.0
        field = fz
        if st == HUMAN or st == INFECTED:
            if fz[c] > 0:
                mode, x = _MODE_FLEE, P[P_H_FLEE]
            else:
                mode, x = _MODE_RANDOM, P[P_H_DRIFT]
        elif st == ZOMBIE or st == EVOLVED:
            if cnt[c, HUMAN] == 0:
                field = fh if st == ZOMBIE else fe
                if field[c] > 0:
                    mode = _MODE_CHASE
                    x = P[P_Z_CHASE] if st == ZOMBIE else P[P_E_CHASE]
                else:
                    mode = _MODE_RANDOM
                    x = P[P_Z_WANDER] if st == ZOMBIE else P[P_E_WANDER]
        else:  # hybrid
            mode, x = _MODE_RANDOM, P[P_Y_DRIFT]
        if x > 0.0:
            b = agent_bits(kmove, a)
            nh = int(x)
            if to_unit(b) < x - nh:
                nh += 1
            nh = min(nh, maxhop)
            for hop in range(nh):
                if hop > 0:
                    b = agent_bits(khop[hop], a)
                k0 = int(b & np.uint64(3))
                if mode == _MODE_RANDOM:
                    nb = nbr[c, k0]
                    if nb >= 0:
                        c = nb
                elif mode == _MODE_CHASE:
                    best = -1
                    bv = 0
                    for j in range(4):
                        nb = nbr[c, (k0 + j) & 3]
                        if nb >= 0 and field[nb] > bv:
                            bv = field[nb]
                            best = nb
                    if best < 0:
                        best = nbr[c, k0]
                    if best >= 0:
                        c = best
                    if cnt[c, HUMAN] > 0:
                        break
                else:  # flee
                    best = -1
                    bv = fz[c]
                    for j in range(4):
                        nb = nbr[c, (k0 + j) & 3]
                        if nb >= 0 and fz[nb] < bv:
                            bv = fz[nb]
                            best = nb
                    if best < 0:
                        break
                    c = best
        # 4. count: into this chunk's own cell range, or the overflow list
        if blo <= c < bhi:
            nxt[c, st] += 1
        else:
            ovf[no] = c * 8 + st
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
            rr = c // nx
            cc = c - rr * nx
            zr0 = min(zr0, rr)
            zr1 = max(zr1, rr)
            zc0 = min(zc0, cc)
            zc1 = max(zc1, cc)
        # write back only what changed, so unchanged cache lines stay clean
        if c != c0:
            cell[i] = c
        if st != st0:
            state[i] = st
        if st == INFECTED or st0 == INFECTED:
            timer[i] = tm
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


@njit(cache=True, nogil=True)
def combine_stats(stats, bbox, totals):
    """Totals per living state and the threat box, from the chunks' statistics."""
    bbox[0] = bbox[2] = 1 << 30
    bbox[1] = bbox[3] = -1
    totals[:] = 0
    for ch in range(stats.shape[0]):
        for j in range(NLIVING):
            totals[j] += stats[ch, j]
        bbox[0] = min(bbox[0], stats[ch, 5])
        bbox[1] = max(bbox[1], stats[ch, 6])
        bbox[2] = min(bbox[2], stats[ch, 7])
        bbox[3] = max(bbox[3], stats[ch, 8])


@njit(inline="always", cache=True)
def _sort_key(c, s, ncells):
    """Sort key: the cell; agents off the map after every cell; the dead last of all."""
    if s == DEAD:
        return ncells + 1
    return c if c >= 0 else ncells


@njit(cache=True, nogil=True)
def sort_count(ch, cell, state, ncells, shist):
    """Counting sort, phase 1 (one chunk): agents per key in chunk ``ch``.

    ``shist`` has ``ncells + 2`` columns (cells, off the map, dead).
    """
    n = cell.size
    nchunks = shist.shape[0]
    row = shist[ch]
    row[:] = 0
    for i in range(ch * n // nchunks, (ch + 1) * n // nchunks):
        row[_sort_key(cell[i], state[i], ncells)] += 1


@njit(cache=True, nogil=True)
def sort_offsets(shist):
    """Counting sort, phase 2: exclusive prefix sums, cell-major then chunk."""
    run = 0
    for c in range(shist.shape[1]):
        for ch in range(shist.shape[0]):
            v = shist[ch, c]
            shist[ch, c] = run
            run += v


@njit(cache=True, nogil=True)
def sort_scatter(ch, cell, state, timer, aid, ncells, shist, bcell, bstate, btimer, baid):
    """Counting sort, phase 3 (one chunk): move chunk ``ch``'s agents to their places."""
    n = cell.size
    nchunks = shist.shape[0]
    row = shist[ch]
    for i in range(ch * n // nchunks, (ch + 1) * n // nchunks):
        c = cell[i]
        key = _sort_key(c, state[i], ncells)
        j = row[key]
        row[key] = j + 1
        bcell[j] = c
        bstate[j] = state[i]
        btimer[j] = timer[i]
        baid[j] = aid[i]


@njit(cache=True, nogil=True)
def sort_copy_back(ch, nchunks, cell, state, timer, aid, bcell, bstate, btimer, baid):
    """Counting sort, phase 4 (one chunk): copy the sorted buffers back."""
    n = cell.size
    for i in range(ch * n // nchunks, (ch + 1) * n // nchunks):
        cell[i] = bcell[i]
        state[i] = bstate[i]
        timer[i] = btimer[i]
        aid[i] = baid[i]


@njit(cache=True)
def count_cells(cell, state, cnt):
    """Per-cell counts of the living states, from scratch."""
    cnt[:] = 0
    for i in range(cell.size):
        s = state[i]
        if s < NLIVING and cell[i] >= 0:
            cnt[cell[i], s] += 1


@njit(cache=True)
def threat_bbox(cnt, nx, bbox):
    """Bounding box (rmin, rmax, cmin, cmax) of cells with infected, zombies or evolved."""
    bbox[0] = bbox[2] = 1 << 30
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


NO_BBOX = np.array([1, 0, 1, 0], np.int64)  # an empty threat box


@njit(cache=True)
def tally(cell, state, cell_district, ndistricts):
    """Agents per (district, state); row ``ndistricts`` holds agents off the map."""
    out = np.zeros((ndistricts + 1, len(STATE_NAMES)), np.int64)
    for i in range(cell.size):
        c = cell[i]
        out[cell_district[c] if c >= 0 else ndistricts, state[i]] += 1
    return out


@njit(parallel=True, cache=True)
def pass_parallel(
    step,
    seed,
    cell,
    state,
    timer,
    aid,
    nbr,
    cnt,
    fz,
    fh,
    fe,
    P,
    IP,
    nx,
    nxt,
    bounds,
    ovf,
    novf,
    stats,
):
    """Every chunk of the pass, one per numba thread."""
    for ch in prange(bounds.size - 1):
        pass_chunk(
            ch,
            step,
            seed,
            cell,
            state,
            timer,
            aid,
            nbr,
            cnt,
            fz,
            fh,
            fe,
            P,
            IP,
            nx,
            nxt,
            bounds,
            ovf,
            novf,
            stats,
        )
