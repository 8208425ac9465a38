"""The studio's web app: the run folders it replays, the token, the routes (see the package)."""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Literal

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from seoulfall import safeload
from seoulfall.engine.parameters import RATE_KEYS
from seoulfall.engine.stepper import BackendError, gpu_backend
from seoulfall.report.style import korean_font_face
from seoulfall.results import Results
from seoulfall.runfolder import LEGACY_MARKERS, slug
from seoulfall.safeload import DamagedFile
from seoulfall.scenario import Scenario, ScenarioError, bundled_scenarios, parse_toml
from seoulfall.snapshots import STATES
from seoulfall.studio.live import LiveRun, reserve_event, world_districts, world_payload
from seoulfall.sweep import Ensemble, read_runs
from seoulfall.world import load_world

STATIC = Path(__file__).with_name("static")
#: The files of a run folder the studio reads (it never reads any other).
READS = (*LEGACY_MARKERS, "districts.parquet", "events.jsonl", "cast.jsonl", "snapshots.npz")
#: Curves sent to the page: at most this many points.
CURVE_POINTS = 600
#: The largest scenario TOML the page may upload (characters).
MAX_TOML = 200_000


class StudioError(ValueError):
    """A folder the studio cannot show; the message is one line for users."""


class RunView:
    """One run folder, read and checked once: what the page asks for, ready to send."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        if not folder.is_dir():
            raise StudioError(f"{folder}: no such run folder")
        missing = [n for n in LEGACY_MARKERS if not (folder / n).is_file()]
        if missing:
            raise StudioError(f"{folder}: not a run folder (missing {', '.join(missing)})")
        root = folder.resolve()
        for name in READS:  # a link that leads out of the folder is never followed
            p = folder / name
            if p.exists() and not p.resolve().is_relative_to(root):
                raise StudioError(f"{p}: a link out of the run folder; the studio will not read it")
        try:
            res = Results.load(folder)
        except (DamagedFile, ScenarioError) as exc:
            raise StudioError(f"{folder}: cannot read the run ({exc})") from None
        if res.snapshots is None:
            raise StudioError(f"{folder}: the run has no map snapshots (snapshots.npz)")
        self.folder = folder
        self.name = folder.name
        self.snapshots = res.snapshots
        world = load_world(res.scenario)
        s = res.summary
        ts = res.timeseries
        step = max(1, len(ts) // CURVE_POINTS)
        curves = ts.iloc[::step]
        self.meta = {
            "kind": "run",
            "name": folder.name,
            "scenario": s["scenario"],
            "seed": s["seed"],
            "agents": s["agents"],
            "shape": list(world.shape),
            "cell_m": world.cell_m,
            "states": list(STATES),
            "t_min": [float(t) for t in self.snapshots.t_min],
            "districts": world_districts(
                world, {c: d.get("fall_day") for c, d in s["districts"].items()}
            ),
            "events": [
                {k: e[k] for k in ("type", "name", "day", "cell", "bridges", "districts") if k in e}
                for e in res.events
            ],  # fmt: skip
            # each bridge's cells (flat), to mark the closed ones
            "bridges": {
                name: np.flatnonzero(world.bridge.ravel() == i).tolist()
                for i, name in enumerate(world.bridge_names)
            },
            "cast": _cast_tracks(res, self.snapshots),
            "curves": {
                "day": [round(float(v), 4) for v in curves["day"]],
                **{k: [int(v) for v in curves[k]] for k in ("human", "zombie", "evolved", "dead")},
            },
            "fall_day": s["fall_day"],
        }
        self.map_bytes = world_payload(world, self.snapshots.cells)

    def frame(self, k: int) -> bytes:
        """Snapshot ``k``'s counts: states x stored cells, little-endian uint16."""
        if not 0 <= k < len(self.snapshots.t_min):
            raise IndexError(k)
        return np.ascontiguousarray(self.snapshots.counts[k], "<u2").tobytes()


