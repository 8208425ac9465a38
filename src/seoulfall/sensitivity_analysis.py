"""Sensitivity: which varied key decides an output, with SALib's Sobol' or Morris methods.

:func:`sensitivity` draws the points of the method's design over the varied ranges (a log
range is sampled uniformly in its logarithm), runs each point for K seeds (the sweep's
records, :func:`sweep.run_one`), averages each output over the seeds and hands the
averages to SALib's analysis:

- ``sobol``: Saltelli's design of ``N (D + 2)`` points (``N`` a power of 2; D keys), first-
  and total-order indices ``S1``, ``ST`` and their 95 % intervals ``S1_conf``, ``ST_conf``;
- ``morris``: ``N`` trajectories of ``D + 1`` points on 4 levels, ``mu``, ``mu_star``,
  ``sigma`` and ``mu_star_conf``.

The seeds' noise stays in the averages: a key that cannot act gets indices that are zero
within their intervals (more seeds per point narrow them). In a folder every run's record
is kept in ``runs.jsonl`` as it finishes, so an interrupted study rerun continues.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from seoulfall.atomic import atomic_write_json, atomic_write_parquet
from seoulfall.report.tuning import plot_indices, write_sensitivity_outputs
from seoulfall.scenario import Scenario
from seoulfall.simulation import resolve
from seoulfall.study import StudyError, check_output, output_value, parse_ranges
from seoulfall.sweep import RunLog, _key, dask_client, run_jobs

METHODS = ("sobol", "morris")
#: The names a sensitivity folder may hold that seoulfall writes.
OWN = (
    "sensitivity_args.json",
    "runs.jsonl",
    "sensitivity.parquet",
    "sensitivity.json",
    "sensitivity.png",
    "report.html",
)
DEFAULT_OUTPUTS = ("fall_day", "peak_zombies", "final.human")


def design(ranges, method: str, samples: int, seed: int = 0) -> list[dict]:
    """The method's points over the ranges, each as ``{key: value}`` (see the module)."""
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    problem = _problem(ranges)
    if method == "sobol":
        x = sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed)
    else:
        x = morris_sample.sample(problem, samples, num_levels=4, seed=seed)
    return [{r.key: r.value(math.exp(v) if r.log else v) for r, v in zip(ranges, row)} for row in x]


def _problem(ranges) -> dict:
    bounds = [[math.log(r.lo), math.log(r.hi)] if r.log else [r.lo, r.hi] for r in ranges]
    return {"num_vars": len(ranges), "names": [r.key for r in ranges], "bounds": bounds}


def runs_needed(ranges, method: str, samples: int, seeds: int) -> tuple[int, int]:
    """(points, runs) a study will take."""
    d = len(ranges)
    points = samples * (d + 2) if method == "sobol" else samples * (d + 1)
    return points, points * seeds


