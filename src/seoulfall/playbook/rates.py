"""``set_rate``: a rate of the model changes during the run (a studio slider, or a story's turn)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seoulfall.engine.parameters import MAX_RATE_FACTOR, RATE_KEYS
from seoulfall.playbook.base import EventBase


class SetRate(EventBase):
    """A rate multiplied by a factor from the moment it fires (to the end of the run).

    The factor applies to the scenario's own value (a later `set_rate` of the same rate
    replaces an earlier one; 1 gives the scenario's value back), by day and by night, and to
    every parameter that follows the rate: `zombie.bite_rate` is the bites of zombies and of
    evolved zombies, `human.kill_rate` the humans' kills of both. The studio's rate sliders
    fire it.
    """

    type: Literal["set_rate"]
    rate: Literal[RATE_KEYS] = Field(..., description="the scenario key of the rate")
    factor: float = Field(
        ...,
        ge=0.0,
        le=MAX_RATE_FACTOR,
        description="multiplies the scenario's value of the rate (1: unchanged)",
    )

    def fire(self, book, i: int, step: int, rec: dict) -> None:  # noqa: D102
        book.sim.stepper.scale_rate(self.rate, self.factor)
        rec["rate"] = self.rate
        rec["factor"] = self.factor
