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

from seoulfall import Scenario

ARGS = ["--scale", "0.002", "--days", "0.5", "--quiet", "--checkpoint-every", "30"]
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
        [
            sys.executable,
            "-m",
            "seoulfall.cli",
            "run",
            "--out",
            str(folder),
            *ARGS,
            "--keep-checkpoints",
            "0",
        ]  # fmt: skip
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
        # two kills while it steps, one while it writes its outputs
        waits_for = "summary.json" if k == 2 else "checkpoints/ckpt-000000030.json"
        deadline = time.monotonic() + 120
        while not (folder / waits_for).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ckpts = list((folder / "checkpoints").glob("ckpt-*.json"))
        if ckpts and not (folder / "summary.json").exists():
            mid_run += 1
        # whatever was written has its full name only when complete (an empty file only
        # where the whole run's is empty too: no event fires in this day)
        for p in folder.rglob("*"):
            if p.is_file() and not p.name.startswith(".") and p.stat().st_size == 0:
                assert (unbroken / p.relative_to(folder)).stat().st_size == 0, p
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
    spool = unbroken / "checkpoints" / "snapshots.u16"  # every frame: resume cuts off the later
    (folder / "checkpoints" / spool.name).write_bytes(spool.read_bytes())
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
    assert head["format"] == "seoulfall-checkpoint" and head["version"] == 4
    assert head["step"] == 30 and len(head["sha256"]) == 64
    with np.load(unbroken / "checkpoints" / "ckpt-000000030.npz", allow_pickle=False) as z:
        assert {"cell", "state", "timer", "aid", "cnt", "meta"} <= set(z.files)
        assert json.loads(str(z["meta"]))["step"] == 30
    assert os.path.exists(unbroken / "checkpoints" / "ckpt-000000690.json")


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


