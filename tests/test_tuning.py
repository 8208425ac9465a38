"""Calibration (Optuna) and sensitivity (SALib): recovery, stories, indices, resume, Dask."""

import csv
import json

import numpy as np
import pandas as pd
import pytest
from test_cli import run_cli

from seoulfall import Scenario, calibrate, sensitivity
from seoulfall.study import district_code
from seoulfall.sweep import read_runs, run_one

#: The well-mixed world over 58 minutes, 50 zombies among 950 people: the outbreak runs
#: its course in about 25 minutes, decided by the bite rate beta and the kill rate kappa.
MIXED = {"outbreak.zombies": 50, "time.days": 0.04}
BETA, KAPPA = 0.4, 0.2


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    """Counts every 2 minutes over 28 minutes: the mean of 4 seeds at the true rates."""
    sc = Scenario.load("well-mixed", {**MIXED, "zombie.bite_rate": BETA, "human.kill_rate": KAPPA})
    t_min = [float(m) for m in range(0, 29, 2)]
    recs = [run_one(sc.to_dict(), {}, seed, at_min=t_min) for seed in range(10, 14)]
    path = tmp_path_factory.mktemp("data") / "observed.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        cols = ("human", "zombie", "dead")
        w.writerow(["day", *cols])
        for i, m in enumerate(t_min):
            w.writerow([m / 1440] + [np.mean([r["at"][c][i] for r in recs]) for c in cols])
    return path


def test_calibration_recovers_the_rates_that_made_the_data(observed):
    # from a 60-fold range on each rate, 120 trials of 2 seeds (other seeds than the data's);
    # measured with 4 sampler seeds: every rate within 10 % (the ridge beta - kappa is found
    # first, the ratio takes about 100 trials)
    cal = calibrate(
        "well-mixed",
        [f"data={observed}"],
        ["zombie.bite_rate=0.05:3:log", "human.kill_rate=0.05:3:log"],
        trials=120,
        seeds_per_trial=2,
        overrides=MIXED,
    )
    assert cal.best["zombie.bite_rate"] == pytest.approx(BETA, rel=0.15)
    assert cal.best["human.kill_rate"] == pytest.approx(KAPPA, rel=0.15)
    df = cal.to_df()
    assert len(df) == 120 and df["trial"].is_unique and df["score"].min() == cal.best_score


def test_a_story_target_the_defaults_miss_is_met_by_the_best_values():
    # at the defaults (1/1000 scale, steps of 10 minutes) Seocho-gu has not fallen by day 1.3;
    # the story wants it to fall on day 1.1 (within 0.2)
    story = {"population.scale": 0.001, "time.days": 1.5, "time.dt_min": 10.0}
    target = "fall_day.Seocho-gu=1.1"
    cal = calibrate(
        "seoul-falls", [f"{target}:tol=0.2"], ["zombie.bite_rate=0.05:1:log"], trials=8,
        seeds_per_trial=2, overrides=story,
    )  # fmt: skip
    assert cal.hits[target] >= 0.5, cal
    assert cal.best["zombie.bite_rate"] > 0.2
    sc = Scenario.load("seoul-falls", story)  # the defaults (bite rate 0.1) miss it
    code = district_code("Seocho-gu", sc, "test")
    defaults = [run_one(sc.to_dict(), {}, seed)["districts"][code][1] for seed in (0, 1)]
    assert all(d is None or d > 1.3 for d in defaults), defaults


def test_sensitivity_finds_the_two_rates_and_not_the_switched_off_night():
    # alpha = kappa / beta decides the well-mixed outcome; with no night (start = end) the
    # zombies' night factor cannot act
    sens = sensitivity(
        "well-mixed",
        ["zombie.bite_rate=0.2:1", "human.kill_rate=0.2:1", "zombie.night_factor=0.2:1"],
        method="sobol",
        samples=32,
        outputs=["final.human", "final.zombie"],
        overrides={**MIXED, "outbreak.zombies": 20, "time.night_start_hour": 0.0,
                   "time.night_end_hour": 0.0},
    )  # fmt: skip
    df = sens.indices.set_index(["output", "key"])
    for out in ("final.human", "final.zombie"):
        for key in ("zombie.bite_rate", "human.kill_rate"):
            assert df.loc[(out, key), "ST"] > 0.2, (out, key, df)
        night = df.loc[(out, "zombie.night_factor")]
        assert abs(night["ST"]) <= night["ST_conf"] + 1e-9 and abs(night["S1"]) <= 1e-9
    assert sens.runs == 32 * (3 + 2)
    assert list(sens.to_df().columns) == ["output", "key", "S1", "S1_conf", "ST", "ST_conf"]


