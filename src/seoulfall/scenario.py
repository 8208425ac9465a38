"""Scenarios: the single definition of every parameter, its unit, range and default.

A scenario is a TOML file validated strictly by the pydantic models below: unknown keys,
wrong types and out-of-range values are errors naming the key, the value given and what is
allowed. ``docs/scenario-keys.md`` is generated from these models
(``python tools/gen_scenario_docs.py``).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import inspect
import math
import stat
import typing
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import tomli_w
import tomllib
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from seoulfall.engine.states import CAST as CAST_STATES
from seoulfall.playbook import (
    EVENT_CLASSES,
    EVENT_TYPES,
    WHEN,
    Event,
    EventBase,
    MapFacts,
    PlacedEvent,
    from_flat,
)
from seoulfall.schema import (
    BUILTIN_MAPS,
    KST,
    MAX_FILE_BYTES,
    MAX_MINUTES,
    MAX_STEPS,
    SYNTHETIC_MAPS,
    Placed,
    ScenarioError,
    Table,
    check_cell,
)
from seoulfall.world.raster import find_district
from seoulfall.world.seoul import read_bridges, read_districts


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


#: The reference worlds' own defaults (SPEC §7): both leave out the season-2 mechanisms
#: unless a scenario sets them (per-person strength, shelter, wounds, fight noise, feeding
#: evolution); the well-mixed world also turns bitten humans at once, and nothing evolves,
#: turns hybrid or sleeps by night there. Shown in the key reference beside Seoul's.
_REFERENCE_OFF = {
    ("human", "strength_sigma"): 0.0,
    ("human", "shelter_probability"): 0.0,
    ("infection", "wound_probability"): 0.0,
    ("noise", "fight_loudness"): 0.0,
    ("zombie", "evolve_per_bite_per_day"): 0.0,
}
MAP_DEFAULTS = {
    "well-mixed": {
        **_REFERENCE_OFF,
        ("infection", "turn_median_min"): 0.0,
        ("infection", "hybrid_probability"): 0.0,
        ("zombie", "evolve_rate_per_day"): 0.0,
        ("zombie", "night_factor"): 1.0,
    },
    "lattice": dict(_REFERENCE_OFF),
}


class Scenario(Table):
    """A complete scenario. Load with :meth:`Scenario.load`; override with :meth:`override`."""

    name: str = Field("custom", description="scenario name")
    description: str = Field("", description="one-line description")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="random seed")
    world: World = World()
    time: Time = Time()
    population: Population = Population()
    outbreak: Outbreak = Outbreak()
    zombie: Zombie = Zombie()
    evolved: Evolved = Evolved()
    human: Human = Human()
    infection: Infection = Infection()
    hybrid: Hybrid = Hybrid()
    interaction: Interaction = Interaction()
    noise: Noise = Noise()
    engine: Engine = Engine()
    output: Output = Output()
    sounds: list[Sound] = Field([], description="sound sources (`[[sounds]]` tables)")
    cast: list[Character] = Field([], description="named characters (`[[cast]]` tables)")
    events: list[Event] = Field([], description="the playbook (`[[events]]` tables)")

    @model_validator(mode="before")
    @classmethod
    def _flat_events(cls, data: Any) -> Any:
        # a scenario.toml written before each event type had its own keys still loads
        if isinstance(data, dict) and isinstance(data.get("events"), list):
            data = {**data, "events": [from_flat(e) for e in data["events"]]}
        return data

    @model_validator(mode="before")
    @classmethod
    def _world_defaults(cls, data: Any) -> Any:
        # the reference worlds' own defaults (MAP_DEFAULTS) for what the scenario leaves unset
        if not isinstance(data, dict) or not isinstance(data.get("world") or {}, dict):
            return data
        m = (data.get("world") or {}).get("map")
        if m not in SYNTHETIC_MAPS:
            return data
        data = copy.deepcopy(data)
        off = MAP_DEFAULTS[m].items()
        for (table, key), value in off:
            t = data.setdefault(table, {})
            if isinstance(t, dict):
                t.setdefault(key, value)
        return data

    @model_validator(mode="after")
    def _check_world(self) -> Scenario:
        if self.steps > MAX_STEPS:
            raise ValueError(
                f"time.dt_min = {self.time.dt_min}: {self.steps:,} steps for "
                f"{self.time.days} days; a run has at most {MAX_STEPS:,} steps"
            )
        m = self.world.map
        if m not in BUILTIN_MAPS and not m.endswith(".npz"):
            raise ValueError(
                f"world.map = {m!r}: unknown map; allowed: {', '.join(BUILTIN_MAPS)}, or a path "
                "to a .npz world file"
            )
        places = [("outbreak", self.outbreak)]
        places += [(f"events.{i}", x) for i, x in enumerate(self.events)]
        places += [(f"sounds.{i}", x) for i, x in enumerate(self.sounds)]
        places += [(f"cast.{i}", x) for i, x in enumerate(self.cast)]
        for where, place in places:
            if getattr(place, "district", None) is None:
                continue
            if place.district == "outbreak" and where.startswith(("events.", "sounds.")):
                if m in SYNTHETIC_MAPS:
                    raise ValueError(f"{where}.district = 'outbreak': this map has no districts")
                continue  # the outbreak's district, whatever it is
            if m in SYNTHETIC_MAPS:
                raise ValueError(
                    f"{where}.district = {place.district!r}: this map has no districts; give "
                    "a cell = [row, col]"
                )
            if m != "seoul":
                continue  # a custom map's districts are checked when it is loaded

            rows = read_districts()
            try:
                find_district(
                    place.district, [r["code"] for r in rows], [r["name_en"] for r in rows]
                )
            except KeyError as exc:
                raise ValueError(f"{where}.district: {exc.args[0]}") from None
        for i, x in enumerate(self.sounds):
            if x.district is None and x.cell is None:
                raise ValueError(f"sounds.{i}: needs a district or a cell = [row, col]")
        self._check_events(m)
        names = [c.name for c in self.cast]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"cast: the name {name!r} is given twice")
        return self

    def _check_events(self, m: str) -> None:
        strengths = {e.strength for e in self.events if e.type == "deploy_soldiers"}
        if len(strengths) > 1:
            raise ValueError(
                f"events: every deploy_soldiers must share one strength (got {sorted(strengths)})"
            )
        rows = bridges = None
        if m == "seoul":
            rows = read_districts()
            bridges = [b["name_en"] for b in read_bridges() if b["crossing"]]
        facts = MapFacts(
            map=m,
            synthetic=m in SYNTHETIC_MAPS,
            district_rows=rows,
            bridges=bridges,
            lures={e.name for e in self.events if e.type == "sound_lure" and e.name},
        )
        for i, e in enumerate(self.events):
            where = f"events.{i}"
            e.check(where, facts)
            if e.trigger in ("first_zombie_south", "first_zombie_north") and m != "seoul":
                raise ValueError(f"{where}.trigger = {e.trigger!r}: only on the seoul map")
            place = getattr(e, "place", None)
            if place is not None and m in ("seoul",) + SYNTHETIC_MAPS:
                raise ValueError(f"{where}.place = {place!r}: this map has no named places")
            names = e.district_names()
            if names and m in SYNTHETIC_MAPS:
                raise ValueError(f"{where}: this map has no districts")
            if rows is not None:
                for d in names:
                    try:
                        find_district(d, [r["code"] for r in rows], [r["name_en"] for r in rows])
                    except KeyError as exc:
                        raise ValueError(f"{where}: {exc.args[0]}") from None

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def load(cls, name_or_path: str | Path = "seoul-falls", overrides: Any = None) -> Scenario:
        """Load a bundled scenario by name, or a TOML file by path, and apply overrides.

        Parameters
        ----------
        name_or_path : str or Path
            A name listed by :func:`bundled_scenarios` or a path to a ``.toml`` file.
        overrides : dict or list of str, optional
            ``{"zombie.bite_rate": 0.3}`` or ``["zombie.bite_rate=0.3"]``.

        Raises
        ------
        ScenarioError
            With a one-line message naming the file, key and value at fault.
        """
        raw = load_raw(name_or_path)
        return cls.from_dict(raw, overrides)

    @classmethod
    def from_dict(cls, raw: dict, overrides: Any = None) -> Scenario:
        """Validate a nested dict (as parsed from TOML) with optional overrides."""
        raw = copy.deepcopy(raw)
        for key, value in _override_items(overrides):
            set_path(raw, key, value)
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ScenarioError(format_validation_error(exc, cls)) from None
        except RecursionError:
            raise ScenarioError("scenario: a value is nested too deeply") from None

    def override(self, overrides: Any) -> Scenario:
        """A new scenario with ``overrides`` applied (see :meth:`load`)."""
        return Scenario.from_dict(self.to_dict(), overrides)

    # -- output -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Nested dict of every parameter (None values left out)."""
        return _drop_none(self.model_dump(mode="python"))

    def to_toml(self) -> str:
        """The resolved scenario as TOML: ``[table]`` headers, plain ``key = value`` lines."""
        return tomli_w.dumps(self.to_dict())

    def fingerprint(self) -> str:
        """SHA-256 of what the scenario computes: every table but ``[engine]`` (how it runs).

        Two scenarios with the same fingerprint give the same run, so a checkpoint of one
        resumes the other.
        """
        what = {k: v for k, v in self.to_dict().items() if k != "engine"}
        return hashlib.sha256(tomli_w.dumps(what).encode()).hexdigest()

    @property
    def steps(self) -> int:
        """Number of steps: ceil(days x 1440 / dt_min)."""
        return max(1, math.ceil(self.time.days * 1440.0 / self.time.dt_min - 1e-9))


