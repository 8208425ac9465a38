import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from seoulfall import Results, Scenario, ScenarioError
from seoulfall.cli import main

SMALL = ["--scale", "0.001", "--days", "0.1", "--quiet"]


def run_cli(args, capsys):
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "content, needle",
    [
        ("", "empty scenario file"),
        ("[world\nmap = 1", "invalid TOML"),
        ("[zombie]\nbight_rate = 0.3", "unknown key 'zombie.bight_rate'"),
        ("[zombie]\nbite_rate = 'fast'", "zombie.bite_rate = 'fast'"),
        ("[zombie]\nbite_rate = -1.0", "zombie.bite_rate = -1.0"),
        ("[outbreak]\ndistrict = 'Hyosan'", "unknown district 'Hyosan'"),
        ("[time]\ndt_min = 0", "time.dt_min = 0"),
        # a denormal step: days / dt_min overflowed to infinity ("internal error")
        ("[time]\ndt_min = 5e-324", "time.dt_min = 5e-324: endless steps"),
        ("[world]\nmap = 'atlantis'", "unknown map"),
        ("[zombie]\nbite_rate = nan", "zombie.bite_rate = nan"),
        ("[human]\nkill_rate = inf", "human.kill_rate = inf"),
    ],
)
def test_bad_scenario_files_exit_2_with_one_line_naming_the_key(tmp_path, capsys, content, needle):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    code, out, err = run_cli(["run", str(path), "--out", str(tmp_path / "run"), *SMALL], capsys)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["run", "missing/file.toml"], "no such scenario file"),
        (["run", "--set", "zombie.bite_rate=-2"], "zombie.bite_rate = -2"),
        (["run", "--set", "zombie=3"], "zombie = 3"),
        (["run", "--set", "nonsense"], "expected KEY=VALUE"),
        (["run", "--set", "outbreak.district=Atlantis"], "unknown district 'Atlantis'"),
        (["run", "--scale", "abc"], "Invalid value for '--scale'"),
        (["run", "--no-such-flag"], "No such option"),
        (["run", "--scale", "2"], "population.scale = 2.0"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(capsys, args, needle):
    code, out, err = run_cli(args, capsys)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_run_writes_the_run_folder(tmp_path, capsys):
    out_dir = tmp_path / "run"
    code, out, err = run_cli(
        [
            "run",
            "--out",
            str(out_dir),
            "--seed",
            "4",
            "--scale",
            "0.001",
            "--days",
            "0.25",
            "--set",
            "outbreak.district=Gangnam",
        ],
        capsys,
    )
    assert code == 0
    for name in (
        "scenario.toml",
        "timeseries.parquet",
        "districts.parquet",
        "events.jsonl",
        "summary.json",
        "epidemic.png",
        "report.html",
    ):
        assert (out_dir / name).stat().st_size > 0 or name == "events.jsonl", name
    summary = json.loads((out_dir / "summary.json").read_text())
    for key in (
        "scenario",
        "seed",
        "agents",
        "days",
        "steps",
        "final",
        "peak_zombies",
        "fall_day",
        "districts",
        "wall_seconds",
        "agent_steps_per_second",
    ):
        assert key in summary, key
    assert summary["seed"] == 4 and summary["steps"] == 360
    assert len(summary["districts"]) == 25
    ts = pd.read_parquet(out_dir / "timeseries.parquet")
    states = ["human", "infected", "zombie", "evolved", "hybrid", "dead"]
    assert list(ts.columns)[:8] == ["t_min", "day"] + states
    states = list(ts.columns[2:])  # + evacuated and reserve once used (the army's reserve)
    assert set(states) - {"evacuated", "reserve"} == set(states[:6])
    assert (ts[states].sum(axis=1) == summary["agents"]).all()
    assert ts["t_min"].iloc[-1] == 360 and ts["day"].iloc[-1] == pytest.approx(0.25)
    assert summary["final"] == {s: int(ts[s].iloc[-1]) for s in states}
    dd = pd.read_parquet(out_dir / "districts.parquet")
    assert set(dd["district"]) == set(summary["districts"])
    on_map = states[:6]  # the reserve and the evacuated stand in no district
    per_time = dd.groupby("t_min")[on_map].sum()
    assert (per_time.to_numpy() == ts.set_index("t_min")[on_map].to_numpy()).all()
    assert "seoul-falls" in out and "peak" in out
    # the cast: a cast.jsonl, their fates in the summary and in the printed summary
    assert (out_dir / "cast.jsonl").stat().st_size > 0
    assert set(summary["cast"]) >= {"On-jo", "Nam-ra"}
    assert f"Nam-ra {summary['cast']['Nam-ra']['state']}" in out


def test_resolved_scenario_reproduces_the_run(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    run_cli(
        ["run", "--out", str(a), "--seed", "8", *SMALL, "--set", "zombie.bite_rate=0.3"], capsys
    )
    text = (a / "scenario.toml").read_text()
    assert "[zombie]" in text and "seed = 8" in text and "bite_rate = 0.3" in text
    run_cli(["run", str(a / "scenario.toml"), "--out", str(b), "--quiet"], capsys)
    ra, rb = Results.load(a), Results.load(b)
    assert ra.timeseries.equals(rb.timeseries)
    assert ra.districts.equals(rb.districts)
    assert Scenario.load(a / "scenario.toml") == ra.scenario


def test_fractional_days_round_steps_up():
    sc = Scenario.load("well-mixed", {"time.days": 0.001, "time.dt_min": 1})
    assert sc.steps == math.ceil(0.001 * 1440)
    assert Scenario.load("seoul-falls").steps == 20160


def test_set_values_are_typed():
    sc = Scenario.load(
        "seoul-falls",
        ["zombie.bite_rate=0.25", "outbreak.cell=[100, 200]", "time.start=2026-05-01T09:00:00"],
    )
    assert sc.zombie.bite_rate == 0.25 and sc.outbreak.cell == [100, 200]
    assert sc.time.start.utcoffset().total_seconds() == 9 * 3600
    with pytest.raises(ScenarioError, match="time.dt_min"):
        Scenario.load("seoul-falls", ["time.dt_min=fast"])


def test_well_mixed_defaults_turn_at_once_unless_set():
    assert Scenario.load("well-mixed").infection.turn_median_min == 0
    sc = Scenario.load("well-mixed", {"infection.turn_median_min": 3.0})
    assert sc.infection.turn_median_min == 3.0


def test_scenarios_command_lists_bundled_scenarios(capsys):
    code, out, err = run_cli(["scenarios"], capsys)
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert {"seoul-falls", "well-mixed", "lattice"} <= set(names)


def test_installed_console_script_reports_bad_input_without_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[human]\nkill_rate = -0.5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "seoulfall.cli", "run", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "seoulfall: error: human.kill_rate = -0.5: Input should be greater than or equal to 0"
    )


def test_python_api_three_lines(tmp_path):
    import seoulfall

    res = seoulfall.simulate("lattice", seed=1, overrides={"time.days": 0.05})
    assert res.summary["agents"] == 101 * 101
    ax = res.plot()
    assert len(ax.lines) == 6
    res.save(tmp_path / "r")
    back = Results.load(tmp_path / "r")
    assert back.timeseries.equals(res.timeseries) and back.summary["seed"] == 1


def test_scenario_key_reference_is_generated_from_the_schema():
    from pathlib import Path

    from seoulfall.scenario import keys_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "scenario-keys.md"
    assert doc.read_text(encoding="utf-8") == keys_markdown(), (
        "run: python tools/gen_scenario_docs.py"
    )
    for key in (
        "world.map",
        "world.cell_m",
        "world.size",
        "time.days",
        "time.dt_min",
        "time.start",
        "population.scale",
        "population.agents",
        "outbreak.zombies",
        "outbreak.district",
        "zombie.bite_rate",
        "human.kill_rate",
        "infection.hybrid_probability",
        "zombie.evolve_rate_per_day",
    ):
        assert f"`{key}`" in keys_markdown(), key
    for key in ("events.districts", "events.bridges", "events.count", "events.remove"):
        assert f"`{key}`" in keys_markdown(), key


@pytest.mark.parametrize("m", ["well-mixed", "lattice"])
def test_the_reference_maps_own_defaults_are_shown_and_kept(m):
    import tomllib

    from seoulfall.scenario import MAP_DEFAULTS, Scenario, bundled_scenarios, keys_markdown

    text = bundled_scenarios()[m].read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    doc = keys_markdown()
    for (table, key), value in MAP_DEFAULTS[m].items():
        assert raw[table][key] == value, (table, key)  # the bundled file writes each out
        general = Scenario.model_fields[table].annotation.model_fields[key].default
        if value != general:  # and the key reference shows it beside Seoul's default
            row = next(r for r in doc.splitlines() if r.startswith(f"| `{table}.{key}` |"))
            assert f"{m}: `{value}`" in row
    # a user's file on the map that leaves them out gets them all the same
    bare = {t: {k: v for k, v in raw[t].items() if (t, k) not in MAP_DEFAULTS[m]}
            if isinstance(raw[t], dict) else raw[t] for t in raw}  # fmt: skip
    assert Scenario.from_dict(bare) == Scenario.load(m)
    seoul = Scenario.from_dict({**bare, "world": {"map": "seoul"}})
    assert seoul.noise.fight_loudness == Scenario().noise.fight_loudness != 0.0


def test_validate_passes_and_prints_a_table(capsys):
    code, out, err = run_cli(["validate"], capsys)
    lines = out.strip().splitlines()
    assert lines[-1] == f"{len(lines) - 2} passed, 0 failed"
    assert len(lines) - 2 >= 8
    assert all(line.startswith("PASS") for line in lines[1:-1])
    assert code == 0


def test_report_names_the_last_district_standing(tmp_path, capsys):
    out_dir = tmp_path / "run"
    run_cli(["run", "--out", str(out_dir), *SMALL], capsys)
    summary = json.loads((out_dir / "summary.json").read_text())
    page = (out_dir / "report.html").read_text()
    name = summary["districts"][summary["last_standing"][0]]["name"]
    assert f"<b>{name}" in page
    assert 'src="http' not in page and "<script" not in page  # self-contained


def test_an_existing_run_is_not_overwritten_without_force(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert run_cli(["run", "--out", str(out_dir), *SMALL], capsys)[0] == 0
    before = (out_dir / "summary.json").read_bytes()
    code, out, err = run_cli(["run", "--out", str(out_dir), "--seed", "9", *SMALL], capsys)
    assert code == 2 and "--force" in err and len(err.strip().splitlines()) == 1
    assert (out_dir / "summary.json").read_bytes() == before
    code, out, err = run_cli(
        ["run", "--out", str(out_dir), "--seed", "9", "--force", *SMALL], capsys
    )
    assert code == 0
    assert json.loads((out_dir / "summary.json").read_text())["seed"] == 9


def test_bare_command_help_and_version_exit_0(capsys):
    from seoulfall import __version__

    for args in ([], ["-h"], ["--help"]):
        code, out, err = run_cli(args, capsys)
        assert code == 0 and "Usage: seoulfall" in out and "run" in out and not err, args
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.strip() == f"seoulfall {__version__}"
    code, out, _ = run_cli(["run", "-h"], capsys)
    assert code == 0 and "--set KEY=VALUE" in out and "zombie.bite_rate=0.3" in out


def test_scenarios_name_prints_the_bundled_toml_that_loads_back(capsys, tmp_path):
    code, out, _ = run_cli(["scenarios", "hyosan"], capsys)
    assert code == 0 and "[[events]]" in out and "# " in out  # the file, comments included
    (tmp_path / "mine.toml").write_text(out)
    assert Scenario.load(tmp_path / "mine.toml") == Scenario.load("hyosan")
    code, _, err = run_cli(["scenarios", "hyosn"], capsys)
    assert code == 2 and "did you mean 'hyosan'" in err


@pytest.mark.parametrize(
    "args, hint",
    [
        (["run", "seoul-fall"], "did you mean 'seoul-falls'"),
        (["run", "--set", "zombie.bite_rat=0.3"], "did you mean 'bite_rate'"),
        (["run", "--set", "outbreak.district=Gangnm-gu"], "did you mean 'Gangnam-gu'"),
    ],
)
def test_a_misspelt_name_gets_a_suggestion(capsys, args, hint):
    code, _, err = run_cli([*args, "--quiet"], capsys)
    assert code == 2 and hint in err and err.count("\n") == 1


def test_off_a_terminal_the_run_says_what_it_is_doing(tmp_path, monkeypatch, capsys):
    import seoulfall.cli as cli_mod

    monkeypatch.setattr(cli_mod, "PLAIN_PROGRESS_S", 0.0)  # a line at every recorded hour
    code, out, err = run_cli(["run", "--out", str(tmp_path / "r"), "--scale", "0.001",
                              "--days", "0.25"], capsys)  # fmt: skip
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("seoulfall: preparing the kernels")
    days = [ln for ln in lines if ": day " in ln]
    assert len(days) == 6 and "day 0.25 of 0.25 (100 %)" in days[-1]
    assert lines[-1].startswith("seoulfall: writing the plots")


def test_install_script_says_what_is_missing_in_one_line(tmp_path):
    import shutil
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "install.sh", tmp_path / "install.sh")
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(tmp_path / "no-python-here")}
    r = subprocess.run(
        ["sh", str(tmp_path / "install.sh")], capture_output=True, text=True, env=env
    )
    assert r.returncode == 2 and "not found" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / ".venv").exists()
    assert subprocess.run(["sh", "-n", str(root / "install.sh")]).returncode == 0
