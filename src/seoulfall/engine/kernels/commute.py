"""The daily journeys: where a commuter's schedule puts it now, and its way there.

Every agent has a home cell, a day cell and its hours (``home[i] = (home, day, leave,
away)`` for the agent in slot ``i``, built at set-up by :mod:`seoulfall.world.commute` by
id and kept in the agents' order by the sort; -1: none): on a working day an agent whose
day cell is not its home leaves at minute ``leave`` of the day and stays away ``away``
minutes, the same hours every day. After an alert its goal is home. Nearer its goal than
``c_loiter`` cells (along the grid), at ``d`` cells, it heads there with probability
``d / c_loiter`` in a step (the ``commute`` stream at the step), else it drifts as before:
people stay near home and work, not on them, and come back to them.

The way: ``zw[zone]`` gives every passable cell the neighbour that starts a shortest way
to the goal's zone (its dong; on maps without dongs, its district) over the links open
now (``cz[c] = (zone, index among the passable cells)``); inside the zone one hop at a
time towards the goal's row and column without leaving it, a random hop inside it where
none gets closer (around a stream or a bend of its border).

The subway (``world/subway.py``): a rider's row holds its stations (``home[i, 4] = home
group << 16 | day group``, -1: it walks). While it is farther from its goal than the
station it would get off at, by more than ``walk_m``, and within ``walk_m`` of the other
one, it walks to that one and boards: its cell becomes the
car's, ``ngrid + k`` (``ngrid``: the raster's cells; the count table has a row for each
car after them). ``sub = (gcell, sroute, scar, smin)``: each group's street cell, the next
car towards each group (``world.subway.routes``), each car's (street cell at its end,
onward cars, group at its end) and its minutes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from seoulfall.engine.kernels.layout import (
    HUMAN,
    INFECTED,
    MAXHOP,
    P_ALERT,
    P_C_LOITER,
    P_C_WEEKEND,
    P_DT,
    P_S_WALK,
    P_SUBWAY,
    P_Z_ALIGHT,
    P_Z_BOARD,
)
from seoulfall.engine.rng import agent_bits, to_unit
from seoulfall.world.subway import ALIGHT, NO_ROUTE  # the codes of the table it writes

#: A zone's way (``zw``) from a cell inside the zone, and from one it cannot be reached from.
IN_ZONE, NO_WAY = 4, 255


@njit(inline="always", cache=True)
def _offset(c, t, nx):
    """Rows and columns from cell ``c`` to cell ``t``.

    Without integer divisions (exact: see ``passes.pass_chunk``).
    """
    inv = 1.0 / nx
    r = int((c + 0.5) * inv)
    rt = int((t + 0.5) * inv)
    return rt - r, (t - rt * nx) - (c - r * nx)


@njit(inline="always", cache=True)
def commute_target(hr, clk, P):
    """Where an agent's schedule puts it now: its home or its day cell (-1: it has none)."""
    h = hr[0]
    # minutes since it left last, and the day it left on (0: Monday ... 4: Friday; -1, -2:
    # the week before; a leaving minute may pass midnight), without a division or a branch
    # (which way they go differs from agent to agent: a mispredicted branch costs more)
    since = np.int64(clk[2]) - hr[2]
    day = np.int64(clk[3])
    for _ in range(2):  # a leaving minute lies below 36 h: two days back at most
        back = np.int64(since < 0)
        since += 1440 * back
        day -= back
    away = (
        (since < hr[3])
        & (((day >= 0) & (day < 5)) | (P[P_C_WEEKEND] > 0.0))
        & (h >= 0)
        & (hr[1] != h)
        & (P[P_ALERT] == 0.0)
    )
    return hr[1] if away else h


@njit(inline="always", cache=True)
def _stations(hr, t):
    """The groups a rider boards at and gets off at towards ``t`` (``hr[4]`` >= 0)."""
    if t == hr[1]:
        return hr[4] >> 16, hr[4] & 65535
    return hr[4] & 65535, hr[4] >> 16


