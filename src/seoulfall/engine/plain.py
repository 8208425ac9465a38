"""The same step as :mod:`seoulfall.engine.kernels`, written as a plain per-agent Python loop.

It is the readable statement of the rules, the reference the compiled kernel is tested
against (exactly: same random numbers, same decisions), and the per-agent baseline of
``benchmarks/bench_engine.py``. It is about a thousand times slower; never use it for runs.
"""

from __future__ import annotations

import math

import numpy as np

from seoulfall.engine import kernels as K
from seoulfall.engine import rng

MASK = (1 << 64) - 1
_M1, _M2, _G = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0x9E3779B97F4A7C15


def mix64(z: int) -> int:
    """SplitMix64 finaliser on Python ints."""
    z = ((z ^ (z >> 30)) * _M1) & MASK
    z = ((z ^ (z >> 27)) * _M2) & MASK
    return z ^ (z >> 31)


def step_key(seed: int, stream: int, step: int) -> int:
    """Key of a stream at a step (as ``rng.step_key``)."""
    k = mix64((seed + _G) & MASK)
    k = mix64(k ^ stream)
    return mix64((k + step * _G) & MASK)


def bits(key: int, agent: int) -> int:
    """64 random bits for an agent (as ``rng.agent_bits``)."""
    return mix64((key + agent * _G) & MASK)


def unit(b: int) -> float:
    """Uniform in [0, 1) from 64 bits (as ``rng.to_unit``)."""
    return (b >> 11) * (1.0 / 9007199254740992.0)


def box_sum(grid: np.ndarray, r: int) -> np.ndarray:
    """Sum over the (2r+1) x (2r+1) window around each cell, zero outside the grid."""
    ny, nx = grid.shape
    pad = np.pad(grid.astype(np.int64), r)
    out = np.zeros((ny, nx), np.int64)
    for dr in range(2 * r + 1):
        for dc in range(2 * r + 1):
            out += pad[dr : dr + ny, dc : dc + nx]
    return out.ravel()


def turn_time(b: int, median: float, sigma: float) -> float:
    """Log-normal turn time from 64 bits (Box-Muller), as the kernel draws it."""
    if median <= 0.0:
        return 0.0
    u1 = ((b >> 32) + 0.5) * (1.0 / 4294967296.0)
    u2 = ((b & 0xFFFFFFFF) + 0.5) * (1.0 / 4294967296.0)
    z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
    return median * math.exp(sigma * z)


def contacts(cnt, nbr, c, P):
    """Weighted (humans, zombies, evolved, hybrids, population) that an agent in c meets."""
    w0, w1 = P[K.P_W_OWN], P[K.P_W_NEIGHBOUR]
    cells = [(c, w0)] + [(int(nb), w1) for nb in nbr[c] if nb >= 0 and w1 > 0]
    h = sum(w * int(cnt[x, K.HUMAN]) for x, w in cells)
    z = sum(w * int(cnt[x, K.ZOMBIE]) for x, w in cells)
    e = sum(w * int(cnt[x, K.EVOLVED]) for x, w in cells)
    y = sum(w * int(cnt[x, K.HYBRID]) for x, w in cells)
    n = sum(w * int(cnt[x, : K.NLIVING].sum()) for x, w in cells)
    return h, z, e, y, (1.0 if P[K.P_MASS_ACTION] > 0 else n)


