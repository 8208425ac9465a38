"""What every event of the playbook shares: when it fires, and the protocol it follows.

An event type is one module of this package: a pydantic model of its ``[[events]]`` table
(derived from :class:`EventBase`, or :class:`PlacedEvent` when it happens somewhere) with
its own fields, and three methods the :class:`~seoulfall.playbook.runner.Playbook` calls:

- :meth:`EventBase.check` against the scenario's map, when the scenario is validated;
- :meth:`EventBase.prepare`, once, before step 0: resolve places (drawn from the seed);
- :meth:`EventBase.fire`, at the start of the step it fires: act on the run through the
  playbook's helpers, and fill the record written to ``events.jsonl``.

The types are gathered into one union tagged by ``type`` in ``playbook/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from seoulfall.schema import KST, MAX_MINUTES, Placed, Table

TRIGGERS = ("first_zombie_south", "first_zombie_north", "first_zombie_in")
#: The keys that say when an event fires: exactly one of them is set.
WHEN = ("at_min", "day", "at", "trigger")


@dataclass(frozen=True)
class MapFacts:
    """What a scenario's cross-checks know of its map before it is loaded."""

    map: str
    synthetic: bool
    district_rows: list | None  # Seoul's districts (code, name_en, ...), else None
    bridges: list[str] | None  # Seoul's crossing bridges, else None
    lures: set[str]  # the names of the scenario's sound lures
    subway_lines: list[str] | None = None  # Seoul's subway lines, else None
    stations: set[str] | None = None  # their stations' names, English casefolded and Korean


class EventBase(Table):
    """Fields every event has: its type, a label, and when it fires."""

    type: str = Field(..., description="what happens: one of the types below, each its own keys")
    name: str | None = Field(None, max_length=80, description="a label (airstrikes name lures)")
    enabled: bool = Field(
        True, description="false leaves the event out (`--set events.N.enabled=false`)"
    )
    at_min: float | None = Field(
        None, ge=0.0, le=MAX_MINUTES, description="fires this many minutes after the start"
    )
    day: float | None = Field(
        None,
        ge=0.0,
        le=3650.0,
        description="fires this many days after the start (`day = 2`: at 48 h)",
    )
    at: datetime | None = Field(None, description="fires at this date-time (KST unless given)")
    trigger: Literal[TRIGGERS] | None = Field(
        None,
        description="fires at the first step that starts with a zombie (or evolved zombie) "
        "south of the Han, north of it, or in `trigger_district` (Seoul)",
    )
    trigger_district: str | None = Field(None, description="district for `first_zombie_in`")

    #: Whether firing cuts links of the map (an evacuation's routes are then recomputed).
    cuts_links: ClassVar[bool] = False

    @model_validator(mode="after")
    def _when(self) -> Any:
        when = [k for k in WHEN if getattr(self, k) is not None]
        if len(when) != 1:
            raise ValueError(
                f"{self.type}: give exactly one of at_min, day, at or trigger (got "
                f"{', '.join(when) or 'none'})"
            )
        if self.trigger == "first_zombie_in" and not self.trigger_district:
            raise ValueError("trigger = 'first_zombie_in' needs trigger_district")
        if self.at is not None and self.at.tzinfo is None:
            self.at = self.at.replace(tzinfo=KST)
        return self

    # -- the protocol ----------------------------------------------------------------------
    def district_names(self) -> list[str]:
        """The districts the event names (checked against the map)."""
        return [d for d in (self.trigger_district,) if d]

    def check(self, where: str, facts: MapFacts) -> None:
        """Refuse what the map cannot do (a ``ValueError`` naming ``where``)."""

    def prepare(self, book, i: int) -> None:
        """Resolve what can be resolved before step 0 (``i``: the event's index)."""

    def fire(self, book, i: int, step: int, rec: dict) -> None:
        """Act at the start of ``step``; add the effect to ``rec``."""
        raise NotImplementedError


class PlacedEvent(EventBase, Placed):
    """An event that happens somewhere: a district, a cell (``Placed``), or a named place."""

    place: str | None = Field(None, description="a named place of the world (Hyosan)")

    @model_validator(mode="after")
    def _placed(self) -> Any:
        if self.needs_place and not self.placed:
            raise ValueError(f"{self.type}: needs a district, cell or place")
        return self

    #: Whether the event must be given a place.
    needs_place: ClassVar[bool] = True

    @property
    def placed(self) -> bool:
        """Whether a district, cell or place is given."""
        return bool(self.district or self.cell or self.place)

    def prepare(self, book, i: int) -> None:
        """Draw the event's cell (from its own random stream: nothing else moves)."""
        super().prepare(book, i)
        if self.placed:
            book.cells[i] = book.resolve_cell(self, i)


class DistrictsEvent(EventBase):
    """An event that acts on whole districts (``districts``, checked against the map)."""

    districts: list[str] = Field([], description="the districts it acts on")

    @model_validator(mode="after")
    def _needs_districts(self) -> Any:
        if not self.districts:
            raise ValueError(f"{self.type}: needs districts = [...]")
        return self

    def district_names(self) -> list[str]:  # noqa: D102
        return list(self.districts) + super().district_names()

    def prepare(self, book, i: int) -> None:
        """Refuse an unknown district before step 0."""
        super().prepare(book, i)
        book.cells_of(self.districts)
