"""Hyosan: a fictional city of 170,000 (season 1's setting), built in code.

A round city 6 km across on a 100 m raster (60 x 60 cells): a downtown disc in the middle,
six neighbourhoods (dong) around it, a river 300 m wide running east-west south of the
centre with three bridges, and named places events can use: Hyosan High School (where the
outbreak starts), Downtown, and the South Checkpoint (the way out of the city). Residents:
170,000, three times denser downtown than elsewhere. The layout is plausible, not a map of
any real town.
"""

from __future__ import annotations

import numpy as np

from seoulfall.world.raster import Raster

SIZE = 60
RESIDENTS = 170_000
RIVER_ROWS = (34, 37)  # rows [34, 37): 300 m of water
BRIDGE_COLS = {"West Bridge": 14, "Central Bridge": 30, "East Bridge": 46}
DISTRICTS = [  # code, English name, Korean name, side of the river
    ("H01", "Jungang-dong", "중앙동", "north"),
    ("H02", "Seobuk-dong", "서북동", "north"),
    ("H03", "Buk-dong", "북동", "north"),
    ("H04", "Dongbuk-dong", "동북동", "north"),
    ("H05", "Seonam-dong", "서남동", "south"),
    ("H06", "Nam-dong", "남동", "south"),
    ("H07", "Dongnam-dong", "동남동", "south"),
]
PLACES = {
    "Hyosan High School": [14, 21],
    "Downtown": [23, 30],
    "South Checkpoint": [57, 30],
}


def build_hyosan() -> Raster:
    """The Hyosan raster (deterministic)."""
    r, c = np.mgrid[0:SIZE, 0:SIZE]
    centre = (SIZE - 1) / 2
    inside = np.hypot(r - centre, c - centre) <= SIZE / 2 - 0.5
    district = np.full((SIZE, SIZE), -1, np.int16)
    south = r >= RIVER_ROWS[1]
    north = r < RIVER_ROWS[0]
    third = np.digitize(c, [SIZE / 3, 2 * SIZE / 3])  # west, middle, east
    district[inside & north & (third == 0)] = 1
    district[inside & north & (third == 1)] = 2
    district[inside & north & (third == 2)] = 3
    district[inside & (r >= RIVER_ROWS[0]) & (r < RIVER_ROWS[1])] = 2  # the river's own cells
    district[inside & south & (third == 0)] = 4
    district[inside & south & (third == 1)] = 5
    district[inside & south & (third == 2)] = 6
    downtown = inside & north & (np.hypot(r - 23, c - 30) <= 7.5)
    district[downtown] = 0
    water = inside & (r >= RIVER_ROWS[0]) & (r < RIVER_ROWS[1])
    bridge = np.full((SIZE, SIZE), -1, np.int16)
    for k, col in enumerate(BRIDGE_COLS.values()):
        bridge[RIVER_ROWS[0] : RIVER_ROWS[1], col] = k
    # the bridge cells belong to the district on their north bank
    for col in BRIDGE_COLS.values():
        district[RIVER_ROWS[0] : RIVER_ROWS[1], col] = district[RIVER_ROWS[0] - 1, col]
    land = inside & ~water
    weight = np.where(downtown, 3.0, 1.0) * land
    flat = weight.ravel() / weight.sum() * RESIDENTS
    residents = np.floor(flat).astype(np.int64)
    short = RESIDENTS - int(residents.sum())
    order = np.argsort(-(flat - residents), kind="stable")
    residents[order[:short]] += 1
    return Raster(
        name="hyosan",
        cell_m=100.0,
        district=district,
        water=water,
        bridge=bridge,
        residents=residents.reshape(SIZE, SIZE),
        district_codes=[d[0] for d in DISTRICTS],
        district_names=[d[1] for d in DISTRICTS],
        district_names_ko=[d[2] for d in DISTRICTS],
        district_sides=[d[3] for d in DISTRICTS],
        bridge_names=list(BRIDGE_COLS),
        places={k: list(v) for k, v in PLACES.items()},
    )
