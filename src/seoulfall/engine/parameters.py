"""The kernels' parameters, declared once: name, meaning, and how a scenario sets each.

The compiled pass reads its parameters from two flat vectors, a float one (``P``) and an
integer one (``IP``), by fixed slots: numba compiles ``P[P_BITE]`` into one load at a constant
offset, which is as fast as a named field. The slots used to be numbered by hand in
``kernels`` while ``params.py`` filled them and ``night_params`` listed which the night
scales, three lists kept in step by hand. Now each parameter is one :class:`Param` in
:data:`FLOAT` or :data:`INT` below; its slot is its position there, the kernels name their
constants from it (``P_BITE = FLOAT.slot("bite")``, checked at import), and
:func:`seoulfall.engine.params.build_params` fills the vectors by walking the same list.

Adding a parameter is one line here (append it: slots are positions, and a checkpoint holds
the vectors), one constant in ``kernels/layout.py``, and the rule that reads it (in
``kernels/agent.py`` and its executable specification ``plain.py``).

This module imports nothing of the package: the scenario reaches it as duck-typed
attributes (``sc.zombie.bite_rate``), so the kernels can import it without a circle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Units:
    """What turns a scenario's physical values into the kernels' units."""

    dt: float  # step length (min)
    cell_m: float  # cell side (m)

    def hops(self, mps: float) -> float:
        """Mean hops per step for a speed: metres covered in a step over the cell side."""
        return mps * 60.0 * self.dt / self.cell_m

    def cells(self, metres: float) -> int:
        """A sensing radius in cells (rounded; 0 senses the own cell only)."""
        return int(round(metres / self.cell_m))


@dataclass(frozen=True)
class Param:
    """One parameter of the kernels.

    ``value(sc, units, got)`` computes it from a resolved scenario; ``got`` maps the names of
    the vector's parameters already computed to their values (a parameter may depend on
    those before it). ``width`` slots are reserved (a small table; ``value`` returns a
    sequence). ``night``: the ordinary zombies' night factor multiplies it at night.
    ``settable``: how an event may change it during a run (``Stepper.set_param``, and what a
    checkpoint may then hold): ``"switch"`` turns it on or off (0 or 1), ``"lower"`` sets it
    between 0 and the scenario's value; unset, nothing changes it after set-up. ``rate``: the
    scenario key of a rate it is proportional to; a ``set_rate`` event multiplies every
    parameter of that key by one factor (0 to :data:`MAX_RATE_FACTOR`), by day and by night.
    """

    name: str
    doc: str
    value: Callable[[Any, Units, dict], Any]
    width: int = 1
    night: bool = False
    settable: str | None = None
    rate: str | None = None

    def allows(self, value: float, scenario_value: float) -> bool:
        """Whether an event may have set this parameter to ``value``."""
        if self.rate is not None:
            return math.isfinite(value) and 0.0 <= value <= MAX_RATE_FACTOR * scenario_value
        if self.settable == "switch":
            return value in (0.0, 1.0)
        if self.settable == "lower":
            return math.isfinite(value) and 0.0 <= value <= scenario_value
        return value == scenario_value


class Vector:
    """An ordered list of parameters laid out as one flat vector."""

    def __init__(self, params: tuple[Param, ...]):
        self.params = params
        self._slot: dict[str, int] = {}
        n = 0
        for p in params:
            if p.name in self._slot:
                raise ValueError(f"parameter {p.name!r} is declared twice")
            self._slot[p.name] = n
            n += p.width
        self.size = n

    def slot(self, name: str) -> int:
        """The slot of a parameter (its first, for a table)."""
        return self._slot[name]

    def slots(self, *names: str) -> tuple[int, ...]:
        """The slots of several parameters, in the order named."""
        return tuple(self._slot[n] for n in names)

    def param(self, name: str) -> Param:
        """The declaration of a parameter."""
        return self.params[self.names().index(name)]

    def names(self) -> list[str]:
        """The declared names, in slot order."""
        return [p.name for p in self.params]


#: The largest factor a ``set_rate`` event may multiply a rate by.
MAX_RATE_FACTOR = 10.0
#: Most hops any agent makes in one step (the pass keeps one random stream per extra hop).
MAXHOP = 8
#: The eight strength levels a human can have (a zombie-destroying rate multiplier), level 0
#: being strength 1 (so an ordinary human's state byte is just its state); counted per cell
#: in quarter units (``STRENGTH_UNITS``) so that counts stay integers.
STRENGTH_LEVELS = (1.0, 1.5, 2.0, 3.0, 5.0, 0.25, 0.5, 0.75)
STRENGTH_UNITS = (4, 6, 8, 12, 20, 1, 2, 3)
SOLDIER_LEVEL = 4  # strength 5.0: soldiers, who advance on zombies instead of fleeing


def _fastest_cast(sc) -> float:
    return max([1.0] + [c.speed for c in sc.cast])


def _maxhop(sc, u: Units, f: dict) -> int:
    fastest = max(
        f["h_flee"], f["h_drift"], f["z_chase"], f["z_wander"], f["e_chase"], f["e_wander"],
        f["y_drift"], f["y_hunt"] * _fastest_cast(sc), f["h_flee"] * _fastest_cast(sc),
        f["c_hops"],
    )  # fmt: skip
    return min(MAXHOP, math.ceil(fastest))


def _units(sc, u: Units, f: dict) -> list[int]:
    units = list(STRENGTH_UNITS)
    for ev in sc.events:
        if ev.type == "deploy_soldiers":  # every one shares one strength (validated)
            units[SOLDIER_LEVEL] = max(1, int(round(4 * ev.strength)))
    return units


#: The float vector ``P`` (rates per minute unless said; speeds in hops per step).
FLOAT = Vector((
    Param("dt", "step length (min)", lambda sc, u, f: sc.time.dt_min),
    Param("bite", "bite rate of a zombie", lambda sc, u, f: sc.zombie.bite_rate, night=True,
          rate="zombie.bite_rate"),
    Param("bite_e", "bite rate of an evolved zombie",
          lambda sc, u, f: sc.zombie.bite_rate * sc.evolved.bite_factor,
          rate="zombie.bite_rate"),
    Param("kill", "rate at which a human destroys a zombie", lambda sc, u, f: sc.human.kill_rate,
          rate="human.kill_rate"),
    Param("kill_e", "... an evolved zombie",
          lambda sc, u, f: sc.human.kill_rate / sc.evolved.kill_resistance,
          rate="human.kill_rate"),
    Param("y_strength", "a hybrid's fighting strength", lambda sc, u, f: sc.hybrid.strength),
    Param("turn_median", "median turn time (min)",
          lambda sc, u, f: sc.infection.turn_median_min),
    Param("turn_sigma", "log-normal sigma of the turn time",
          lambda sc, u, f: sc.infection.turn_sigma),
    Param("hybrid_p", "probability that a turning agent becomes a hybrid",
          lambda sc, u, f: sc.infection.hybrid_probability),
    Param("evolve_p", "per-step probability that an unfed zombie evolves",
          lambda sc, u, f: -math.expm1(-sc.zombie.evolve_rate_per_day * u.dt / 1440.0)),
    Param("h_flee", "a human's hops per step when fleeing",
          lambda sc, u, f: u.hops(sc.human.flee_mps)),
    Param("h_drift", "a human's hops per step when drifting (a curfew lowers it)",
          lambda sc, u, f: u.hops(sc.human.drift_mps), settable="lower"),
    Param("z_chase", "a zombie's hops per step when chasing",
          lambda sc, u, f: u.hops(sc.zombie.speed_mps), night=True),
    Param("z_wander", "a zombie's hops per step when wandering",
          lambda sc, u, f: u.hops(sc.zombie.wander_mps), night=True),
    Param("e_chase", "an evolved zombie's hops per step when chasing",
          lambda sc, u, f: u.hops(sc.zombie.speed_mps * sc.evolved.speed_factor)),
    Param("e_wander", "an evolved zombie's hops per step when wandering",
          lambda sc, u, f: u.hops(sc.zombie.wander_mps * sc.evolved.speed_factor)),
    Param("y_drift", "a hybrid's hops per step when drifting",
          lambda sc, u, f: u.hops(sc.hybrid.drift_mps)),
    Param("w_own", "contact weight of the own cell",
          lambda sc, u, f: sc.interaction.own_weight),
    Param("w_neighbour", "contact weight of each von Neumann neighbour",
          lambda sc, u, f: sc.interaction.neighbour_weight),
    Param("mass_action", "1: hazards are not divided by the (weighted) population",
          lambda sc, u, f: 1.0 if sc.interaction.mixing == "mass" else 0.0),
    Param("evolve_rate", "evolution rate of an unfed zombie",
          lambda sc, u, f: sc.zombie.evolve_rate_per_day / 1440.0),
    Param("evolve_bite", "added to it per bite fed (per min per bite)",
          lambda sc, u, f: sc.zombie.evolve_per_bite_per_day / 1440.0),
    Param("carrier_p", "share of new hybrids that are carriers",
          lambda sc, u, f: sc.hybrid.carrier_fraction),
    Param("y_hunt", "a hybrid's hops per step closing on zombies it hears",
          lambda sc, u, f: u.hops(sc.hybrid.hunt_mps)),
    Param("y_hunger", "minutes after feeding before a hybrid is hungry again",
          lambda sc, u, f: sc.hybrid.hunger_hours * 60.0),
    Param("y_lapse", "rate at which a hungry hybrid next to humans would bite",
          lambda sc, u, f: sc.hybrid.lapse_rate, rate="hybrid.lapse_rate"),
    Param("y_self", "self-control of an ordinary hybrid (0..1): the rate is x (1 - it)",
          lambda sc, u, f: sc.hybrid.self_control),
    Param("y_pain", "pain tolerance: divides the hazard of being killed",
          lambda sc, u, f: sc.hybrid.pain_tolerance),
    Param("h_retaliate", "hazard per witness that humans kill an attacking hybrid",
          lambda sc, u, f: sc.human.retaliation, rate="human.retaliation"),
    Param("shelter_p", "per-step probability that a human who sees zombies takes shelter",
          lambda sc, u, f: sc.human.shelter_probability),
    Param("shelter_f", "bite-hazard factor of a sheltered human",
          lambda sc, u, f: sc.human.shelter_factor),
    Param("shelter_breach", "zombies in the cell that break a shelter",
          lambda sc, u, f: sc.human.shelter_breach),
    Param("wound_p", "probability that a zombie destroyed in a cell blood-exposes a human there",
          lambda sc, u, f: sc.infection.wound_probability),
    Param("wound_median", "median turn time after a wound (min)",
          lambda sc, u, f: sc.infection.wound_median_min),
    Param("wound_sigma", "log-normal sigma of it", lambda sc, u, f: sc.infection.wound_sigma),
    Param("evac_remove", "1: evacuees who reach the target leave the map (set by `evacuate`)",
          lambda sc, u, f: 0.0, settable="switch"),
    # the daily journeys (``[commute]``): all 0 without it, the model before them
    Param("commute", "1: humans and the infected go between home and day cell",
          lambda sc, u, f: 1.0 if sc.commuting else 0.0),
    Param("alert", "1: the city knows (`public_alert`): nobody leaves, everyone heads home",
          lambda sc, u, f: 0.0, settable="switch"),
    Param("c_hops", "a journey's hops per step",
          lambda sc, u, f: u.hops(sc.commute.speed_mps) if sc.commuting else 0.0),
    Param("c_loiter", "within this many cells (along the grid) of its goal an agent drifts",
          lambda sc, u, f: sc.commute.loiter_m / u.cell_m if sc.commuting else 0.0),
    Param("c_weekend", "1: Saturdays and Sundays are working days",
          lambda sc, u, f: float(sc.commute.weekends) if sc.commuting else 0.0),
    # the subway (``[subway]``): 0 without it
    Param("subway", "1: the trains run (commuters board); 0: stopped (an alert, close_subway)",
          lambda sc, u, f: 1.0 if sc.riding else 0.0, settable="lower"),
    Param("z_alight", "probability that a zombie or hybrid aboard a car with no human gets "
          "off at a station", lambda sc, u, f: sc.subway.zombie_alight if sc.riding else 0.0),
    Param("z_board", "probability that a zombie or evolved zombie at a station boards a "
          "train in a step", lambda sc, u, f: 1.0 - (1.0 - sc.subway.zombie_board) ** u.dt
          if sc.riding else 0.0),
    Param("s_walk", "a rider rides while farther from its goal than the station it gets off "
          "at, by more than this many cells (along the grid)",
          lambda sc, u, f: sc.subway.walk_m / u.cell_m if sc.riding else 0.0),
))  # fmt: skip

#: The sizes ``P`` had in earlier versions (a checkpoint keeps it): a checkpoint holding
#: one resumes with the later parameters at its scenario's values. 36: before the daily
#: journeys (2026-11-27); 41: before the subway (2026-11-28).
FLOAT_OLDER_SIZES = (36, 41)
assert all(n < FLOAT.size for n in FLOAT_OLDER_SIZES)

#: The scenario keys of the rates a ``set_rate`` event may change, in declaration order.
RATE_KEYS = tuple(dict.fromkeys(p.rate for p in FLOAT.params if p.rate is not None))

#: The integer vector ``IP``.
INT = Vector((
    Param("r_h", "radius (cells) within which humans sense zombies",
          lambda sc, u, f: u.cells(sc.human.sense_m)),
    Param("r_z", "radius within which zombies sense humans",
          lambda sc, u, f: u.cells(sc.zombie.sense_m)),
    Param("r_e", "radius within which evolved zombies sense humans",
          lambda sc, u, f: u.cells(sc.zombie.sense_m * sc.evolved.sense_factor)),
    Param("maxhop", "most hops any agent makes in one step", _maxhop),
    Param("sort_every", "steps between counting sorts by cell (0: never, -1: automatic)",
          lambda sc, u, f: -1 if sc.engine.sort_every is None else sc.engine.sort_every),
    Param("r_y", "radius within which hybrids hear zombies",
          lambda sc, u, f: u.cells(sc.hybrid.hear_m)),
    Param("ncast", "named characters: the agents with ids 0 .. ncast - 1",
          lambda sc, u, f: len(sc.cast)),
    Param("units", "strength units (quarters) of each of the 8 levels; soldiers' set by "
          "the scenario", _units, width=8),
    Param("graded", "1: the sensing fields grow with proximity (nested boxes), 0: box sums",
          lambda sc, u, f: 1 if getattr(sc.interaction, "sensing", None) == "graded" else 0),
))  # fmt: skip
