"""Worlds: the raster type, Seoul, and the synthetic reference worlds."""

from seoulfall.scenario import ScenarioError
from seoulfall.world.hyosan import build_hyosan
from seoulfall.world.raster import Raster, lattice, well_mixed
from seoulfall.world.seoul import build_seoul_raster, load_seoul

__all__ = ["Raster", "build_seoul_raster", "lattice", "load_seoul", "load_world", "well_mixed"]


def load_world(scenario) -> Raster:
    """The world a scenario names (``world.map``), built or loaded."""
    from pathlib import Path

    w = scenario.world
    if w.map == "seoul":
        return load_seoul(w.cell_m, w.river_width_m).with_residents(w.residents)
    if w.map == "hyosan":
        return build_hyosan()
    if w.map == "well-mixed":
        return well_mixed(scenario.population.agents)
    if w.map == "lattice":
        return lattice(w.size, scenario.population.agents, w.cell_m)
    if not Path(w.map).exists():
        raise ScenarioError(f"world.map = {w.map!r}: no such world file")
    try:
        return Raster.load(w.map)
    except ValueError as exc:
        raise ScenarioError(f"world.map: {exc}") from None
