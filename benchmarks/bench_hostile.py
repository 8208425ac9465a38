"""The hostile-input suite at nightly size (not a unit test).

Usage: python benchmarks/bench_hostile.py [--scenarios 300] [--folders 200] [--checkpoints 200]
                                          [--kills 12] [--out benchmarks/results]

Runs tests/hostile.py's generated cases (scenario files, folder states, edited checkpoints)
and kills a real run at random moments (SIGKILL, then ``--resume``), prints a table of how
many cases of each kind ran and how they ended (ok, refused in one line, BROKEN), and writes
bench_hostile.json. Exit status 1 if any case was BROKEN.
"""

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import hostile  # noqa: E402


def generated(strategy, n, case, seed):
    """Run ``case(example, tmp)`` on ``n`` generated examples; a Counter of verdicts."""
    counts, broken = Counter(), []

    @settings(max_examples=n, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def each(example):
        with tempfile.TemporaryDirectory() as tmp:
            v = case(example, Path(tmp))
        counts[v.split(":")[0]] += 1
        if v.startswith("BROKEN"):
            broken.append((v, repr(example)[:300]))

    random.seed(seed)
    each()
    return counts, broken


def kills(n, seed):
    """SIGKILL a checkpointed Seoul run at random moments, resume, compare with an unbroken run."""
    rng = random.Random(seed)
    args = ["--scale", "0.002", "--days", "1", "--quiet", "--checkpoint-every", "30"]
    counts, broken = Counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ref = tmp / "ref"
        subprocess.run([sys.executable, "-m", "seoulfall.cli", "run", "--out", str(ref), *args],
                       check=True)  # fmt: skip
        for k in range(n):
            folder = tmp / f"k{k}"
            p = subprocess.Popen([sys.executable, "-m", "seoulfall.cli", "run", "--out",
                                  str(folder), *args])  # fmt: skip
            time.sleep(rng.uniform(2.0, 25.0))
            p.send_signal(signal.SIGKILL)
            p.wait()
            r = subprocess.run([sys.executable, "-m", "seoulfall.cli", "run", "--out",
                                str(folder), "--resume", *args], capture_output=True,
                               text=True)  # fmt: skip
            same = r.returncode == 0 and all(
                (ref / name).read_bytes() == (folder / name).read_bytes()
                for name in ("timeseries.parquet", "districts.parquet", "events.jsonl",
                             "cast.jsonl", "snapshots.npz", "outbreak.mp4", "report.html")
                if name != "report.html"
            ) and (folder / "report.html").is_file()  # fmt: skip
            v = "ok" if same else f"BROKEN: exit {r.returncode} {r.stderr[-200:]}"
            counts[v.split(":")[0]] += 1
            if not same:
                broken.append((v, f"kill {k}"))
            shutil.rmtree(folder)
    return counts, broken


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scenarios", type=int, default=300)
    ap.add_argument("--folders", type=int, default=200)
    ap.add_argument("--checkpoints", type=int, default=200)
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    results = {}
    t0 = time.perf_counter()
    results["scenario files"] = generated(
        hostile.scenario_texts(), args.scenarios, hostile.scenario_case, args.seed
    )
    results["folder states"] = generated(
        hostile.folder_states(), args.folders, hostile.folder_case, args.seed
    )
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "r"
        code, _, err = hostile.run(["run", *hostile.SEOUL, "--out", str(template)])
        assert code == 0, err
        for p in template.iterdir():
            if p.name != "checkpoints":
                p.unlink() if p.is_file() else shutil.rmtree(p)
        results["checkpoint edits"] = generated(
            hostile.checkpoint_edits(),
            args.checkpoints,
            lambda edit, t: hostile.checkpoint_case(edit, template, t),
            args.seed,
        )
    results["kill -9 points"] = kills(args.kills, args.seed)
    print(f"{'kind':<20}{'cases':>7}{'ok':>7}{'refused':>9}{'BROKEN':>8}")
    table = {}
    for kind, (counts, broken) in results.items():
        n = sum(counts.values())
        print(f"{kind:<20}{n:>7}{counts['ok']:>7}{counts['refused']:>9}{counts['BROKEN']:>8}")
        for v, example in broken[:5]:
            print(f"    {v}\n      {example}")
        table[kind] = {"cases": n, **counts, "broken_examples": broken[:20]}
    print(f"{time.perf_counter() - t0:.0f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_hostile.json").write_text(json.dumps(table, indent=2) + "\n")
    return 1 if any(c["BROKEN"] for c, _ in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
