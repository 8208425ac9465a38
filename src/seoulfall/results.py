"""Results of one run: time series, per-district series, summary; saved as a run folder.

Run folder layout (SPEC §8): ``scenario.toml``, ``timeseries.parquet``, ``districts.parquet``,
``events.jsonl``, ``cast.jsonl`` (with a cast), ``summary.json``, ``snapshots.npz``, the plots
and the animation (:mod:`seoulfall.report`) and ``report.html``. Every file is written to a
temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seoulfall import report, runfolder, safeload
from seoulfall.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
)
from seoulfall.engine.states import COLUMNS, OCCASIONAL
from seoulfall.engine.states import NAMES as STATE_NAMES
from seoulfall.outcome import cast_fates, over_the_edge, underground
from seoulfall.report import plot_curves
from seoulfall.safeload import DamagedFile
from seoulfall.scenario import Scenario
from seoulfall.snapshots import Snapshots

#: States that always have a column; the others (``evacuated``, ``reserve``) appear once used.
CORE_STATES = COLUMNS
FALL_FRACTION = 0.10


def _fall_day(
    days: np.ndarray, humans: np.ndarray, saved: np.ndarray, threat: np.ndarray
) -> float | None:
    """The first recorded day on which a place has fallen (SPEC §8), else None.

    Fallen: its humans, counting those saved by evacuation, and for the city those fled over
    its edge, as still alive, are at most 10 % of their start, and an infected or zombie (or
    evolved zombie) has been recorded there by then. A place emptied by evacuation, or where
    no zombie ever came, never falls. A district's fled are not its saved: they are counted
    where they left the city, not where they lived.
    """
    if humans[0] <= 0:
        return None
    seen = np.maximum.accumulate(threat > 0)
    hit = np.flatnonzero(seen & (humans + saved <= FALL_FRACTION * humans[0]))
    return float(days[hit[0]]) if hit.size else None


def _edge(world, fled: np.ndarray, escaped: np.ndarray) -> dict:
    """``summary["edge"]``: who left over the open edge, and through which district.

    From the last record's per-district ``fled`` and ``escaped``; ``contained``: no infected
    agent left.
    """
    through = {
        code: {"name": name, "fled": int(f), "escaped": int(e)}
        for code, name, f, e in zip(world.district_codes, world.district_names, fled, escaped)
        if f + e > 0
    }
    out = {"fled": int(fled.sum()), "escaped": int(escaped.sum())}
    return {**out, "contained": out["escaped"] == 0, "through": through}


def evacuated_from(events: list[dict], t_min: np.ndarray, codes: list[str]) -> np.ndarray:
    """Humans ordered out of each district by evacuations fired by each recorded time.

    Shape (records, districts), from the ``evacuating_from`` of the ``evacuate`` events.
    """
    out = np.zeros((len(t_min), len(codes)), np.int64)
    index = {c: i for i, c in enumerate(codes)}
    for e in events:
        for code, n in (e.get("evacuating_from") or {}).items():
            if code in index:
                out[t_min >= e["t_min"], index[code]] += int(n)
    return out


class Results:
    """What a run produced.

    Attributes
    ----------
    scenario : Scenario
        The fully resolved scenario (with its seed).
    timeseries : DataFrame
        One row per recorded time: ``t_min``, ``day`` and a column per state.
    districts : DataFrame
        The same per district: ``t_min``, ``day``, ``district`` (code), ``name`` and states.
    summary : dict
        Headline numbers (SPEC §8).
    events : list of dict
        Events that fired (``events.jsonl``).
    """

    def __init__(
        self,
        scenario: Scenario,
        timeseries: pd.DataFrame,
        districts: pd.DataFrame,
        summary: dict,
        events: list[dict] | None = None,
        cast: list[dict] | None = None,
        snapshots=None,
    ):
        self.scenario = scenario
        self.timeseries = timeseries
        self.districts = districts
        self.summary = summary
        self.events = events or []
        self.cast = cast or []
        self.snapshots = snapshots  # seoulfall.snapshots.Snapshots or None

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_records(
        cls,
        scenario: Scenario,
        world,
        t_min: np.ndarray,
        counts: np.ndarray,
        steps: int,
        timing: dict,
        cast: list[dict] | None = None,
        snapshots=None,
        events: list[dict] | None = None,
        subway: dict | None = None,
    ) -> Results:
        """Build results from per-record (district, state) counts.

        ``counts`` has shape (records, districts + 1, states); the last district row holds
        agents off the map. The fled and escaped are counted in the district they
        left from. ``subway``: ``summary["subway"]`` (``Simulation.subway_summary``).
        """
        day = t_min / 1440.0
        states = list(CORE_STATES) + [
            s for s in OCCASIONAL if counts[:, :, STATE_NAMES.index(s)].any()
        ]
        idx = [STATE_NAMES.index(s) for s in states]
        total = counts.sum(axis=1)
        ts = pd.DataFrame({"t_min": t_min, "day": day})
        for s, i in zip(states, idx):
            ts[s] = total[:, i].astype(np.int64)

        nd = len(world.district_codes)
        rec = np.repeat(np.arange(len(t_min)), nd)
        dd = pd.DataFrame(
            {
                "t_min": t_min[rec],
                "day": day[rec],
                "district": np.tile(np.asarray(world.district_codes, dtype=object), len(t_min)),
                "name": np.tile(np.asarray(world.district_names, dtype=object), len(t_min)),
            }
        )
        for s, i in zip(states, idx):
            dd[s] = counts[:, :nd, i].reshape(-1).astype(np.int64)

        agents = int(total[0].sum())
        zombies = ts["zombie"].to_numpy() + ts["evolved"].to_numpy()
        peak = int(np.argmax(zombies))
        threat = counts[:, :, [STATE_NAMES.index(s) for s in ("infected", "zombie", "evolved")]]
        threat = threat.sum(axis=2)
        evacuated = evacuated_from(events or [], t_min, list(world.district_codes))
        fled, escaped = (counts[:, :nd, STATE_NAMES.index(s)] for s in ("fled", "escaped"))
        # people: humans and soldiers (a district held by soldiers has not fallen)
        people = (
            counts[:, :, STATE_NAMES.index("human")] + counts[:, :, STATE_NAMES.index("soldier")]
        )
        dist_summary = {}
        for d, (code, name) in enumerate(zip(world.district_codes, world.district_names)):
            dist_summary[code] = {
                "name": name,
                "fall_day": _fall_day(day, people[:, d], evacuated[:, d], threat[:, d]),
                "evacuated": int(evacuated[-1, d]),
            }
        standing = [c for c, v in dist_summary.items() if v["fall_day"] is None]
        if not standing:
            last = max(dist_summary.values(), key=lambda v: v["fall_day"])["fall_day"]
            standing = [c for c, v in dist_summary.items() if v["fall_day"] == last]
        stepping = timing.get("stepping_seconds", 0.0)
        open_edge = scenario.world.edge == "open"
        summary = {
            "scenario": scenario.name,
            "seed": scenario.seed,
            "agents": agents,
            "days": scenario.time.days,
            "steps": int(steps),
            "dt_min": scenario.time.dt_min,
            "final": {s: int(ts[s].iloc[-1]) for s in states},
            "peak_zombies": {"count": int(zombies[peak]), "day": float(day[peak])},
            "fall_day": _fall_day(
                day,
                people.sum(axis=1),
                total[:, [STATE_NAMES.index(s) for s in ("evacuated", "fled")]].sum(axis=1),
                threat.sum(axis=1),
            ),
            "districts": dist_summary,
            "last_standing": standing,
            **({"edge": _edge(world, fled[-1], escaped[-1])} if open_edge else {}),
            **({"subway": subway} if subway is not None else {}),
            "wall_seconds": round(float(timing.get("wall_seconds", 0.0)), 3),
            "stepping_seconds": round(float(stepping), 3),
            "agent_steps_per_second": (agents * steps / stepping) if stepping > 0 else None,
            "threads": timing.get("threads"),
        }
        if cast:
            summary["cast"] = cast_fates(cast)
        summary["events"] = [
            {k: e[k] for k in ("type", "name", "t_min", "day") if k in e} for e in events or []
        ]
        return cls(scenario, ts, dd, summary, events, cast=cast, snapshots=snapshots)

    # -- persistence -------------------------------------------------------------------
    def save(self, folder: str | Path, report: bool = True) -> Path:
        """Write the run folder (SPEC §8); returns its path.

        ``report=False`` writes the data only (no plots, animation or report: see
        :meth:`write_outputs`). Saving over another run replaces all of its files; a folder
        that holds a file of the same name as one of the run's, which seoulfall did not write,
        is refused (:class:`RunFolderError`): nothing of anyone else's is overwritten.
        """
        folder = Path(folder)
        clash = [n for n in runfolder.foreign_entries(folder) if n in runfolder.OWN]
        if clash:
            raise runfolder.RunFolderError(
                f"{folder}: holds {', '.join(clash)}, which seoulfall did not write; save "
                "into another folder"
            )
        folder.mkdir(parents=True, exist_ok=True)
        sha = self.scenario.fingerprint()
        before = runfolder.read_manifest(folder)
        if before is not None and before.get("scenario_sha256") != sha:
            runfolder.clear_own(folder)  # another run's files: none may outlive it here
            before = None
        if before is None:
            runfolder.write_manifest(folder, "running", sha)
        atomic_write_text(folder / "scenario.toml", self.scenario.to_toml())
        atomic_write_parquet(folder / "timeseries.parquet", self.timeseries)
        atomic_write_parquet(folder / "districts.parquet", self.districts)
        atomic_write_text(folder / "events.jsonl", jsonl(self.events))
        if self.snapshots is not None:
            atomic_write_bytes(folder / "snapshots.npz", self.snapshots.to_bytes())
        if self.cast:
            atomic_write_text(folder / "cast.jsonl", jsonl(self.cast))
        else:
            (folder / "cast.jsonl").unlink(missing_ok=True)  # a replaced run's cast
        atomic_write_json(folder / "summary.json", _jsonable(self.summary))
        runfolder.write_manifest(folder, "data", sha)
        if report:
            self.write_outputs(folder)
            runfolder.write_manifest(folder, "complete", sha)
        return folder

    def write_outputs(self, folder: str | Path) -> dict[str, float]:
        """Write the plots, the animation and ``report.html``; returns seconds per output."""
        folder = Path(folder)
        timing = report.write_plots(self, folder)
        t0 = time.perf_counter()
        report.write_report(self, folder)
        timing["report_seconds"] = time.perf_counter() - t0
        return timing

    @classmethod
    def load(cls, folder: str | Path) -> Results:
        """Read a run folder written by :meth:`save`.

        Every file is checked before use (columns, types, ranges, the summary's keys, the
        snapshots' layout); a damaged or edited one raises
        :class:`~seoulfall.safeload.DamagedFile` naming it.
        """
        folder = Path(folder)
        sc = Scenario.load(folder / "scenario.toml")
        ts = _read_parquet(folder / "timeseries.parquet", ["t_min", "day"])
        dd = _read_parquet(folder / "districts.parquet", ["t_min", "day", "district", "name"])
        summary = _read_summary(folder / "summary.json")
        if (ts[list(CORE_STATES)].sum(axis=1) > summary["agents"]).any():
            raise DamagedFile("timeseries.parquet: more agents than summary.json's")
        events = _read_records(folder / "events.jsonl", ())
        cast = _read_records(folder / "cast.jsonl", ("name", "t_min", "day", "state"))
        snapshots = None
        if (folder / "snapshots.npz").exists():
            snapshots = Snapshots.load(folder / "snapshots.npz")
        return cls(sc, ts, dd, summary, events, cast, snapshots)

    # -- presentation ------------------------------------------------------------------
    def plot(self, ax=None, log: bool = False):
        """Epidemic curves: agents in each state against days. Returns the matplotlib Axes."""
        return plot_curves(self.timeseries, ax=ax, log=log)

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"<Results {s['scenario']!r} seed={s['seed']} agents={s['agents']} "
            f"fall_day={s['fall_day']} peak_zombies={s['peak_zombies']['count']}>"
        )

    def _repr_html_(self) -> str:
        """A notebook's view: the headline numbers and the cast's fates, in a small table."""
        import html

        s = self.summary
        fall = "held" if s["fall_day"] is None else f"day {s['fall_day']:.2f}"
        rows = [
            ("scenario", f"{s['scenario']} (seed {s['seed']})"),
            ("agents, days", f"{s['agents']:,} agents, {s['days']} days"),
            ("Seoul fell (humans down to 10 %)", fall),
            (
                "peak zombies",
                f"{s['peak_zombies']['count']:,} on day {s['peak_zombies']['day']:.2f}",
            ),
            ("final", ", ".join(f"{k} {v:,}" for k, v in s["final"].items())),
        ]
        if s.get("cast"):
            fates = (f"{n}: {f['state']}" for n, f in s["cast"].items())
            rows.append(("cast", ", ".join(fates)))
        edge = over_the_edge(s)
        if edge:
            rows.append(("the city's edge", edge))
        sub = underground(s)
        if sub:
            rows.append(("the subway", sub))
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        return f"<table><caption>seoulfall.Results</caption>{body}</table>"


def _read_parquet(path: Path, columns: list[str]) -> pd.DataFrame:
    """A run's table: the columns it must have, and non-negative integer counts."""
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a damaged file
        raise DamagedFile(f"{path.name}: unreadable ({exc.__class__.__name__})") from None
    need = columns + list(CORE_STATES)
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DamagedFile(f"{path.name}: no column {missing[0]!r}")
    for c in df.columns:
        if c in STATE_NAMES:
            col = df[c]
            if col.dtype.kind not in "iu" or (col < 0).any():
                raise DamagedFile(f"{path.name}: column {c!r} is not a count")
    for c in ("t_min", "day"):
        if df[c].dtype.kind != "f" or not np.isfinite(df[c]).all():
            raise DamagedFile(f"{path.name}: column {c!r} is not a time")
    return df


class _Summary(BaseModel):
    """The keys of ``summary.json`` that the report and the tools read back."""

    model_config = ConfigDict(extra="allow", strict=True)

    class _Peak(BaseModel):
        model_config = ConfigDict(strict=True)
        count: int = Field(ge=0)
        day: float = Field(allow_inf_nan=False)

    class _District(BaseModel):
        model_config = ConfigDict(extra="allow", strict=True)
        name: str
        fall_day: float | None = Field(allow_inf_nan=False)

    class _Edge(BaseModel):
        class _Through(BaseModel):
            model_config = ConfigDict(strict=True)
            name: str
            fled: int = Field(ge=0)
            escaped: int = Field(ge=0)

        model_config = ConfigDict(strict=True)
        fled: int = Field(ge=0)
        escaped: int = Field(ge=0)
        contained: bool
        through: dict[str, _Through]

    class _Subway(BaseModel):
        class _Line(BaseModel):
            model_config = ConfigDict(strict=True)
            infected_aboard: int = Field(ge=0)
            first_zombie_day: float | None = Field(ge=0, allow_inf_nan=False)
            first_zombie_from: str | None
            open: bool

        model_config = ConfigDict(strict=True)
        riders: int = Field(ge=0)
        infected_aboard: int = Field(ge=0)
        lines: dict[str, _Line]

    scenario: str
    seed: int = Field(ge=0)
    agents: int = Field(ge=0)
    days: float = Field(gt=0, allow_inf_nan=False)
    steps: int = Field(ge=1)
    final: dict[str, int]
    peak_zombies: _Peak
    fall_day: float | None = Field(allow_inf_nan=False)
    districts: dict[str, _District]
    last_standing: list[str]
    wall_seconds: float = Field(ge=0, allow_inf_nan=False)
    agent_steps_per_second: float | None = Field(allow_inf_nan=False)
    cast: dict[str, dict] | None = None
    edge: _Edge | None = None
    subway: _Subway | None = None


def _read_summary(path: Path) -> dict:
    try:
        summary = json.loads(safeload.read_text(path, path.name, limit=64 << 20))
        _Summary.model_validate(summary)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise DamagedFile(f"{path.name}: {loc}: {err['msg']}") from None
    except ValueError as exc:
        raise DamagedFile(f"{path.name}: not JSON ({exc})") from None
    if not set(summary["last_standing"]) <= set(summary["districts"]):
        raise DamagedFile(f"{path.name}: last_standing names a district it does not list")
    for name, fate in (summary.get("cast") or {}).items():
        if not isinstance(fate.get("state"), str) or not isinstance(fate.get("survived"), bool):
            raise DamagedFile(f"{path.name}: cast.{name} has no state")
    return summary


def _read_records(path: Path, keys: tuple) -> list[dict]:
    """A JSON Lines file of records (each a JSON object with these keys); [] if absent."""
    if not path.exists():
        return []
    text = safeload.read_text(path, path.name, limit=64 << 20)
    out = []
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            raise DamagedFile(f"{path.name} line {i}: not JSON") from None
        if not isinstance(rec, dict) or any(k not in rec for k in keys):
            raise DamagedFile(f"{path.name} line {i}: not a record with {', '.join(keys)}")
        out.append(rec)
    return out


def jsonl(records: list[dict]) -> str:
    """JSON Lines that any reader splits back into the same records.

    UTF-8 text, one record a line; the three characters that are line breaks to
    ``str.splitlines`` and to many editors but not to JSON (U+0085, U+2028, U+2029) are
    written as escapes.
    """
    lines = (json.dumps(r, ensure_ascii=False).translate(_LINE_BREAKS) for r in records)
    return "".join(line + "\n" for line in lines)


_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    return x
