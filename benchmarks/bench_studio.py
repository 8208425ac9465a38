"""The studio: frames a headless browser draws, their cost, and what watching costs the run.

Usage: python benchmarks/bench_studio.py [--scale 0.05 --days 1] [--scale 1 --days 0.05 ...]
                                         [--repeat N] [--out benchmarks/results]

For each (scale, days) of the default scenario, in this one session:

- the run headless (``Simulation.run``): its stepping seconds;
- the same run headless but stopping at each boundary a live run stops at (``ticking``):
  what the blocks alone cost;
- the same run live in a server, its frames taken by a plain HTTP client that draws
  nothing (``polled``): what the server costs, without a browser;
- the same run live in ``seoulfall serve`` (a server process), started and watched from
  Debian's Chromium through Playwright: its stepping seconds (from its run folder's
  summary), the CPU seconds Chromium used meanwhile, the frames the page drew per second of
  stepping, the server's seconds per frame
  (making the frame from the counts) and the bytes of a frame;
- the replay of the saved run: frames fetched and drawn per second, one after another as
  fast as the page can.

With ``--repeat N`` the four runs are alternated N times and the table shows the medians.
Prints a table and writes bench_studio.json. Live and headless give the same run (the test
suite checks it); the ratio of their stepping seconds is what watching costs.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seoulfall import Scenario
from seoulfall.simulation import Simulation
from seoulfall.snapshots import Snapshots


def headless(scale: float, days: float) -> float:
    sc = Scenario.load("seoul-falls", {"population.scale": scale, "time.days": days})
    return Simulation(sc).run().summary["stepping_seconds"]


def ticking(scale: float, days: float) -> float:
    """The run headless, stopping at every boundary a live run stops at (no server)."""
    from seoulfall.studio.live import TICKS_PER_ROW

    sc = Scenario.load("seoul-falls", {"population.scale": scale, "time.days": days})
    sim = Simulation(sc)
    every = max(1, sim.record_every // TICKS_PER_ROW)
    return sim.run(tick=lambda step: None, tick_every=every).summary["stepping_seconds"]


def start_server(runs_dir: Path) -> tuple[subprocess.Popen, str]:
    """`seoulfall serve` with live runs saved in ``runs_dir``, and the URL it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "seoulfall.cli", "serve", "--port", "0", "--runs-dir",
         str(runs_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    return proc, proc.stdout.readline().split()[-1]


def live_polled(scale: float, days: float, runs_dir: Path) -> dict:
    """The run live in a server process, its frames taken by a plain client (no drawing)."""
    import httpx

    proc, url = start_server(runs_dir)
    base, token = url.split("/?token=")
    h = {"X-Seoulfall-Token": token}
    frames = 0
    try:
        with httpx.Client(base_url=base, headers=h, timeout=60) as c:
            body = {"scenario": "seoul-falls", "scale": scale, "days": days}
            j = c.post("/api/live", json=body).json()["id"]
            seq = 0
            while True:  # as the page does: the newest frame, then the status
                r = c.get(f"/api/live/{j}/frame", params={"after": seq, "wait": 2})
                if r.status_code == 200:
                    seq, frames = int(r.headers["X-Frame"]), frames + 1
                if c.get(f"/api/live/{j}").json()["state"] in ("done", "stopped", "failed"):
                    break
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    (folder,) = runs_dir.iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    return {"polled_stepping_seconds": summary["stepping_seconds"], "polled_frames": frames}


def browser_cpu_seconds() -> float:
    """CPU seconds used so far by this machine's Chromium processes (psutil, from dask)."""
    import psutil

    total = 0.0
    for p in psutil.process_iter(["name"]):
        try:
            if "chrom" in (p.info["name"] or ""):
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:  # gone meanwhile
            pass
    return total


def live_and_replay(scale: float, days: float, runs_dir: Path) -> dict:
    from playwright.sync_api import sync_playwright

    proc, url = start_server(runs_dir)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"))
            page = browser.new_page(viewport={"width": 1300, "height": 950})
            page.goto(url)
            page.wait_for_function("document.getElementById('live-scenario').options.length")
            page.select_option("#live-scenario", "seoul-falls")
            page.fill("#live-scale", str(scale))
            page.fill("#live-days", str(days))
            page.click("#live-start")
            page.wait_for_function(
                "document.getElementById('live-status').textContent.startsWith('running')",
                timeout=600_000,
            )
            drawn0 = page.evaluate("window.framesDrawn || 0")
            cpu0 = browser_cpu_seconds()
            page.wait_for_function(  # done, saved, and shown for replay
                "run.live == null && run.meta.t_min !== undefined", timeout=3_600_000
            )
            cpu = browser_cpu_seconds() - cpu0
            drawn = page.evaluate("window.framesDrawn") - drawn0 - 1  # less the replay's first
            token = url.split("token=")[1]
            status = page.evaluate(
                f"fetch('/api/live/0', {{headers: {{'X-Seoulfall-Token': '{token}'}}}})"
                ".then((r) => r.json())"
            )
            # the replay: every frame fetched and drawn, one after another
            n = page.evaluate("run.meta.t_min.length")
            t0 = time.perf_counter()
            page.evaluate("async () => { for (let k = 0; k < run.meta.t_min.length; k++) "
                          "await show(k); }")  # fmt: skip
            replay_s = time.perf_counter() - t0
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    (folder,) = runs_dir.iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    snaps = Snapshots.load(folder / "snapshots.npz")
    cells = snaps.cells.size
    return {
        "live_stepping_seconds": summary["stepping_seconds"],
        "browser_cpu_seconds": cpu,
        "live_frames_drawn": drawn,
        "frames_published": status["frame"],
        "publish_seconds": status["publish_seconds"],
        "bytes_per_frame": 2 * snaps.counts.shape[1] * cells,
        "replay_frames": n,
        "replay_seconds": replay_s,
        "agents": summary["agents"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, action="append")
    ap.add_argument("--days", type=float, action="append")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--repeat", type=int, default=1, help="alternated tries (medians shown)")
    args = ap.parse_args(argv)
    sizes = list(zip(args.scale or [0.05], args.days or [1.0]))
    rows = []
    for scale, days in sizes:
        tries = []
        for _ in range(args.repeat):  # alternated, so that the machine's drift hits all four
            with tempfile.TemporaryDirectory() as tmp:
                t_headless = headless(scale, days)
                t_ticking = ticking(scale, days)
                polled = live_polled(scale, days, Path(tmp) / "polled")
                live = live_and_replay(scale, days, Path(tmp) / "live")
            tries.append({"headless_stepping_seconds": t_headless,
                          "ticking_stepping_seconds": t_ticking, **polled, **live})  # fmt: skip
        row = {"scale": scale, "days": days, **tries[-1], "tries": tries}

        def med(key, tries=tries):
            return statistics.median(t[key] for t in tries)

        row["headless_stepping_seconds"] = t_headless = med("headless_stepping_seconds")
        row["live_over_headless"] = med("live_stepping_seconds") / t_headless
        row["ticking_over_headless"] = med("ticking_stepping_seconds") / t_headless
        row["polled_over_headless"] = med("polled_stepping_seconds") / t_headless
        row["live_stepping_seconds"] = med("live_stepping_seconds")
        row["browser_cores"] = med("browser_cpu_seconds") / row["live_stepping_seconds"]
        row["live_fps"] = live["live_frames_drawn"] / live["live_stepping_seconds"]
        row["ms_per_frame_server"] = (
            1e3 * live["publish_seconds"] / max(1, live["frames_published"])
        )
        row["replay_fps"] = live["replay_frames"] / live["replay_seconds"]
        rows.append(row)
    head = f"{'agents':>10} {'headless s':>10} {'ticking':>7} {'polled':>6} {'live s':>8} " \
           f"{'ratio':>6} {'browser cores':>13} {'live fps':>8} " \
           f"{'server ms/frame':>15} {'KB/frame':>8} {'replay fps':>10}"  # fmt: skip
    print(head)
    for r in rows:
        print(f"{r['agents']:>10,} {r['headless_stepping_seconds']:>10.1f} "
              f"{r['ticking_over_headless']:>7.2f} {r['polled_over_headless']:>6.2f} "
              f"{r['live_stepping_seconds']:>8.1f} {r['live_over_headless']:>6.2f} "
              f"{r['browser_cores']:>13.2f} "
              f"{r['live_fps']:>8.1f} {r['ms_per_frame_server']:>15.2f} "
              f"{r['bytes_per_frame'] / 1024:>8.0f} {r['replay_fps']:>10.1f}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    out = {"machine": platform.platform(), "cpus": os.cpu_count(), "rows": rows}
    (args.out / "bench_studio.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
