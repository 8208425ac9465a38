"""Run folders: what seoulfall wrote there, who is writing, and what it may replace.

A run folder holds a manifest, ``.seoulfall.json``: ``{"format": "seoulfall-run",
"version": 1, "state": ..., "scenario_sha256": ...}``, where ``state`` is ``running``
(stepping; checkpoints may exist), ``data`` (the data files are written, the plots and the
report may not be) or ``complete`` (every output is written). seoulfall only ever writes,
replaces or deletes the names in :data:`OWN` (and its own temporaries of them) in a folder
whose manifest it wrote, or in a run folder of an older seoulfall (which had no manifest);
every other file is someone else's and is never touched.

While a run writes into a folder it holds an exclusive lock on ``.seoulfall.lock``
(``fcntl.flock``): a second run into the same folder is refused, and the lock dies with its
process, so a run killed with ``kill -9`` can be resumed at once.
"""

from __future__ import annotations

import errno
import json
import os
import re
import unicodedata
from pathlib import Path

from seoulfall.atomic import atomic_write_text

MANIFEST = ".seoulfall.json"
LOCK = ".seoulfall.lock"
FORMAT = "seoulfall-run"
VERSION = 1

#: The data a run writes (``Results.save``); with them a run can be reported again.
DATA = (
    "scenario.toml",
    "timeseries.parquet",
    "districts.parquet",
    "events.jsonl",
    "cast.jsonl",
    "summary.json",
    "snapshots.npz",
)
#: What ``seoulfall report`` makes from the data.
OUTPUTS = (
    "epidemic.png",
    "epidemic_log.png",
    "fall_map.png",
    "residents.png",
    "daynight.png",
    "snapshots.png",
    "districts.png",
    "outbreak.mp4",
    "outbreak.webp",
    "report.html",
)
#: The files that mark a folder as a run folder of a seoulfall without manifests.
LEGACY_MARKERS = ("scenario.toml", "summary.json", "timeseries.parquet")
CHECKPOINTS = "checkpoints"
#: The snapshot spool of a run in progress, in its checkpoint folder (``simulation.SPOOL``).
SPOOL = "snapshots.u16"
#: Every name seoulfall may write in a run folder.
OWN = (*DATA, *OUTPUTS, CHECKPOINTS, MANIFEST, LOCK)

#: A folder name made from a scenario's name keeps at most this many characters.
SLUG_MAX = 60


class RunFolderError(ValueError):
    """A folder seoulfall may not use as asked; the message is one line for users."""


def slug(text: str) -> str:
    """A safe folder name made from free text (a scenario's name).

    Letters (any script), digits, ``.``, ``_`` and ``-`` are kept, every other run of
    characters becomes one ``-``; no leading dot or dash, at most :data:`SLUG_MAX`
    characters, and ``run`` when nothing is left.
    """
    text = unicodedata.normalize("NFKC", str(text))
    s = re.sub(r"[^\w.-]+", "-", text).strip(".-")[:SLUG_MAX].strip(".-")
    return s or "run"


def is_own_temporary(name: str) -> bool:
    """Whether ``name`` is one of seoulfall's temporaries (``.<own name>.<random>.tmp``)."""
    return name.endswith(".tmp") and any(name.startswith(f".{own}.") for own in OWN)


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest, or None if it has none (or one that is not seoulfall's)."""
    try:
        m = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        return None
    if m.get("state") not in ("running", "data", "complete"):
        return None
    return m


def write_manifest(folder: Path, state: str, scenario_sha256: str | None) -> None:
    """Record the run's state (``running``, ``data`` or ``complete``)."""
    atomic_write_text(
        folder / MANIFEST,
        json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "state": state,
                "scenario_sha256": scenario_sha256,
            }  # fmt: skip
        )
        + "\n",
    )


def is_seoulfall_folder(folder: Path) -> bool:
    """Whether seoulfall wrote this folder: a manifest, an older run or older checkpoints."""
    if read_manifest(folder) is not None:
        return True
    if all((folder / n).is_file() for n in LEGACY_MARKERS):
        return True
    ck = folder / CHECKPOINTS
    return ck.is_dir() and any(ck.glob("ckpt-*.json"))


