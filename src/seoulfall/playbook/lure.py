"""``sound_lure``: a sound source, like the army's drones, that draws zombies."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from seoulfall.playbook.base import PlacedEvent
from seoulfall.schema import MAX_MINUTES, ScenarioError, check_cell


class SoundLure(PlacedEvent):
    """A sound lure: drones or sirens that draw zombies.

    A sound source at its place, heard within `radius_m`, for `duration_min`; with a `path`
    it moves through the path's cells in equal legs. A named lure leaves a zone (its final
    cell, half its radius) that an airstrike may strike.
    """

    type: Literal["sound_lure"]
    loudness: float = Field(30.0, gt=0.0, le=1e6, description="loudness at the source")
    radius_m: float = Field(1500.0, gt=0.0, le=50_000.0, description="how far it is heard (m)")
    duration_min: float = Field(
        180.0, gt=0.0, le=MAX_MINUTES, description="how long it sounds (min)"
    )
    path: list[list[int]] = Field(
        [],
        max_length=10_000,
        description="cells [row, col] the drone flies through, evenly over the duration, "
        "after its start place",
    )

    @field_validator("path")
    @classmethod
    def _cells(cls, v):
        for i, c in enumerate(v):
            try:
                check_cell(c)
            except ValueError:
                raise ValueError(f"item {i} = {c!r}: must be [row, col] with non-negative "
                                 "integers") from None  # fmt: skip
        return v

    def prepare(self, book, i: int) -> None:  # noqa: D102
        super().prepare(book, i)
        ny, nx = book.sim.world.shape
        for r, c in self.path:
            if r >= ny or c >= nx or not book.sim.world.passable[r, c]:
                raise ScenarioError(
                    f"events.{i}.path: [{r}, {c}] is not a passable cell of this {ny}x{nx} map"
                )

    def fire(self, book, i: int, step: int, rec: dict) -> None:  # noqa: D102
        sim = book.sim
        nx = sim.world.shape[1]
        cells = [book.cells[i]] + [r * nx + c for r, c in self.path]
        dur = max(1, int(round(self.duration_min / book.dt)))
        legs = len(cells)
        radius = self.radius_m / sim.world.cell_m
        for k, c in enumerate(cells):
            a, b = step + k * dur // legs, step + (k + 1) * dur // legs
            sim.stepper.add_sound(c, self.loudness, radius, a, max(b, a + 1))
        if self.name:
            book.lure_zone[self.name] = (cells[-1], radius / 2)
        rec["cell"] = list(divmod(cells[-1], nx))
        rec["duration_min"] = self.duration_min