class Sensitivity:
    """A sensitivity study's indices and its design.

    ``indices``: one row per output and key, with the method's index columns; ``Y``: each
    output's averages by point; ``points``, ``runs``: the design's size.
    """

    def __init__(self, base, ranges, method, samples, outputs, seeds, combos, Y, seconds):
        self.base, self.ranges, self.method, self.samples = base, list(ranges), method, samples
        self.outputs, self.seeds, self.combos, self.Y = list(outputs), seeds, combos, Y
        self.points, self.runs, self.seconds = len(combos), len(combos) * seeds, seconds
        self.indices = self._analyse()

    def _analyse(self) -> pd.DataFrame:
        from SALib.analyze import morris as morris_analyze
        from SALib.analyze import sobol as sobol_analyze

        problem = _problem(self.ranges)
        rows = []
        for out in self.outputs:
            y = np.asarray(self.Y[out], float)
            if self.method == "sobol":
                si = sobol_analyze.analyze(problem, y, calc_second_order=False, seed=0)
                names = ("S1", "S1_conf", "ST", "ST_conf")
            else:
                x = np.array([[math.log(c[r.key]) if r.log else c[r.key] for r in self.ranges]
                              for c in self.combos])  # fmt: skip
                si = morris_analyze.analyze(problem, x, y, num_levels=4, seed=0)
                names = ("mu", "mu_star", "sigma", "mu_star_conf")
            for j, r in enumerate(self.ranges):
                row = {"output": out, "key": r.key}
                row.update({n: float(np.nan_to_num(si[n][j])) for n in names})
                rows.append(row)
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        col = "ST" if self.method == "sobol" else "mu_star"
        top = []
        for out in self.outputs:
            d = self.indices[self.indices["output"] == out]
            k = d.loc[d[col].idxmax()]
            top.append(f"{out}: {k['key']} ({col} {k[col]:.2f})")
        return f"<Sensitivity {self.method} runs={self.runs} [{'; '.join(top)}]>"

    def _repr_html_(self) -> str:
        return "<b>seoulfall.Sensitivity</b>" + self.indices.to_html(
            index=False, float_format="%.3g"
        )

    def to_df(self) -> pd.DataFrame:
        """The indices (``sensitivity.parquet``)."""
        return self.indices.copy()

    def plot(self):
        """Each output's indices by key, with their intervals (a Figure)."""
        return plot_indices(self)

    def summary(self) -> dict:
        """``sensitivity.json``: the method, the design's size, the ranges and the indices."""
        return {
            "method": self.method,
            "samples": self.samples,
            "points": self.points,
            "seeds_per_point": self.seeds,
            "runs": self.runs,
            "seconds": round(self.seconds, 1),
            "vary": {r.key: {"lo": r.lo, "hi": r.hi, "log": r.log} for r in self.ranges},
            "outputs": self.outputs,
            "indices": self.indices.to_dict(orient="records"),
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``sensitivity.parquet``, ``sensitivity.json``, the plot and the report."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_parquet(folder / "sensitivity.parquet", self.indices)
        atomic_write_json(folder / "sensitivity.json", self.summary())
        write_sensitivity_outputs(self, folder)
        return folder


def check_design(method: str, samples: int) -> None:
    """Refuse a method or a design size SALib cannot use, in one line."""
    if method not in METHODS:
        raise StudyError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    if samples < 2:
        raise StudyError("--samples must be 2 or more")
    if method == "sobol" and samples & (samples - 1):
        raise StudyError(f"--samples {samples}: Sobol' needs a power of 2 (e.g. 64)")


def sensitivity(
    scenario: Scenario | str = "seoul-falls",
    vary=(),
    method: str = "sobol",
    samples: int = 64,
    outputs=DEFAULT_OUTPUTS,
    seeds_per_point: int = 1,
    client=None,
    *,
    workers: int | None = None,
    overrides: dict | None = None,
    scale: float | None = None,
    days: float | None = None,
    out: str | Path | None = None,
    progress=None,
) -> Sensitivity:
    """Each varied key's indices on each output (see the module's description).

    ``vary``: ``KEY=LO:HI[:log]`` strings or ``{key: (lo, hi[, "log"])}``; ``outputs``:
    names of ``study.output_value``; the rest as for :func:`seoulfall.calibrate`.
    """
    sc = resolve(scenario, scale=scale, days=days, overrides=overrides)
    ranges = parse_ranges(vary, sc)
    check_design(method, samples)
    outputs = [check_output(o, sc, "--outputs") for o in outputs]
    if not outputs:
        raise StudyError("--outputs: name at least one output")
    if seeds_per_point < 1:
        raise StudyError("--seeds-per-point must be 1 or more")
    combos = design(ranges, method, samples)
    seeds = list(range(seeds_per_point))
    folder = Path(out) if out is not None else None
    raw = sc.to_dict()
    log = RunLog(folder)
    keys, todo = set(), []  # a design may repeat a point: each is run once
    for c in combos:
        for s in seeds:
            k = _key(c, s)
            if k not in keys and k not in log.done:
                todo.append((c, s))
            keys.add(k)
    total = len(keys)
    done = total - len(todo)

    def finished(rec):
        nonlocal done
        log.add(rec)
        done += 1
        if progress is not None:
            progress(done, total)

    with log, dask_client(client, workers) as cl:
        run_jobs(raw, todo, cl, finished)
    Y = {
        o: [float(np.mean([output_value(log.done[_key(c, s)], o) for s in seeds])) for c in combos]
        for o in outputs
    }
    seconds = sum(log.done[k]["seconds"] for k in keys)
    result = Sensitivity(sc, ranges, method, samples, outputs, seeds_per_point, combos, Y, seconds)
    if folder is not None:
        result.save(folder)
    return result
