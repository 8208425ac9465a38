"""Seoul's subway: stations, lines, the trains' cars as places, and the riders' routes.

The kernels' side is ``engine/kernels/commute.py`` (``ride``). Data: ``subway_stations.csv``
and ``subway_links.csv`` in ``world/data`` (406 stations of 16 lines inside Seoul, 392
links in line order; provenance and licence in ``NOTICE.md`` there).

The network, as the model sees it:

- a **node** is a line's platform at a station (one row of ``subway_stations.csv``); the
  nodes of one interchange share a **group** (its ``transfer_group``), where riders change
  lines; every node stands on the street cell of its coordinates (the nearest passable
  cell that is not a bridge where that one is not);
- a **car** is a place: everyone on the trains of one line between two adjacent stations,
  one direction (a link of ``subway_links.csv`` gives two cars, a one-way link of line
  6's Eungam loop one). Bites and fights in a car follow the same hazards as in a cell.
  A car takes ``distance / speed + dwell`` minutes (the straight distance between the two
  stations; the one link that runs through two stations outside Seoul, line 7 Gasan
  Digital Complex - Cheonwang, counts their distance straight as well);
- a **route**: a rider leaves its car at the end of the car's stretch with probability
  ``dt / minutes`` in a step (the car's mean time), then takes the next car of its
  quickest way to its destination group (changing lines costs ``transfer_min``), or gets
  off there. :func:`routes` gives every car's and every group's next car towards every
  group over the cars and groups open now.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from seoulfall.world.geo import lonlat_to_xy

SUBWAY_FILES = ("subway_stations.csv", "subway_links.csv")

#: ``routes``: get off at the end of this car; no way from here to the group.
ALIGHT, NO_ROUTE = -1, -2


@dataclass
class Network:
    """The subway on a raster: nodes, groups and cars (see the module)."""

    lines: list[str]
    node_line: np.ndarray  # line index of each node
    node_group: np.ndarray  # group index of each node
    node_cell: np.ndarray  # street cell of each node
    group_name: list[str]  # English name of each group (its first node's)
    group_name_ko: list[str]
    group_cell: np.ndarray  # street cell of each group (its first node's)
    car_from: np.ndarray  # node the car leaves
    car_to: np.ndarray  # node it reaches
    car_line: np.ndarray
    car_minutes: np.ndarray  # minutes a ride through the car takes
    onward: np.ndarray  # (ncars, 2): the cars a train runs on into (a terminus: back)
    transfer_min: float = 4.0

    @property
    def ncars(self) -> int:
        """The cars: one a link and way."""
        return int(self.car_from.size)

    @property
    def ngroups(self) -> int:
        """The groups: a station, or an interchange of several lines."""
        return len(self.group_name)

    def group_index(self, key: str) -> int:
        """The group a station name (English or Korean, any case) names; KeyError if none."""
        k = key.strip().casefold()
        for g, (en, ko) in enumerate(zip(self.group_name, self.group_name_ko)):
            if k in (en.casefold(), ko):
                return g
        raise KeyError(key)


def read_stations(folder: Path) -> list[dict]:
    """The rows of ``subway_stations.csv``."""
    with open(folder / "subway_stations.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_links(folder: Path) -> list[dict]:
    """The rows of ``subway_links.csv``."""
    with open(folder / "subway_links.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def line_names(folder: Path) -> list[str]:
    """The lines, in the order of ``subway_stations.csv`` (names a scenario may give)."""
    return list(dict.fromkeys(r["line"] for r in read_stations(folder)))


def station_names(folder: Path) -> set[str]:
    """Every station name a scenario may give: English and Korean, casefolded."""
    rows = read_stations(folder)
    return {r["name_en"].casefold() for r in rows} | {r["name_ko"] for r in rows}


def station_cells(world, lon, lat) -> np.ndarray:
    """The street cell of each point: its own, or the nearest passable one not a bridge.

    (A bridge can close: a station on one would put its riders on a closed bridge.)
    """
    g = world.geo
    x, y = lonlat_to_xy(np.asarray(lon, float), np.asarray(lat, float), g["lon0"], g["lat0"])
    ny, nx = world.shape
    r = np.clip(((g["y0"] - y) // world.cell_m).astype(int), 0, ny - 1)
    q = np.clip(((x - g["x0"]) // world.cell_m).astype(int), 0, nx - 1)
    street = world.passable & (world.bridge < 0)
    _, (ir, iq) = ndimage.distance_transform_edt(~street, return_indices=True)
    return (ir[r, q] * nx + iq[r, q]).astype(np.int32)


def build(world, folder: Path, speed_kmh: float, dwell_min: float, transfer_min: float):
    """The subway network on ``world`` (a Seoul raster) from the files in ``folder``."""
    rows = read_stations(folder)
    lines = list(dict.fromkeys(r["line"] for r in rows))
    node_of = {r["station_id"]: i for i, r in enumerate(rows)}
    groups = list(dict.fromkeys(r["transfer_group"] for r in rows))
    node_group = np.array([groups.index(r["transfer_group"]) for r in rows], np.int32)
    node_line = np.array([lines.index(r["line"]) for r in rows], np.int32)
    lon = np.array([float(r["lon"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    node_cell = station_cells(world, lon, lat)
    first = [int(np.flatnonzero(node_group == g)[0]) for g in range(len(groups))]
    x, y = lonlat_to_xy(lon, lat, world.geo["lon0"], world.geo["lat0"])
    frm, to = [], []
    for r in read_links(folder):
        a, b = node_of[r["from_station_id"]], node_of[r["to_station_id"]]
        frm.append(a)
        to.append(b)
        if r["oneway"] != "1":
            frm.append(b)
            to.append(a)
    frm, to = np.array(frm, np.int32), np.array(to, np.int32)
    metres = np.hypot(x[frm] - x[to], y[frm] - y[to])
    minutes = metres / (speed_kmh * 1000.0 / 60.0) + dwell_min
    onward = np.full((frm.size, 2), -1, np.int32)
    for k in range(frm.size):
        nxt = np.flatnonzero((frm == to[k]) & (to != frm[k]) & (node_line[frm] == node_line[to[k]]))
        if nxt.size == 0:  # a terminus: the train turns back
            nxt = np.flatnonzero((frm == to[k]) & (to == frm[k]))
        onward[k, : min(2, nxt.size)] = nxt[:2]
        if nxt.size == 0 or nxt.size > 2:
            raise ValueError(f"subway: {rows[to[k]]['name_en']} has no way on, or more than two")
    return Network(
        lines=lines,
        node_line=node_line,
        node_group=node_group,
        node_cell=node_cell,
        group_name=[rows[i]["name_en"] for i in first],
        group_name_ko=[rows[i]["name_ko"] for i in first],
        group_cell=node_cell[first].astype(np.int32),
        car_from=frm,
        car_to=to,
        car_line=node_line[frm],
        car_minutes=minutes,
        onward=onward,
        transfer_min=float(transfer_min),
    )


def routes(net: Network, line_open: np.ndarray, group_open: np.ndarray) -> np.ndarray:
    """Every car's and group's next car towards every group, over what is open now.

    ``out[g, k]`` for a rider in car ``k`` bound for group ``g``, ``out[g, ncars + h]``
    for one boarding at group ``h``: the next car, ``ALIGHT`` (get off at the end of car
    ``k``) or ``NO_ROUTE``. The quickest way in minutes: each car its ride, each change of
    line ``transfer_min``; trains run through a closed station without stopping (nobody
    boards, gets off or changes there), and a closed line's cars carry nobody.
    """
    nc, ng = net.ncars, net.ngroups
    car_ok = line_open[net.car_line]
    grp_to = net.node_group[net.car_to]
    grp_from = net.node_group[net.car_from]
    src, dst, w = [], [], []
    for k in range(nc):
        if not car_ok[k]:
            continue
        v = net.car_to[k]
        same = np.flatnonzero(
            car_ok & (net.car_from == v) & (net.car_to != net.car_from[k])
            & (net.car_line == net.car_line[k])
        )  # fmt: skip
        src += [k] * same.size
        dst += list(same)
        w += list(net.car_minutes[same])
        if group_open[grp_to[k]]:
            other = np.flatnonzero(
                car_ok & (grp_from == grp_to[k]) & (net.car_line != net.car_line[k])
            )
            src += [k] * other.size
            dst += list(other)
            w += list(net.transfer_min + net.car_minutes[other])
            src.append(k)  # get off: to the group's sink
            dst.append(nc + ng + grp_to[k])
            w.append(0.0)
    for h in np.flatnonzero(group_open):
        board = np.flatnonzero(car_ok & (grp_from == h))
        src += [nc + h] * board.size
        dst += list(board)
        w += list(net.car_minutes[board])
    src, dst = np.array(src, np.int64), np.array(dst, np.int64)
    w = np.array(w, float) + 1e-9  # csgraph drops explicit zeros: a tiny weight keeps them
    nv = nc + 2 * ng
    graph = coo_matrix((w, (dst, src)), shape=(nv, nv)).tocsr()  # reversed: from the sinks
    dist = dijkstra(graph, indices=np.arange(nc + ng, nv))  # (ng, nv): minutes to each sink
    out = np.full((ng, nc + ng), NO_ROUTE, np.int32)
    if src.size == 0:
        return out
    order = np.lexsort((np.arange(src.size), src))  # by source, then in the order built
    src, dst, w = src[order], dst[order], w[order]
    val = w[None, :] + dist[:, dst]
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
    best = np.minimum.reduceat(val, starts, axis=1)  # (ng, sources)
    which = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, src.size]))
    hit = (val == best[:, which]) & np.isfinite(val)
    for g in range(ng):
        e = np.flatnonzero(hit[g])
        s, first = np.unique(src[e], return_index=True)
        nxt = dst[e[first]]
        out[g, s] = np.where(nxt >= nc + ng, ALIGHT, nxt)
    return out


def riders(net: Network, world, home: np.ndarray, group_open, walk_cells: float) -> np.ndarray:
    """Each agent's stations, packed ``home group << 16 | day group``, or -1: it walks.

    ``home``: the journeys' table by id (home, day cell, ...). An agent rides when an open
    station lies within ``walk_cells`` (along the grid) of both its home and its day cell,
    and the two are more than four times that apart: then from the nearest station of
    each. (On its way an agent boards while within ``walk_cells`` of the station it boards
    at and farther from its goal than the station it gets off at by more than
    ``walk_cells``: true at home and on the way to its station; false once off the train,
    more than twice that from the first station, while it walks or drifts near its goal.)
    """
    out = np.full(home.shape[0], -1, np.int32)
    nx = world.shape[1]
    ok = np.flatnonzero(group_open)
    if ok.size < 2:
        return out
    gr, gq = np.divmod(net.group_cell[ok], nx)
    tree = cKDTree(np.column_stack([gr, gq]))
    h, d = home[:, 0], home[:, 1]
    who = np.flatnonzero((h >= 0) & (d >= 0) & (h != d))
    if who.size == 0:
        return out
    hr, hq = np.divmod(h[who], nx)
    dr, dq = np.divmod(d[who], nx)
    far = np.abs(hr - dr) + np.abs(hq - dq) > 4 * walk_cells
    dh, ih = tree.query(np.column_stack([hr, hq]), p=1)
    dd, idd = tree.query(np.column_stack([dr, dq]), p=1)
    go = far & (dh <= walk_cells) & (dd <= walk_cells) & (ih != idd)
    out[who[go]] = (ok[ih[go]] << 16) | ok[idd[go]]
    return out


#: Networks built, with their ways while everything is open, by what they depend on (the
#: map's grid and the trains' times): a sweep or the tests build the same one many times.
_BUILT: dict = {}


def _network(world, folder: Path, speed_kmh: float, dwell_min: float, transfer_min: float):
    """The network on ``world`` and its ways with every line and station open (cached)."""
    key = (world.name, world.cell_m, world.shape, world.geo.get("river_width_m"),
           str(folder), speed_kmh, dwell_min, transfer_min)  # fmt: skip
    if key not in _BUILT:
        net = build(world, folder, speed_kmh, dwell_min, transfer_min)
        ones = np.ones(len(net.lines), bool), np.ones(net.ngroups, bool)
        _BUILT.clear()  # one at a time: a run, a sweep, a test module use one
        _BUILT[key] = (net, routes(net, *ones))
    return _BUILT[key]


def tables(world, sc, home: np.ndarray, folder: Path):
    """The network and the kernels' tables for a run's ``[subway]`` (fills ``home[:, 4]``).

    Returns ``(network, (gcell, sroute, scar, smin, car_line, routes))``: what
    ``Stepper(subway=...)`` takes (``kernels/commute.py``).
    """
    s = sc.subway
    net, route = _network(world, folder, s.speed_kmh, s.dwell_min, s.transfer_min)
    home[:, 4] = riders(net, world, home, np.ones(net.ngroups, bool), s.walk_m / world.cell_m)
    scar = np.ascontiguousarray(
        np.column_stack([net.node_cell[net.car_to], net.onward, net.node_group[net.car_to]]),
        np.int32,
    )
    return net, (
        net.group_cell.astype(np.int32),
        route.copy(),  # the run's own: closures rewrite it
        scar,
        net.car_minutes.astype(np.float64),
        net.car_line.astype(np.int32),
        lambda lo, go: routes(net, np.asarray(lo, bool), np.asarray(go, bool)),
    )
