"""Create the agents of a scenario on its world (structure of arrays, sorted by cell)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seoulfall.engine import kernels as K
from seoulfall.engine import rng
from seoulfall.scenario import Scenario, ScenarioError
from seoulfall.world import Raster


@dataclass
class Agents:
    """Agents as a structure of arrays (13 bytes per agent).

    ``cell`` (int32, -1 off the map), ``state`` (int8, see ``kernels.STATE_NAMES``),
    ``timer`` (float32, minutes left before an infected agent turns) and ``aid`` (int32,
    the agent's permanent id, which keys its random numbers).
    """

    cell: np.ndarray
    state: np.ndarray
    timer: np.ndarray
    aid: np.ndarray

    @property
    def n(self) -> int:
        """Number of agents."""
        return int(self.cell.size)


def agents_per_cell(world: Raster, sc: Scenario, gen: np.random.Generator) -> np.ndarray:
    """Agents in each cell: residents x scale, rounded per district, placed by weight."""
    res = world.residents.ravel()
    if world.name in ("well-mixed", "lattice") or sc.population.scale == 1.0:
        return res.astype(np.int64)
    out = np.zeros_like(res)
    dist = world.district.ravel()
    for d in range(len(world.district_codes)):
        where = np.flatnonzero((dist == d) & (res > 0))
        if where.size == 0:
            continue
        n = int(round(res[where].sum() * sc.population.scale))
        out[where] = gen.multinomial(n, res[where] / res[where].sum())
    return out


def start_cell(world: Raster, sc: Scenario, gen: np.random.Generator) -> int:
    """The outbreak's first cell: given, the centre of a synthetic map, or drawn in a district."""
    ny, nx = world.shape
    ob = sc.outbreak
    if ob.cell is not None:
        r, c = ob.cell
        if r >= ny or c >= nx or not world.passable[r, c]:
            raise ScenarioError(
                f"outbreak.cell = {ob.cell}: not a passable cell of this {ny}x{nx} map"
            )
        return r * nx + c
    if world.name in ("well-mixed", "lattice"):
        return (ny // 2) * nx + nx // 2
    weight = world.residents.ravel().astype(float)
    if ob.district is not None:
        weight = weight * (world.district.ravel() == world.district_index(ob.district))
    return int(gen.choice(weight.size, p=weight / weight.sum()))


def create_agents(world: Raster, sc: Scenario, seed: int) -> Agents:
    """Place the agents and turn the ``outbreak.zombies`` residents nearest the start.

    Deterministic for a (scenario, seed): placement uses a NumPy generator seeded with
    ``[seed, SETUP]``, independent of the stepping streams.
    """
    gen = np.random.default_rng([seed, rng.SETUP])
    per = agents_per_cell(world, sc, gen)
    n = int(per.sum())
    if n == 0:
        raise ScenarioError("the scenario has no agents (population too small)")
    cell = np.repeat(np.arange(per.size, dtype=np.int32), per)
    state = np.zeros(n, np.int8)
    zombies = sc.outbreak.zombies
    if zombies > n:
        raise ScenarioError(f"outbreak.zombies = {zombies}: more than the {n} agents")
    if zombies:
        c0 = start_cell(world, sc, gen)
        nx = world.shape[1]
        r, q = divmod(cell.astype(np.int64), nx)
        d2 = (r - c0 // nx) ** 2 + (q - c0 % nx) ** 2
        state[np.argsort(d2, kind="stable")[:zombies]] = K.ZOMBIE
    return Agents(
        cell=cell,
        state=state,
        timer=np.zeros(n, np.float32),
        aid=np.arange(n, dtype=np.int32),
    )
