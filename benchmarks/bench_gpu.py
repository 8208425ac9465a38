"""GPU backend against the CPU, in one run: agent-steps per second and the memory floor.

Usage: python benchmarks/bench_gpu.py [--scale 1.0] [--steps 240] [--out DIR]

Needs an NVIDIA GPU with a CUDA driver (``numba.cuda.is_available()``); under
``NUMBA_ENABLE_CUDASIM=1`` it runs (very slowly) for a smoke check at a tiny ``--scale``.
Steps the default scenario from the start on the CPU and on the GPU for ``--steps`` steps
(setup and compilation excluded), checks that both end in the same state, agent for agent,
and prints a table: agent-steps/s of each, their ratio, and the GPU's rate as a fraction
of its memory floor (30 bytes per agent-step over the card's measured copy bandwidth).
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


def rate(backend, scale, steps):
    sim = Simulation(resolve("seoul-falls", scale=scale), seed=0, backend=backend)
    sim.stepper.warm_up()
    sim.advance(0, 2)  # compiles the CUDA kernels on the GPU
    t = time.perf_counter()
    sim.advance(2, steps)
    secs = time.perf_counter() - t
    a = sim.agents
    order = np.argsort(a.aid)
    return sim.agents.n * steps / secs, (a.cell[order], a.state[order], a.timer[order])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=240)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    if not cuda.is_available():
        raise SystemExit("bench_gpu: no CUDA GPU (numba.cuda.is_available() is False)")
    cpu, end_cpu = rate("cpu", args.scale, args.steps)
    gpu, end_gpu = rate("gpu", args.scale, args.steps)
    same = all(np.array_equal(x, y) for x, y in zip(end_cpu, end_gpu))
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
    }
    print(f"device: {name}; scale {args.scale}, {args.steps} steps from the start")
    print("| measure | value |")
    print("|---|---:|")
    print(f"| CPU agent-steps/s | {cpu / 1e6:,.1f} M |")
    print(f"| GPU agent-steps/s | {gpu / 1e6:,.1f} M ({gpu / cpu:,.1f} x the CPU) |")
    print(f"| GPU copy bandwidth | {bw / 1e9:,.0f} GB/s |")
    print(f"| GPU memory floor (30 B/agent-step) | {floor / 1e9:,.1f} G agent-steps/s |")
    print(f"| GPU fraction of floor | {gpu / floor:.4f} |")
    print(f"| same end state on both | {same} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_gpu.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
