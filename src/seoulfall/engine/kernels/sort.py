"""The counting sort of the agents by cell (speed only: results never depend on it)."""

from __future__ import annotations

from numba import njit

from seoulfall.engine.kernels.layout import DEAD, STATE_MASK


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
def sort_scatter(
    ch, cell, state, timer, aid, home, ncells, shist, bcell, bstate, btimer, baid, bhome
):
    """Counting sort, phase 3 (one chunk): move chunk ``ch``'s agents to their places.

    ``home`` moves with them where it has a row per agent (the daily journeys).
    """
    n = cell.size
    nchunks = shist.shape[0]
    row = shist[ch]
    rows = home.shape[0] >= n
    for i in range(ch * n // nchunks, (ch + 1) * n // nchunks):
        c = cell[i]
        key = _sort_key(c, state[i], ncells)
        j = row[key]
        row[key] = j + 1
        bcell[j] = c
        bstate[j] = state[i]
        btimer[j] = timer[i]
        baid[j] = aid[i]
        if rows:
            bhome[j] = home[i]


@njit(cache=True, nogil=True)
def sort_copy_back(ch, nchunks, cell, state, timer, aid, home, bcell, bstate, btimer, baid, bhome):
    """Counting sort, phase 4 (one chunk): copy the sorted buffers back."""
    n = cell.size
    lo = ch * n // nchunks
    hi = (ch + 1) * n // nchunks
    if home.shape[0] >= n:
        home[lo:hi] = bhome[lo:hi]
    cell[lo:hi] = bcell[lo:hi]
    state[lo:hi] = bstate[lo:hi]
    timer[lo:hi] = btimer[lo:hi]
    aid[lo:hi] = baid[lo:hi]
