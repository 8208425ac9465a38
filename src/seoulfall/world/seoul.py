"""Seoul's raster: the 25 gu, the Han River as a water band, and its bridges.

Built from the files in ``seoulfall/world/data`` (copied from the project's shared data; see
``NOTICE.md`` there for sources and licences). ``tools/build_seoul_raster.py`` regenerates the
bundled 100 m raster with :func:`build_seoul_raster`; other cell sizes and river widths are
built on demand from the same files.
"""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from matplotlib.path import Path as MplPath

from seoulfall.world.dong import DONG_FILES, mountain_cells, rasterise_dongs, residents_by_dong
from seoulfall.world.geo import SEOUL_LAT0, SEOUL_LON0, lonlat_to_xy
from seoulfall.world.raster import Raster

DEFAULT_CELL_M = 100.0
DEFAULT_RIVER_WIDTH_M = 1000.0
BUNDLED_RASTER = "seoul_100m_river1000m.npz"


def data_dir() -> Path:
    """Folder of the bundled Seoul data files."""
    return Path(str(resources.files("seoulfall.world") / "data"))


def read_districts(folder: Path | None = None) -> list[dict]:
    """Rows of ``seoul_gu.csv`` (code, names, 2024 population, area, side)."""
    folder = folder or data_dir()
    with open(folder / "seoul_gu.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["population_2024"] = int(r["population_2024"])
    return rows


def read_bridges(folder: Path | None = None) -> list[dict]:
    """Rows of ``han_bridges.csv``, each with ``crossing`` (True when both ends are in Seoul)."""
    folder = folder or data_dir()
    with open(folder / "han_bridges.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["lat"], r["lon"] = float(r["lat"]), float(r["lon"])
        r["crossing"] = r["north_gu"].endswith("-gu") and r["south_gu"].endswith("-gu")
    return rows


def _segment_distance(px, py, ax, ay, bx, by):
    """Distance from points (px, py) to segment a-b, and the projection parameter in [0, 1]."""
    dx, dy = bx - ax, by - ay
    den = dx * dx + dy * dy
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / den, 0.0, 1.0) if den > 0 else 0.0 * px
    return np.hypot(px - (ax + t * dx), py - (ay + t * dy)), t


def build_seoul_raster(
    cell_m: float = DEFAULT_CELL_M,
    river_width_m: float = DEFAULT_RIVER_WIDTH_M,
    folder: Path | None = None,
) -> Raster:
    """Rasterise Seoul from the source files.

    Steps: project WGS84 to a local equirectangular frame in metres; give each cell centre
    the gu whose polygon contains it; mark as water every cell whose centre lies within
    ``river_width_m / 2`` of the Han centreline; for each of the 22 bridges joining two Seoul
    gu, snap its coordinate to the nearest centreline point and mark the 4-connected line of
    water cells along the river's normal through that point, bank to bank, as bridge cells;
    spread each gu's 2024 population evenly over its land cells (remainder to the first cells
    in row-major order); and, where the dong files are (``seoul_dong.geojson``,
    ``seoul_dong_population.csv``, ``mountains.csv``, in ``folder`` or ``folder/moves``),
    each cell's dong and the residents placed by dong (``world/dong.py``).

    Parameters
    ----------
    cell_m : float
        Cell side in metres.
    river_width_m : float
        Width of the water band around the centreline, in metres.
    folder : Path, optional
        Folder with the source files (default: the bundled copy).
    """
    folder = folder or data_dir()
    gu = json.loads((folder / "seoul_gu.geojson").read_text(encoding="utf-8"))
    rows = read_districts(folder)
    codes = [r["code"] for r in rows]

    polys = {}
    for feat in gu["features"]:
        ring = np.asarray(feat["geometry"]["coordinates"][0], float)
        x, y = lonlat_to_xy(ring[:, 0], ring[:, 1])
        polys[feat["properties"]["SIG_CD"]] = np.column_stack([x, y])
    allxy = np.vstack(list(polys.values()))
    x0 = np.floor(allxy[:, 0].min() / cell_m) * cell_m - cell_m
    y0 = np.ceil(allxy[:, 1].max() / cell_m) * cell_m + cell_m
    nx = int(np.ceil((allxy[:, 0].max() - x0) / cell_m)) + 1
    ny = int(np.ceil((y0 - allxy[:, 1].min()) / cell_m)) + 1
    cx = x0 + (np.arange(nx) + 0.5) * cell_m
    cy = y0 - (np.arange(ny) + 0.5) * cell_m
    px, py = np.meshgrid(cx, cy)
    pts = np.column_stack([px.ravel(), py.ravel()])

    district = np.full(ny * nx, -1, np.int16)
    for i, code in enumerate(codes):
        inside = MplPath(polys[code]).contains_points(pts)
        district[inside & (district < 0)] = i
    district = district.reshape(ny, nx)

    line = json.loads((folder / "han_centreline.geojson").read_text(encoding="utf-8"))
    coords = np.asarray(line["features"][0]["geometry"]["coordinates"], float)
    lx, ly = lonlat_to_xy(coords[:, 0], coords[:, 1])
    dist = np.full(ny * nx, np.inf)
    for k in range(len(lx) - 1):
        d, _ = _segment_distance(pts[:, 0], pts[:, 1], lx[k], ly[k], lx[k + 1], ly[k + 1])
        np.minimum(dist, d, out=dist)
    water = (dist.reshape(ny, nx) <= river_width_m / 2) & (district >= 0)

    bridge = np.full((ny, nx), -1, np.int16)
    names = []
    for b in read_bridges(folder):
        if not b["crossing"]:
            continue
        bx, by = lonlat_to_xy(b["lon"], b["lat"])
        best = (np.inf, 0, 0.0)
        for k in range(len(lx) - 1):
            d, t = _segment_distance(bx, by, lx[k], ly[k], lx[k + 1], ly[k + 1])
            if d < best[0]:
                best = (float(d), k, float(t))
        _, k, t = best
        sx, sy = lx[k] + t * (lx[k + 1] - lx[k]), ly[k] + t * (ly[k + 1] - ly[k])
        tx, ty = lx[k + 1] - lx[k], ly[k + 1] - ly[k]
        nrm = np.array([-ty, tx]) / np.hypot(tx, ty)
        cells = _bridge_cells(sx, sy, nrm, water, x0, y0, cell_m)
        if not cells:
            continue
        idx = len(names)
        names.append(b["name_en"])
        for r, c in cells:
            bridge[r, c] = idx

    residents = np.zeros((ny, nx), np.int64)
    land = (district >= 0) & ~water
    for i, r in enumerate(rows):
        where = np.flatnonzero((land & (district == i)).ravel())
        per = np.full(where.size, r["population_2024"] // where.size, np.int64)
        per[: r["population_2024"] % where.size] += 1
        residents.ravel()[where] = per

    by_dong = {}
    moves = next((f for f in (folder, folder / "moves") if (f / DONG_FILES[0]).exists()), None)
    if moves is not None:
        dong, dongs, middle = rasterise_dongs(moves, district, codes, pts)
        mountain = mountain_cells(moves, pts)
        totals = [r["population_2024"] for r in rows]
        by_dong = {
            "dong": dong,
            "dong_codes": [d["code"] for d in dongs],
            "dong_names": [d["name"] for d in dongs],
            "residents_dong": residents_by_dong(
                dong, dongs, middle, land, district, totals, mountain, pts
            ),
        }

    return Raster(
        name="seoul",
        cell_m=float(cell_m),
        district=district,
        water=water,
        bridge=bridge,
        residents=residents,
        district_codes=codes,
        district_names=[r["name_en"] for r in rows],
        district_names_ko=[r["name_ko"] for r in rows],
        district_sides=[r["side"] for r in rows],
        bridge_names=names,
        geo={
            "lon0": SEOUL_LON0,
            "lat0": SEOUL_LAT0,
            "x0": float(x0),
            "y0": float(y0),
            "river_width_m": float(river_width_m),
        },
        **by_dong,
    )


def _bridge_cells(sx, sy, nrm, water, x0, y0, cell_m):
    """Water cells on a 4-connected line through (sx, sy) along ``nrm``, bank to bank."""
    ny, nx = water.shape

    def rc(x, y):
        return int((y0 - y) // cell_m), int((x - x0) // cell_m)

    out: list[tuple[int, int]] = []
    for sign in (1.0, -1.0):
        prev = rc(sx, sy)
        step = cell_m / 4
        for i in range(int(4000 / step)):
            r, c = rc(sx + sign * nrm[0] * i * step, sy + sign * nrm[1] * i * step)
            if not (0 <= r < ny and 0 <= c < nx):
                break
            if (r, c) != prev and r != prev[0] and c != prev[1]:
                # diagonal step: add the corner cell so the line stays 4-connected
                corner = (prev[0], c)
                if water[corner]:
                    out.append(corner)
            prev = (r, c)
            if not water[r, c]:
                break
            out.append((r, c))
    return sorted(set(out))


@lru_cache(maxsize=4)
def load_seoul(
    cell_m: float = DEFAULT_CELL_M, river_width_m: float = DEFAULT_RIVER_WIDTH_M
) -> Raster:
    """Seoul's raster: the bundled file for the defaults, otherwise built from the data."""
    if cell_m == DEFAULT_CELL_M and river_width_m == DEFAULT_RIVER_WIDTH_M:
        path = data_dir() / BUNDLED_RASTER
        if path.exists():
            return Raster.load(path)
    return build_seoul_raster(cell_m, river_width_m)
