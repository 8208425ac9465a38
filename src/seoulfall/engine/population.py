"""Create the agents of a scenario on its world (structure of arrays, sorted by cell)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seoulfall import safeload
from seoulfall.engine import kernels as K
from seoulfall.engine import rng, states
from seoulfall.scenario import SYNTHETIC_MAPS, Scenario, ScenarioError
from seoulfall.world import Raster


@dataclass
class Agents:
    """Agents as a structure of arrays (13 bytes per agent).

    ``cell`` (int32, -1 off the map); ``state`` (uint8: the state in the low three bits, see
    ``kernels.STATE_NAMES``, then the hybrid-carrier and shelter flags and the strength
    level); ``timer`` (float32: minutes left before an infected agent turns, bites a zombie
    has fed on, minutes since a hybrid fed); ``aid`` (int32, the agent's permanent id, which
    keys its random numbers; the named characters are ids ``0 .. ncast - 1``).
    """

    cell: np.ndarray
    state: np.ndarray
    timer: np.ndarray
    aid: np.ndarray

    def states(self) -> np.ndarray:
        """Each agent's state (``kernels.STATE_NAMES`` index), without the trait bits."""
        return self.state & K.STATE_MASK

    def soldiers(self) -> np.ndarray:
        """Which agents are soldiers: humans of the soldiers' strength level (a mask)."""
        return (self.states() == K.HUMAN) & ((self.state >> K.LEVEL_SHIFT) == K.SOLDIER_LEVEL)

    def strength(self) -> np.ndarray:
        """Each agent's fighting strength (meaningful for humans)."""
        return K.STRENGTH_LEVELS[self.state >> K.LEVEL_SHIFT]

    @property
    def n(self) -> int:
        """Number of agents."""
        return int(self.cell.size)

    # -- a checkpoint's part: to_checkpoint, check_checkpoint, from_checkpoint ---------------
    ARRAYS = ("cell", "state", "timer", "aid")

    def to_checkpoint(self) -> tuple[dict, dict]:
        """What a checkpoint keeps: (JSON fields, arrays)."""
        return {}, {k: getattr(self, k) for k in self.ARRAYS}

    def check_checkpoint(self, meta: dict, z: dict, what: str, passable: np.ndarray) -> dict:
        """Checked copies of a checkpoint's agents (``DamagedFile`` naming what is wrong)."""
        E, R = safeload.expect, safeload.in_range
        got = {
            k: E(z, k, what, getattr(self, k).dtype, getattr(self, k).shape) for k in self.ARRAYS
        }
        cell, state, aid, n = got["cell"], got["state"], got["aid"], self.n
        R(cell, K.LEFT_AT - (passable.size - 1), passable.size - 1, "cell", what)
        R(got["timer"], -3.0e38, 3.0e38, "timer", what)
        R(aid, 0, n - 1, "aid", what)
        if np.bincount(aid, minlength=n).max(initial=0) > 1:
            raise safeload.DamagedFile(f"{what}: aid is not a permutation of the agents")
        kind = state & K.STATE_MASK
        on = cell >= 0
        if not passable[cell[on]].all():
            raise safeload.DamagedFile(f"{what}: an agent stands on an impassable cell")
        left = K.reported_states(state[cell <= K.LEFT_AT])  # over the open edge, from a cell
        if (kind[on] > K.DEAD).any() or (kind[~on] < K.DEAD).any():
            raise safeload.DamagedFile(f"{what}: an agent's state does not fit where it stands")
        if ((left != K.FLED) & (left != K.ESCAPED)).any():
            raise safeload.DamagedFile(f"{what}: an agent off the map names a cell it left from")
        return got

    def from_checkpoint(self, checked: dict) -> None:
        """Take the agents :meth:`check_checkpoint` returned."""
        for k in self.ARRAYS:
            getattr(self, k)[:] = checked[k]


def agents_per_cell(world: Raster, sc: Scenario, gen: np.random.Generator) -> np.ndarray:
    """Agents in each cell: residents x scale, rounded per district, placed by weight."""
    res = world.residents.ravel()
    if world.name in SYNTHETIC_MAPS or sc.population.scale == 1.0:
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


