"""seoulfall side by side with Mesa 3: the same model, the same parameters, the same start.

Usage: python benchmarks/bench_mesa.py [--runs 8] [--steps 240] [--big 1000000] [--out DIR]

Needs Mesa (``pip install -e ".[bench]"``); it is a benchmark dependency, not a runtime one.

The model is the part of seoulfall's engine that any agent-based framework expresses
directly: a square lattice of 100 m cells, four people per cell, frequency-dependent bites
and kills within the cell, bitten people turning at once, humans drifting and zombies
wandering one hop at a time, nobody sensing beyond its own cell (seoulfall's ``lattice``
world with the keys in ``OVERRIDES``). Rules, as both implement them, per step of 1 min:

- counts (humans H, zombies Z, living N) per cell are taken at the start of the step and
  every agent decides on them (synchronous update);
- a human in a cell with zombies is bitten with probability ``1 - exp(-beta Z / N dt)`` and
  turns at once (it stays in its cell, which holds humans); a human not bitten stands still
  if zombies share its cell (its flee speed is 0), else with probability ``p_drift`` hops
  to one of the 4 neighbours picked at random (no hop if that is off the lattice);
- a zombie in a cell with humans is destroyed with probability ``1 - exp(-kappa H / N dt)``
  and otherwise stays (it feeds); a zombie in a cell with no human wanders one hop with
  probability ``p_wander`` in the same way.

The Mesa version is written as a Mesa user would write it (``mesa.Model``,
``OrthogonalVonNeumannGrid``, ``CellAgent`` with a ``step`` method, ``AgentSet.do``) and
starts from seoulfall's own placement of the agents (``create_agents``), so both start
from the same state. Their random numbers differ, so the curves are compared statistically:
``--runs`` seeds each, the mean of humans and zombies at 6 times, and the difference in
units of its standard error (Welch). And exactly: the same Mesa model, fed the random
numbers seoulfall's kernel draws for each agent (``replay_model_class``), must give
seoulfall's run agent for agent; the script reports for how many steps it does. Speed is
agent-steps per second over the same steps (agents counted at the start, the same count for
both), seoulfall's compile excluded; then
seoulfall alone at ``--big`` agents (same density, a larger lattice) against Mesa's rate.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
from numba import njit

from seoulfall import Scenario
from seoulfall.engine import kernels as K
from seoulfall.engine import rng
from seoulfall.simulation import Simulation

PER_CELL = 4
P_DRIFT = 0.5  # hops per step of a drifting human
P_WANDER = 0.5  # of a wandering zombie
CELL_M = 100.0
DT_MIN = 1.0
MPS = CELL_M / (60.0 * DT_MIN)  # m/s of one hop per step
OVERRIDES = {
    "time.dt_min": DT_MIN,
    "world.cell_m": CELL_M,
    "zombie.bite_rate": 0.6,
    "human.kill_rate": 0.25,
    "human.drift_mps": P_DRIFT * MPS,
    "human.flee_mps": 0.0,
    "human.sense_m": 0.0,
    "zombie.wander_mps": P_WANDER * MPS,
    "zombie.speed_mps": 0.0,
    "zombie.sense_m": 0.0,
    "zombie.night_factor": 1.0,
    "interaction.mixing": "frequency",
    "interaction.own_weight": 1.0,
    "interaction.neighbour_weight": 0.0,
    "infection.turn_median_min": 0.0,
    "infection.hybrid_probability": 0.0,
    "zombie.evolve_rate_per_day": 0.0,
    "outbreak.zombies": 40,
}


def scenario(agents: int, steps: int) -> Scenario:
    size = int(round(math.sqrt(agents / PER_CELL)))
    return Scenario.load(
        "lattice",
        {
            **OVERRIDES,
            "world.size": size,
            "population.agents": size * size * PER_CELL,
            "time.days": steps * DT_MIN / 1440.0,
        },
    )


# --- Mesa -------------------------------------------------------------------------------


def mesa_model_class():
    import mesa
    from mesa.discrete_space import CellAgent, OrthogonalVonNeumannGrid

    dirs = ((-1, 0), (1, 0), (0, -1), (0, 1))  # seoulfall's order (``neighbour_table``)

    class Person(CellAgent):
        def __init__(self, model, cell, zombie):
            super().__init__(model)
            self.cell = cell
            self.zombie = zombie

        def hop(self):
            nb = self.cell.connections.get(dirs[self.random.randrange(4)])
            if nb is not None:
                self.cell = nb

        def step(self):
            m = self.model
            h, z = m.counts[self.cell.coordinate]
            n = h + z
            if not self.zombie:
                if z > 0:
                    if self.random.random() < 1.0 - math.exp(-m.beta * z / n * m.dt):
                        self.zombie = True
                    return  # with zombies in the cell it does not drift (flee speed 0)
                if self.random.random() < m.p_drift:
                    self.hop()
            else:
                if h > 0:
                    if self.random.random() < 1.0 - math.exp(-m.kappa * h / n * m.dt):
                        m.destroyed.append(self)
                    return  # it feeds where the humans are
                if self.random.random() < m.p_wander:
                    self.hop()

    class Outbreak(mesa.Model):
        person_class = Person

        def __init__(self, size, cells, zombie, beta, kappa, seed):
            super().__init__(rng=seed)
            self.beta, self.kappa, self.dt = beta, kappa, DT_MIN
            self.p_drift, self.p_wander = P_DRIFT, P_WANDER
            self.grid = OrthogonalVonNeumannGrid((size, size), torus=False, random=self.random)
            for c, zb in zip(cells, zombie):
                self.person_class(self, self.grid[divmod(int(c), size)], bool(zb))
            self.counts = {}
            self.destroyed = []

        def step(self):
            counts = {}  # (humans, zombies) per cell at the start of the step
            for a in self.agents:
                h, z = counts.get(a.cell.coordinate, (0, 0))
                counts[a.cell.coordinate] = (h, z + 1) if a.zombie else (h + 1, z)
            self.counts = counts
            self.destroyed = []
            self.agents.do("step")
            for a in self.destroyed:
                a.remove()

        def totals(self):
            z = sum(1 for a in self.agents if a.zombie)
            return len(self.agents) - z, z

    return Outbreak


@njit(cache=True)
def _bits(seed, stream, step, aids):
    """seoulfall's 64 random bits for each agent id at one step of one stream."""
    key = rng.step_key(seed, stream, step)
    out = np.empty(aids.size, np.uint64)
    for i in range(aids.size):
        out[i] = rng.agent_bits(key, aids[i])
    return out


