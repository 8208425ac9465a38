"""The playbook at run time: the enabled events, resolved on the world, fired between steps.

An event fires at the start of a step: at a time (``at_min``, ``day``, ``at``: the first step
starting at or after it) or on a trigger (the first step that starts with a zombie or evolved
zombie in the trigger's region). What each type does is in its own module of this package.

Each event that fires adds one record to ``events.jsonl``: ``type``, ``name`` (if any),
``t_min``, ``day`` and its effect.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from seoulfall import safeload
from seoulfall.engine import kernels as K
from seoulfall.engine import rng
from seoulfall.engine.population import start_cell
from seoulfall.engine.states import CAUSE_BY_EVENT
from seoulfall.schema import KST, ScenarioError


def bfs_distance(nbr: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Hops from every cell to the nearest target cell over the passable links."""
    dist = np.full(nbr.shape[0], K.FAR, np.int32)
    queue = deque(int(t) for t in targets)
    dist[targets] = 0
    while queue:
        c = queue.popleft()
        d = dist[c] + 1
        for nb in nbr[c]:
            if nb >= 0 and dist[nb] > d:
                dist[nb] = d
                queue.append(int(nb))
    return dist


class Playbook:
    """The enabled events of a scenario, resolved on its world, and their firing.

    Its state between steps (for a checkpoint: :meth:`to_checkpoint`,
    :meth:`from_checkpoint`) is which events are still pending, the zones named lures left,
    the evacuation's target zone and the records of the events fired.
    """

    def __init__(self, sim):
        self.sim = sim
        sc, world = sim.scenario, sim.world
        self.dt = sc.time.dt_min
        self.pending = []  # (index, event, step or None, trigger cells or None)
        self.cells: dict[int, int] = {}  # each event's place, resolved before the run starts
        for i, e in enumerate(sc.events):
            if not e.enabled:
                continue
            self.pending.append((i, e, self.step_of(e), self._trigger_cells(e, world)))
            e.prepare(self, i)
        self.lure_zone: dict[str, tuple[int, float]] = {}  # name -> (final cell, radius cells)
        self.evac_zone: np.ndarray | None = None  # the evacuation's target cells (a mask)
        self.records: list[dict] = []

    # -- a checkpoint's part: to_checkpoint, check_checkpoint, from_checkpoint ---------------
    def to_checkpoint(self) -> tuple[dict, dict]:
        """What a checkpoint keeps: (JSON fields, arrays)."""
        meta = {
            "pending": [i for i, *_ in self.pending],
            "lure_zone": self.lure_zone,
            "records": self.records,
        }
        zone = np.zeros(0, bool) if self.evac_zone is None else self.evac_zone
        return meta, {"evac_zone": zone}

    def check_checkpoint(self, meta: dict, z: dict, what: str) -> dict:
        """Checked copies of a checkpoint's playbook state (``DamagedFile`` if wrong)."""
        bad = safeload.DamagedFile
        ncells = self.sim.world.passable.size
        evac = safeload.expect(z, "evac_zone", what, bool)
        if evac.size not in (0, ncells) or evac.ndim != 1:
            raise bad(f"{what}: evac_zone has shape {evac.shape}")
        indices = {item[0] for item in self.pending}
        if not all(isinstance(i, int) and i in indices for i in meta["pending"]):
            raise bad(f"{what}: meta.pending names events this scenario does not have")
        lure_zone = {}
        for k, v in meta["lure_zone"].items():
            if not (isinstance(v, list) and len(v) == 2 and isinstance(v[0], int)
                    and 0 <= v[0] < ncells and isinstance(v[1], (int, float))
                    and math.isfinite(v[1]) and 0 <= v[1] <= 1e6):  # fmt: skip
                raise bad(f"{what}: meta.lure_zone[{k!r}] is not a zone")
            lure_zone[k] = (int(v[0]), float(v[1]))
        if not all(isinstance(r, dict) for r in meta["records"]):
            raise bad(f"{what}: meta.records are not event records")
        return {"evac_zone": evac, "pending": set(meta["pending"]), "lure_zone": lure_zone,
                "records": meta["records"], "what": what}  # fmt: skip

    def from_checkpoint(self, checked: dict) -> None:
        """Take the state :meth:`check_checkpoint` returned (after the stepper and the links).

        The steps to the evacuation's target follow from its zone and the links: the
        stepper's copy must agree.
        """
        evac = checked["evac_zone"]
        saved = self.sim.stepper.fv.copy()
        self.evac_zone = evac if evac.size else None
        st = self.sim.stepper
        if self.evac_zone is not None:
            self.route_evacuees()
        else:
            st.fv[:] = K.FAR
        if not np.array_equal(st.fv, saved):
            raise safeload.DamagedFile(
                f"{checked['what']}: fv disagrees with the evacuation zone and the links"
            )
        self.pending = [item for item in self.pending if item[0] in checked["pending"]]
        self.lure_zone = checked["lure_zone"]
        self.records = checked["records"]

    # -- when ----------------------------------------------------------------------------
    def step_of(self, e) -> int | None:
        """The step an event fires at (``None``: on its trigger)."""
        if e.trigger is not None:
            return None
        if e.at_min is not None:
            t = e.at_min
        elif e.day is not None:
            t = e.day * 1440.0
        else:
            start = self.sim.scenario.time.start.astimezone(KST)
            t = (e.at.astimezone(KST) - start).total_seconds() / 60.0
            if t < 0:
                raise ScenarioError(f"events: {e.type} at {e.at.isoformat()} is before the start")
        return int(np.ceil(t / self.dt - 1e-9))

    def _trigger_cells(self, e, world) -> np.ndarray | None:
        if e.trigger is None:
            return None
        d = world.district.ravel()
        if e.trigger == "first_zombie_in":
            mask = d == self.district(e.trigger_district, "trigger_district")
        else:
            side = "south" if e.trigger == "first_zombie_south" else "north"
            sides = np.array([s == side for s in world.district_sides] + [False])
            mask = sides[d] & (d >= 0)
        return np.flatnonzero(mask & world.passable.ravel()).astype(np.int64)

    def next_step(self) -> int | None:
        """The step of the next timed event (None if none is left)."""
        steps = [s for _, _, s, _ in self.pending if s is not None]
        return min(steps) if steps else None

    @property
    def watching(self) -> bool:
        """Whether a trigger is still waiting (then the run checks it every step)."""
        return any(cells is not None for _, _, _, cells in self.pending)

    def fire_due(self, step: int) -> list[dict]:
        """Fire every event due at the start of ``step``, in scenario order."""
        st = self.sim.stepper
        due = []
        for item in self.pending:
            _, e, s, cells = item
            if (s is not None and s <= step) or (cells is not None and st.any_zombie(cells)):
                due.append(item)
        fired = []
        for item in due:
            self.pending.remove(item)
            fired.append(self._fire(item[0], item[1], step))
        return fired

    def _fire(self, i: int, e, step: int) -> dict:
        st = self.sim.stepper
        st.sync()  # the agents on the host, where the event acts (a GPU may hold them)
        before = st.cast_state.copy()
        rec = {"type": e.type}
        if e.name:
            rec["name"] = e.name
        rec["t_min"] = step * self.dt
        rec["day"] = step * self.dt / 1440.0
        e.fire(self, i, step, rec)
        if e.cuts_links:  # the ways out and the ways home changed
            if self.evac_zone is not None:
                self.route_evacuees()
            st.route_commuters()
        cause = K.CAUSE_NAMES.index(CAUSE_BY_EVENT.get(e.type, "event"))
        st.record_cast_changes(before, step - 1, cause)  # between steps: at the end of the last
        st.edited()  # what the event changed goes to a GPU before the next step
        self.records.append(rec)
        return rec

    # -- helpers for the event types -------------------------------------------------------
    def district(self, key: str, what: str) -> int:
        """A district's index on the map, or a one-line error naming ``what``."""
        try:
            return self.sim.world.district_index(key)
        except KeyError as exc:
            raise ScenarioError(f"events: {what}: {exc.args[0]}") from None

    def cells_of(self, districts) -> np.ndarray:
        """The passable cells of some districts (a mask over the map's cells)."""
        d = self.sim.world.district.ravel()
        idx = [self.district(x, "districts") for x in districts]
        return np.isin(d, idx) & self.sim.world.passable.ravel()

    def resolve_cell(self, e, i: int) -> int:
        """The cell of a placed event: its named place, cell, or one drawn in its district."""
        sim = self.sim
        world = sim.world
        if e.place is not None:
            if e.place not in world.places:
                allowed = ", ".join(world.places) or "none"
                raise ScenarioError(f"events.{i}.place = {e.place!r}: unknown; allowed: {allowed}")
            r, c = world.places[e.place]
            return r * world.shape[1] + c
        gen = np.random.default_rng([sim.seed, rng.SETUP, 3, i])
        return start_cell(world, sim.scenario, gen, e, f"events.{i}", sim.outbreak_district)

    def disc(self, cell: int, radius: float) -> np.ndarray:
        """The passable cells within ``radius`` cells of ``cell`` (a mask)."""
        ny, nx = self.sim.world.shape
        r, c = np.divmod(np.arange(ny * nx), nx)
        r0, c0 = divmod(cell, nx)
        return (np.hypot(r - r0, c - c0) <= radius) & self.sim.world.passable.ravel()

    def route_evacuees(self) -> None:
        """Steps from every cell to the evacuation's target, over the links open now."""
        fv = self.sim.stepper.fv  # the map's cells (then the subway's cars: never a way)
        fv[: self.sim.world.ncells] = bfs_distance(self.sim.nbr, np.flatnonzero(self.evac_zone))
