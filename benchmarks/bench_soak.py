"""Soak benchmark: memory over a long run at a larger scale (not a unit test).

Usage: python benchmarks/bench_soak.py [--scale 0.05] [--days 3] [--out benchmarks/results]

Runs ``seoul-falls`` at ``--scale`` for ``--days`` and samples the process's resident memory
(VmRSS) after every recorded hour. Prints the memory after warm-up (the first simulated
hour), at the end, the growth per simulated day, and how much of that growth the run's own
growing buffers explain (map snapshots every 2 h and hourly rows, which a run keeps until it
writes them out), and writes bench_soak.json.
"""

import argparse
import json
from pathlib import Path

from seoulfall import Scenario
from seoulfall.simulation import Simulation


def rss_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--days", type=float, default=3.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    sc = Scenario.load("seoul-falls", {"population.scale": args.scale, "time.days": args.days})
    sim = Simulation(sc)
    samples = []
    sim.run(progress=lambda step, n: samples.append((step / 1440, rss_mib())))
    day0, warm = samples[0]
    day1, end = samples[-1]
    growth = (end - warm) / (day1 - day0)
    ncells = int(sim.world.passable.sum())
    snap_per_day = 12 * 6 * ncells * 2 / 2**20  # 12 snapshots a day, 6 states, uint16
    rows_per_day = 24 * (len(sim.world.district_codes) + 1) * 8 * 8 / 2**20
    print(f"soak: seoul-falls, {sim.agents.n:,} agents, {args.days} days")
    print(f"{'RSS after the first simulated hour':<52} {warm:8.1f} MiB")
    print(f"{'RSS at the end':<52} {end:8.1f} MiB")
    print(f"{'growth per simulated day':<52} {growth:8.2f} MiB/day")
    print(f"{'  of which snapshot buffers (expected)':<52} {snap_per_day:8.2f} MiB/day")
    print(f"{'  of which time-series rows (expected)':<52} {rows_per_day:8.2f} MiB/day")
    print(f"{'  unexplained':<52} {growth - snap_per_day - rows_per_day:8.2f} MiB/day")
    args.out.mkdir(parents=True, exist_ok=True)
    out = {
        "agents": sim.agents.n,
        "days": args.days,
        "samples": samples,
        "rss_warm_mib": warm,
        "rss_end_mib": end,
        "growth_mib_per_day": growth,
        "expected_buffers_mib_per_day": snap_per_day + rows_per_day,
    }
    (args.out / "bench_soak.json").write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out / 'bench_soak.json'}")


if __name__ == "__main__":
    main()
