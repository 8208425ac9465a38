"""The studio's web app: the run folders it replays, the token, the routes (see the package)."""

from __future__ import annotations

import hmac
import secrets
import socket
import sys
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from seoulfall.report.style import korean_font_face
from seoulfall.results import Results
from seoulfall.runfolder import LEGACY_MARKERS
from seoulfall.safeload import DamagedFile
from seoulfall.scenario import ScenarioError
from seoulfall.snapshots import STATES
from seoulfall.world import load_world

STATIC = Path(__file__).with_name("static")
#: The files of a run folder the studio reads (it never reads any other).
READS = (*LEGACY_MARKERS, "districts.parquet", "events.jsonl", "cast.jsonl", "snapshots.npz")
#: Curves sent to the page: at most this many points.
CURVE_POINTS = 600


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
        districts = s["districts"]
        self.meta = {
            "name": folder.name,
            "scenario": s["scenario"],
            "seed": s["seed"],
            "agents": s["agents"],
            "shape": list(world.shape),
            "cell_m": world.cell_m,
            "states": list(STATES),
            "t_min": [float(t) for t in self.snapshots.t_min],
            "districts": [
                {
                    "code": c,
                    "name": world.district_names[i],
                    "name_ko": world.district_names_ko[i] if world.district_names_ko else "",
                    "fall_day": districts.get(c, {}).get("fall_day"),
                }
                for i, c in enumerate(world.district_codes)
            ],
            "events": [
                {k: e[k] for k in ("type", "name", "day", "cell") if k in e} for e in res.events
            ],
            "curves": {
                "day": [round(float(v), 4) for v in curves["day"]],
                **{k: [int(v) for v in curves[k]] for k in ("human", "zombie", "evolved", "dead")},
            },
            "fall_day": s["fall_day"],
        }
        # the map: each cell's district (-1 outside), then its kind (0 land, 1 water, 2 bridge,
        # 3 outside), then the cells the frames count, in their order
        kind = np.where(world.water, 1, 0).astype(np.uint8)
        kind[world.bridge >= 0] = 2
        kind[~world.inside] = 3
        district = np.where(world.inside, world.district, -1).astype("<i2")
        self.map_bytes = (
            district.tobytes() + kind.tobytes() + self.snapshots.cells.astype("<i4").tobytes()
        )

    def frame(self, k: int) -> bytes:
        """Snapshot ``k``'s counts: states x stored cells, little-endian uint16."""
        if not 0 <= k < len(self.snapshots.t_min):
            raise IndexError(k)
        return np.ascontiguousarray(self.snapshots.counts[k], "<u2").tobytes()


def make_app(views: list[RunView], token: str) -> FastAPI:
    """The studio's app for these runs; every data request needs ``token``."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

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

    # the Korean district names in a font of their own (a machine without one shows boxes)
    names = "".join(d["name_ko"] for v in views for d in v.meta["districts"])
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

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


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
    except OSError as exc:
        sock.close()
        raise StudioError(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror})"
        ) from None
    return sock


def serve(views: list[RunView], sock: socket.socket, open_browser: bool = False) -> None:
    """Run the studio on ``sock`` until Ctrl-C; its URL (with the token) is printed first."""
    import uvicorn

    token = secrets.token_urlsafe(24)
    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/?token={token}"
    print(f"seoulfall studio: {url}", flush=True)
    print("seoulfall studio: Ctrl-C stops it", file=sys.stderr, flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(make_app(views, token), log_level="warning", lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
