"""Ensembles: many seeds across parameter values, serially, on local processes or on Dask.

Each run is :func:`run_one` (a scenario as a plain dict, its overrides and a seed), which
returns a small record: the run's headline numbers, each district's fall day, each
character's final state and the epidemic curves downsampled to every 6 hours (about 2 KB
for a 14-day Seoul run). Only these records travel back from the workers, never run
folders. A run's record depends only on its scenario and seed: not on the worker, the
order or the number of workers.

An ensemble folder holds ``runs.jsonl`` (one record per finished run, appended as each
finishes, so an interrupted sweep rerun with the same arguments skips what is done),
``sweep.json`` (the arguments), ``ensemble.parquet``, ``ensemble_summary.json``, plots and
``report.html``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seoulfall import report, safeload
from seoulfall.atomic import atomic_write_json, atomic_write_parquet
from seoulfall.engine.states import LATER_STATES, SURVIVING
from seoulfall.engine.states import NAMES as STATE_NAMES
from seoulfall.report import plot_ensemble_curves
from seoulfall.results import jsonl
from seoulfall.scenario import Scenario, ScenarioError
from seoulfall.simulation import Simulation, check_backend, resolve

CURVE_EVERY_MIN = 360.0
#: Runs that share one GPU at once in a GPU ensemble (:func:`run_jobs`). Each holds its
#: agents, tables and per-cell buffers on the device: 50 MB at 1/100 of Seoul (96,075
#: agents), of which 24 MB the journeys' ways to the zones, which do not shrink with scale.
GPU_RUNS_AT_ONCE = 8
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SURVIVED = SURVIVING  # (the name scripts may know)
#: The names an ensemble folder may hold that seoulfall writes.
OWN = (
    "sweep.json",
    "runs.jsonl",
    "ensemble.parquet",
    "ensemble_summary.json",
    "ensemble_curves.png",
    "p_fall.png",
    "district_odds.png",
    "report.html",
)


def run_one(
    raw: dict,
    overrides: dict,
    seed: int,
    at_min: list[float] | None = None,
    backend: str = "cpu",
) -> dict:
    """Run one scenario with overrides and a seed; return its record.

    ``raw`` is ``Scenario.to_dict()``; the record is described in the module docstring.
    With ``at_min`` it also holds ``at``: each state's count at those times (minutes; the
    time series interpolated linearly), for fitting observed curves. ``backend``: where it
    steps (the record is the same on both).
    """
    sc = Scenario.from_dict(raw, {**overrides, "seed": int(seed)})
    t0 = time.perf_counter()
    res = Simulation(sc, threads=1, backend=backend).run()
    s = res.summary
    ts = res.timeseries
    keep = np.isclose(np.mod(ts["t_min"], CURVE_EVERY_MIN), 0) | (ts.index == ts.index[-1])
    curves = ts[keep]
    rec = {
        "seed": int(seed),
        "vary": {k: v for k, v in overrides.items() if k not in ("seed",)},
        "agents": s["agents"],
        "final": {k: s["final"].get(k, 0) for k in STATE_NAMES},
        "fall_day": s["fall_day"],
        "peak_zombies": s["peak_zombies"]["count"],
        "peak_day": s["peak_zombies"]["day"],
        "districts": {c: [v["name"], v["fall_day"]] for c, v in s["districts"].items()},
        "cast": {n: f["state"] for n, f in s.get("cast", {}).items()},
        "curves": {
            "day": [round(float(v), 4) for v in curves["day"]],
            **{k: [int(v) for v in curves[k]] for k in ("human", "zombie", "evolved", "dead")},
        },
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if at_min is not None:
        t = ts["t_min"].to_numpy(float)
        rec["at"] = {k: np.interp(at_min, t, ts[k]).tolist() for k in STATE_NAMES if k in ts}
    return rec


def combinations(vary: dict | None) -> list[dict]:
    """Every combination of the varied values, as override dicts (one empty dict if none)."""
    vary = vary or {}
    keys = list(vary)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(vary[k] for k in keys))]


def _key(combo: dict, seed: int) -> str:
    return json.dumps([combo, int(seed)], sort_keys=True)


class _Record(BaseModel):
    """A run's record as ``runs.jsonl`` holds it: checked before it counts in the odds."""

    model_config = ConfigDict(strict=True, extra="forbid")
    seed: int = Field(ge=0)
    vary: dict
    agents: int = Field(ge=0)
    final: dict[str, Annotated[int, Field(ge=0)]]
    fall_day: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None
    peak_zombies: int = Field(ge=0)
    peak_day: float = Field(ge=0, allow_inf_nan=False)
    districts: dict[str, tuple[str, Annotated[float, Field(ge=0, allow_inf_nan=False)] | None]]
    cast: dict[str, str]
    curves: dict[str, list[float] | list[int]]
    seconds: float = Field(ge=0, allow_inf_nan=False)
    at: dict[str, list[Annotated[float, Field(ge=0, allow_inf_nan=False)]]] | None = None


