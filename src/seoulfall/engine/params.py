"""Turn a scenario's physical parameters into the kernels' parameter vectors."""

from __future__ import annotations

import math

import numpy as np

from seoulfall.engine.parameters import FLOAT, INT, Units
from seoulfall.scenario import Scenario


def build_params(sc: Scenario, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Float and integer parameter vectors for the kernels, from their declarations.

    Each slot is filled by its :class:`~seoulfall.engine.parameters.Param` in
    :data:`~seoulfall.engine.parameters.FLOAT` and :data:`~seoulfall.engine.parameters.INT`.
    """
    units = Units(sc.time.dt_min, cell_m)
    P = np.zeros(FLOAT.size, np.float64)
    got: dict = {}
    for p in FLOAT.params:
        got[p.name] = P[FLOAT.slot(p.name)] = p.value(sc, units, got)
    IP = np.zeros(INT.size, np.int64)
    for p in INT.params:
        i = INT.slot(p.name)
        IP[i : i + p.width] = p.value(sc, units, got)
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
    """The parameter vector for night steps: the parameters declared ``night`` scaled."""
    night = P.copy()
    for p in FLOAT.params:
        if p.night:
            night[FLOAT.slot(p.name)] = P[FLOAT.slot(p.name)] * factor
    return night
