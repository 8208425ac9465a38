"""Compiled kernels: one simulation step over flat agent arrays.

The kernels know nothing of scenarios, files or the command line: they take arrays and a
parameter vector (:mod:`seoulfall.engine.params` builds it). One step is a single fused pass
over the agents, split into contiguous chunks:

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
   chunk's range go to an overflow list added afterwards. With several threads there are
   16 chunks per thread, dealt out in turn (:func:`pass_parallel`), so that a thread whose
   chunks hold the front does not leave the others idle.

Every random draw comes from :mod:`seoulfall.engine.rng` keyed by (seed, stream, step,
agent id), and counts are integers, so a step's outcome does not depend on the number of
threads or the order of agents.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from seoulfall.engine import parameters, rng, states
from seoulfall.engine.rng import agent_bits, step_key, to_unit

# Agent states (declared in ``engine/states.py``): the low three bits of the ``state`` byte.
STATE_NAMES = states.NAMES
HUMAN, INFECTED, ZOMBIE, EVOLVED, HYBRID, DEAD, EVACUATED, RESERVE = (
    STATE_NAMES.index(n)
    for n in ("human", "infected", "zombie", "evolved", "hybrid", "dead", "evacuated", "reserve")
)
NLIVING = states.NCOUNTED  # the living: they stand on the map and are counted per cell
assert NLIVING == 5, "the kernels' sums over a cell's living are written out for five states"
# The other bits of the state byte: per-agent traits that cost no extra memory.
STATE_MASK = 7
CARRIER = 8  # a hybrid whose bite infects (else immune)
EVACUATING = 8  # the same bit on a human: it is evacuating
SHELTER = 16  # a human in shelter
LEVEL_SHIFT = 5  # bits 5-7: strength level, an index into STRENGTH_LEVELS
#: The strength levels and their units per cell (declared in ``engine/parameters.py``).
STRENGTH_LEVELS = np.array(parameters.STRENGTH_LEVELS)
STRENGTH_UNITS = np.array(parameters.STRENGTH_UNITS, np.int32)
LEVEL_ONE = 0  # strength 1.0
SOLDIER_LEVEL = parameters.SOLDIER_LEVEL
MAX_CIVILIAN_LEVEL = 3  # strength 3.0: the strongest a civilian can be
DEAD_BYTE = DEAD

# Columns of the per-cell count table (int32, one 32-byte row per cell).
C_STR = 5  # sum of the strength units of the cell's humans not in shelter
C_ATT = 6  # hybrid attacks in the cell last step: carrier + 65536 x immune
C_KILLS = 7  # zombies destroyed in the cell last step
NCOLS = 8

# Event kinds in the per-step event list (``ev``: cell << 2 | kind).
EV_KILL, EV_CARRIER, EV_IMMUNE = 0, 1, 2
#: ``C_ATT`` packs two counts in one int32: carriers' attacks in the low bits, immune hybrids'
#: attacks above ``ATTACK_BITS`` (each adds ``IMMUNE_ATTACK``).
ATTACK_BITS = 16
IMMUNE_ATTACK = 1 << ATTACK_BITS
CARRIER_ATTACKS = IMMUNE_ATTACK - 1  # the mask of the carriers' count
#: Where a running minimum of rows or columns starts (above any raster's side).
NO_ROW = 1 << 30
FAR = 1 << 30  # distance-to-target of cells from which the evacuation target is out of reach

# Slots of the parameter vectors, named from their one declaration (``engine/parameters.py``;
# an unknown name or a miscount fails here, at import).
(
    P_DT, P_BITE, P_BITE_E, P_KILL, P_KILL_E, P_Y_STRENGTH, P_TURN_MEDIAN, P_TURN_SIGMA,
    P_HYBRID_P, P_EVOLVE_P, P_H_FLEE, P_H_DRIFT, P_Z_CHASE, P_Z_WANDER, P_E_CHASE, P_E_WANDER,
    P_Y_DRIFT, P_W_OWN, P_W_NEIGHBOUR, P_MASS_ACTION, P_EVOLVE_RATE, P_EVOLVE_BITE,
    P_CARRIER_P, P_Y_HUNT, P_Y_HUNGER, P_Y_LAPSE, P_Y_SELF, P_Y_PAIN, P_H_RETALIATE,
    P_SHELTER_P, P_SHELTER_F, P_SHELTER_BREACH, P_WOUND_P, P_WOUND_MEDIAN, P_WOUND_SIGMA,
    P_EVAC_REMOVE,
) = parameters.FLOAT.slots(
    "dt", "bite", "bite_e", "kill", "kill_e", "y_strength", "turn_median", "turn_sigma",
    "hybrid_p", "evolve_p", "h_flee", "h_drift", "z_chase", "z_wander", "e_chase", "e_wander",
    "y_drift", "w_own", "w_neighbour", "mass_action", "evolve_rate", "evolve_bite",
    "carrier_p", "y_hunt", "y_hunger", "y_lapse", "y_self", "y_pain", "h_retaliate",
    "shelter_p", "shelter_f", "shelter_breach", "wound_p", "wound_median", "wound_sigma",
    "evac_remove",
)  # fmt: skip
NPARAMS = parameters.FLOAT.size
I_R_H, I_R_Z, I_R_E, I_MAXHOP, I_SORT_EVERY, I_R_Y, I_NCAST, I_UNITS = parameters.INT.slots(
    "r_h", "r_z", "r_e", "maxhop", "sort_every", "r_y", "ncast", "units"
)
NIPARAMS = parameters.INT.size

MAXHOP = parameters.MAXHOP
#: A move whose probability lies between these is a coin toss, decided without a branch:
#: the processor would mispredict such a branch an eighth of the time or more, each time
#: costing more than the work it skips. Outside them a branch skips the rare move (the
#: default city's humans drift 0.03 hops a step). Measured on the Mesa benchmark's model
#: (drift and wander 0.5 hops a step, 10 k agents, one thread): 0.76-0.80 of the time
#: with a branch; on day 2 of the default scenario at scale 0.25 (zombies wander 0.18 hops a
#: step) 0.76 and 0.93 in two runs; its first hours unchanged within this machine's noise.
COIN_LO, COIN_HI = 0.125, 0.875
SOUND_EPS = 1e-3  # quieter than this is silence
# Per-chunk statistics written by the pass: totals of the living states, then the bounding
# box (row min, row max, col min, col max) of cells holding infected, zombies or evolved
# zombies: the "threat box", outside which no field can matter in the next step.
NSTATS = NLIVING + 4

_MODE_STAY, _MODE_RANDOM, _MODE_CHASE, _MODE_FLEE, _MODE_SOUND, _MODE_EVAC = 0, 1, 2, 3, 4, 5


@njit(cache=True)
def _turn_time(bits, median, sigma):
    """Log-normal turn time (minutes) from 64 random bits (Box-Muller on two halves)."""
    if median <= 0.0:
        return 0.0
    u1 = (float(bits >> np.uint64(32)) + 0.5) * (1.0 / 4294967296.0)
    u2 = (float(bits & np.uint64(0xFFFFFFFF)) + 0.5) * (1.0 / 4294967296.0)
    z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
    return median * math.exp(sigma * z)


@njit(inline="always", cache=True)
def _may_hit(u, x):
    """False when the uniform ``u`` is surely not below ``1 - exp(-x)`` (``x >= 0``).

    ``1 - exp(-x) <= x``, and computed in doubles it exceeds ``x`` by less than 1e-15 (a
    rounding of ``exp`` near 1) or a relative 1e-9 (``expm1``): so ``u`` above that bound
    decides the draw without the exponential, and the decisions stay exactly those of
    comparing with the exponential. Most draws of a step are far above their bound.
    """
    return u < x * 1.000000001 + 1e-15


#: Side of the square tiles (cells) by which sensing fields are computed or skipped.
TILE = 16
# Tile flags (``field_sources``): which sources and which readers a tile holds.
T_SRC_Z = 1  # zombies or evolved: the source of ``fz`` and ``fy``
T_SRC_H = 2  # humans: the source of ``fh`` and ``fe``
T_READ_H = 4  # humans or infected: they read ``fz``
T_READ_Z = 8  # infected, zombies, evolved, or last step's attacks and kills: ``fh``, ``fe``
T_READ_Y = 16  # hybrids, infected, or last step's attacks and kills: ``fy``


@njit(cache=True, nogil=True)
def field_sources(cnt, nx, ny, bbox, grow, humans, zombies, tiles):
    """Humans, and zombies + evolved, per cell as two contiguous arrays; flags per tile.

    Filled over ``bbox`` grown by ``grow`` cells: one pass over the count rows feeds every
    field of the step. ``tiles`` (one int32 per ``TILE`` x ``TILE`` tile, row-major) gets
    the ``T_*`` flags of the cells read; tiles outside that region get 0.
    """
    tiles[:] = 0
    for tr in range((ny + TILE - 1) // TILE):
        field_sources_row(cnt, nx, ny, bbox, grow, humans, zombies, tiles, tr)


@njit(cache=True, nogil=True)
def field_sources_row(cnt, nx, ny, bbox, grow, humans, zombies, tiles, tr):
    """:func:`field_sources` for the cells of tile row ``tr`` (its tiles already zeroed)."""
    if bbox[0] > bbox[1]:
        return
    ntc = (nx + TILE - 1) // TILE
    r0 = max(0, bbox[0] - grow, tr * TILE)
    r1 = min(ny, bbox[1] + grow + 1, (tr + 1) * TILE)
    c0 = max(0, bbox[2] - grow)
    c1 = min(nx, bbox[3] + grow + 1)
    trow = tr * ntc
    for q in range(r0, r1):
        base = q * nx
        for tc in range(c0 // TILE, (c1 - 1) // TILE + 1):  # one tile's part of the row
            sh = sz = si = se = sy = 0
            for cc in range(base + max(c0, tc * TILE), base + min(c1, (tc + 1) * TILE)):
                h = cnt[cc, HUMAN]
                z = cnt[cc, ZOMBIE] + cnt[cc, EVOLVED]
                humans[cc] = h
                zombies[cc] = z
                sh += h
                sz += z
                si += cnt[cc, INFECTED]
                se += cnt[cc, C_ATT] + cnt[cc, C_KILLS]
                sy += cnt[cc, HYBRID]
            f = 0
            if sz > 0:
                f |= T_SRC_Z | T_READ_Z
            if sh > 0:
                f |= T_SRC_H | T_READ_H
            if si > 0:
                f |= T_READ_H | T_READ_Z | T_READ_Y
            if se > 0:
                f |= T_READ_Z | T_READ_Y
            if sy > 0:
                f |= T_READ_Y
            tiles[trow + tc] |= f


@njit(cache=True, nogil=True)
def near_tiles(tiles, nx, ny, d, near):
    """``near[t]``: the flags of every tile within ``d`` tiles of tile ``t`` (or-ed)."""
    ntr = (ny + TILE - 1) // TILE
    ntc = (nx + TILE - 1) // TILE
    for tr in range(ntr):
        for tc in range(ntc):
            f = 0
            for a in range(max(0, tr - d), min(ntr, tr + d + 1)):
                for b in range(max(0, tc - d), min(ntc, tc + d + 1)):
                    f |= tiles[a * ntc + b]
            near[tr * ntc + tc] = f


@njit(cache=True, nogil=True)
def box_field(src, nx, ny, r, bbox, pad, near_read, read, near_src, source, dirty, tmp, out):
    """Box sum within radius ``r`` of ``src`` (filled by :func:`field_sources`).

    Computed over the threat box ``bbox`` (rmin, rmax, cmin, cmax) grown by ``pad``, tile by
    tile, and only on tiles that someone may read this step: a tile is computed when
    ``near_read`` (:func:`near_tiles` within the reach of a reader) has the flag ``read``
    and ``near_src`` (within ``r`` cells) the flag ``source``, or always if ``read`` is 0;
    every other cell holds 0, which is its value wherever an agent can read it. Running
    sums make the cost independent of ``r``. ``dirty`` (one byte per tile) marks tiles that
    may hold non-zero values; ``tmp`` is scratch of at least ``TILE + 2 r`` cells. An empty
    ``bbox`` (rmin > rmax) leaves the field 0.
    """
    ntr = (ny + TILE - 1) // TILE
    ntc = (nx + TILE - 1) // TILE
    if bbox[0] > bbox[1]:
        r0 = r1 = c0 = c1 = 0
    else:
        r0 = max(0, bbox[0] - pad)
        r1 = min(ny, bbox[1] + pad + 1)
        c0 = max(0, bbox[2] - pad)
        c1 = min(nx, bbox[3] + pad + 1)
    for tr in range(ntr):
        R0 = tr * TILE
        R1 = min(ny, R0 + TILE)
        a0 = max(R0, r0)
        a1 = min(R1, r1)
        for tc in range(ntc):
            t = tr * ntc + tc
            C0 = tc * TILE
            C1 = min(nx, C0 + TILE)
            b0 = max(C0, c0)
            b1 = min(C1, c1)
            need = (
                a0 < a1
                and b0 < b1
                and (read == 0 or ((near_read[t] & read) != 0 and (near_src[t] & source) != 0))
            )
            if dirty[t] and not (need and a0 == R0 and a1 == R1 and b0 == C0 and b1 == C1):
                for rr in range(R0, R1):
                    for cc in range(rr * nx + C0, rr * nx + C1):
                        out[cc] = 0
                dirty[t] = 0
            if not need:
                continue
            dirty[t] = 1
            # column sums over rows rr - r .. rr + r (kept as the row moves down) for the
            # columns b0 - r .. b1 + r (0 off the map), then a running sum along the row
            ca = max(0, b0 - r)
            cb = min(nx, b1 + r)
            w = cb - ca
            for j in range(w):
                tmp[j] = 0
            for q in range(max(0, a0 - r), min(ny, a0 + r + 1)):
                base = q * nx + ca
                for j in range(w):
                    tmp[j] += src[base + j]
            lead = b0 - ca  # columns left of b0 inside the window of b0
            for rr in range(a0, a1):
                s = 0
                for j in range(min(w, lead + r + 1)):
                    s += tmp[j]
                ob = rr * nx + b0
                for k in range(b1 - b0):
                    out[ob + k] = s
                    j = lead + k
                    if j + r + 1 < w:
                        s += tmp[j + r + 1]
                    if j - r >= 0:
                        s -= tmp[j - r]
                if rr + 1 < a1:
                    qin = rr + r + 1
                    if qin < ny:
                        base = qin * nx + ca
                        for j in range(w):
                            tmp[j] += src[base + j]
                    qout = rr - r
                    if qout >= 0:
                        base = qout * nx + ca
                        for j in range(w):
                            tmp[j] -= src[base + j]


# The four sensing fields (rows of ``fields``): zombies humans sense, humans zombies sense,
# humans evolved zombies sense, zombies hybrids hear. Their source (humans 0, zombies +
# evolved 1), the tile flags of their readers and of their sources:
_F_WHICH = (1, 0, 0, 1)
_F_READ = (T_READ_H, T_READ_Z, T_READ_Z, T_READ_Y)
_F_SOURCE = (T_SRC_Z, T_SRC_H, T_SRC_H, T_SRC_Z)


@njit(inline="always", cache=True)
def _field_geometry(IP):
    """Per field: sensing radius, and how far around the threat box it is computed."""
    pad = IP[I_MAXHOP] + 1  # how far from its cell an agent reads a field in a step
    radius = (IP[I_R_H], IP[I_R_Z], IP[I_R_E], IP[I_R_Y])
    grow = (IP[I_R_H], pad, pad, IP[I_R_Y])
    return pad, radius, grow


@njit(cache=True, nogil=True)
def field_needs(totals, P, IP, need):
    """Which fields a step needs, and how far around the threat box to read the counts.

    ``need[j]``: 1 if field ``j`` can be read this step, else 0. Returns the distance in
    cells, or -1 when no field is needed.
    """
    pad, radius, grow = _field_geometry(IP)
    t = totals
    humans = t[HUMAN] + t[INFECTED] > 0
    zombies = t[ZOMBIE] + t[EVOLVED] > 0
    evolve = P[P_EVOLVE_P] > 0.0 or P[P_EVOLVE_BITE] > 0.0
    evolving = t[EVOLVED] > 0 or (t[ZOMBIE] > 0 and evolve)
    needed = (
        humans and zombies,
        t[HUMAN] > 0 and t[ZOMBIE] + t[INFECTED] > 0,
        t[HUMAN] > 0 and evolving,
        t[HYBRID] > 0 and zombies,
    )
    # the tile flags must see every reader that can reach a computed cell, and every source
    reach = -1
    for j in range(4):
        need[j] = 1 if needed[j] else 0
        if needed[j]:
            reach = max(reach, max(grow[j], pad) + radius[j])
    return reach


@njit(cache=True, nogil=True)
def field_near(tiles, nx, ny, IP, need, near):
    """The tile flags each tile can see: the rows of ``near``.

    Row 0: the flags within a reader's reach of each tile; row 1 + j: within field ``j``'s
    sensing radius (needed fields only).
    """
    pad, radius, grow = _field_geometry(IP)
    near_tiles(tiles, nx, ny, (pad + TILE - 1) // TILE, near[0])
    for j in range(4):
        if need[j]:
            near_tiles(tiles, nx, ny, (radius[j] + TILE - 1) // TILE, near[1 + j])


@njit(cache=True, nogil=True)
def field_plan(cnt, nx, ny, bbox, totals, P, IP, src, tiles, near, need):
    """The part of a step's fields that all four share: which are needed, sources, tiles.

    ``need[j]``: 1 if field ``j`` can be read this step (agents that turn or evolve during
    the step included). ``near`` (5, ntiles): row 0 the flags within a reader's reach of
    each tile, row 1 + j those within field ``j``'s sensing radius.
    """
    reach = field_needs(totals, P, IP, need)
    if reach >= 0:  # one pass over the counts feeds every field
        field_sources(cnt, nx, ny, bbox, reach, src[0], src[1], tiles)
        field_near(tiles, nx, ny, IP, need, near)


@njit(cache=True, nogil=True)
def field_one(j, nx, ny, bbox, IP, src, near, need, dirty, tmp, fields, every):
    """Field ``j`` of a step (after :func:`field_plan`), or its clearing if not needed."""
    if need[j] == 0:
        if dirty[j].any():  # clear it
            box_field(src[0], nx, ny, 0, NO_BBOX, 0, near[0], 1, near[0], 1, dirty[j],
                      tmp, fields[j])  # fmt: skip
        return
    pad, radius, grow = _field_geometry(IP)
    rd = 0 if every else _F_READ[j]
    box_field(src[_F_WHICH[j]], nx, ny, radius[j], bbox, grow[j], near[0], rd, near[1 + j],
              _F_SOURCE[j], dirty[j], tmp, fields[j])  # fmt: skip


@njit(cache=True, nogil=True)
def compute_fields(cnt, nx, ny, bbox, totals, P, IP, src, tiles, near, need, dirty, tmp, fields,
                   every):  # fmt: skip
    """The four sensing fields of a step, where they can matter.

    Around the threat box, only when someone can read them this step (agents that turn or
    evolve during the step included), and within that only on tiles with a reader and a
    source nearby (:func:`box_field`; on every tile if ``every``). ``fields`` rows: zombies
    humans sense, humans zombies sense, humans evolved zombies sense, zombies hybrids hear;
    ``src`` (2, ncells), ``near`` (5, ntiles), ``need`` (4) and ``tmp`` (4, ncells) are
    scratch; ``dirty`` (4, ntiles) marks the tiles of each field that may hold non-zero
    values.
    """
    field_plan(cnt, nx, ny, bbox, totals, P, IP, src, tiles, near, need)
    for j in range(4):
        field_one(j, nx, ny, bbox, IP, src, near, need, dirty, tmp[j], fields, every)


@njit(parallel=True, cache=True)
def compute_fields_parallel(nthreads, cnt, nx, ny, bbox, totals, P, IP, src, tiles, near, need,
                            dirty, tmp, fields, every):  # fmt: skip
    """:func:`compute_fields` on ``nthreads`` threads (the same fields, bit for bit).

    The sources by tile rows, then the four fields, each dealt out to the threads in turn.
    """
    reach = field_needs(totals, P, IP, need)
    if reach >= 0:
        tiles[:] = 0
        ntr = (ny + TILE - 1) // TILE
        for t in prange(nthreads):
            for tr in range(t, ntr, nthreads):
                field_sources_row(cnt, nx, ny, bbox, reach, src[0], src[1], tiles, tr)
        field_near(tiles, nx, ny, IP, need, near)
    for t in prange(nthreads):
        for j in range(t, 4, nthreads):
            field_one(j, nx, ny, bbox, IP, src, near, need, dirty, tmp[j], fields, every)


@njit(cache=True, nogil=True)
def merge_overflow(nxt, ovf, novf, ev, nev, n, IP):
    """Add what the chunks could not count in their own cell ranges, then the events.

    An overflow entry is ``cell << 8 | byte`` (the agent's state byte; a sheltered human
    adds no strength: it cannot fight from its shelter); an event is ``cell << 2 | kind``:
    a zombie destroyed there (``EV_KILL``) or a hybrid's attack (``EV_CARRIER``,
    ``EV_IMMUNE``).
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
            c = ev[j] >> 2
            kind = ev[j] & 3
            if kind == EV_KILL:
                nxt[c, C_KILLS] += 1
            elif kind == EV_CARRIER:
                nxt[c, C_ATT] += 1
            else:
                nxt[c, C_ATT] += IMMUNE_ATTACK


