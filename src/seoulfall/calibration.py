"""Calibration: the scenario values that make a story happen, or fit an observed curve.

:func:`calibrate` searches the varied ranges with Optuna's TPE sampler. Each trial runs the
scenario at the trial's values for K seeds (the sweep's records, :func:`sweep.run_one`) and
scores the ensemble against the targets:

- a number (``fall_day=5``, ``peak_zombies=30000``, ``final.human=20000``,
  ``fall_day.Jongno-gu=7``): the mean over the seeds of ``((value - target) / tol)²``; a
  seed meets it when ``|value - target| <= tol``;
- ``last_standing=DISTRICT``: met by a seed in which the district is among the last
  standing (``outcome.last_standing``: those that never fell, else those that fell last);
- ``cast.NAME=survived`` (or a state: ``dead``, ``zombie``, ...): met by a seed in which the
  character ends so;
- ``data=FILE.csv``: observed counts (a ``day`` column and state columns), fitted by the
  log-count error ``mean((log(1 + model) - log(1 + observed))²) / tol²`` of the seeds' mean
  curve at the observed days; a seed meets it when its own root-mean-square log error is at
  most ``tol``.

A categorical target adds ``1 - hit rate``. Each target is weighted (``:weight=W``,
default 1) and the trial's score is the weighted sum, minimised.

In a folder, the study lives in SQLite (``study.db``) and every run's record in
``runs.jsonl``: a killed calibration rerun with the same arguments continues, the killed
trial is tried again with its values (its finished runs are reused), and a larger
``trials`` adds trials.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seoulfall.atomic import atomic_write_json, atomic_write_parquet, atomic_write_text
from seoulfall.engine.states import NAMES as STATE_NAMES
from seoulfall.engine.states import SURVIVING
from seoulfall.report.page import _table
from seoulfall.report.tuning import plot_fit, write_calibration_outputs
from seoulfall.scenario import Scenario
from seoulfall.simulation import resolve
from seoulfall.study import (
    StudyError,
    check_output,
    district_code,
    output_value,
    parse_ranges,
)
from seoulfall.sweep import RunLog, _key, dask_client, last_codes, run_jobs

#: The names a calibration folder may hold that seoulfall writes.
OWN = (
    "calibrate.json",
    "study.db",
    "runs.jsonl",
    "best.toml",
    "trials.parquet",
    "calibration.json",
    "fit.png",
    "history.png",
    "report.html",
)

_DAYS = ("fall_day", "peak_day")


@dataclass(frozen=True)
class Target:
    """One target of a calibration (see the module's description).

    ``kind``: ``number``, ``last_standing``, ``cast`` or ``data``; ``output``: the output a
    number reads (``study.output_value``), the district's code, the character's name or the
    data file; ``value``: the target (a number, a state, ``survived``, or for data the
    observed columns with ``t_min``).
    """

    label: str
    kind: str
    output: str
    value: object
    tol: float
    weight: float = 1.0
    observed: dict = field(default_factory=dict, compare=False, hash=False, repr=False)


_OPTION = re.compile(r"^(tol|weight)=(.+)$")


def parse_target(text: str, sc: Scenario) -> Target:
    """``KEY=VALUE[:tol=T][:weight=W]`` as a :class:`Target`, checked against the scenario."""
    if "=" not in text:
        raise StudyError(f"--target {text!r}: expected KEY=VALUE, e.g. fall_day=5")
    key, spec = (p.strip() for p in text.split("=", 1))
    parts = spec.split(":")
    opts: dict[str, float] = {}
    while len(parts) > 1 and _OPTION.match(parts[-1].strip()):
        name, val = _OPTION.match(parts.pop().strip()).groups()
        try:
            opts[name] = float(val)
        except ValueError:
            raise StudyError(f"--target {text!r}: {name} must be a number") from None
        if not (math.isfinite(opts[name]) and opts[name] > 0):
            raise StudyError(f"--target {text!r}: {name} must be above 0")
    value = ":".join(parts).strip()
    what = f"--target {key}"
    weight = opts.get("weight", 1.0)
    if key == "data":
        observed = read_observed(Path(value), sc)
        label = f"data={value}"
        return Target(label, "data", value, None, opts.get("tol", 0.1), weight, observed)
    if key == "last_standing":
        code = district_code(value, sc, what)
        return Target(f"last_standing={value}", "last_standing", code, value, 1.0, weight)
    if key.startswith("cast."):
        name = key[5:]
        names = [c.name for c in sc.cast]
        if name not in names:
            raise StudyError(
                f"{what}: no character {name!r}; the cast: {', '.join(names) or 'none'}"
            )
        if value != "survived" and value not in STATE_NAMES:
            allowed = ", ".join(("survived", *STATE_NAMES))
            raise StudyError(f"{what}={value}: expected one of {allowed}")
        return Target(f"{key}={value}", "cast", name, value, 1.0, weight)
    output = check_output(key, sc, what)
    try:
        number = float(value)
    except ValueError:
        raise StudyError(f"{what}={value!r}: the target must be a number") from None
    if not math.isfinite(number):
        raise StudyError(f"{what}: the target must be finite")
    if output.split(".")[0] in _DAYS and number > sc.time.days:
        raise StudyError(
            f"{what}={value}: a run lasts {sc.time.days:g} days (--days); the target cannot happen"
        )
    tol = opts.get("tol", 0.5 if output.split(".")[0] in _DAYS else max(1.0, abs(number) / 10))
    return Target(f"{key}={value}", "number", output, number, tol, weight)


def read_observed(path: Path, sc: Scenario) -> dict:
    """Observed counts from a CSV of ``day`` and state columns, by column (days as ``t_min``)."""
    where = f"--target data={path}"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyError(f"{where}: cannot read it ({exc.__class__.__name__})") from None
    except csv.Error as exc:
        raise StudyError(f"{where}: not a CSV file ({exc})") from None
    if len(rows) < 2:
        raise StudyError(f"{where}: expected a header (day and state columns) and rows")
    head = [h.strip() for h in rows[0]]
    if "day" not in head:
        raise StudyError(f"{where}: no 'day' column (columns: {', '.join(head)})")
    cols = [h for h in head if h != "day"]
    bad = [h for h in cols if h not in STATE_NAMES]
    if bad or not cols:
        raise StudyError(
            f"{where}: column {bad[0] if bad else '(none)'!r} is not a state; "
            f"columns: day and any of {', '.join(STATE_NAMES)}"
        )
    data: dict[str, list[float]] = {h: [] for h in head}
    for i, row in enumerate(rows[1:], 2):
        if not any(x.strip() for x in row):
            continue
        if len(row) != len(head):
            raise StudyError(f"{where} line {i}: {len(row)} values for {len(head)} columns")
        for h, x in zip(head, row):
            try:
                v = float(x)
            except ValueError:
                raise StudyError(f"{where} line {i}: {h} = {x!r} is not a number") from None
            if not math.isfinite(v) or v < 0:
                raise StudyError(f"{where} line {i}: {h} = {x!r} must be a count (0 or more)")
            data[h].append(v)
    days = data.pop("day")
    if not days:
        raise StudyError(f"{where}: no rows")
    if max(days) > sc.time.days:
        raise StudyError(
            f"{where}: day {max(days):g} is past the run's end (day {sc.time.days:g}; --days)"
        )
    return {"t_min": [d * 1440.0 for d in days], **data}


def _hits_and_loss(t: Target, recs: list[dict]) -> tuple[float, float, float]:
    """(loss, hit rate, the ensemble's value) of a target over the seeds' records."""
    if t.kind == "number":
        vals = np.array([output_value(r, t.output) for r in recs])
        loss = float(np.mean(((vals - t.value) / t.tol) ** 2))
        return loss, float(np.mean(np.abs(vals - t.value) <= t.tol)), float(vals.mean())
    if t.kind == "data":
        cols = [c for c in t.observed if c != "t_min"]
        obs = np.log1p(np.array([t.observed[c] for c in cols]))
        idx = t.value  # where the target's days are among the runs' ``at`` times
        each = np.log1p(np.array([[np.take(r["at"][c], idx) for c in cols] for r in recs]))
        mean = np.log1p(np.expm1(each).mean(axis=0))
        loss = float(np.mean((mean - obs) ** 2)) / t.tol**2
        rmsle = np.sqrt(((each - obs) ** 2).mean(axis=(1, 2)))
        return loss, float(np.mean(rmsle <= t.tol)), float(np.sqrt(loss) * t.tol)
    if t.kind == "cast":
        states = [r["cast"].get(t.output) for r in recs]
        hit = [s in SURVIVING if t.value == "survived" else s == t.value for s in states]
    else:  # last_standing
        hit = [t.output in last_codes(r) for r in recs]
    rate = float(np.mean(hit))
    return 1.0 - rate, rate, rate


def score(targets: list[Target], recs: list[dict]) -> tuple[float, dict, dict]:
    """A trial's score (the weighted sum of the targets' losses), hit rates and values."""
    total, hits, values = 0.0, {}, {}
    for t in targets:
        loss, rate, value = _hits_and_loss(t, recs)
        total += t.weight * loss
        hits[t.label], values[t.label] = rate, value
    return total, hits, values


class Calibration:
    """A calibration's trials and its best values.

    ``best``: the best trial's values by key; ``best_score``, ``hits`` (each target's hit
    rate over the best trial's seeds), ``values`` (each target's ensemble value there);
    ``scenario``: the scenario with the best values (``best.toml``); ``records``: the best
    trial's runs.
    """

    def __init__(self, base: Scenario, ranges, targets, trials: list[dict], records, seconds):
        self.base, self.ranges, self.targets = base, list(ranges), list(targets)
        self.trials = trials
        done = [t for t in trials if t["score"] is not None]
        best = min(done, key=lambda t: (t["score"], t["number"]))
        self.best = dict(best["params"])
        self.best_trial = best["number"]
        self.best_score = best["score"]
        self.hits, self.values = best["hits"], best["values"]
        self.scenario = base.override(self.best)
        self.records = records
        self.seconds = seconds

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v:.4g}" for k, v in self.best.items())
        hits = ", ".join(f"{k}: {v:.2f}" for k, v in self.hits.items())
        n, best = len(self.trials), self.best_score
        return f"<Calibration trials={n} best=[{vals}] score={best:.3g} hits=[{hits}]>"

    def _repr_html_(self) -> str:
        rows = [[k, f"{v:.6g}"] for k, v in self.best.items()]
        rows += [[f"target {k}", f"met in {v:.0%} of seeds"] for k, v in self.hits.items()]
        return "<b>seoulfall.Calibration</b>" + _table(["best", "value"], rows)

    def to_df(self) -> pd.DataFrame:
        """One row per trial: its number, values, score, and each target's hit rate and value."""
        rows = []
        for t in self.trials:
            row = {"trial": t["number"], **t["params"], "score": t["score"]}
            row.update({f"hit {k}": v for k, v in (t["hits"] or {}).items()})
            row.update({f"value {k}": v for k, v in (t["values"] or {}).items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> dict:
        """``calibration.json``: the best values, the targets' hit rates, the search's history."""
        best_so_far, history = math.inf, []
        for t in self.trials:
            if t["score"] is not None:
                best_so_far = min(best_so_far, t["score"])
            history.append({"trial": t["number"], "score": t["score"], "best": best_so_far})
        return {
            "best": {"trial": self.best_trial, "values": self.best, "score": self.best_score},
            "targets": [
                {
                    "target": t.label,
                    "tol": t.tol,
                    "weight": t.weight,
                    "hit_rate": self.hits[t.label],
                    "value": self.values[t.label],
                }
                for t in self.targets
            ],  # fmt: skip
            "vary": {r.key: {"lo": r.lo, "hi": r.hi, "log": r.log} for r in self.ranges},
            "trials": len(self.trials),
            "seeds_per_trial": len(self.records),
            "runs": len(self.trials) * len(self.records),
            "seconds": round(self.seconds, 1),
            "history": history,
        }

    def plot(self):
        """The targets against the best values' ensemble (a Figure)."""
        return plot_fit(self)

    def save(self, folder: str | Path) -> Path:
        """Write ``best.toml``, ``trials.parquet``, ``calibration.json``, the plots, the report."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "best.toml", self.scenario.to_toml())
        atomic_write_parquet(folder / "trials.parquet", self.to_df())
        atomic_write_json(folder / "calibration.json", self.summary())
        write_calibration_outputs(self, folder)
        return folder


def _study(folder: Path | None):
    """The Optuna study: in memory, or continued from the folder's ``study.db``.

    Raises
    ------
    StudyError
        ``study.db`` is not a study seoulfall can read (damaged, or another program's).
    """
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    storage = None
    path = folder / "study.db" if folder is not None else None
    try:
        if path is not None:
            storage = optuna.storages.RDBStorage("sqlite:///" + str(path.resolve()))
        return optuna.create_study(
            storage=storage, study_name="seoulfall", direction="minimize", load_if_exists=True
        )
    except (SQLAlchemyError, RuntimeError, ValueError) as exc:
        msg = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
        raise StudyError(f"{path}: cannot read the study ({msg})") from None


def calibrate(
    scenario: Scenario | str = "seoul-falls",
    targets=(),
    vary=(),
    trials: int = 20,
    seeds_per_trial: int = 4,
    client=None,
    *,
    workers: int | None = None,
    overrides: dict | None = None,
    scale: float | None = None,
    days: float | None = None,
    out: str | Path | None = None,
    seed: int = 0,
    progress=None,
) -> Calibration:
    """Search ``vary`` for the values whose ensemble best meets ``targets``.

    Parameters
    ----------
    scenario : Scenario or str
        The scenario (or a bundled name or TOML path).
    targets : list of str
        ``KEY=VALUE[:tol=T][:weight=W]`` (see the module's description).
    vary : list of str or dict
        ``KEY=LO:HI[:log]``, or ``{key: (lo, hi)}`` / ``{key: (lo, hi, "log")}``.
    trials, seeds_per_trial : int
        The study's trials in all (a folder's earlier trials count), and the seeds
        (0 .. K-1) each trial runs.
    client, workers, overrides, scale, days
        As for :func:`seoulfall.ensemble`.
    out : path, optional
        The study folder: ``study.db``, ``runs.jsonl`` and the outputs.
    seed : int
        The sampler's seed.
    progress : callable, optional
        ``progress(trials_done, trials)`` after each trial.
    """
    import optuna

    sc = resolve(scenario, scale=scale, days=days, overrides=overrides)
    ranges = parse_ranges(vary, sc)
    targets = [t if isinstance(t, Target) else parse_target(t, sc) for t in targets]
    if not targets:
        raise StudyError("--target: give at least one target, e.g. fall_day=5")
    if trials < 1 or seeds_per_trial < 1:
        raise StudyError("--trials and --seeds-per-trial must be 1 or more")
    data = [t for t in targets if t.kind == "data"]
    at_min = sorted({m for t in data for m in t.observed["t_min"]}) or None
    if at_min is not None:  # every data target reads the runs at its own days
        targets = [_at(t, at_min) if t.kind == "data" else t for t in targets]
    folder = Path(out) if out is not None else None
    raw = sc.to_dict()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    study = _study(folder)
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL)  # killed: tried again, with its values
        study.enqueue_trial(t.params)
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials), multivariate=True)
    dists = {
        r.key: (optuna.distributions.IntDistribution(int(math.ceil(r.lo)), int(r.hi), log=r.log)
                if r.integer else optuna.distributions.FloatDistribution(r.lo, r.hi, log=r.log))
        for r in ranges
    }  # fmt: skip
    seeds = list(range(seeds_per_trial))
    log = RunLog(folder)
    with log, dask_client(client, workers) as cl:
        done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        while done < trials:
            trial = study.ask(dists)
            combo = {r.key: r.value(trial.params[r.key]) for r in ranges}
            recs = _runs(raw, combo, seeds, log, cl, at_min)
            value, hits, values = score(targets, recs)
            trial.set_user_attr("hits", hits)
            trial.set_user_attr("values", values)
            study.tell(trial, value)
            done += 1
            if progress is not None:
                progress(done, trials)
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        params = {r.key: r.value(t.params[r.key]) for r in ranges}
        attrs = t.user_attrs
        rows.append({"number": t.number, "params": params, "score": t.value,
                     "hits": attrs.get("hits"), "values": attrs.get("values")})  # fmt: skip
    best = min(rows, key=lambda t: (t["score"], t["number"]))
    best_recs = [log.done[_key(best["params"], s)] for s in seeds]
    seconds = sum(r["seconds"] for r in log.done.values())
    result = Calibration(sc, ranges, targets, rows, best_recs, seconds)
    if folder is not None:
        result.save(folder)
    return result


def _at(t: Target, at_min: list[float]) -> Target:
    """A data target whose observations are indexed as the runs' ``at`` times are."""
    idx = [at_min.index(m) for m in t.observed["t_min"]]
    return Target(t.label, t.kind, t.output, idx, t.tol, t.weight, t.observed)


def _runs(raw, combo, seeds, log: RunLog, client, at_min) -> list[dict]:
    """The records of ``combo`` at ``seeds``: those in ``log``, the others run (and logged)."""
    todo = [(combo, s) for s in seeds if _key(combo, s) not in log.done]
    run_jobs(raw, todo, client, log.add, at_min=at_min)
    return [log.done[_key(combo, s)] for s in seeds]