def _drop_none(d):
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_drop_none(v) for v in d]
    return d


def bundled_scenarios() -> dict[str, Path]:
    """Names and paths of the scenarios that ship with seoulfall."""
    folder = Path(str(resources.files("seoulfall") / "scenarios"))
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def load_raw(name_or_path: str | Path) -> dict:
    """Parse a bundled scenario or a TOML file into a dict; errors are :class:`ScenarioError`."""
    bundled = bundled_scenarios()
    key = str(name_or_path)
    if key in bundled:
        path = bundled[key]
    else:
        path = Path(key)
        if not path.exists():
            if path.suffix == "" and "/" not in key:
                near = difflib.get_close_matches(key, list(bundled), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ScenarioError(
                    f"unknown scenario {key!r}{hint}; bundled: {', '.join(bundled)} (or give a "
                    "path to a .toml file)"
                )
            raise ScenarioError(f"{key}: no such scenario file")
        if path.is_dir():
            raise ScenarioError(f"{key}: is a folder, not a scenario file")
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            raise ScenarioError(f"{path}: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ScenarioError(
                f"{path}: {info.st_size:,} bytes; a scenario file holds at most {MAX_FILE_BYTES:,}"
            )
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    if not text.strip():
        raise ScenarioError(f"{path}: empty scenario file")
    return parse_toml(text, str(path))


def parse_toml(text: str, where: str) -> dict:
    """Parse scenario TOML; every error (bad syntax, absurd nesting) is one line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"{where}: invalid TOML: nested too deeply") from None


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML syntax (numbers, booleans, strings, arrays), else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ScenarioError(f"--set value {text[:40]!r}...: nested too deeply") from None


def _override_items(overrides: Any):
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return list(overrides.items())
    items = []
    for item in overrides:
        if isinstance(item, tuple):
            items.append(item)
            continue
        cut = _assignment(item)
        if cut < 0:
            raise ScenarioError(f"--set {item!r}: expected KEY=VALUE, e.g. zombie.bite_rate=0.3")
        items.append((item[:cut].strip(), parse_value(item[cut + 1 :].strip())))
    return items


def _assignment(item: str) -> int:
    """Where ``KEY=VALUE`` splits: the first ``=`` outside the key's quoted parts (or -1)."""
    quote, i = None, 0
    while i < len(item):
        ch = item[i]
        if quote is None and ch == "=":
            return i
        if quote is None and ch in "\"'":
            quote = ch
        elif ch == quote:
            quote = None
        elif quote == '"' and ch == "\\":
            i += 1  # an escaped character of a basic string
        i += 1
    return -1


def set_path(raw: dict, key: str, value: Any) -> None:
    """Set ``raw['a']['b'] = value`` for ``key = 'a.b'``, creating tables as needed.

    A number indexes an array of tables (``events.1.day``); a key ending in ``+`` appends
    a table to an array (``events+`` with an inline table as the value).
    """
    append = key.endswith("+")
    parts = _key_parts(key.removesuffix("+"))
    if not key or any(not p for p in parts):
        raise ScenarioError(f"--set {key!r}: not a key path like zombie.bite_rate")
    node: Any = raw
    for i, p in enumerate(parts[:-1]):
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            node = _item(node, p, here, key)
            continue
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, (dict, list)):
            raise ScenarioError(f"--set {key}: {here} is not a table")
        node = nxt
    last = parts[-1]
    if isinstance(node, list):
        if append:
            raise ScenarioError(f"--set {key}: append to an array by its name, e.g. events+=...")
        node[node.index(_item(node, last, key, key))] = value
        return
    if last in WHEN and len(parts) >= 3 and parts[0] == "events":
        for other in WHEN:  # a new timing replaces the event's old one (a trigger included)
            if other != last:
                node.pop(other, None)
        if last != "trigger":
            node.pop("trigger_district", None)
    if append:
        if not isinstance(value, dict):
            raise ScenarioError(
                f'--set {key}: expected an inline table, e.g. {key}={{type = "airstrike", ...}}'
            )
        arr = node.setdefault(last, [])
        if not isinstance(arr, list):
            raise ScenarioError(f"--set {key}: {last} is not an array of tables")
        arr.append(value)
        return
    node[last] = value


