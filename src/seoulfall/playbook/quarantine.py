"""``quarantine``: a cordon around districts; soldiers on the line may shoot zombies."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from seoulfall.engine import kernels as K
from seoulfall.playbook.base import DistrictsEvent


class Quarantine(DistrictsEvent):
    """A cordon around districts.

    Cuts every link between a cell of the cordoned districts and a cell outside: nobody
    crosses while it holds (to the end of the run). With `kill_probability` > 0, soldiers on
    the line shoot each zombie standing on a boundary cell with that probability per step.
    With a `[subway]`, the stations inside close (trains run through them without
    stopping), and a train on its way from or to a station inside goes back to the
    station it left, where everyone aboard gets off.
    """

    type: Literal["quarantine"]
    districts: list[str] = Field([], description="the cordoned districts")
    kill_probability: float = Field(
        0.9,
        ge=0.0,
        le=1.0,
        description="per-step probability that a zombie on the line is shot (0: the line "
        "only blocks)",
    )
    cuts_links = True

    def fire(self, book, i: int, step: int, rec: dict) -> None:  # noqa: D102
        inside = book.cells_of(self.districts)
        nbr = book.sim.nbr
        cut = (nbr >= 0) & (inside[:, None] != inside[np.maximum(nbr, 0)])
        cut |= (nbr == K.EXIT) & inside[:, None]  # its stretch of the city's open edge too
        edge = np.flatnonzero(cut.any(axis=1))
        nbr[cut] = -1
        if self.kill_probability > 0:
            book.sim.stepper.zk[edge] = self.kill_probability
        rec["districts"] = list(self.districts)
        rec["links_closed"] = int(cut.sum())
        rec["cells_on_line"] = int(edge.size)
        net = book.sim.subway
        if net is not None:
            rec["stations_closed"], rec["riders_off"] = seal_stations(book.sim, inside)


def seal_stations(sim, inside: np.ndarray) -> tuple[int, int]:
    """Close the stations inside a cordon (``inside``: a mask over the map's cells).

    Riders in a car that leaves or reaches a station inside get off at the station it
    left. Returns the stations closed and the riders put off.
    """
    net, st = sim.subway, sim.stepper
    groups = np.unique(net.node_group[inside[net.node_cell]])
    st.group_open[groups] = False
    st.reroute()
    left = net.node_cell[net.car_from]  # the station each car left
    back = st.leave_trains(inside[left] | inside[net.node_cell[net.car_to]], at=left)
    return int(groups.size), back