class _SeoulfallDraws:
    """Stands in for one agent's ``random.Random``: seoulfall's draws for that agent.

    ``Person.step`` draws ``random()`` for a bite, a kill or whether to hop, and
    ``randrange(4)`` for the direction of a hop; which one a ``random()`` call is follows
    from the agent and the counts of its cell, as in ``Person.step``. The answers are the
    numbers seoulfall's kernel draws for the same agent id, step and purpose: the ``BITE``,
    ``KILL`` and ``MOVE`` uniforms, and the low 2 bits of the ``MOVE`` word for the direction
    (both models list the neighbours up, down, left, right).
    """

    def __init__(self, person):
        self.person = person

    def random(self):
        p = self.person
        m = p.model
        h, z = m.counts[p.cell.coordinate]
        if not p.zombie:
            purpose = "bite" if z > 0 else "move"
        else:
            purpose = "kill" if h > 0 else "move"
        return m.draw[purpose][p.aid]

    def randrange(self, n):
        assert n == 4, "only the direction of a hop is drawn this way"
        return self.person.model.draw["direction"][self.person.aid]


def replay_model_class(Outbreak):
    """The Mesa model, unchanged, with seoulfall's random numbers in place of Mesa's own.

    Each agent's ``self.random`` answers with seoulfall's draws (:class:`_SeoulfallDraws`);
    ``Person.step`` and ``Person.hop``, the code timed above, run as they are. If both
    implement the same model, this run is seoulfall's, agent for agent.
    """

    class ReplayPerson(Outbreak.person_class):
        @property
        def random(self):
            return self.draws

    class Replay(Outbreak):
        person_class = ReplayPerson

        def __init__(self, size, cells, zombie, beta, kappa, seed):
            super().__init__(size, cells, zombie, beta, kappa, seed)
            for aid, person in enumerate(self.agents):  # created in agent-id order
                person.aid = aid
                person.draws = _SeoulfallDraws(person)
            self.seed_, self.tick = seed, 0

        def step(self):
            ids = np.array([p.aid for p in self.agents], np.int32)
            t = self.tick
            draw = {
                name: rng.uniform_array(self.seed_, stream, t, ids)
                for name, stream in (("bite", rng.BITE), ("kill", rng.KILL), ("move", rng.MOVE))
            }
            draw["direction"] = _bits(self.seed_, rng.MOVE, t, ids) & np.uint64(3)
            self.draw = {k: dict(zip(ids.tolist(), v.tolist())) for k, v in draw.items()}
            super().step()
            self.tick += 1

    return Replay