@njit(cache=True)
def _contacts(cnt, nbr, c, P):
    """Weighted humans, zombies, evolved, hybrids, human strength and population seen from ``c``.

    Own cell weight ``w0``, each passable neighbour ``w1``; the population is 1 under mass
    action (hazards then count contacts, not fractions).
    """
    w0 = P[P_W_OWN]
    w1 = P[P_W_NEIGHBOUR]
    h = w0 * cnt[c, HUMAN]
    z = w0 * cnt[c, ZOMBIE]
    e = w0 * cnt[c, EVOLVED]
    y = w0 * cnt[c, HYBRID]
    s = w0 * cnt[c, C_STR]
    n = w0 * (cnt[c, 0] + cnt[c, 1] + cnt[c, 2] + cnt[c, 3] + cnt[c, 4])
    if w1 > 0.0:
        for k in range(4):
            nb = nbr[c, k]
            if nb >= 0:
                h += w1 * cnt[nb, HUMAN]
                z += w1 * cnt[nb, ZOMBIE]
                e += w1 * cnt[nb, EVOLVED]
                y += w1 * cnt[nb, HYBRID]
                s += w1 * cnt[nb, C_STR]
                n += w1 * (cnt[nb, 0] + cnt[nb, 1] + cnt[nb, 2] + cnt[nb, 3] + cnt[nb, 4])
    if P[P_MASS_ACTION] > 0.0:
        n = 1.0
    return h, z, e, y, s * 0.25, n


