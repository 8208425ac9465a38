"""Sweep benchmark: the speed-up from 1 to 2 Dask workers, and the cost of a default run.

Usage: python benchmarks/bench_sweep.py [--runs 8] [--out benchmarks/results]

In one process: the same sweep of ``--runs`` seeds of ``seoul-falls`` at scale 0.002 for
2 days on a LocalCluster of 1 worker, then of 2 workers (each cluster started before the
clock starts, and warmed by one run, so compilation is not counted), then one default
run (scale 0.01, 14 days) on one worker, from which a 1000-seed sweep's cost is
extrapolated. Prints a table and writes bench_sweep.json.
"""

import argparse
import json
import platform
import time
from pathlib import Path

from dask.distributed import Client, LocalCluster

from seoulfall import Scenario, ensemble
from seoulfall.sweep import run_one


def timed_sweep(workers, runs):
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as lc:
        with Client(lc) as client:
            sc = Scenario.load("seoul-falls", {"population.scale": 0.002, "time.days": 2})
            client.gather(client.map(run_one, [sc.to_dict()] * workers, [{}] * workers,
                                     range(1000, 1000 + workers), pure=False))  # fmt: skip
            t = time.perf_counter()
            ensemble(sc, seeds=runs, client=client)
            return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    one = timed_sweep(1, args.runs)
    two = timed_sweep(2, args.runs)
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as lc:
        with Client(lc) as client:
            raw = Scenario.load("seoul-falls").to_dict()
            client.submit(run_one, raw, {"time.days": 0.01}, 0, pure=False).result()
            t = time.perf_counter()
            rec = client.submit(run_one, raw, {}, 0, pure=False).result()
            default = time.perf_counter() - t
    record_bytes = len(json.dumps(rec))
    rows = [
        (f"{args.runs} runs (scale 0.002, 2 days), 1 worker", one, "s", ""),
        (f"{args.runs} runs, 2 workers", two, "s", f"speed-up {one / two:.2f}x"),
        ("one default run (scale 0.01, 14 days), 1 worker", default, "s", ""),
        ("1000 default runs, 2 workers (extrapolated)", 1000 * default / 2 / 3600, "h",
         f"at the measured 2-worker efficiency: {1000 * default / (one / two) / 3600:.1f} h"),
        ("record sent back per default run", record_bytes / 1024, "KiB", ""),
    ]  # fmt: skip
    print(f"seoulfall sweep benchmark: {platform.machine()}, {platform.processor() or ''}")
    for name, v, unit, note in rows:
        print(f"{name:<55} {v:10.2f} {unit:<4} {note}")
    args.out.mkdir(parents=True, exist_ok=True)
    out = {
        "runs": args.runs,
        "one_worker_s": one,
        "two_workers_s": two,
        "speedup": one / two,
        "default_run_s": default,
        "sweep_1000_default_2_workers_h": 1000 * default / (one / two) / 3600,
        "record_bytes": record_bytes,
    }
    (args.out / "bench_sweep.json").write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out / 'bench_sweep.json'}")


if __name__ == "__main__":
    main()
