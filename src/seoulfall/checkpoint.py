"""Checkpoints: the complete state of a run between two steps, to resume it bit for bit.

Format (version 3), in ``DIR/checkpoints/``, no pickle:

- ``ckpt-<step, 9 digits>.npz``: NumPy arrays: the agents (``cell``, ``state``, ``timer``,
  ``aid``), the per-cell counts (``cnt``, with the last step's attacks and fights), the
  noise of fights (``fn``, ``noise_region``), the evacuation distances (``fv``), the
  guarded lines (``zk``), the neighbour table as events left it (``nbr``), the parameter
  vectors (``P``, ``P_night``), the cast's last states and cells, the recorded rows so far
  (``rec_steps``, ``rec_counts``), the times of the snapshots so far (``snap_t``), and
  ``meta``: a JSON string with the step, the sound sources, the playbook's cursor (events
  not yet fired, lure zones, records), the cast's records, the seconds spent stepping, and
  the snapshot frames taken so far with the SHA-256 of their bytes (``snap_frames``,
  ``snap_sha256``) and the named characters' cells at each of them (``snap_cast``; a
  checkpoint written without it resumes with those cells unknown, -1), and in a run with
  a subway its state (``subway``: lines and stations open, humans infected aboard each
  car, the step a zombie first rode each; the cars are cells past the map's).
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seoulfall import safeload
from seoulfall.atomic import atomic_write_bytes, atomic_write_text
from seoulfall.engine import kernels as K
from seoulfall.snapshots import Recorder

FORMAT = "seoulfall-checkpoint"
VERSION = 4  # 3: the recorded rows count soldiers apart (a column more than 2); 4: and the
#: fled and escaped (two more; a version 3 checkpoint resumes, none having left by land)
#: The versions this seoulfall resumes, and the states each one's recorded rows count
#: (version 3: those before the fled).
READS = {3: K.FLED, VERSION: len(K.STATE_NAMES)}


#: The arrays of a checkpoint's archive, every one of them, nothing else.
ARRAYS = (
    "cell", "state", "timer", "aid", "cnt", "fn", "noise_region", "fv", "zk", "nbr", "P",
    "P_night", "cast_state", "cast_cell", "rec_steps", "rec_counts", "snap_t", "evac_zone",
    "meta",
)  # fmt: skip
#: Checkpoints kept in a folder: older ones are deleted as each new one is written.
KEEP = 3


@dataclass
class RunState:
    """What the run loop carries from step to step (saved in checkpoints)."""

    step: int
    times: list
    records: list
    snaps: Recorder
    stepping: float = 0.0


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line for users."""


def scenario_sha(scenario) -> str:
    """Fingerprint of a resolved scenario (:meth:`Scenario.fingerprint`: engine knobs aside)."""
    return scenario.fingerprint()