def replay_check(Outbreak, sc, seed: int, steps: int) -> int:
    """Steps for which Mesa on seoulfall's random numbers equals seoulfall, agent for agent."""
    sim = Simulation(sc, seed=seed, threads=1)
    a = sim.agents
    assert np.array_equal(a.aid, np.arange(a.n)), "agents are created in id order"
    m = replay_model_class(Outbreak)(
        sc.world.size, a.cell, (a.state & K.STATE_MASK) == K.ZOMBIE, sc.zombie.bite_rate,
        sc.human.kill_rate, seed,
    )  # fmt: skip
    size = sc.world.size
    for step in range(steps):
        m.step()
        sim.advance(step, 1)
        order = np.argsort(a.aid)
        st = a.state[order] & K.STATE_MASK
        cell = a.cell[order]
        mine = np.full(a.n, -1, np.int64)  # cell * 2 + zombie, -1: destroyed
        for p in m.agents:
            r, c = p.cell.coordinate
            mine[p.aid] = (r * size + c) * 2 + int(p.zombie)
        theirs = np.where(st < K.DEAD, cell.astype(np.int64) * 2 + (st == K.ZOMBIE), -1)
        if not np.array_equal(mine, theirs):
            return step
    return steps


# --- the runs ---------------------------------------------------------------------------


def seoulfall_curve(sc, seed, steps, every):
    sim = Simulation(sc, seed=seed, threads=1)
    sim.stepper.warm_up()
    out = []
    t = 0.0
    for s0 in range(0, steps, every):
        t0 = time.perf_counter()
        sim.advance(s0, every)
        t += time.perf_counter() - t0
        tot = sim.totals
        out.append((int(tot[K.HUMAN] + tot[K.INFECTED]), int(tot[K.ZOMBIE])))
    return np.array(out), t


def mesa_curve(Outbreak, sc, seed, steps, every):
    sim = Simulation(sc, seed=seed, threads=1)  # seoulfall's placement: the same start
    a = sim.agents
    zombie = (a.state & K.STATE_MASK) == K.ZOMBIE
    m = Outbreak(sc.world.size, a.cell, zombie, sc.zombie.bite_rate, sc.human.kill_rate, seed)
    out = []
    t = 0.0
    for s in range(steps):
        t0 = time.perf_counter()
        m.step()
        t += time.perf_counter() - t0
        if (s + 1) % every == 0:
            out.append(m.totals())
    return np.array(out), t


