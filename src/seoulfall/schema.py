"""The scenario schema's groundwork: the strict table model, places, bounds and errors.

Every table of a scenario (``seoulfall.scenario``) and every event type of the playbook
(``seoulfall.playbook``) derives from :class:`Table`: unknown keys, wrong types and values
out of range are refused, and numbers must be TOML numbers.
"""

from __future__ import annotations

import typing
from datetime import timedelta, timezone

from pydantic import BaseModel, ConfigDict, Field, field_validator

KST = timezone(timedelta(hours=9), "KST")
SYNTHETIC_MAPS = ("well-mixed", "lattice")
BUILTIN_MAPS = ("seoul", "hyosan") + SYNTHETIC_MAPS


class ScenarioError(ValueError):
    """A scenario that cannot be loaded or validated; the message is one line for users."""


def check_cell(v):
    """A cell given as [row, col] with non-negative integers (or unset)."""
    if v is not None and (len(v) != 2 or min(v) < 0):
        raise ValueError("must be [row, col] with non-negative integers")
    return v


#: The longest time a scenario may name (minutes): ten years, the bound of ``time.days``.
MAX_MINUTES = 3650 * 1440.0
#: The most steps a run may take (``time.days`` x 1440 / ``time.dt_min``).
MAX_STEPS = 10_000_000
#: A scenario file is small: larger files are refused before they are read.
MAX_FILE_BYTES = 1 << 20


def _is_number_field(annotation) -> bool:
    args = typing.get_args(annotation) if typing.get_origin(annotation) else (annotation,)
    return any(a in (int, float) for a in args)


class Table(BaseModel):
    """A table of a scenario: strict keys, finite numbers, checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, v, info):
        """Numbers must be TOML numbers: ``true`` or ``"10"`` are not silently converted."""
        field = cls.model_fields.get(info.field_name)
        if field is not None and _is_number_field(field.annotation):
            if isinstance(v, (bool, str)):
                kind = "a boolean" if isinstance(v, bool) else "a string"
                raise ValueError(f"expected a number, got {kind}")
        return v


class Placed(Table):
    """A table with a place: a district or a cell."""

    district: str | None = Field(
        None,
        description="district: gu code or English name (Seoul); the cell is drawn from "
        "the seed among its residents. Events and sounds may say `outbreak`: the outbreak's "
        "district (`outbreak.district`, else where most of the first zombies stand)",
    )
    cell: list[int] | None = Field(None, description="cell as [row, col]; overrides `district`")

    _two = field_validator("cell")(classmethod(lambda cls, v: check_cell(v)))
