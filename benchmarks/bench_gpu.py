"""GPU backend against the CPU, in one run: agent-steps per second and the memory floor.

Usage: python benchmarks/bench_gpu.py [--scale 1.0] [--steps 240] [--seeds 0] [--out DIR]

Needs an NVIDIA GPU with a CUDA driver (``numba.cuda.is_available()``); under
``NUMBA_ENABLE_CUDASIM=1`` it runs (very slowly) for a smoke check at a tiny ``--scale``.
Steps the default scenario from the start on the CPU and on the GPU for ``--steps`` steps
(setup and compilation excluded), checks that both end in the same state, agent for agent,
and prints a table: agent-steps/s of each, their ratio, the GPU's rate as a fraction of its
memory floor (30 bytes per agent-step over the card's measured copy bandwidth), the copies
between host and device a step, and the milliseconds a step in each part (a second GPU run
that waits for the device after each part: fields, pass with its events, noise of fights,
the named characters' log, the sort by cell where the scenario asks for it, and the host's
share, the rest).
With ``--seeds N``: also N seeds of the default scenario (scale ``--seeds-scale``, 0.01) for
``--days`` days as one GPU ensemble (``sweep.GPU_RUNS_AT_ONCE`` at once), runs per minute,
and what 1,000 would take.
Writes ``bench_gpu.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from numba import config, cuda

from seoulfall.simulation import Simulation, resolve

FLOOR_BYTES_PER_AGENT_STEP = 30


def device_bandwidth(nbytes=1 << 30, repeat=5):
    """Device-to-device copy bandwidth (bytes read + written per second)."""
    a = cuda.device_array(nbytes // 8, np.float64)
    b = cuda.device_array_like(a)
    b.copy_to_device(a)
    cuda.synchronize()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        b.copy_to_device(a)
        cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * a.nbytes / best


def rate(backend, scale, steps, timed=False):
    """Agent-steps/s of ``steps`` steps from the start, the end state, and what was measured.

    The last: ``copies`` between host and device during the steps, ``wall`` seconds, and on
    the GPU ``ms``, the milliseconds a step by part (meaningful when ``timed``).
    """
    sim = Simulation(resolve("seoul-falls", scale=scale), seed=0, backend=backend)
    st = sim.stepper
    st.warm_up()
    sim.advance(0, 2)  # compiles the CUDA kernels on the GPU
    st.defer_sync = True  # as in a run: the agents stay on the device until the end
    sim.advance(2, 1)  # (and go out first)
    st.timed = timed
    copies = getattr(st, "transfers", 0)
    if backend == "gpu":
        st.seconds = dict.fromkeys(st.seconds, 0.0)
        cuda.synchronize()
    t = time.perf_counter()
    sim.advance(3, steps)
    steps_copies = getattr(st, "transfers", 0) - copies
    st.defer_sync = False
    st.sync()
    if backend == "gpu":
        cuda.synchronize()
    secs = time.perf_counter() - t
    a = sim.agents
    order = np.argsort(a.aid)
    measured = {"copies": steps_copies, "wall": secs}
    if backend == "gpu":
        measured["ms"] = st.ms_per_step(secs, steps)
    return sim.agents.n * steps / secs, (a.cell[order], a.state[order], a.timer[order]), measured


def seeds_at_once(seeds, days, scale):
    """``seeds`` runs of the default scenario as one GPU ensemble: runs a minute."""
    from seoulfall.sweep import ensemble, gpu_runs_at_once

    ensemble("seoul-falls", seeds=[10_000], scale=scale, days=0.01, backend="gpu")  # compile
    t = time.perf_counter()
    ens = ensemble("seoul-falls", seeds=seeds, scale=scale, days=days, backend="gpu")
    secs = time.perf_counter() - t
    return {"seeds": seeds, "days": days, "scale": scale, "at_once": gpu_runs_at_once(),
            "seconds": secs, "runs_per_minute": 60 * seeds / secs,
            "falls": ens.summary["combinations"][0]["p_fall"],
            "minutes_for_1000": 1000 * secs / seeds / 60}  # fmt: skip


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=240)
    ap.add_argument("--seeds", type=int, default=0, help="also a GPU ensemble of this many")
    ap.add_argument("--days", type=float, default=14.0, help="days of each ensemble run")
    ap.add_argument("--seeds-scale", type=float, default=0.01, help="scale of each such run")
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU run (and the check)")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    if not cuda.is_available():
        raise SystemExit("bench_gpu: no CUDA GPU (numba.cuda.is_available() is False)")
    gpu, end_gpu, untimed = rate("gpu", args.scale, args.steps)
    _, end_timed, timed = rate("gpu", args.scale, args.steps, timed=True)
    cpu, end_cpu = float("nan"), end_gpu
    if not args.no_cpu:
        cpu, end_cpu, _ = rate("cpu", args.scale, args.steps)
    same = all(np.array_equal(x, y) for x, y in zip(end_cpu, end_gpu)) and all(
        np.array_equal(x, y) for x, y in zip(end_timed, end_gpu)
    )
    ms = timed["ms"]
    many = seeds_at_once(args.seeds, args.days, args.seeds_scale) if args.seeds else None
    bw = device_bandwidth(1 << 20 if config.ENABLE_CUDASIM else 1 << 30)
    floor = bw / FLOOR_BYTES_PER_AGENT_STEP
    name = "numba CUDA simulator"
    if not config.ENABLE_CUDASIM:
        dev = cuda.get_current_device()
        name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    result = {
        "device": name,
        "scale": args.scale,
        "steps": args.steps,
        "rate_cpu": cpu,
        "rate_gpu": gpu,
        "gpu_vs_cpu": gpu / cpu,
        "device_copy_bandwidth": bw,
        "gpu_memory_floor": floor,
        "gpu_fraction_of_floor": gpu / floor,
        "same_state": same,
        "copies_per_step": untimed["copies"] / args.steps,
        "ms_per_step": 1e3 * untimed["wall"] / args.steps,
        "ms_per_step_timed": ms,
        "ensemble": many,
    }
    print(f"device: {name}; scale {args.scale}, {args.steps} steps from the start")
    print("| measure | value |")
    print("|---|---:|")
    print(f"| CPU agent-steps/s | {cpu / 1e6:,.1f} M |")
    print(f"| GPU agent-steps/s | {gpu / 1e6:,.1f} M ({gpu / cpu:,.1f} x the CPU) |")
    print(f"| GPU copy bandwidth | {bw / 1e9:,.0f} GB/s |")
    print(f"| GPU memory floor (30 B/agent-step) | {floor / 1e9:,.1f} G agent-steps/s |")
    print(f"| GPU fraction of floor | {gpu / floor:.4f} |")
    print(f"| same end state on both (and the timed run) | {same} |")
    print(f"| host-device copies a step | {untimed['copies'] / args.steps:.2f} |")
    print(f"| ms a step | {result['ms_per_step']:.3f} |")
    for k, v in ms.items():
        print(f"| ms a step, {k} (timed run) | {v:.3f} |")
    if many:
        print(f"| {many['seeds']} seeds x {many['days']} days at {many['scale']}, "
              f"{many['at_once']} at once "
              f"| {many['seconds']:.1f} s, {many['runs_per_minute']:.1f} runs/min, 1,000 in "
              f"{many['minutes_for_1000']:.1f} min |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_gpu.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
