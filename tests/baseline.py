"""The golden baseline: small pinned runs of every bundled scenario, compared exactly.

``tests/baseline.json`` holds, for each bundled scenario at a small size and a fixed seed, the
whole time series, every district's final counts and fall day, the summary's headline
numbers, the events that fired with their effects, the cast's records and a digest of the
map snapshots. ``tests/test_baseline.py`` reruns them and compares every value exactly.

When the model changes on purpose, update the pin in the same commit and say why::

    python tests/baseline.py --update
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

PIN = Path(__file__).with_name("baseline.json")

#: Each bundled scenario at a size that runs in seconds, with every event it has firing.
#: ``NAME[tag]``: the bundled scenario NAME with other overrides. ``seoul-falls[district]``
#: is the default run as it was before residents were placed by dong (2026-11-27), pinned
#: then; ``seoul-falls[still]`` and ``seoul-falls-no-response[still]`` are the two as they
#: were before the city moved (2026-11-27, the day they became moving): with the new keys
#: at their old values the previous model comes back bit for bit. ``[walk]``: the two before
#: they took the subway (2026-11-28): nobody rides. (Pinned at the runs of the two then,
#: 3 and 2 days, equal value for value to their pins of before; now one day each.)
STILL = {
    "commute.enabled": False,
    "interaction.sensing": "box",
    "world.edge": "wall",
}
RUNS = {
    "seoul-falls": {"population.scale": 0.002, "time.days": 3.0, "seed": 0},
    "seoul-falls[walk]": {
        "population.scale": 0.002,
        "time.days": 1.0,
        "seed": 0,
        "subway.enabled": False,
    },
    "seoul-falls[still]": {
        "population.scale": 0.002,
        "time.days": 3.0,
        "seed": 0,
        **STILL,
        "events.5.enabled": False,
    },
    "seoul-falls[district]": {
        "population.scale": 0.002,
        "time.days": 3.0,
        "seed": 0,
        "world.residents": "district",
        **STILL,
        "events.5.enabled": False,
    },
    "seoul-falls-no-response": {"population.scale": 0.002, "time.days": 2.0, "seed": 1},
    "seoul-falls-no-response[walk]": {
        "population.scale": 0.002,
        "time.days": 1.0,
        "seed": 1,
        "subway.enabled": False,
    },
    "seoul-falls-no-response[still]": {
        "population.scale": 0.002,
        "time.days": 3.0,
        "seed": 1,
        **STILL,
    },
    "seoul-moves": {"population.scale": 0.002, "time.days": 3.0, "seed": 5},
    "hyosan": {"population.scale": 0.1, "time.days": 4.5, "seed": 2},
    "well-mixed": {"seed": 3},
    "lattice": {"seed": 4},
}

#: Fields of ``summary.json`` that measure the machine, not the model.
TIMING = ("wall_seconds", "stepping_seconds", "agent_steps_per_second", "threads")


def compute(name: str) -> dict:
    """The pinned outputs of one bundled scenario's small run (JSON-ready)."""
    from seoulfall import Scenario, simulate

    res = simulate(Scenario.load(name.split("[")[0], RUNS[name]))
    summary = {k: v for k, v in res.summary.items() if k not in TIMING}
    last = res.districts[res.districts["t_min"] == res.districts["t_min"].iloc[-1]]
    snaps = res.snapshots
    digest = hashlib.sha256(snaps.counts.tobytes() + snaps.t_min.tobytes()).hexdigest()
    out = {
        "overrides": RUNS[name],
        "summary": summary,
        "timeseries": {c: res.timeseries[c].tolist() for c in res.timeseries.columns},
        "districts_final": last.drop(columns=["t_min", "day"]).to_dict(orient="records"),
        "events": res.events,
        "cast": res.cast,
        "snapshots_sha256": digest,
    }
    return json.loads(json.dumps(out))  # the pin's own types: what a reload compares


def first_difference(want, have, path: str = "") -> str | None:
    """Where two JSON values first differ (``None`` if they are equal)."""
    if isinstance(want, dict) and isinstance(have, dict):
        for k in sorted(set(want) | set(have)):
            if k not in want or k not in have:
                return f"{path}.{k}: only in {'the pin' if k in want else 'this run'}"
            d = first_difference(want[k], have[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(want, list) and isinstance(have, list):
        if len(want) != len(have):
            return f"{path}: {len(want)} items pinned, {len(have)} now"
        for i, (w, h) in enumerate(zip(want, have)):
            d = first_difference(w, h, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if want == have and type(want) is type(have) else f"{path}: {want!r} -> {have!r}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="rewrite tests/baseline.json")
    args = ap.parse_args(argv)
    pinned = json.loads(PIN.read_text(encoding="utf-8")) if PIN.exists() else {}
    now = {}
    for name in RUNS:
        now[name] = compute(name)
        diff = first_difference(pinned[name], now[name]) if name in pinned else "not pinned"
        print(f"{name:<26} {'same' if diff is None else 'differs at ' + diff[:200]}")
    if args.update:
        PIN.write_text(json.dumps(now, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {PIN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