#: The random streams the pass draws from, by name (``rng.STREAMS``), in the order of the
#: per-step keys (``step_keys``); then one key per extra hop.
PASS_STREAMS = (
    "bite", "kill", "turn", "hybrid", "evolve", "move", "shelter", "lapse", "carrier", "line",
)  # fmt: skip
K_BITE, K_KILL, K_TURN, K_HYBRID, K_EVOLVE, K_MOVE, K_SHELTER, K_LAPSE, K_CARRIER, K_LINE = (
    PASS_STREAMS.index(n)
    for n in (
        "bite", "kill", "turn", "hybrid", "evolve", "move", "shelter", "lapse", "carrier", "line",
    )
)  # fmt: skip
K_HOP = len(PASS_STREAMS)  # K_HOP + h: the h-th extra hop
NKEYS = K_HOP + MAXHOP
_KEY_STREAMS = tuple(rng.STREAMS[n] for n in PASS_STREAMS)


@njit(cache=True)
def step_keys(seed, step, keys):
    """The keys of every random stream of a step (``K_*`` order) into ``keys``."""
    for j in range(K_HOP):
        keys[j] = step_key(seed, _KEY_STREAMS[j], step)
    for h in range(MAXHOP):
        keys[K_HOP + h] = step_key(seed, rng.HOP + h, step)


