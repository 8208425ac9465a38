"""Where Seoul's residents live: the 425 administrative dong (행정동) and the mountains.

The district raster spreads each gu's 2024 population evenly over its land, so Gwanak-gu's
mountain holds as many people per cell as its dense neighbourhoods. This module places them
by dong instead (``world.residents = "dong"``):

1. each cell takes the dong whose polygon holds its centre, among the dongs of the cell's
   own gu (the dong and gu boundaries come from different surveys and disagree by a few
   cells); a land cell that no dong of its gu covers takes the nearest dong of its gu;
2. each gu's 2024 total is shared among its dongs in proportion to their registered
   population (2021 Q2) by largest remainders, so every gu keeps its total exactly;
3. each dong's residents are spread evenly over its land cells, except cells within a
   mountain's reach of one of the peaks in ``mountains.csv`` (no one lives there): the
   reach of a peak of elevation h is (h - 100 m) / 0.3 (the slope of a mountain from the
   city's ~100 m to its top, about 0.3), e.g. Gwanaksan 632 m: 1.8 km; Namsan 262 m:
   0.54 km (its park is about 1 km across); Inwangsan 338 m: 0.79 km (the equal-area
   radius of its 1.09 km² is 0.59 km). A dong whose every land cell is on a mountain keeps
   its residents on them; a dong with no land cell at all gives its residents to the land
   cell of its gu nearest to its polygon's centre. Two of the eleven peaks have no known
   coordinates (Umyeonsan, Achasan) and are left out.

Sources and licences: ``NOTICE.md`` in ``seoulfall/world/data``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from matplotlib.path import Path as MplPath

from seoulfall.world.geo import lonlat_to_xy

#: Elevation (m) of the city around the mountains, and their mean slope (see the module).
CITY_ELEVATION_M = 100.0
MOUNTAIN_SLOPE = 0.3
DONG_FILES = ("seoul_dong.geojson", "seoul_dong_population.csv", "mountains.csv")


def read_dongs(folder: Path) -> list[dict]:
    """Rows of ``seoul_dong_population.csv``: code, gu code, name, 2021 Q2 population."""
    with open(folder / "seoul_dong_population.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [
        {"code": r["adm_cd2"], "gu": r["gu_code"], "name": r["dong_name"],
         "population": int(r["pop_total"])}
        for r in rows
    ]  # fmt: skip


def read_peaks(folder: Path) -> list[dict]:
    """The peaks of ``mountains.csv`` with coordinates: name, lon, lat, elevation (m)."""
    with open(folder / "mountains.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [
        {"name": r["name_en"], "lon": float(r["lon"]), "lat": float(r["lat"]),
         "elevation_m": float(r["elevation_m"])}
        for r in rows
        if r["lat"] and r["lon"]
    ]  # fmt: skip


def mountain_reach_m(elevation_m: float) -> float:
    """How far from a peak no one lives (m): (elevation - 100 m) / 0.3."""
    return max(0.0, elevation_m - CITY_ELEVATION_M) / MOUNTAIN_SLOPE


def rasterise_dongs(
    folder: Path, district: np.ndarray, codes: list[str], centres: np.ndarray
) -> tuple[np.ndarray, list[dict], np.ndarray]:
    """Each cell's dong (int16, -1 off the map), the dongs, and their centres (x, y in m).

    ``district``: the gu raster (index into ``codes``, -1 outside); ``centres``: (ncells, 2)
    cell centres in the same projected metres as the polygons.
    """
    dongs = read_dongs(folder)
    index = {d["code"]: i for i, d in enumerate(dongs)}
    for d in dongs:
        d["gu_index"] = codes.index(d["gu"])
    gu_of = np.array([d["gu_index"] for d in dongs])
    feats = json.loads((folder / "seoul_dong.geojson").read_text(encoding="utf-8"))["features"]
    flat = district.ravel()
    dong = np.full(flat.size, -1, np.int32)
    middle = np.zeros((len(dongs), 2))
    for feat in feats:
        k = index[feat["properties"]["adm_cd2"]]
        rings = [np.asarray(poly[0], float) for poly in feat["geometry"]["coordinates"]]
        xy = [np.column_stack(lonlat_to_xy(r[:, 0], r[:, 1])) for r in rings]
        allxy = np.vstack(xy)
        middle[k] = allxy.mean(axis=0)
        (x0, y0), (x1, y1) = allxy.min(axis=0), allxy.max(axis=0)
        near = np.flatnonzero(
            (flat == gu_of[k]) & (dong < 0)
            & (centres[:, 0] >= x0) & (centres[:, 0] <= x1)
            & (centres[:, 1] >= y0) & (centres[:, 1] <= y1)
        )  # fmt: skip
        for ring in xy:
            hit = near[MplPath(ring).contains_points(centres[near])]
            dong[hit] = k
    # cells of a gu that none of its dongs covers: the nearest covered cell's dong
    for g in range(len(codes)):
        todo = np.flatnonzero((flat == g) & (dong < 0))
        done = np.flatnonzero((flat == g) & (dong >= 0))
        for chunk in np.array_split(todo, max(1, todo.size // 512)):
            if chunk.size and done.size:
                d2 = ((centres[chunk, None, :] - centres[None, done, :]) ** 2).sum(axis=2)
                dong[chunk] = dong[done[d2.argmin(axis=1)]]
    return dong.reshape(district.shape).astype(np.int16), dongs, middle


def mountain_cells(folder: Path, centres: np.ndarray) -> np.ndarray:
    """Cells within a mountain's reach of a peak (bool, one per cell)."""
    out = np.zeros(len(centres), bool)
    for p in read_peaks(folder):
        px, py = lonlat_to_xy(p["lon"], p["lat"])
        reach = mountain_reach_m(p["elevation_m"])
        out |= np.hypot(centres[:, 0] - px, centres[:, 1] - py) <= reach
    return out