def test_morris_ranks_the_rates_above_the_night_and_writes_its_folder(tmp_path):
    sens = sensitivity(
        "well-mixed",
        ["zombie.bite_rate=0.2:1", "human.kill_rate=0.2:1", "zombie.night_factor=0.2:1"],
        method="morris",
        samples=6,
        outputs=["final.human"],
        overrides={**MIXED, "outbreak.zombies": 20, "time.night_start_hour": 0.0,
                   "time.night_end_hour": 0.0},
        out=tmp_path / "m",
    )  # fmt: skip
    df = pd.read_parquet(tmp_path / "m" / "sensitivity.parquet").set_index("key")
    assert list(df.columns) == ["output", "mu", "mu_star", "sigma", "mu_star_conf"]
    assert df.loc["zombie.night_factor", "mu_star"] == 0
    assert df.loc["human.kill_rate", "mu_star"] > 10 and df.loc["zombie.bite_rate", "mu_star"] > 10
    assert (tmp_path / "m" / "sensitivity.png").is_file() and sens.runs == 6 * (3 + 1)
    assert "mu_star" in sens._repr_html_() and "final.human: " in repr(sens)
    assert "mu_star" in (tmp_path / "m" / "report.html").read_text()


class Stop(Exception):
    pass


def test_a_killed_calibration_continues_without_losing_or_repeating_a_trial(observed, tmp_path):
    args = dict(
        scenario="well-mixed",
        targets=[f"data={observed}"],
        vary=["zombie.bite_rate=0.05:3:log", "human.kill_rate=0.05:3:log"],
        trials=6,
        seeds_per_trial=2,
        overrides=MIXED,
        out=tmp_path / "cal",
    )
    calls = []

    def stop_in_the_fourth(done, total):
        calls.append(done)
        if done == 3:
            raise Stop  # as a kill would, after the third trial was told

    with pytest.raises(Stop):
        calibrate(**args, progress=stop_in_the_fourth)
    runs_before = len(read_runs(tmp_path / "cal"))
    assert runs_before == 6
    cal = calibrate(**args)
    assert [t["number"] for t in cal.trials] == list(range(6))  # 6 trials, none twice
    assert len({json.dumps(t["params"], sort_keys=True) for t in cal.trials}) == 6
    runs = read_runs(tmp_path / "cal")
    assert len(runs) == 12  # the 6 earlier runs were kept, 6 new ones
    # the folder holds what the issue lists, and best.toml runs as is with the best values
    for name in ("best.toml", "trials.parquet", "calibration.json", "fit.png", "history.png",
                 "report.html", "study.db", "runs.jsonl"):  # fmt: skip
        assert (tmp_path / "cal" / name).is_file(), name
    best = Scenario.load(str(tmp_path / "cal" / "best.toml"))
    assert best.zombie.bite_rate == cal.best["zombie.bite_rate"]
    assert best.human.kill_rate == cal.best["human.kill_rate"]
    df = pd.read_parquet(tmp_path / "cal" / "trials.parquet")
    assert df["trial"].tolist() == list(range(6)) and df["score"].min() == cal.best_score
    summary = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert summary["best"]["values"] == cal.best and summary["runs"] == 12
    assert summary["targets"][0]["hit_rate"] == cal.hits[f"data={observed}"]
    # rerun with more trials: adds them
    more = calibrate(**{**args, "trials": 8})
    assert [t["number"] for t in more.trials] == list(range(8))


def test_a_trial_killed_mid_way_is_tried_again_with_its_values(observed, tmp_path):
    import optuna

    args = dict(
        scenario="well-mixed",
        targets=[f"data={observed}"],
        vary=["zombie.bite_rate=0.05:3:log"],
        trials=3,
        seeds_per_trial=2,
        overrides=MIXED,
        out=tmp_path / "cal",
    )
    calibrate(**{**args, "trials": 1})
    # a trial left running (the process was killed while it ran): asked, never told
    study = optuna.load_study(study_name="seoulfall", storage=f"sqlite:///{tmp_path}/cal/study.db")
    killed = study.ask(
        {"zombie.bite_rate": optuna.distributions.FloatDistribution(0.05, 3, log=True)}
    )
    value = killed.params["zombie.bite_rate"]
    cal = calibrate(**args)
    assert len(cal.trials) == 3
    assert cal.trials[1]["params"]["zombie.bite_rate"] == value  # tried again, first
    states = [t.state.name for t in optuna.load_study(
        study_name="seoulfall", storage=f"sqlite:///{tmp_path}/cal/study.db").trials]  # fmt: skip
    assert states.count("COMPLETE") == 3 and states.count("FAIL") == 1