@njit(inline="always", cache=True)
def _key_tuple(keys):
    """The ``NKEYS`` keys of a step as a tuple."""
    return (
        keys[0], keys[1], keys[2], keys[3], keys[4], keys[5], keys[6], keys[7], keys[8],
        keys[9], keys[10], keys[11], keys[12], keys[13], keys[14], keys[15], keys[16], keys[17],
    )  # fmt: skip


assert NKEYS == 18, "_key_tuple lists the keys one by one"


@njit(inline="always", cache=True)
def agent_step(
    i, keys, cell, state, timer, aid, nbr, cnt, fz, fh, fe, fy, fs, fn, fv, zk, P, IP, CT,
    cst, ccell, fast, general, drift_bits,
):  # fmt: skip
    """One agent's step: interact, turn, move; the agent's arrays updated in place.

    Shared by the CPU pass (:func:`pass_chunk`) and the GPU one
    (:mod:`seoulfall.engine.gpu`), which differ only in how they count. Returns ``(cell,
    state, state byte, strength units, event)``: the state is ``DEAD`` or more when the
    agent is not counted; the strength units go to ``C_STR`` of its cell; the event is
    ``cell << 2 | kind`` or -1.
    """
    sb = state[i]
    st = sb & STATE_MASK
    evc = np.int64(-1)  # the agent's event this step (at most one), or -1
    if st >= DEAD:
        return cell[i], st, sb, 0, evc
    c0 = cell[i]
    if (
        fast
        and (sb & (STATE_MASK | SHELTER | EVACUATING)) == HUMAN
        and fz[c0] == 0
        and cnt[c0, ZOMBIE] + cnt[c0, EVOLVED] + cnt[c0, C_ATT] + cnt[c0, C_KILLS] == 0
    ):
        # The common case, made cheap: a human with no zombie in its cell or in sight
        # and no fight around only drifts (the same draws and decisions as below).
        c = c0
        drift = P[P_H_DRIFT]
        if drift > 0.0:
            b = agent_bits(keys[K_MOVE], aid[i])
            if COIN_LO < drift < COIN_HI:  # a coin toss: decided without a branch
                nb = nbr[c0, int(b & np.uint64(3))]
                c = nb if (b < drift_bits) & (nb >= 0) else c0
                cell[i] = c
            elif b < drift_bits:
                nb = nbr[c0, int(b & np.uint64(3))]
                if nb >= 0:
                    c = nb
                    cell[i] = c
        return c, HUMAN, sb, IP[I_UNITS + (sb >> LEVEL_SHIFT)], evc
    dt = P[P_DT]
    maxhop = IP[I_MAXHOP]
    ncast = IP[I_NCAST]
    c = c0
    st0 = st
    a = aid[i]
    spd = 1.0
    alert = 1.0
    selfc = P[P_Y_SELF]
    if a < ncast:
        spd = CT[a, 0]
        alert = CT[a, 1]
        selfc = CT[a, 2]
    # the timer: turn time (infected), bites fed (zombie), hunger (hybrid)
    tm = timer[i] if (st == INFECTED or st == ZOMBIE or st == HYBRID) else 0.0
    tm0 = tm
    sheltered = (sb & SHELTER) != 0
    stay = False
    # 1-2. interact and turn, on the counts at the start of the step
    if st == HUMAN or st == ZOMBIE or st == EVOLVED:
        if general:
            h, z, e, y, s, nc = _contacts(cnt, nbr, c, P)
        else:
            h = cnt[c, HUMAN]
            z = cnt[c, ZOMBIE]
            e = cnt[c, EVOLVED]
            y = cnt[c, HYBRID]
            s = cnt[c, C_STR] * 0.25
            nc = h + cnt[c, INFECTED] + z + e + y
        if st == HUMAN:
            if sheltered and cnt[c, ZOMBIE] + cnt[c, EVOLVED] >= P[P_SHELTER_BREACH]:
                sheltered = False  # enough zombies crowd the cell: the shelter falls
            hb = 0.0  # hazard (over the step) of an infecting bite
            hk = 0.0  # of a killing bite (an immune hybrid's)
            hw = 0.0  # of a blood-exposing wound
            if z + e > 0:
                hb = (P[P_BITE] * z + P[P_BITE_E] * e) / nc * dt / alert
                if sheltered:
                    hb *= P[P_SHELTER_F]
            att = cnt[c, C_ATT]
            kills = cnt[c, C_KILLS]
            if att + kills > 0:
                hc = max(1, cnt[c, HUMAN])
                hb += (att & CARRIER_ATTACKS) / hc
                hk = (att >> ATTACK_BITS) / hc
                hw = P[P_WOUND_P] * kills / hc
            tot = hb + hk + hw
            if tot > 0.0:
                u = to_unit(agent_bits(keys[K_BITE], a))
                p = 1.0 - math.exp(-tot) if _may_hit(u, tot) else 0.0
                if u < p:
                    x = u / p * tot  # which of the three, in proportion to its hazard
                    tb = agent_bits(keys[K_TURN], a)
                    if x < hb:
                        st = INFECTED
                        tm = _turn_time(tb, P[P_TURN_MEDIAN], P[P_TURN_SIGMA])
                    elif x < hb + hk:
                        st = DEAD
                    else:
                        st = INFECTED
                        tm = _turn_time(tb, P[P_WOUND_MEDIAN], P[P_WOUND_SIGMA])
        else:
            f = s + P[P_Y_STRENGTH] * y
            if f > 0:
                kr = P[P_KILL] if st == ZOMBIE else P[P_KILL_E]
                xk = kr * f / nc * dt
                u = to_unit(agent_bits(keys[K_KILL], a))
                if _may_hit(u, xk) and u < 1.0 - math.exp(-xk):
                    st = DEAD
                    evc = (np.int64(c) << 2) | EV_KILL
            if st != DEAD and zk[c] > 0.0 and to_unit(agent_bits(keys[K_LINE], a)) < zk[c]:
                st = DEAD  # shot by the soldiers holding a line
                evc = (np.int64(c) << 2) | EV_KILL
            if st == ZOMBIE:
                if h > 0 and P[P_EVOLVE_BITE] > 0.0:
                    # feeding: this zombie's share of the bites expected in its cell
                    bz = P[P_BITE] * z + P[P_BITE_E] * e
                    if bz > 0.0:
                        tm += h * -math.expm1(-bz / nc * dt) * P[P_BITE] / bz
                if tm > 0.0:  # fed: a rate that grows with the bites fed
                    xe = (P[P_EVOLVE_RATE] + P[P_EVOLVE_BITE] * tm) * dt
                    u = to_unit(agent_bits(keys[K_EVOLVE], a))
                    if _may_hit(u, xe) and u < -math.expm1(-xe):
                        st = EVOLVED
                elif P[P_EVOLVE_P] > 0.0:
                    if to_unit(agent_bits(keys[K_EVOLVE], a)) < P[P_EVOLVE_P]:
                        st = EVOLVED
    elif st == HYBRID:
        tm += dt  # hunger grows
        hc = cnt[c, HUMAN]
        if tm >= P[P_Y_HUNGER] and hc > 0:
            lapse = P[P_Y_LAPSE] * (1.0 - selfc)
            u = to_unit(agent_bits(keys[K_LAPSE], a)) if lapse > 0.0 else 1.0
            if _may_hit(u, lapse * dt) and u < -math.expm1(-lapse * dt):
                # self-control fails: it bites a human of its cell (next step) and feeds
                tm = 0.0
                stay = True
                evc = (np.int64(c) << 2) | (EV_CARRIER if (sb & CARRIER) != 0 else EV_IMMUNE)
                pk = -math.expm1(-P[P_H_RETALIATE] / P[P_Y_PAIN])
                if to_unit(agent_bits(keys[K_KILL], a)) < pk:
                    st = DEAD  # the humans who saw it fight back
    if st == INFECTED:
        tm -= dt
        if tm <= 0.0:
            tm = 0.0
            st = ZOMBIE
            if P[P_HYBRID_P] > 0.0 and to_unit(agent_bits(keys[K_HYBRID], a)) < P[P_HYBRID_P]:
                st = HYBRID
                sb = sb & ~CARRIER
                if to_unit(agent_bits(keys[K_CARRIER], a)) < P[P_CARRIER_P]:
                    sb = sb | CARRIER
    if a < ncast:
        cst[a] = st
        ccell[a] = c
    if st == DEAD:
        state[i] = DEAD_BYTE
        return c, st, sb, 0, evc
    # 3. move
    mode = _MODE_STAY
    x = 0.0
    field = fz
    stop = HUMAN  # a chaser stops on a cell holding this state (and the next)
    if stay:
        pass
    elif st == HUMAN and (sb >> LEVEL_SHIFT) == SOLDIER_LEVEL:
        # a soldier never flees nor shelters: it advances on the zombies it senses
        if fz[c] > 0 and cnt[c, ZOMBIE] + cnt[c, EVOLVED] == 0:
            mode, x, stop = _MODE_CHASE, P[P_H_FLEE] * spd, ZOMBIE
        else:
            mode, x = _MODE_RANDOM, P[P_H_DRIFT]
    elif st == HUMAN and (sb & EVACUATING) != 0 and fz[c] == 0:
        sheltered = False
        mode, x, field = _MODE_EVAC, P[P_H_FLEE] * spd, fv
    elif st == HUMAN or st == INFECTED:
        if fz[c] > 0:
            if st == HUMAN and not sheltered and P[P_SHELTER_P] > 0.0:
                if cnt[c, ZOMBIE] + cnt[c, EVOLVED] == 0:
                    sheltered = to_unit(agent_bits(keys[K_SHELTER], a)) < P[P_SHELTER_P]
            if not (st == HUMAN and sheltered):
                mode, x = _MODE_FLEE, P[P_H_FLEE] * spd
        else:
            sheltered = False  # nothing in sight: out of shelter
            mode, x = _MODE_RANDOM, P[P_H_DRIFT]
    elif st == ZOMBIE or st == EVOLVED:
        if cnt[c, HUMAN] == 0:
            field = fh if st == ZOMBIE else fe
            if field[c] > 0:
                mode = _MODE_CHASE
                x = P[P_Z_CHASE] if st == ZOMBIE else P[P_E_CHASE]
            elif fs[c] + fn[c] > SOUND_EPS:
                mode = _MODE_SOUND
                x = P[P_Z_CHASE] if st == ZOMBIE else P[P_E_CHASE]
            else:
                mode = _MODE_RANDOM
                x = P[P_Z_WANDER] if st == ZOMBIE else P[P_E_WANDER]
    else:  # hybrid: closes on zombies it hears, else drifts like a human; never flees
        if fy[c] > 0 and cnt[c, ZOMBIE] + cnt[c, EVOLVED] == 0:
            mode, x, field, stop = _MODE_CHASE, P[P_Y_HUNT] * spd, fy, ZOMBIE
        else:
            mode, x = _MODE_RANDOM, P[P_Y_DRIFT]
    if mode == _MODE_RANDOM and COIN_LO < x < COIN_HI:  # at most one hop, a coin toss
        b = agent_bits(keys[K_MOVE], a)
        nb = nbr[c, int(b & np.uint64(3))]
        c = nb if (to_unit(b) < x) & (nb >= 0) & (maxhop > 0) else c
    elif x > 0.0:
        b = agent_bits(keys[K_MOVE], a)
        nh = int(x)
        if to_unit(b) < x - nh:
            nh += 1
        nh = min(nh, maxhop)
        for hop in range(nh):
            if hop > 0:
                b = agent_bits(keys[K_HOP + hop], a)
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
                if cnt[c, stop] > 0 or (stop == ZOMBIE and cnt[c, EVOLVED] > 0):
                    break
            elif mode == _MODE_SOUND:
                best = -1
                sv = fs[c] + fn[c]
                for j in range(4):
                    nb = nbr[c, (k0 + j) & 3]
                    if nb >= 0 and fs[nb] + fn[nb] > sv:
                        sv = fs[nb] + fn[nb]
                        best = nb
                if best < 0:
                    best = nbr[c, k0]  # at the loudest point: mill about
                if best >= 0:
                    c = best
            else:  # flee or evacuate: down the field (zombies in sight, steps to the target)
                best = -1
                bv = field[c]
                for j in range(4):
                    nb = nbr[c, (k0 + j) & 3]
                    if nb >= 0 and field[nb] < bv:
                        bv = field[nb]
                        best = nb
                if best < 0:
                    break
                c = best
    if mode == _MODE_EVAC and fv[c] == 0 and P[P_EVAC_REMOVE] > 0.0:
        st = EVACUATED  # reached the target: leaves the map
        if a < ncast:
            cst[a] = st
            ccell[a] = -1
        state[i] = EVACUATED
        cell[i] = -1
        return c, st, sb, 0, evc
    # the new state byte: flags kept where they mean something
    if st == HUMAN:
        nsb = (sb & ~(STATE_MASK | SHELTER)) | HUMAN  # keeps the evacuating bit
        if sheltered:
            nsb |= SHELTER
    elif st == INFECTED:
        nsb = (sb & ~(STATE_MASK | CARRIER | SHELTER)) | INFECTED
    elif st == HYBRID:
        nsb = (sb & ~(STATE_MASK | SHELTER)) | HYBRID
    else:
        nsb = st
    if a < ncast:
        ccell[a] = c
    units = 0
    if st == HUMAN and not sheltered:
        units = IP[I_UNITS + (nsb >> LEVEL_SHIFT)]
    # write back only what changed, so unchanged cache lines stay clean; the cell always
    # (whether an agent of this slower path moved is often a coin toss: see ``COIN_LO``)
    cell[i] = c
    if nsb != sb or st != st0:
        state[i] = nsb
    if tm != tm0:
        timer[i] = tm
    return c, st, nsb, units, evc


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
    P,
    IP,
    CT,
    cst,
    ccell,
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
    per-step probability that a zombie standing in the cell is shot (a guarded line).
    ``CT`` holds the named characters' traits (speed, alertness, self-control) by agent id;
    the pass writes their state and cell into ``cst`` and ``ccell``.
    """
    n = cell.size
    nchunks = bounds.size - 1
    kt = _key_tuple(keys)
    general = P[P_W_NEIGHBOUR] > 0.0 or P[P_W_OWN] != 1.0 or P[P_MASS_ACTION] > 0.0
    fast = not general and P[P_H_DRIFT] < 1.0
    # the fast path's drift draw as one integer compare (``rng.unit_threshold``)
    drift_bits = rng.unit_threshold(P[P_H_DRIFT]) if fast else np.uint64(0)
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
    for i in range(lo, hi):
        c, st, nsb, units, evc = agent_step(
            i, kt, cell, state, timer, aid, nbr, cnt, fz, fh, fe, fy, fs, fn, fv, zk, P,
            IP, CT, cst, ccell, fast, general, drift_bits,
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


@njit(inline="always", cache=True)
def _sort_key(c, s, ncells):
    """Sort key: the cell; agents off the map after every cell; the dead last of all."""
    if (s & STATE_MASK) == DEAD:
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
    lo = ch * n // nchunks
    hi = (ch + 1) * n // nchunks
    cell[lo:hi] = bcell[lo:hi]
    state[lo:hi] = bstate[lo:hi]
    timer[lo:hi] = btimer[lo:hi]
    aid[lo:hi] = baid[lo:hi]


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


NO_BBOX = np.array([1, 0, 1, 0], np.int64)  # an empty threat box


@njit(cache=True)
def tally(cell, state, cell_district, ndistricts):
    """Agents per (district, state); row ``ndistricts`` holds agents off the map."""
    out = np.zeros((ndistricts + 1, len(STATE_NAMES)), np.int64)
    for i in range(cell.size):
        c = cell[i]
        out[cell_district[c] if c >= 0 else ndistricts, state[i] & STATE_MASK] += 1
    return out


@njit(cache=True, nogil=True)
def render_sources(fs, nx, ny, src):
    """The scheduled sound field from the active sources ``(cell, loudness, radius)``.

    Each adds ``loudness * (1 - d / radius)`` to the cells within ``radius`` cells
    (Euclidean distance ``d``).
    """
    fs[:] = 0.0
    for k in range(src.shape[0]):
        _add_disc(fs, nx, ny, int(src[k, 0]), src[k, 1], src[k, 2])


@njit(inline="always", cache=True)
def _add_disc(f, nx, ny, c, loud, radius):
    r0 = c // nx
    q0 = c - r0 * nx
    ir = int(radius)
    for r in range(max(0, r0 - ir), min(ny, r0 + ir + 1)):
        for q in range(max(0, q0 - ir), min(nx, q0 + ir + 1)):
            d = math.sqrt((r - r0) ** 2 + (q - q0) ** 2)
            if d < radius:
                f[r * nx + q] += loud * (1.0 - d / radius)


@njit(cache=True, nogil=True)
def _shell_sort(x):
    """Sort ``x`` in place (Shell's method, Knuth's gaps 1, 4, 13, 40, ...).

    Compiles in a fraction of ``np.sort``'s time; a step's kills are few.
    """
    n = x.size
    g = 1
    while g < n // 3:
        g = 3 * g + 1
    while g >= 1:
        for i in range(g, n):
            v = x[i]
            j = i
            while j >= g and x[j - g] > v:
                x[j] = x[j - g]
                j -= g
            x[j] = v
        g //= 3


@njit(cache=True, nogil=True)
def fight_noise(fn, ev, nev, n, nx, ny, radius, loud, keep, region):
    """Fading noise of fights: decay by ``keep``, then add this step's fights.

    Each zombie destroyed this step adds a disc of ``loud * (1 - d / radius)`` to ``fn``.

    ``region`` (rmin, rmax, cmin, cmax) bounds the cells that may be non-zero; when the
    loudest falls below ``SOUND_EPS`` the field is cleared and the region emptied.
    """
    if region[0] <= region[1]:
        top = 0.0
        for r in range(region[0], region[1] + 1):
            for q in range(region[2], region[3] + 1):
                v = fn[r * nx + q] * keep
                fn[r * nx + q] = v
                top = max(top, v)
        if top < SOUND_EPS:
            for r in range(region[0], region[1] + 1):
                for q in range(region[2], region[3] + 1):
                    fn[r * nx + q] = 0.0
            region[0] = region[2] = NO_ROW
            region[1] = region[3] = -1
    if loud <= 0.0 or radius <= 0.0:
        return
    ir = int(radius)
    # the cells of this step's kills in increasing order, so that the float sums do not
    # depend on the order of the events (threads, GPU)
    nchunks = nev.size
    total = 0
    for ch in range(nchunks):
        total += nev[ch] - ch * n // nchunks
    cells = np.empty(total, np.int64)
    nkill = 0
    for ch in range(nchunks):
        for j in range(ch * n // nchunks, nev[ch]):
            if ev[j] & 3 == EV_KILL:
                cells[nkill] = ev[j] >> 2
                nkill += 1
    cells = cells[:nkill]
    _shell_sort(cells)
    for k in range(nkill):
        c = cells[k]
        _add_disc(fn, nx, ny, c, loud, radius)
        r0 = c // nx
        q0 = c - r0 * nx
        region[0] = min(region[0], max(0, r0 - ir))
        region[1] = max(region[1], min(ny - 1, r0 + ir))
        region[2] = min(region[2], max(0, q0 - ir))
        region[3] = max(region[3], min(nx - 1, q0 + ir))


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
