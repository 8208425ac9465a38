"""The scenario's tables: one pydantic model per ``[table]`` (and ``[[cast]]``, ``[[sounds]]``).

Each field's default, range, unit and meaning are declared here once; the key reference
(``docs/scenario-keys.md``) is generated from them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from seoulfall.engine.states import CAST as CAST_STATES
from seoulfall.schema import KST, MAX_MINUTES, Placed, Table, check_cell


class World(Table):
    """Where the outbreak happens."""

    map: str = Field(
        "seoul",
        description="`seoul`, `hyosan` (a fictional city of 170,000), `well-mixed` (one cell), "
        "`lattice` (size x size cells), or a path to a world file (`.npz` in seoulfall's "
        "world format)",
    )
    cell_m: float = Field(100.0, ge=10.0, le=5000.0, description="cell side (m)")
    size: int = Field(50, ge=1, le=5000, description="cells per side (`lattice` only)")
    river_width_m: float = Field(
        1000.0, ge=0.0, le=3000.0, description="width of the Han River's water band (m, Seoul)"
    )
    residents: Literal["dong", "district"] | None = Field(
        None,
        description="where Seoul's residents live: `dong` (each gu's 2024 total shared by its "
        "425 dong by their registered population and spread over their land, none on the "
        "mountains: docs/model.md), `district` (evenly over each gu's land); unset: "
        "`district`, the model before 2026-11-27, so that older scenarios give the same runs",
    )
    edge: Literal["wall", "open"] | None = Field(
        None,
        description="the map's land boundary: `open`, humans fleeing zombies and zombies "
        "wandering may cross it and leave the map, counted as `fled` and `escaped` (the "
        "infected who cross it: the outbreak reaching the land beyond; docs/model.md); "
        "`wall`, nobody crosses; unset: `wall`, the model before 2026-11-27",
    )


class Time(Table):
    """Clock and step."""

    days: float = Field(14.0, gt=0.0, le=3650.0, description="simulated days (fractions allowed)")
    dt_min: float = Field(1.0, gt=0.0, le=1440.0, description="step length (min)")
    start: datetime = Field(
        datetime(2026, 3, 2, 7, 0, tzinfo=KST),
        description="start date-time (ISO 8601; without an offset it is read as KST, UTC+9)",
    )

    night_start_hour: float = Field(
        20.0, ge=0.0, le=24.0, description="night begins at this hour of the day (KST, h)"
    )
    night_end_hour: float = Field(
        6.0,
        ge=0.0,
        le=24.0,
        description="night ends at this hour (KST, h); equal to the start: no night",
    )

    @field_validator("start")
    @classmethod
    def _kst(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=KST) if v.tzinfo is None else v

    def is_night(self, t_min: float) -> bool:
        """Whether ``t_min`` minutes after the start falls in the night hours (KST)."""
        if self.night_start_hour == self.night_end_hour:
            return False
        s = self.start.astimezone(KST)
        hour = (s.hour + s.minute / 60 + s.second / 3600 + t_min / 60) % 24
        a, b = self.night_start_hour % 24, self.night_end_hour % 24
        return (a <= hour < b) if a < b else (hour >= a or hour < b)


class Population(Table):
    """Who lives there."""

    scale: float = Field(
        0.01,
        gt=0.0,
        le=1.0,
        description="agents per resident (Seoul-like maps): 1.0 is one agent per person",
    )
    agents: int = Field(
        1000,
        ge=1,
        le=200_000_000,
        description="number of agents (synthetic maps `well-mixed` and `lattice`)",
    )


class Commute(Table):
    """Homes and day places: the city's daily journeys (Seoul-like maps; docs/model.md).

    Every agent has a home (the cell it starts in) and a day cell. A ``share`` of the
    residents leave home on working days, each at its own time, and come back after its
    own working day; their day cells come from a doubly constrained gravity model over the
    districts that meets Seoul's daytime population (``gu_daytime.csv``). Humans and the
    infected who see no zombie go towards where their schedule puts them; nearer than
    ``loiter_m`` they drift and are drawn back. After a ``public_alert`` event nobody
    leaves home and everyone out heads home. Without a ``[commute]`` table nobody commutes
    (the model before 2026-11-27, bit for bit).
    """

    enabled: bool = Field(True, description="false: nobody commutes (as without the table)")
    share: float = Field(
        0.6,
        gt=0.0,
        le=1.0,
        description="share of the residents who leave home on a working day (workers and "
        "students); the others stay within `loiter_m` of home",
    )
    leave_hour: float = Field(
        6.5, ge=0.0, lt=24.0, description="earliest hour a commuter leaves home (KST, h)"
    )
    leave_spread_h: float = Field(
        2.5, ge=0.0, le=12.0, description="leaving times spread evenly over this many hours (h)"
    )
    day_hours: float = Field(
        9.0, gt=0.0, le=16.0, description="shortest time a commuter's day lasts (h)"
    )
    day_spread_h: float = Field(
        2.0, ge=0.0, le=8.0, description="day lengths spread evenly over this many more hours (h)"
    )
    speed_mps: float = Field(
        4.0,
        gt=0.0,
        le=20.0,
        description="door-to-door speed of a journey, walking and transit together (m/s)",
    )
    loiter_m: float = Field(
        300.0,
        ge=0.0,
        le=5000.0,
        description="nearer home or its day cell than this (m, along the grid), at d m, an "
        "agent heads there with probability d / loiter_m in a step and else drifts",
    )
    weekends: bool = Field(False, description="true: Saturdays and Sundays are working days")
    decay_per_km: float = Field(
        0.25,
        ge=0.0,
        le=5.0,
        description="distance decay of the gravity model that chooses the day districts "
        "(per km; 0: distance does not matter)",
    )


class Subway(Table):
    """Seoul's subway: trains carry commuters along the lines (Seoul only; docs/model.md).

    A commuter whose home and day cell each lie within ``walk_m`` of a station, and more
    than four times that apart, walks to the station nearest home, rides the quickest way (its
    cars, its changes of line) and walks on from the station nearest its day cell. A car
    (one line between two stations, one way) is a place: bites and fights there follow
    the cells' hazards. Zombies at a station may board too; a zombie aboard (or an
    infected rider who turns aboard) rides on while its car holds humans. Without a
    `[commute]` table nobody commutes, so nobody rides; without a `[subway]` table nobody
    rides either (the model before 2026-11-28, bit for bit).
    """

    enabled: bool = Field(True, description="false: nobody rides (as without the table)")
    speed_kmh: float = Field(
        40.0, gt=0.0, le=200.0, description="trains' running speed between stations (km/h)"
    )
    dwell_min: float = Field(
        0.5, ge=0.0, le=10.0, description="minutes a train stands at each station (min)"
    )
    transfer_min: float = Field(
        4.0, ge=0.0, le=60.0, description="minutes a change of line takes (min)"
    )
    walk_m: float = Field(
        1000.0,
        ge=100.0,
        le=5000.0,
        description="farthest a rider walks to or from a station (m, along the grid)",
    )
    after_alert: Literal["stop", "run"] = Field(
        "stop",
        description="what the trains do when a `public_alert` sounds: `stop` (everyone aboard "
        "gets off at the next station, nobody boards) or `run`",
    )
    zombie_board: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="probability that a zombie or evolved zombie at a station boards a "
        "train in a minute (the quickest way towards a station drawn at random)",
    )
    zombie_alight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="probability that a zombie or hybrid aboard a car with no human gets off "
        "at a station (else it rides on)",
    )


class Outbreak(Table):
    """Where and how it starts."""

    zombies: int = Field(10, ge=0, description="initial zombies (the residents nearest the start)")
    district: str | None = Field(
        None,
        description="district of the start: gu code or English name (`11680`, `Gangnam-gu`, "
        "`Gangnam`); unset: the cell is drawn from the seed over the whole map",
    )
    cell: list[int] | None = Field(
        None, description="start cell as [row, col]; overrides `district` (synthetic maps: centre)"
    )

    _two = field_validator("cell")(classmethod(lambda cls, v: check_cell(v)))


class Zombie(Table):
    """Ordinary zombies."""

    bite_rate: float = Field(
        0.1,
        ge=0.0,
        le=1e4,
        description="β: bites per minute a zombie inflicts on the humans of its cell, "
        "frequency-dependent (per min)",
    )
    speed_mps: float = Field(
        1.0, ge=0.0, le=50.0, description="chasing speed, street-level progress (m/s)"
    )
    wander_mps: float = Field(
        0.3, ge=0.0, le=50.0, description="mean speed with no prey sensed (m/s)"
    )
    sense_m: float = Field(
        200.0, ge=0.0, le=5000.0, description="range at which zombies sense humans (m)"
    )
    night_factor: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="at night ordinary zombies move and bite at this fraction of their day "
        "rates (canon is unsure: mild by default); evolved zombies are not slowed",
    )
    evolve_rate_per_day: float = Field(
        0.0,
        ge=0.0,
        le=1e4,
        description="rate at which a zombie that has not fed becomes evolved (per day)",
    )
    evolve_per_bite_per_day: float = Field(
        0.5,
        ge=0.0,
        le=1e4,
        description="added to a zombie's evolution rate for each bite it has fed on (per day "
        "per bite; a bite is shared among the zombies of the cell by bite rate)",
    )


class Evolved(Table):
    """Evolved zombies: faster, keener, stronger, harder to kill."""

    speed_factor: float = Field(1.5, ge=0.0, le=20.0, description="speed relative to a zombie")
    sense_factor: float = Field(
        2.0, ge=0.0, le=20.0, description="sensing range relative to a zombie"
    )
    bite_factor: float = Field(1.5, ge=0.0, le=100.0, description="bite rate relative to a zombie")
    kill_resistance: float = Field(
        3.0, ge=1.0, le=1000.0, description="divides the rate at which fighters destroy it"
    )


class Human(Table):
    """The living."""

    kill_rate: float = Field(
        0.05,
        ge=0.0,
        le=1e4,
        description="κ: zombies per minute a human destroys in its cell, frequency-dependent "
        "(per min)",
    )
    flee_mps: float = Field(
        2.5, ge=0.0, le=50.0, description="speed when fleeing sensed zombies (m/s)"
    )
    drift_mps: float = Field(
        0.05, ge=0.0, le=50.0, description="mean speed of everyday drift (m/s)"
    )
    sense_m: float = Field(
        100.0, ge=0.0, le=5000.0, description="range at which humans sense zombies (m)"
    )
    strength_sigma: float = Field(
        0.5,
        ge=0.0,
        le=3.0,
        description="spread of per-person fighting strength: log-normal σ around 1, stored "
        "in 8 levels (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5); 0: everyone 1",
    )
    shelter_probability: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="per-step probability that a human who senses zombies, with none in its "
        "own cell yet, shelters (stays put) instead of fleeing",
    )
    shelter_factor: float = Field(
        0.2, ge=0.0, le=1.0, description="multiplies the bite hazard of a sheltered human"
    )
    shelter_breach: int = Field(
        4,
        ge=1,
        le=1_000_000,
        description="zombies (ordinary + evolved) in a cell that break its shelters",
    )
    retaliation: float = Field(
        0.5,
        ge=0.0,
        le=1e4,
        description="hazard that the humans who see a hybrid bite kill it there and then "
        "(divided by `hybrid.pain_tolerance`)",
    )


class Infection(Table):
    """Turning."""

    turn_median_min: float = Field(
        2.0,
        ge=0.0,
        le=1e5,
        description="median time from bite to turning (min); 0 turns at once. Log-normal",
    )
    turn_sigma: float = Field(
        0.8, ge=0.0, le=5.0, description="log-normal σ of the turn time (dimensionless)"
    )
    hybrid_probability: float = Field(
        0.0, ge=0.0, le=1.0, description="probability that a turning agent becomes a hybrid"
    )
    wound_probability: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="probability that destroying a zombie blood-exposes one human of the cell",
    )
    wound_median_min: float = Field(
        45.0,
        ge=0.0,
        le=1e5,
        description="median time from a wound or blood exposure to turning (min). Log-normal",
    )
    wound_sigma: float = Field(
        0.15, ge=0.0, le=5.0, description="log-normal σ of the wound turn time (dimensionless)"
    )


class Hybrid(Table):
    """Hybrids: infected who keep their humanity."""

    strength: float = Field(
        3.0, ge=0.0, le=1000.0, description="fighting strength against zombies, relative to a human"
    )
    drift_mps: float = Field(0.05, ge=0.0, le=50.0, description="mean speed of drift (m/s)")
    carrier_fraction: float = Field(
        0.67,
        ge=0.0,
        le=1.0,
        description="share of new hybrids that are carriers (their bite infects, like Gwi-nam "
        "and Eun-ji); the rest are immune (like Nam-ra; their bite kills)",
    )
    hear_m: float = Field(
        500.0, ge=0.0, le=5000.0, description="range at which hybrids hear zombies (m)"
    )
    hunt_mps: float = Field(
        1.5, ge=0.0, le=50.0, description="speed when closing on zombies they hear (m/s)"
    )
    hunger_hours: float = Field(
        12.0, ge=0.0, le=1e4, description="hours after feeding before a hybrid is hungry again"
    )
    lapse_rate: float = Field(
        0.05,
        ge=0.0,
        le=1e4,
        description="rate at which a hungry hybrid sharing a cell with humans would bite one, "
        "before self-control (per min)",
    )
    self_control: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="an ordinary hybrid's self-control: the bite rate is "
        "`lapse_rate x (1 - self_control)`",
    )
    pain_tolerance: float = Field(
        4.0, ge=1.0, le=1e4, description="divides the hazard of being killed by humans"
    )


class Noise(Table):
    """The noise of fighting, which draws zombies."""

    fight_loudness: float = Field(
        1.0,
        ge=0.0,
        le=1e6,
        description="loudness of one zombie destroyed, at its cell (same scale as "
        "`sounds.loudness`); 0: fights are silent",
    )
    fight_radius_m: float = Field(
        500.0, ge=0.0, le=20_000.0, description="distance at which a fight is heard (m)"
    )
    fade_min: float = Field(
        10.0, gt=0.0, le=1e5, description="time for the noise of fights to fade by 1/e (min)"
    )


class Sound(Placed):
    """A sound source (`[[sounds]]`): sirens, a drone, a flare."""

    loudness: float = Field(
        10.0, gt=0.0, le=1e6, description="loudness at the source (one fight is 1)"
    )
    radius_m: float = Field(
        1000.0,
        gt=0.0,
        le=50_000.0,
        description="distance at which it is heard (m); it fades linearly to 0 there",
    )
    start_min: float = Field(
        0.0, ge=0.0, le=MAX_MINUTES, description="when it starts (min after the start)"
    )
    duration_min: float = Field(
        60.0, gt=0.0, le=MAX_MINUTES, description="how long it sounds (min)"
    )


class Character(Placed):
    """A named character (`[[cast]]`): an ordinary agent whose fate is recorded."""

    name: str = Field(..., min_length=1, max_length=60, description="the character's name")
    state: Literal[tuple(CAST_STATES)] = Field("human", description="state at the start")
    kind: Literal["immune", "carrier"] = Field(
        "immune", description='hybrid kind (only for `state = "hybrid"`)'
    )
    strength: float = Field(
        1.0,
        ge=0.25,
        le=3.0,
        description="fighting strength (stored as the nearest level; 5 is the soldiers')",
    )
    speed: float = Field(1.0, ge=0.0, le=10.0, description="multiplies flee and hunt speed")
    alertness: float = Field(
        1.0, ge=0.1, le=100.0, description="divides the zombie bite hazard on the character"
    )
    self_control: float | None = Field(
        None, ge=0.0, le=1.0, description="as `hybrid.self_control` (unset: that value)"
    )


class Interaction(Table):
    """Who meets whom: the contacts behind bites and kills."""

    mixing: Literal["frequency", "mass"] = Field(
        "frequency",
        description="`frequency`: hazards scale with the zombie (or fighter) fraction of the "
        "contacts, β Z / N; `mass`: with their number, β Z (the lattice reference model)",
    )
    own_weight: float = Field(1.0, ge=0.0, le=1e6, description="contact weight of the own cell")
    neighbour_weight: float = Field(
        0.0,
        ge=0.0,
        le=1e6,
        description="contact weight of each of the four neighbouring cells (lattice: 1)",
    )
    sensing: Literal["box", "graded"] | None = Field(
        None,
        description="what humans, zombies and hybrids sense within their radius: `graded`, "
        "more the nearer (nested boxes: a pyramid up to 3 cells, 4 steps beyond; a lone "
        "zombie's neighbours flee it, not at random), or `box`, every cell alike; unset: "
        "`box`, the model before 2026-11-27 (docs/model.md)",
    )


class Engine(Table):
    """How the engine runs, never what it computes.

    Not part of the scenario's fingerprint: a checkpoint resumes under other values, to the
    same run.
    """

    sort_every: int | None = Field(
        None,
        ge=0,
        le=100_000,
        description="steps between re-sorting agents by cell (0: never); unset: 16 from "
        "50,000 agents, 128 below (where they fit in the caches: measured no faster more "
        "often)",
    )
    tune_threads: bool = Field(
        True,
        description="with several threads, measure every 256 steps whether one thread is "
        "faster (a busy machine) and step on the faster; false: always all threads",
    )


class Output(Table):
    """What is recorded."""

    every_min: float = Field(
        60.0,
        gt=0.0,
        le=1e6,
        description="interval between recorded rows of the time series (min; rounded to steps)",
    )
    snapshot_every_min: float = Field(
        120.0,
        gt=0.0,
        le=1e6,
        description="interval between map snapshots (per-cell counts, `snapshots.npz`) for "
        "the maps and the animation (min; rounded to steps)",
    )