@njit(inline="always", cache=True)
def commute_goal(hr, a, c, cz, zw, clk, P, nx, sub):
    """The cell agent ``a`` in cell ``c`` heads for now, or -1 (none: it drifts).

    ``hr``: its row of ``home``, (home, day cell, minute of the day it leaves, minutes it
    stays away, its stations);
    ``clk``: (minute of the week now, 0 at Monday 00:00 KST; the step's key of the
    ``commute`` stream; the minute of the day; the day of the week, 0: Monday). A rider
    bound for a station heads there (at it: the car it boards, a cell past the raster's).
    """
    t = commute_target(hr, clk, P)
    if t < 0 or c == t:
        return -1  # the common case (at home at night): no arithmetic on rows
    dr, dq = _offset(c, t, nx)
    dist = abs(dr) + abs(dq)
    w = P[P_S_WALK]
    # (a rider nearer its goal than a walk never boards: the test below needs dist > w)
    if P[P_SUBWAY] > 0.0 and hr[4] >= 0 and dist > w:
        gcell, sroute, scar, _ = sub
        f, g = _stations(hr, t)
        cf = gcell[f]
        er, eq = _offset(gcell[g], t, nx)
        fr, fq = _offset(c, cf, nx)
        k = sroute[g, scar.shape[0] + f]
        # within a walk of the station it boards at, and farther from the goal than the
        # station it would get off at by more than a walk
        if abs(fr) + abs(fq) <= w and dist > abs(er) + abs(eq) + w and k >= 0:
            if c == cf:
                return cz.shape[0] + k  # aboard
            if not _cut_off(c, cf, cz, zw):
                return cf
    if dist < P[P_C_LOITER] and dist <= P[P_C_LOITER] * to_unit(agent_bits(clk[1], a)):
        return -1  # near: it heads there this step with probability dist / loiter
    if _cut_off(c, t, cz, zw):
        return -1  # cut off (a closed bridge): it stays where it is
    return t


@njit(inline="always", cache=True)
def _cut_off(c, t, cz, zw):
    """Whether no way over the links open now leads from cell ``c`` to ``t``'s zone."""
    z = cz[t, 0]
    return z >= 0 and zw[z, cz[c, 1]] == NO_WAY


@njit(inline="always", cache=True)
def commute_hop(c, t, k0, nbr, cz, zw, nx):
    """One hop of the way from ``c`` to ``t`` (``k0``: where a random hop starts).

    The next cell (``c`` itself where the random step finds no link), or -1: no way to the
    goal's zone.
    """
    z = cz[t, 0]
    w = zw[z, cz[c, 1]] if z >= 0 else IN_ZONE
    if w < IN_ZONE:  # the next step of a shortest way to the goal's zone
        return nbr[c, w]
    if w == NO_WAY:
        return -1
    dr, dq = _offset(c, t, nx)
    for j in range(4):  # neighbours in the order of NEIGHBOUR_OFFSETS: up, down, left, right
        k = (k0 + j) & 3
        nb = nbr[c, k]
        if (
            nb >= 0
            and cz[nb, 0] == z
            and (
                (k == 0 and dr < 0)
                or (k == 1 and dr > 0)
                or (k == 2 and dq < 0)
                or (k == 3 and dq > 0)
            )
        ):
            return nb
    nb = nbr[c, k0]  # nothing nearer open inside the zone: a random step inside it
    return nb if nb >= 0 and cz[nb, 0] == z else c


@njit(inline="always", cache=True)
def walk(c, goal, a, x, maxhop, keys, k_move, k_hop, nbr, cz, zw, nx):
    """Where a commuter in cell ``c`` is after this step's walk towards ``goal``.

    ``x`` hops on average (the whole part, and one more with the fraction's probability;
    at most ``maxhop``), each by :func:`commute_hop`, stopping at the goal or where no way
    leads on. ``keys[k_move]``: the stream of the first hop and of the count,
    ``keys[k_hop + h]``: of the h-th more.
    """
    if x <= 0.0:
        return c
    b = agent_bits(keys[k_move], a)
    nh = int(x)
    if to_unit(b) < x - nh:
        nh += 1
    for hop in range(min(nh, maxhop)):
        if hop > 0:
            b = agent_bits(keys[k_hop + hop], a)
        nb = commute_hop(c, goal, int(b & np.uint64(3)), nbr, cz, zw, nx)
        if nb < 0:
            break
        c = nb
        if c == goal:
            break
    return c


