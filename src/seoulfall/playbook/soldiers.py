"""``deploy_soldiers``: soldiers waiting off the map appear in a place."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from seoulfall.engine import kernels as K
from seoulfall.playbook.base import PlacedEvent


class DeploySoldiers(PlacedEvent):
    """Soldiers deployed.

    `count` soldiers (agents waiting off the map in the `reserve` state since the start)
    appear in the place; soldiers are humans of the top strength level who advance on the
    zombies they sense instead of fleeing. Every deploy_soldiers shares one strength.
    """

    type: Literal["deploy_soldiers"]
    count: int = Field(
        10_000,
        ge=1,
        le=10_000_000,
        description="soldiers (people: scaled by `population.scale` on resident maps)",
    )
    strength: float = Field(5.0, ge=1.0, le=100.0, description="a soldier's fighting strength")

    def agents(self, world_name: str, scale: float) -> int:
        """The agents it brings: its count, scaled on resident maps."""
        if world_name in ("well-mixed", "lattice"):
            return int(self.count)
        return max(1, int(round(self.count * scale)))

    def fire(self, book, i: int, step: int, rec: dict) -> None:  # noqa: D102
        sim = book.sim
        a = sim.agents
        reserve = np.flatnonzero(a.states() == K.RESERVE)
        reserve = reserve[np.argsort(a.aid[reserve], kind="stable")]
        take = reserve[: sim.soldiers_of(self)]
        c = book.cells[i]
        a.cell[take] = c
        a.state[take] = K.HUMAN | (K.SOLDIER_LEVEL << K.LEVEL_SHIFT)
        sim.stepper.recount()
        rec["deployed"] = int(take.size)
        rec["cell"] = list(divmod(c, sim.world.shape[1]))
