"""The published mathematics of zombie epidemics (SPEC §9), to check the engine against.

- :func:`munz`: the five ODE models of Munz et al. (2009), with
  :func:`quarantine_r0` and :func:`treatment_equilibrium`;
- :func:`alemi_ode`, :func:`alemi_stochastic`, :func:`alemi_lattice`: Alemi et al. (2015).
"""

from seoulfall.reference.alemi import (
    alemi_closed_form,
    alemi_lattice,
    alemi_ode,
    alemi_stochastic,
    final_zombies,
    final_zombies_exact,
    humans_win_probability,
)
from seoulfall.reference.munz import munz, quarantine_r0, treatment_equilibrium

__all__ = [
    "alemi_closed_form",
    "alemi_lattice",
    "alemi_ode",
    "alemi_stochastic",
    "final_zombies",
    "final_zombies_exact",
    "humans_win_probability",
    "munz",
    "quarantine_r0",
    "treatment_equilibrium",
]
