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


def saved_by_flight(summary: dict) -> int | None:
    """The fled, where they alone kept the city from its fall; else None.

    Every district fell, yet the city's ``fall_day`` is null because the fled count as
    saved (SPEC §8).
    """
    fled = (summary.get("edge") or {}).get("fled", 0)
    d = summary["districts"]
    if (
        summary["fall_day"] is None
        and fled
        and d
        and all(v["fall_day"] is not None for v in d.values())
    ):
        return int(fled)
    return None


def cast_fates(records: list[dict]) -> dict:
    """Each character's last record: ``{name: {state, t_min, day, district, survived}}``."""
    fates = {}
    for r in records:
        fates[r["name"]] = {k: v for k, v in r.items() if k != "name"}
    for f in fates.values():
        f["survived"] = f["state"] in SURVIVING
    return fates


def over_the_edge(summary: dict, most: int = 3) -> str | None:
    """Who left over the city's open edge, in words (``None`` where the edge is a wall).

    ``"1,117 infected crossed the city's edge (the outbreak reached the land beyond), most
    through Gangnam-gu 412, ...; 689 people fled by land"``, or that none infected crossed.
    """
    e = summary.get("edge")
    if e is None:
        return None
    by = sorted(e["through"].values(), key=lambda v: (-v["escaped"], -v["fled"], v["name"]))
    ways = ", ".join(f"{v['name']} {v['escaped']:,}" for v in by[:most] if v["escaped"])
    if e["escaped"]:
        out = f"{e['escaped']:,} infected crossed the city's edge (the outbreak reached the "
        out += f"land beyond), most through {ways}"
    else:
        out = "no infected crossed the city's edge (Seoul contained the outbreak)"
    return f"{out}; {e['fled']:,} people fled by land"


def underground(summary: dict, most: int = 3) -> str | None:
    """What the subway did, in words (``None`` without a subway).

    ``"5,530 commuters rode; 41 infected aboard; zombies rode line 2 from day 0.31 (from
    Gangnam), 9 from day 0.33 (...), ..."``, or that no zombie rode.
    """
    sw = summary.get("subway")
    if sw is None:
        return None
    out = f"{sw['riders']:,} commuters rode; {sw['infected_aboard']:,} infected aboard"
    reached = sorted(
        ((v["first_zombie_day"], name, v["first_zombie_from"]) for name, v in sw["lines"].items()
         if v["first_zombie_day"] is not None)
    )  # fmt: skip
    if not reached:
        return out + "; no zombie rode a train"
    first = ", ".join(
        f"{'line ' if i == 0 else ''}{name} from day {d:.2f} ({at})"
        for i, (d, name, at) in enumerate(reached[:most])
    )
    more = f" (+{len(reached) - most} more lines)" if len(reached) > most else ""
    return f"{out}; zombies rode {first}{more}"
