import numpy as np
import pytest
from numba import njit
from scipy.ndimage import maximum_filter

from seoulfall.engine import kernels as K
from seoulfall.engine.plain import box_sum


def test_box_field_equals_a_plain_box_sum_wherever_a_reader_can_read_and_zero_outside():
    """Tiles are skipped only where no reader can read: every cell within ``pad`` of a
    reader and inside the region holds the exact box sum, every cell outside it 0, over a
    sequence of calls (the tiles computed last time are cleared when no longer needed)."""
    ny, nx = 53, 71  # several tiles, the last ones partial
    rng = np.random.default_rng(0)
    tiles = np.zeros(-(-ny // K.TILE) * -(-nx // K.TILE), np.int32)
    dirty = np.zeros(tiles.size, np.uint8)
    hsrc, zsrc, tmp, out = (np.zeros(ny * nx, np.int32) for _ in range(4))
    checked = 0
    for trial in range(80):
        # sparse counts: most tiles hold no reader or no source, so skipping matters
        cnt = (rng.random((ny * nx, K.NCOLS)) < rng.choice([0.002, 0.02, 0.2])).astype(np.int32)
        r = int(rng.integers(0, 6))
        pad = int(rng.integers(1, 4))
        a, b = sorted(rng.integers(0, ny, 2))
        c, d = sorted(rng.integers(0, nx, 2))
        bbox = np.array([a, b, c, d]) if trial % 7 else K.NO_BBOX.copy()
        two = bool(trial % 2)  # zombies + evolved read by humans, or humans read by zombies
        hsrc[:] = zsrc[:] = -99  # what field_sources does not fill must not be read
        K.field_sources(cnt, nx, ny, bbox, pad + r, hsrc, zsrc, tiles)
        read, source = (K.T_READ_H, K.T_SRC_Z) if two else (K.T_READ_Z, K.T_SRC_H)
        near_read, near_src = np.zeros_like(tiles), np.zeros_like(tiles)
        K.near_tiles(tiles, nx, ny, -(-pad // K.TILE), near_read)
        K.near_tiles(tiles, nx, ny, -(-r // K.TILE), near_src)
        src = zsrc if two else hsrc
        K.box_field(src, nx, ny, r, bbox, pad, near_read, read, near_src, source, dirty, tmp, out)
        grid = cnt[:, K.ZOMBIE] + cnt[:, K.EVOLVED] if two else cnt[:, K.HUMAN]
        want = box_sum(grid.reshape(ny, nx), r)
        region = np.zeros((ny, nx), bool)
        if bbox[0] <= bbox[1]:
            region[max(0, a - pad) : b + pad + 1, max(0, c - pad) : d + pad + 1] = True
        if two:
            readers = cnt[:, K.HUMAN] + cnt[:, K.INFECTED] > 0
        else:
            readers = cnt[:, [K.INFECTED, K.ZOMBIE, K.EVOLVED, K.C_ATT, K.C_KILLS]].sum(1) > 0
        # within reach of the sources (bbox grown by pad + r), and read: exact
        extent = np.zeros((ny, nx), bool)
        if bbox[0] <= bbox[1]:
            g = pad + r
            extent[max(0, a - g) : b + g + 1, max(0, c - g) : d + g + 1] = True
        readers = readers.reshape(ny, nx) & extent
        reach = maximum_filter(readers, size=2 * pad + 1, mode="constant").ravel()
        region = region.ravel()
        mask = region & reach
        checked += mask.sum()
        assert np.array_equal(out[mask], want[mask]), trial
        assert not out[~region].any(), trial
    assert checked > 1000


def test_skipping_tiles_never_changes_a_run(small_seoul):
    """The default scenario (every mechanism, the army's response) for 2 days at 1/1000
    scale: fields on needed tiles only give the same run, agent for agent, as fields on
    every tile, while computing under 60 % as many tiles."""
    from seoulfall.simulation import Simulation

    sc = small_seoul.override({"time.days": 2, "population.scale": 0.001})
    runs = []
    for every in (False, True):
        sim = Simulation(sc, seed=5)
        st = sim.stepper
        st.every_tile = every
        computed = [0]
        fields = st._fields

        def counting(cur, fields=fields, st=st, computed=computed):
            fields(cur)
            computed[0] += int(st.dirty.sum())

        st._fields = counting
        sim.run()
        a = sim.agents
        order = np.argsort(a.aid)
        runs.append((a.cell[order], a.state[order], a.timer[order], sim.cnt.copy(), computed[0]))
    (*tiled, n_tiled), (*dense, n_dense) = runs
    for x, y in zip(tiled, dense):
        assert np.array_equal(x, y)
    # an epidemic, not a quiet map: zombies in the city, or gone over its edge
    assert np.isin(K.reported_states(tiled[1]), [K.ZOMBIE, K.EVOLVED, K.ESCAPED]).sum() > 100
    assert n_tiled < 0.6 * n_dense, (n_tiled, n_dense)


def test_a_graded_field_is_the_plain_sum_of_its_nested_boxes():
    """Graded sensing: the fields the kernels compute for a step equal the plain step's
    (``plain.sensed``): a pyramid up to 3 cells (r + 1 - the Chebyshev distance)."""
    from seoulfall.engine.plain import sensed

    grid = np.zeros((9, 9), np.int64)
    grid[4, 4] = 1
    for r in (1, 2, 3):
        f = sensed(grid, r, True).reshape(9, 9)
        d = np.maximum(*np.abs(np.mgrid[0:9, 0:9] - 4))
        assert np.array_equal(f, np.where(d <= r, r + 1 - d, 0))
    grid = np.zeros((19, 19), np.int64)
    grid[9, 9] = 1
    f = sensed(grid, 8, True).reshape(19, 19)  # beyond 3 cells: four steps (radii 8, 6, 4, 2)
    steps = [f[9, 9 + d] for d in range(10)]
    assert steps == [4, 4, 4, 3, 3, 2, 2, 1, 1, 0]


def flee_outcome(sensing, seeds=6):
    """One step of humans around a lone standing zombie (no bites, no kills, one hop a
    step): the share of those at each Chebyshev distance who end farther from it."""
    from seoulfall import Scenario
    from seoulfall.simulation import Simulation

    size, mid = 21, 10
    sc = Scenario.load("lattice", {
        "world.size": size, "population.agents": size * size, "outbreak.zombies": 1,
        "zombie.bite_rate": 0.0, "human.kill_rate": 0.0, "zombie.speed_mps": 0.0,
        "zombie.wander_mps": 0.0, "human.sense_m": 300.0, "human.drift_mps": 0.0,
        "interaction.sensing": sensing,
    })  # fmt: skip
    sc = sc.override({"human.flee_mps": sc.world.cell_m / 60.0 / sc.time.dt_min})
    away, total = np.zeros(4), np.zeros(4)
    for seed in range(seeds):
        sim = Simulation(sc, seed=seed)
        a = sim.agents
        a.cell[:] = np.arange(a.n, dtype=np.int32)  # one agent a cell
        a.state[:] = K.HUMAN
        a.state[a.cell == mid * size + mid] = K.ZOMBIE
        sim.recount()
        before = np.maximum(np.abs(a.cell // size - mid), np.abs(a.cell % size - mid))
        ids = a.aid.copy()
        sim.advance(0, 1)
        order = np.argsort(a.aid)
        after_cell = a.cell[order][np.argsort(np.argsort(ids))]
        after = np.maximum(np.abs(after_cell // size - mid), np.abs(after_cell % size - mid))
        for d in (1, 2, 3):
            at = before == d
            away[d] += np.sum(after[at] > d)
            total[d] += at.sum()
    return away[1:] / total[1:]


def test_with_graded_sensing_the_nearer_threat_is_fled_first():
    graded, box = flee_outcome("graded"), flee_outcome("box")
    # next to the zombie: a random hop gets farther one time in four at best
    assert graded[0] > 0.9 and box[0] < 0.1  # the box's field is flat there: nobody moves
    assert graded[0] >= graded[2] - 0.05  # as often as at the edge of the range
    assert box[2] > 0.9  # at the edge both flee out of range


@njit
def _cell_by_cell(n, body, args):
    for c in range(n):
        body(c, args)


@njit
def _cell_by_cell_largest(n, body, args):
    top = 0.0
    for c in range(n):
        top = max(top, body(c, args))
    return top


@pytest.mark.parametrize("sensing", ["graded", "box"])
def test_the_gpus_fields_and_noise_cell_by_cell_equal_the_cpus(small_seoul, sensing):
    """The GPU computes each cell's fields over its whole box (``field_cell``) and each
    cell's noise of fights from the kills around it (``noise_cell``); the CPU slides sums
    over tiles and draws each fight's disc. Compiled for the CPU here, one cell after the
    other, they give the CPU's values at every step of the default scenario's first hours
    (fields on every tile, so that none is skipped), fights loud."""
    from seoulfall.simulation import Simulation

    sc = small_seoul.override({"time.days": 0.12, "interaction.sensing": sensing,
                               "noise.fight_loudness": 1.0})  # fmt: skip
    sim = Simulation(sc, seed=2)
    st = sim.stepper
    st.every_tile = True
    ncells = st.cnt.shape[0]
    seen = {"fields": 0, "noise": 0}
    fields, noise = st._fields, st._fight_noise

    def fields_both(cur):
        fields(cur)
        stats = np.concatenate([st.totals, st.bbox])  # the pass's statistics
        mine = np.full_like(st.fields, -1)
        _cell_by_cell(ncells, K.field_cell, (cur, stats, st.P, st.IP, st.nx, st.ny, mine))
        assert np.array_equal(mine, st.fields)
        seen["fields"] += int(mine.any())

    def noise_both(span):
        radius, loud, keep = st.noise
        mine = st.fn.copy()
        top = _cell_by_cell_largest(st.ngrid, K.noise_fade_cell, (mine, keep))
        args = (mine, np.array([top]), st._nxt, st.nx, st.ny, radius, loud)
        _cell_by_cell(st.ngrid, K.noise_cell, args)
        noise(span)
        assert np.array_equal(mine, st.fn)
        seen["noise"] += int(st._nxt[:, K.C_KILLS].any())

    st._fields, st._fight_noise = fields_both, noise_both
    sim.run()
    assert seen["fields"] > 50 and seen["noise"] > 5, seen
