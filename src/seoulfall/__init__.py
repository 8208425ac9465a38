"""seoulfall: a fast agent-based zombie-outbreak simulator on Seoul's real geography.

>>> import seoulfall
>>> sc = seoulfall.Scenario.load("seoul-falls")          # doctest: +SKIP
>>> res = seoulfall.simulate(sc, seed=1)                  # doctest: +SKIP
>>> res.summary["fall_day"], res.plot()                   # doctest: +SKIP
"""

from seoulfall.calibration import Calibration, calibrate
from seoulfall.engine.kernels import STATE_NAMES
from seoulfall.results import Results
from seoulfall.scenario import Scenario, ScenarioError, bundled_scenarios
from seoulfall.sensitivity_analysis import Sensitivity, sensitivity
from seoulfall.simulation import Simulation, simulate
from seoulfall.sweep import Ensemble, ensemble

__version__ = "0.1.0"
__all__ = [
    "Calibration",
    "calibrate",
    "Ensemble",
    "ensemble",
    "Sensitivity",
    "sensitivity",
    "STATE_NAMES",
    "Results",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "bundled_scenarios",
    "simulate",
    "__version__",
]