def save(sim, state, folder: Path, keep: int = KEEP) -> Path:
    """Write a checkpoint of ``sim`` after ``state.step`` steps into ``folder``.

    Then only the ``keep`` newest checkpoints are kept (0: every one).
    """
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"step": state.step, "stepping": state.stepping}
    parts = {"nbr": sim.nbr}
    for component in (sim.agents, sim.stepper, sim.playbook):  # each says what it keeps
        m, arr = component.to_checkpoint()
        meta.update(m)
        parts.update(arr)
    meta["snap_frames"], meta["snap_sha256"] = state.snaps.position()
    meta["snap_cast"] = state.snaps.cast
    parts["rec_steps"] = np.asarray(state.times, np.int64)
    parts["rec_counts"] = np.stack(state.records)
    parts["snap_t"] = np.asarray(state.snaps.t_min, float)
    parts["meta"] = np.array(json.dumps(meta))
    arrays = {k: parts[k] for k in ARRAYS if k in parts}
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
    what = f"checkpoint {path.name}"
    try:
        head = json.loads(safeload.read_text(path, what, limit=1 << 16))
        st_npz = path.with_suffix(".npz").stat()
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{what}: unreadable ({exc.__class__.__name__})") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise CheckpointError(f"{what}: not a seoulfall checkpoint")
    version = head.get("version")
    if type(version) is not int or version not in READS:
        raise CheckpointError(
            f"{what}: version {version!r}, this seoulfall reads {' and '.join(map(str, READS))}"
        )
    st, a, book = sim.stepper, sim.agents, sim.playbook
    ncells, n, nsteps = st.cnt.shape[0], a.n, sim.nsteps
    nframes = nsteps // sim.snapshot_every + 2
    nrec = nsteps // sim.record_every + 2
    bound = (
        n * 13 + st.cnt.nbytes + sim.nbr.nbytes + ncells * 64
        + nframes * (8 + 12 * int(sim.IP[K.I_NCAST]))
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
    # snap_cast: the cast's cells at each snapshot (since 2026-11-27; older ones lack it)
    # subway: the subway's state (runs with a subway only; Stepper.check_checkpoint)
    if not isinstance(meta, dict) or set(meta) - {"snap_cast", "subway"} != set(need):
        raise CheckpointError(f"{what}: meta must have exactly the keys {', '.join(need)}")
    for k, t in need.items():
        if not isinstance(meta[k], t) or isinstance(meta[k], bool):
            raise CheckpointError(f"{what}: meta.{k} has the wrong type")
    step = meta["step"]
    if not (0 < step <= nsteps) or head.get("step") != step or path.stem != f"ckpt-{step:09d}":
        raise CheckpointError(f"{what}: step {step} does not fit this run of {nsteps} steps")
    if not (math.isfinite(meta["stepping"]) and meta["stepping"] >= 0):
        raise CheckpointError(f"{what}: meta.stepping is not a time")

    # each component checks its own part; nothing reaches the run before all are checked
    agents = a.check_checkpoint(meta, z, what, sim.passable_all)  # the map, then the cars
    stepper = st.check_checkpoint(meta, z, what, agents["state"] & K.STATE_MASK, step)
    playbook = book.check_checkpoint(meta, z, what)
    nbr = E(z, "nbr", what, sim.nbr.dtype, sim.nbr.shape)
    if not ((nbr == sim.nbr) | (nbr == -1)).all():
        raise CheckpointError(f"{what}: nbr links cells that the map does not link")

    nd = len(sim.world.district_codes) + 1
    rec_steps = E(z, "rec_steps", what, np.int64, (None,))
    width = READS[version]
    rec_counts = E(z, "rec_counts", what, sim.tally().dtype, (rec_steps.size, nd, width))
    # an older version's rows lack the later states: nobody was in them
    rec_counts = np.pad(rec_counts, ((0, 0), (0, 0), (0, len(K.STATE_NAMES) - width)))
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
    ncast = int(sim.IP[K.I_NCAST])
    snap_cast = meta.get("snap_cast", [[-1] * ncast] * snap_t.size)
    ok = isinstance(snap_cast, list) and len(snap_cast) == snap_t.size and all(
        isinstance(f, list) and len(f) == ncast
        and all(type(c) is int and -1 <= c < ncells for c in f) for f in snap_cast
    )  # fmt: skip
    if not ok:
        raise CheckpointError(f"{what}: meta.snap_cast is not the cast's cells at each snapshot")

    # everything checked: now into the run
    a.from_checkpoint(agents)
    sim.nbr[:] = nbr
    st.from_checkpoint(stepper)  # recounts from the agents, and checks the counts against the file
    book.from_checkpoint(playbook)  # routes the evacuees on the links, and checks the stepper's fv
    snaps = Recorder(sim.world.passable, spool, fresh=False)
    snaps.resume([float(t) for t in snap_t], snap_t.size, meta["snap_sha256"], snap_cast)
    return RunState(
        step=int(step),
        times=[int(t) for t in rec_steps],
        records=list(rec_counts),
        snaps=snaps,
        stepping=float(meta["stepping"]),
    )