def welch(a, b):
    """Difference of the means of two samples in units of its standard error."""
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return (a.mean() - b.mean()) / se if se > 0 else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=240)
    ap.add_argument("--big", type=int, default=1_000_000)
    ap.add_argument("--big-steps", type=int, default=120)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    import mesa

    Outbreak = mesa_model_class()
    sc = scenario(args.agents, args.steps)
    n = sc.population.agents
    every = args.steps // 6
    curves = {"seoulfall": [], "mesa": []}
    secs = {"seoulfall": 0.0, "mesa": 0.0}
    for seed in range(args.runs):
        c, t = seoulfall_curve(sc, seed, args.steps, every)
        curves["seoulfall"].append(c)
        secs["seoulfall"] += t
        c, t = mesa_curve(Outbreak, sc, seed, args.steps, every)
        curves["mesa"].append(c)
        secs["mesa"] += t
        print(f"seed {seed}: seoulfall {curves['seoulfall'][-1][-1]}, mesa {c[-1]}", flush=True)
    # the same rules, exactly: Mesa's model fed seoulfall's random numbers
    replay = [replay_check(Outbreak, sc, seed, args.steps) for seed in range(2)]
    S = np.array(curves["seoulfall"], float)  # runs x times x (humans, zombies)
    M = np.array(curves["mesa"], float)
    rows = []
    for k in range(S.shape[1]):
        row = {"step": (k + 1) * every}
        for j, name in enumerate(("humans", "zombies")):
            row[f"{name}_seoulfall"] = float(S[:, k, j].mean())
            row[f"{name}_mesa"] = float(M[:, k, j].mean())
            row[f"{name}_z"] = float(welch(S[:, k, j], M[:, k, j]))
        rows.append(row)
    work = n * args.steps * args.runs
    rate_s = work / secs["seoulfall"]
    rate_m = work / secs["mesa"]
    big = scenario(args.big, args.big_steps)
    sim = Simulation(big, seed=0)
    sim.stepper.warm_up()
    t0 = time.perf_counter()
    sim.advance(0, args.big_steps)
    t_big = time.perf_counter() - t0
    rate_big = big.population.agents * args.big_steps / t_big
    result = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "mesa": mesa.__version__,
        "agents": n,
        "runs": args.runs,
        "steps": args.steps,
        "curves": rows,
        "max_abs_z": max(abs(r[f"{x}_z"]) for r in rows for x in ("humans", "zombies")),
        "replay_identical_steps": replay,
        "rate_seoulfall": rate_s,
        "rate_mesa": rate_m,
        "ratio_small": rate_s / rate_m,
        "big_agents": big.population.agents,
        "big_steps": args.big_steps,
        "big_threads": sim.stepper.nthreads,
        "rate_seoulfall_big": rate_big,
        "ratio_big": rate_big / rate_m,
    }
    print(f"\nsame model, {n:,} agents, {args.runs} seeds x {args.steps} steps each")
    print("| step | humans seoulfall | humans Mesa | z | zombies seoulfall | zombies Mesa | z |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['step']} | {r['humans_seoulfall']:,.0f} | {r['humans_mesa']:,.0f} | "
            f"{r['humans_z']:+.2f} | {r['zombies_seoulfall']:,.0f} | {r['zombies_mesa']:,.0f} | "
            f"{r['zombies_z']:+.2f} |"
        )
    print(
        f"\nMesa's model on seoulfall's random numbers (seeds 0, 1): identical to seoulfall, "
        f"agent for agent, for {replay[0]} and {replay[1]} of {args.steps} steps"
    )
    print("\n| measure | agent-steps/s | vs Mesa |")
    print("|---|---:|---:|")
    print(f"| Mesa {mesa.__version__}, {n:,} agents | {rate_m:,.0f} | 1 |")
    print(f"| seoulfall, {n:,} agents, 1 thread | {rate_s:,.0f} | {rate_s / rate_m:,.0f} x |")
    print(
        f"| seoulfall, {big.population.agents:,} agents, {sim.stepper.nthreads} threads | "
        f"{rate_big:,.0f} | {rate_big / rate_m:,.0f} x |"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_mesa.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
