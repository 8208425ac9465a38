"""The studio: frames a headless browser draws, their cost, and what watching costs the run.

Usage: python benchmarks/bench_studio.py [--scale 0.05 --days 1] [--scale 1 --days 0.05 ...]
                                         [--out benchmarks/results]

For each (scale, days) of the default scenario, in this one session:

- the run headless (``Simulation.run``): its stepping seconds;
- the same run live in ``seoulfall serve`` (a server process), started and watched from
  Debian's Chromium through Playwright: its stepping seconds (from its run folder's
  summary), the frames the page drew per second of stepping, the server's seconds per frame
  (making the frame from the counts) and the bytes of a frame;
- the replay of the saved run: frames fetched and drawn per second, one after another as
  fast as the page can.

Prints a table and writes bench_studio.json. Live and headless give the same run (the test
suite checks it); the ratio of their stepping seconds is what watching costs.
"""

import argparse
import json
import os
import platform
import shutil
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


def live_and_replay(scale: float, days: float, runs_dir: Path) -> dict:
    from playwright.sync_api import sync_playwright

    proc = subprocess.Popen(
        [sys.executable, "-m", "seoulfall.cli", "serve", "--port", "0", "--runs-dir",
         str(runs_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    url = proc.stdout.readline().split()[-1]
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
            page.wait_for_function(  # done, saved, and shown for replay
                "run.live == null && run.meta.t_min !== undefined", timeout=3_600_000
            )
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
    args = ap.parse_args(argv)
    sizes = list(zip(args.scale or [0.05], args.days or [1.0]))
    rows = []
    for scale, days in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            t_headless = headless(scale, days)
            live = live_and_replay(scale, days, Path(tmp) / "live")
        row = {"scale": scale, "days": days, "headless_stepping_seconds": t_headless, **live}
        row["live_over_headless"] = live["live_stepping_seconds"] / t_headless
        row["live_fps"] = live["live_frames_drawn"] / live["live_stepping_seconds"]
        row["ms_per_frame_server"] = (
            1e3 * live["publish_seconds"] / max(1, live["frames_published"])
        )
        row["replay_fps"] = live["replay_frames"] / live["replay_seconds"]
        rows.append(row)
    head = f"{'agents':>10} {'headless s':>10} {'live s':>8} {'ratio':>6} {'live fps':>8} " \
           f"{'server ms/frame':>15} {'KB/frame':>8} {'replay fps':>10}"  # fmt: skip
    print(head)
    for r in rows:
        print(f"{r['agents']:>10,} {r['headless_stepping_seconds']:>10.1f} "
              f"{r['live_stepping_seconds']:>8.1f} {r['live_over_headless']:>6.2f} "
              f"{r['live_fps']:>8.1f} {r['ms_per_frame_server']:>15.2f} "
              f"{r['bytes_per_frame'] / 1024:>8.0f} {r['replay_fps']:>10.1f}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    out = {"machine": platform.platform(), "cpus": os.cpu_count(), "rows": rows}
    (args.out / "bench_studio.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
