"""Ensembles: serial, on a LocalCluster and on a separate scheduler and workers, alike."""

import json
import sys
import time

import numpy as np
import pandas as pd
import pytest
from test_cli import run_cli

from seoulfall import ensemble
from seoulfall.sweep import read_runs

SMALL = {"population.scale": 0.001, "time.days": 0.5}


def strip(records):
    """Records without their timing, keyed by (combination, seed)."""
    out = {}
    for r in records:
        r = dict(r)
        r.pop("seconds")
        out[json.dumps([r["vary"], r["seed"]], sort_keys=True)] = r
    return out


@pytest.fixture(scope="module")
def serial():
    return ensemble("seoul-falls", seeds=3, vary={"zombie.bite_rate": [0.1, 0.3]}, overrides=SMALL)


def test_serial_ensemble_table_and_summary(serial):
    t = serial.table
    assert len(t) == 6 and sorted(set(t["seed"])) == [0, 1, 2]
    for col in ("zombie.bite_rate", "final_human", "final_zombie", "final_evolved", "fall_day"):
        assert col in t.columns, col
    assert {"peak_zombies", "peak_day", "fall_day_11680", "cast_Nam-ra"} <= set(t.columns)
    agents = t[[c for c in t.columns if c.startswith("final_")]].sum(axis=1)
    assert (agents == agents.iloc[0]).all()  # conservation in every run
    s = serial.summary
    assert s["runs"] == 6 and len(s["combinations"]) == 2
    assert set(s["cast"]) == {
        "On-jo", "Cheong-san", "Nam-ra", "Su-hyeok", "Dae-su", "Ha-ri", "Hyo-ryung", "Mi-jin"
    }  # fmt: skip
    for name, p in s["cast"].items():
        states = t[f"cast_{name}"]
        want = states.isin(["human", "infected", "hybrid", "evacuated", "reserve", "fled"]).mean()
        assert p == pytest.approx(want), name
    c = s["combinations"][0]
    assert set(c["quantiles"]["fall_day"]) >= {"q05", "q50", "q95"}
    assert all(0 <= v <= 1 for v in c["p_fall_by_day"].values())
    assert len(c["districts"]) == 25 and set(c["cast"]) == set(s["cast"])
    assert sum(d["p_last"] for d in c["districts"].values()) == pytest.approx(1.0)


def test_local_cluster_gives_the_serial_results(serial):
    on_cluster = ensemble(
        "seoul-falls",
        seeds=3,
        vary={"zombie.bite_rate": [0.1, 0.3]},
        overrides=SMALL,
        workers=2,
    )
    assert strip(on_cluster.records) == strip(serial.records)
    pd.testing.assert_frame_equal(on_cluster.table, serial.table)


def test_a_separate_scheduler_and_workers_give_the_serial_results(serial, dask_scheduler):
    from dask.distributed import Client

    client = Client(dask_scheduler, timeout=30)
    try:
        client.wait_for_workers(2, timeout=60)
        remote = ensemble(
            "seoul-falls",
            seeds=3,
            vary={"zombie.bite_rate": [0.1, 0.3]},
            overrides=SMALL,
            client=client,
        )
        who = {w["host"] for w in client.scheduler_info()["workers"].values()}
    finally:
        client.close()
    assert who == {"127.0.0.1"}
    assert strip(remote.records) == strip(serial.records)


def test_humans_win_with_alemis_odds_alpha_to_the_z0():
    # one zombie, alpha = kappa / beta = 0.8 (the bundled well-mixed world): P = 0.8 ** 1
    n = 400
    ens = ensemble("well-mixed", seeds=n, days=0.1, workers=2)
    final = ens.table
    won = (final["final_zombie"] == 0) & (final["final_infected"] == 0)
    assert ((final["final_human"] == 0) | won).all()  # every epidemic ended in 2.4 h
    p = won.mean()
    sd = np.sqrt(0.8 * 0.2 / n)  # 0.02
    assert abs(p - 0.8) < 3 * sd, p


