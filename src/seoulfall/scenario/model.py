"""The scenario itself: its tables together, the reference maps' own defaults, and more.

Cross-checks against the map, loading, overriding, the fingerprint.
"""

from __future__ import annotations

import copy
import hashlib
import math
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import Field, ValidationError, model_validator

from seoulfall.playbook import Event, MapFacts, from_flat
from seoulfall.scenario.errors import format_validation_error
from seoulfall.scenario.files import load_raw
from seoulfall.scenario.grammar import _override_items, set_path
from seoulfall.scenario.tables import (
    Character,
    Commute,
    Engine,
    Evolved,
    Human,
    Hybrid,
    Infection,
    Interaction,
    Noise,
    Outbreak,
    Output,
    Population,
    Sound,
    Subway,
    Time,
    World,
    Zombie,
)
from seoulfall.schema import BUILTIN_MAPS, MAX_STEPS, SYNTHETIC_MAPS, ScenarioError, Table
from seoulfall.world.raster import find_district
from seoulfall.world.seoul import data_dir, read_bridges, read_districts
from seoulfall.world.subway import line_names, station_names

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
    commute: Commute | None = Field(
        None, description="homes and day places (`[commute]`); unset: nobody commutes"
    )
    subway: Subway | None = Field(
        None, description="Seoul's subway (`[subway]`, with `[commute]`); unset: nobody rides"
    )
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
        endless = not math.isfinite(self.time.days * 1440.0 / self.time.dt_min)  # 5e-324
        if endless or self.steps > MAX_STEPS:
            many = "endless" if endless else f"{self.steps:,}"
            raise ValueError(
                f"time.dt_min = {self.time.dt_min}: {many} steps for "
                f"{self.time.days} days; a run has at most {MAX_STEPS:,} steps"
            )
        m = self.world.map
        if m not in BUILTIN_MAPS and not m.endswith(".npz"):
            raise ValueError(
                f"world.map = {m!r}: unknown map; allowed: {', '.join(BUILTIN_MAPS)}, or a path "
                "to a .npz world file"
            )
        # (without [commute] a [subway] carries nobody: ``riding`` is False)
        if self.subway is not None and self.subway.enabled and m != "seoul":
            raise ValueError(f"subway: only Seoul has a subway (world.map = {m!r})")
        if self.world.edge == "open" and m == "well-mixed":
            raise ValueError("world.edge = 'open': the well-mixed map has no edge to cross")
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
        rows = bridges = lines = stations = None
        if m == "seoul":
            rows = read_districts()
            bridges = [b["name_en"] for b in read_bridges() if b["crossing"]]
            lines, stations = line_names(data_dir()), station_names(data_dir())
        facts = MapFacts(
            map=m,
            synthetic=m in SYNTHETIC_MAPS,
            district_rows=rows,
            bridges=bridges,
            lures={e.name for e in self.events if e.type == "sound_lure" and e.name},
            subway_lines=lines,
            stations=stations,
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
    def commuting(self) -> bool:
        """Whether people make daily journeys (a ``[commute]`` table, enabled)."""
        return self.commute is not None and self.commute.enabled

    @property
    def riding(self) -> bool:
        """Whether commuters ride the subway (a ``[subway]`` table, enabled, with journeys)."""
        return self.commuting and self.subway is not None and self.subway.enabled

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