def step(step_no, seed, cell, state, timer, aid, nbr, cnt, P, IP, ny, nx):
    """One step; returns new (cell, state, timer, cnt) and leaves the inputs alone."""
    cell, state, timer = cell.copy(), state.copy(), timer.copy()
    grid = lambda k: cnt[:, k].reshape(ny, nx)  # noqa: E731
    fz = box_sum(grid(K.ZOMBIE) + grid(K.EVOLVED), int(IP[K.I_R_H]))
    fh = box_sum(grid(K.HUMAN), int(IP[K.I_R_Z]))
    fe = box_sum(grid(K.HUMAN), int(IP[K.I_R_E]))
    key = {
        s: step_key(seed, s, step_no)
        for s in (rng.BITE, rng.KILL, rng.TURN, rng.HYBRID, rng.EVOLVE, rng.MOVE)
    }
    hop_keys = [step_key(seed, rng.HOP + h, step_no) for h in range(K.MAXHOP)]
    dt = P[K.P_DT]
    for i in range(cell.size):
        st, c, a, tm = int(state[i]), int(cell[i]), int(aid[i]), float(timer[i])
        if st >= K.DEAD:
            continue
        h, z, e, y, n_c = contacts(cnt, nbr, c, P)
        if st == K.HUMAN and z + e > 0:
            haz = (P[K.P_BITE] * z + P[K.P_BITE_E] * e) / n_c
            if unit(bits(key[rng.BITE], a)) < 1.0 - math.exp(-haz * dt):
                st = K.INFECTED
                tm = turn_time(bits(key[rng.TURN], a), P[K.P_TURN_MEDIAN], P[K.P_TURN_SIGMA])
        elif st in (K.ZOMBIE, K.EVOLVED):
            f = h + P[K.P_Y_STRENGTH] * y
            if f > 0:
                kr = P[K.P_KILL] if st == K.ZOMBIE else P[K.P_KILL_E]
                if unit(bits(key[rng.KILL], a)) < 1.0 - math.exp(-kr * f / n_c * dt):
                    st = K.DEAD
            if (
                st == K.ZOMBIE
                and P[K.P_EVOLVE_P] > 0
                and unit(bits(key[rng.EVOLVE], a)) < P[K.P_EVOLVE_P]
            ):
                st = K.EVOLVED
        if st == K.INFECTED:
            tm -= dt
            if tm <= 0.0:
                tm, st = 0.0, K.ZOMBIE
                if P[K.P_HYBRID_P] > 0 and unit(bits(key[rng.HYBRID], a)) < P[K.P_HYBRID_P]:
                    st = K.HYBRID
        if st == K.DEAD:
            state[i] = st
            continue
        if st in (K.HUMAN, K.INFECTED):
            mode, x, field = (
                ("flee", P[K.P_H_FLEE], fz) if fz[c] > 0 else ("random", P[K.P_H_DRIFT], fz)
            )
        elif st in (K.ZOMBIE, K.EVOLVED):
            field = fh if st == K.ZOMBIE else fe
            chase = P[K.P_Z_CHASE] if st == K.ZOMBIE else P[K.P_E_CHASE]
            wander = P[K.P_Z_WANDER] if st == K.ZOMBIE else P[K.P_E_WANDER]
            if cnt[c, K.HUMAN] > 0:
                mode, x = "stay", 0.0
            elif field[c] > 0:
                mode, x = "chase", chase
            else:
                mode, x = "random", wander
        else:
            mode, x, field = "random", P[K.P_Y_DRIFT], fz
        if x > 0:
            b = bits(key[rng.MOVE], a)
            nh = int(x) + (1 if unit(b) < x - int(x) else 0)
            for hop in range(min(nh, int(IP[K.I_MAXHOP]))):
                if hop > 0:
                    b = bits(hop_keys[hop], a)
                k0 = b & 3
                order = [nbr[c, (k0 + j) & 3] for j in range(4)]
                if mode == "random":
                    if order[0] >= 0:
                        c = int(order[0])
                elif mode == "chase":
                    best, bv = -1, 0
                    for nb in order:
                        if nb >= 0 and field[nb] > bv:
                            best, bv = int(nb), field[nb]
                    if best < 0:
                        best = int(order[0])
                    if best >= 0:
                        c = best
                    if cnt[c, K.HUMAN] > 0:
                        break
                else:
                    best, bv = -1, fz[c]
                    for nb in order:
                        if nb >= 0 and fz[nb] < bv:
                            best, bv = int(nb), fz[nb]
                    if best < 0:
                        break
                    c = best
        cell[i], state[i], timer[i] = c, st, tm
    new = np.zeros_like(cnt)
    alive = state < K.NLIVING
    np.add.at(new, (cell[alive], state[alive].astype(np.int64)), 1)
    return cell, state, timer, new
