"""Map snapshots: per-cell counts of each state at regular times, for plots and animation.

Stored in the run folder as ``snapshots.npz`` (NumPy's compressed archive, no pickle):

- ``t_min`` (float64, T): minutes since the start of each snapshot;
- ``counts`` (uint16, T x 6 x P): agents per state (``STATES`` order) in each stored cell,
  clipped at 65,535;
- ``cells`` (int32, P): the flat raster index (row x nx + col) of each stored cell: every
  passable cell of the world (the only cells agents can stand on);
- ``shape`` (int64, 2): the raster's (ny, nx);
- ``states`` (str, 6): the state names.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seoulfall import safeload
from seoulfall.engine import kernels as K

STATES = ("human", "infected", "zombie", "evolved", "hybrid", "dead")


@dataclass
class Snapshots:
    """Per-cell counts at T times (see the module's description of the file)."""

    t_min: np.ndarray
    counts: np.ndarray
    cells: np.ndarray
    shape: tuple[int, int]

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
        )
        return buf.getvalue()

    @classmethod
    def load(cls, path: str | Path) -> Snapshots:
        """Read ``snapshots.npz``, checking its layout (else ``safeload.DamagedFile``)."""
        what = Path(path).name
        z = safeload.read_npz(path, what)
        E = safeload.expect
        states = E(z, "states", what, z["states"].dtype if "states" in z else "U1", (None,))
        if states.dtype.kind != "U" or tuple(str(v) for v in states) != STATES:
            raise safeload.DamagedFile(f"{what}: unexpected states {list(states)[:8]}")
        shape = E(z, "shape", what, np.int64, (2,))
        if not (0 < shape[0] <= 1 << 15 and 0 < shape[1] <= 1 << 15):
            raise safeload.DamagedFile(f"{what}: shape {tuple(shape)} is not a map's")
        cells = E(z, "cells", what, np.int32, (None,))
        safeload.in_range(cells, 0, int(shape[0]) * int(shape[1]) - 1, "cells", what)
        t_min = E(z, "t_min", what, np.float64, (None,))
        safeload.in_range(t_min, 0.0, 3650 * 1440.0, "t_min", what)
        counts = E(z, "counts", what, np.uint16, (t_min.size, len(STATES), cells.size))
        return cls(t_min, counts, cells, (int(shape[0]), int(shape[1])))


class Recorder:
    """Collects snapshots during a run."""

    def __init__(self, passable: np.ndarray):
        self.cells = np.flatnonzero(passable.ravel()).astype(np.int32)
        self.shape = passable.shape
        self.t_min: list[float] = []
        self.frames: list[np.ndarray] = []

    def take(self, t_min: float, cnt: np.ndarray, cell: np.ndarray, state: np.ndarray) -> None:
        """Record the living counts (``cnt``) and the dead (from the agents) now."""
        frame = np.empty((len(STATES), self.cells.size), np.uint16)
        living = cnt[self.cells, : K.NLIVING]
        frame[: K.NLIVING] = np.minimum(living, 65535).T
        dead = (state & K.STATE_MASK) == K.DEAD
        per_cell = np.bincount(cell[dead], minlength=self.shape[0] * self.shape[1])
        frame[K.NLIVING] = np.minimum(per_cell[self.cells], 65535)
        self.t_min.append(float(t_min))
        self.frames.append(frame)

    def result(self) -> Snapshots:
        """The snapshots taken."""
        return Snapshots(
            np.asarray(self.t_min, float), np.stack(self.frames), self.cells, self.shape
        )
