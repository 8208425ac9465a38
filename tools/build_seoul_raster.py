"""Regenerate the bundled Seoul raster from the source files.

Usage: python tools/build_seoul_raster.py [--source ../shared/data]

Copies nothing by itself: the source files already ship in src/seoulfall/world/data (they are
byte-for-byte copies of ../shared/data). The output is written atomically next to them.
"""

import argparse
from pathlib import Path

from seoulfall.world.seoul import BUNDLED_RASTER, build_seoul_raster, data_dir

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", type=Path, default=None, help="folder with the source files")
    args = ap.parse_args()
    r = build_seoul_raster(folder=args.source)
    out = data_dir() / BUNDLED_RASTER
    r.save(out)
    print(
        f"{out}: {r.shape[0]}x{r.shape[1]} cells, {int(r.land.sum())} land, "
        f"{int(r.water.sum())} water, {int((r.bridge >= 0).sum())} bridge cells, "
        f"{len(r.bridge_names)} bridges, {int(r.residents.sum())} residents"
    )
