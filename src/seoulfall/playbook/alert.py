"""``public_alert``: the city learns of the outbreak."""

from __future__ import annotations

from typing import Literal

from seoulfall.engine.parameters import FLOAT
from seoulfall.playbook.base import EventBase
from seoulfall.playbook.subway import stop_trains


class PublicAlert(EventBase):
    """The emergency alert sounds: from the moment it fires, nobody commutes.

    Nobody leaves home any more, and everyone away from home (at work, at school, on the
    way) heads home at the journeys' speed, unless zombies in sight make them flee first;
    at home they stay near it. It acts on the daily journeys of a `[commute]` table, and
    does nothing without one (the record says so). Fleeing, sheltering and fighting are
    unchanged. On a trigger (`first_zombie_north`, ...) it sounds when the outbreak is
    seen there. With a `[subway]` the trains stop (`subway.after_alert = "stop"`, the
    default): everyone aboard gets off at the next station.
    """

    type: Literal["public_alert"]

    def fire(self, book, i: int, step: int, rec: dict) -> None:  # noqa: D102
        sim = book.sim
        rec["commuting"] = end_journeys(sim.stepper)  # whom it reached
        if sim.subway is not None and sim.scenario.subway.after_alert == "stop":
            rec["trains_stopped"] = True
            rec["riders_off"] = stop_trains(sim.stepper)


def end_journeys(stepper) -> bool:
    """Nobody leaves home any more, everyone away heads home: whether the city commuted.

    What an alert does, and a curfew in a city with daily journeys.
    """
    commuting = bool(stepper.P[FLOAT.slot("commute")] > 0.0)
    if commuting:
        stepper.set_param("alert", 1.0)
    return commuting
