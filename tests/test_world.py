import numpy as np
import pytest
from scipy import ndimage

from seoulfall.world import build_seoul_raster, lattice, load_seoul, well_mixed
from seoulfall.world.raster import NEIGHBOUR_OFFSETS, Raster
from seoulfall.world.seoul import read_bridges, read_districts


@pytest.fixture(scope="module")
def seoul():
    return load_seoul()


def test_seoul_has_25_districts_with_their_2024_population(seoul):
    rows = read_districts()
    assert len(seoul.district_codes) == 25
    assert seoul.residents.sum() == 9_597_372
    for i, r in enumerate(rows):
        assert seoul.residents[seoul.district == i].sum() == r["population_2024"], r["name_en"]


def test_district_areas_match_official_areas(seoul):
    cell_km2 = (seoul.cell_m / 1000) ** 2
    for i, r in enumerate(read_districts()):
        area = (seoul.district == i).sum() * cell_km2
        assert area == pytest.approx(float(r["area_km2"]), rel=0.06), r["name_en"]


def test_nobody_lives_on_water_or_bridges(seoul):
    assert seoul.residents[seoul.water].sum() == 0
    assert seoul.residents[~seoul.inside].sum() == 0


def test_the_22_bridges_between_seoul_districts_are_crossings(seoul):
    crossings = [b["name_en"] for b in read_bridges() if b["crossing"]]
    assert len(crossings) == 22
    assert seoul.bridge_names == crossings
    for i in range(22):
        assert (seoul.bridge == i).any()
    assert seoul.water[seoul.bridge >= 0].all()


def test_river_separates_north_and_south_except_by_bridges(seoul):
    north = np.isin(seoul.district, [i for i, s in enumerate(seoul.district_sides) if s == "north"])
    south = np.isin(seoul.district, [i for i, s in enumerate(seoul.district_sides) if s == "south"])
    four = ndimage.generate_binary_structure(2, 1)
    lab, _ = ndimage.label(seoul.passable, structure=four)
    big = np.bincount(lab[lab > 0]).argmax()
    assert (lab[north & seoul.land] == big).mean() > 0.99
    assert (lab[south & seoul.land] == big).mean() > 0.99
    lab_nb, _ = ndimage.label(seoul.land, structure=four)
    main_north = np.bincount(lab_nb[north & seoul.land]).argmax()
    # without bridges no southern land cell joins the main northern component
    assert not (lab_nb[south & seoul.land] == main_north).any()


def test_neighbour_table_points_only_to_passable_adjacent_cells(seoul):
    nbr = seoul.neighbour_table()
    ny, nx = seoul.shape
    ok = seoul.passable.ravel()
    cells = np.repeat(np.arange(ny * nx), 4)
    dirs = np.tile(np.arange(4), ny * nx)
    flat = nbr.ravel()
    has = flat >= 0
    assert ok[flat[has]].all()
    assert ok[cells[has]].all()
    dr = np.array([d[0] for d in NEIGHBOUR_OFFSETS])[dirs[has]]
    dc = np.array([d[1] for d in NEIGHBOUR_OFFSETS])[dirs[has]]
    assert np.array_equal(flat[has] // nx - cells[has] // nx, dr)
    assert np.array_equal(flat[has] % nx - cells[has] % nx, dc)


def test_bundled_raster_is_what_the_build_script_makes(seoul):
    fresh = build_seoul_raster()
    for name in ("district", "water", "bridge", "residents", "dong", "residents_dong"):
        assert np.array_equal(getattr(fresh, name), getattr(seoul, name)), name
    assert fresh.bridge_names == seoul.bridge_names
    assert fresh.dong_codes == seoul.dong_codes and len(seoul.dong_codes) == 425


def test_world_file_round_trip(tmp_path):
    w = lattice(7, 100)
    w.save(tmp_path / "w.npz")
    back = Raster.load(tmp_path / "w.npz")
    assert back.shape == (7, 7) and back.residents.sum() == 100
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a seoulfall world file"):
        Raster.load(tmp_path / "bad.npz")


def _centres(w):
    ny, nx = w.shape
    cx = w.geo["x0"] + (np.arange(nx) + 0.5) * w.cell_m
    cy = w.geo["y0"] - (np.arange(ny) + 0.5) * w.cell_m
    px, py = np.meshgrid(cx, cy)
    return np.column_stack([px.ravel(), py.ravel()])


def test_residents_by_dong_keep_each_districts_total_and_each_dongs_share(seoul):
    from seoulfall.world.dong import mountain_cells, read_dongs
    from seoulfall.world.seoul import data_dir

    res, dong = seoul.with_residents("dong").residents, seoul.dong
    assert seoul.with_residents(None) is seoul and seoul.with_residents("district") is seoul
    rows = read_districts()
    for i, r in enumerate(rows):  # every gu keeps its 2024 total exactly
        assert res[seoul.district == i].sum() == r["population_2024"], r["name_en"]
    # each dong holds its share of its gu's total (2021 Q2 registered population), to rounding
    dongs = read_dongs(data_dir())
    assert [d["code"] for d in dongs] == seoul.dong_codes
    gu_pop = {}
    for d in dongs:
        gu_pop[d["gu"]] = gu_pop.get(d["gu"], 0) + d["population"]
    total = {r["code"]: r["population_2024"] for r in rows}
    held = np.bincount(dong[dong >= 0], weights=res[dong >= 0], minlength=len(dongs))
    share = np.array([total[d["gu"]] * d["population"] / gu_pop[d["gu"]] for d in dongs])
    assert np.abs(held - share).max() < 1.0
    # nobody on water, outside Seoul or on a mountain; every dong is on the map
    assert res[seoul.water].sum() == 0 and res[~seoul.inside].sum() == 0
    assert (dong[seoul.inside] >= 0).all() and (dong[~seoul.inside] < 0).all()
    mountain = mountain_cells(data_dir(), _centres(seoul)).reshape(seoul.shape)
    assert (mountain & seoul.land).sum() > 1000 and res[mountain].sum() == 0
    # Gwanak-gu is no longer flat: its mountain empty, its neighbourhoods dense
    gw = (seoul.district == seoul.district_index("Gwanak-gu")) & seoul.land
    assert seoul.residents[gw].std() < 1 < 0.5 * res[gw].mean() < res[gw].std()


def test_a_world_file_with_dongs_round_trips_and_bad_dongs_are_refused(tmp_path, seoul):
    seoul.save(tmp_path / "s.npz")
    back = Raster.load(tmp_path / "s.npz")
    assert np.array_equal(back.residents_dong, seoul.residents_dong)
    assert back.dong_names == seoul.dong_names
    bad = Raster(**{**seoul.__dict__, "dong": np.where(seoul.dong >= 0, 999, -1)})
    bad.save(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="dong indices outside"):
        Raster.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("key", ["Gangnam", "gangnam-gu", "11680", " GANGNAM-GU "])
def test_districts_are_found_by_code_or_name(seoul, key):
    assert seoul.district_names[seoul.district_index(key)] == "Gangnam-gu"


def test_unknown_district_lists_allowed_names(seoul):
    with pytest.raises(KeyError, match="allowed: Jongno-gu"):
        seoul.district_index("Hyosan")


def test_synthetic_worlds():
    w = well_mixed(500)
    assert w.shape == (1, 1) and w.residents.sum() == 500
    assert (w.neighbour_table() == -1).all()
    lat = lattice(10, 105)
    assert lat.residents.sum() == 105 and lat.residents.max() - lat.residents.min() <= 1
