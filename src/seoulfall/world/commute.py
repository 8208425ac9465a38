"""Homes and day cells: who goes where by day (``[commute]``).

The kernels' side is ``engine/kernels/commute.py``.

Every agent's home is the cell it starts in. A ``share`` of the residents of each district
commute (drawn from the seed); the others spend the day at home. The commuters' districts
by day come from a **doubly constrained gravity model** over the districts:

    T_ij = A_i O_i B_j D_j exp(-beta d_ij)

with ``O_i`` the commuters living in district i, ``D_j`` the commuters district j must
receive so that its people by day (those who stay home plus those who come) match its
share of Seoul's daytime living population (``gu_daytime.csv``, scaled to the model's
residents: the data's day total includes people from outside Seoul, who are not agents),
and ``A_i``, ``B_j`` balancing factors found by iterative proportional fitting (Furness).
``d_ij`` is the distance between the districts' population centres (km); within a
district, ``0.905 sqrt(area / pi)``, the mean distance between two points of a disc of its
area.

A doubly constrained model meets both margins for any ``beta``: the daytime populations
fix ``A`` and ``B``, not the decay, and no origin-destination table ships with seoulfall to
fit it to. ``beta`` is therefore a choice, ``commute.decay_per_km`` (default 0.25 per km);
the mean journey it gives is :func:`mean_journey_km` (docs/model.md gives the figures).

Within its district by day a commuter's cell is drawn weighted by the cells' residents
(the dong densities, none on the mountains). Maps without daytime data (Hyosan, the
reference maps, a world file) take the residents as the daytime population: people still
travel, but no district fills by day.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from seoulfall.schema import ScenarioError

#: Mean distance between two random points of a unit-radius disc (128 / 45 pi).
_DISC_MEAN = 128.0 / (45.0 * np.pi)


def daytime_population(folder: Path, codes: list[str]) -> np.ndarray:
    """Seoul's daytime living population per district, in the order of ``codes``."""
    with open(folder / "gu_daytime.csv", encoding="utf-8") as f:
        rows = {r["gu_code"]: float(r["day_living_pop"]) for r in csv.DictReader(f)}
    return np.array([rows[c] for c in codes])


def district_geometry(world) -> tuple[np.ndarray, np.ndarray]:
    """Each district's population centre (row, col, in cells) and land area (cells)."""
    nd = len(world.district_codes)
    d = world.district.ravel()
    w = world.residents.ravel().astype(float)
    rows, cols = np.divmod(np.arange(d.size), world.shape[1])
    on = (d >= 0) & world.land.ravel()
    area = np.bincount(d[on], minlength=nd).astype(float)
    ww = np.where(w[on] > 0, w[on], 1e-9)  # a district with no residents: its land's centre
    tot = np.bincount(d[on], ww, nd)
    centre = np.stack(
        [np.bincount(d[on], ww * rows[on], nd) / tot, np.bincount(d[on], ww * cols[on], nd) / tot],
        axis=1,
    )
    return centre, area


def distances_km(world) -> np.ndarray:
    """Distances between the districts (km; the diagonal: the mean within a district)."""
    centre, area = district_geometry(world)
    km = world.cell_m / 1000.0
    dist = np.hypot(*(centre[:, None, :] - centre[None, :, :]).transpose(2, 0, 1)) * km
    np.fill_diagonal(dist, _DISC_MEAN * np.sqrt(area / np.pi) * km)
    return dist


def furness(origins, destinations, deterrence, tol=1e-10, max_iter=10_000) -> np.ndarray:
    """The doubly constrained flows: rows sum to ``origins``, columns to ``destinations``."""
    t = deterrence * origins[:, None] * destinations[None, :]
    for _ in range(max_iter):
        rs = t.sum(axis=1)
        t *= np.divide(origins, rs, out=np.zeros_like(rs), where=rs > 0)[:, None]
        cs = t.sum(axis=0)
        t *= np.divide(destinations, cs, out=np.zeros_like(cs), where=cs > 0)[None, :]
        if np.abs(t.sum(axis=1) - origins).max() <= tol * max(1.0, origins.max()):
            return t
    raise ScenarioError("commute: the gravity model did not balance (no flows can meet them)")


def mean_journey_km(flows: np.ndarray, dist: np.ndarray) -> float:
    """The mean distance of the model's journeys (km)."""
    return float((flows * dist).sum() / flows.sum())


def day_targets(world, residents: np.ndarray, commuters: np.ndarray, folder: Path | None):
    """What each district must receive by day: its daytime share less those who stay home.

    ``residents``, ``commuters``: agents per district. ``folder``: where ``gu_daytime.csv``
    lies (``None``: the map has no daytime data; the residents stand in for it).
    """
    if folder is None:
        day = residents.astype(float)
    else:
        day = daytime_population(folder, list(world.district_codes))
    want = day / day.sum() * residents.sum() - (residents - commuters)
    low = np.flatnonzero(want < 0)
    if low.size:
        name = world.district_names[low[0]]
        raise ScenarioError(
            f"commute.share: too few commuters for {name} to empty to its daytime population; "
            "raise commute.share"
        )
    return want


def homes_and_day_cells(world, sc, cell: np.ndarray, aid: np.ndarray, gen, folder):
    """Each agent's (home, day cell, leaving minute, minutes away, -1) by id, int32.

    The last column is for the subway's riders (``world.subway.tables`` fills it).

    Cells are -1 for agents off the map. ``cell``, ``aid``: the agents' start cells and
    ids. Commuters are drawn from ``gen`` (a NumPy generator); a district's commuters draw
    their day districts from the gravity model's flows, then a cell there weighted by
    residents; then every agent its hours: it leaves at minute ``floor(60 (leave_hour + u
    leave_spread_h))`` of the day and stays away ``floor(60 (day_hours + v day_spread_h))``
    minutes (u, v uniform).
    """
    n = cell.size
    home = np.full((n, 5), -1, np.int32)  # the fifth: a rider's stations (world/subway.py)
    on = cell >= 0
    home[aid[on], 0] = cell[on]
    home[aid[on], 1] = cell[on]
    d = world.district.ravel()
    nd = len(world.district_codes)
    if nd == 0:
        return home
    hd = np.where(on, d[np.maximum(cell, 0)], -1)
    go = on & (hd >= 0) & (gen.random(n) < sc.commute.share)
    residents = np.bincount(hd[hd >= 0], minlength=nd)
    origins = np.bincount(hd[go], minlength=nd).astype(float)
    want = day_targets(world, residents, origins, folder)
    flows = furness(origins, want, np.exp(-sc.commute.decay_per_km * distances_km(world)))
    weight = world.residents.ravel().astype(float) * world.passable.ravel()
    cells_of = [np.flatnonzero((d == j) & (weight > 0)) for j in range(nd)]
    for i in range(nd):
        who = np.flatnonzero(go & (hd == i))
        if who.size == 0:
            continue
        p = flows[i] / flows[i].sum()
        dest = gen.choice(nd, size=who.size, p=p)
        for j in np.unique(dest):
            pick = who[dest == j]
            cj = cells_of[j]
            if cj.size == 0:
                continue  # a district nobody lives in: these stay home
            w = weight[cj]
            home[aid[pick], 1] = gen.choice(cj, size=pick.size, p=w / w.sum())
    c = sc.commute
    u, v = gen.random((2, n))
    home[:, 2] = np.floor(60.0 * (c.leave_hour + u * c.leave_spread_h))
    home[:, 3] = np.floor(60.0 * (c.day_hours + v * c.day_spread_h))
    return home
