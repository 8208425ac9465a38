"""A run's outcome read from its summary: the districts standing last, the cast's fates.

Shared by the results, the report and the command line (none of which it imports).
"""

from __future__ import annotations

from seoulfall.engine.states import SURVIVING


def last_standing(summary: dict) -> tuple[bool, list[str]]:
    """Whether the summary's last districts never fell, and their English names."""
    d = summary["districts"]
    codes = summary["last_standing"]
    return any(d[c]["fall_day"] is None for c in codes), [d[c]["name"] for c in codes]


def cast_fates(records: list[dict]) -> dict:
    """Each character's last record: ``{name: {state, t_min, day, district, survived}}``."""
    fates = {}
    for r in records:
        fates[r["name"]] = {k: v for k, v in r.items() if k != "name"}
    for f in fates.values():
        f["survived"] = f["state"] in SURVIVING
    return fates
