"""`seoulfall serve`: the replay studio, its token and origin checks, and what a person sees."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_cli import run_cli

from seoulfall import simulate
from seoulfall.snapshots import STATES
from seoulfall.studio import RunView, StudioError, make_app, open_folder

TOKEN = "t0k3n-for-the-tests"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small default run with hourly snapshots over a day and a half (data only)."""
    res = simulate(
        "seoul-falls", seed=0, scale=0.002, days=1.5,
        overrides={"output.snapshot_every_min": 60, "outbreak.zombies": 40},
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("studio") / "run"
    res.save(folder, report=False)
    return folder


@pytest.fixture(scope="module")
def client(run_dir):
    return TestClient(make_app([RunView(run_dir)], TOKEN))


def auth(**more):
    return {"X-Seoulfall-Token": TOKEN, **more}


@pytest.mark.parametrize("path", ["/", "/api/runs", "/api/runs/0/meta", "/api/runs/0/frame/0"])
def test_nothing_but_the_pages_code_is_served_without_the_token(client, path):
    assert client.get(path).status_code == 403
    assert client.get(path, headers={"X-Seoulfall-Token": "wrong"}).status_code == 403
    assert client.get(path, params={"token": TOKEN}).status_code == 200
    # a page of another site may not read it, even with the token
    foreign = auth(Origin="http://evil.example")
    assert client.get(path, headers=foreign).status_code == 403
    assert client.get(path, headers=auth(Origin="http://testserver")).status_code == 200


def test_the_frames_hold_each_snapshots_counts(client, run_dir):
    from seoulfall import Results

    meta = client.get("/api/runs/0/meta", headers=auth()).json()
    snaps = Results.load(run_dir).snapshots
    ny, nx = meta["shape"]
    assert meta["states"] == list(STATES) and meta["t_min"] == snaps.t_min.tolist()
    raw = client.get("/api/runs/0/map", headers=auth()).content
    n = ny * nx
    district = np.frombuffer(raw[: 2 * n], "<i2")
    cells = np.frombuffer(raw[3 * n :], "<i4")
    assert np.array_equal(cells, snaps.cells)
    assert district.max() == len(meta["districts"]) - 1
    k = len(snaps.t_min) - 1
    frame = np.frombuffer(client.get(f"/api/runs/0/frame/{k}", headers=auth()).content, "<u2")
    assert np.array_equal(frame.reshape(len(STATES), -1), snaps.counts[k])
    assert client.get(f"/api/runs/0/frame/{k + 1}", headers=auth()).status_code == 404
    assert client.get("/api/runs/1/meta", headers=auth()).status_code == 404
    assert client.get("/api/runs/-1/frame/0", headers=auth()).status_code == 404
    # the cast's cells at each snapshot, and each bridge's cells (to mark the closed ones)
    res = Results.load(run_dir)
    assert [c["name"] for c in meta["cast"]] == [c.name for c in res.scenario.cast]
    assert [c["track"] for c in meta["cast"]] == snaps.cast_cells.T.tolist()
    assert (snaps.cast_cells >= 0).all() and snaps.cast_cells.shape[1] == 8
    kind = np.frombuffer(raw[2 * n : 3 * n], "u1")
    marked = sorted(c for cells in meta["bridges"].values() for c in cells)
    assert marked == np.flatnonzero(kind == 2).tolist()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e/app.py",
        "/static/%252e%252e/app.py",
        "/static/..%5capp.py",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/api/runs/0/../../../etc/passwd",
        "/api/runs/0/frame/..%2f..%2fsummary.json",
        "/%2e%2e/%2e%2e/etc/passwd",
    ],
)
def test_a_path_never_reaches_a_file(client, path):
    r = client.get(path, headers=auth())
    assert r.status_code in (400, 403, 404), (path, r.status_code)
    assert b"root:" not in r.content and b"make_app" not in r.content
    assert b'"agents"' not in r.content


def test_a_link_out_of_the_run_folder_is_refused(run_dir, tmp_path, capsys):
    folder = tmp_path / "linked"
    shutil.copytree(run_dir, folder)
    secret = tmp_path / "secret.json"
    secret.write_text('{"not": "yours"}')
    (folder / "summary.json").unlink()
    (folder / "summary.json").symlink_to(secret)
    with pytest.raises(StudioError, match="link out of the run folder"):
        RunView(folder)
    code, _, err = run_cli(["serve", str(folder), "--port", "0"], capsys)
    assert code == 2 and err.count("\n") == 1 and "link out of the run folder" in err
    code, _, err = run_cli(["serve", str(tmp_path), "--port", "0"], capsys)
    assert code == 2 and "not a run folder" in err and err.count("\n") == 1
    code, _, err = run_cli(["serve", "--backend", "tpu", "--port", "0"], capsys)
    assert code == 2 and "--backend tpu: unknown" in err and err.count("\n") == 1