def residents_by_dong(
    dong: np.ndarray,
    dongs: list[dict],
    middle: np.ndarray,
    land: np.ndarray,
    district: np.ndarray,
    gu_totals: list[int],
    mountain: np.ndarray,
    centres: np.ndarray,
) -> np.ndarray:
    """Residents per cell (int64): each gu's total shared by its dongs, spread over land.

    See the module for the rule. ``land``, ``mountain``: bool per cell; ``gu_totals``: the
    2024 population of each gu (index of ``district``).
    """
    flat_dong, flat_land, flat_gu = dong.ravel(), land.ravel(), district.ravel()
    out = np.zeros(flat_dong.size, np.int64)
    by_gu: dict[int, list[int]] = {}
    for k, d in enumerate(dongs):
        by_gu.setdefault(d["gu_index"], []).append(k)
    for g, members in sorted(by_gu.items()):
        pops = np.array([dongs[k]["population"] for k in members], float)
        share = gu_totals[g] * pops / pops.sum()
        n = np.floor(share).astype(np.int64)
        short = gu_totals[g] - int(n.sum())
        n[np.argsort(-(share - n), kind="stable")[:short]] += 1
        for k, count in zip(members, n):
            cells = np.flatnonzero((flat_dong == k) & flat_land & ~mountain)
            if cells.size == 0:
                cells = np.flatnonzero((flat_dong == k) & flat_land)
            if cells.size == 0:  # no land of its own: the gu's land cell nearest its centre
                gu_land = np.flatnonzero((flat_gu == g) & flat_land)
                near = ((centres[gu_land] - middle[k]) ** 2).sum(axis=1).argmin()
                cells = gu_land[near : near + 1]
            per = np.full(cells.size, count // cells.size, np.int64)
            per[: count % cells.size] += 1
            out[cells] += per
    return out.reshape(dong.shape)