class LiveRequest(BaseModel):
    """A live run asked for by the page: a bundled scenario or an uploaded TOML, and sizes."""

    model_config = ConfigDict(extra="forbid")
    scenario: str | None = None
    toml: str | None = Field(None, max_length=MAX_TOML)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    scale: float | None = Field(None, gt=0.0, le=1.0)
    days: float | None = Field(None, gt=0.0, le=60.0)
    paused: bool = False  # stop after the first recorded block, waiting for play or step
    outbreak_cell: list[int] | None = Field(None, min_length=2, max_length=2)  # a click
    backend: Literal["cpu", "gpu"] | None = None  # unset: seoulfall serve --backend
    soldiers: int = Field(0, ge=0, le=1_000_000)  # held in reserve for a click to deploy


#: The event types the page may fire during a live run. ``deploy_soldiers`` deploys the
#: soldiers held in reserve since the start (``LiveRequest.soldiers``; see ``live.py``).
STEERABLE = ("quarantine", "close_bridges", "airstrike", "sound_lure", "evacuate", "set_rate",
             "deploy_soldiers", "close_subway", "public_alert")  # fmt: skip


class Action(BaseModel):
    """An event the page fires in a live run (scenario keys), or what to close by a cell.

    ``bridge_at``: the bridge there; ``station_at``: the subway station nearest.
    """

    model_config = ConfigDict(extra="forbid")
    event: dict = Field(default_factory=dict)
    bridge_at: list[int] | None = Field(None, min_length=2, max_length=2)
    station_at: list[int] | None = Field(None, min_length=2, max_length=2)


class Control(BaseModel):
    """A control of a live run: ``pause``, ``play``, ``step`` or ``stop``."""

    model_config = ConfigDict(extra="forbid")
    action: str


class SweepView:
    """A sweep folder, read and checked once: each combination's odds, ready to send.

    The odds are recomputed from the checked run records (``runs.jsonl``) and the sweep's
    arguments (``sweep.json``), never taken from a summary file as it stands.
    """

    def __init__(self, folder: Path):
        folder = Path(folder)
        root = folder.resolve()
        for name in ("sweep.json", "runs.jsonl"):
            p = folder / name
            if not p.is_file():
                raise StudioError(f"{folder}: not a sweep folder (missing {name})")
            if not p.resolve().is_relative_to(root):
                raise StudioError(
                    f"{p}: a link out of the sweep folder; the studio will not read it"
                )
        try:
            args = json.loads(safeload.read_text(folder / "sweep.json", "sweep.json"))
            sc = Scenario.from_dict(args["scenario"])
            vary = list(args["vary"])
            records = list(read_runs(folder).values())
        except (ValueError, KeyError, TypeError, DamagedFile, ScenarioError) as exc:
            raise StudioError(f"{folder}: cannot read the sweep ({exc})") from None
        if not records:
            raise StudioError(f"{folder}: the sweep has no finished run yet")
        ens = Ensemble(records, vary, scenario=sc)
        world = load_world(sc)
        self.folder, self.name = folder, folder.name
        combos = []
        for c in ens.summary["combinations"]:
            label = ", ".join(f"{k} = {v}" for k, v in c["vary"].items()) or "all runs"
            combos.append(
                {
                    "label": label,
                    "runs": c["runs"],
                    "p_fall": c["p_fall"],
                    "p_fall_by_day": c["p_fall_by_day"],
                    "district_p_fall": {k: v["p_fall"] for k, v in c["districts"].items()},
                    "cast": c["cast"],
                }
            )
        self.meta = {
            "kind": "sweep",
            "name": folder.name,
            "scenario": sc.name,
            "runs": len(records),
            "shape": list(world.shape),
            "districts": world_districts(world),
            "combinations": combos,
        }
        self.map_bytes = world_payload(world, np.zeros(0, np.int32))

    def frame(self, k: int) -> bytes:
        """A sweep has no frames."""
        raise IndexError(k)