@njit(inline="always", cache=True)
def ride(hr, a, c, st, cnt, clk, P, sub, keys, k_move, k_hop, k_alight):
    """Where a rider in the car of cell ``c`` is after this step: a car's cell or a street cell.

    Each step it reaches the end of its car with probability ``dt / minutes`` (one car and
    more where a step outlasts them). There a human or infected rider takes the next car
    of its way to the station its schedule makes its goal, or gets off (with no way left,
    at the next open station); a zombie or hybrid rides on (at a branch either way, at a
    terminus back) while its car holds humans, and else gets off with probability
    ``z_alight``. Nobody gets off at a closed station: the train runs through.
    ``keys[k_move]``, ``keys[k_hop + h]``: the streams of the moves; ``keys[k_alight]``:
    of a zombie's getting off.
    """
    gcell, sroute, scar, smin = sub
    ngrid = cnt.shape[0] - scar.shape[0]
    k = c - ngrid
    left = P[P_DT]
    for hop in range(MAXHOP):
        b = agent_bits(keys[k_move] if hop == 0 else keys[k_hop + hop], a)
        m = smin[k]
        if left < m and to_unit(b) * m >= left:
            break  # still on the way
        left -= m
        stops = sroute[scar[k, 3], k] == ALIGHT  # the station ahead is open
        nxt = NO_ROUTE
        if st == HUMAN or st == INFECTED:
            t = commute_target(hr, clk, P)
            if hr[4] >= 0 and t >= 0:
                _, g = _stations(hr, t)
                nxt = sroute[g, k]
            if nxt == NO_ROUTE and stops:
                nxt = ALIGHT  # no way to its goal: off at the next open station
        elif stops and cnt[c, HUMAN] == 0:
            if to_unit(agent_bits(keys[k_alight], a)) < P[P_Z_ALIGHT]:
                nxt = ALIGHT
        if nxt == NO_ROUTE:  # rides on: at a branch either way, at a terminus back
            nxt = scar[k, 1]
            if scar[k, 2] >= 0 and (b & np.uint64(1)) == 1:
                nxt = scar[k, 2]
        if nxt < 0:
            return scar[k, 0]  # off, onto the street at the station
        k = nxt
        c = ngrid + k
        if left <= 0.0:
            break
    return c


@njit(inline="always", cache=True)
def zombie_boards(a, g, sub, keys, k_board, k_where, P, ngrid):
    """The car a zombie at the station of group ``g`` boards this step, or -1 (it stays out).

    With probability ``z_board``; the train of the quickest way towards a group drawn at
    random (``keys[k_where]``), the way the crowd goes.
    """
    if to_unit(agent_bits(keys[k_board], a)) >= P[P_Z_BOARD]:
        return -1
    gcell, sroute, scar, _ = sub
    to = int(agent_bits(keys[k_where], a) % np.uint64(gcell.size))
    k = sroute[to, scar.shape[0] + g]
    return ngrid + k if k >= 0 else -1


@njit(cache=True)
def zone_ways(nbr, cz, zw):
    """Each passable cell's way to each zone over the links open now, into ``zw``.

    ``zw[z, i]`` for the passable cell of index ``i``: the neighbour (0-3, the order of the
    neighbour table) that starts a shortest way to zone ``z``, the first such in that
    order; ``IN_ZONE`` inside it; ``NO_WAY`` where no way leads there. One byte a cell
    and zone: the walk reads one byte a hop (a field of distances would read three or
    four cache lines).
    """
    n = nbr.shape[0]
    queue = np.empty(n, np.int64)
    dist = np.empty(n, np.int32)
    far = np.int32(2**31 - 1)
    for z in range(zw.shape[0]):
        dist[:] = far
        tail = 0
        for c in range(n):
            if cz[c, 0] == z:
                dist[c] = 0
                queue[tail] = c
                tail += 1
        head = 0
        while head < tail:
            c = queue[head]
            head += 1
            d = dist[c] + 1
            for k in range(4):
                nb = nbr[c, k]
                if nb >= 0 and dist[nb] > d:
                    dist[nb] = d
                    queue[tail] = nb
                    tail += 1
        for c in range(n):
            i = cz[c, 1]
            if i < 0:
                continue
            if dist[c] == 0:
                zw[z, i] = IN_ZONE
                continue
            w = NO_WAY
            for k in range(4):
                nb = nbr[c, k]
                if nb >= 0 and dist[nb] < dist[c]:
                    w = k
                    break
            zw[z, i] = w


def cell_zones(zone: np.ndarray, passable: np.ndarray):
    """The table ``cz`` (zone, index among the passable cells, station) of every cell, and ``zw``.

    ``zone``: each cell's zone (-1: none). ``zw``: room for the ways, uint8, one row per
    zone (:func:`zone_ways` fills them). The third column: the subway's group whose street
    cell it is (-1: none; the stepper fills it).
    """
    cz = np.full((zone.size, 3), -1, np.int32)
    cz[:, 0] = np.where(passable, zone, -1)
    cz[passable, 1] = np.arange(int(passable.sum()))
    nz = int(cz[:, 0].max()) + 1
    return cz, np.full((max(1, nz), max(1, int(passable.sum()))), NO_WAY, np.uint8)
