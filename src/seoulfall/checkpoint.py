"""Checkpoints: the complete state of a run between two steps, to resume it bit for bit.

Format (version 2), in ``DIR/checkpoints/``, no pickle:

- ``ckpt-<step, 9 digits>.npz``: NumPy arrays: the agents (``cell``, ``state``, ``timer``,
  ``aid``), the per-cell counts (``cnt``, with the last step's attacks and fights), the
  noise of fights (``fn``, ``noise_region``), the evacuation distances (``fv``), the
  guarded lines (``zk``), the neighbour table as events left it (``nbr``), the parameter
  vectors (``P``, ``P_night``), the cast's last states and cells, the recorded rows so far
  (``rec_steps``, ``rec_counts``), the times of the snapshots so far (``snap_t``), and
  ``meta``: a JSON string with the step, the sound sources, the playbook's cursor (events
  not yet fired, lure zones, records), the cast's records, the seconds spent stepping, and
  the snapshot frames taken so far with the SHA-256 of their bytes (``snap_frames``,
  ``snap_sha256``).
- ``snapshots.u16``: the map snapshots themselves, appended as they are taken
  (``snapshots.Recorder``); each checkpoint names how many frames of it are its own, and a
  resume checks them and cuts off later ones. (Version 1 stored every snapshot in every
  checkpoint; it is refused.)
- ``ckpt-<step>.json``: ``{"format": "seoulfall-checkpoint", "version": 2, "step": ...,
  "scenario_sha256": ..., "sha256": <of the .npz bytes>}``, written after the ``.npz``:
  a checkpoint without it, or whose bytes do not match, is not a checkpoint.

The random numbers are counter-based (keyed by seed, stream, step and agent), so the step
number is the generator's whole position.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np

from seoulfall import safeload
from seoulfall.atomic import atomic_write_bytes, atomic_write_text
from seoulfall.engine import kernels as K

FORMAT = "seoulfall-checkpoint"
VERSION = 2


#: The arrays of a checkpoint's archive, every one of them, nothing else.
ARRAYS = (
    "cell", "state", "timer", "aid", "cnt", "fn", "noise_region", "fv", "zk", "nbr", "P",
    "P_night", "cast_state", "cast_cell", "rec_steps", "rec_counts", "snap_t", "evac_zone",
    "meta",
)  # fmt: skip
#: Checkpoints kept in a folder: older ones are deleted as each new one is written.
KEEP = 3


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line for users."""


def scenario_sha(scenario) -> str:
    """Fingerprint of a resolved scenario (:meth:`Scenario.fingerprint`: engine knobs aside)."""
    return scenario.fingerprint()


def save(sim, state, folder: Path, keep: int = KEEP) -> Path:
    """Write a checkpoint of ``sim`` after ``state.step`` steps into ``folder``.

    Then only the ``keep`` newest checkpoints are kept (0: every one).
    """
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
    meta["snap_frames"], meta["snap_sha256"] = state.snaps.position()
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
        "evac_zone": np.zeros(0, bool) if book.evac_zone is None else book.evac_zone,
        "meta": np.array(json.dumps(meta)),
    }
    assert tuple(arrays) == ARRAYS
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
    if keep:
        prune(folder, keep)
    return folder / f"{name}.npz"


def newest(folder: Path) -> Path | None:
    """The newest checkpoint's ``.json`` in ``folder`` (None if there is none)."""
    if not folder.is_dir():
        return None
    found = sorted(folder.glob("ckpt-" + "[0-9]" * 9 + ".json"))
    return found[-1] if found else None


def prune(folder: Path, keep: int = KEEP) -> None:
    """Delete all but the ``keep`` newest checkpoints in ``folder`` (seoulfall's files only)."""
    found = sorted(folder.glob("ckpt-" + "[0-9]" * 9 + ".json"))
    for head in found[:-keep]:
        head.unlink(missing_ok=True)  # the header first: a checkpoint without it is none
        head.with_suffix(".npz").unlink(missing_ok=True)