def test_an_interrupted_sweep_skips_the_runs_already_done(tmp_path, monkeypatch):
    ens_mod = sys.modules["seoulfall.sweep"]

    out = tmp_path / "sweep"
    first = ensemble("well-mixed", seeds=4, days=0.05, out=out)
    lines = (out / "runs.jsonl").read_text().splitlines()
    # a crash after two runs, the third line half written
    (out / "runs.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    calls = []
    real = ens_mod.run_one
    monkeypatch.setattr(ens_mod, "run_one", lambda *a: calls.append(a[2]) or real(*a))
    again = ensemble("well-mixed", seeds=4, days=0.05, out=out)
    assert sorted(calls) == [2, 3]  # nothing lost, nothing repeated
    assert strip(again.records) == strip(first.records)
    assert len(read_runs(out)) == 4


def test_sweep_command_writes_the_odds(tmp_path, capsys):
    out = tmp_path / "s"
    args = [
        "sweep", "well-mixed", "--seeds", "4", "--days", "0.05",
        "--vary", "zombie.bite_rate=1.0,2.0", "--workers", "1", "--out", str(out),
    ]  # fmt: skip
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    for name in ("ensemble.parquet", "ensemble_summary.json", "report.html", "p_fall.png"):
        assert (out / name).stat().st_size > 0, name
    t = pd.read_parquet(out / "ensemble.parquet")
    assert len(t) == 8 and sorted(set(t["zombie.bite_rate"])) == [1.0, 2.0]
    assert "P(falls)" in stdout and "zombie.bite_rate=2.0" in stdout
    # the same arguments again: all done, nothing rerun; other arguments: refused
    t0 = time.perf_counter()
    code, _, err = run_cli(args, capsys)
    assert code == 0 and time.perf_counter() - t0 < 30
    code, _, err = run_cli([*args[:-2], "--seeds", "5", "--out", str(out)], capsys)
    assert code == 2 and "other arguments" in err


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--vary", "zombie.bite_rate"], "expected KEY=V1,V2"),
        (["--vary", "zombie.bite_rate=-1"], "zombie.bite_rate"),
        (["--workers", "1", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
        (["--scheduler", "tcp://127.0.0.1:9"], "cannot connect"),
    ],
)
def test_bad_sweeps_exit_2_in_one_line(tmp_path, capsys, extra, needle):
    import gc

    from dask.distributed import Client

    def clients():
        return {id(o) for o in gc.get_objects() if isinstance(o, Client)}

    before = clients()  # (other tests' closed clients may live on)
    code, _, err = run_cli(
        ["sweep", "well-mixed", "--seeds", "1", "--out", str(tmp_path / "x"), *extra], capsys
    )
    assert code == 2 and needle in err and err.count("\n") == 1
    # no half-made client is left for a later collection: collected inside a local cluster's
    # start, its __del__ deadlocked that start (a sweep in the same process hung in CI)
    assert clients() <= before


def test_district_odds_say_never_and_last_to_fall_per_combination(serial, tmp_path):
    from seoulfall.report import write_ensemble_outputs

    for c in serial.summary["combinations"]:
        recs = [r for r in serial.records if r["vary"] == c["vary"]]
        for code, d in c["districts"].items():
            never = np.mean([r["districts"][code][1] is None for r in recs])
            assert d["p_never"] == pytest.approx(never) == pytest.approx(1 - d["p_fall"])
        # among runs where something fell, the last to fall is shared out exactly once
        some = np.mean([any(v[1] is not None for v in r["districts"].values()) for r in recs])
        total = sum(d["p_last_to_fall"] for d in c["districts"].values())
        assert total == pytest.approx(some)
    write_ensemble_outputs(serial, tmp_path)
    page = (tmp_path / "report.html").read_text()
    for c in serial.summary["combinations"]:  # a district table for each combination
        label = ", ".join(f"{k} = {v}" for k, v in c["vary"].items())
        assert f"Districts ({label})" in page
    assert "P(never falls)" in page and "P(falls last or never)" not in page


def test_the_cli_gives_each_combinations_cast_odds_and_one_column_for_one(tmp_path, capsys):
    from test_cli import run_cli

    out = tmp_path / "s"
    args = ["sweep", "seoul-falls", "--seeds", "2", "--scale", "0.0005", "--days", "0.2",
            "--vary", "zombie.bite_rate=0.1,0.3", "--workers", "1", "--out", str(out)]  # fmt: skip
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    assert stdout.count("cast survival:") == 2  # one line per combination, none pooled
    out1 = tmp_path / "one"
    code, _, err = run_cli([*args[:-6], "--workers", "1", "--out", str(out1)], capsys)
    assert code == 0, err
    page = (out1 / "report.html").read_text()
    cast = page.split("The cast's odds")[1].split("</table>")[0]
    assert cast.count("<th>") == 2  # character, P(survives): no repeated column
