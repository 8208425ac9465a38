"""The playbook: the government's response and the story's turns (``[[events]]``).

One module per event type, each a pydantic table with its own fields that checks itself
against the map, resolves its places before step 0 and fires (``base.py`` says how); the
:data:`Event` union, tagged by ``type``, is what a scenario's ``events`` holds, and
:class:`Playbook` (``runner.py``) fires them during a run.

Adding an event type: a module here with a class derived from ``EventBase`` (or
``PlacedEvent``) whose ``type`` is a new literal, and its name in :data:`EVENT_CLASSES`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Tag

from seoulfall.playbook.airstrike import Airstrike
from seoulfall.playbook.alert import PublicAlert
from seoulfall.playbook.base import TRIGGERS, WHEN, EventBase, MapFacts, PlacedEvent
from seoulfall.playbook.bridges import CloseBridges
from seoulfall.playbook.curfew import Curfew
from seoulfall.playbook.evacuate import Evacuate
from seoulfall.playbook.lure import SoundLure
from seoulfall.playbook.quarantine import Quarantine
from seoulfall.playbook.rates import SetRate
from seoulfall.playbook.soldiers import DeploySoldiers
from seoulfall.playbook.subway import CloseSubway

#: Every event type, in the order the documentation lists them.
EVENT_CLASSES = (
    Quarantine, CloseBridges, SoundLure, Airstrike, DeploySoldiers, Evacuate, Curfew, SetRate,
    PublicAlert, CloseSubway,
)  # fmt: skip
EVENT_TYPES = tuple(c.model_fields["type"].annotation.__args__[0] for c in EVENT_CLASSES)


def _type_of(v: Any) -> Any:
    """The ``type`` of an event table (a dict as parsed, or a model)."""
    return v.get("type") if isinstance(v, dict) else getattr(v, "type", None)


#: An ``[[events]]`` table: one of the types, chosen by its ``type`` key. (A callable
#: discriminator: the tables' strict-number check runs before validation on every field,
#: which pydantic's field discriminator does not allow on ``type``.)
Event = Annotated[
    Annotated[Quarantine, Tag("quarantine")]
    | Annotated[CloseBridges, Tag("close_bridges")]
    | Annotated[SoundLure, Tag("sound_lure")]
    | Annotated[Airstrike, Tag("airstrike")]
    | Annotated[DeploySoldiers, Tag("deploy_soldiers")]
    | Annotated[Evacuate, Tag("evacuate")]
    | Annotated[Curfew, Tag("curfew")]
    | Annotated[SetRate, Tag("set_rate")]
    | Annotated[PublicAlert, Tag("public_alert")]
    | Annotated[CloseSubway, Tag("close_subway")],
    Discriminator(
        _type_of,
        custom_error_type="event_type",
        custom_error_message="unknown event type; allowed: " + ", ".join(EVENT_TYPES),
    ),
]

#: Before each event type had its own keys, a written scenario (``scenario.toml``) gave every
#: event every key of every type. A table holding all of these is such a file's: the keys its
#: type does not have are dropped when it is read (they never had an effect).
FLAT_KEYS = frozenset(
    ("districts", "bridges", "loudness", "radius_m", "duration_min", "path", "kill_probability",
     "count", "strength", "remove")
)  # fmt: skip


def from_flat(table: Any) -> Any:
    """An event table as written before the types had their own keys, in today's form."""
    if not (isinstance(table, dict) and FLAT_KEYS <= table.keys()):
        return table
    model = dict(zip(EVENT_TYPES, EVENT_CLASSES)).get(table.get("type"))
    if model is None:
        return table
    return {k: v for k, v in table.items() if k in model.model_fields}


__all__ = [
    "EVENT_CLASSES", "EVENT_TYPES", "TRIGGERS", "WHEN", "Airstrike", "CloseBridges", "Curfew",
    "DeploySoldiers", "Evacuate", "Event", "EventBase", "MapFacts", "PlacedEvent", "Quarantine",
    "SetRate", "SoundLure", "from_flat",
]  # fmt: skip