def _key_parts(key: str) -> list[str]:
    """A key path's parts, with TOML's own grammar for dotted keys.

    ``events.0.day`` or ``events."army at the outbreak".day`` (a quoted part may hold dots and
    any Unicode, with TOML's escapes).
    """
    try:
        node = tomllib.loads(f"{key} = 0")
    except (tomllib.TOMLDecodeError, RecursionError):
        return key.split(".")
    parts = []
    while isinstance(node, dict) and len(node) == 1:
        ((k, node),) = node.items()
        parts.append(k)
    return parts


def _item(arr: list, index: str, here: str, key: str):
    """An item of an array of tables, by its index or by its ``name``."""
    if index.isdigit() and int(index) < len(arr):
        return arr[int(index)]
    named = [x for x in arr if isinstance(x, dict) and x.get("name") == index]
    if len(named) == 1:
        return named[0]
    names = [x.get("name") for x in arr if isinstance(x, dict) and x.get("name") is not None]
    shown = ", ".join(repr(n) for n in names) or "none"
    if len(named) > 1:
        raise ScenarioError(f"--set {key}: {len(named)} entries are named {index!r}")
    raise ScenarioError(
        f"--set {key}: {here!r} needs an index below {len(arr)} or a name (the array has "
        f"{len(arr)} entries; named: {shown})"
    )