# -- edited checkpoints (the checksum recomputed after the edit) ------------------------------
def _forge(folder, step, edit):
    """Apply ``edit(arrays, meta, head)`` to checkpoint ``step`` and re-sign it."""
    import hashlib
    import io

    base = folder / "checkpoints" / f"ckpt-{step:09d}"
    with np.load(base.with_suffix(".npz"), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    head = json.loads(base.with_suffix(".json").read_text())
    edit(arrays, meta, head)
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
    data = buf.getvalue()
    base.with_suffix(".npz").write_bytes(data)
    head["sha256"] = hashlib.sha256(data).hexdigest()
    base.with_suffix(".json").write_text(json.dumps(head))
    return base


def _set(name, fn):
    def edit(arrays, meta, head):
        arrays[name] = fn(arrays[name])

    return edit


def _meta(key, value):
    def edit(arrays, meta, head):
        meta[key] = value

    return edit


EDITS = {
    "cells far off the map": _set("cell", lambda a: np.full_like(a, 2_000_000_000)),
    "states of 255": _set("state", lambda a: np.full_like(a, 255)),
    "a living agent off the map": _set("cell", lambda a: np.where(np.arange(a.size) == 0, -1, a)),
    "a timer that is not finite": _set("timer", lambda a: np.full_like(a, np.inf)),
    "duplicated ids": _set("aid", lambda a: np.zeros_like(a)),
    "negative counts": _set("cnt", lambda a: a - 5),
    "counts that disagree": _set("cnt", lambda a: a + np.eye(*a.shape, dtype=a.dtype)),
    "a new link": _set("nbr", lambda a: np.where(a < 0, 0, a)),
    "other rates": _set("P", lambda a: a * 2),
    "a cell's array of the wrong dtype": _set("cell", lambda a: a.astype(np.int64)),
    "a cut array": _set("state", lambda a: a[:-1]),
    "rows that do not sum": _set("rec_counts", lambda a: a * 2),
    "a step of 10^9": _meta("step", 10**9),
    "a step of -100": _meta("step", -100),
    "n_active past the agents": _meta("n_active", 10**9),
    "a sound off the map": _meta("sources", [[10**9, 1.0, 1.0, 0, 5]]),
    "an unknown event": _meta("pending", [99]),
    "a cast record of an unknown cause": _meta("cast_records", [[0, 1, 1, 0, 99]]),
    "a cast record of six values": _meta("cast_records", [[0, 1, 1, 0, 1, 1]]),
    "a cast's cell off the map": lambda arrays, meta, head: meta["snap_cast"][0].__setitem__(
        0, 10**9
    ),
    "a frame of the cast missing": lambda arrays, meta, head: meta["snap_cast"].pop(),
    "a missing meta key": lambda arrays, meta, head: meta.pop("records"),
    "a missing array": lambda arrays, meta, head: arrays.pop("zk"),
    "an extra array": lambda arrays, meta, head: arrays.update(x=np.zeros(3)),
}


def test_a_checkpoint_whose_cast_records_have_no_cause_still_resumes(unbroken, tmp_path, capsys):
    # checkpoints written before causes were recorded keep (id, step, state, cell)
    folder = _partial(unbroken, tmp_path, 600)
    _forge(folder, 600, _meta("cast_records", [[0, 5, 1, 0]]))
    code, out, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 0, err
    rec = [json.loads(x) for x in (folder / "cast.jsonl").read_text().splitlines()]
    forged = [r for r in rec if r["name"] == "On-jo" and r["t_min"] > 0][0]
    assert forged["state"] == "infected" and forged["cause"] is None
    assert all(r["cause"] for r in rec if r["t_min"] > 0 and r is not forged)


def test_a_checkpoint_without_the_casts_cells_still_resumes(unbroken, tmp_path, capsys):
    # checkpoints written before 2026-11-27 do not know the cast's cells at their snapshots
    from seoulfall.snapshots import Snapshots

    folder = _partial(unbroken, tmp_path, 600)
    _forge(folder, 600, lambda arrays, meta, head: meta.pop("snap_cast"))
    code, out, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 0, err
    whole = Snapshots.load(unbroken / "snapshots.npz")
    got = Snapshots.load(folder / "snapshots.npz")
    known = whole.t_min > 600  # the frames taken after the checkpoint
    assert (got.cast_cells[~known] == -1).all() and (whole.cast_cells >= 0).all()
    assert np.array_equal(got.cast_cells[known], whole.cast_cells[known])
    assert np.array_equal(got.counts, whole.counts)


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_checkpoint_with_a_recomputed_checksum_is_refused_and_kept(
    edit, unbroken, tmp_path, capsys
):
    folder = _partial(unbroken, tmp_path, 600)
    base = _forge(folder, 600, EDITS[edit])
    before = {p.name: p.read_bytes() for p in (folder / "checkpoints").iterdir()}
    code, out, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 2, (edit, out, err)
    assert err.count("\n") == 1 and base.name in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (folder / "checkpoints").iterdir()} == before
    assert not (folder / "summary.json").exists()


