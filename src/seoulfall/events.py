"""The playbook: a scenario's ``[[events]]``, fired between steps.

An event fires at the start of a step: at a time (``at_min``, ``day``, ``at``: the first step
starting at or after it) or on a trigger (the first step that starts with a zombie or evolved
zombie in the trigger's region). What each does:

- ``quarantine``: cuts every link between a cell of the cordoned districts and a cell outside
  (nobody crosses while it holds: to the end of the run); with ``kill_probability`` > 0,
  soldiers on the line shoot each zombie standing on a boundary cell with that probability
  per step.
- ``close_bridges``: cuts every link into the bridges' cells (agents on a bridge may still
  walk off it).
- ``sound_lure``: a sound source (like the army's drones) at its place, heard within
  ``radius_m``, for ``duration_min``; with a ``path`` it moves through the path's cells in
  equal legs.
- ``airstrike``: each agent standing in the area (a district, a disc of ``radius_m`` around a
  cell or place, or the final zone of a named lure) dies with ``kill_probability``: zombies
  and humans alike.
- ``deploy_soldiers``: ``count`` soldiers (agents waiting off the map in the ``reserve``
  state since the start) appear in the place; soldiers are humans of the top strength level
  who advance on the zombies they sense instead of fleeing.
- ``evacuate``: the humans of ``districts`` head for the target (the place) by the shortest
  passable way, at fleeing speed, fleeing zombies they sense on the way; with ``remove``
  they leave the map as ``evacuated`` on reaching it.

Each event that fires adds one record to ``events.jsonl``: ``type``, ``name`` (if any),
``t_min``, ``day`` and its effect.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numba import njit

from seoulfall.engine import kernels as K
from seoulfall.engine import rng
from seoulfall.scenario import KST, ScenarioError


@njit(cache=True)
def any_zombie(cnt, cells):
    """Whether any of ``cells`` holds a zombie or an evolved zombie."""
    for c in cells:
        if cnt[c, K.ZOMBIE] + cnt[c, K.EVOLVED] > 0:
            return True
    return False


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
    """The enabled events of a scenario, resolved on its world, and their firing."""

    def __init__(self, sim):
        self.sim = sim
        sc, world = sim.scenario, sim.world
        self.dt = sc.time.dt_min
        self.pending = []  # (index, event, step or None, trigger cells or None)
        self.cells: dict[int, int] = {}  # each event's place, resolved before the run starts
        for i, e in enumerate(sc.events):
            if not e.enabled:
                continue
            self.pending.append((i, e, self._step_of(e), self._trigger_cells(e, world)))
            if e.district or e.cell or e.place:
                self.cells[i] = self._resolve_cell(e, i)
            if e.districts:
                self._cells_of(e.districts)
            ny, nx = world.shape
            for r, c in e.path:
                if r >= ny or c >= nx or not world.passable[r, c]:
                    raise ScenarioError(
                        f"events.{i}.path: [{r}, {c}] is not a passable cell of this {ny}x{nx} map"
                    )
        self.lure_zone: dict[str, tuple[int, float]] = {}  # name -> (final cell, radius cells)
        self.records: list[dict] = []

    # -- when ----------------------------------------------------------------------------
    def _step_of(self, e) -> int | None:
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
            mask = d == self._district(e.trigger_district, "trigger_district")
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
        cnt = self.sim.cnt
        due = []
        for item in self.pending:
            _, e, s, cells = item
            if (s is not None and s <= step) or (cells is not None and any_zombie(cnt, cells)):
                due.append(item)
        fired = []
        for item in due:
            self.pending.remove(item)
            fired.append(self._fire(item[0], item[1], step))
        return fired

    # -- what ----------------------------------------------------------------------------
    def _district(self, key: str, what: str) -> int:
        try:
            return self.sim.world.district_index(key)
        except KeyError as exc:
            raise ScenarioError(f"events: {what}: {exc.args[0]}") from None

    def _cells_of(self, districts) -> np.ndarray:
        d = self.sim.world.district.ravel()
        idx = [self._district(x, "districts") for x in districts]
        return np.isin(d, idx) & self.sim.world.passable.ravel()

    def _place_cell(self, e, i: int) -> int:
        return self.cells[i]

    def _resolve_cell(self, e, i: int) -> int:
        from seoulfall.engine.population import start_cell

        world = self.sim.world
        if e.place is not None:
            if e.place not in world.places:
                allowed = ", ".join(world.places) or "none"
                raise ScenarioError(f"events.{i}.place = {e.place!r}: unknown; allowed: {allowed}")
            r, c = world.places[e.place]
            return r * world.shape[1] + c
        gen = np.random.default_rng([self.sim.seed, rng.SETUP, 3, i])
        return start_cell(
            world, self.sim.scenario, gen, e, f"events.{i}", self.sim.outbreak_district
        )

    def _disc(self, cell: int, radius: float) -> np.ndarray:
        ny, nx = self.sim.world.shape
        r, c = np.divmod(np.arange(ny * nx), nx)
        r0, c0 = divmod(cell, nx)
        return (np.hypot(r - r0, c - c0) <= radius) & self.sim.world.passable.ravel()

    def _fire(self, i: int, e, step: int) -> dict:
        sim = self.sim
        st = sim.stepper
        before = st.cast_state.copy()
        rec = {"type": e.type}
        if e.name:
            rec["name"] = e.name
        rec["t_min"] = step * self.dt
        rec["day"] = step * self.dt / 1440.0
        cell_m = sim.world.cell_m
        if e.type == "quarantine":
            inside = self._cells_of(e.districts)
            nbr = sim.nbr
            cut = (nbr >= 0) & (inside[:, None] != inside[np.maximum(nbr, 0)])
            edge = np.flatnonzero(cut.any(axis=1))
            nbr[cut] = -1
            if e.kill_probability > 0:
                st.zk[edge] = e.kill_probability
            rec["districts"] = list(e.districts)
            rec["links_closed"] = int(cut.sum())
            rec["cells_on_line"] = int(edge.size)
        elif e.type == "close_bridges":
            world = sim.world
            names = world.bridge_names if e.bridges == "all" else list(e.bridges)
            idx = [world.bridge_names.index(b) for b in names if b in world.bridge_names]
            closed = np.isin(world.bridge.ravel(), idx) & (world.bridge.ravel() >= 0)
            nbr = sim.nbr
            into = (nbr >= 0) & closed[np.maximum(nbr, 0)]
            nbr[into] = -1
            rec["bridges"] = names
            rec["cells_closed"] = int(closed.sum())
        elif e.type == "sound_lure":
            cells = [self._place_cell(e, i)] + [r * sim.world.shape[1] + c for r, c in e.path]
            dur = max(1, int(round(e.duration_min / self.dt)))
            legs = len(cells)
            for k, c in enumerate(cells):
                a, b = step + k * dur // legs, step + (k + 1) * dur // legs
                st.add_sound(c, e.loudness, e.radius_m / cell_m, a, max(b, a + 1))
            if e.name:
                self.lure_zone[e.name] = (cells[-1], e.radius_m / cell_m / 2)
            rec["cell"] = list(divmod(cells[-1], sim.world.shape[1]))
            rec["duration_min"] = e.duration_min
        elif e.type == "airstrike":
            if e.lure is not None:
                if e.lure not in self.lure_zone:
                    raise ScenarioError(
                        f"events.{i}: airstrike on lure {e.lure!r} before it sounds"
                    )
                zone = self._disc(*self.lure_zone[e.lure])
            elif e.district is not None and e.cell is None and e.place is None:
                zone = self._cells_of([e.district])
            else:
                zone = self._disc(self._place_cell(e, i), e.radius_m / cell_m)
            a = sim.agents
            states = a.states()
            hit = (a.cell >= 0) & (states < K.NLIVING)
            hit[hit] = zone[a.cell[hit]]
            ids = np.flatnonzero(hit)
            u = rng.uniform_array(sim.seed, rng.STRIKE, step, a.aid[ids].astype(np.int64))
            dead = ids[u < e.kill_probability]
            killed = np.bincount(states[dead], minlength=K.NLIVING)
            a.state[dead] = K.DEAD
            a.timer[dead] = 0.0
            st.recount()
            rec["cells"] = int(zone.sum())
            rec["killed"] = {K.STATE_NAMES[k]: int(killed[k]) for k in range(K.NLIVING)}
        elif e.type == "deploy_soldiers":
            a = sim.agents
            reserve = np.flatnonzero(a.states() == K.RESERVE)
            reserve = reserve[np.argsort(a.aid[reserve], kind="stable")]
            take = reserve[: sim.soldiers_of(e)]
            c = self._place_cell(e, i)
            a.cell[take] = c
            a.state[take] = K.HUMAN | (K.SOLDIER_LEVEL << K.LEVEL_SHIFT)
            st.recount()
            rec["deployed"] = int(take.size)
            rec["cell"] = list(divmod(c, sim.world.shape[1]))
        elif e.type == "evacuate":
            a = sim.agents
            src = self._cells_of(e.districts)
            states = a.states()
            who = (states == K.HUMAN) & (a.cell >= 0)
            who[who] = src[a.cell[who]] & ((a.state[who] >> K.LEVEL_SHIFT) != K.SOLDIER_LEVEL)
            a.state[who] |= K.EVACUATING
            target = self._place_cell(e, i)
            zone = self._disc(target, max(1.0, e.radius_m / cell_m / 3))
            st.fv[:] = bfs_distance(sim.nbr, np.flatnonzero(zone))
            self.evac_zone = zone
            sim.P[K.P_EVAC_REMOVE] = sim.stepper.P_night[K.P_EVAC_REMOVE] = float(e.remove)
            rec["evacuating"] = int(who.sum())
            per = np.bincount(
                sim.cell_district[a.cell[who]], minlength=len(sim.world.district_codes)
            )
            rec["evacuating_from"] = {
                code: int(n) for code, n in zip(sim.world.district_codes, per) if n
            }  # who was saved from where: an emptied district has not fallen
            rec["target"] = list(divmod(target, sim.world.shape[1]))
        if e.type in ("quarantine", "close_bridges") and hasattr(self, "evac_zone"):
            st.fv[:] = bfs_distance(sim.nbr, np.flatnonzero(self.evac_zone))
        for who in np.flatnonzero(st.cast_state != before):
            st.cast_records.append(
                (int(who), step - 1, int(st.cast_state[who]), int(st.cast_cell[who]))
            )
        self.records.append(rec)
        return rec
