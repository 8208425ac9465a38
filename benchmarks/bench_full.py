"""Full Seoul for 14 days: the whole default scenario at scale 1, timed day by day.

Usage: python benchmarks/bench_full.py [--scale 1] [--days 14] [--threads N] [--outputs DIR]
                                       [--backend cpu|gpu] [--split] [--out benchmarks/results]

Runs ``seoul-falls`` (seed 0) through ``Simulation.run``, as ``seoulfall run --scale 1``
does, and prints per simulated day the wall time, the rate (agents x steps / second, every
agent counted, dead or not, as in every benchmark here) and the agents the pass still
visits (the dead are sorted out of it); then setup, compilation, stepping, total and peak
resident memory. ``--outputs DIR`` also writes the run folder (the CLI's files, maps,
animation and report) and times that. ``--backend gpu`` steps on the GPU and also prints the
first quarter-day's rate and the copies between host and device a step; with ``--split`` the
GPU waits for the device after each part of a step and prints the milliseconds a step in
each (fields, pass and its events, noise of fights, named characters, sort where asked,
host), which slows it. Writes ``bench_full.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numba

from seoulfall.simulation import Simulation, resolve


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--days", type=float, default=14.0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--outputs", type=Path, default=None, help="also write the run folder here")
    ap.add_argument("--backend", default="cpu", choices=("cpu", "gpu"))
    ap.add_argument("--split", action="store_true", help="GPU: time each part of a step")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    t0 = time.perf_counter()
    sc = resolve("seoul-falls", scale=args.scale, days=args.days)
    sim = Simulation(sc, seed=0, threads=args.threads, backend=args.backend)
    sim.stepper.timed = args.split
    t_setup = time.perf_counter() - t0
    t = time.perf_counter()
    sim.stepper.warm_up()  # compile (or load the cache); run() finds it done
    t_compile = time.perf_counter() - t
    per_day = round(1440 / sc.time.dt_min)
    marks = [(0, None, sim.agents.n)]  # (step, clock, agents visited by the pass)

    quarter = []  # (step, clock) at the first quarter-day

    def progress(step, nsteps):
        if step % per_day == 0 or step == nsteps:
            marks.append((step, time.perf_counter(), sim.stepper.n_active))
        if not quarter and step >= per_day / 4:
            quarter.append((step, time.perf_counter()))

    res = sim.run(progress=progress)
    t_run = time.perf_counter()
    timing = {
        "setup_seconds": t_setup,
        "compile_seconds": t_compile,
        "stepping_seconds": res.summary["stepping_seconds"],
        "threads": res.summary["threads"],
    }
    n = sim.agents.n
    # the first day's clock starts when stepping does: after setup and compilation
    first = t_run - timing["stepping_seconds"]
    marks[0] = (0, first, n)
    days = []
    for (s0, c0, _), (s1, c1, active) in zip(marks, marks[1:]):
        secs = c1 - c0
        days.append(
            {
                "day": s1 / per_day,
                "seconds": secs,
                "agent_steps_per_s": n * (s1 - s0) / secs,
                "active_at_end": int(active),
            }
        )
    out_secs = None
    if args.outputs is not None:
        t = time.perf_counter()
        res.save(args.outputs)
        out_secs = time.perf_counter() - t
    total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    steps = sim.nsteps
    print(
        f"seoul-falls at scale {args.scale:g}: {n:,} agents, {steps:,} steps, "
        f"{timing['threads']} threads, "
        f"{platform.machine()} ({os.cpu_count()} cores), numba {numba.__version__}"
    )
    print("\n| day | wall (s) | M agent-steps/s | agents in the pass at its end |")
    print("|---:|---:|---:|---:|")
    for d in days:
        print(
            f"| {d['day']:g} | {d['seconds']:.1f} | {d['agent_steps_per_s'] / 1e6:.1f} | "
            f"{d['active_at_end']:,} |"
        )
    stepping = timing["stepping_seconds"]
    rows = [
        ("setup (world, agents)", timing["setup_seconds"]),
        ("compile (or load the cache)", timing["compile_seconds"]),
        (f"stepping, {n * steps / stepping / 1e6:.1f} M agent-steps/s on average", stepping),
        ("run (setup + compile + stepping + recording)", t_run - t0),
    ]
    if out_secs is not None:
        rows.append(("writing the run folder and report", out_secs))
    rows.append(("total", total))
    print("\n| phase | seconds |")
    print("|---|---:|")
    for name, v in rows:
        print(f"| {name} | {v:.1f} |")
    print(f"\npeak resident memory: {peak:,.0f} MiB")
    gpu = {}
    if args.backend == "gpu":
        st = sim.stepper
        gpu["copies_per_step"] = st.transfers / steps
        if quarter:
            q_step, q_clock = quarter[0]
            gpu["first_quarter_day_agent_steps_per_s"] = n * q_step / (q_clock - first)
        if args.split:
            gpu["ms_per_step"] = st.ms_per_step(stepping, steps)
        for k, v in gpu.items():
            print(f"{k}: {v}")
    print(
        f"outcome: {res.summary['final']}, fall day {res.summary['fall_day']}, "
        f"peak zombies {res.summary['peak_zombies']['count']:,}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "agents": n,
        "steps": steps,
        "threads": timing["threads"],
        "days": days,
        "setup_seconds": timing["setup_seconds"],
        "compile_seconds": timing["compile_seconds"],
        "stepping_seconds": stepping,
        "run_seconds": t_run - t0,
        "outputs_seconds": out_secs,
        "total_seconds": total,
        "mean_agent_steps_per_s": n * steps / stepping,
        "peak_mib": peak,
        "final": res.summary["final"],
        "backend": args.backend,
        "gpu": gpu,
    }
    (args.out / "bench_full.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out / 'bench_full.json'}")


if __name__ == "__main__":
    main()
