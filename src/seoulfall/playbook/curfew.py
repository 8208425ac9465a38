"""``curfew``: martial law keeps people at home."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seoulfall.engine.parameters import FLOAT
from seoulfall.playbook.alert import end_journeys
from seoulfall.playbook.base import EventBase


class Curfew(EventBase):
    """A curfew: from the moment it fires, people stay home.

    Humans and the infected who sense no zombie (soldiers on patrol too) no longer drift
    about the city: their drift speed is multiplied by `drift_factor` (0: they stay where
    they are) to the end of the run. In a city with daily journeys (`[commute]`) nobody
    leaves home any more and those away head home first, as after a `public_alert`.
    Fleeing, sheltering, fighting, soldiers closing on zombies and evacuations are not
    affected.
    """

    type: Literal["curfew"]
    drift_factor: float = Field(
        0.0, ge=0.0, le=1.0, description="share of their drift speed that humans keep"
    )

    def fire(self, book, i: int, step: int, rec: dict) -> None:  # noqa: D102
        st = book.sim.stepper
        drift = float(st.P[FLOAT.slot("h_drift")])
        st.set_param("h_drift", drift * self.drift_factor)
        rec["drift_factor"] = self.drift_factor
        if end_journeys(st):  # home first: the journeys end
            rec["commuting_stopped"] = True
