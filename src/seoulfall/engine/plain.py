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


def sensed(grid: np.ndarray, r: int, graded: bool) -> np.ndarray:
    """A sensing field: the box sum, or graded, the sum of nested boxes.

    Their radii are ``r (B - k) // B`` for k < B = ``GRADED_BOXES``, each radius once.
    """
    if not graded:
        return box_sum(grid, r)
    radii = sorted({K.graded_radius(r, k) for k in range(K.GRADED_BOXES)})
    return sum(box_sum(grid, ri) for ri in radii)


def turn_time(b: int, median: float, sigma: float) -> float:
    """Log-normal turn time from 64 bits (Box-Muller), as the kernel draws it."""
    if median <= 0.0:
        return 0.0
    u1 = ((b >> 32) + 0.5) * (1.0 / 4294967296.0)
    u2 = ((b & 0xFFFFFFFF) + 0.5) * (1.0 / 4294967296.0)
    z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
    return median * math.exp(sigma * z)


def commute_target(a, trip, P):
    """Where agent ``a``'s schedule puts it now (as ``kernels.commute_target``)."""
    home, clk = trip[0], trip[3]
    h, d, leave, away = (int(v) for v in home[a][:4])
    t = h
    if h >= 0 and P[K.P_ALERT] == 0 and d != h:
        since = int(clk[0]) - leave  # minutes since Monday's leaving time
        day = since // 1440  # the day it left on last, 0 = Monday
        if since - day * 1440 < away and (day % 7 < 5 or P[K.P_C_WEEKEND] > 0):
            t = d
    return t


def stations(a, t, trip):
    """The groups rider ``a`` boards at and gets off at towards ``t``, or None: it walks."""
    home = trip[0]
    if len(trip) < 8 or home.shape[1] < 5 or home[a, 4] < 0:
        return None
    hg, dg = int(home[a, 4]) >> 16, int(home[a, 4]) & 0xFFFF
    return (hg, dg) if t == int(home[a, 1]) else (dg, hg)