def _cast_tracks(res: Results, snaps) -> list[dict]:
    """Each named character: its cell at each snapshot (-1 unknown) and its changes."""
    names = [c.name for c in res.scenario.cast]
    cells = snaps.cast_cells
    if cells is None or cells.shape[1] != len(names):  # a run folder written before
        cells = np.full((len(snaps.t_min), len(names)), -1, np.int32)
    out = []
    for m, name in enumerate(names):
        changes = [
            {"day": round(r["day"], 4), "state": r["state"], "cause": r.get("cause"),
             "district": r.get("district_name")}
            for r in res.cast if r["name"] == name
        ]  # fmt: skip
        out.append({"name": name, "track": cells[:, m].tolist(), "changes": changes})
    return out


def open_folder(folder: Path):
    """The view of a run folder or a sweep folder (``StudioError`` if neither)."""
    if (Path(folder) / "sweep.json").exists():
        return SweepView(folder)
    return RunView(folder)


def make_app(
    views: list[RunView],
    token: str,
    runs_dir: Path | None = None,
    live: list | None = None,
    backend: str = "cpu",
) -> FastAPI:
    """The studio's app for these runs; every data request needs ``token``.

    With ``runs_dir`` the page may start live runs, saved as run folders there, stepping on
    ``backend`` unless the page says otherwise. ``live``: runs already going (``seoulfall
    run --serve``), which the page opens at once.
    """
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    live: list[LiveRun] = live if live is not None else []
    watch = len(live) - 1 if live else None

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"] if p != "body")
        return JSONResponse({"error": f"{where}: {err['msg']}"}, 400)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        path = request.url.path
        if path.startswith("/static/"):
            return await call_next(request)  # the page's own code: no user data
        given = request.query_params.get("token") or request.headers.get("x-seoulfall-token")
        if not given or not hmac.compare_digest(given, token):
            return JSONResponse({"error": "a valid token is needed (see the URL printed)"}, 403)
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return JSONResponse({"error": f"requests from {origin} are refused"}, 403)
        response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        return response

    def view(i: int) -> RunView:
        if not 0 <= i < len(views):
            raise HTTPException(404, "no such run")
        return views[i]

    # the Korean district names in a font of their own (a machine without one shows boxes):
    # those of the folders shown, and of every bundled world a live run may be on
    worlds = [load_world(Scenario.load(n)) for n in bundled_scenarios()] if runs_dir else []
    names = "".join(d["name_ko"] for v in views for d in v.meta["districts"])
    names += "".join("".join(w.district_names_ko) for w in worlds)
    font = "body{font-family:'seoulfall-ko',system-ui,-apple-system,'Segoe UI',sans-serif}"
    face = f"<style>{korean_font_face(names)}{font}</style>"
    page = (STATIC / "index.html").read_text(encoding="utf-8").replace("</head>", face + "</head>")

    @app.get("/")
    def index():
        return HTMLResponse(page)

    @app.get("/api/runs")
    def runs():
        return [
            {"id": i, "name": v.name, "scenario": v.meta["scenario"]} for i, v in enumerate(views)
        ]

    @app.get("/api/runs/{i}/meta")
    def meta(i: int):
        return view(i).meta

    @app.get("/api/runs/{i}/map")
    def map_(i: int):
        return Response(view(i).map_bytes, media_type="application/octet-stream")

    @app.get("/api/runs/{i}/frame/{k}")
    def frame(i: int, k: int):
        try:
            data = view(i).frame(k)
        except IndexError:
            raise HTTPException(404, f"no frame {k}") from None
        return Response(data, media_type="application/octet-stream")

    @app.get("/api/scenarios")
    def scenarios():
        return {"bundled": list(bundled_scenarios()), "live": runs_dir is not None,
                "watch": watch, "rates": list(RATE_KEYS), "backend": backend}  # fmt: skip

    def bundled_world(name: str):
        if name not in bundled_scenarios():
            raise HTTPException(404, f"no bundled scenario {name!r}")
        return load_world(Scenario.load(name))

    @app.get("/api/world/{name}/meta")
    def world_meta(name: str):
        """A bundled scenario's map before its run starts (to place the outbreak on)."""
        world = bundled_world(name)
        return {"name": name, "shape": list(world.shape), "states": list(STATES),
                "districts": world_districts(world)}  # fmt: skip

    @app.get("/api/world/{name}/map")
    def world_map(name: str):
        return Response(world_payload(bundled_world(name), np.zeros(0, np.int32)),
                        media_type="application/octet-stream")  # fmt: skip

    def add_view(folder: Path) -> int | None:  # a live run, saved
        try:
            views.append(RunView(folder))
        except StudioError:  # saved, but nothing to replay (no map snapshots)
            return None
        return len(views) - 1

    @app.post("/api/live")
    def start(req: LiveRequest):
        if runs_dir is None:
            raise HTTPException(403, "live runs are off (seoulfall serve --runs-dir DIR)")
        if any(not r.finished for r in live):
            raise HTTPException(409, "a live run is going: stop it first")
        over = {"seed": req.seed}
        if req.scale is not None:
            over["population.scale"] = req.scale
        if req.days is not None:
            over["time.days"] = req.days
        if req.outbreak_cell is not None:
            over["outbreak.cell"] = req.outbreak_cell
        try:
            if req.toml is not None:
                sc = Scenario.from_dict(parse_toml(req.toml, "the uploaded scenario"), over)
            elif req.scenario in bundled_scenarios():
                sc = Scenario.load(req.scenario, over)
            else:
                known = ", ".join(bundled_scenarios())
                raise ScenarioError(f"unknown scenario {req.scenario!r}; bundled: {known}")
            if req.outbreak_cell is not None:
                _check_outbreak_cell(sc, req.outbreak_cell)
            if req.soldiers:
                sc = sc.override({"events+": reserve_event(sc, req.soldiers)})
            where = req.backend or backend
            if where == "gpu":
                _check_gpu()
        except (ScenarioError, BackendError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = runs_dir / f"studio-{slug(sc.name)}-seed{sc.seed}-{stamp}-{len(live)}"
        live.append(LiveRun(sc, folder, on_done=add_view, paused=req.paused, backend=where))
        return {"id": len(live) - 1, "folder": str(folder)}

    def live_run(j: int) -> LiveRun:
        if not 0 <= j < len(live):
            raise HTTPException(404, "no such live run")
        return live[j]

    @app.get("/api/live/{j}")
    def live_status(j: int):
        return live_run(j).status()

    @app.get("/api/live/{j}/meta")
    def live_meta(j: int):
        r = live_run(j)
        if not r.wait_ready(120) or r.sim is None:
            return JSONResponse({"error": r.error or "the run is still setting up"}, 400)
        sc, world, net = r.scenario, r.sim.world, r.sim.subway
        # each subway station's street cell (flat), for a click that closes one
        stations = {} if net is None else dict(zip(net.group_name, r.sim.stepper.gcell.tolist()))
        return {"name": r.folder.name, "scenario": sc.name, "seed": sc.seed,
                "agents": int(r.sim.agents.n), "shape": list(world.shape), "states": list(STATES),
                "districts": world_districts(world), "nsteps": r.nsteps,
                "dt_min": sc.time.dt_min, "stations": stations}  # fmt: skip

    @app.get("/api/live/{j}/map")
    def live_map(j: int):
        r = live_run(j)
        if not r.wait_ready(120) or r.sim is None:
            return JSONResponse({"error": r.error or "the run is still setting up"}, 400)
        return Response(r.map_bytes, media_type="application/octet-stream")

    @app.get("/api/live/{j}/frame")
    def live_frame(j: int, after: int = -1, wait: float = 5.0):
        got = live_run(j).frame(after, min(max(wait, 0.0), 10.0))
        if got is None:
            return Response(status_code=204)
        seq, t_min, data = got
        headers = {"X-Frame": str(seq), "X-T-Min": repr(t_min)}
        return Response(data, media_type="application/octet-stream", headers=headers)

    @app.post("/api/live/{j}/act")
    def live_act(j: int, req: Action):
        r = live_run(j)
        event = dict(req.event)
        if req.bridge_at is not None:
            name = _bridge_near(r, req.bridge_at) if r.sim is not None else None
            if name is None:
                return JSONResponse({"error": f"no bridge at {req.bridge_at}"}, 400)
            event = {"type": "close_bridges", "bridges": [name]}
        if req.station_at is not None:
            name = _station_near(r, req.station_at) if r.sim is not None else None
            if name is None:
                return JSONResponse({"error": f"no subway station near {req.station_at}"}, 400)
            event = {"type": "close_subway", "stations": [name]}
        if event.get("type") not in STEERABLE:
            allowed = ", ".join(STEERABLE)
            return JSONResponse(
                {"error": f"event type {event.get('type')!r}: one of {allowed}"}, 400
            )
        try:
            queued = r.act(event)
        except (ScenarioError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return {"queued": queued}

    @app.get("/api/live/{j}/scenario")
    def live_scenario(j: int):
        """The session as a scenario: replays it bit for bit with ``seoulfall run``."""
        r = live_run(j)
        name = f"{slug(r.scenario.name)}-seed{r.scenario.seed}-studio.toml"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(r.scenario.to_toml(), media_type="application/toml", headers=headers)

    @app.post("/api/live/{j}/control")
    def live_control(j: int, req: Control):
        try:
            live_run(j).control(req.action)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return live_run(j).status()

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _check_gpu() -> None:
    """Refuse the GPU backend where it cannot run (``BackendError``, one line)."""
    if not gpu_backend().available():
        raise BackendError("backend gpu: no CUDA GPU here; use cpu")


def _check_outbreak_cell(sc: Scenario, cell: list[int]) -> None:
    """Refuse an outbreak placed off the land of the scenario's map (``ScenarioError``)."""
    world = load_world(sc)
    r, c = cell
    ny, nx = world.shape
    if not (0 <= r < ny and 0 <= c < nx and world.land[r, c]):
        raise ScenarioError(f"outbreak cell {cell}: not land of the map {sc.world.map!r}")


def _bridge_near(run: LiveRun, cell: list[int], reach: int = 2) -> str | None:
    """The name of the bridge at ``cell`` (or within ``reach`` cells of it)."""
    world = run.sim.world
    r, c = cell
    ny, nx = world.shape
    rows = slice(max(0, r - reach), min(ny, r + reach + 1))
    cols = slice(max(0, c - reach), min(nx, c + reach + 1))
    found = world.bridge[rows, cols]
    found = found[found >= 0]
    return world.bridge_names[int(np.bincount(found).argmax())] if found.size else None


def _station_near(run: LiveRun, cell: list[int], reach: int = 5) -> str | None:
    """The name of the subway station nearest ``cell``, or None (none near, or no subway).

    Nearest by its street cell, within ``reach`` cells along the grid.
    """
    net = run.sim.subway
    ny, nx = run.sim.world.shape
    if net is None or not (0 <= cell[0] < ny and 0 <= cell[1] < nx):
        return None
    street = run.sim.stepper.gcell  # each station's (group's) street cell
    d = np.abs(street // nx - cell[0]) + np.abs(street % nx - cell[1])
    g = int(d.argmin())
    return net.group_name[g] if d[g] <= reach else None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket for the studio (port 0: one the system picks).

    Raises
    ------
    StudioError
        The address cannot be used (taken, or not this machine's).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)  # connections wait from now on, before the server takes them
    except OSError as exc:
        sock.close()
        raise StudioError(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror})"
        ) from None
    return sock


def serve(
    views: list[RunView],
    sock: socket.socket,
    open_browser: bool = False,
    runs_dir=None,
    live: list | None = None,
    background: bool = False,
    backend: str = "cpu",
):
    """Run the studio on ``sock``; its URL (with the token) is printed first.

    In the foreground it serves until Ctrl-C. ``background``: in a daemon thread, returned
    at once (``seoulfall run --serve``: the command's thread steps the run in ``live``).
    """
    import uvicorn

    token = secrets.token_urlsafe(24)
    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/?token={token}"
    print(f"seoulfall studio: {url}", flush=True)
    if not background:
        print("seoulfall studio: Ctrl-C stops it", file=sys.stderr, flush=True)
    app = make_app(views, token, runs_dir, live, backend)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    if background:  # no signal handlers off the main thread: Ctrl-C is the command's
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="seoulfall-studio", daemon=True
        )
        thread.start()
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    if not background:
        server.run(sockets=[sock])
    return server