def foreign_entries(folder: Path) -> list[str]:
    """Names in ``folder`` that seoulfall did not write (sorted)."""
    if not folder.is_dir():
        return []
    ours = is_seoulfall_folder(folder)
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name == LOCK:  # harmless and empty; a refused run may have made it
            continue
        if ours and (name in OWN or is_own_temporary(name)):
            continue
        out.append(name)
    return sorted(out)


def check_out(path: str | os.PathLike) -> Path:
    """Refuse an ``--out`` that cannot be a run folder: empty, the root, a file."""
    text = os.fspath(path)
    if not text.strip():
        raise RunFolderError("--out '': give a folder name")
    if "\0" in text:
        raise RunFolderError("--out: a folder name cannot hold a NUL character")
    folder = Path(text)
    if folder.resolve() == Path(folder.resolve().anchor):
        raise RunFolderError(f"--out {text}: the root of the file system cannot be a run folder")
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"--out {text}: exists and is not a folder")
    return folder


def make_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents), or say in one line why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / MANIFEST
        if probe.exists() and not os.access(probe, os.W_OK):
            raise PermissionError(errno.EACCES, "not writable", str(probe))
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "not writable", str(folder))
    except OSError as exc:
        raise RunFolderError(f"--out {folder}: cannot write there ({exc.strerror})") from None


class Lock:
    """An exclusive, non-blocking lock on a folder, released when the process ends."""

    def __init__(self, folder: Path, what: str = "run"):
        self.path = folder / LOCK
        self.what = what
        self.fd: int | None = None

    def __enter__(self) -> Lock:
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunFolderError(
                f"{self.path.parent}: cannot write there ({exc.strerror})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunFolderError(
                f"{self.path.parent}: another seoulfall {self.what} is writing this folder; "
                "wait for it or choose another --out"
            ) from None
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


def clear_own(folder: Path) -> None:
    """Delete everything seoulfall wrote in ``folder`` (a run being replaced), nothing else."""
    if not is_seoulfall_folder(folder):
        return
    for entry in folder.iterdir():
        name = entry.name
        if name in (MANIFEST, LOCK):
            continue
        if name == CHECKPOINTS and entry.is_dir() and not entry.is_symlink():
            clear_checkpoints(entry)
        elif (name in OWN or is_own_temporary(name)) and (entry.is_file() or entry.is_symlink()):
            entry.unlink()
    (folder / MANIFEST).unlink(missing_ok=True)


def clear_checkpoints(ckpt_dir: Path) -> None:
    """Delete seoulfall's checkpoints (and their temporaries) in ``ckpt_dir``, nothing else."""
    pat = re.compile(
        r"(ckpt-\d{9}\.(npz|json))|(\.ckpt-\d{9}\.(npz|json)\..*\.tmp)|" + re.escape(SPOOL)
    )
    for entry in ckpt_dir.iterdir():
        if pat.fullmatch(entry.name) and entry.is_file():
            entry.unlink()
    try:
        ckpt_dir.rmdir()
    except OSError:
        pass  # someone else's files are in it: leave them and the folder


def drop_spool(ckpt_dir: Path) -> None:
    """Delete a finished run's snapshot spool unless kept checkpoints need it.

    Then the checkpoint folder too, if that is empty.
    """
    if not any(ckpt_dir.glob("ckpt-*.json")):
        (ckpt_dir / SPOOL).unlink(missing_ok=True)
    try:
        ckpt_dir.rmdir()
    except OSError:
        pass  # checkpoints (or someone's files) are in it


def clear_own_temporaries(folder: Path) -> None:
    """Delete the temporaries of writes a killed seoulfall never finished (ours only)."""
    if not is_seoulfall_folder(folder):
        return
    for entry in folder.iterdir():
        if is_own_temporary(entry.name) and entry.is_file():
            entry.unlink()
    ck = folder / CHECKPOINTS
    if ck.is_dir():
        for entry in ck.iterdir():
            if entry.name.startswith(".ckpt-") and entry.name.endswith(".tmp") and entry.is_file():
                entry.unlink()
