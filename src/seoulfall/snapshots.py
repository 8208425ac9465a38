"""Map snapshots: per-cell counts of each state at regular times, for plots and animation.

Stored in the run folder as ``snapshots.npz`` (NumPy's compressed archive, no pickle):

- ``t_min`` (float64, T): minutes since the start of each snapshot;
- ``counts`` (uint16, T x 6 x P): agents per state (``STATES`` order) in each stored cell,
  clipped at 65,535;
- ``cells`` (int32, P): the flat raster index (row x nx + col) of each stored cell: every
  passable cell of the world (the only cells agents can stand on);
- ``shape`` (int64, 2): the raster's (ny, nx);
- ``states`` (str, 6): the state names;
- ``cast_cells`` (int32, T x C, when the scenario has a cast): each named character's cell
  at each snapshot (-1: off the map, or not known: a run resumed from a checkpoint written
  before 2026-11-27 does not know the frames before it).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seoulfall import safeload
from seoulfall.engine import kernels as K
from seoulfall.engine import states
from seoulfall.scenario import MAX_MINUTES

STATES = states.SNAPSHOT
# a frame is the living counts of the kernels, then the dead counted from the agents
assert STATES == (*states.NAMES[: K.NLIVING], "dead")


@dataclass
class Snapshots:
    """Per-cell counts at T times (see the module's description of the file)."""

    t_min: np.ndarray
    counts: np.ndarray
    cells: np.ndarray
    shape: tuple[int, int]
    cast_cells: np.ndarray | None = None

    def grid(self, i: int, state: str) -> np.ndarray:
        """The (ny, nx) map of one state at snapshot ``i`` (0 off the stored cells)."""
        out = np.zeros(self.shape[0] * self.shape[1], np.int64)
        out[self.cells] = self.counts[i, STATES.index(state)]
        return out.reshape(self.shape)

    def to_bytes(self) -> bytes:
        """The ``snapshots.npz`` file's bytes."""
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            t_min=self.t_min,
            counts=self.counts,
            cells=self.cells,
            shape=np.asarray(self.shape, np.int64),
            states=np.asarray(STATES),
            **({} if self.cast_cells is None else {"cast_cells": self.cast_cells}),
        )
        return buf.getvalue()

    @classmethod
    def load(cls, path: str | Path) -> Snapshots:
        """Read ``snapshots.npz``, checking its layout (else ``safeload.DamagedFile``)."""
        what = Path(path).name
        z = safeload.read_npz(path, what)
        E = safeload.expect
        names = safeload.expect_unicode(z, "states", what, (None,))
        if tuple(str(v) for v in names) != STATES:
            raise safeload.DamagedFile(f"{what}: unexpected states {list(names)[:8]}")
        shape = E(z, "shape", what, np.int64, (2,))
        if not (0 < shape[0] <= 1 << 15 and 0 < shape[1] <= 1 << 15):
            raise safeload.DamagedFile(f"{what}: shape {tuple(shape)} is not a map's")
        cells = E(z, "cells", what, np.int32, (None,))
        safeload.in_range(cells, 0, int(shape[0]) * int(shape[1]) - 1, "cells", what)
        t_min = E(z, "t_min", what, np.float64, (None,))
        safeload.in_range(t_min, 0.0, MAX_MINUTES, "t_min", what)
        counts = E(z, "counts", what, np.uint16, (t_min.size, len(STATES), cells.size))
        cast = None
        if "cast_cells" in z:
            cast = E(z, "cast_cells", what, np.int32, (t_min.size, None))
            safeload.in_range(cast, -1, int(shape[0]) * int(shape[1]) - 1, "cast_cells", what)
        return cls(t_min, counts, cells, (int(shape[0]), int(shape[1])), cast)


def frame_bytes(cells: int) -> int:
    """Bytes of one snapshot frame over ``cells`` stored (passable) cells."""
    return len(STATES) * cells * np.dtype(np.uint16).itemsize


