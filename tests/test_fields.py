import numpy as np

from seoulfall.engine import kernels as K
from seoulfall.engine.plain import box_sum


def test_box_field_equals_a_plain_box_sum_inside_the_region_and_zero_outside():
    ny, nx = 37, 53
    rng = np.random.default_rng(0)
    cnt = rng.integers(0, 4, (ny * nx, K.NLIVING)).astype(np.int32)
    prev = np.zeros(4, np.int64)
    src, tmp, out = (np.zeros(ny * nx, np.int32) for _ in range(3))
    for trial in range(60):
        r = int(rng.integers(0, 5))
        pad = int(rng.integers(0, 4))
        a, b = sorted(rng.integers(0, ny, 2))
        c, d = sorted(rng.integers(0, nx, 2))
        bbox = np.array([a, b, c, d]) if trial % 7 else K.NO_BBOX.copy()
        two = bool(trial % 2)
        K.box_field(cnt, K.ZOMBIE, two, nx, ny, r, bbox, pad, prev, src, tmp, out)
        grid = cnt[:, K.ZOMBIE] + (cnt[:, K.EVOLVED] if two else 0)
        want = box_sum(grid.reshape(ny, nx), r)
        region = np.zeros((ny, nx), bool)
        if bbox[0] <= bbox[1]:
            region[max(0, a - pad) : b + pad + 1, max(0, c - pad) : d + pad + 1] = True
        region = region.ravel()
        assert np.array_equal(out[region], want[region]), trial
        assert not out[~region].any(), trial
