"""One agent's step: interact, turn, move (``agent_step``), with the random keys of a step.

Shared by the CPU pass (``passes.pass_chunk``) and the GPU one (``engine/gpu.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from seoulfall.engine import rng
from seoulfall.engine.kernels.commute import commute_goal, ride, walk, zombie_boards
from seoulfall.engine.kernels.layout import (
    _MODE_CHASE,
    _MODE_EVAC,
    _MODE_FLEE,
    _MODE_RANDOM,
    _MODE_SOUND,
    _MODE_STAY,
    ATTACK_BITS,
    C_ATT,
    C_KILLS,
    C_STR,
    CARRIER,
    CARRIER_ATTACKS,
    CAUSE_BITE_E,
    CAUSE_BITE_Y,
    CAUSE_BITE_Z,
    CAUSE_ESCAPED,
    CAUSE_EVACUATED,
    CAUSE_EVOLVED,
    CAUSE_FLED,
    CAUSE_KILLED_AFTER_BITE,
    CAUSE_KILLED_BY_H,
    CAUSE_KILLED_BY_Y,
    CAUSE_KILLED_BY_YS,
    CAUSE_LINE,
    CAUSE_TURNED,
    CAUSE_TURNED_HYBRID,
    CAUSE_WOUND,
    COIN_HI,
    COIN_LO,
    DEAD,
    DEAD_BYTE,
    ESCAPED,
    ESCAPED_LEVEL,
    EV_ABOARD,
    EV_CARRIER,
    EV_IMMUNE,
    EV_KILL,
    EVACUATED,
    EVACUATING,
    EVOLVED,
    EXIT,
    FLED,
    FLED_LEVEL,
    HUMAN,
    HYBRID,
    I_MAXHOP,
    I_NCAST,
    I_UNITS,
    INFECTED,
    LEFT_AT,
    LEVEL_SHIFT,
    MAXHOP,
    P_BITE,
    P_BITE_E,
    P_C_HOPS,
    P_CARRIER_P,
    P_COMMUTE,
    P_DT,
    P_E_CHASE,
    P_E_WANDER,
    P_EVAC_REMOVE,
    P_EVOLVE_BITE,
    P_EVOLVE_P,
    P_EVOLVE_RATE,
    P_H_DRIFT,
    P_H_FLEE,
    P_H_RETALIATE,
    P_HYBRID_P,
    P_KILL,
    P_KILL_E,
    P_MASS_ACTION,
    P_SHELTER_BREACH,
    P_SHELTER_F,
    P_SHELTER_P,
    P_SUBWAY,
    P_TURN_MEDIAN,
    P_TURN_SIGMA,
    P_W_NEIGHBOUR,
    P_W_OWN,
    P_WOUND_MEDIAN,
    P_WOUND_P,
    P_WOUND_SIGMA,
    P_Y_DRIFT,
    P_Y_HUNGER,
    P_Y_HUNT,
    P_Y_LAPSE,
    P_Y_PAIN,
    P_Y_SELF,
    P_Y_STRENGTH,
    P_Z_CHASE,
    P_Z_WANDER,
    SHELTER,
    SOLDIER_LEVEL,
    SOUND_EPS,
    STATE_MASK,
    ZOMBIE,
)
from seoulfall.engine.rng import agent_bits, step_key, to_unit


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
    if w1 > 0.0 and c < nbr.shape[0]:  # a car of the subway has no neighbours
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


@njit(inline="always", cache=True)
def _bite_cause(x, z, e, nc, dt, alert, sheltered, carriers, P):
    """Whose bite infected a human, from where ``x`` fell in the bite hazard (``agent_step``).

    The hazard adds the zombies' part, the evolved zombies' part, then the carrier
    hybrids' attacks (``carriers`` of them in the cell): ``x`` past the zombies' two parts
    is a hybrid's bite.
    """
    hz = P[P_BITE] * z / nc * dt / alert
    he = P[P_BITE_E] * e / nc * dt / alert
    if sheltered:
        hz *= P[P_SHELTER_F]
        he *= P[P_SHELTER_F]
    if carriers > 0 and x >= hz + he:
        return CAUSE_BITE_Y
    return CAUSE_BITE_Z if x < hz or e == 0 else CAUSE_BITE_E


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
    i, keys, cell, state, timer, aid, nbr, cnt, fz, fh, fe, fy, fs, fn, fv, zk, trip, nx, P, IP,
    CT, cst, ccell, cwhy, fast, general, drift_bits,
):  # fmt: skip
    """One agent's step: interact, turn, move; the agent's arrays updated in place.

    Shared by the CPU pass (:func:`pass_chunk`) and the GPU one
    (:mod:`seoulfall.engine.gpu`), which differ only in how they count. Returns ``(cell,
    state, state byte, strength units, event)``: the state is ``DEAD`` or more when the
    agent is not counted; the strength units go to ``C_STR`` of its cell; the event is
    ``cell << 2 | kind`` or -1. A named character's state, cell and the cause of its change
    of state this step (``CAUSE_*``, 0 for none) go to ``cst``, ``ccell`` and ``cwhy``.
    ``trip``: ``(home, cz, zw, clk, gcell, sroute, scar, smin)``, the daily journeys and
    the subway (:mod:`.commute`; read only when ``P[P_COMMUTE]`` is set; one tuple, as
    CPython passes a call of more than 30 arguments as ``*args``, which numba cannot
    inline), ``nx`` the raster's width. The cells from ``ngrid`` on (the count table's
    rows past the raster's) are the subway's cars.
    """
    home, cz, zw, clk, gcell, sroute, scar, smin = trip
    sub = (gcell, sroute, scar, smin)
    ngrid = cnt.shape[0] - scar.shape[0]
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
        and (P[P_COMMUTE] == 0.0 or (sb >> LEVEL_SHIFT) == SOLDIER_LEVEL or c0 < ngrid)
    ):
        # The common case, made cheap: a human with no zombie in its cell or in sight and
        # no fight around only drifts, or walks its journey (the same draws and decisions
        # as below).
        goal = -1
        if P[P_COMMUTE] != 0.0 and (sb >> LEVEL_SHIFT) != SOLDIER_LEVEL:
            goal = commute_goal(home[i], aid[i], c0, cz, zw, clk, P, nx, sub)
        if goal >= 0:
            a = aid[i]
            if goal >= ngrid:
                c = goal  # boards a train at its station
            else:
                c = walk(c0, goal, a, P[P_C_HOPS], IP[I_MAXHOP], keys, K_MOVE, K_HOP, nbr, cz,
                         zw, nx)  # fmt: skip
            cell[i] = c
            if a < IP[I_NCAST]:
                cst[a] = HUMAN
                ccell[a] = c
                cwhy[a] = 0
            return c, HUMAN, sb, IP[I_UNITS + (sb >> LEVEL_SHIFT)], evc
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
    why = 0  # the cause of a change of state (told apart only for the named characters)
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
                        if a < ncast:
                            carriers = cnt[c, C_ATT] & CARRIER_ATTACKS
                            why = _bite_cause(x, z, e, nc, dt, alert, sheltered, carriers, P)
                    elif x < hb + hk:
                        st = DEAD
                        why = CAUSE_KILLED_BY_Y
                    else:
                        st = INFECTED
                        tm = _turn_time(tb, P[P_WOUND_MEDIAN], P[P_WOUND_SIGMA])
                        why = CAUSE_WOUND
        else:
            f = s + P[P_Y_STRENGTH] * y
            if f > 0:
                kr = P[P_KILL] if st == ZOMBIE else P[P_KILL_E]
                xk = kr * f / nc * dt
                u = to_unit(agent_bits(keys[K_KILL], a))
                if _may_hit(u, xk) and u < 1.0 - math.exp(-xk):
                    st = DEAD
                    evc = (np.int64(c) << 2) | EV_KILL
                    why = CAUSE_KILLED_BY_H
                    if a < ncast and s < f and u / (1.0 - math.exp(-xk)) * f >= s:
                        why = CAUSE_KILLED_BY_YS  # in the hybrids' share of the hazard
            if st != DEAD and zk[c] > 0.0 and to_unit(agent_bits(keys[K_LINE], a)) < zk[c]:
                st = DEAD  # shot by the soldiers holding a line
                evc = (np.int64(c) << 2) | EV_KILL
                why = CAUSE_LINE
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
                        why = CAUSE_EVOLVED
                elif P[P_EVOLVE_P] > 0.0:
                    if to_unit(agent_bits(keys[K_EVOLVE], a)) < P[P_EVOLVE_P]:
                        st = EVOLVED
                        why = CAUSE_EVOLVED
        if st0 == HUMAN and st == INFECTED and c >= ngrid:
            evc = (np.int64(c) << 2) | EV_ABOARD  # infected on a train
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
                    why = CAUSE_KILLED_AFTER_BITE
    if st == INFECTED:
        tm -= dt
        if tm <= 0.0:
            tm = 0.0
            st = ZOMBIE
            if st0 == INFECTED:  # else it turns the step it was bitten: the bite says why
                why = CAUSE_TURNED
            if P[P_HYBRID_P] > 0.0 and to_unit(agent_bits(keys[K_HYBRID], a)) < P[P_HYBRID_P]:
                st = HYBRID
                if st0 == INFECTED:
                    why = CAUSE_TURNED_HYBRID
                sb = sb & ~CARRIER
                if to_unit(agent_bits(keys[K_CARRIER], a)) < P[P_CARRIER_P]:
                    sb = sb | CARRIER
    if a < ncast:
        cst[a] = st
        ccell[a] = c
        cwhy[a] = why
    if st == DEAD:
        state[i] = DEAD_BYTE
        return c, st, sb, 0, evc
    # 3. move
    mode = _MODE_STAY
    x = 0.0
    goal = -1  # a journey's goal
    field = fz
    stop = HUMAN  # a chaser stops on a cell holding this state (and the next)
    if stay:
        pass
    elif c >= ngrid:  # aboard a train: it carries the agent (``commute.ride``)
        sheltered = False
        c = ride(home[i], a, c, st, cnt, clk, P, sub, keys, K_MOVE, K_HOP, K_SHELTER)
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
            if P[P_COMMUTE] > 0.0:
                goal = commute_goal(home[i], a, c, cz, zw, clk, P, nx, sub)
            if goal >= ngrid:
                c = goal  # boards a train at its station
            elif goal >= 0:
                c = walk(c, goal, a, P[P_C_HOPS], maxhop, keys, K_MOVE, K_HOP, nbr, cz, zw, nx)
            else:
                mode, x = _MODE_RANDOM, P[P_H_DRIFT]
    elif st == ZOMBIE or st == EVOLVED:
        board = -1  # a zombie at a station may follow the crowd onto a train
        if P[P_SUBWAY] > 0.0 and cz[c, 2] >= 0:
            board = zombie_boards(a, cz[c, 2], sub, keys, K_SHELTER, K_LAPSE, P, ngrid)
        if board >= 0:
            c = board
        elif cnt[c, HUMAN] == 0:
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
    # zombies wandering at random and anyone fleeing may cross the city's open edge
    # (``EXIT`` links: ``world.edge = "open"``); an evacuee, a soldier or a hybrid never does
    wanders = mode == _MODE_RANDOM and (st == ZOMBIE or st == EVOLVED)
    left = False
    if mode == _MODE_RANDOM and COIN_LO < x < COIN_HI:  # at most one hop, a coin toss
        b = agent_bits(keys[K_MOVE], a)
        nb = nbr[c, int(b & np.uint64(3))]
        go = (to_unit(b) < x) & (maxhop > 0)
        c = nb if go & (nb >= 0) else c
        left = go & (nb == EXIT) & wanders
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
                elif nb == EXIT and wanders:
                    left = True
                    break
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
                    elif nb == EXIT and mode == _MODE_FLEE:  # out of the city, away from all
                        best = EXIT
                        break
                if best == EXIT:
                    left = True
                    break
                if best < 0:
                    break
                c = best
    if left:  # over the edge: off the map, its cell kept as where it left
        out, lvl, why = (
            (FLED, FLED_LEVEL, CAUSE_FLED)
            if st == HUMAN
            else (ESCAPED, ESCAPED_LEVEL, CAUSE_ESCAPED)
        )
        if a < ncast:
            cst[a] = out
            ccell[a] = -1
            cwhy[a] = why
        nsb = EVACUATED | (lvl << LEVEL_SHIFT)
        state[i] = nsb
        cell[i] = LEFT_AT - c
        return c, EVACUATED, nsb, 0, evc
    if mode == _MODE_EVAC and fv[c] == 0 and P[P_EVAC_REMOVE] > 0.0:
        st = EVACUATED  # reached the target: leaves the map
        if a < ncast:
            cst[a] = st
            ccell[a] = -1
            cwhy[a] = CAUSE_EVACUATED
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
