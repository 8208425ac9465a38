"""Checkpoints: a run killed at any moment resumes to the very files of an unbroken run."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_cli import run_cli

ARGS = ["--scale", "0.002", "--days", "1", "--quiet", "--checkpoint-every", "30"]
SAME = [
    "scenario.toml",
    "timeseries.parquet",
    "districts.parquet",
    "events.jsonl",
    "cast.jsonl",
    "snapshots.npz",
    "epidemic.png",
    "fall_map.png",
    "outbreak.mp4",
    "outbreak.webp",
]
TIMING = ("wall_seconds", "stepping_seconds", "agent_steps_per_second")


def summary_without_timing(folder):
    s = json.loads((folder / "summary.json").read_text())
    for k in TIMING:
        s.pop(k)
    return s


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unbroken")
    code = subprocess.run(
        [sys.executable, "-m", "seoulfall.cli", "run", "--out", str(folder), *ARGS]
    ).returncode
    assert code == 0
    return folder


def assert_same_run(a: Path, b: Path):
    for name in SAME:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert summary_without_timing(a) == summary_without_timing(b)


def test_killed_runs_resume_to_the_same_files(unbroken, tmp_path, capsys):
    rng = random.Random(7)
    mid_run = 0
    for k in range(3):
        folder = tmp_path / f"k{k}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "seoulfall.cli", "run", "--out", str(folder), *ARGS]
        )
        time.sleep(rng.uniform(3.0, 8.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ckpts = list((folder / "checkpoints").glob("ckpt-*.json"))
        if ckpts and not (folder / "summary.json").exists():
            mid_run += 1
        # whatever was written has its full name only when complete
        for p in folder.rglob("*"):
            if p.is_file() and not p.name.startswith("."):
                assert p.stat().st_size > 0, p
        code, out, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
        assert code == 0, err
        assert_same_run(unbroken, folder)
        assert not list(folder.rglob(".*.tmp"))
    assert mid_run >= 2  # the kills did land in the middle of runs


def test_resume_of_a_finished_run_says_so(unbroken, capsys):
    before = (unbroken / "summary.json").read_bytes()
    code, out, err = run_cli(["run", "--out", str(unbroken), "--resume", *ARGS], capsys)
    assert code == 0 and "nothing to do" in out
    assert (unbroken / "summary.json").read_bytes() == before


def test_resume_without_a_checkpoint_starts_from_the_beginning(unbroken, tmp_path, capsys):
    code, _, err = run_cli(["run", "--out", str(tmp_path / "new"), "--resume", *ARGS], capsys)
    assert code == 0, err
    assert_same_run(unbroken, tmp_path / "new")


def _partial(unbroken, tmp_path, upto):
    folder = tmp_path / "partial"
    (folder / "checkpoints").mkdir(parents=True)
    for p in (unbroken / "checkpoints").glob(f"ckpt-{upto:09d}.*"):
        (folder / "checkpoints" / p.name).write_bytes(p.read_bytes())
    return folder


def test_a_corrupted_checkpoint_is_refused_and_kept(unbroken, tmp_path, capsys):
    folder = _partial(unbroken, tmp_path, 600)
    npz = folder / "checkpoints" / "ckpt-000000600.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 2 and "corrupted" in err and err.count("\n") == 1
    assert npz.read_bytes() == bytes(data)


def test_a_checkpoint_of_another_scenario_is_refused(unbroken, tmp_path, capsys):
    folder = _partial(unbroken, tmp_path, 600)
    args = ["run", "--out", str(folder), "--resume", "--seed", "3", *ARGS]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "another scenario" in err


def test_a_folder_with_checkpoints_needs_resume_or_force(unbroken, tmp_path, capsys):
    folder = _partial(unbroken, tmp_path, 600)
    code, _, err = run_cli(["run", "--out", str(folder), *ARGS], capsys)
    assert code == 2 and "--resume" in err
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 0, err
    assert_same_run(unbroken, folder)


def test_checkpoint_format_is_documented_json_and_npz(unbroken):
    import numpy as np

    head = json.loads((unbroken / "checkpoints" / "ckpt-000000030.json").read_text())
    assert head["format"] == "seoulfall-checkpoint" and head["version"] == 1
    assert head["step"] == 30 and len(head["sha256"]) == 64
    with np.load(unbroken / "checkpoints" / "ckpt-000000030.npz", allow_pickle=False) as z:
        assert {"cell", "state", "timer", "aid", "cnt", "meta"} <= set(z.files)
        assert json.loads(str(z["meta"]))["step"] == 30
    assert os.path.exists(unbroken / "checkpoints" / "ckpt-000001410.json")


def test_invariants_are_checked_and_a_broken_one_is_named(small_seoul, capsys, tmp_path):
    from seoulfall.engine import kernels as K
    from seoulfall.simulation import InvariantError, Simulation

    sim = Simulation(small_seoul.override({"time.days": 0.05}), seed=1)
    sim.run(check_every=1)  # every step of a run with every mechanism: no error
    water = int(np.flatnonzero(sim.world.water.ravel() & (sim.world.bridge.ravel() < 0))[0])
    alive = int(np.flatnonzero(sim.agents.states() == K.HUMAN)[0])
    sim.agents.cell[alive] = water
    with pytest.raises(InvariantError, match="impassable"):
        sim.check()
    sim = Simulation(small_seoul.override({"time.days": 0.05}), seed=1)
    sim.agents.state[0] = K.HUMAN
    sim.agents.timer[3] = np.nan
    with pytest.raises(InvariantError, match="timer"):
        sim.check()
    code, _, err = run_cli(
        ["run", "--out", str(tmp_path / "c"), "--check", "--scale", "0.001", "--days", "0.1"],
        capsys,
    )
    assert code == 0, err
