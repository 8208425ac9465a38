"""Generated hostile inputs and the one rule every outcome must follow.

Each case is run through the command line in this process (``seoulfall.cli.main``) and
classified: ``ok`` (exit 0, outputs complete), ``refused`` (exit 2 with exactly one line
``seoulfall: error: ...``) or ``BROKEN`` (anything else: exit 1, a traceback, a second line,
a foreign file changed, a "success" without its outputs). ``tests/test_hostile.py`` runs a
few dozen cases of each kind within CI's budget; ``benchmarks/bench_hostile.py`` runs the
nightly-sized version and prints how many of each kind ran and how each ended.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from seoulfall.cli import main
from seoulfall.runfolder import OWN

#: A run that takes a second: the well-mixed world, 300 agents, 72 steps.
QUICK = ["--set", "population.agents=300", "--days", "0.05", "--quiet"]
#: Seoul at 1/2000 (about 4,800 agents) for 0.1 days, a checkpoint every 30 min.
SEOUL = ["--scale", "0.0005", "--days", "0.1", "--quiet", "--checkpoint-every", "30"]


def run(args: list[str]) -> tuple[int, str, str]:
    """``seoulfall ARGS`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def verdict(code: int, err: str, folder: Path | None = None) -> str:
    """``ok``, ``refused`` or ``BROKEN: why``."""
    if "Traceback" in err:
        return "BROKEN: traceback"
    if code == 2:
        lines = err.splitlines()
        if len(lines) == 1 and lines[0].startswith("seoulfall: error: "):
            return "refused"
        return f"BROKEN: refusal of {len(lines)} lines"
    if code == 0:
        if folder is not None and not (folder / "summary.json").is_file():
            return "BROKEN: success without summary.json"
        return "ok"
    return f"BROKEN: exit {code}: {err.strip()[-200:]}"


# -- scenario files ---------------------------------------------------------------------------
KEYS = {
    "world": ["map", "cell_m", "size"],
    "time": ["days", "dt_min", "start", "night_start_hour"],
    "population": ["scale", "agents"],
    "outbreak": ["zombies", "district", "cell"],
    "zombie": ["bite_rate", "speed_mps", "evolve_rate_per_day"],
    "human": ["kill_rate", "shelter_probability"],
    "infection": ["hybrid_probability", "turn_median_min"],
    "output": ["every_min", "snapshot_every_min"],
    "bogus": ["key"],
}
VALUES = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -0.0, 5e-324, 0.001, 1.0, 2.5]),
    st.text(max_size=20),
    st.booleans(),
    st.lists(st.integers(-3, 300), max_size=4),
    st.sampled_from(["well-mixed", "lattice", "seoul", "Mapo-gu", "$x$", "../x", "\u2028"]),
)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return {float("inf"): "inf", float("-inf"): "-inf"}.get(v, "nan" if v != v else repr(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return str(v)


@st.composite
def scenario_texts(draw) -> bytes:
    """A scenario file: mostly well-formed TOML over real keys with hostile values, some
    garbage bytes, some deep nesting, some names full of markup."""
    kind = draw(st.sampled_from(["keys", "keys", "keys", "bytes", "nesting", "name"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "nesting":
        depth = draw(st.integers(1, 3000))
        return ("x = " + "[" * depth + "]" * depth).encode()
    lines = ['[world]\nmap = "well-mixed"']
    if kind == "name":
        lines.insert(0, f"name = {json.dumps(draw(st.text(max_size=60)))}")
    for table in draw(st.lists(st.sampled_from(list(KEYS)), max_size=4, unique=True)):
        if table == "world":
            continue
        lines.append(f"[{table}]")
        for key in draw(st.lists(st.sampled_from(KEYS[table]), min_size=1, unique=True)):
            lines.append(f"{key} = {_toml_value(draw(VALUES))}")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def scenario_case(text: bytes, tmp: Path) -> str:
    """Run a generated scenario file for a moment; the verdict."""
    path = tmp / "s.toml"
    path.write_bytes(text)
    out = tmp / "out"
    code, _, err = run(["run", str(path), *QUICK, "--out", str(out)])
    return verdict(code, err, out)


# -- folder states -------------------------------------------------------------------------------
FOREIGN = ["notes.txt", ".draft.tmp", "data.csv", "sub"]


@st.composite
def folder_states(draw):
    """Names to create in a folder before a run, and the run's flags."""
    own = draw(st.lists(st.sampled_from([n for n in OWN if n != ".seoulfall.lock"]), max_size=4))
    foreign = draw(st.lists(st.sampled_from(FOREIGN), max_size=2, unique=True))
    temps = draw(st.lists(st.sampled_from([".report.html.x1.tmp", ".summary.json.q.tmp"]),
                          max_size=2, unique=True))  # fmt: skip
    manifest = draw(st.sampled_from([None, "garbage", "running", "complete"]))
    flags = draw(st.lists(st.sampled_from(["--force", "--resume"]), max_size=2, unique=True))
    return sorted(set(own)), foreign, temps, manifest, flags


def folder_case(state, tmp: Path) -> str:
    """Run into a folder made in ``state``; foreign files must come through unchanged."""
    own, foreign, temps, manifest, flags = state
    folder = tmp / "f"
    folder.mkdir()
    for name in own:
        if name == "checkpoints":
            (folder / name).mkdir()
        elif name != ".seoulfall.json":
            (folder / name).write_text(f"old {name}")
    for name in foreign:
        if name == "sub":
            (folder / name).mkdir()
            (folder / name / "x").write_text("theirs")
        else:
            (folder / name).write_text(f"theirs: {name}")
    for name in temps:
        (folder / name).write_text("half")
    if manifest == "garbage":
        (folder / ".seoulfall.json").write_text("{not json")
    elif manifest:
        (folder / ".seoulfall.json").write_text(json.dumps(
            {"format": "seoulfall-run", "version": 1, "state": manifest, "scenario_sha256": "0"}
        ))  # fmt: skip
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    theirs = {p: b for p, b in before.items() if p.relative_to(folder).parts[0] in FOREIGN}
    code, _, err = run(["run", "well-mixed", *QUICK, "--out", str(folder), *flags])
    v = verdict(code, err, folder)
    for p, b in theirs.items():
        if not p.is_file() or p.read_bytes() != b:
            return f"BROKEN: {p.name} changed"
    if v == "refused" and {p: p.read_bytes() for p in before if p.is_file()} != before:
        return "BROKEN: a refused run changed the folder"
    return v


# -- checkpoints ---------------------------------------------------------------------------------
def forge(base: Path, mutate) -> None:
    """Apply ``mutate(arrays, meta)`` to a checkpoint and re-sign its header."""
    with np.load(base.with_suffix(".npz"), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    mutate(arrays, meta)
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
    data = buf.getvalue()
    base.with_suffix(".npz").write_bytes(data)
    head = json.loads(base.with_suffix(".json").read_text())
    head["sha256"] = hashlib.sha256(data).hexdigest()
    base.with_suffix(".json").write_text(json.dumps(head))


@st.composite
def checkpoint_edits(draw):
    """One edit: an array's element set to a drawn value, or a meta key to a drawn value."""
    if draw(st.booleans()):
        name = draw(st.sampled_from(["cell", "state", "timer", "aid", "cnt", "fn", "fv", "zk",
                                     "nbr", "P", "P_night", "rec_counts", "snap_t",
                                     "cast_state", "cast_cell", "noise_region"]))  # fmt: skip
        where = draw(st.integers(0, 10**9))
        value = draw(st.one_of(st.integers(-(2**31), 2**31 - 1), st.floats(), st.just(0)))
        return ("array", name, where, value)
    key = draw(st.sampled_from(["step", "n_active", "stepping", "sources", "pending",
                                "lure_zone", "records", "cast_records"]))  # fmt: skip
    value = draw(st.one_of(st.integers(-(10**12), 10**12), st.floats(), st.text(max_size=5),
                           st.lists(st.integers(-5, 10**6), max_size=5), st.none()))  # fmt: skip
    return ("meta", key, None, value)


def checkpoint_case(edit, template: Path, tmp: Path) -> str:
    """Resume a copy of ``template`` (a folder of checkpoints) after one edit."""
    folder = tmp / "c"
    shutil.copytree(template, folder)
    base = sorted((folder / "checkpoints").glob("ckpt-*.json"))[-1].with_suffix("")
    kind, name, where, value = edit

    def mutate(arrays, meta):
        if kind == "meta":
            meta[name] = value
            return
        a = arrays[name].reshape(-1)
        if a.size:
            with np.errstate(all="ignore"):
                a[where % a.size] = np.asarray(value).astype(a.dtype)

    forge(base, mutate)
    code, _, err = run(["run", *SEOUL, "--out", str(folder), "--resume"])
    return verdict(code, err, folder)
