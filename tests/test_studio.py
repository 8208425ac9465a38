"""`seoulfall serve`: the replay studio, its token and origin checks, and what a person sees."""

import os
import shutil
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_cli import run_cli

from seoulfall import simulate
from seoulfall.snapshots import STATES
from seoulfall.studio import RunView, StudioError, make_app

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


GANGNAM_CENTRE = """() => {
  const d = run.meta.districts.findIndex((x) => x.name === "Gangnam-gu");
  let sx = 0, sy = 0, n = 0;
  run.district.forEach((v, i) => {
    if (v === d) { sx += i % run.nx; sy += Math.floor(i / run.nx); n++; }
  });
  return [(sx / n + 0.5) / run.nx, (sy / n + 0.5) / run.ny];
}"""


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
    from playwright.sync_api import sync_playwright

    proc, url = _start(str(run_dir))
    try:
        port = int(url.split(":")[2].split("/")[0])
        # loopback only: the machine's other addresses do not answer
        others = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
        for addr in others - {"127.0.0.1"}:
            with socket.socket() as s, pytest.raises(OSError):
                s.settimeout(2)
                s.connect((addr, port))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"))
            page = browser.new_page(viewport={"width": 1300, "height": 850})
            page.goto(url)
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
            assert page.is_hidden("#error")
            page.screenshot(path=str(tmp_path / "studio.png"))
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in err and "Traceback" not in err, err
    assert (tmp_path / "studio.png").stat().st_size > 10_000