def commute_goal(a, c, trip, P, nx):
    """The cell agent ``a`` in ``c`` heads for, or -1 (as ``kernels.commute_goal``).

    A rider bound for a station heads there; at it, the goal is the car it boards (a cell
    past the raster's).
    """
    cz, zw, clk = trip[1], trip[2], trip[3]
    t = commute_target(a, trip, P)
    if t < 0:
        return -1
    dist = abs(t // nx - c // nx) + abs(t % nx - c % nx)
    if dist == 0:
        return -1
    via = stations(a, t, trip) if P[K.P_SUBWAY] > 0 else None
    if via is not None:
        gcell, sroute, scar = trip[4], trip[5], trip[6]
        cf, ct = int(gcell[via[0]]), int(gcell[via[1]])
        k = int(sroute[via[1], scar.shape[0] + via[0]])
        w = P[K.P_S_WALK]
        near = abs(cf // nx - c // nx) + abs(cf % nx - c % nx) <= w
        if near and dist > abs(t // nx - ct // nx) + abs(t % nx - ct % nx) + w and k >= 0:
            if c == cf:
                return cz.shape[0] + k  # aboard
            z = int(cz[cf, 0])
            if not (z >= 0 and zw[z, cz[c, 1]] == K.NO_WAY):
                return cf
    loiter = P[K.P_C_LOITER]
    if dist < loiter and dist <= loiter * unit(bits(int(clk[1]), a)):
        return -1
    z = int(cz[t, 0])
    if z >= 0 and zw[z, cz[c, 1]] == K.NO_WAY:  # cut off from it
        return -1
    return t


def ride(a, c, st, cnt, trip, P, key, hop_keys):
    """Where a rider in car cell ``c`` is after the step (as ``kernels.ride``)."""
    sroute, scar, smin = trip[5], trip[6], trip[7]
    ngrid = cnt.shape[0] - scar.shape[0]
    k, left = c - ngrid, P[K.P_DT]
    for hop in range(K.MAXHOP):
        b = bits(key[rng.MOVE] if hop == 0 else hop_keys[hop], a)
        m = smin[k]
        if left < m and unit(b) * m >= left:
            break  # still between two stations
        left -= m
        stops = sroute[scar[k, 3], k] == K.ALIGHT  # the station ahead is open
        nxt = K.NO_ROUTE
        if st in (K.HUMAN, K.INFECTED):
            t = commute_target(a, trip, P)
            via = stations(a, t, trip) if t >= 0 else None
            nxt = int(sroute[via[1], k]) if via is not None else K.NO_ROUTE
            if nxt == K.NO_ROUTE and stops:
                nxt = K.ALIGHT  # no way to its goal: off at the next open station
        elif stops and cnt[c, K.HUMAN] == 0:
            if unit(bits(key[rng.SHELTER], a)) < P[K.P_Z_ALIGHT]:
                nxt = K.ALIGHT  # a zombie with nobody left to bite gets off
        if nxt == K.NO_ROUTE:  # rides on: at a branch either way, at a terminus back
            nxt = int(scar[k, 2]) if scar[k, 2] >= 0 and b & 1 else int(scar[k, 1])
        if nxt < 0:
            return int(scar[k, 0])
        k, c = nxt, ngrid + nxt
        if left <= 0:
            break
    return c


def zombie_boards(a, c, trip, P, key, ngrid):
    """The car a zombie at cell ``c`` boards, or -1 (as ``kernels.zombie_boards``)."""
    g = int(trip[1][c, 2])
    if g < 0 or unit(bits(key[rng.SHELTER], a)) >= P[K.P_Z_BOARD]:
        return -1
    gcell, sroute, scar = trip[4], trip[5], trip[6]
    to = bits(key[rng.LAPSE], a) % gcell.size
    k = int(sroute[to, scar.shape[0] + g])
    return ngrid + k if k >= 0 else -1


def commute_hop(c, t, k0, nbr, trip, nx):
    """One hop towards ``t`` (as ``kernels.commute_hop``): the next cell, or -1."""
    cz, zw = trip[1], trip[2]
    order = [int(nbr[c, (k0 + j) & 3]) for j in range(4)]
    z = int(cz[t, 0])
    way = int(zw[z, cz[c, 1]]) if z >= 0 else K.IN_ZONE
    if way == K.NO_WAY:
        return -1
    if way != K.IN_ZONE:  # the first neighbour on a shortest way to the goal's zone
        return int(nbr[c, way])
    dr, dq = t // nx - c // nx, t % nx - c % nx
    nearer = {0: dr < 0, 1: dr > 0, 2: dq < 0, 3: dq > 0}  # up, down, left, right
    inside = [nb >= 0 and cz[nb, 0] == z for nb in order]  # no greedy step leaves the zone
    for j, nb in enumerate(order):
        if inside[j] and nearer[(k0 + j) & 3]:
            return nb
    return order[0] if inside[0] else c


def contacts(cnt, nbr, c, P):
    """Weighted (humans, zombies, evolved, hybrids, strength, population) met from cell c."""
    w0, w1 = P[K.P_W_OWN], P[K.P_W_NEIGHBOUR]
    near = nbr[c] if c < len(nbr) else []  # a car of the subway has no neighbours
    cells = [(c, w0)] + [(int(nb), w1) for nb in near if nb >= 0 and w1 > 0]
    h = sum(w * int(cnt[x, K.HUMAN]) for x, w in cells)
    z = sum(w * int(cnt[x, K.ZOMBIE]) for x, w in cells)
    e = sum(w * int(cnt[x, K.EVOLVED]) for x, w in cells)
    y = sum(w * int(cnt[x, K.HYBRID]) for x, w in cells)
    s = sum(w * int(cnt[x, K.C_STR]) for x, w in cells) * 0.25
    n = sum(w * int(cnt[x, : K.NLIVING].sum()) for x, w in cells)
    return h, z, e, y, s, (1.0 if P[K.P_MASS_ACTION] > 0 else n)


def step(
    step_no,
    seed,
    cell,
    state,
    timer,
    aid,
    nbr,
    cnt,
    P,
    IP,
    ny,
    nx,
    fs=None,
    fn=None,
    CT=None,
    fv=None,
    zk=None,
    why=None,
    trip=None,
    aboard=None,
):
    """One step; returns new (cell, state, timer, cnt) and leaves the inputs alone.

    ``why``, a dict, receives the cause of every change of state (agent id -> a name of
    ``states.CAUSES``), as the kernel writes it for the named characters; ``aboard``, an
    array a car, the humans infected aboard each.

    ``fs`` and ``fn`` are the scheduled sound and fight-noise fields (default silence);
    ``CT`` the named characters' traits (speed, alertness, self-control) by id; ``fv`` the
    steps to the evacuation target and ``zk`` the guarded lines (default: none); ``trip``
    the daily journeys' ``(home, cz, zw, clk)``, ``home`` by agent id (``kernels/commute.py``;
    default: none), and with the subway its ``(gcell, sroute, scar, smin)`` after them: then
    ``cnt`` has a row for each car after the raster's cells.
    """
    cell, state, timer = cell.copy(), state.copy(), timer.copy()
    ncells = ny * nx
    ncars = cnt.shape[0] - ncells  # the subway's cars: no fields, no sound, no lines there

    def pad(x, fill):
        return np.r_[np.asarray(x), np.full(ncars, fill, np.asarray(x).dtype)]

    fs = np.zeros(ncells) if fs is None else np.asarray(fs, float)
    fn = np.zeros(ncells) if fn is None else np.asarray(fn, float)
    snd = (
        pad(fs.astype(np.float32).astype(float), 0.0),
        pad(fn.astype(np.float32).astype(float), 0.0),
    )
    fv = pad(np.full(ncells, K.FAR) if fv is None else np.asarray(fv)[:ncells], K.FAR)
    zk = pad(np.zeros(ncells, np.float32) if zk is None else np.asarray(zk, np.float32)[:ncells], 0)
    grid = lambda k: cnt[:ncells, k].reshape(ny, nx)  # noqa: E731
    graded = int(IP[K.I_GRADED]) > 0
    fz = pad(sensed(grid(K.ZOMBIE) + grid(K.EVOLVED), int(IP[K.I_R_H]), graded).ravel(), 0)
    fh = pad(sensed(grid(K.HUMAN), int(IP[K.I_R_Z]), graded).ravel(), 0)
    fe = pad(sensed(grid(K.HUMAN), int(IP[K.I_R_E]), graded).ravel(), 0)
    fy = pad(sensed(grid(K.ZOMBIE) + grid(K.EVOLVED), int(IP[K.I_R_Y]), graded).ravel(), 0)
    streams = (rng.BITE, rng.KILL, rng.TURN, rng.HYBRID, rng.EVOLVE, rng.MOVE)
    extra = (rng.SHELTER, rng.LAPSE, rng.CARRIER, rng.LINE)
    key = {s: step_key(seed, s, step_no) for s in streams + extra}
    hop_keys = [step_key(seed, rng.HOP + h, step_no) for h in range(K.MAXHOP)]
    dt = P[K.P_DT]
    ncast = int(IP[K.I_NCAST])
    events = []  # (cell, column, amount) for the next step's counts

    def sound(c):
        return np.float32(snd[0][c]) + np.float32(snd[1][c])

    for i in range(cell.size):
        sb, c, a = int(state[i]), int(cell[i]), int(aid[i])
        st = sb & K.STATE_MASK
        if st >= K.DEAD:
            continue
        spd, alert, selfc = 1.0, 1.0, P[K.P_Y_SELF]
        if a < ncast:
            spd, alert, selfc = (float(v) for v in CT[a])
        tm = float(timer[i]) if st in (K.INFECTED, K.ZOMBIE, K.HYBRID) else 0.0
        tm0 = tm
        sheltered = bool(sb & K.SHELTER)
        stay = False
        st0, cause = st, ""
        zc = int(cnt[c, K.ZOMBIE] + cnt[c, K.EVOLVED])
        if st in (K.HUMAN, K.ZOMBIE, K.EVOLVED):
            h, z, e, y, s, n_c = contacts(cnt, nbr, c, P)
        if st == K.HUMAN:
            if sheltered and zc >= P[K.P_SHELTER_BREACH]:
                sheltered = False
            hb = hk = hw = 0.0
            if z + e > 0:
                hb = (P[K.P_BITE] * z + P[K.P_BITE_E] * e) / n_c * dt / alert
                if sheltered:
                    hb *= P[K.P_SHELTER_F]
            att, kills = int(cnt[c, K.C_ATT]), int(cnt[c, K.C_KILLS])
            if att + kills > 0:
                hc = max(1, int(cnt[c, K.HUMAN]))
                hb += (att & K.CARRIER_ATTACKS) / hc
                hk = (att >> K.ATTACK_BITS) / hc
                hw = P[K.P_WOUND_P] * kills / hc
            tot = hb + hk + hw
            if tot > 0:
                u = unit(bits(key[rng.BITE], a))
                p = 1.0 - math.exp(-tot)
                if u < p:
                    x = u / p * tot
                    tb = bits(key[rng.TURN], a)
                    if x < hb:
                        st, tm = K.INFECTED, turn_time(tb, P[K.P_TURN_MEDIAN], P[K.P_TURN_SIGMA])
                        # whose bite: where x fell among the zombies', the evolved's, the
                        # carrier hybrids' parts of the hazard
                        f = P[K.P_SHELTER_F] if sheltered else 1.0
                        hz = P[K.P_BITE] * z / n_c * dt / alert * f
                        he = P[K.P_BITE_E] * e / n_c * dt / alert * f
                        if att & K.CARRIER_ATTACKS and x >= hz + he:
                            cause = "bitten_by_hybrid"
                        elif x < hz or e == 0:
                            cause = "bitten_by_zombie"
                        else:
                            cause = "bitten_by_evolved"
                    elif x < hb + hk:
                        st, cause = K.DEAD, "killed_by_hybrid"
                    else:
                        st, tm = K.INFECTED, turn_time(tb, P[K.P_WOUND_MEDIAN], P[K.P_WOUND_SIGMA])
                        cause = "wounded"
        elif st in (K.ZOMBIE, K.EVOLVED):
            f = s + P[K.P_Y_STRENGTH] * y
            if f > 0:
                kr = P[K.P_KILL] if st == K.ZOMBIE else P[K.P_KILL_E]
                u, p = unit(bits(key[rng.KILL], a)), 1.0 - math.exp(-kr * f / n_c * dt)
                if u < p:
                    st = K.DEAD
                    events.append((c, K.C_KILLS, 1))
                    # by whom: where u fell among the humans' and the hybrids' parts
                    hybrids = s < f and u / p * f >= s
                    cause = "killed_by_hybrids" if hybrids else "killed_by_humans"
            if st != K.DEAD and zk[c] > 0 and unit(bits(key[rng.LINE], a)) < zk[c]:
                st, cause = K.DEAD, "shot_at_line"
                events.append((c, K.C_KILLS, 1))
            if st == K.ZOMBIE:
                if h > 0 and P[K.P_EVOLVE_BITE] > 0:
                    bz = P[K.P_BITE] * z + P[K.P_BITE_E] * e
                    if bz > 0:
                        tm += h * -math.expm1(-bz / n_c * dt) * P[K.P_BITE] / bz
                pe = P[K.P_EVOLVE_P]
                if tm > 0:
                    pe = -math.expm1(-(P[K.P_EVOLVE_RATE] + P[K.P_EVOLVE_BITE] * tm) * dt)
                if pe > 0 and unit(bits(key[rng.EVOLVE], a)) < pe:
                    st, cause = K.EVOLVED, "evolved"
        elif st == K.HYBRID:
            tm += dt
            hc = int(cnt[c, K.HUMAN])
            lapse = P[K.P_Y_LAPSE] * (1.0 - selfc)
            if tm >= P[K.P_Y_HUNGER] and hc > 0 and lapse > 0:
                if unit(bits(key[rng.LAPSE], a)) < -math.expm1(-lapse * dt):
                    tm, stay = 0.0, True
                    events.append((c, K.C_ATT, 1 if sb & K.CARRIER else K.IMMUNE_ATTACK))
                    pk = -math.expm1(-P[K.P_H_RETALIATE] / P[K.P_Y_PAIN])
                    if unit(bits(key[rng.KILL], a)) < pk:
                        st, cause = K.DEAD, "killed_after_bite"
        if st0 == K.HUMAN and st == K.INFECTED and c >= ncells and aboard is not None:
            aboard[c - ncells] += 1  # infected on a train (before it may turn this step)
        if st == K.INFECTED:
            tm -= dt
            if tm <= 0.0:
                tm, st = 0.0, K.ZOMBIE
                if st0 == K.INFECTED:  # bitten this step: the bite is the cause
                    cause = "turned"
                if P[K.P_HYBRID_P] > 0 and unit(bits(key[rng.HYBRID], a)) < P[K.P_HYBRID_P]:
                    st = K.HYBRID
                    if st0 == K.INFECTED:
                        cause = "turned_hybrid"
                    sb &= ~K.CARRIER
                    if unit(bits(key[rng.CARRIER], a)) < P[K.P_CARRIER_P]:
                        sb |= K.CARRIER
        if why is not None and cause:
            why[a] = cause
        if st == K.DEAD:
            state[i] = K.DEAD
            continue
        mode, x, field, stop = "stay", 0.0, fz, (K.HUMAN,)
        if stay:
            pass
        elif c >= ncells:  # aboard a train
            sheltered = False
            c = ride(a, c, st, cnt, trip, P, key, hop_keys)
        elif st == K.HUMAN and sb >> K.LEVEL_SHIFT == K.SOLDIER_LEVEL:
            if fz[c] > 0 and zc == 0:
                mode, x, field, stop = "chase", P[K.P_H_FLEE] * spd, fz, (K.ZOMBIE, K.EVOLVED)
            else:
                mode, x = "random", P[K.P_H_DRIFT]
        elif st == K.HUMAN and sb & K.EVACUATING and fz[c] == 0:
            sheltered = False
            mode, x, field = "evac", P[K.P_H_FLEE] * spd, fv
        elif st in (K.HUMAN, K.INFECTED):
            if fz[c] > 0:
                if st == K.HUMAN and not sheltered and P[K.P_SHELTER_P] > 0 and zc == 0:
                    sheltered = unit(bits(key[rng.SHELTER], a)) < P[K.P_SHELTER_P]
                if not (st == K.HUMAN and sheltered):
                    mode, x = "flee", P[K.P_H_FLEE] * spd
            else:
                sheltered = False
                goal = commute_goal(a, c, trip, P, nx) if P[K.P_COMMUTE] > 0 else -1
                if goal >= ncells:
                    c = goal  # boards a train
                else:
                    mode, x = (
                        ("commute", P[K.P_C_HOPS]) if goal >= 0 else ("random", P[K.P_H_DRIFT])
                    )
        elif st in (K.ZOMBIE, K.EVOLVED):
            field = fh if st == K.ZOMBIE else fe
            chase = P[K.P_Z_CHASE] if st == K.ZOMBIE else P[K.P_E_CHASE]
            wander = P[K.P_Z_WANDER] if st == K.ZOMBIE else P[K.P_E_WANDER]
            board = zombie_boards(a, c, trip, P, key, ncells) if P[K.P_SUBWAY] > 0 else -1
            if board >= 0:
                c = board  # follows the crowd onto a train
            elif cnt[c, K.HUMAN] > 0:
                mode, x = "stay", 0.0
            elif field[c] > 0:
                mode, x = "chase", chase
            elif sound(c) > K.SOUND_EPS:
                mode, x = "sound", chase
            else:
                mode, x = "random", wander
        elif fy[c] > 0 and zc == 0:
            mode, x, field, stop = "chase", P[K.P_Y_HUNT] * spd, fy, (K.ZOMBIE, K.EVOLVED)
        else:
            mode, x = "random", P[K.P_Y_DRIFT]
        wanders = mode == "random" and st in (K.ZOMBIE, K.EVOLVED)  # may cross an open edge
        left = False
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
                    elif order[0] == K.EXIT and wanders:
                        left = True
                        break
                elif mode == "chase":
                    best, bv = -1, 0
                    for nb in order:
                        if nb >= 0 and field[nb] > bv:
                            best, bv = int(nb), field[nb]
                    if best < 0:
                        best = int(order[0])
                    if best >= 0:
                        c = best
                    if any(cnt[c, k] > 0 for k in stop):
                        break
                elif mode == "commute":
                    nb = commute_hop(c, goal, b & 3, nbr, trip, nx)
                    if nb < 0:
                        break
                    c = nb
                    if c == goal:
                        break
                elif mode == "sound":
                    best, sv = -1, sound(c)
                    for nb in order:
                        if nb >= 0 and sound(nb) > sv:
                            best, sv = int(nb), sound(nb)
                    if best < 0:
                        best = int(order[0])
                    if best >= 0:
                        c = best
                else:  # flee or evacuate: down the field
                    best, bv = -1, field[c]
                    for nb in order:
                        if nb >= 0 and field[nb] < bv:
                            best, bv = int(nb), field[nb]
                        elif nb == K.EXIT and mode == "flee":  # out of the city
                            best = K.EXIT
                            break
                    if best == K.EXIT:
                        left = True
                        break
                    if best < 0:
                        break
                    c = best
        if left:  # over the open edge: off the map, where it left kept in its cell
            fled = st == K.HUMAN
            cell[i] = K.LEFT_AT - c
            state[i] = K.EVACUATED | ((K.FLED_LEVEL if fled else K.ESCAPED_LEVEL) << K.LEVEL_SHIFT)
            if why is not None:
                why[a] = "fled_the_city" if fled else "escaped_the_city"
            continue
        if mode == "evac" and fv[c] == 0 and P[K.P_EVAC_REMOVE] > 0:
            cell[i], state[i] = -1, K.EVACUATED
            if why is not None:
                why[a] = "evacuated"
            continue
        keep = sb & ~(K.STATE_MASK | K.CARRIER | K.SHELTER)
        if st == K.HUMAN:
            evac = sb & K.EVACUATING
            sb = keep | K.HUMAN | evac | (K.SHELTER if sheltered else 0)
        elif st == K.INFECTED:
            sb = keep | K.INFECTED
        elif st == K.HYBRID:
            sb = (sb & ~(K.STATE_MASK | K.SHELTER)) | K.HYBRID
        else:
            sb = st
        cell[i], state[i] = c, sb
        if tm != tm0:  # the timer of an agent whose state does not read it is left alone
            timer[i] = tm
    new = np.zeros_like(cnt)
    st_all = state & K.STATE_MASK
    alive = (st_all < K.NLIVING) & (cell >= 0)
    np.add.at(new, (cell[alive], st_all[alive].astype(np.int64)), 1)
    human = (st_all == K.HUMAN) & (state & K.SHELTER == 0)  # the sheltered cannot fight
    units = np.asarray(IP[K.I_UNITS : K.I_UNITS + 8])[state[human] >> K.LEVEL_SHIFT]
    np.add.at(new, (cell[human], np.full(human.sum(), K.C_STR)), units)
    for c, col, amount in events:
        new[c, col] += amount
    return cell, state, timer, new
