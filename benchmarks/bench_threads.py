"""Threads on a quiet and on a busy machine: one thread, all threads, all threads tuned.

Usage: python benchmarks/bench_threads.py [--days 2] [--scale 0.01] [--repeat 1]
                                          [--out benchmarks/results]

Runs the default scenario (``seoul-falls``) for ``--days`` at ``--scale`` with ``--threads 1``,
with all the machine's threads stepping every step (``engine.tune_threads = false``: the
static split before 2026-11-26), and with all threads and the tuner (the default: every 256
steps it times 8 steps on one thread and 8 on all, and steps on the faster). Each set runs
on a quiet machine and again with one competing busy process per core but one (a Python
loop spinning), as a busy laptop or a shared host has. Prints a table of stepping seconds
and each one's ratio to one thread in the same condition, and writes bench_threads.json.
Every run gives the same outcome (checked).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from seoulfall import Scenario
from seoulfall.simulation import Simulation

SETS = (
    ("one thread", 1, True),
    ("all threads, static", None, False),
    ("all threads, tuned", None, True),
)


def run(sc: Scenario, threads, tune: bool) -> tuple[float, int, str]:
    sim = Simulation(sc.override({"engine.tune_threads": tune}), seed=0, threads=threads)
    res = sim.run()
    t = sim.stepper.tuner
    chose = (
        f"{t.chose_one}/{t.trials} trials chose one thread"
        if tune and sim.stepper.nthreads > 1
        else ""
    )
    return res.summary["stepping_seconds"], res.summary["final"]["human"], chose


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--days", type=float, default=2.0)
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    sc = Scenario.load("seoul-falls", {"time.days": args.days, "population.scale": args.scale})
    cores = os.cpu_count() or 1
    Simulation(sc.override({"time.days": 0.01}), seed=0).run()  # compile everything first
    rows, humans = [], set()
    for load in (0, max(1, cores - 1)):
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
        try:
            time.sleep(0.5 if load else 0.0)
            base = None
            for name, threads, tune in SETS:
                best, chose = float("inf"), ""
                for _ in range(args.repeat):
                    secs, h, c = run(sc, threads, tune)
                    humans.add(h)
                    if secs < best:
                        best, chose = secs, c
                base = base or best
                rows.append({"busy_processes": load, "set": name, "stepping_seconds": best,
                             "ratio_to_one_thread": best / base, "tuner": chose})  # fmt: skip
        finally:
            for p in busy:
                p.kill()
    assert len(humans) == 1, f"outcomes differ: {humans}"
    print(
        f"seoulfall threads benchmark: {platform.machine()}, {cores} cores, default scenario, "
        f"{args.days} days at scale {args.scale}, best of {args.repeat}"
    )
    print(f"{'busy':>4}  {'set':<22} {'stepping s':>10} {'vs 1 thread':>11}  tuner")
    for r in rows:
        print(f"{r['busy_processes']:>4}  {r['set']:<22} {r['stepping_seconds']:>10.2f} "
              f"{r['ratio_to_one_thread']:>11.2f}  {r['tuner']}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "bench_threads.json"
    out.write_text(json.dumps({"cores": cores, "days": args.days, "scale": args.scale,
                               "rows": rows}, indent=1))  # fmt: skip
    print(out)


if __name__ == "__main__":
    main()
