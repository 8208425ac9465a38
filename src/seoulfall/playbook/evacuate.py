"""``evacuate``: the humans of some districts head for a target and may leave the map."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from seoulfall.engine import kernels as K
from seoulfall.playbook.base import DistrictsEvent, PlacedEvent


class Evacuate(PlacedEvent, DistrictsEvent):
    """An evacuation: the humans of some districts head for a target.

    The humans of `districts` head for the target (the place) by the shortest passable way,
    at fleeing speed, fleeing zombies they sense on the way; with `remove` they leave the map
    as `evacuated` on reaching it. Soldiers stay.
    """

    type: Literal["evacuate"]
    districts: list[str] = Field([], description="where the evacuees come from")
    radius_m: float = Field(
        1500.0,
        gt=0.0,
        le=50_000.0,
        description="evacuees arrive within a third of this of the target (at least a cell)",
    )
    remove: bool = Field(
        True, description="evacuees who reach the target leave the map (`evacuated`)"
    )

    def fire(self, book, i: int, step: int, rec: dict) -> None:  # noqa: D102
        sim = book.sim
        st, a = sim.stepper, sim.agents
        src = book.cells_of(self.districts)
        states = a.states()
        who = (states == K.HUMAN) & (a.cell >= 0) & (a.cell < src.size) & ~a.soldiers()
        who[who] = src[a.cell[who]]
        a.state[who] |= K.EVACUATING
        target = book.cells[i]
        book.evac_zone = book.disc(target, max(1.0, self.radius_m / sim.world.cell_m / 3))
        book.route_evacuees()
        st.set_param("evac_remove", float(self.remove))
        rec["evacuating"] = int(who.sum())
        codes = sim.world.district_codes
        per = np.bincount(sim.cell_district[a.cell[who]], minlength=len(codes))
        # who was saved from where: an emptied district has not fallen
        rec["evacuating_from"] = {code: int(n) for code, n in zip(codes, per) if n}
        rec["target"] = list(divmod(target, sim.world.shape[1]))
