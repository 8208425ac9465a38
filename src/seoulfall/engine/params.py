"""Turn a scenario's physical parameters into the kernels' parameter vectors."""

from __future__ import annotations

import math

import numpy as np

from seoulfall.engine import kernels as K
from seoulfall.scenario import Scenario


def cells_per_step(speed_mps: float, dt_min: float, cell_m: float) -> float:
    """Mean hops per step for a speed: metres covered in a step over the cell side."""
    return speed_mps * 60.0 * dt_min / cell_m


def radius_cells(range_m: float, cell_m: float) -> int:
    """Sensing radius in cells (rounded; 0 senses the own cell only)."""
    return int(round(range_m / cell_m))


def build_params(sc: Scenario, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Float and integer parameter vectors for :func:`seoulfall.engine.kernels.advance`."""
    dt = sc.time.dt_min
    z, e, h = sc.zombie, sc.evolved, sc.human
    P = np.zeros(K.NPARAMS, np.float64)
    P[K.P_DT] = dt
    P[K.P_BITE] = z.bite_rate
    P[K.P_BITE_E] = z.bite_rate * e.bite_factor
    P[K.P_KILL] = h.kill_rate
    P[K.P_KILL_E] = h.kill_rate / e.kill_resistance
    P[K.P_Y_STRENGTH] = sc.hybrid.strength
    P[K.P_TURN_MEDIAN] = sc.infection.turn_median_min
    P[K.P_TURN_SIGMA] = sc.infection.turn_sigma
    P[K.P_HYBRID_P] = sc.infection.hybrid_probability
    P[K.P_EVOLVE_P] = -math.expm1(-z.evolve_rate_per_day * dt / 1440.0)
    P[K.P_EVOLVE_RATE] = z.evolve_rate_per_day / 1440.0
    P[K.P_EVOLVE_BITE] = z.evolve_per_bite_per_day / 1440.0
    y, inf = sc.hybrid, sc.infection
    P[K.P_CARRIER_P] = y.carrier_fraction
    P[K.P_Y_HUNGER] = y.hunger_hours * 60.0
    P[K.P_Y_LAPSE] = y.lapse_rate
    P[K.P_Y_SELF] = y.self_control
    P[K.P_Y_PAIN] = y.pain_tolerance
    P[K.P_H_RETALIATE] = h.retaliation
    P[K.P_SHELTER_P] = h.shelter_probability
    P[K.P_SHELTER_F] = h.shelter_factor
    P[K.P_SHELTER_BREACH] = h.shelter_breach
    P[K.P_WOUND_P] = inf.wound_probability
    P[K.P_WOUND_MEDIAN] = inf.wound_median_min
    P[K.P_WOUND_SIGMA] = inf.wound_sigma
    cps = lambda v: cells_per_step(v, dt, cell_m)  # noqa: E731
    P[K.P_H_FLEE] = cps(h.flee_mps)
    P[K.P_H_DRIFT] = cps(h.drift_mps)
    P[K.P_Z_CHASE] = cps(z.speed_mps)
    P[K.P_Z_WANDER] = cps(z.wander_mps)
    P[K.P_E_CHASE] = cps(z.speed_mps * e.speed_factor)
    P[K.P_E_WANDER] = cps(z.wander_mps * e.speed_factor)
    P[K.P_Y_DRIFT] = cps(sc.hybrid.drift_mps)
    P[K.P_Y_HUNT] = cps(sc.hybrid.hunt_mps)
    P[K.P_W_OWN] = sc.interaction.own_weight
    P[K.P_W_NEIGHBOUR] = sc.interaction.neighbour_weight
    P[K.P_MASS_ACTION] = 1.0 if sc.interaction.mixing == "mass" else 0.0
    IP = np.zeros(K.NIPARAMS, np.int64)
    IP[K.I_R_H] = radius_cells(h.sense_m, cell_m)
    IP[K.I_R_Z] = radius_cells(z.sense_m, cell_m)
    IP[K.I_R_E] = radius_cells(z.sense_m * e.sense_factor, cell_m)
    IP[K.I_R_Y] = radius_cells(sc.hybrid.hear_m, cell_m)
    IP[K.I_NCAST] = len(sc.cast)
    units = K.STRENGTH_UNITS.copy()
    for ev in sc.events:
        if ev.type == "deploy_soldiers":  # every one shares one strength (validated)
            units[K.SOLDIER_LEVEL] = max(1, int(round(4 * ev.strength)))
    IP[K.I_UNITS : K.I_UNITS + 8] = units
    fastest = max(
        P[K.P_H_FLEE],
        P[K.P_H_DRIFT],
        P[K.P_Z_CHASE],
        P[K.P_Z_WANDER],
        P[K.P_E_CHASE],
        P[K.P_E_WANDER],
        P[K.P_Y_DRIFT],
        P[K.P_Y_HUNT] * max([1.0] + [c.speed for c in sc.cast]),
        P[K.P_H_FLEE] * max([1.0] + [c.speed for c in sc.cast]),
    )
    IP[K.I_MAXHOP] = min(K.MAXHOP, math.ceil(fastest))
    IP[K.I_SORT_EVERY] = -1 if sc.engine.sort_every is None else sc.engine.sort_every
    return P, IP


def cast_traits(sc: Scenario) -> np.ndarray:
    """(ncast, 3) speed, alertness and self-control of the named characters."""
    own = sc.hybrid.self_control
    rows = [
        [c.speed, c.alertness, own if c.self_control is None else c.self_control] for c in sc.cast
    ]
    return np.array(rows, float).reshape(-1, 3)


def noise_params(sc: Scenario, cell_m: float) -> tuple[float, float, float]:
    """(radius in cells, loudness, fraction kept per step) of the noise of fights."""
    nz = sc.noise
    return (nz.fight_radius_m / cell_m, nz.fight_loudness, math.exp(-sc.time.dt_min / nz.fade_min))


def night_params(P: np.ndarray, factor: float) -> np.ndarray:
    """The parameter vector for night steps: ordinary zombies' bite rate and speeds scaled."""
    night = P.copy()
    for k in (K.P_BITE, K.P_Z_CHASE, K.P_Z_WANDER):
        night[k] = P[k] * factor
    return night
