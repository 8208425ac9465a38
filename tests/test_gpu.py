"""The GPU backend, checked on the CPU through numba's CUDA simulator.

``NUMBA_ENABLE_CUDASIM=1`` must be set before numba is imported, so each check runs in a
child process. The simulator runs the kernels' Python one thread at a time (about 0.5 ms a
thread), so the runs are small; what they check is that the GPU pass (atomic counts, the
event list, the threat box, the host side of the step) gives the CPU's run agent for agent.
"""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys
import numpy as np
from numba import config
assert config.ENABLE_CUDASIM
from seoulfall import Scenario
from seoulfall.simulation import Simulation
name, overrides, steps = json.loads(sys.argv[1])
sc = Scenario.load(name, overrides)
out = {}
runs = []
for backend in ("cpu", "gpu"):
    sim = Simulation(sc, seed=4, backend=backend)
    start = sim.agents.cell[np.argsort(sim.agents.aid)].copy()
    rode = 0
    for step in range(steps):
        sim.playbook.fire_due(step)
        sim.advance(step, 1)
        rode += int(np.sum(sim.agents.cell >= sim.world.ncells))  # aboard a train
    a = sim.agents
    o = np.argsort(a.aid)
    st = sim.stepper  # its counts: the map's cells, then the subway's cars
    runs.append((a.cell[o], a.state[o], a.timer[o], st.cnt, st.fn, st.aboard, st.sroute))
    out[backend] = {"totals": sim.totals.tolist(), "cast": sim.stepper.cast_records,
                    "states": np.bincount(a.state & 7, minlength=8).tolist(),
                    "moved": int(np.sum(a.cell[o] != start)),
                    "left": int(np.sum(a.cell <= -2)),
                    "rode": int(rode), "first_car": st.first_zombie_car.tolist()}
out["equal"] = [bool(np.array_equal(x, y)) for x, y in zip(*runs)]
print(json.dumps(out))
"""


def in_simulator(script, *args):
    """What ``script`` prints last (JSON), run in a child process under the simulator."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, env=env, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def simulated(name, overrides, steps):
    return in_simulator(SCRIPT, json.dumps([name, overrides, steps]))


def test_gpu_pass_gives_the_cpu_run_on_hyosan():
    """Hyosan's first hour at 1/300 scale: the outbreak spreads, the same on both."""
    out = simulated("hyosan", {"population.scale": 0.003, "time.days": 1}, 60)
    assert out["equal"] == [True] * 7, out
    assert out["cpu"] == out["gpu"]
    states = out["cpu"]["states"]
    assert states[1] + states[2] + states[3] + states[5] > 5  # more than the 5 it starts with


