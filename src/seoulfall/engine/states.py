"""The agents' states, declared once: every list of states elsewhere is derived from here.

A state's ``value`` is what the low three bits of an agent's state byte hold (the kernels'
``HUMAN`` ... ``RESERVE``); the table is in value order. A state with ``of`` set is a variant
of that state told apart by the strength level in the byte's top bits, at no extra memory:
``soldier`` is a ``human`` of the soldiers' level. It takes the next value after the eight
byte states, is reported in its own column, and counts with its own state wherever the
kernels count per cell (a soldier is a human to a zombie). The flags say where the state
appears:

- ``counted``: stands on the map and is counted per cell by the kernels (the living);
- ``column``: always has a column in ``timeseries.parquet`` (the others appear once used);
- ``snapshot``: a channel of the map snapshots (``snapshots.npz``);
- ``survives``: a character in this state has survived (SPEC §6);
- ``cast``: a ``[[cast]]`` character may start in it;
- ``colour``: its colour in the plots.
"""

from __future__ import annotations

from typing import NamedTuple


class State(NamedTuple):
    """One state of an agent (see the module's description of the fields)."""

    name: str
    value: int
    counted: bool
    column: bool
    snapshot: bool
    survives: bool
    cast: bool
    colour: str
    of: str | None = None


# fmt: off
STATES: tuple[State, ...] = (
    #     name         value counted column snapshot survives cast   colour
    State("human",     0,    True,   True,  True,    True,    True,  "#2b83ba"),
    State("infected",  1,    True,   True,  True,    True,    True,  "#fdae61"),
    State("zombie",    2,    True,   True,  True,    False,   True,  "#d7191c"),
    State("evolved",   3,    True,   True,  True,    False,   True,  "#7b3294"),
    State("hybrid",    4,    True,   True,  True,    True,    True,  "#1a9641"),
    State("dead",      5,    False,  True,  True,    False,   False, "#636363"),
    State("evacuated", 6,    False,  False, False,   True,    False, "#80cdc1"),
    State("reserve",   7,    False,  False, False,   True,    False, "#bababa"),
    # soldiers: humans of the soldiers' strength level (kernels.SOLDIER_LEVEL)
    State("soldier",   8,    False,  False, False,   True,    False, "#08306b", of="human"),
    # those who left the city by land (``world.edge = "open"``): the evacuated of another
    # level (kernels.FLED_LEVEL, ESCAPED_LEVEL). Fled: humans; escaped: the infected,
    # zombies and evolved zombies, the outbreak reaching the land beyond
    State("fled",      9,    False,  False, False,   True,    False, "#a6611a", of="evacuated"),
    State("escaped",   10,   False,  False, False,   False,   False, "#67001f", of="evacuated"),
)
# fmt: on

assert [s.value for s in STATES] == list(range(len(STATES))), "states in value order"
assert len({s.name for s in STATES}) == len(STATES), "state names are unique"
#: The states the low three bits of the state byte hold (the variants follow them).
NBYTE = sum(s.of is None for s in STATES)
assert NBYTE <= 8, "the state takes the low three bits of the state byte"
assert all(s.of is None for s in STATES[:NBYTE]), "the variants come after the byte states"
# the kernels count the living per cell as the first columns of their counts
assert [s.counted for s in STATES] == sorted((s.counted for s in STATES), reverse=True)

#: Every state's name, by value.
NAMES = tuple(s.name for s in STATES)
#: How many states the kernels count per cell (they come first).
NCOUNTED = sum(s.counted for s in STATES)
#: States with a column in every time series.
COLUMNS = tuple(s.name for s in STATES if s.column)
#: States that appear in the time series once an agent has been in them.
OCCASIONAL = tuple(s.name for s in STATES if not s.column)
#: The channels of a map snapshot.
SNAPSHOT = tuple(s.name for s in STATES if s.snapshot)
#: States in which a character has survived.
SURVIVING = tuple(s.name for s in STATES if s.survives)
#: States a character may start in, and their values.
CAST = {s.name: s.value for s in STATES if s.cast}
#: Each state's colour in the plots.
COLOURS = {s.name: s.colour for s in STATES}
#: States added after runs were first recorded (soldiers 2026-11-26; the fled and escaped
#: 2026-11-27): a record written before lacks them, nobody having been in them.
LATER_STATES = ("soldier", "fled", "escaped")


class Cause(NamedTuple):
    """Why a named character's state changed: its name in ``cast.jsonl`` and in words."""

    name: str
    text: str


#: Every cause of a change of state, by code (0: none, as for the start). The kernels write
#: a character's cause with its state (``kernels.CAUSE_*``, one constant per name); the
#: playbook's events give theirs (``CAUSE_BY_EVENT``).
# fmt: off
CAUSES: tuple[Cause, ...] = (
    Cause("",                  ""),
    Cause("bitten_by_zombie",  "bitten by a zombie"),
    Cause("bitten_by_evolved", "bitten by an evolved zombie"),
    Cause("bitten_by_hybrid",  "bitten by a carrier hybrid"),
    Cause("killed_by_hybrid",  "killed by an immune hybrid's bite"),
    Cause("wounded",           "wounded fighting zombies (infected blood)"),
    Cause("killed_by_humans",  "killed by humans fighting back"),
    Cause("killed_by_hybrids", "killed by hybrids"),
    Cause("shot_at_line",      "shot by the soldiers holding a line"),
    Cause("evolved",           "evolved after feeding"),
    Cause("turned",            "the infection ran its course"),
    Cause("turned_hybrid",     "the infection ran its course; kept a human mind"),
    Cause("killed_after_bite", "killed by the humans it bit in hunger"),
    Cause("evacuated",         "reached the evacuation target and left the map"),
    Cause("airstrike",         "killed in an airstrike"),
    Cause("event",             "changed by an event"),
    Cause("fled_the_city",     "fled Seoul by land"),
    Cause("escaped_the_city",  "crossed Seoul's edge, infected"),
)
# fmt: on

assert len({c.name for c in CAUSES}) == len(CAUSES), "cause names are unique"
assert len(CAUSES) <= 256, "a cause takes one byte"
#: Every cause's name, by code.
CAUSE_NAMES = tuple(c.name for c in CAUSES)
#: Each cause in words, by name (for the report).
CAUSE_TEXT = {c.name: c.text for c in CAUSES}
#: The cause of a character's change made by an event of each type (else ``event``).
CAUSE_BY_EVENT = {"airstrike": "airstrike"}
