"""``close_bridges``: the Han River bridges close."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from seoulfall.playbook.base import EventBase, MapFacts


class CloseBridges(EventBase):
    """Cuts every link into the bridges' cells (agents on a bridge may still walk off it)."""

    type: Literal["close_bridges"]
    bridges: list[str] | Literal["all"] = Field(
        "all", description="`all` or a list of bridge names (`han_bridges.csv`)"
    )
    cuts_links = True

    def check(self, where: str, facts: MapFacts) -> None:  # noqa: D102
        if facts.bridges is not None and self.bridges != "all":
            for b in self.bridges:
                if b not in facts.bridges:
                    raise ValueError(
                        f"{where}.bridges: unknown bridge {b!r}; allowed: "
                        f"{', '.join(facts.bridges)}"
                    )

    def fire(self, book, i: int, step: int, rec: dict) -> None:  # noqa: D102
        world = book.sim.world
        names = world.bridge_names if self.bridges == "all" else list(self.bridges)
        idx = [world.bridge_names.index(b) for b in names if b in world.bridge_names]
        closed = np.isin(world.bridge.ravel(), idx) & (world.bridge.ravel() >= 0)
        nbr = book.sim.nbr
        into = (nbr >= 0) & closed[np.maximum(nbr, 0)]
        nbr[into] = -1
        rec["bridges"] = names
        rec["cells_closed"] = int(closed.sum())
