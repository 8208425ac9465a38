"""Engine benchmark: full Seoul vs a plain per-agent Python loop vs the memory floor.

Usage: python benchmarks/bench_engine.py [--steps 240] [--threads N] [--out benchmarks/results]

Prints a table and writes bench_engine.json. Every figure comes from this one run:
- memory-copy bandwidth (bytes read + written per second; NumPy copy and a 2-thread numba copy,
  the larger counts),
- the compiled engine at full Seoul (scale 1.0, about 9.6 M agents), the first ``--steps``
  steps of the default scenario and the same from day 2 (setup and compilation excluded;
  median and best over blocks of 16 steps, since this machine's timings are noisy),
- the compiled engine and the plain per-agent Python step (``seoulfall.engine.plain``) at
  about 100 k agents, over the same steps,
- the ratio of the engine's rate to the memory floor of 30 bytes per agent-step.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

from seoulfall import Scenario
from seoulfall.engine import plain
from seoulfall.simulation import Simulation

FLOOR_BYTES_PER_AGENT_STEP = 30


@njit(parallel=True)
def _par_copy(src, dst):
    for i in prange(src.size):
        dst[i] = src[i]


def bandwidth(nbytes=1 << 30, repeat=5):
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    _par_copy(src, dst)
    best = {}
    for name, fn in (
        ("numpy", lambda: np.copyto(dst, src)),
        ("numba", lambda: _par_copy(src, dst)),
    ):
        t = min(_timed(fn) for _ in range(repeat))
        best[name] = 2 * src.nbytes / t
    return best


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def engine_rate(scale, steps, step0=0, block=16):
    """Median and best rate over blocks of ``block`` steps (this machine is noisy)."""
    sc = Scenario.load("seoul-falls", {"population.scale": scale})
    sim = Simulation(sc, seed=1)
    sim.advance(0, 0)
    if step0:
        sim.advance(0, step0)
    rates = []
    for b in range(max(1, steps // block)):
        t = time.perf_counter()
        sim.advance(step0 + b * block, block)
        rates.append(sim.agents.n * block / (time.perf_counter() - t))
    return sim.agents.n, float(np.median(rates)), float(max(rates))


def plain_rate(scale, steps):
    sc = Scenario.load("seoul-falls", {"population.scale": scale})
    sim = Simulation(sc, seed=1)
    a = sim.agents
    ny, nx = sim.world.shape
    t = time.perf_counter()
    cell, state, timer, cnt = a.cell, a.state, a.timer, sim.cnt
    for s in range(steps):
        cell, state, timer, cnt = plain.step(
            s, sim.seed, cell, state, timer, a.aid, sim.nbr, cnt, sim.P, sim.IP, ny, nx,
            CT=sim.stepper.CT,
        )  # fmt: skip
    dt = time.perf_counter() - t
    return a.n, a.n * steps / dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=240)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    bw = bandwidth()
    bw_best = max(bw.values())
    floor = bw_best / FLOOR_BYTES_PER_AGENT_STEP
    n_full, full, full_best = engine_rate(1.0, args.steps)
    n_mid, mid, mid_best = engine_rate(1.0, args.steps, step0=1440)
    n_small, small, _ = engine_rate(0.0104, args.steps)
    n_plain, slow = plain_rate(0.0104, 3)
    rows = [
        ("memory copy bandwidth (GB/s)", bw_best / 1e9, ""),
        ("memory floor at 30 B/agent-step (M agent-steps/s)", floor / 1e6, ""),
        (
            f"engine, full Seoul ({n_full:,} agents), first {args.steps} steps, median",
            full / 1e6,
            f"{full / floor:.3f} of floor",
        ),
        ("  best block of 16 steps", full_best / 1e6, f"{full_best / floor:.3f} of floor"),
        (
            f"engine, full Seoul, steps 1440..{1440 + args.steps} (day 2), median",
            mid / 1e6,
            f"{mid / floor:.3f} of floor",
        ),
        ("  best block of 16 steps", mid_best / 1e6, f"{mid_best / floor:.3f} of floor"),
        (f"engine, {n_small:,} agents", small / 1e6, f"{small / slow:,.0f}x plain"),
        (f"plain per-agent Python, {n_plain:,} agents", slow / 1e6, "1x"),
    ]
    print(
        f"seoulfall engine benchmark: {platform.processor() or platform.machine()}, "
        f"{numba.get_num_threads()} threads, numba {numba.__version__}"
    )
    print(f"{'measure':<62} {'value':>12}  ratio")
    for name, v, ratio in rows:
        print(f"{name:<62} {v:>12.3f}  {ratio}")
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "threads": numba.get_num_threads(),
        "bandwidth_bytes_per_s": bw,
        "floor_agent_steps_per_s": floor,
        "full_seoul": {
            "agents": n_full,
            "steps": args.steps,
            "agent_steps_per_s": full,
            "best_agent_steps_per_s": full_best,
            "fraction_of_floor": full / floor,
        },
        "full_seoul_day2": {
            "agents": n_mid,
            "agent_steps_per_s": mid,
            "best_agent_steps_per_s": mid_best,
            "fraction_of_floor": mid / floor,
        },
        "engine_100k": {"agents": n_small, "agent_steps_per_s": small},
        "plain_100k": {"agents": n_plain, "agent_steps_per_s": slow},
        "engine_over_plain": small / slow,
    }
    (args.out / "bench_engine.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out / 'bench_engine.json'}")


if __name__ == "__main__":
    main()