def start_cell(
    world: Raster,
    sc: Scenario,
    gen: np.random.Generator,
    place=None,
    where="outbreak",
    outbreak_district: int | None = None,
) -> int:
    """A place's cell (``place`` defaults to the outbreak).

    Given, the centre of a synthetic map, or drawn among the residents of its district (or
    of the whole map). ``district = "outbreak"`` is the district ``outbreak_district``
    (:func:`outbreak_district`), so that a playbook follows an outbreak moved elsewhere.
    """
    ny, nx = world.shape
    ob = sc.outbreak if place is None else place
    if ob.cell is not None:
        r, c = ob.cell
        if r >= ny or c >= nx or not world.passable[r, c]:
            raise ScenarioError(
                f"{where}.cell = {ob.cell}: not a passable cell of this {ny}x{nx} map"
            )
        return r * nx + c
    if world.name in SYNTHETIC_MAPS:
        return (ny // 2) * nx + nx // 2
    weight = world.residents.ravel().astype(float)
    if ob.district is not None:
        if ob.district == OUTBREAK and place is not None:
            d = outbreak_district
        else:
            try:
                d = world.district_index(ob.district)
            except KeyError as exc:
                raise ScenarioError(f"{where}.district: {exc.args[0]}") from None
        weight = weight * (world.district.ravel() == d)
    if weight.sum() <= 0:
        raise ScenarioError(f"{where}: nobody lives there to start from")
    return int(gen.choice(weight.size, p=weight / weight.sum()))


#: ``district = "outbreak"`` in an event or a sound: the outbreak's district.
OUTBREAK = "outbreak"


def outbreak_district(world: Raster, sc: Scenario, agents: Agents) -> int:
    """The outbreak's district (an index of ``world.district_codes``).

    ``outbreak.district`` if given, else the district where most of the first zombies stand
    (ties: the lowest index; -1 with none on the map).
    """
    if sc.outbreak.district is not None:
        return world.district_index(sc.outbreak.district)
    zombies = agents.cell[(agents.states() == K.ZOMBIE) & (agents.cell >= 0)]
    d = world.district.ravel()[zombies]
    d = d[d >= 0]
    return int(np.bincount(d).argmax()) if d.size else -1


def strength_levels(n: int, sigma: float, gen: np.random.Generator) -> np.ndarray:
    """Per-person strength levels: log-normal around 1, rounded to the nearest level.

    At most 3: the top level, 5, is the soldiers'.
    """
    if sigma <= 0.0:
        return np.full(n, K.LEVEL_ONE, np.uint8)
    return nearest_level(np.minimum(np.exp(sigma * gen.standard_normal(n)), 3.0))


def nearest_level(strength) -> np.ndarray:
    """Index of the nearest strength level (in log space) for each strength."""
    order = np.argsort(K.STRENGTH_LEVELS)
    logs = np.log(K.STRENGTH_LEVELS[order])
    edges = (logs[1:] + logs[:-1]) / 2
    return order[np.searchsorted(edges, np.log(np.asarray(strength, float)))].astype(np.uint8)


_CAST_STATE = states.CAST


def place_cast(world: Raster, sc: Scenario, gen, cell, state, aid) -> None:
    """Make the residents nearest each character's start its agent, with ids 0 .. ncast-1.

    Characters who give the same place start in the same (drawn) cell, together; one who
    gives a district is one of its residents while any is free (the nearest agent may live
    across the district's border, or the river), then the nearest other agent.
    """
    nx = world.shape[1]
    r, q = divmod(cell.astype(np.int64), nx)
    taken = state != K.HUMAN
    starts: dict = {}
    for m, ch in enumerate(sc.cast):
        key = (ch.district, tuple(ch.cell) if ch.cell else None)
        if key not in starts:
            starts[key] = start_cell(world, sc, gen, ch, f"cast.{m}")
        c0 = starts[key]
        d2 = (r - c0 // nx) ** 2 + (q - c0 % nx) ** 2
        d2[taken] = np.iinfo(np.int64).max
        if ch.cell is None and ch.district is not None:  # the district's residents first
            d = world.district_index(ch.district)
            away = world.district.ravel()[np.maximum(cell, 0)] != d
            d2[away & ~taken] += 1 << 40  # beyond any distance on the map
        j = int(np.argmin(d2))
        if taken[j]:
            raise ScenarioError(f"cast: more characters than free agents ({len(sc.cast)})")
        taken[j] = True
        b = _CAST_STATE[ch.state]
        if ch.state == "human" or ch.state == "infected":
            b |= int(nearest_level([ch.strength])[0]) << K.LEVEL_SHIFT
        if ch.state == "hybrid" and ch.kind == "carrier":
            b |= K.CARRIER
        state[j] = b
        p = int(np.flatnonzero(aid == m)[0])  # swap ids: the character gets id m
        aid[p], aid[j] = aid[j], aid[p]


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
    traits = np.random.default_rng([seed, rng.SETUP, 1])  # apart: placement stays the same
    levels = strength_levels(n, sc.human.strength_sigma, traits)
    state = (levels << K.LEVEL_SHIFT).astype(np.uint8)
    zombies = sc.outbreak.zombies
    if zombies > n:
        raise ScenarioError(f"outbreak.zombies = {zombies}: more than the {n} agents")
    if zombies:
        c0 = start_cell(world, sc, gen)
        nx = world.shape[1]
        r, q = divmod(cell.astype(np.int64), nx)
        d2 = (r - c0 // nx) ** 2 + (q - c0 % nx) ** 2
        if sc.outbreak.district is not None and sc.outbreak.cell is None:
            # the outbreak starts inside its district: its agents first, nearest first
            home = world.district.ravel()[cell] == world.district_index(sc.outbreak.district)
            d2 = np.where(home, d2, d2 + (1 << 40))
        state[np.argsort(d2, kind="stable")[:zombies]] = K.ZOMBIE
    aid = np.arange(n, dtype=np.int32)
    if sc.cast:
        if len(sc.cast) > n - zombies:
            raise ScenarioError(f"cast: {len(sc.cast)} characters but only {n - zombies} humans")
        place_cast(world, sc, gen, cell, state, aid)
    reserve = sum(soldiers(world, sc, e) for e in sc.events if e.enabled)
    if reserve:  # the soldiers wait off the map from the start (SPEC §5)
        cell = np.concatenate([cell, np.full(reserve, -1, np.int32)])
        byte = K.RESERVE | (K.SOLDIER_LEVEL << K.LEVEL_SHIFT)
        state = np.concatenate([state, np.full(reserve, byte, np.uint8)])
        aid = np.concatenate([aid, np.arange(n, n + reserve, dtype=np.int32)])
        n += reserve
    return Agents(cell=cell, state=state, timer=np.zeros(n, np.float32), aid=aid)


def soldiers(world: Raster, sc: Scenario, event) -> int:
    """Agents a ``deploy_soldiers`` event brings: its count, scaled on resident maps."""
    if event.type != "deploy_soldiers":
        return 0
    return event.agents(world.name, sc.population.scale)