#: Arrays of tables whose items are chosen by a tag (``type``): the tag's models.
TAGGED = {"events": dict(zip(EVENT_TYPES, EVENT_CLASSES))}


def _plain_loc(loc) -> tuple:
    """An error's location without the union tags pydantic inserts (``events.0.airstrike``)."""
    out = []
    for k, part in enumerate(loc):
        tagged = k >= 2 and isinstance(loc[k - 1], int) and loc[k - 2] in TAGGED
        if not (tagged and part in TAGGED[loc[k - 2]]):
            out.append(part)
    return tuple(out)


def format_validation_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line naming the key, the value given and what is allowed."""
    err = exc.errors()[0]
    raw_loc = err["loc"]
    parts = _plain_loc(raw_loc)
    loc = ".".join(str(p) for p in parts)
    given = err.get("input")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, raw_loc[:-1])
        near = difflib.get_close_matches(str(raw_loc[-1]), allowed, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        return f"unknown key {loc!r}{hint}; allowed here: {', '.join(allowed)}{more}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] == "event_type":  # the tag itself is wrong or missing
        if not isinstance(given, dict):
            return f"{loc}: must be a table (`[[events]]`); {msg}{more}"
        if "type" not in given:
            return f"{loc}.type: missing; allowed: {', '.join(EVENT_TYPES)}{more}"
        return f"{loc}.type = {given['type']!r}: {msg}{more}"
    if not loc:
        return f"{msg}{more}"
    return f"{loc} = {given!r}: {msg}{more}"


def _allowed_keys(model: type[BaseModel], loc) -> list[str]:
    tags: dict | None = None
    for part in loc:
        if isinstance(part, int):
            continue  # an item of an array of tables
        if tags is not None and part in tags:
            model, tags = tags[part], None  # the item's own type
            continue
        tags = TAGGED.get(str(part)) if model is Scenario else None
        field = model.model_fields.get(str(part))
        sub = _table_model(getattr(field, "annotation", None))
        if sub is None:
            if tags is None:
                break
            continue
        model = sub
    return list(model.model_fields)


def _table_model(ann) -> type[BaseModel] | None:
    """The table model behind a field's annotation: ``Model`` or ``list[Model]``."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    args = typing.get_args(ann)
    if typing.get_origin(ann) is list and args and isinstance(args[0], type):
        if issubclass(args[0], BaseModel):
            return args[0]
    return None


