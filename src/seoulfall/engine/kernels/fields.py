"""The sensing fields: box sums of what humans, zombies and hybrids sense.

Computed by tiles, and only where a reader stands near a source. Graded
(``interaction.sensing = "graded"``): the sum of up to ``GRADED_BOXES`` nested boxes of
radii ``r (B - k) // B`` (duplicates once), so that a source counts more the nearer it is:
for a radius of up to 3 cells, ``r + 1 -`` the distance (a pyramid); beyond, in steps.
"""

from __future__ import annotations

from numba import njit, prange

from seoulfall.engine.kernels.layout import (
    C_ATT,
    C_KILLS,
    EVOLVED,
    HUMAN,
    HYBRID,
    I_GRADED,
    I_MAXHOP,
    I_R_E,
    I_R_H,
    I_R_Y,
    I_R_Z,
    INFECTED,
    NLIVING,
    NO_BBOX,
    P_EVOLVE_BITE,
    P_EVOLVE_P,
    ZOMBIE,
)

#: Side of the square tiles (cells) by which sensing fields are computed or skipped.
TILE = 16

#: Most nested boxes of a graded field (each costs one more box sum).
GRADED_BOXES = 4


@njit(inline="always", cache=True)
def graded_radius(r, k):
    """The radius of a graded field's ``k``-th box (k = 0: the sensing radius)."""
    return r * (GRADED_BOXES - k) // GRADED_BOXES


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
def box_field(
    src, nx, ny, r, bbox, pad, near_read, read, near_src, source, dirty, tmp, out, add=False
):
    """Box sum within radius ``r`` of ``src`` (filled by :func:`field_sources`).

    Computed over the threat box ``bbox`` (rmin, rmax, cmin, cmax) grown by ``pad``, tile by
    tile, and only on tiles that someone may read this step: a tile is computed when
    ``near_read`` (:func:`near_tiles` within the reach of a reader) has the flag ``read``
    and ``near_src`` (within ``r`` cells) the flag ``source``, or always if ``read`` is 0;
    every other cell holds 0, which is its value wherever an agent can read it. Running
    sums make the cost independent of ``r``. ``dirty`` (one byte per tile) marks tiles that
    may hold non-zero values; ``tmp`` is scratch of at least ``TILE + 2 r`` cells. An empty
    ``bbox`` (rmin > rmax) leaves the field 0. ``add``: add the sums to ``out`` on the tiles
    computed, leaving every other cell alone (a graded field's inner boxes, after a call
    without it at the outer radius on the same tiles).
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
            full = need and a0 == R0 and a1 == R1 and b0 == C0 and b1 == C1
            if not add and dirty[t] and not full:
                for rr in range(R0, R1):
                    for cc in range(rr * nx + C0, rr * nx + C1):
                        out[cc] = 0
                dirty[t] = 0
            if not need:
                continue
            if not add:
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
                    if add:
                        out[ob + k] += s
                    else:
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


@njit(inline="always", cache=True)
def field_need(t, P, j):
    """Whether field ``j`` can be read in a step whose living agents are ``t`` (by state).

    Agents that turn or evolve during the step included.
    """
    zombies = t[ZOMBIE] + t[EVOLVED] > 0
    if j == 0:
        return t[HUMAN] + t[INFECTED] > 0 and zombies
    if j == 1:
        return t[HUMAN] > 0 and t[ZOMBIE] + t[INFECTED] > 0
    if j == 2:
        evolve = P[P_EVOLVE_P] > 0.0 or P[P_EVOLVE_BITE] > 0.0
        return t[HUMAN] > 0 and (t[EVOLVED] > 0 or (t[ZOMBIE] > 0 and evolve))
    return t[HYBRID] > 0 and zombies


@njit(cache=True, nogil=True)
def field_needs(totals, P, IP, need):
    """Which fields a step needs, and how far around the threat box to read the counts.

    ``need[j]``: 1 if field ``j`` can be read this step (:func:`field_need`), else 0.
    Returns the distance in cells, or -1 when no field is needed.
    """
    pad, radius, grow = _field_geometry(IP)
    # the tile flags must see every reader that can reach a computed cell, and every source
    reach = -1
    for j in range(4):
        needed = field_need(totals, P, j)
        need[j] = 1 if needed else 0
        if needed:
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
    r = radius[j]
    box_field(src[_F_WHICH[j]], nx, ny, r, bbox, grow[j], near[0], rd, near[1 + j],
              _F_SOURCE[j], dirty[j], tmp, fields[j])  # fmt: skip
    if IP[I_GRADED] > 0:  # inner boxes on the same tiles: the nearer, the more it counts
        for k in range(1, GRADED_BOXES):
            ri = graded_radius(r, k)
            if ri < graded_radius(r, k - 1):
                box_field(src[_F_WHICH[j]], nx, ny, ri, bbox, grow[j], near[0], rd,
                          near[1 + j], _F_SOURCE[j], dirty[j], tmp, fields[j], True)  # fmt: skip


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


@njit(inline="always", cache=True)
def field_cell(c, args):
    """The four sensing fields at cell ``c``, each summed over its whole box (one thread).

    ``args``: ``(cnt, stats, P, IP, nx, ny, fields)``; ``stats`` holds the living by state
    and the threat box at the start of the step (the pass's statistics, ``NSTATS``). The
    GPU's way to the fields of :func:`compute_fields`, equal to them wherever an agent can
    read them: the same need (:func:`field_need`) and the same region (the threat box grown
    by each field's margin, 0 beyond it and in the subway's cars); a graded field weighs a
    source by the number of its nested boxes that hold it. Integer sums: no order to keep.
    """
    cnt, stats, P, IP, nx, ny, fields = args
    pad, radius, grow = _field_geometry(IP)
    r0 = c // nx
    q0 = c - r0 * nx
    graded = IP[I_GRADED] > 0
    for j in range(4):
        v = 0
        g = grow[j]
        if (
            c < nx * ny
            and field_need(stats, P, j)
            and stats[NLIVING] - g <= r0 <= stats[NLIVING + 1] + g
            and stats[NLIVING + 2] - g <= q0 <= stats[NLIVING + 3] + g
        ):
            r = radius[j]
            for rr in range(max(0, r0 - r), min(ny, r0 + r + 1)):
                dr = abs(rr - r0)
                for qq in range(max(0, q0 - r), min(nx, q0 + r + 1)):
                    d = max(dr, abs(qq - q0))
                    w = 1
                    if graded:  # one more for each inner box (its radius once) that holds it
                        for k in range(1, GRADED_BOXES):
                            ri = graded_radius(r, k)
                            if ri < graded_radius(r, k - 1) and d <= ri:
                                w += 1
                    cc = rr * nx + qq
                    if _F_WHICH[j] == 1:
                        v += w * (cnt[cc, ZOMBIE] + cnt[cc, EVOLVED])
                    else:
                        v += w * cnt[cc, HUMAN]
        fields[j, c] = v
