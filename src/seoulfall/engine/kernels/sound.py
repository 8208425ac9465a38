"""Sound: scheduled sources rendered into a field, and the fading noise of fights."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from seoulfall.engine.kernels.layout import C_KILLS, EV_KILL, NO_ROW, SOUND_EPS


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
            if ev[j] & 3 == EV_KILL and (ev[j] >> 2) < nx * ny:  # not underground
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


# The noise of fights on the GPU, one thread a cell: the same values as ``fight_noise``.
@njit(inline="always", cache=True)
def noise_fade_cell(c, args):
    """Fade cell ``c``'s noise by ``keep`` (``args``: ``(fn, keep)``); returns the value.

    The loudest of them decides whether the field falls silent (:func:`noise_cell`).
    """
    fn, keep = args
    v = fn[c] * keep
    fn[c] = v
    return v


@njit(inline="always", cache=True)
def noise_cell(c, args):
    """Cell ``c``'s noise after the step's fights (after :func:`noise_fade_cell`).

    ``args``: ``(fn, top, cnt, nx, ny, radius, loud)``; ``top[0]`` the loudest faded value
    (below ``SOUND_EPS`` the field is cleared first), ``cnt[:, C_KILLS]`` the zombies
    destroyed in each cell this step. The fights' discs are added in increasing order of
    their cells, one by one, as :func:`fight_noise` adds them: the same float sums.
    """
    fn, top, cnt, nx, ny, radius, loud = args
    if top[0] < SOUND_EPS:
        fn[c] = 0.0
    ir = int(radius)
    r = c // nx
    q = c - r * nx
    for r0 in range(max(0, r - ir), min(ny, r + ir + 1)):
        for q0 in range(max(0, q - ir), min(nx, q + ir + 1)):
            k = cnt[r0 * nx + q0, C_KILLS]
            if k > 0:
                d = math.sqrt((r - r0) ** 2 + (q - q0) ** 2)
                if d < radius:
                    for _ in range(k):
                        fn[c] += loud * (1.0 - d / radius)
