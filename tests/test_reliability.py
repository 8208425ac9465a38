"""Trust at the edges (docs/reliability.md): interrupts, other people's files, hostile text,
bounded resources and bad input classed as bad input."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import run_cli

from seoulfall import Results, Scenario, ScenarioError, runfolder
from seoulfall.cli import main

TINY = ["--scale", "0.001", "--days", "0.1", "--quiet"]
WELL = ["well-mixed", "--set", "population.agents=300", "--days", "0.05", "--quiet"]


def cli(*args):
    """``seoulfall ARGS`` in a process of its own (for signals)."""
    return subprocess.Popen(
        [sys.executable, "-m", "seoulfall.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def snapshot(folder):
    """Every file under ``folder`` with its bytes."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# -- 1. interrupts --------------------------------------------------------------------------
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_exits_non_zero_and_says_what_was_kept(tmp_path, sig, code):
    out = tmp_path / "r"
    p = cli("run", "--out", str(out), "--scale", "0.002", "--days", "5", "--quiet",
            "--checkpoint-every", "10")  # fmt: skip
    deadline = time.monotonic() + 120
    while not list((out / "checkpoints").glob("ckpt-*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(p.pid, sig)  # as a terminal's Ctrl-C: the whole process group
    _, err = p.communicate(timeout=120)
    assert p.returncode == code
    assert err.count("\n") == 1 and f"interrupted ({signal.Signals(sig).name})" in err
    assert "kept the checkpoint" in err and "--resume" in err
    assert list((out / "checkpoints").glob("ckpt-*.json"))
    assert not (out / "summary.json").exists()


def test_an_interrupted_sweep_exits_130_in_one_line_without_tracebacks(tmp_path):
    out = tmp_path / "s"
    p = cli("sweep", "well-mixed", "--seeds", "100", "--workers", "2", "--out", str(out),
            "--quiet", "--set", "population.agents=5000", "--set", "time.days=2")  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        runs = out / "runs.jsonl"
        if runs.exists() and runs.read_text().count("\n") >= 1:
            break
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert "runs.jsonl" in err and "rerun the same command" in err


def test_a_sweep_beside_another_dask_cluster_says_nothing_of_it(tmp_path):
    # another cluster holds Dask's default HTTP port (8787): the sweep's own local cluster
    # takes another port without a warning on the user's terminal
    import socket

    holder = socket.socket()
    try:
        holder.bind(("", 8787))
        holder.listen()
    except OSError:
        pass  # something already holds it: the same situation
    try:
        p = cli("sweep", "well-mixed", "--seeds", "1", "--workers", "1", "--quiet",
                "--out", str(tmp_path / "s"))  # fmt: skip
        _, err = p.communicate(timeout=120)
    finally:
        holder.close()
    assert p.returncode == 0 and err == "", err


def test_a_failing_validate_exits_1(monkeypatch, capsys):
    import seoulfall.validate as v

    def failing(progress=None):
        c = v.Check("made to fail", 1.0, 0.0, 0.1)
        if progress:
            progress(c)
        return [c]

    monkeypatch.setattr(v, "run_checks", failing)
    code, out, _ = run_cli(["validate"], capsys)
    assert code == 1 and "0 passed, 1 failed" in out


# -- 3. other people's files ----------------------------------------------------------------
def test_a_folder_of_someone_elses_files_is_refused_and_left_as_it_was(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my thesis")
    (folder / ".draft.tmp").write_text("autosave")
    before = snapshot(folder)
    code, _, err = run_cli(["run", "--out", str(folder), *TINY], capsys)
    assert code == 2 and "did not write" in err and err.count("\n") == 1
    assert snapshot(folder) == before and sorted(os.listdir(folder)) == [".draft.tmp", "notes.txt"]
    # asked to, seoulfall writes beside them, and never touches them
    code, _, err = run_cli(["run", "--out", str(folder), *TINY, "--force"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["run", "--out", str(folder), *TINY, "--force", "--seed", "2"], capsys)
    assert code == 0, err
    now = snapshot(folder)
    assert all(now[k] == v for k, v in before.items())


@pytest.mark.parametrize("name", ["report.html", "events.jsonl", "summary.json"])
def test_a_file_of_the_same_name_seoulfall_did_not_write_is_never_overwritten(
    tmp_path, capsys, name
):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / name).write_text("theirs")
    for extra in ([], ["--force"]):
        code, _, err = run_cli(["run", "--out", str(folder), *TINY, *extra], capsys)
        assert code == 2 and name in err
    assert (folder / name).read_text() == "theirs"
    with pytest.raises(runfolder.RunFolderError):
        Results.load  # noqa: B018 - the notebook's save refuses too
        from seoulfall import simulate

        simulate(Scenario.load("well-mixed", {"population.agents": 200, "time.days": 0.02})).save(
            folder
        )
    assert (folder / name).read_text() == "theirs"


@pytest.mark.parametrize("out", ["", "/"])
def test_impossible_out_folders_are_refused(capsys, out):
    code, _, err = run_cli(["run", "--out", out, *TINY], capsys)
    assert code == 2 and err.count("\n") == 1


def test_force_replaces_the_whole_previous_run(tmp_path, capsys):
    folder = tmp_path / "r"
    code, _, err = run_cli(["run", "--out", str(folder), *TINY, "--checkpoint-every", "30"], capsys)
    assert code == 0, err
    assert (folder / "cast.jsonl").exists() and (folder / "outbreak.mp4").exists()
    code, _, err = run_cli(["run", *WELL, "--out", str(folder), "--force"], capsys)
    assert code == 0, err
    left = set(os.listdir(folder))
    assert not {"cast.jsonl", "outbreak.mp4", "fall_map.png", "checkpoints"} & left
    assert Scenario.load(folder / "scenario.toml").name == "well-mixed"


def test_resume_into_another_finished_run_is_refused_and_keeps_it(tmp_path, capsys):
    folder = tmp_path / "r"
    assert run_cli(["run", "--out", str(folder), *TINY], capsys)[0] == 0
    before = snapshot(folder)
    code, _, err = run_cli(["run", "--out", str(folder), *TINY, "--seed", "9", "--resume"], capsys)
    assert code == 2 and "another scenario or seed" in err
    assert snapshot(folder) == before


# -- 4. one writer at a time ------------------------------------------------------------------
def test_a_second_run_into_a_locked_folder_is_refused(tmp_path, capsys):
    folder = tmp_path / "r"
    folder.mkdir()
    with runfolder.Lock(folder):
        code, _, err = run_cli(["run", "--out", str(folder), *TINY], capsys)
    assert code == 2 and "another seoulfall run is writing" in err
    assert run_cli(["run", "--out", str(folder), *TINY], capsys)[0] == 0  # released


def test_the_lock_dies_with_a_killed_process(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    code = (
        "import sys, time; from pathlib import Path; from seoulfall.runfolder import Lock; "
        f"Lock(Path({str(folder)!r})).__enter__(); print('held', flush=True); time.sleep(60)"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    with pytest.raises(runfolder.RunFolderError):
        runfolder.Lock(folder).__enter__()
    p.kill()
    p.wait()
    with runfolder.Lock(folder):
        pass


def test_a_failed_animation_leaves_no_half_file(tmp_path, monkeypatch):
    from seoulfall import simulate
    from seoulfall.report import animation as report  # where write_animation finds its frames
    from seoulfall.world import load_world

    res = simulate("lattice", days=0.05)
    res.save(tmp_path, report=False)

    def frames(results, world):
        yield from list(real(results, world))[:2]
        raise OSError(errno.ENOSPC, "No space left on device")

    real = report.animation_frames
    monkeypatch.setattr(report, "animation_frames", frames)
    with pytest.raises(OSError):
        report.write_animation(res, load_world(res.scenario), tmp_path)
    assert not (tmp_path / "outbreak.mp4").exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


# -- 5. finished only when every output is -------------------------------------------------------
def test_a_run_killed_while_writing_its_outputs_resumes_by_writing_them(
    tmp_path, capsys, monkeypatch
):
    from seoulfall import cli as cli_mod
    from seoulfall.results import Results as R

    folder = tmp_path / "r"
    real = R.write_outputs

    def killed(self, f):
        raise cli_mod.Interrupted(signal.SIGTERM)

    monkeypatch.setattr(R, "write_outputs", killed)
    code, _, err = run_cli(["run", "--out", str(folder), *TINY], capsys)
    assert code == 143 and "report" in err
    assert (folder / "summary.json").exists() and not (folder / "report.html").exists()
    monkeypatch.setattr(R, "write_outputs", real)
    code, out, err = run_cli(["run", "--out", str(folder), *TINY, "--resume"], capsys)
    assert code == 0 and "wrote its missing outputs" in out
    assert (folder / "report.html").exists() and (folder / "outbreak.mp4").exists()
    code, out, _ = run_cli(["run", "--out", str(folder), *TINY, "--resume"], capsys)
    assert code == 0 and "nothing to do" in out


# -- 6. folder names ----------------------------------------------------------------------------
@given(st.text(max_size=400))
def test_a_scenario_name_always_makes_a_safe_folder_name(name):
    s = runfolder.slug(name)
    assert s and len(s) <= runfolder.SLUG_MAX
    assert "/" not in s and "\0" not in s and "\\" not in s
    assert not s.startswith((".", "-")) and s not in (".", "..")


def test_the_default_folder_stays_under_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    toml = tmp_path / "evil.toml"
    toml.write_text(
        'name = "../../escaped"\n[world]\nmap = "well-mixed"\n[population]\nagents = 200\n'
    )
    code, _, err = run_cli(["run", str(toml), "--days", "0.02", "--quiet"], capsys)
    assert code == 0, err
    made = [p for p in (tmp_path / "runs").iterdir()]
    assert len(made) == 1 and made[0].name.startswith("escaped-seed")
    assert not (tmp_path.parent / "escaped").exists()


# -- 7. any text round-trips -----------------------------------------------------------------------
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@pytest.fixture(scope="module")
def tiny_run():
    from seoulfall import simulate

    return simulate(Scenario.load("well-mixed", {"population.agents": 200, "time.days": 0.02}))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=TEXT, event_name=TEXT, who=TEXT)
def test_any_text_in_names_round_trips_through_a_run_folder(tiny_run, tmp_path_factory, name,
                                                            event_name, who):  # fmt: skip
    res = tiny_run
    res.scenario = res.scenario.model_copy(update={"name": name})
    res.summary = {**res.summary, "scenario": name}
    res.events = [{"type": "airstrike", "name": event_name, "t_min": 1.0, "day": 0.0}]
    res.cast = [{"name": who, "t_min": 0.0, "day": 0.0, "state": "human", "district": None,
                 "district_name": None}]  # fmt: skip
    folder = tmp_path_factory.mktemp("t")
    res.save(folder, report=False)
    back = Results.load(folder)
    assert back.events == res.events and back.cast == res.cast
    assert back.summary["scenario"] == name and back.scenario.name == name


@pytest.mark.parametrize(
    "text", ["$\\frac{1}{$", "<script>alert(1)</script>", "a\u2028b\x85c", "$x^2$ & ^_^"]
)
def test_markup_in_names_reaches_the_pictures_and_the_report_as_plain_text(tmp_path, text):
    from seoulfall import simulate

    sc = Scenario.load("lattice", {"world.size": 12, "population.agents": 100, "time.days": 0.02})
    res = simulate(sc.model_copy(update={"name": text}))
    # placed (a cell): drawn on the fall map and ringed and captioned in the animation
    res.events = [{"type": "airstrike", "name": text, "t_min": 1.0, "day": 0.0, "cell": [5, 5]}]
    res.save(tmp_path)  # plots (mathtext would raise), the animation and the report
    page = (tmp_path / "report.html").read_text()
    assert "<script>alert" not in page
    import html

    assert html.escape(text) in page


# -- 8. bounded resources ------------------------------------------------------------------------
def test_a_tiny_step_is_refused_at_once(capsys):
    t0 = time.perf_counter()
    code, _, err = run_cli(["run", "--set", "time.dt_min=1e-9", *TINY[:-1]], capsys)
    assert code == 2 and "at most 10,000,000 steps" in err
    assert time.perf_counter() - t0 < 30


def test_a_run_that_cannot_fit_in_memory_is_refused_before_allocating(monkeypatch, capsys):
    import seoulfall.safeload as sl

    monkeypatch.setattr(sl, "memory_available", lambda: 1 << 30)  # 1 GiB
    events = [{"type": "deploy_soldiers", "count": 10_000_000, "day": 1.0, "cell": [0, 0]}] * 3
    sc = Scenario.load("well-mixed", {"events": events})
    from seoulfall.simulation import Simulation

    with pytest.raises(ScenarioError, match="30,001,000 agents"):
        Simulation(sc)
    code, _, err = run_cli(["run", "--scale", "1", "--days", "0.01", "--quiet"], capsys)
    assert code == 2 and "GiB" in err and "population.scale" in err


def test_snapshots_every_minute_for_years_are_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["run", "--set", "output.snapshot_every_min=1", "--days", "3000", "--quiet"]
    code, _, err = run_cli([*args, "--out", str(out)], capsys)
    assert code == 2 and "snapshots and checkpoints need" in err and "GiB of disk" in err
    assert not out.exists()
    with pytest.raises(ScenarioError, match="4,320,002 map snapshots"):
        from seoulfall import simulate

        simulate("seoul-falls", days=3000, overrides={"output.snapshot_every_min": 1})


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_scenario_that_is_not_a_small_regular_file_is_refused(tmp_path, kind):
    path = tmp_path / "s.toml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = "/dev/zero"
    else:
        path.write_text("# padding\n" * 200_000)
    p = subprocess.run(
        [sys.executable, "-m", "seoulfall.cli", "run", str(path), "--quiet"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 2 and p.stderr.count("\n") == 1


def test_night_table_is_is_night_at_every_step():
    from seoulfall.simulation import night_table

    for over in ({}, {"time.dt_min": 0.37, "time.start": "2026-05-01T13:17:41+02:00",
                      "time.night_start_hour": 3.3, "time.night_end_hour": 22.1}):  # fmt: skip
        sc = Scenario.load("seoul-falls", over)
        c = sc.time
        want = np.array([c.is_night(s * c.dt_min) for s in range(sc.steps + 1)])
        assert np.array_equal(night_table(c, sc.steps), want)


# -- 9. bad input is bad input ------------------------------------------------------------------
@pytest.mark.parametrize(
    "content, needle",
    [
        ("a = " + "[" * 50_000 + "]" * 50_000, "nested too deeply"),
        ("[[events]]\ntype = 'airstrike'\nat_min = 1e308\ncell = [1, 1]", "events.0.at_min"),
        ("[[sounds]]\nstart_min = 1e308\ncell = [1, 1]", "sounds.0.start_min"),
        ("[[events]]\ntype = 'sound_lure'\nday = 1\ncell = [1, 1]\npath = [[1]]", "path"),
        ("[[events]]\ntype = 'sound_lure'\nday = 1\ncell = [1, 1]\npath = [3]", "path"),
        ("[zombie]\nbite_rate = '0.3'", "expected a number, got a string"),
        ("[zombie]\nbite_rate = true", "expected a number, got a boolean"),
        ("[outbreak]\nzombies = '10'", "expected a number, got a string"),
    ],
)
def test_hostile_scenario_values_are_bad_input(tmp_path, capsys, content, needle):
    path = tmp_path / "s.toml"
    path.write_text(
        "[world]\nmap = 'well-mixed'\n" + content if "[world]" not in content else content
    )
    code, _, err = run_cli(["run", str(path), "--quiet", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and needle in err and err.count("\n") == 1, err


def test_an_out_that_cannot_be_made_is_bad_input(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(["run", "--out", str(tmp_path / "file" / "run"), *TINY], capsys)
    assert code == 2 and "cannot write there" in err


def test_a_full_disk_is_named_in_one_line(tmp_path, capsys, monkeypatch):
    import seoulfall.atomic as atomic

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(atomic, "atomic_write_bytes", full)
    monkeypatch.setattr("seoulfall.results.atomic_write_bytes", full)
    code, _, err = run_cli(["run", "--out", str(tmp_path / "r"), *TINY], capsys)
    assert code == 2 and "No space left on device" in err and str(tmp_path / "r") in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--vary", "seed=1,2"], "--seeds"),
        (["--vary", "zombie.bite_rate=1", "--vary", "zombie.bite_rate=2"], "given twice"),
        (["--vary", "zombie.bite_rate=1,1"], "given twice"),
        (["--scheduler", "tls://127.0.0.1:9"], "cannot connect"),
        (["--scheduler", "ucx://127.0.0.1:9"], "cannot connect"),
    ],
)
def test_bad_sweep_arguments_are_bad_input(tmp_path, capsys, extra, needle):
    args = ["sweep", *WELL, "--seeds", "1", "--out", str(tmp_path / "s"), *extra]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and needle in err and err.count("\n") == 1, err


def test_a_date_time_can_be_varied(tmp_path, capsys):
    args = ["sweep", *WELL, "--seeds", "1", "--out", str(tmp_path / "s"), "--workers", "1",
            "--vary", "time.start=2026-03-02T08:00:00,2026-03-02T20:00:00"]  # fmt: skip
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    assert len((tmp_path / "s" / "runs.jsonl").read_text().splitlines()) == 2


def test_a_forged_sweep_record_is_refused(tmp_path, capsys):
    out = tmp_path / "s"
    args = ["sweep", *WELL, "--seeds", "2", "--out", str(out), "--workers", "1"]
    assert run_cli(args, capsys)[0] == 0
    runs = out / "runs.jsonl"
    recs = [json.loads(x) for x in runs.read_text().splitlines()]
    recs[0]["fall_day"] = "soon"
    runs.write_text("".join(json.dumps(r) + "\n" for r in recs))
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "runs.jsonl line 1" in err and "fall_day" in err


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("done") / "r"
    assert main_code(["run", "--out", str(folder), *TINY]) == 0
    return folder


def main_code(args):
    try:
        main(args)
    except SystemExit as exc:
        return exc.code
    return 0


@pytest.mark.parametrize(
    "name, damage",
    [
        ("summary.json", lambda t: t.replace('"seed": 0', '"seed": "<b>0</b>"')),
        ("summary.json", lambda t: t[: len(t) // 2]),
        ("timeseries.parquet", lambda b: b[: len(b) // 2]),
        ("events.jsonl", lambda t: t + "{not json\n"),
        ("cast.jsonl", lambda t: t + '["a list"]\n'),
        ("snapshots.npz", lambda b: b[:100]),
    ],
)
def test_a_damaged_run_folder_is_refused_by_report_and_load(finished, tmp_path, capsys, name,
                                                            damage):  # fmt: skip
    import shutil

    folder = tmp_path / "r"
    shutil.copytree(finished, folder)
    p = folder / name
    if p.suffix in (".json", ".jsonl"):
        p.write_text(damage(p.read_text()))
    else:
        p.write_bytes(damage(p.read_bytes()))
    before = snapshot(folder)
    code, _, err = run_cli(["report", str(folder)], capsys)
    assert code == 2 and name in err and err.count("\n") == 1, err
    assert snapshot(folder) == before
    with pytest.raises(ValueError):
        Results.load(folder)


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda a, m: a.update(district=a["district"] + 100), "indices outside"),
        (lambda a, m: a.update(residents=-a["residents"]), "residents"),
        (lambda a, m: a.update(water=a["water"].astype(np.int64)), "dtype"),
        (lambda a, m: m.update(places={"x": [10**6, 0]}), "places"),
        (lambda a, m: m.update(cell_m="far"), "cell_m"),
        (lambda a, m: a.pop("bridge"), "bridge"),
    ],
)
def test_an_edited_world_file_is_refused_in_one_line(tmp_path, capsys, edit, needle):
    from seoulfall.world.hyosan import build_hyosan

    build_hyosan().save(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    edit(arrays, meta)
    np.savez(tmp_path / "w.npz", meta=np.array(json.dumps(meta)), **arrays)
    code, _, err = run_cli(
        ["run", "hyosan", "--set", f"world.map={json.dumps(str(tmp_path / 'w.npz'))}",
         "--quiet", "--out", str(tmp_path / "o")], capsys
    )  # fmt: skip
    assert code == 2 and needle in err and err.count("\n") == 1, err


def test_saving_another_run_over_a_run_leaves_none_of_the_old_files(tmp_path):
    from seoulfall import simulate

    simulate("lattice", days=0.05).save(tmp_path)
    assert (tmp_path / "outbreak.mp4").exists()
    simulate(Scenario.load("well-mixed", {"population.agents": 200, "time.days": 0.02})).save(
        tmp_path
    )
    assert not (tmp_path / "outbreak.mp4").exists() and not (tmp_path / "fall_map.png").exists()
    assert Results.load(tmp_path).summary["scenario"] == "well-mixed"