def test_both_commands_run_on_a_dask_scheduler_and_workers(
    observed, tmp_path, capsys, dask_scheduler
):
    code, out, err = run_cli(
        ["calibrate", "well-mixed", "--target", f"data={observed}", "--vary",
         "zombie.bite_rate=0.05:3:log", "--trials", "3", "--seeds-per-trial", "2",
         "--set", "outbreak.zombies=50", "--days", "0.04", "--scheduler", dask_scheduler,
         "--out", str(tmp_path / "c")],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "3 trials x 2 seeds = 6 runs" in err and "best (trial" in out
    assert len(read_runs(tmp_path / "c")) == 6
    code, out, err = run_cli(
        ["sensitivity", "well-mixed", "--vary", "zombie.bite_rate=0.2:1", "--vary",
         "human.kill_rate=0.2:1", "--method", "morris", "--samples", "2", "--outputs",
         "final.human", "--set", "outbreak.zombies=20", "--days", "0.04",
         "--scheduler", dask_scheduler, "--out", str(tmp_path / "s")],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "morris, 6 points x 1 seed(s) = 6 runs" in err and "final.human (mu_star)" in out
    assert len(read_runs(tmp_path / "s")) == 6


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--target", "fall_day=5", "--vary", "zombie.bite_rate=1:0.5"], "LO must be below HI"),
        (["--target", "fall_day=5", "--vary", "zombie.bite_rat=0.1:1"], "did you mean"),
        (["--target", "fall_day=5", "--vary", "outbreak.district=0:1"], "not a number"),
        (["--target", "fall_day=5", "--vary", "zombie.bite_rate=0:1:log"], "log range"),
        (["--target", "fall_dy=5", "--vary", "zombie.bite_rate=0.1:1"], "unknown output"),
        (["--target", "fall_day.Atlantis=2", "--vary", "zombie.bite_rate=0.1:1"], "Atlantis"),
        (["--target", "last_standing=Atlantis", "--vary", "zombie.bite_rate=0.1:1"],
         "Atlantis"),
        (["--target", "cast.Nobody=survived", "--vary", "zombie.bite_rate=0.1:1"], "Nobody"),
        (["--target", "cast.On-jo=happy", "--vary", "zombie.bite_rate=0.1:1"], "survived"),
        (["--target", "fall_day=50", "--vary", "zombie.bite_rate=0.1:1"], "cannot happen"),
        (["--target", "fall_day=5:tol=-1", "--vary", "zombie.bite_rate=0.1:1"], "above 0"),
        (["--target", "data=missing.csv", "--vary", "zombie.bite_rate=0.1:1"], "cannot read"),
        (["--target", "fall_day=5"], "at least one"),
    ],
)  # fmt: skip
def test_bad_calibrations_exit_2_in_one_line_before_any_run(args, needle, tmp_path, capsys):
    out = tmp_path / "c"
    code, _, err = run_cli(["calibrate", "--days", "14", *args, "--out", str(out)], capsys)
    assert code == 2 and needle in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("day,human\n0,abc\n", "not a number"),
        ("day,ghosts\n0,1\n", "'ghosts' is not a state"),
        ("time,human\n0,1\n", "no 'day' column"),
        ("day,human\n0,1,2\n", "3 values for 2 columns"),
        ("day,human\n0,-4\n", "must be a count"),
        ("day,human\n30,4\n", "past the run's end"),
        ("day,human\n", "expected a header"),
        (b"\xff\xfe\x00", "cannot read"),
    ],
)
def test_a_malformed_data_file_is_refused_in_one_line(text, needle, tmp_path, capsys):
    path = tmp_path / "obs.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    code, _, err = run_cli(
        ["calibrate", "well-mixed", "--target", f"data={path}", "--vary",
         "zombie.bite_rate=0.1:1", "--out", str(tmp_path / "c")],
        capsys,
    )  # fmt: skip
    assert code == 2 and needle in err and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--method", "fast"], "expected one of sobol, morris"),
        (["--samples", "20"], "power of 2"),
        (["--outputs", "final.ghost"], "unknown output"),
    ],
)
def test_bad_sensitivity_studies_exit_2_in_one_line(args, needle, tmp_path, capsys):
    code, _, err = run_cli(
        ["sensitivity", "well-mixed", "--vary", "zombie.bite_rate=0.1:1", *args,
         "--out", str(tmp_path / "s")],
        capsys,
    )  # fmt: skip
    assert code == 2 and needle in err and err.count("\n") == 1, err
    assert not (tmp_path / "s").exists()


def test_a_folder_of_another_or_a_damaged_study_is_refused_and_kept(observed, tmp_path, capsys):
    base = ["calibrate", "well-mixed", "--target", f"data={observed}", "--trials", "1",
            "--seeds-per-trial", "1", "--set", "outbreak.zombies=50", "--days", "0.04",
            "--workers", "1", "--quiet", "--out", str(tmp_path / "c")]  # fmt: skip
    code, _, err = run_cli([*base, "--vary", "zombie.bite_rate=0.05:3"], capsys)
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in (tmp_path / "c").iterdir()}
    code, _, err = run_cli([*base, "--vary", "zombie.bite_rate=0.1:3"], capsys)
    assert code == 2 and "other arguments" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "c").iterdir()} == before
    # a damaged study: refused in one line, nothing rewritten
    (tmp_path / "c" / "study.db").write_bytes(b"not a database" * 100)
    before = {p.name: p.read_bytes() for p in (tmp_path / "c").iterdir()}
    code, _, err = run_cli([*base, "--vary", "zombie.bite_rate=0.05:3"], capsys)
    assert code == 2 and "study.db: cannot read the study" in err and err.count("\n") == 1, err
    assert {p.name: p.read_bytes() for p in (tmp_path / "c").iterdir()} == before
