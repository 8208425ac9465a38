"""Scaling: agent-steps per second and peak memory from 10^4 to 10^7 agents, and vs threads.

Usage: python benchmarks/bench_scaling.py [--steps 120] [--sizes 1e4,1e5,1e6,1e7] [--out DIR]

Each point is the default scenario (``seoul-falls``) with ``population.scale`` set for the
number of agents (at most 1, so 10^7 means full Seoul, 9.6 M), stepped from the start for
``--steps`` steps (the outbreak's first hours; setup and compilation excluded), in a fresh
child process so that its peak resident memory (``ru_maxrss``) is its own. The largest
size is also run on 1 thread and on every core.
Prints a Markdown table and writes ``bench_scaling.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

SEOUL = 9_597_372  # agents at scale 1

CHILD = r"""
import json, resource, sys, time
from seoulfall.simulation import Simulation, resolve
scale, steps, threads = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sim = Simulation(resolve("seoul-falls", scale=scale), seed=0, threads=threads)
sim.stepper.warm_up()
sim.advance(0, 8)  # first touches of every buffer
t = time.perf_counter()
sim.advance(8, steps)
secs = time.perf_counter() - t
n = sim.agents.n
print(json.dumps({"agents": n, "threads": sim.stepper.nthreads, "chunks": sim.stepper.nchunks,
                  "seconds": secs, "rate": n * steps / secs,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def point(agents: float, steps: int, threads: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(min(1.0, agents / SEOUL)), str(steps), str(threads)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--sizes", default="1e4,1e5,1e6,1e7")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    sizes = [float(s) for s in args.sizes.split(",")]
    rows = [point(n, args.steps, cores) for n in sizes]
    threads = [point(sizes[-1], args.steps, t) for t in sorted({1, cores})]
    print(f"machine: {platform.machine()}, {cores} cores; {args.steps} steps from the start")
    print("\n| agents | threads (chunks) | agent-steps/s | peak memory (MiB) | bytes/agent |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['agents']:,} | {r['threads']} ({r['chunks']}) | {r['rate'] / 1e6:,.1f} M | "
            f"{r['peak_mib']:,.0f} | {r['peak_mib'] * 2**20 / r['agents']:,.0f} |"
        )
    base = threads[0]["rate"]
    print(f"\n| threads, {threads[0]['agents']:,} agents | agent-steps/s | vs 1 thread |")
    print("|---:|---:|---:|")
    for r in threads:
        print(f"| {r['threads']} | {r['rate'] / 1e6:,.1f} M | {r['rate'] / base:.2f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": platform.machine(),
        "cores": cores,
        "steps": args.steps,
        "sizes": rows,
        "threads": threads,
    }
    (out / "bench_scaling.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
