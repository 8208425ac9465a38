"""The raster world: square cells that know their district, water, bridges and residents.

One type serves every world: Seoul (about 124,000 cells of 100 m), a single well-mixed
cell, and a square lattice. Cells are numbered row-major from the north-west corner:
``cell = row * nx + col``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from seoulfall.safeload import DamagedFile, expect, expect_unicode, read_npz

#: Order of the four neighbours in :meth:`Raster.neighbour_table`: north, south, west, east.
NEIGHBOUR_OFFSETS = ((-1, 0), (1, 0), (0, -1), (0, 1))


#: A world file unpacks to at most this many bytes (Seoul's 100 m raster: about 1.5 MB).
MAX_WORLD_BYTES = 1 << 30


@dataclass
class Raster:
    """A raster of square cells.

    Attributes
    ----------
    name : str
        World name (``seoul``, ``well-mixed``, ``lattice`` or a file stem).
    cell_m : float
        Side of a cell in metres.
    district : ndarray of int16, shape (ny, nx)
        Index into ``district_codes`` for each cell; -1 outside the map.
    water : ndarray of bool, shape (ny, nx)
        True where the cell is river.
    bridge : ndarray of int16, shape (ny, nx)
        Index into ``bridge_names`` for bridge cells; -1 elsewhere.
    residents : ndarray of int64, shape (ny, nx)
        Resident population of each cell at scale 1 (0 on water and outside).
    district_codes, district_names, district_names_ko, district_sides : list of str
        One entry per district.
    bridge_names : list of str
        Names of the bridges that are crossings on this map.
    places : dict
        Named places (``{"Hyosan High School": [row, col]}``) that events can name.
    dong : ndarray of int16, shape (ny, nx), optional
        Index into ``dong_codes`` of each cell's administrative dong (Seoul); -1 off the map.
    dong_codes, dong_names : list of str
        One entry per dong (10-digit code, Korean name).
    residents_dong : ndarray of int64, shape (ny, nx), optional
        Residents placed by dong (``world.residents = "dong"``; see ``world/dong.py``).
    geo : dict
        Georeference: ``lon0``, ``lat0`` (projection centre), ``x0``, ``y0`` (metres of the
        north-west corner in the local projection). Empty for synthetic worlds.
    """

    name: str
    cell_m: float
    district: np.ndarray
    water: np.ndarray
    bridge: np.ndarray
    residents: np.ndarray
    district_codes: list[str]
    district_names: list[str]
    district_names_ko: list[str] = field(default_factory=list)
    district_sides: list[str] = field(default_factory=list)
    bridge_names: list[str] = field(default_factory=list)
    geo: dict = field(default_factory=dict)
    places: dict = field(default_factory=dict)
    dong: np.ndarray | None = None
    dong_codes: list[str] = field(default_factory=list)
    dong_names: list[str] = field(default_factory=list)
    residents_dong: np.ndarray | None = None

    def zones(self) -> np.ndarray:
        """Each cell's zone for the daily journeys (flat; -1: none).

        Its dong, or on maps without dongs its district.
        """
        z = self.district if self.dong is None else self.dong
        return z.ravel().astype(np.int32)

    def with_residents(self, placement: str | None) -> Raster:
        """The raster with its residents placed as ``world.residents`` says.

        ``"dong"``: by dong where the raster has them; ``"district"`` or unset: its own
        residents (evenly over each district's land, on Seoul).
        """
        if placement == "dong" and self.residents_dong is not None:
            return replace(self, residents=self.residents_dong)
        return self

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx): rows and columns."""
        return self.district.shape

    @property
    def ncells(self) -> int:
        """Number of cells, passable or not."""
        return int(self.district.size)

    @property
    def inside(self) -> np.ndarray:
        """Cells on the map (belonging to a district)."""
        return self.district >= 0

    @property
    def land(self) -> np.ndarray:
        """Cells on the map that are not water."""
        return self.inside & ~self.water

    @property
    def passable(self) -> np.ndarray:
        """Cells agents may stand on: land, and bridge cells over water."""
        return self.inside & (~self.water | (self.bridge >= 0))

    def neighbour_table(self, passable: np.ndarray | None = None) -> np.ndarray:
        """Passable von Neumann neighbours of every cell.

        Parameters
        ----------
        passable : ndarray of bool, optional
            Mask to use instead of :attr:`passable` (for example with closed bridges).

        Returns
        -------
        ndarray of int32, shape (ncells, 4)
            Neighbour cell index in the order of :data:`NEIGHBOUR_OFFSETS`, or -1 where the
            neighbour is off the raster or impassable.
        """
        ok = self.passable if passable is None else passable
        ny, nx = self.shape
        idx = np.arange(ny * nx, dtype=np.int32).reshape(ny, nx)
        table = np.full((ny, nx, 4), -1, dtype=np.int32)
        for k, (dr, dc) in enumerate(NEIGHBOUR_OFFSETS):
            src = (slice(max(0, -dr), ny - max(0, dr)), slice(max(0, -dc), nx - max(0, dc)))
            dst = (slice(max(0, dr), ny - max(0, -dr)), slice(max(0, dc), nx - max(0, -dc)))
            table[src + (k,)] = np.where(ok[dst], idx[dst], -1)
        table[~ok] = -1
        return table.reshape(ny * nx, 4)

    def edge_exits(self, clear_of_water: int = 2) -> np.ndarray:
        """Where the map's land goes on beyond its edge: the links of the open edge.

        A land cell (not a bridge) links to the land beyond in each direction where its
        neighbour is off the map (outside every district, or off the raster) and open to the
        raster's rim (a hole between districts, where no district's polygon holds a cell's
        centre, leads nowhere), unless water lies within ``clear_of_water`` cells: where a
        river leaves the map it goes on beyond, and nobody walks out along it.

        Returns
        -------
        ndarray of bool, shape (ncells, 4)
            True where the cell's neighbour in that direction (:data:`NEIGHBOUR_OFFSETS`
            order) is the land beyond.
        """
        ny, nx = self.shape
        off = np.pad(~self.inside, 1, constant_values=True)  # off the map, the raster's rim too
        regions, _ = ndimage.label(off)  # 4-connected
        off = regions == regions[0, 0]  # what the rim reaches
        side = 2 * clear_of_water + 1  # water within the square of this side around a cell
        wet = ndimage.binary_dilation(self.water, structure=np.ones((side, side), bool))
        ok = self.land & (self.bridge < 0) & ~wet
        out = np.zeros((ny, nx, 4), bool)
        for j, (dr, dc) in enumerate(NEIGHBOUR_OFFSETS):
            out[..., j] = ok & off[1 + dr : 1 + dr + ny, 1 + dc : 1 + dc + nx]
        return out.reshape(ny * nx, 4)

    def district_index(self, key: str) -> int:
        """Index of a district given its code or English name (see :func:`find_district`)."""
        return find_district(key, self.district_codes, self.district_names)

    # -- persistence: the documented world format (.npz) -----------------------------------
    def save(self, path: str | Path) -> None:
        """Write the raster in seoulfall's world format (a compressed ``.npz``).

        The file holds the arrays ``district`` (int16), ``water`` (bool), ``bridge`` (int16),
        ``residents`` (int64) and ``meta``: a JSON string with every other attribute.
        """
        meta = {
            "format": "seoulfall-world",
            "version": 1,
            "name": self.name,
            "cell_m": self.cell_m,
            "district_codes": self.district_codes,
            "district_names": self.district_names,
            "district_names_ko": self.district_names_ko,
            "district_sides": self.district_sides,
            "bridge_names": self.bridge_names,
            "places": self.places,
            "geo": self.geo,
        }
        arrays = {}
        if self.dong is not None:
            meta.update(dong_codes=self.dong_codes, dong_names=self.dong_names)
            arrays = {"dong": self.dong.astype(np.int16),
                      "residents_dong": self.residents_dong.astype(np.int64)}  # fmt: skip
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(
            tmp,
            district=self.district.astype(np.int16),
            water=self.water.astype(bool),
            bridge=self.bridge.astype(np.int16),
            residents=self.residents.astype(np.int64),
            meta=np.array(json.dumps(meta, ensure_ascii=False)),
            **arrays,
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> Raster:
        """Read a raster written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a seoulfall world file.
        """
        try:
            z = read_npz(path, str(path), limit=MAX_WORLD_BYTES)
            meta = json.loads(str(expect_unicode(z, "meta", str(path), ())))
        except (DamagedFile, ValueError) as exc:
            raise ValueError(f"{path}: not a seoulfall world file ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != "seoulfall-world":
            raise ValueError(f"{path}: not a seoulfall world file")
        try:
            arrays = {
                "district": expect(z, "district", str(path), np.int16, (None, None)),
                "water": expect(z, "water", str(path), bool, (None, None)),
                "bridge": expect(z, "bridge", str(path), np.int16, (None, None)),
                "residents": expect(z, "residents", str(path), np.int64, (None, None)),
            }
            if "dong" in z:  # optional: where residents live by dong (Seoul)
                arrays["dong"] = expect(z, "dong", str(path), np.int16, (None, None))
                arrays["residents_dong"] = expect(
                    z, "residents_dong", str(path), np.int64, (None, None)
                )
        except DamagedFile as exc:
            raise ValueError(str(exc).removeprefix(f"{path}: ")) from None
        shapes = {a.shape for a in arrays.values()}
        if len(shapes) != 1 or min(next(iter(shapes))) < 1:
            raise ValueError(f"{path}: world arrays must share one 2-D shape")
        text_lists = ("district_codes", "district_names", "district_names_ko",
                      "district_sides", "bridge_names", "dong_codes", "dong_names")  # fmt: skip
        for key in text_lists:
            v = meta.get(key, [])
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ValueError(f"{path}: meta {key} must be a list of text")
        if not isinstance(meta.get("name"), str) or not isinstance(
            meta.get("cell_m"), (int, float)
        ):
            raise ValueError(f"{path}: meta needs a name and cell_m")
        if not 10.0 <= float(meta["cell_m"]) <= 5000.0:
            raise ValueError(f"{path}: cell_m = {meta['cell_m']} outside [10, 5000]")
        nd, nb = len(meta.get("district_codes", [])), len(meta.get("bridge_names", []))
        if nd < 1 or len(meta.get("district_names", [])) != nd:
            raise ValueError(f"{path}: one name per district code is needed")
        d, b, r = arrays["district"], arrays["bridge"], arrays["residents"]
        if d.min() < -1 or d.max() >= nd or b.min() < -1 or b.max() >= nb:
            raise ValueError(f"{path}: district or bridge indices outside the lists")
        if r.min() < 0 or r.sum() > 200_000_000:
            raise ValueError(f"{path}: residents must be 0 to 200,000,000 in all")
        if "dong" in arrays:
            nk, g, rd = len(meta.get("dong_codes", [])), arrays["dong"], arrays["residents_dong"]
            if len(meta.get("dong_names", [])) != nk or g.min() < -1 or g.max() >= nk:
                raise ValueError(f"{path}: dong indices outside the lists of dongs")
            if rd.min() < 0 or rd.sum() > 200_000_000 or ((g < 0) & (rd > 0)).any():
                raise ValueError(f"{path}: residents_dong must be 0 to 200,000,000, in dongs")
        places = meta.get("places", {})
        ny, nx = d.shape
        if not isinstance(places, dict) or not all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(i, int) for i in v)
            and 0 <= v[0] < ny and 0 <= v[1] < nx for v in places.values()
        ):  # fmt: skip
            raise ValueError(f"{path}: places must be [row, col] cells of the map")
        if not isinstance(meta.get("geo", {}), dict):
            raise ValueError(f"{path}: geo must be a table")
        return cls(
            name=meta["name"],
            cell_m=float(meta["cell_m"]),
            district=arrays["district"].astype(np.int16),
            water=arrays["water"].astype(bool),
            bridge=arrays["bridge"].astype(np.int16),
            residents=arrays["residents"].astype(np.int64),
            district_codes=list(meta["district_codes"]),
            district_names=list(meta["district_names"]),
            district_names_ko=list(meta.get("district_names_ko", [])),
            district_sides=list(meta.get("district_sides", [])),
            bridge_names=list(meta.get("bridge_names", [])),
            geo=dict(meta.get("geo", {})),
            places={k: list(v) for k, v in meta.get("places", {}).items()},
            dong=arrays.get("dong"),
            dong_codes=list(meta.get("dong_codes", [])),
            dong_names=list(meta.get("dong_names", [])),
            residents_dong=arrays.get("residents_dong"),
        )


def well_mixed(agents: int) -> Raster:
    """A single cell holding everybody: the well-mixed reference world."""
    return Raster(
        name="well-mixed",
        cell_m=100.0,
        district=np.zeros((1, 1), np.int16),
        water=np.zeros((1, 1), bool),
        bridge=np.full((1, 1), -1, np.int16),
        residents=np.full((1, 1), agents, np.int64),
        district_codes=["0"],
        district_names=["well-mixed"],
    )


def lattice(size: int, agents: int, cell_m: float = 100.0) -> Raster:
    """A ``size`` x ``size`` square lattice of land cells, residents spread evenly."""
    n = size * size
    per = np.full(n, agents // n, np.int64)
    per[: agents % n] += 1
    return Raster(
        name="lattice",
        cell_m=cell_m,
        district=np.zeros((size, size), np.int16),
        water=np.zeros((size, size), bool),
        bridge=np.full((size, size), -1, np.int16),
        residents=per.reshape(size, size),
        district_codes=["0"],
        district_names=["lattice"],
    )


def find_district(key: str, codes: list[str], names: list[str]) -> int:
    """Index of a district by code or English name, case-insensitive, ``-gu`` optional.

    ``Gangnam``, ``gangnam-gu`` and ``11680`` all name Gangnam-gu.

    Raises
    ------
    KeyError
        If no district matches; the message lists the allowed names.
    """
    k = str(key).strip().lower()
    for i, (code, name) in enumerate(zip(codes, names)):
        n = name.lower()
        if k in (code.lower(), n, n.removesuffix("-gu")):
            return i
    from difflib import get_close_matches

    near = get_close_matches(str(key), names, n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise KeyError(f"unknown district {key!r}{hint}; allowed: " + ", ".join(names))
