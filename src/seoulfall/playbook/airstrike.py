"""``airstrike``: everyone in the area dies with a probability, zombies and humans alike."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from seoulfall.engine import kernels as K
from seoulfall.engine import rng
from seoulfall.playbook.base import MapFacts, PlacedEvent
from seoulfall.schema import ScenarioError


class Airstrike(PlacedEvent):
    """An airstrike: everyone in the area may die, zombies and humans alike.

    Each agent standing in the area (a district, a disc of `radius_m` around a cell or place,
    or the final zone of a named lure) dies with `kill_probability`.
    """

    type: Literal["airstrike"]
    radius_m: float = Field(
        1500.0,
        gt=0.0,
        le=50_000.0,
        description="radius of the strike around its centre (m, with `cell` or `place`)",
    )
    lure: str | None = Field(
        None, description="the `name` of a sound_lure whose final zone it strikes"
    )
    kill_probability: float = Field(
        0.9, ge=0.0, le=1.0, description="probability that each agent in the area dies"
    )
    needs_place = False  # a lure will do

    @model_validator(mode="after")
    def _somewhere(self) -> Airstrike:
        if not (self.placed or self.lure):
            raise ValueError("airstrike: needs a district, cell, place or lure")
        return self

    def check(self, where: str, facts: MapFacts) -> None:  # noqa: D102
        if self.lure is not None and self.lure not in facts.lures:
            raise ValueError(
                f"{where}.lure = {self.lure!r}: no sound_lure of that name; named lures: "
                f"{', '.join(sorted(facts.lures)) or 'none'}"
            )

    def zone(self, book, i: int) -> np.ndarray:
        """The struck cells (a mask over the map's cells)."""
        if self.lure is not None:
            if self.lure not in book.lure_zone:
                raise ScenarioError(f"events.{i}: airstrike on lure {self.lure!r} before it sounds")
            return book.disc(*book.lure_zone[self.lure])
        if self.district is not None and self.cell is None and self.place is None:
            return book.cells_of([self.district])
        return book.disc(book.cells[i], self.radius_m / book.sim.world.cell_m)

    def fire(self, book, i: int, step: int, rec: dict) -> None:  # noqa: D102
        sim = book.sim
        zone = self.zone(book, i)
        a = sim.agents
        states = a.states()
        hit = (a.cell >= 0) & (a.cell < zone.size) & (states < K.NLIVING)  # not underground
        hit[hit] = zone[a.cell[hit]]
        ids = np.flatnonzero(hit)
        u = rng.uniform_array(sim.seed, rng.STRIKE, step, a.aid[ids].astype(np.int64))
        dead = ids[u < self.kill_probability]
        soldier = a.soldiers()[dead]
        killed = np.bincount(states[dead], minlength=K.NLIVING)
        killed[K.HUMAN] -= int(soldier.sum())  # soldiers are counted apart
        a.state[dead] = K.DEAD
        a.timer[dead] = 0.0
        sim.stepper.recount()
        rec["cells"] = int(zone.sum())
        rr, cc = np.divmod(np.flatnonzero(zone), sim.world.shape[1])
        if rr.size:  # where it struck: the zone's centre (for the maps)
            rec["cell"] = [int(round(rr.mean())), int(round(cc.mean()))]
        rec["killed"] = {K.STATE_NAMES[k]: int(killed[k]) for k in range(K.NLIVING)}
        if soldier.any():
            rec["killed"]["soldier"] = int(soldier.sum())
