"""Checkpoints: the complete state of a run between two steps, to resume it bit for bit.

Format (version 1), in ``DIR/checkpoints/``, no pickle:

- ``ckpt-<step, 9 digits>.npz``: NumPy arrays: the agents (``cell``, ``state``, ``timer``,
  ``aid``), the per-cell counts (``cnt``, with the last step's attacks and fights), the
  noise of fights (``fn``, ``noise_region``), the evacuation distances (``fv``), the
  guarded lines (``zk``), the neighbour table as events left it (``nbr``), the parameter
  vectors (``P``, ``P_night``), the cast's last states and cells, the recorded rows so far
  (``rec_steps``, ``rec_counts``), the snapshots so far (``snap_t``, ``snap_counts``), and
  ``meta``: a JSON string with the step, the sound sources, the playbook's cursor (events
  not yet fired, lure zones, records), the cast's records and the seconds spent stepping.
- ``ckpt-<step>.json``: ``{"format": "seoulfall-checkpoint", "version": 1, "step": ...,
  "scenario_sha256": ..., "sha256": <of the .npz bytes>}``, written after the ``.npz``:
  a checkpoint without it, or whose bytes do not match, is not a checkpoint.

The random numbers are counter-based (keyed by seed, stream, step and agent), so the step
number is the generator's whole position.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from seoulfall.atomic import atomic_write_bytes, atomic_write_text
from seoulfall.engine import kernels as K

FORMAT = "seoulfall-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line for users."""


def scenario_sha(scenario) -> str:
    """Fingerprint of a resolved scenario (its TOML text)."""
    return hashlib.sha256(scenario.to_toml().encode()).hexdigest()


def save(sim, state, folder: Path) -> Path:
    """Write a checkpoint of ``sim`` after ``state.step`` steps into ``folder``."""
    st, a, book = sim.stepper, sim.agents, sim.playbook
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "step": state.step,
        "stepping": state.stepping,
        "n_active": st.n_active,
        "sources": st.sources,
        "pending": [i for i, *_ in book.pending],
        "lure_zone": book.lure_zone,
        "records": book.records,
        "cast_records": st.cast_records,
    }
    frames = state.snaps.frames
    arrays = {
        "cell": a.cell,
        "state": a.state,
        "timer": a.timer,
        "aid": a.aid,
        "cnt": st.cnt,
        "fn": st.fn,
        "noise_region": st.noise_region,
        "fv": st.fv,
        "zk": st.zk,
        "nbr": sim.nbr,
        "P": st.P,
        "P_night": st.P_night,
        "cast_state": st.cast_state,
        "cast_cell": st.cast_cell,
        "rec_steps": np.asarray(state.times, np.int64),
        "rec_counts": np.stack(state.records),
        "snap_t": np.asarray(state.snaps.t_min, float),
        "snap_counts": np.stack(frames) if frames else np.zeros((0, 6, 0), np.uint16),
        "evac_zone": getattr(book, "evac_zone", np.zeros(0, bool)),
        "meta": np.array(json.dumps(meta)),
    }
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    name = f"ckpt-{state.step:09d}"
    atomic_write_bytes(folder / f"{name}.npz", data)
    atomic_write_text(
        folder / f"{name}.json",
        json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "step": state.step,
                "scenario_sha256": scenario_sha(sim.scenario),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        ),
    )
    return folder / f"{name}.npz"


def newest(folder: Path) -> Path | None:
    """The newest checkpoint's ``.json`` in ``folder`` (None if there is none)."""
    if not folder.is_dir():
        return None
    found = sorted(folder.glob("ckpt-*.json"))
    return found[-1] if found else None


def restore(sim, path: Path):
    """Load the checkpoint ``path`` (its ``.json``) into ``sim``; return the run state.

    Raises
    ------
    CheckpointError
        If the checkpoint is damaged, of another version, or of another scenario.
    """
    from seoulfall.simulation import RunState
    from seoulfall.snapshots import Recorder

    try:
        head = json.loads(path.read_text(encoding="utf-8"))
        data = path.with_suffix(".npz").read_bytes()
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path.name}: unreadable ({exc.__class__.__name__})"
        ) from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path.name}: not a seoulfall checkpoint")
    if head.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path.name}: version {head.get('version')}, this seoulfall reads {VERSION}"
        )
    if hashlib.sha256(data).hexdigest() != head.get("sha256"):
        raise CheckpointError(f"checkpoint {path.name}: corrupted (checksum mismatch)")
    if head.get("scenario_sha256") != scenario_sha(sim.scenario):
        raise CheckpointError(
            f"checkpoint {path.name}: written by another scenario or seed; resume with the "
            "same scenario, or run without --resume"
        )
    try:
        z = np.load(io.BytesIO(data), allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        arrays = {k: z[k] for k in z.files if k != "meta"}
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path.name}: unreadable ({exc})") from None
    st, a, book = sim.stepper, sim.agents, sim.playbook
    if arrays["cell"].shape != a.cell.shape or arrays["cnt"].shape != st.cnt.shape:
        raise CheckpointError(f"checkpoint {path.name}: does not fit this run's agents or map")
    for name in ("cell", "state", "timer", "aid"):
        getattr(a, name)[:] = arrays[name]
    st.cnt[:] = arrays["cnt"]
    st.fn[:] = arrays["fn"]
    st.noise_region[:] = arrays["noise_region"]
    st.fv[:] = arrays["fv"]
    st.zk[:] = arrays["zk"]
    sim.nbr[:] = arrays["nbr"]
    st.P[:] = arrays["P"]
    st.P_night[:] = arrays["P_night"]
    st.cast_state[:] = arrays["cast_state"]
    st.cast_cell[:] = arrays["cast_cell"]
    st.n_active = int(meta["n_active"])
    st.sources = [tuple(s) for s in meta["sources"]]
    st._active = ()
    st.cast_records = [tuple(r) for r in meta["cast_records"]]
    K.threat_bbox(st.cnt, st.nx, st.bbox)
    st.totals[:] = st.cnt[:, : K.NLIVING].sum(axis=0)
    keep = set(meta["pending"])
    book.pending = [item for item in book.pending if item[0] in keep]
    book.lure_zone = {k: (int(v[0]), float(v[1])) for k, v in meta["lure_zone"].items()}
    book.records = meta["records"]
    if arrays["evac_zone"].size:
        book.evac_zone = arrays["evac_zone"]
    snaps = Recorder(sim.world.passable)
    snaps.t_min = [float(t) for t in arrays["snap_t"]]
    snaps.frames = list(arrays["snap_counts"])
    return RunState(
        step=int(meta["step"]),
        times=[int(t) for t in arrays["rec_steps"]],
        records=list(arrays["rec_counts"]),
        snaps=snaps,
        stepping=float(meta["stepping"]),
    )
