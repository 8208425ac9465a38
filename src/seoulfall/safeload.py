"""Reading back files that may have been damaged or edited: bounded, checked, one-line errors.

A checksum beside a file detects accidents, not edits, so everything seoulfall reads back
(checkpoints, run folders, sweep records, world files) is checked here before any of it
reaches the engine: names, dtypes, shapes and value ranges. Archives are never decompressed
past a bound set before reading.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np


class DamagedFile(ValueError):
    """A file that cannot be trusted; the message is one line naming the file and the fault."""


def memory_available() -> int:
    """Bytes of memory available to a new allocation now (``MemAvailable``; 4 GiB if unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4 << 30


def read_npz(source: str | Path | bytes, what: str, limit: int | None = None) -> dict:
    """The arrays of an ``.npz`` archive, refusing archives that unpack past ``limit`` bytes.

    Parameters
    ----------
    source : path or bytes
        The archive.
    what : str
        How the file is named in errors.
    limit : int, optional
        Most bytes the arrays may take unpacked (default: half the memory available).

    Raises
    ------
    DamagedFile
        Not a NumPy archive, an entry that is not an array, pickled objects, or too large.
    """
    limit = memory_available() // 2 if limit is None else limit
    try:
        f = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
        with f, zipfile.ZipFile(f) as z:
            infos = z.infolist()
            total = sum(i.file_size for i in infos)
            if total > limit:
                raise DamagedFile(
                    f"{what}: unpacks to {total:,} bytes, more than the {limit:,} allowed"
                )
            for i in infos:
                if not i.filename.endswith(".npy") or "/" in i.filename:
                    raise DamagedFile(f"{what}: unexpected entry {i.filename!r}")
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
    except DamagedFile:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise DamagedFile(f"{what}: unreadable ({exc.__class__.__name__}: {exc})") from None


def read_text(path: Path, what: str, limit: int = 256 << 20) -> str:
    """A UTF-8 text file of at most ``limit`` bytes, as one string."""
    try:
        size = os.stat(path).st_size
        if size > limit:
            raise DamagedFile(f"{what}: {size:,} bytes, more than the {limit:,} allowed")
        with open(path, "rb") as f:
            return f.read(limit + 1).decode("utf-8")
    except DamagedFile:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedFile(f"{what}: unreadable ({exc.__class__.__name__})") from None


def expect(arrays: dict, name: str, what: str, dtype, shape: tuple | None = None) -> np.ndarray:
    """``arrays[name]``, which must exist with this dtype and (where not None) this shape.

    A ``None`` inside ``shape`` accepts any length on that axis.
    """
    if name not in arrays:
        raise DamagedFile(f"{what}: no array {name!r}")
    a = arrays[name]
    if a.dtype != np.dtype(dtype):
        raise DamagedFile(f"{what}: {name} has dtype {a.dtype}, expected {np.dtype(dtype)}")
    if shape is not None:
        ok = a.ndim == len(shape) and all(w is None or w == h for w, h in zip(shape, a.shape))
        if not ok:
            raise DamagedFile(f"{what}: {name} has shape {a.shape}, expected {shape}")
    return a


def expect_unicode(arrays: dict, name: str, what: str, shape: tuple) -> np.ndarray:
    """``arrays[name]``, which must be text (a NumPy unicode array) of this shape."""
    if name not in arrays:
        raise DamagedFile(f"{what}: no array {name!r}")
    a = arrays[name]
    if a.dtype.kind != "U":
        raise DamagedFile(f"{what}: {name} is not text")
    return expect(arrays, name, what, a.dtype, shape)


def in_range(a: np.ndarray, lo, hi, name: str, what: str) -> None:
    """Every value of ``a`` within ``[lo, hi]`` (and finite)."""
    if a.size == 0:
        return
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise DamagedFile(f"{what}: {name} holds a value that is not finite")
    if a.min() < lo or a.max() > hi:
        raise DamagedFile(
            f"{what}: {name} holds values from {a.min()} to {a.max()}, outside [{lo}, {hi}]"
        )