class Recorder:
    """Collects snapshots during a run: in memory, or streamed to a spool file.

    With ``spool`` (and ``fresh``, the default) every frame is appended to that file (raw
    uint16, ``STATES`` x cells in C order) as it is taken, and a running SHA-256 of the file
    is kept so that a checkpoint can name the frames it covers (:meth:`position`) and a
    resume can check them (:meth:`resume`); :meth:`result` then maps the file instead of
    holding the frames.
    """

    def __init__(self, passable: np.ndarray, spool: Path | None = None, fresh: bool = True):
        self.cells = np.flatnonzero(passable.ravel()).astype(np.int32)
        self.shape = passable.shape
        self.t_min: list[float] = []
        self.frames: list[np.ndarray] = []
        self.spool = Path(spool) if spool is not None else None
        self.count = 0
        self.cast: list[list[int]] = []  # the named characters' cells at each frame
        self._digest = hashlib.sha256()
        # a fresh run starts the spool anew; a resumed one opens it in :meth:`resume`
        self._file = open(self.spool, "wb") if self.spool is not None and fresh else None

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame."""
        return frame_bytes(self.cells.size)

    def take(
        self,
        t_min: float,
        cnt: np.ndarray,
        cell: np.ndarray,
        state: np.ndarray,
        cast_cell: np.ndarray | None = None,
    ) -> None:
        """Record the living counts (``cnt``), the dead (from the agents) and the cast now."""
        self.cast.append([] if cast_cell is None else [int(c) for c in cast_cell])
        frame = np.empty((len(STATES), self.cells.size), np.uint16)
        living = cnt[self.cells, : K.NLIVING]
        frame[: K.NLIVING] = np.minimum(living, 65535).T
        dead = (state & K.STATE_MASK) == K.DEAD
        per_cell = np.bincount(cell[dead], minlength=self.shape[0] * self.shape[1])
        frame[K.NLIVING] = np.minimum(per_cell[self.cells], 65535)
        self.t_min.append(float(t_min))
        if self._file is not None:
            data = frame.tobytes()
            self._file.write(data)
            self._digest.update(data)
        else:
            self.frames.append(frame)
        self.count += 1

    def position(self) -> tuple[int, str]:
        """Frames taken so far and the SHA-256 of their bytes (spooled runs)."""
        if self._file is not None:
            self._file.flush()
        return self.count, self._digest.hexdigest()

    def resume(self, t_min: list[float], count: int, sha256: str, cast: list) -> None:
        """Continue a spooled run from a checkpoint that covered ``count`` frames.

        ``cast``: the named characters' cells at those frames (checked by the caller).

        Raises
        ------
        safeload.DamagedFile
            If the spool holds fewer frames, or frames other than the checkpoint's.
        """
        assert self.spool is not None
        self.close()
        need = count * self.frame_bytes
        try:
            f = open(self.spool, "r+b")
        except OSError as exc:
            raise safeload.DamagedFile(f"{self.spool.name}: unreadable ({exc.strerror})") from None
        with f:
            size = f.seek(0, 2)
            if size < need:
                raise safeload.DamagedFile(
                    f"{self.spool.name}: {size:,} bytes, the checkpoint's {count} frames need "
                    f"{need:,}"
                )
            f.seek(0)
            digest = hashlib.sha256()
            left = need
            while left:
                chunk = f.read(min(left, 1 << 24))
                digest.update(chunk)
                left -= len(chunk)
            if digest.hexdigest() != sha256:
                raise safeload.DamagedFile(
                    f"{self.spool.name}: frames differ from the checkpoint's"
                )
            f.truncate(need)  # frames a killed run took after the checkpoint
        self._file = open(self.spool, "ab")
        self._digest = digest
        self.t_min = list(t_min)
        self.cast = [list(c) for c in cast]
        self.count = count

    def close(self) -> None:
        """Close the spool file (the frames stay in it)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def result(self) -> Snapshots:
        """The snapshots taken (mapped from the spool file when there is one)."""
        shape = (len(STATES), self.cells.size)
        if self.spool is None:
            counts = np.stack(self.frames) if self.frames else np.zeros((0, *shape), np.uint16)
        elif self.count == 0:
            counts = np.zeros((0, *shape), np.uint16)
        else:
            self.close()
            counts = np.memmap(self.spool, np.uint16, "r", shape=(self.count, *shape))
        # every frame holds the same characters (none without a cast)
        cast = np.asarray(self.cast, np.int32) if self.cast and self.cast[0] else None
        return Snapshots(np.asarray(self.t_min, float), counts, self.cells, self.shape, cast)
