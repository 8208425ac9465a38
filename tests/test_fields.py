import numpy as np

from seoulfall.engine import kernels as K
from seoulfall.engine.plain import box_sum


def test_box_field_equals_a_plain_box_sum_inside_the_region_and_zero_outside():
    ny, nx = 37, 53
    rng = np.random.default_rng(0)
    cnt = rng.integers(0, 4, (ny * nx, K.NCOLS)).astype(np.int32)
    prev = np.zeros(4, np.int64)
    hsrc, zsrc, tmp, out = (np.zeros(ny * nx, np.int32) for _ in range(4))
    for trial in range(60):
        r = int(rng.integers(0, 5))
        pad = int(rng.integers(0, 4))
        a, b = sorted(rng.integers(0, ny, 2))
        c, d = sorted(rng.integers(0, nx, 2))
        bbox = np.array([a, b, c, d]) if trial % 7 else K.NO_BBOX.copy()
        two = bool(trial % 2)  # zombies + evolved, or humans
        hsrc[:] = zsrc[:] = -99  # what field_sources does not fill must not be read
        K.field_sources(cnt, nx, ny, bbox, pad + r, hsrc, zsrc)
        K.box_field(zsrc if two else hsrc, nx, ny, r, bbox, pad, prev, tmp, out)
        grid = cnt[:, K.ZOMBIE] + cnt[:, K.EVOLVED] if two else cnt[:, K.HUMAN]
        want = box_sum(grid.reshape(ny, nx), r)
        region = np.zeros((ny, nx), bool)
        if bbox[0] <= bbox[1]:
            region[max(0, a - pad) : b + pad + 1, max(0, c - pad) : d + pad + 1] = True
        region = region.ravel()
        assert np.array_equal(out[region], want[region]), trial
        assert not out[~region].any(), trial