def keys_markdown() -> str:
    """The scenario key reference (``docs/scenario-keys.md``), generated from the models."""
    lines = [
        "# Scenario keys",
        "",
        "Generated from `seoulfall.scenario` by `python tools/gen_scenario_docs.py`; do not edit.",
        "Every key can be set in a scenario file (`[table]` then `key = value`), with",
        "`--set table.key=value` on the command line, or `Scenario.override({...})` in Python.",
        "Rates are per minute unless the key names another unit.",
        "",
        "The reference maps (`well-mixed`, `lattice`: SPEC §7) leave the season-2 mechanisms out",
        "unless a scenario sets them: where their own default differs from the one for Seoul and",
        "Hyosan, the column *on the reference maps* gives it. A scenario file on those maps gets",
        "them too, for every key it leaves unset.",
        "",
    ]
    fields = Scenario.model_fields.items()
    top = [(n, f) for n, f in fields if _table_model(f.annotation) is None and n not in TAGGED]
    lines += ["## (top level)", "", "| key | default | on the reference maps | allowed | meaning |"]
    lines += ["|---|---|---|---|---|"]
    lines += [_key_row(n, f) for n, f in top]
    for name, field in fields:
        model = _table_model(field.annotation)
        if model is None:
            continue
        header = f"[{name}]" if model is field.annotation else f"[[{name}]] (array of tables)"
        lines += ["", f"## {header}", "", inspect.cleandoc(model.__doc__ or ""), ""]
        lines += _key_table(name, model)
    base, placed = EventBase.model_fields, PlacedEvent.model_fields
    where = [t for t, m in TAGGED["events"].items() if issubclass(m, PlacedEvent)]
    lines += [
        "",
        "## [[events]] (array of tables)",
        "",
        f"{Scenario.model_fields['events'].description}. Each table's `type` says which kind it "
        "is and which keys it takes: the keys every event has, those of events that happen "
        "somewhere, then each type's own.",
        "",
        "### every event",
        "",
        *_key_table("events", EventBase),
        "",
        f"### events that happen somewhere ({', '.join(where)})",
        "",
        *_key_table("events", PlacedEvent, skip=tuple(base)),
    ]
    for tag, model in TAGGED["events"].items():
        own = tuple(placed) + tuple(base)
        lines += ["", f'### type = "{tag}"', "", inspect.cleandoc(model.__doc__ or ""), ""]
        lines += _key_table("events", model, skip=own)
    return "\n".join(lines) + "\n"


def _key_table(name: str, model: type[BaseModel], skip=()) -> list[str]:
    rows = []
    for k, f in model.model_fields.items():
        if k in skip:
            continue
        own = [
            f"{m}: `{d[name, k]}`"
            for m, d in MAP_DEFAULTS.items()
            if (name, k) in d and d[name, k] != f.default
        ]
        rows.append(_key_row(f"{name}.{k}", f, "; ".join(own)))
    return [
        "| key | default | on the reference maps | allowed | meaning |",
        "|---|---|---|---|---|",
        *rows,
    ]


def _key_row(key: str, field, own: str = "") -> str:
    bounds = []
    for m in field.metadata:
        for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                bounds.append(f"{sym} {getattr(m, attr)}")
    if typing.get_origin(field.annotation) is Literal:
        bounds.append("one of " + ", ".join(f"`{v}`" for v in typing.get_args(field.annotation)))
    default = field.default
    if isinstance(default, datetime):
        default = default.isoformat()
    shown = "unset" if default is None else f"`{default}`"
    if field.is_required():
        shown = "required"
    return f"| `{key}` | {shown} | {own} | {', '.join(bounds)} | {field.description or ''} |"