def restore(sim, path: Path, spool: Path):
    """Load the checkpoint ``path`` (its ``.json``) into ``sim``; return the run state.

    Everything the checkpoint brings back is checked before any of it reaches a kernel:
    the header, the archive's checksum and unpacked size, every array's name, dtype and
    shape, the value ranges (cells on the map, agents' states where they stand, counts
    equal to a recount of the agents, the step within the run), and the JSON fields.

    Raises
    ------
    CheckpointError
        If the checkpoint is damaged, edited, of another version, or of another scenario.
    """
    try:
        return _restore(sim, path, spool)
    except safeload.DamagedFile as exc:
        raise CheckpointError(str(exc)) from None


def _restore(sim, path: Path, spool: Path):
    from seoulfall.playbook.runner import bfs_distance
    from seoulfall.simulation import RunState
    from seoulfall.snapshots import Recorder

    what = f"checkpoint {path.name}"
    try:
        head = json.loads(safeload.read_text(path, what, limit=1 << 16))
        st_npz = path.with_suffix(".npz").stat()
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{what}: unreadable ({exc.__class__.__name__})") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise CheckpointError(f"{what}: not a seoulfall checkpoint")
    if head.get("version") != VERSION:
        raise CheckpointError(
            f"{what}: version {head.get('version')!r}, this seoulfall reads {VERSION}"
        )
    st, a, book = sim.stepper, sim.agents, sim.playbook
    ncells, n, nsteps = st.cnt.shape[0], a.n, sim.nsteps
    nframes = nsteps // sim.snapshot_every + 2
    nrec = nsteps // sim.record_every + 2
    bound = (
        n * 13 + st.cnt.nbytes + sim.nbr.nbytes + ncells * 64
        + nframes * 8
        + nrec * sim.tally().nbytes + (1 << 24)
    )  # fmt: skip
    if st_npz.st_size > 2 * bound:
        raise CheckpointError(f"{what}: {st_npz.st_size:,} bytes, far more than this run's")
    data = path.with_suffix(".npz").read_bytes()
    if hashlib.sha256(data).hexdigest() != head.get("sha256"):
        raise CheckpointError(f"{what}: corrupted (checksum mismatch)")
    if head.get("scenario_sha256") != scenario_sha(sim.scenario):
        raise CheckpointError(
            f"{what}: written by another scenario or seed; resume with the "
            "same scenario, or run without --resume"
        )
    z = safeload.read_npz(data, what, limit=bound)
    if set(z) != set(ARRAYS):
        odd = sorted(set(z) ^ set(ARRAYS))
        raise CheckpointError(f"{what}: arrays {', '.join(odd)} are not a checkpoint's")
    E, R = safeload.expect, safeload.in_range
    text = str(safeload.expect_unicode(z, "meta", what, ()))
    try:
        meta = json.loads(text)
    except ValueError:
        raise CheckpointError(f"{what}: meta is not JSON") from None
    need = {"step": int, "stepping": (int, float), "n_active": int, "sources": list,
            "pending": list, "lure_zone": dict, "records": list, "cast_records": list,
            "snap_frames": int, "snap_sha256": str}  # fmt: skip
    if not isinstance(meta, dict) or set(meta) != set(need):
        raise CheckpointError(f"{what}: meta must have exactly the keys {', '.join(need)}")
    for k, t in need.items():
        if not isinstance(meta[k], t) or isinstance(meta[k], bool):
            raise CheckpointError(f"{what}: meta.{k} has the wrong type")
    step = meta["step"]
    if not (0 < step <= nsteps) or head.get("step") != step or path.stem != f"ckpt-{step:09d}":
        raise CheckpointError(f"{what}: step {step} does not fit this run of {nsteps} steps")
    if not (math.isfinite(meta["stepping"]) and meta["stepping"] >= 0):
        raise CheckpointError(f"{what}: meta.stepping is not a time")

    cell = E(z, "cell", what, a.cell.dtype, a.cell.shape)
    state = E(z, "state", what, a.state.dtype, a.state.shape)
    timer = E(z, "timer", what, a.timer.dtype, a.timer.shape)
    aid = E(z, "aid", what, a.aid.dtype, a.aid.shape)
    R(cell, -1, ncells - 1, "cell", what)
    R(timer, -3.0e38, 3.0e38, "timer", what)
    R(aid, 0, n - 1, "aid", what)
    if np.bincount(aid, minlength=n).max(initial=0) > 1:
        raise CheckpointError(f"{what}: aid is not a permutation of the agents")
    kind = state & K.STATE_MASK
    on = cell >= 0
    if not sim.world.passable.ravel()[cell[on]].all():
        raise CheckpointError(f"{what}: an agent stands on an impassable cell")
    if (kind[on] > K.DEAD).any() or (kind[~on] < K.DEAD).any():
        raise CheckpointError(f"{what}: an agent's state does not fit where it stands")
    n_active = meta["n_active"]
    if not (0 <= n_active <= n) or (kind[n_active:] != K.DEAD).any():
        raise CheckpointError(f"{what}: n_active = {n_active} does not fit the agents")

    arrays = {}
    for name, ref in (("fn", st.fn), ("noise_region", st.noise_region), ("fv", st.fv),
                      ("zk", st.zk), ("nbr", sim.nbr), ("P", st.P), ("P_night", st.P_night),
                      ("cast_state", st.cast_state), ("cast_cell", st.cast_cell),
                      ("cnt", st.cnt)):  # fmt: skip
        arrays[name] = E(z, name, what, ref.dtype, ref.shape)
    R(arrays["fn"], 0.0, 3.0e38, "fn", what)
    R(arrays["zk"], 0.0, 1.0, "zk", what)
    R(arrays["cnt"][:, K.NLIVING :], 0, np.iinfo(np.int32).max, "cnt", what)
    nr = arrays["noise_region"]
    if not (
        np.array_equal(nr, K.NO_BBOX)
        or (0 <= nr[0] <= nr[1] < st.ny and 0 <= nr[2] <= nr[3] < st.nx)
    ):
        raise CheckpointError(f"{what}: noise_region is not a box on the map")
    nbr = arrays["nbr"]
    if not ((nbr == sim.nbr) | (nbr == -1)).all():
        raise CheckpointError(f"{what}: nbr links cells that the map does not link")
    for name in ("P", "P_night"):  # events only switch evacuees' removal on or off
        have, want = arrays[name], getattr(st, name)
        other = np.arange(have.size) != K.P_EVAC_REMOVE
        if not np.array_equal(have[other], want[other]) or have[K.P_EVAC_REMOVE] not in (0, 1):
            raise CheckpointError(f"{what}: {name} differs from this scenario's parameters")
    R(arrays["cast_state"], 0, len(K.STATE_NAMES) - 1, "cast_state", what)
    R(arrays["cast_cell"], -1, ncells - 1, "cast_cell", what)
    evac = E(z, "evac_zone", what, bool)
    if evac.size not in (0, ncells) or evac.ndim != 1:
        raise CheckpointError(f"{what}: evac_zone has shape {evac.shape}")

    nd = len(sim.world.district_codes) + 1
    rec_steps = E(z, "rec_steps", what, np.int64, (None,))
    rec_counts = E(
        z, "rec_counts", what, sim.tally().dtype, (rec_steps.size, nd, len(K.STATE_NAMES))
    )
    R(rec_steps, 0, step, "rec_steps", what)
    if rec_steps.size == 0 or rec_steps[0] != 0 or (np.diff(rec_steps) <= 0).any():
        raise CheckpointError(f"{what}: rec_steps are not the recorded steps")
    R(rec_counts, 0, n, "rec_counts", what)
    if (rec_counts.sum(axis=(1, 2)) != n).any():
        raise CheckpointError(f"{what}: a recorded row does not sum to the {n:,} agents")
    snap_t = E(z, "snap_t", what, np.float64, (None,))
    R(snap_t, 0.0, step * sim.scenario.time.dt_min, "snap_t", what)
    if meta["snap_frames"] != snap_t.size or len(meta["snap_sha256"]) != 64:
        raise CheckpointError(f"{what}: snap_frames does not match snap_t")

    sources = []
    for s in meta["sources"]:
        ok = (
            isinstance(s, list)
            and len(s) == 5
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in s)
        )
        if not ok or not (0 <= s[0] < ncells and 0 < s[1] <= 1e6 and 0 < s[2] <= 1e6):
            raise CheckpointError(f"{what}: meta.sources holds {s!r}, not a sound source")
        if not (math.isfinite(s[1]) and math.isfinite(s[2])):
            raise CheckpointError(f"{what}: meta.sources holds a value that is not finite")
        sources.append((int(s[0]), float(s[1]), float(s[2]), int(s[3]), int(s[4])))
    if sources[: len(st.sources)] != st.sources:
        raise CheckpointError(f"{what}: meta.sources lost this scenario's sounds")
    indices = {item[0] for item in book.pending}
    if not all(isinstance(i, int) and i in indices for i in meta["pending"]):
        raise CheckpointError(f"{what}: meta.pending names events this scenario does not have")
    lure_zone = {}
    for k, v in meta["lure_zone"].items():
        if not (isinstance(v, list) and len(v) == 2 and isinstance(v[0], int)
                and 0 <= v[0] < ncells and isinstance(v[1], (int, float))
                and math.isfinite(v[1]) and 0 <= v[1] <= 1e6):  # fmt: skip
            raise CheckpointError(f"{what}: meta.lure_zone[{k!r}] is not a zone")
        lure_zone[k] = (int(v[0]), float(v[1]))
    if not all(isinstance(r, dict) for r in meta["records"]):
        raise CheckpointError(f"{what}: meta.records are not event records")
    ncast = len(sim.scenario.cast)
    cast_records = []
    for r in meta["cast_records"]:
        ok = isinstance(r, list) and len(r) == 4 and all(isinstance(v, int) for v in r)
        if not ok or not (0 <= r[0] < ncast and 0 <= r[1] < step and 0 <= r[2] < 8
                          and -1 <= r[3] < ncells):  # fmt: skip
            raise CheckpointError(f"{what}: meta.cast_records holds {r!r}")
        cast_records.append(tuple(r))

    # everything checked: now into the run
    a.cell[:], a.state[:], a.timer[:], a.aid[:] = cell, state, timer, aid
    st.recount()  # the counts of the living come from the agents, not from the file
    saved = arrays["cnt"]
    if not np.array_equal(saved[:, : K.NLIVING + 1], st.cnt[:, : K.NLIVING + 1]):
        raise CheckpointError(f"{what}: cnt disagrees with the agents")
    st.cnt[:] = saved  # the last step's attacks and kills, read by the next step
    for name in ("fn", "noise_region", "zk", "P", "P_night", "cast_state", "cast_cell"):
        getattr(st, name)[:] = arrays[name]
    sim.nbr[:] = nbr
    if evac.size:
        book.evac_zone = evac
    st.fv[:] = bfs_distance(sim.nbr, np.flatnonzero(evac)) if evac.size else K.FAR
    if not np.array_equal(st.fv, arrays["fv"]):
        raise CheckpointError(f"{what}: fv disagrees with the evacuation zone and the links")
    st.n_active = n_active
    st.sources = sources
    st._active = ()
    st.cast_records = cast_records
    K.threat_bbox(st.cnt, st.nx, st.bbox)
    st.totals[:] = st.cnt[:, : K.NLIVING].sum(axis=0)
    keep = set(meta["pending"])
    book.pending = [item for item in book.pending if item[0] in keep]
    book.lure_zone = lure_zone
    book.records = meta["records"]
    snaps = Recorder(sim.world.passable, spool, fresh=False)
    snaps.resume([float(t) for t in snap_t], snap_t.size, meta["snap_sha256"])
    return RunState(
        step=int(step),
        times=[int(t) for t in rec_steps],
        records=list(rec_counts),
        snaps=snaps,
        stepping=float(meta["stepping"]),
    )