def test_a_checkpoint_that_unpacks_past_its_bound_is_refused_before_reading(
    unbroken, tmp_path, capsys
):
    import hashlib
    import zipfile

    folder = _partial(unbroken, tmp_path, 600)
    npz = folder / "checkpoints" / "ckpt-000000600.npz"
    size = npz.stat().st_size
    with zipfile.ZipFile(npz, "a", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("bomb.npy", "w", force_zip64=True) as f:
            zeros = bytes(1 << 20)
            for _ in range(400):  # 400 MiB of zeros: about 0.4 MiB packed
                f.write(zeros)
    assert npz.stat().st_size - size < 1 << 20
    head_path = npz.with_suffix(".json")
    head = json.loads(head_path.read_text())
    head["sha256"] = hashlib.sha256(npz.read_bytes()).hexdigest()
    head_path.write_text(json.dumps(head))
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 2 and "unpacks to" in err and err.count("\n") == 1


@pytest.mark.parametrize("old", [1, 2, 5, "4", [4], True, None])
def test_an_older_version_checkpoint_is_refused_in_one_line(unbroken, tmp_path, capsys, old):
    # version 2 recorded rows without the soldiers' column; version 1 kept every snapshot;
    # the others are no version at all
    folder = _partial(unbroken, tmp_path / "v", 600)
    _forge(folder, 600, lambda arrays, meta, head: head.update(version=old))
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 2 and f"version {old!r}, this seoulfall reads 3 and 4" in err
    assert err.count("\n") == 1


def test_a_version_3_checkpoint_resumes_to_the_same_files(unbroken, tmp_path, capsys):
    """Version 3 recorded rows without the fled and escaped (the last two columns)."""
    from seoulfall.engine import kernels as K

    folder = _partial(unbroken, tmp_path, 600)
    width = K.STATE_NAMES.index("fled")

    def v3(arrays, meta, head):
        assert not arrays["rec_counts"][..., width:].any()  # nobody left by land
        arrays["rec_counts"] = arrays["rec_counts"][..., :width]
        head["version"] = 3

    _forge(folder, 600, v3)
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 0, err
    assert_same_run(unbroken, folder)
    # a version 4 checkpoint of version 3's width is refused in one line
    folder = _partial(unbroken, tmp_path / "b", 600)
    _forge(folder, 600, lambda a, m, h: a.update(rec_counts=a["rec_counts"][..., :width]))
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 2 and "rec_counts has shape" in err and err.count("\n") == 1


def test_snapshots_stream_to_disk_and_a_resume_checks_them(unbroken, tmp_path, capsys):
    folder = _partial(unbroken, tmp_path, 600)
    spool = folder / "checkpoints" / "snapshots.u16"
    data = bytearray(spool.read_bytes())
    data[100] ^= 0xFF  # a frame the checkpoint covers
    spool.write_bytes(bytes(data))
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 2 and "snapshots.u16" in err and "differ" in err
    spool.write_bytes(bytes(data[:1000]))  # too short for the checkpoint's frames
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 2 and "snapshots.u16" in err and "need" in err
    # the frames live in the spool only: a late checkpoint is no larger than an early one
    # by as much as one frame (6 states x the map's passable cells x 2 bytes)
    ck = unbroken / "checkpoints"
    frame = 6 * np.load(unbroken / "snapshots.npz")["cells"].size * 2
    grew = (ck / "ckpt-000000690.npz").stat().st_size - (ck / "ckpt-000000030.npz").stat().st_size
    assert grew < frame / 2


def test_only_the_newest_checkpoints_are_kept(tmp_path, capsys):
    folder = tmp_path / "keep"
    code, _, err = run_cli(["run", "--out", str(folder), *ARGS], capsys)
    assert code == 0, err
    kept = sorted(p.name for p in (folder / "checkpoints").glob("ckpt-*.json"))
    assert kept == ["ckpt-000000630.json", "ckpt-000000660.json", "ckpt-000000690.json"]
    assert len(list((folder / "checkpoints").glob("ckpt-*.npz"))) == 3


def test_engine_knobs_are_not_part_of_the_fingerprint(unbroken, tmp_path, capsys):
    # how the engine runs (here: sorting every step) never changes what it computes, so a
    # checkpoint resumes under other knobs to the same run
    folder = _partial(unbroken, tmp_path, 600)
    args = ["run", "--out", str(folder), "--resume", *ARGS, "--set", "engine.sort_every=1"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    for name in SAME[1:]:
        assert (unbroken / name).read_bytes() == (folder / name).read_bytes(), name
    base, knob = (Scenario.load(p / "scenario.toml") for p in (unbroken, folder))
    assert base.fingerprint() == knob.fingerprint() and base != knob
    assert base.fingerprint() != base.override({"zombie.bite_rate": 0.2}).fingerprint()


def test_a_checkpoint_from_before_the_journeys_resumes_to_the_same_files(
    unbroken, tmp_path, capsys
):
    """A checkpoint written before the journeys' parameters existed holds a shorter ``P``.

    At step 60, before the alert (minute 85 at this scale) set the later ones: they hold
    their scenario's values, which the resume gives them.
    """
    from seoulfall.engine.parameters import FLOAT_OLDER_SIZES

    folder = _partial(unbroken, tmp_path, 60)

    def older(arrays, meta, head):
        for k in ("P", "P_night"):
            arrays[k] = arrays[k][: FLOAT_OLDER_SIZES[0]]

    _forge(folder, 60, older)
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 0, err
    assert_same_run(unbroken, folder)
    # a shorter vector of any other length is refused in one line, the folder kept
    folder = _partial(unbroken, tmp_path / "b", 600)
    _forge(folder, 600, lambda a, m, h: a.update(P=a["P"][:30]))
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 2 and "P has shape" in err and err.count("\n") == 1


def test_a_moving_city_resumes_from_a_checkpoint_to_the_same_files(tmp_path, capsys):
    args = ["seoul-moves", "--scale", "0.001", "--days", "0.6", "--quiet"]
    args += ["--checkpoint-every", "60", "--set", 'events."emergency alert".at_min=400']
    whole = tmp_path / "whole"
    code, _, err = run_cli(["run", *args, "--out", str(whole), "--keep-checkpoints", "0"], capsys)
    assert code == 0, err
    events = [json.loads(x)["type"] for x in (whole / "events.jsonl").read_text().splitlines()]
    assert "public_alert" in events  # the alert fell inside the run
    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    for p in (whole / "checkpoints").glob("ckpt-000000300.*"):
        (part / "checkpoints" / p.name).write_bytes(p.read_bytes())
    spool = whole / "checkpoints" / "snapshots.u16"
    (part / "checkpoints" / spool.name).write_bytes(spool.read_bytes())
    code, _, err = run_cli(["run", *args, "--out", str(part), "--resume"], capsys)
    assert code == 0, err
    assert_same_run(whole, part)


def test_a_checkpoint_written_after_the_fights_fell_silent_resumes(unbroken, tmp_path, capsys):
    """The fading noise of fights, once silent, leaves its region as (NO_ROW, -1, NO_ROW,
    -1), which a resume refused ("noise_region is not a box"): a run that went quiet
    before a checkpoint could not go on. Now it resumes; noise outside it is refused."""
    from seoulfall.engine import kernels as K

    silent = np.array([K.NO_ROW, -1, K.NO_ROW, -1], np.int64)

    def quiet(arrays, meta, head):
        arrays["noise_region"] = silent
        arrays["fn"] = np.zeros_like(arrays["fn"])

    folder = _partial(unbroken, tmp_path, 600)
    _forge(folder, 600, quiet)
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 0, err
    assert json.loads((folder / "summary.json").read_text())["steps"] == 720

    def noisy(arrays, meta, head):
        arrays["noise_region"] = silent
        arrays["fn"] = np.ones_like(arrays["fn"])

    folder = _partial(unbroken, tmp_path / "b", 600)
    _forge(folder, 600, noisy)
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 2 and "fn holds noise outside noise_region" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.pop("subway"),
        lambda m: m["subway"].update(line_open=[2] * len(m["subway"]["line_open"])),
        lambda m: m["subway"].update(aboard=m["subway"]["aboard"][:-1]),
        lambda m: m["subway"].update(first_car=[10**9] * len(m["subway"]["first_car"])),
        lambda m: m["subway"].update(group_open="all"),
    ],
)
def test_an_edited_subway_state_is_refused_in_one_line_and_kept(unbroken, tmp_path, capsys, edit):
    """The default rides the subway: its checkpoints keep the trains' state in meta.subway."""
    folder = _partial(unbroken, tmp_path, 600)
    base = _forge(folder, 600, lambda arrays, meta, head: edit(meta))
    before = base.with_suffix(".npz").read_bytes()
    code, _, err = run_cli(["run", "--out", str(folder), "--resume", *ARGS], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "meta" in err and "subway" in err or "meta must have" in err, err
    assert base.with_suffix(".npz").read_bytes() == before  # kept as it was