@pytest.mark.parametrize("neighbours, edge", [(0.0, "wall"), (0.5, "open")])
def test_gpu_pass_gives_the_cpu_run_with_every_creature(neighbours, edge):
    """A small lattice with hybrids (carriers and immune), evolution, shelter, strength,
    wounds and fight noise, own-cell and neighbour contacts, its edge a wall or open: the
    same on both."""
    overrides = {
        "world.edge": edge,
        "world.size": 12,
        "population.agents": 500,
        "outbreak.zombies": 40,
        "time.dt_min": 1.0,
        "zombie.speed_mps": 1.0,
        "zombie.wander_mps": 0.8,
        "zombie.sense_m": 300.0,
        "zombie.evolve_rate_per_day": 200.0,
        "zombie.evolve_per_bite_per_day": 20.0,
        "human.flee_mps": 1.5,
        "human.drift_mps": 0.5,
        "human.sense_m": 200.0,
        "human.strength_sigma": 0.5,
        "human.shelter_probability": 0.3,
        "infection.turn_median_min": 2.0,
        "infection.hybrid_probability": 0.3,
        "infection.wound_probability": 0.2,
        "hybrid.hunger_hours": 0.0,
        "hybrid.lapse_rate": 5.0,
        "hybrid.self_control": 0.0,
        "noise.fight_loudness": 1.0,
        "interaction.mixing": "frequency",
        "interaction.own_weight": 1.0,
        "interaction.neighbour_weight": neighbours,
        # named characters over the lattice: their changes and causes come back from the device
        "cast": [{"name": f"c{i}", "cell": [i % 12, i // 12]} for i in range(120)],
    }
    out = simulated("lattice", overrides, 30)
    assert out["equal"] == [True] * 7, out
    assert out["cpu"] == out["gpu"]
    states = out["cpu"]["states"]
    assert states[3] > 0 and states[4] > 0 and states[5] > 0  # evolved, hybrids, dead
    causes = {r[4] for r in out["cpu"]["cast"]}  # (id, step, state, cell, cause)
    assert len(out["cpu"]["cast"]) > 10 and len(causes) >= 3, out["cpu"]["cast"]
    assert (out["cpu"]["left"] > 10) == (edge == "open")  # fled and escaped over the edge


def test_gpu_pass_gives_the_cpu_run_with_the_daily_journeys_and_the_subway():
    """Seoul moving on its Monday morning, riders and zombies on its trains, the alert at
    07:12 stopping them and sending everyone home."""
    alert = {"type": "public_alert", "at_min": 12}
    overrides = {"population.scale": 0.0001, "time.days": 1, "events": [alert], "cast": [],
                 "subway.zombie_board": 1.0}  # fmt: skip
    out = simulated("seoul-falls", overrides, 20)
    assert out["equal"] == [True] * 7, out
    assert out["cpu"] == out["gpu"]
    assert out["cpu"]["moved"] > 40  # on their way, then back
    assert out["cpu"]["rode"] > 20  # riders aboard before the alert


COPIES = r"""
import json
import numpy as np
from numba import config
assert config.ENABLE_CUDASIM
from seoulfall import Scenario
from seoulfall.engine import kernels as K
from seoulfall.simulation import Simulation
out = {"ordinary": {}, "watched": {}}
# a lattice stepped by hand, fights making noise, named characters on it: two calls of one
# step, one of nineteen
sc = Scenario.load("lattice", {"world.size": 12, "population.agents": 400,
                               "outbreak.zombies": 30, "time.days": 1,
                               "noise.fight_loudness": 1.0, "human.flee_mps": 1.5,
                               "cast": [{"name": f"c{i}", "cell": [i % 12, i // 12]}
                                        for i in range(40)]})
for backend in ("cpu", "gpu"):
    sim = Simulation(sc, seed=3, backend=backend)
    st = sim.stepper
    copies = []
    for step, k in ((0, 1), (1, 1), (2, 19)):
        before = getattr(st, "transfers", 0)
        sim.advance(step, k)
        copies.append(getattr(st, "transfers", 0) - before)
    o = np.argsort(sim.agents.aid)
    out["ordinary"][backend] = {
        "copies": copies, "cell": sim.agents.cell[o].tolist(),
        "state": sim.agents.state[o].tolist(), "totals": sim.totals.tolist(),
        "cnt": st.cnt.tolist(), "fn": st.fn.tolist(), "cast": st.cast_records,
        "loud": bool(st.noise[1] > 0.0 and int(st.IP[K.I_NCAST]) == 40)}
# Seoul's morning through run(), a trigger watching, an event firing mid-run
events = [{"type": "public_alert", "trigger": "first_zombie_north"},
          {"type": "set_rate", "rate": "zombie.bite_rate", "factor": 2.0, "at_min": 17}]
sc = Scenario.load("seoul-falls", {"population.scale": 0.0001, "time.days": 0.02,
                                   "events": events, "cast": [], "output.every_min": 10,
                                   "output.snapshot_every_min": 20})
for backend in ("cpu", "gpu"):
    sim = Simulation(sc, seed=5, backend=backend)
    res = sim.run()
    o = np.argsort(sim.agents.aid)
    out["watched"][backend] = {
        "rows": res.timeseries.to_numpy().tolist(), "events": res.events,
        "cell": sim.agents.cell[o].tolist(), "state": sim.agents.state[o].tolist(),
        "frames": res.snapshots.counts.tolist(), "steps": sim.nsteps,
        "copies": getattr(sim.stepper, "transfers", 0)}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def copies():
    """Both runs of ``COPIES`` on both backends, in one child process (the simulator)."""
    return in_simulator(COPIES)


def test_an_ordinary_gpu_step_makes_no_copy(copies):
    """Counted under the simulator: a call of nineteen steps makes as many copies between
    host and device as a call of one (the agents back; the device keeps its copies, which
    went out at the first call), fields, fights' noise and the named characters' log
    included (an ordinary step made 14 copies, then 6)."""
    cpu, gpu = copies["ordinary"]["cpu"], copies["ordinary"]["gpu"]
    assert gpu["loud"]  # fights make noise, 40 named characters
    first, one, nineteen = gpu["copies"]  # the first call also fills the device's buffers
    # the same, and the log itself once it holds a change
    assert one <= nineteen <= one + 1 and one <= first, gpu["copies"]
    for key in ("cell", "state", "totals", "cnt", "fn", "cast"):
        assert gpu[key] == cpu[key], key
    assert max(cpu["fn"]) > 0.0 and len(cpu["cast"]) > 3


def test_a_gpu_run_keeps_its_agents_on_the_device_while_a_trigger_watches(copies):
    """A trigger makes a run step one step a call; the agents stay on the device between
    calls (they went out and came back at every step: 36 copies a step in this run, then
    11; now 4.4: one number a step for the trigger, the agents back at the three recorded
    rows and the event, and out again after the event changed them), and the run is the
    CPU's: its rows, snapshots, events (one fired mid-run) and agents."""
    cpu, gpu = copies["watched"]["cpu"], copies["watched"]["gpu"]
    for key in ("rows", "events", "cell", "state", "frames"):
        assert gpu[key] == cpu[key], key
    assert [e["type"] for e in cpu["events"]][:1] == ["set_rate"]
    assert gpu["copies"] / gpu["steps"] < 5, gpu["copies"]


def test_backend_gpu_without_a_gpu_is_one_line_and_exit_2(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", NUMBA_ENABLE_CUDASIM="0")
    proc = subprocess.run(
        [sys.executable, "-c", "from seoulfall.cli import main; main()", "run",
         "--backend", "gpu", "--days", "0.01", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no CUDA GPU" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_backend_gpu_whose_cuda_import_fails_is_one_line_and_exit_2(tmp_path):
    # numba-cuda absent or broken (its import raised with NumPy 2.5 on a GPU machine)
    code = "import sys; sys.modules['numba.cuda'] = None; from seoulfall.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", "--backend", "gpu", "--days", "0.01",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert line.count("\n") == 0 and "numba's CUDA support cannot load (ModuleNotFoundError" in line
    assert "seoulfall[gpu]" in line and not (tmp_path / "run").exists()


BOTH_WAYS = r"""
import json, shutil, sys, tempfile
from pathlib import Path
import numpy as np
from numba import config
assert config.ENABLE_CUDASIM
from seoulfall import Scenario
from seoulfall.simulation import Simulation
from seoulfall.sweep import ensemble
out = {}
# many seeds on the GPU: each run's record is the CPU's for its seed
ens = {b: ensemble("lattice", seeds=3, days=0.02, backend=b, overrides={"world.size": 10,
       "population.agents": 300, "outbreak.zombies": 20, "noise.fight_loudness": 1.0,
       "time.dt_min": 1.0, "human.flee_mps": 1.5, "zombie.speed_mps": 1.0})
       for b in ("cpu", "gpu")}
out["records"] = {b: sorted(({k: v for k, v in r.items() if k != "seconds"}
                             for r in e.records), key=lambda r: r["seed"])
                  for b, e in ens.items()}
# a checkpoint written on one backend resumes on the other to the same outputs
sc = Scenario.load("lattice", {"world.size": 12, "population.agents": 400, "time.days": 0.02,
                               "outbreak.zombies": 30, "noise.fight_loudness": 1.0,
                               "human.flee_mps": 1.5, "output.every_min": 5,
                               "time.dt_min": 1.0, "zombie.speed_mps": 1.0,
                               "cast": [{"name": f"c{i}", "cell": [i % 12, i // 12]}
                                        for i in range(30)]})
def outputs(sim, res):
    o = np.argsort(sim.agents.aid)
    return {"rows": res.timeseries.to_numpy().tolist(), "cast": res.cast,
            "frames": res.snapshots.counts.tolist(), "cell": sim.agents.cell[o].tolist(),
            "state": sim.agents.state[o].tolist(), "fn": sim.stepper.fn.tolist()}
tmp = Path(tempfile.mkdtemp())
for first, then in (("gpu", "cpu"), ("cpu", "gpu")):
    sim = Simulation(sc, seed=7, backend=first)
    whole = outputs(sim, sim.run(checkpoint_every=10, checkpoint_dir=tmp / first))
    shutil.rmtree(tmp / first / "spool", ignore_errors=True)
    sim = Simulation(sc, seed=7, backend=then)
    res = sim.run(checkpoint_every=10, checkpoint_dir=tmp / first, resume=True)
    out[first + "-" + then] = {"resumed_from": sim.resumed_from,
                               "equal": outputs(sim, res) == whole,
                               "cast": len(whole["cast"]), "loud": max(whole["fn"]) > 0}
# sorted by cell on the device every 4 steps: the CPU's run (which sorts too)
from seoulfall.engine import kernels as K
runs = {}
for b in ("cpu", "gpu"):
    sim = Simulation(sc.override({"engine.sort_every": 4}), seed=3, backend=b)
    sim.advance(0, 20)  # the last step ends with a sort
    a, st = sim.agents, sim.stepper
    o = np.argsort(a.aid)
    runs[b] = [a.cell[o].tolist(), a.state[o].tolist(), a.timer[o].tolist(), st.cnt.tolist(),
               st.cast_records]
    keys = [K._sort_key(c, s, st.cnt.shape[0]) for c, s in zip(a.cell, a.state)]
    out["sorted_" + b] = {"in_order": bool(np.all(np.diff(keys) >= 0)),
                          "moved": bool((a.aid != np.arange(a.n)).any())}
out["sorted_equal"] = runs["cpu"] == runs["gpu"]
print(json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def both_ways():
    """``BOTH_WAYS`` in one child process (the simulator)."""
    return in_simulator(BOTH_WAYS)


def test_an_ensemble_on_the_gpu_gives_each_seed_the_cpus_record(both_ways):
    cpu, gpu = both_ways["records"]["cpu"], both_ways["records"]["gpu"]
    assert [r["seed"] for r in gpu] == [0, 1, 2]
    assert gpu == cpu
    assert len({json.dumps(r["curves"]) for r in cpu}) == 3  # three different runs


@pytest.mark.parametrize("way", ["gpu-cpu", "cpu-gpu"])
def test_a_checkpoint_resumes_on_the_other_backend_to_the_same_outputs(both_ways, way):
    """Written on one backend mid-run, resumed on the other: the same rows, snapshots,
    named characters' log, agents and noise as the uninterrupted run."""
    run = both_ways[way]
    assert run["resumed_from"] > 0 and run["equal"], run
    assert run["cast"] > 0 and run["loud"]


def test_agents_sorted_by_cell_on_the_device_give_the_cpus_run(both_ways):
    """``engine.sort_every = 4``: the device sorts the agents by cell (count, scan,
    scatter); they end in cell order, not in the order they started, and the run is the
    CPU's, agent for agent."""
    assert both_ways["sorted_gpu"] == {"in_order": True, "moved": True}
    assert both_ways["sorted_equal"]