class SweepError(ValueError):
    """A sweep folder or record that cannot be used; the message is one line for users."""


def read_runs(folder: Path) -> dict[str, dict]:
    """Records already in ``runs.jsonl`` by (combination, seed).

    A line that is not JSON (cut by a crash) is skipped, and its run is run again.

    Raises
    ------
    SweepError
        A JSON line that is not a valid record (an edited file): it would count in the odds.
    """
    path = folder / "runs.jsonl"
    out = {}
    if not path.exists():
        return out
    text = safeload.read_text(path, str(path))
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash (or not JSON at all): that run is run again
        try:
            _Record.model_validate_json(line)  # JSON's own types: 1.5 is no seed
            missing = set(STATE_NAMES) - set(rec["final"])
            if missing and missing <= set(LATER_STATES):  # written before they were counted
                rec["final"].update(dict.fromkeys(missing, 0))
            if set(rec["final"]) != set(STATE_NAMES):
                raise ValueError("final must count every state")
            if set(rec["cast"].values()) - set(STATE_NAMES):
                raise ValueError("cast holds an unknown state")
        except (ValueError, ValidationError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            if isinstance(exc, ValidationError):
                err = exc.errors()[0]
                msg = f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            raise SweepError(f"{path} line {i}: not a seoulfall run record ({msg})") from None
        out[_key(rec["vary"], rec["seed"])] = rec
    return out


class Ensemble:
    """The records of an ensemble, as a table and a summary."""

    def __init__(self, records: list[dict], vary_keys: list[str], scenario=None):
        self.records = sorted(
            records, key=lambda r: (json.dumps(r["vary"], sort_keys=True), r["seed"])
        )
        self.vary_keys = vary_keys
        self.scenario = scenario
        self.table = _table(self.records, vary_keys)
        self.summary = _summary(self.records, vary_keys)

    def __repr__(self) -> str:
        s = self.summary
        name = self.scenario.name if self.scenario is not None else None
        odds = ", ".join(
            f"{_combo_label(c['vary'])}: P(falls) {c['p_fall']:.2f}" for c in s["combinations"]
        )
        return f"<Ensemble {name!r} runs={s['runs']} vary={s['vary']} [{odds}]>"

    def _repr_html_(self) -> str:
        """A notebook's view: per combination, the runs, P(falls) and the median fall day."""
        import html

        rows = []
        for c in self.summary["combinations"]:
            fd = c["quantiles"]["fall_day"]["q50"]
            cells = (_combo_label(c["vary"]), str(c["runs"]), f"{c['p_fall']:.2f}",
                     "-" if fd is None else f"{fd:.2f}")  # fmt: skip
            rows.append("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in cells) + "</tr>")
        head = "<tr><th>combination</th><th>runs</th><th>P(falls)</th><th>median fall day</th></tr>"
        name = html.escape(self.scenario.name) if self.scenario is not None else ""
        return f"<table><caption>seoulfall.Ensemble {name}</caption>{head}{''.join(rows)}</table>"

    def plot(self):
        """The median and 50 % / 90 % bands of humans and zombies per combination (a Figure)."""
        return plot_ensemble_curves(self)

    def save(self, folder: str | Path) -> Path:
        """Write ``ensemble.parquet``, ``ensemble_summary.json``, the plots and the report."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_parquet(folder / "ensemble.parquet", self.table)
        atomic_write_json(folder / "ensemble_summary.json", self.summary)
        report.write_ensemble_outputs(self, folder)
        return folder


def _combo_label(vary: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in vary.items()) or "all runs"


def _table(records, vary_keys) -> pd.DataFrame:
    rows = []
    for r in records:
        row = {"seed": r["seed"]}
        for k in vary_keys:
            row[k] = r["vary"].get(k)
        for k, v in r["final"].items():
            row[f"final_{k}"] = v
        row["fall_day"] = r["fall_day"]
        row["peak_zombies"] = r["peak_zombies"]
        row["peak_day"] = r["peak_day"]
        for code, (_, day) in r["districts"].items():
            row[f"fall_day_{code}"] = day
        for name, state in r["cast"].items():
            row[f"cast_{name}"] = state
        rows.append(row)
    df = pd.DataFrame(rows)
    for c in df.columns:
        if c == "fall_day" or c.startswith("fall_day_"):
            df[c] = df[c].astype(float)
    return df


def last_codes(rec: dict) -> list[str]:
    """A run record's last districts: those that never fell, else those that fell last."""
    vals = {c: (math.inf if d is None else d) for c, (_, d) in rec["districts"].items()}
    top = max(vals.values())
    return [c for c, v in vals.items() if v == top]


def _quantiles(values) -> dict:
    v = np.asarray([np.nan if x is None else x for x in values], float)
    ok = v[np.isfinite(v)]
    if ok.size == 0:
        return {f"q{int(q * 100):02d}": None for q in QUANTILES} | {"n": 0}
    return {f"q{int(q * 100):02d}": float(np.quantile(ok, q)) for q in QUANTILES} | {
        "n": int(ok.size)
    }


def _cast_odds(records) -> dict:
    names = list(dict.fromkeys(n for r in records for n in r["cast"]))
    return {
        n: float(np.mean([r["cast"].get(n) in SURVIVED for r in records if n in r["cast"]]))
        for n in names
    }


def _group_summary(recs: list[dict]) -> dict:
    n = len(recs)
    days = max((r["curves"]["day"][-1] for r in recs), default=0.0)
    fall = [r["fall_day"] for r in recs]
    p_fall = {
        str(d): float(np.mean([f is not None and f <= d for f in fall]))
        for d in range(1, int(math.ceil(days)) + 1)
    }
    districts = {}
    for code, (name, _) in recs[0]["districts"].items():
        days_d = [r["districts"][code][1] for r in recs]
        fell = [d for d in days_d if d is not None]
        districts[code] = {
            "name": name,
            "p_fall": len(fell) / n,
            "p_never": 1.0 - len(fell) / n,
            "median_fall_day": float(np.median(fell)) if fell else None,
            "p_last": 0.0,
            "p_last_to_fall": 0.0,
        }
    for r in recs:
        # which district falls last (or never): shared among the latest
        last = last_codes(r)
        for c in last:
            districts[c]["p_last"] += 1.0 / (n * len(last))
        # which district is the last to fall, among those that fell (ties shared)
        fell_days = {c: d for c, (_, d) in r["districts"].items() if d is not None}
        if fell_days:
            latest = max(fell_days.values())
            final = [c for c, d in fell_days.items() if d == latest]
            for c in final:
                districts[c]["p_last_to_fall"] += 1.0 / (n * len(final))
    return {
        "runs": n,
        "quantiles": {
            "fall_day": _quantiles(fall),
            "peak_zombies": _quantiles([r["peak_zombies"] for r in recs]),
            "peak_day": _quantiles([r["peak_day"] for r in recs]),
            **{f"final_{k}": _quantiles([r["final"][k] for r in recs]) for k in STATE_NAMES},
        },
        "p_fall": float(np.mean([f is not None for f in fall])),
        "p_fall_by_day": p_fall,
        "districts": districts,
        "cast": _cast_odds(recs),
    }


def _summary(records, vary_keys) -> dict:
    groups: dict[str, list] = {}
    for r in records:
        groups.setdefault(json.dumps(r["vary"], sort_keys=True), []).append(r)
    combos = []
    for key, recs in groups.items():
        combos.append({"vary": json.loads(key), **_group_summary(recs)})
    return {
        "runs": len(records),
        "vary": vary_keys,
        "cast": _cast_odds(records),
        "combinations": combos,
    }


@contextlib.contextmanager
def _children_ignore_sigint():
    """Start worker processes that ignore SIGINT (they inherit it being ignored).

    Ctrl-C reaches every process of the terminal's group; the sweep's own process stops the
    cluster, and workers that each raised KeyboardInterrupt would only print tracebacks.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


class RunLog:
    """A folder's ``runs.jsonl``: the records already there (``done``), and each new one added.

    Each record is written and flushed to disk as it finishes, so that an interrupted study
    rerun with the same arguments runs only what is missing. Without a folder it keeps
    nothing. Use it as a context manager (the file is open inside).
    """

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.done = read_runs(folder) if folder is not None else {}
        self._sink = None

    def __enter__(self) -> RunLog:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / "runs.jsonl"
            torn = path.exists() and path.stat().st_size > 0
            torn = torn and not path.read_bytes().endswith(b"\n")
            self._sink = open(path, "a", encoding="utf-8")
            if torn:  # a line cut by a crash: end it so the next record starts on its own line
                self._sink.write("\n")
        return self

    def __exit__(self, *exc) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def add(self, rec: dict) -> None:
        """Keep a finished run's record (on disk at once)."""
        self.done[_key(rec["vary"], rec["seed"])] = rec
        if self._sink is not None:
            self._sink.write(jsonl([rec]))
            self._sink.flush()
            os.fsync(self._sink.fileno())


@contextlib.contextmanager
def dask_client(client=None, workers: int | None = None):
    """Where runs go, as a context.

    ``client``; else a local Dask cluster of ``workers`` processes (closed on the way out);
    else ``None``, for one run after another in this process.
    """
    own_cluster = None
    try:
        if client is None and workers:
            from dask.distributed import Client, LocalCluster

            with _children_ignore_sigint(), warnings.catch_warnings():
                # another Dask cluster on this machine holds the default HTTP port: ours
                # takes another, which is no news to the user (and would break the one line)
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                own_cluster = LocalCluster(
                    n_workers=int(workers),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # a sweep stopped by Ctrl-C is no worker's error, nor is a worker's lost
                    # heartbeat as the cluster closes (logged as an ERROR on a busy machine,
                    # it broke the one line); a run's own error comes back through its future
                    silence_logs=logging.CRITICAL,
                )
            client = Client(own_cluster)
        yield client
    finally:
        if own_cluster is not None:
            client.close()
            own_cluster.close()


def gpu_runs_at_once() -> int:
    """How many runs share the GPU at once in one process (each on its own CUDA stream).

    ``GPU_RUNS_AT_ONCE``; one under numba's CUDA simulator, whose kernels patch the module
    they run in and so cannot run from two threads at once.
    """
    from numba import config

    return 1 if config.ENABLE_CUDASIM else GPU_RUNS_AT_ONCE


def run_jobs(raw: dict, todo: list, client, finished: Callable[[dict], None], **extra) -> None:
    """Run each ``(overrides, seed)`` of ``todo`` (:func:`run_one`), here or on ``client``.

    ``finished(record)`` is called as each one ends (in the order they end); ``extra`` goes
    to :func:`run_one`. With ``backend="gpu"`` and no client, :func:`gpu_runs_at_once` runs
    go at once, each from its own thread of this process on its own CUDA stream, so that
    small runs fill the card; a run's record is the CPU's for its seed either way.
    """
    if client is None and extra.get("backend") == "gpu" and todo:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        pool = ThreadPoolExecutor(gpu_runs_at_once(), thread_name_prefix="seoulfall-gpu")
        try:
            futures = [pool.submit(run_one, raw, c, s, **extra) for c, s in todo]
            for fut in as_completed(futures):
                finished(fut.result())
        finally:  # an error or an interrupt: no new run starts, the running ones end
            pool.shutdown(wait=True, cancel_futures=True)
    elif client is None:
        for combo, seed in todo:
            finished(run_one(raw, combo, seed, **extra))
    elif todo:
        from dask.distributed import as_completed

        futures = [client.submit(run_one, raw, c, s, pure=False, **extra) for c, s in todo]
        for fut in as_completed(futures):
            finished(fut.result())


def ensemble(
    scenario: Scenario | str = "seoul-falls",
    seeds: int | list[int] = 10,
    vary: dict | None = None,
    client=None,
    *,
    workers: int | None = None,
    overrides: dict | None = None,
    scale: float | None = None,
    days: float | None = None,
    out: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    backend: str = "cpu",
) -> Ensemble:
    """Run every combination of ``vary`` x ``seeds`` and return the :class:`Ensemble`.

    Parameters
    ----------
    scenario : Scenario or str
        The scenario (or a bundled name or TOML path).
    seeds : int or list of int
        ``N`` means seeds 0 .. N-1.
    vary : dict, optional
        ``{"zombie.bite_rate": [0.1, 0.2]}``: every combination of the values.
    client : dask.distributed.Client, optional
        Run on this Dask cluster. Without it and without ``workers`` the runs go one after
        another in this process.
    workers : int, optional
        Start a local Dask cluster of this many worker processes for the runs.
    overrides, scale, days
        Applied to the scenario first (as for :func:`seoulfall.simulate`).
    out : path, optional
        Ensemble folder: finished runs are appended to ``runs.jsonl`` there, runs already
        in it are skipped, and the outputs are written at the end.
    progress : callable, optional
        ``progress(done, total)`` after each run.
    backend : {"cpu", "gpu"}
        Where the runs step. ``"gpu"`` without a client runs ``GPU_RUNS_AT_ONCE`` at once
        in this process on one GPU (:func:`run_jobs`); each run's record equals the CPU's.
    """
    check_backend(backend)
    sc = resolve(scenario, scale=scale, days=days, overrides=overrides)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise ScenarioError("seeds: give at least one seed")
    combos = combinations(vary)
    for combo in combos:  # every combination must be a valid scenario: fail before running
        sc.override(combo)
    raw = sc.to_dict()
    folder = Path(out) if out is not None else None
    log = RunLog(folder)
    todo = [(c, s) for c in combos for s in seed_list if _key(c, s) not in log.done]
    records = [log.done[_key(c, s)] for c in combos for s in seed_list if _key(c, s) in log.done]
    total = len(combos) * len(seed_list)

    def finished(rec):
        records.append(rec)
        log.add(rec)
        if progress is not None:
            progress(len(records), total)

    with log, dask_client(client, workers) as cl:
        run_jobs(raw, todo, cl, finished, **({"backend": backend} if backend != "cpu" else {}))
    result = Ensemble(records, list((vary or {}).keys()), scenario=sc)
    if folder is not None:
        result.save(folder)
    return result