GANGNAM_CENTRE = """() => {
  const d = run.meta.districts.findIndex((x) => x.name === "Gangnam-gu");
  let sx = 0, sy = 0, n = 0;
  run.district.forEach((v, i) => {
    if (v === d) { sx += i % run.nx; sy += Math.floor(i / run.nx); n++; }
  });
  return [(sx / n + 0.5) / run.nx, (sy / n + 0.5) / run.ny];
}"""


@contextlib.contextmanager
def _studio_page(*args, height=850):
    """`seoulfall serve ARGS` in a process of its own and its page in Chromium.

    Yields (page, URL, ended); after the block the server gets Ctrl-C and ``ended`` holds its
    exit status (``code``) and stderr (``err``).
    """
    from playwright.sync_api import sync_playwright

    proc, url = _start(*args)
    ended = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"))
            try:
                page = browser.new_page(viewport={"width": 1300, "height": height})
                page.goto(url)
                yield page, url, ended
            finally:
                browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _, ended["err"] = proc.communicate(timeout=30)
        ended["code"] = proc.returncode


def _start(*args):
    """`seoulfall serve` in a process of its own; returns it and the URL it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "seoulfall.cli", "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    line = proc.stdout.readline()
    assert line.startswith("seoulfall studio: http://127.0.0.1:"), line + proc.stderr.read()
    return proc, line.split()[-1]


def test_the_studio_replays_a_run_in_a_browser_and_stops_on_ctrl_c(run_dir, tmp_path):
    with _studio_page(str(run_dir)) as (page, url, ended):
        port = int(url.split(":")[2].split("/")[0])
        # loopback only: the machine's other addresses do not answer
        others = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
        for addr in others - {"127.0.0.1"}:
            with socket.socket() as s, pytest.raises(OSError):
                s.settimeout(2)
                s.connect((addr, port))
        page.wait_for_function("document.getElementById('counts').textContent.length > 0")
        assert page.text_content("#clock") == "day 0.00"
        pixels = "Array.from(document.getElementById('map').getContext('2d')" \
            ".getImageData(0, 0, 400, 400).data).join()"  # fmt: skip
        first = page.evaluate(pixels)
        page.eval_on_selector(
            "#slider", "(s) => { s.value = 30; s.dispatchEvent(new Event('input')); }"
        )
        page.wait_for_function("document.getElementById('clock').textContent === 'day 1.25'")
        assert page.evaluate(pixels) != first  # the map moved with the slider
        page.eval_on_selector(
            "#slider", "(s) => { s.value = 0; s.dispatchEvent(new Event('input')); }"
        )
        page.wait_for_function("document.getElementById('clock').textContent === 'day 0.00'")
        page.click("#play")
        page.wait_for_function(
            "parseFloat(document.getElementById('clock').textContent.slice(4)) >= 0.1"
        )
        page.click("#play")  # pause
        # a district's tooltip: its names and its fall day, from the run's summary
        box = page.locator("#map").bounding_box()
        x, y = page.evaluate(GANGNAM_CENTRE)  # the mean cell of Gangnam-gu, as fractions
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y)
        tip = page.text_content("#tip")
        assert "Gangnam-gu 강남구" in tip and ("fell on day" in tip or "never fell" in tip)
        # the replay's overlay: the cast in its panel, the bridges closed by the last frame
        assert "Nam-ra: hybrid (Mapo-gu)" in page.text_content("#cast")
        page.eval_on_selector(
            "#slider", "(s) => { s.value = s.max; s.dispatchEvent(new Event('input')); }"
        )
        page.wait_for_function("document.getElementById('clock').textContent === 'day 1.50'")
        closed = page.evaluate(CLOSED_BRIDGE_PIXEL)
        assert closed == [127, 0, 0, 255]
        assert page.is_hidden("#error")
        page.screenshot(path=str(tmp_path / "studio.png"))
    err = ended["err"]
    assert ended["code"] == 0 and "stopped" in err and "Traceback" not in err, err
    assert (tmp_path / "studio.png").stat().st_size > 10_000


@pytest.fixture()
def live_client(tmp_path):
    app = make_app([], TOKEN, runs_dir=tmp_path / "live")
    return TestClient(app), tmp_path / "live"


def _wait(c, path, until, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = c.get(path, headers=auth()).json()
        if until(st):
            return st
        time.sleep(0.05)
    raise AssertionError(f"{path}: still {st}")


def test_a_live_run_streams_frames_pauses_steps_and_ends_as_a_normal_run_folder(live_client):
    from seoulfall import Results, Scenario

    c, runs_dir = live_client
    body = {"scenario": "lattice", "seed": 3, "days": 0.1, "paused": True}
    r = c.post("/api/live", json=body, headers=auth())
    assert r.status_code == 200, r.text
    j = r.json()["id"]
    # a second live run while one goes is refused
    again = c.post("/api/live", json={"scenario": "lattice"}, headers=auth())
    assert again.status_code == 409
    meta = c.get(f"/api/live/{j}/meta", headers=auth()).json()
    ny, nx = meta["shape"]
    cells = np.frombuffer(c.get(f"/api/live/{j}/map", headers=auth()).content[3 * ny * nx :], "<i4")
    f = c.get(f"/api/live/{j}/frame", params={"after": 0, "wait": 10}, headers=auth())
    assert f.status_code == 200 and int(f.headers["X-Frame"]) >= 1
    assert len(f.content) == 2 * len(STATES) * cells.size
    # started paused: it waits after its first block; one step: one recorded block more
    st = _wait(c, f"/api/live/{j}", lambda s: s["state"] == "paused")
    time.sleep(0.5)
    assert c.get(f"/api/live/{j}", headers=auth()).json()["step"] == st["step"] > 0
    c.post(f"/api/live/{j}/control", json={"action": "step"}, headers=auth())
    moved = _wait(c, f"/api/live/{j}", lambda s: s["step"] > st["step"])
    assert moved["step"] < moved["nsteps"]
    bad = c.post(f"/api/live/{j}/control", json={"action": "explode"}, headers=auth())
    assert bad.status_code == 400 and "unknown action" in bad.json()["error"]
    c.post(f"/api/live/{j}/control", json={"action": "play"}, headers=auth())
    done = _wait(c, f"/api/live/{j}", lambda s: s["state"] in ("done", "failed"))
    assert done["state"] == "done" and done["run"] == 0, done
    # the folder is a normal run folder, the studio replays it, and pausing changed nothing
    assert c.get("/api/runs", headers=auth()).json()[0]["scenario"] == "lattice"
    (folder,) = runs_dir.iterdir()
    saved = Results.load(folder)
    again = simulate(Scenario.load(folder / "scenario.toml"))
    assert saved.timeseries.equals(again.timeseries)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"scenario": "atlantis"}, "unknown scenario 'atlantis'"),
        ({"scenario": "lattice", "seed": -1}, "seed"),
        ({"scenario": "lattice", "scale": 5}, "scale"),
        ({"scenario": "lattice", "days": "lots"}, "days"),
        ({"toml": "[zombie\nbite_rate = 1"}, "invalid TOML"),
        ({"toml": "[zombie]\nbite_rate = -1"}, "zombie.bite_rate"),
        ({"scenario": "lattice", "path": "/etc/passwd"}, "path"),
        ({"scenario": "seoul-falls", "outbreak_cell": [0, 0]}, "not land of the map"),
        ({"scenario": "seoul-falls", "outbreak_cell": [-4, 1]}, "outbreak.cell"),
        ({"scenario": "seoul-falls", "outbreak_cell": [5, 10**6]}, "outbreak"),
        ({"scenario": "seoul-falls", "outbreak_cell": [3]}, "outbreak_cell"),
        ({"scenario": "lattice", "backend": "tpu"}, "backend"),
    ],
)
def test_a_bad_live_request_gets_a_message_and_a_4xx(live_client, body, needle):
    c, runs_dir = live_client
    r = c.post("/api/live", json=body, headers=auth())
    assert r.status_code == 400 and needle in r.json()["error"], r.text
    assert not runs_dir.exists()


def test_a_live_run_on_a_gpu_where_there_is_none_is_refused_in_one_line(live_client, monkeypatch):
    from seoulfall.engine import gpu

    monkeypatch.setattr(gpu, "available", lambda: False)
    c, runs_dir = live_client
    r = c.post("/api/live", json={"scenario": "lattice", "backend": "gpu"}, headers=auth())
    assert r.status_code == 400 and r.json()["error"] == "backend gpu: no CUDA GPU here; use cpu"
    assert not runs_dir.exists()
    assert c.get("/api/scenarios", headers=auth()).json()["backend"] == "cpu"


def test_live_runs_are_off_without_a_runs_folder(client):
    r = client.post("/api/live", json={"scenario": "lattice"}, headers=auth())
    assert r.status_code == 403


def test_steering_becomes_events_and_the_saved_scenario_replays_the_session(live_client, tmp_path):
    from seoulfall import Results, Scenario

    c, runs_dir = live_client
    # before the start: the bundled scenario's map, and a land cell to place the outbreak on
    meta = c.get("/api/world/seoul-falls-no-response/meta", headers=auth()).json()
    ny, nx = meta["shape"]
    payload = c.get("/api/world/seoul-falls-no-response/map", headers=auth()).content
    district = np.frombuffer(payload[: 2 * ny * nx], "<i2")
    kind = np.frombuffer(payload[2 * ny * nx : 3 * ny * nx], "u1")
    dobong = [d["code"] for d in meta["districts"]].index("11320")
    land = np.flatnonzero((district == dobong) & (kind == 0))
    start = [int(v) for v in divmod(int(land[land.size // 2]), nx)]
    for bad in ("atlantis", "..%2F..%2Fetc%2Fpasswd"):
        assert c.get(f"/api/world/{bad}/meta", headers=auth()).status_code == 404
    body = {"scenario": "seoul-falls-no-response", "seed": 2, "scale": 0.001, "days": 0.3,
            "paused": True, "outbreak_cell": start, "soldiers": 20_000}  # fmt: skip
    j = c.post("/api/live", json=body, headers=auth()).json()["id"]
    meta = c.get(f"/api/live/{j}/meta", headers=auth()).json()
    assert meta["shape"] == [ny, nx]
    assert c.get(f"/api/live/{j}/map", headers=auth()).content[: 3 * ny * nx] == payload
    kind = np.frombuffer(payload[2 * ny * nx : 3 * ny * nx], "u1")
    bridge = [int(v) for v in divmod(int(np.flatnonzero(kind == 2)[0]), nx)]
    st = _wait(c, f"/api/live/{j}", lambda s: s["state"] == "paused")

    def act(**kw):
        r = c.post(f"/api/live/{j}/act", json=kw, headers=auth())
        assert r.status_code == 200, r.text
        return r.json()["queued"]

    # a click on a bridge, a cordon round a district, a strike on a point: at this boundary
    act(bridge_at=bridge)
    act(event={"type": "quarantine", "districts": ["Gangnam-gu"]})
    act(event={"type": "airstrike", "cell": [ny // 2, nx // 2], "radius_m": 3000})
    c.post(f"/api/live/{j}/control", json={"action": "step"}, headers=auth())
    moved = _wait(c, f"/api/live/{j}", lambda s: s["step"] > st["step"] and s["state"] == "paused")
    assert [a["step"] for a in moved["actions"]] == [st["step"]] * 3
    act(event={"type": "sound_lure", "cell": [ny // 3, nx // 3], "loudness": 40})
    act(event={"type": "set_rate", "rate": "zombie.bite_rate", "factor": 2.5})  # a slider
    act(event={"type": "deploy_soldiers", "cell": start})  # the reserve, where it began
    # a click next to Gangnam station closes it; the alert sounds
    gangnam = meta["stations"]["Gangnam"]
    assert act(station_at=[gangnam // nx, gangnam % nx + 2])["stations"] == ["Gangnam"]
    act(event={"type": "public_alert"})
    # refused at once, in one line: an unknown district, a type the page may not fire, water,
    # slider values sent by hand that no slider gives, a strike or lure off the map (which
    # used to be queued and fail the run at the boundary)
    for bad, needle in (
        ({"event": {"type": "set_rate", "rate": "zombie.bite_rate", "factor": 99}}, "factor"),
        ({"event": {"type": "set_rate", "rate": "seed", "factor": 1}}, "rate"),
        ({"event": {"type": "quarantine", "districts": ["Atlantis"]}}, "Atlantis"),
        ({"event": {"type": "deploy_soldiers", "cell": start}}, "no soldiers in reserve"),
        ({"event": {"type": "airstrike", "cell": [0, 0]}}, "[0, 0]: not a passable cell"),
        ({"event": {"type": "sound_lure", "cell": [ny - 1, 0]}}, "not a passable cell"),
        ({"event": {"type": "curfew"}}, "one of quarantine"),
        ({"bridge_at": [0, 0]}, "no bridge at"),
        ({"station_at": [0, 0]}, "no subway station near [0, 0]"),
        ({"station_at": [10**30, 0]}, "no subway station near"),  # off the map, not a 500
        ({"event": {"type": "close_subway", "lines": ["99"]}}, "99"),
    ):
        r = c.post(f"/api/live/{j}/act", json=bad, headers=auth())
        assert r.status_code == 400 and needle in r.json()["error"], r.text
    c.post(f"/api/live/{j}/control", json={"action": "play"}, headers=auth())
    done = _wait(c, f"/api/live/{j}", lambda s: s["state"] in ("done", "failed"))
    assert done["state"] == "done", done
    assert [a["step"] for a in done["actions"]] == [st["step"]] * 3 + [moved["step"]] * 5
    (folder,) = runs_dir.iterdir()
    saved = Results.load(folder)
    fired = saved.events
    names = [f"studio {k}" for k in range(1, 8)]
    # at one boundary in the scenario's order: the reserve's event was there from the start
    assert [e["name"] for e in fired] == [*names[:3], "studio soldiers", *names[3:]]
    assert fired[5]["rate"] == "zombie.bite_rate" and fired[5]["factor"] == 2.5
    # the 20,000 soldiers held since the start (20 agents at 1/1000) appeared at the click
    assert fired[3]["deployed"] == 20 and fired[3]["cell"] == start
    assert fired[3]["t_min"] == fired[5]["t_min"] == moved["step"]
    # the station closed and the alert stopped the trains and the journeys
    assert fired[6]["type"] == "close_subway" and fired[6]["stations"] == ["Gangnam"]
    assert fired[7]["type"] == "public_alert" and fired[7]["commuting"] is True
    assert fired[7]["trains_stopped"] is True
    # the outbreak began where it was placed: the first zombies stand in Dobong-gu
    assert saved.scenario.outbreak.cell == start
    first = saved.snapshots.counts[0][STATES.index("zombie")]
    at = saved.snapshots.cells[first > 0]
    assert at.size > 0 and (district[at] == dobong).all()
    assert fired[1]["links_closed"] > 0 and sum(fired[2]["killed"].values()) > 0
    # "save scenario": the session as a TOML file that replays it bit for bit
    toml = c.get(f"/api/live/{j}/scenario", headers=auth())
    assert toml.status_code == 200 and "attachment" in toml.headers["content-disposition"]
    path = tmp_path / "session.toml"
    path.write_text(toml.text)
    again = simulate(Scenario.load(str(path)))
    assert again.timeseries.equals(Results.load(folder).timeseries)
    assert again.events == fired


def test_a_live_run_started_and_steered_in_the_browser(tmp_path):
    from seoulfall import Results

    with _studio_page("--runs-dir", str(tmp_path / "live"), height=950) as (page, _, _):
        page.wait_for_function("document.getElementById('live-scenario').options.length > 0")
        page.select_option("#live-scenario", "seoul-falls-no-response")
        page.fill("#live-scale", "0.001")
        page.fill("#live-days", "0.5")
        # before the start: the scenario's map; a click places the outbreak in Dobong-gu
        page.select_option("#live-click", "outbreak")
        page.wait_for_function("run && run.preview === 'seoul-falls-no-response'")
        x, y = page.evaluate(DOBONG_CENTRE)
        box = page.locator("#map").bounding_box()
        page.mouse.click(box["x"] + box["width"] * x, box["y"] + box["height"] * y)
        assert "in Dobong-gu" in page.text_content("#live-status")
        placed = page.evaluate("outbreakCell")
        page.click("#live-start")
        page.wait_for_function(
            "document.getElementById('live-status').textContent.startsWith('running')",
            timeout=120_000,
        )
        page.click("#live-pause")
        page.wait_for_function(
            "document.getElementById('live-status').textContent.startsWith('paused')"
        )
        # a click on a bridge closes it: the page shows the event it became
        page.select_option("#live-click", "bridge")
        x, y = page.evaluate(FIRST_BRIDGE)
        box = page.locator("#map").bounding_box()
        page.mouse.click(box["x"] + box["width"] * x, box["y"] + box["height"] * y)
        page.wait_for_function("document.getElementById('events').children.length === 1")
        assert page.text_content("#events").startswith("studio 1: close_bridges ")
        # a rate slider: zombies bite half as often from the next boundary
        page.eval_on_selector(
            "#rates input[data-rate='zombie.bite_rate']",
            "(s) => { s.value = 0.5; s.oninput(); s.dispatchEvent(new Event('change')); }",
        )
        page.wait_for_function("document.getElementById('events').children.length === 2")
        assert "set_rate zombie.bite_rate × 0.5" in page.text_content("#events")
        # the alert's button: nobody commutes from the next boundary
        page.click("#live-alert")
        page.wait_for_function("document.getElementById('events').children.length === 3")
        assert "studio 3: public_alert" in page.text_content("#events")
        # record the map while it plays, then save the video
        page.click("#record")
        page.click("#live-pause")  # play
        # four frames drawn and encoded (a busy machine encodes them later than it draws)
        page.wait_for_function(
            "(window.framesRecorded || 0) >= 4 && (window.recordedBytes || 0) > 1000",
            timeout=60_000,
        )
        with page.expect_download() as got:
            page.click("#record")
        video = got.value.path().read_bytes()
        assert got.value.suggested_filename.endswith(".webm")
        page.wait_for_function(
            "document.getElementById('run').options.length === 1", timeout=120_000
        )
        assert page.is_hidden("#error")
        page.screenshot(path=str(tmp_path / "live.png"))
    assert video[:4] == bytes.fromhex("1a45dfa3") and len(video) > 1000  # a WebM (EBML) file
    (folder,) = (tmp_path / "live").iterdir()
    res = Results.load(folder)
    fired = res.events
    assert [(e["name"], e["type"]) for e in fired] == [
        ("studio 1", "close_bridges"),
        ("studio 2", "set_rate"),
        ("studio 3", "public_alert"),
    ]
    assert fired[1]["factor"] == 0.5 and res.scenario.outbreak.cell == placed


CLOSED_BRIDGE_PIXEL = """() => {
  const e = run.meta.events.find((x) => x.type === "close_bridges");
  const c = run.meta.bridges[e.bridges[0]][0];
  return Array.from(document.getElementById("map").getContext("2d")
    .getImageData(c % run.nx, Math.floor(c / run.nx), 1, 1).data);
}"""

DOBONG_CENTRE = """() => {
  const d = run.meta.districts.findIndex((x) => x.code === "11320");
  let sx = 0, sy = 0, n = 0;
  for (let i = 0; i < run.district.length; i++) {
    if (run.district[i] !== d || run.kind[i] !== 0) continue;
    sx += i % run.nx; sy += Math.floor(i / run.nx); n++;
  }
  return [(sx / n + 0.5) / run.nx, (sy / n + 0.5) / run.ny];
}"""

FIRST_BRIDGE = """() => {
  const i = run.kind.indexOf(2);
  return [((i % run.nx) + 0.5) / run.nx, (Math.floor(i / run.nx) + 0.5) / run.ny];
}"""


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """A small sweep: two bite rates, two seeds each, at 1/1000 for two days."""
    import json

    from seoulfall import Scenario, ensemble

    folder = tmp_path_factory.mktemp("sweep") / "odds"
    sc = Scenario.load("seoul-falls", {"population.scale": 0.001, "time.days": 1.0})
    grid = {"zombie.bite_rate": [0.1, 0.5]}
    ensemble(sc, seeds=2, vary=grid, out=folder)  # in this process: no cluster to start
    # the arguments, as `seoulfall sweep` writes them
    args = {"scenario": json.loads(json.dumps(sc.to_dict(), default=str)), "seeds": 2,
            "vary": grid}  # fmt: skip
    (folder / "sweep.json").write_text(json.dumps(args))
    return folder


def test_a_sweep_folder_shows_each_combinations_odds_on_the_map(sweep_dir, tmp_path):
    from seoulfall.sweep import Ensemble, read_runs

    c = TestClient(make_app([open_folder(sweep_dir)], TOKEN))
    meta = c.get("/api/runs/0/meta", headers=auth()).json()
    assert meta["kind"] == "sweep" and meta["runs"] == 4
    summary = Ensemble(list(read_runs(sweep_dir).values()), ["zombie.bite_rate"]).summary
    for combo, want in zip(meta["combinations"], summary["combinations"]):
        assert combo["district_p_fall"] == {k: v["p_fall"] for k, v in want["districts"].items()}
    assert c.get("/api/runs/0/frame/0", headers=auth()).status_code == 404
    # in the browser: Gangnam-gu (where it starts, P(falls) = 1 at the higher rate) is red
    with _studio_page(str(sweep_dir)) as (page, _, _):
        page.wait_for_function("window.framesDrawn >= 1")
        page.select_option("#combo", "1")
        x, y = page.evaluate(GANGNAM_CENTRE)
        rgb = page.evaluate(
            "([x, y]) => Array.from(document.getElementById('map').getContext('2d')"
            ".getImageData(Math.floor(x * run.nx), Math.floor(y * run.ny), 1, 1).data)",
            [x, y],
        )
        box = page.locator("#map").bounding_box()
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y)
        tip = page.text_content("#tip")
        assert page.is_hidden("#replay-controls") and page.is_visible("#combo")
    gangnam = meta["combinations"][1]["district_p_fall"]["11680"]
    assert tip == f"Gangnam-gu 강남구: P(falls) {gangnam:.2f}"
    assert gangnam == 1.0 and rgb[:3] == [215, 25, 28]


def test_seoulfall_run_serve_shows_the_run_live_and_changes_none_of_it(tmp_path, capsys):
    """`seoulfall run --serve`: the page watches (and may pause) the command's own run."""
    import httpx
    from playwright.sync_api import sync_playwright

    from seoulfall import Results

    args = ["seoul-falls-no-response", "--scale", "0.001", "--days", "0.5", "--seed", "4"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "seoulfall.cli", "run", *args, "--out", str(tmp_path / "live"),
         "--serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith("seoulfall studio: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[-1]
        base, token = url.split("/?token=")
        h = {"X-Seoulfall-Token": token}
        # paused from the page at its first boundary; it is watched, never steered
        assert httpx.post(f"{base}/api/live/0/control", json={"action": "pause"},
                          headers=h).status_code == 200  # fmt: skip
        assert httpx.get(f"{base}/api/scenarios", headers=h).json()["watch"] == 0
        steer = httpx.post(f"{base}/api/live/0/act", json={"event": {"type": "airstrike",
                           "cell": [100, 100]}}, headers=h)  # fmt: skip
        assert steer.status_code == 400 and "watched, not steered" in steer.json()["error"]
        stop = httpx.post(f"{base}/api/live/0/control", json={"action": "stop"}, headers=h)
        assert stop.status_code == 400 and "Ctrl-C" in stop.json()["error"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"))
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(url)
            page.wait_for_function(
                "document.getElementById('live-status').textContent.startsWith('paused')",
                timeout=120_000,
            )
            assert page.text_content("#title").startswith("live: seoul-falls-no-response")
            assert page.is_hidden("#live-stop") and page.is_hidden("#live-form")
            assert page.is_hidden("#rates") and page.is_hidden("#live-save")
            page.click("#live-pause")  # play: the run goes on to its end, then is replayed
            page.wait_for_function(
                "run.live == null && run.meta.t_min !== undefined", timeout=120_000
            )
            assert page.is_visible("#slider") and page.is_hidden("#error")
            browser.close()
        err = ""
        while "Ctrl-C stops the studio" not in err:
            err += proc.stderr.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=30)
    err += rest
    assert proc.returncode == 0 and "stopped" in err and "Traceback" not in err, err
    assert "final: human" in out, out  # the summary, as without --serve
    # watching and pausing changed nothing: the run is the one without --serve
    code, _, cli_err = run_cli(["run", *args, "--out", str(tmp_path / "plain"), "--quiet"], capsys)
    assert code == 0, cli_err
    watched, plain = Results.load(tmp_path / "live"), Results.load(tmp_path / "plain")
    assert watched.timeseries.equals(plain.timeseries) and watched.events == plain.events


def test_run_serve_on_a_taken_port_is_refused_before_any_work(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, _, err = run_cli(["run", "lattice", "--days", "0.1", "--out", str(tmp_path / "x"),
                                "--serve", "--port", str(port)], capsys)  # fmt: skip
    assert code == 2 and f"--port {port}: cannot listen there" in err and "\n" not in err.strip()
    assert not (tmp_path / "x").exists()
