"""What calibration and sensitivity share: varied ranges, a run's outputs, the study folder.

A *range* is a scenario key varied between two bounds (``KEY=LO:HI[:log]``); an *output*
is a number read from a run's record (:func:`seoulfall.sweep.run_one`): ``fall_day``,
``peak_zombies``, ``peak_day``, ``final.STATE`` or ``fall_day.DISTRICT``. A run in which
Seoul (or the district) never falls has, as its fall day, the run's length in days: the
value is censored there, and said so in the docs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from seoulfall.engine.states import NAMES as STATE_NAMES
from seoulfall.scenario import Scenario, get_path
from seoulfall.world import load_world

#: The outputs every record has (``final.STATE`` and ``fall_day.DISTRICT`` besides).
PLAIN_OUTPUTS = ("fall_day", "peak_zombies", "peak_day")


class StudyError(ValueError):
    """An argument a calibration or a sensitivity study cannot use; one line for users."""


@dataclass(frozen=True)
class Range:
    """A scenario key varied over ``[lo, hi]``.

    On a log scale if ``log``; whole numbers if ``integer`` (the key holds a count).
    """

    key: str
    lo: float
    hi: float
    log: bool = False
    integer: bool = False

    def value(self, x: float):
        """The scenario's value for ``x`` (an integer key's rounded)."""
        return int(round(x)) if self.integer else float(x)


def parse_range(text: str, sc: Scenario) -> Range:
    """``KEY=LO:HI[:log]`` as a :class:`Range`, checked against the scenario.

    Raises
    ------
    StudyError
        Not of that form, ``LO >= HI``, a log range that is not positive, or a key that is
        not a number in the scenario (unknown keys get the scenario's own message).
    """
    if "=" not in text:
        raise StudyError(f"--vary {text!r}: expected KEY=LO:HI or KEY=LO:HI:log")
    key, spec = (p.strip() for p in text.split("=", 1))
    parts = [p.strip() for p in spec.split(":")]
    log = len(parts) == 3 and parts[2] == "log"
    if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
        raise StudyError(f"--vary {text!r}: expected KEY=LO:HI or KEY=LO:HI:log")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise StudyError(f"--vary {key}: {parts[0]!r} and {parts[1]!r} must be numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise StudyError(f"--vary {key}: the bounds must be finite")
    if lo >= hi:
        raise StudyError(f"--vary {key}: LO must be below HI (got {lo:g}:{hi:g})")
    if log and lo <= 0:
        raise StudyError(f"--vary {key}: a log range needs LO > 0 (got {lo:g})")
    if key == "seed":
        raise StudyError("--vary seed: the seeds come from the seeds per trial or point")
    current = get_path(sc.to_dict(), key)
    if isinstance(current, bool) or not (current is None or isinstance(current, (int, float))):
        raise StudyError(
            f"--vary {key}: not a number in the scenario (it is {current!r}); vary a numeric key"
        )
    integer = isinstance(current, int)
    r = Range(key, lo, hi, log, integer)
    for v in (lo, hi):  # both ends must make a valid scenario: fail before any run
        sc.override({key: r.value(v)})
    return r


def parse_ranges(vary, sc: Scenario) -> list[Range]:
    """Ranges from ``KEY=LO:HI[:log]`` strings or ``{key: (lo, hi[, "log"])}``."""
    if isinstance(vary, dict):
        vary = [f"{k}={v[0]}:{v[1]}" + (":log" if len(v) > 2 and v[2] == "log" else "")
                for k, v in vary.items()]  # fmt: skip
    ranges = [parse_range(v, sc) for v in vary]
    if not ranges:
        raise StudyError("--vary: give at least one KEY=LO:HI to search")
    keys = [r.key for r in ranges]
    if len(set(keys)) != len(keys):
        raise StudyError("--vary: a key is given twice")
    return ranges


def output_value(rec: dict, name: str) -> float:
    """An output of one run's record (see the module's description).

    ``name`` is checked beforehand by :func:`check_output`; ``fall_day.CODE`` takes the
    district's code.
    """
    days = rec["curves"]["day"][-1]
    if name == "fall_day":
        return days if rec["fall_day"] is None else float(rec["fall_day"])
    if name in ("peak_zombies", "peak_day"):
        return float(rec[name])
    kind, _, what = name.partition(".")
    if kind == "final":
        return float(rec["final"][what])
    day = rec["districts"][what][1]
    return days if day is None else float(day)


def check_output(name: str, sc: Scenario, what: str) -> str:
    """The output ``name`` as :func:`output_value` reads it (a district by its code).

    Raises
    ------
    StudyError
        An output no record holds, named in ``what``.
    """
    if name in PLAIN_OUTPUTS:
        return name
    kind, _, rest = name.partition(".")
    if kind == "final" and rest in STATE_NAMES:
        return name
    if kind == "fall_day" and rest:
        return f"fall_day.{district_code(rest, sc, what)}"
    known = ", ".join((*PLAIN_OUTPUTS, "final.STATE", "fall_day.DISTRICT"))
    raise StudyError(f"{what}: unknown output {name!r}; outputs: {known} (STATE: "
                     f"{', '.join(STATE_NAMES)})")  # fmt: skip


def district_code(key: str, sc: Scenario, what: str) -> str:
    """A district's code on the scenario's map, from its code or name."""
    world = load_world(sc)
    try:
        return world.district_codes[world.district_index(key)]
    except KeyError as exc:
        raise StudyError(f"{what}: {exc.args[0]}") from None


def check_folder_args(folder: Path, marker: str, args: dict, what: str) -> None:
    """Refuse a folder whose ``marker`` file holds a study with other arguments."""
    path = folder / marker
    if not path.exists():
        return
    try:
        before = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = None
    if before != json.loads(json.dumps(args)):
        raise StudyError(f"--out {folder}: holds a {what} with other arguments; give another --out")
