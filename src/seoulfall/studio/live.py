"""A live run in the studio: the engine steps in a worker thread, the page takes the newest frame.

The run is an ordinary :meth:`Simulation.run`; between blocks of steps (``tick``) it hands a
frame (the per-cell counts of the living, at most every ``FRAME_EVERY_S`` seconds of wall
time) to a single slot that the page polls. A slow page gets the newest frame and never a
queue, and the stepping never waits for the page. Pause, play, one block at a time and stop
act at a block boundary. The finished run is saved as a normal run folder, which the studio
then replays.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from seoulfall.engine import kernels as K
from seoulfall.scenario import SYNTHETIC_MAPS, Scenario
from seoulfall.simulation import Simulation
from seoulfall.snapshots import STATES

#: The shortest wall time between two frames of a live run (the page's render interval).
FRAME_EVERY_S = 0.2
#: Boundaries (frames, pauses, actions) per recorded row of the time series.
TICKS_PER_ROW = 12


#: The name of the event that holds a live run's reserve of soldiers until a click.
RESERVE = "studio soldiers"


def reserve_event(sc: Scenario, count: int) -> dict:
    """A ``deploy_soldiers`` event that holds ``count`` soldiers in reserve.

    Timed after the run's end, it never fires unless a click deploys them (then it is
    moved to that step and cell); the soldiers are agents made at set-up, so they must be
    asked for at the start.
    """
    strength = next((e.strength for e in sc.events if e.type == "deploy_soldiers"), 5.0)
    # a place it would never reach by itself: the outbreak's district, or a synthetic map's
    # corner (those maps have no districts)
    where = {"cell": [0, 0]} if sc.world.map in SYNTHETIC_MAPS else {"district": "outbreak"}
    return {"type": "deploy_soldiers", "name": RESERVE, "count": count, "strength": strength,
            "at_min": sc.time.days * 1440.0 + sc.time.dt_min, **where}  # fmt: skip


class _Stopped(Exception):
    """Raised in the run's progress callback to end a run stopped from the page."""


def world_payload(world, cells: np.ndarray) -> bytes:
    """The map the page draws under the counts, as bytes.

    Each cell's district (int16, -1 outside), its kind (uint8: 0 land, 1 water, 2 bridge,
    3 outside), then the counted cells (int32), little-endian.
    """
    kind = np.where(world.water, 1, 0).astype(np.uint8)
    kind[world.bridge >= 0] = 2
    kind[~world.inside] = 3
    district = np.where(world.inside, world.district, -1).astype("<i2")
    return district.tobytes() + kind.tobytes() + np.asarray(cells).astype("<i4").tobytes()


def world_districts(world, fall_days: dict | None = None) -> list[dict]:
    """Each district's code, English and Korean names, and fall day (if known)."""
    ko = world.district_names_ko or [""] * len(world.district_codes)
    fall_days = fall_days or {}
    return [
        {"code": c, "name": world.district_names[i], "name_ko": ko[i], "fall_day": fall_days.get(c)}
        for i, c in enumerate(world.district_codes)
    ]


class LiveRun:
    """One run stepping in a thread, or a command-line run watched (``sim`` given).

    ``state`` is starting, running, paused, saving, done, stopped or failed;
    ``frame(after, timeout)`` waits for a frame newer than ``after``. A run started from the
    page steps in a thread of its own; a run of ``seoulfall run --serve`` steps in the
    command's thread, calling :meth:`tick` (``watch_only``: the page may pause it, not steer
    it, since its scenario is the command's and its checkpoints are resumed with it).
    """

    def __init__(
        self,
        scenario: Scenario,
        folder: Path,
        on_done=None,
        paused: bool = False,
        sim=None,
        backend: str = "cpu",
    ):
        self.scenario = scenario
        self.folder = folder
        self.on_done = on_done
        self.state = "starting"
        self.error = None
        self.step = 0
        self.nsteps = scenario.steps
        self.run_id = None  # the replay's number once saved
        self.watch_only = sim is not None
        self.backend = backend
        self._paused = paused  # paused: it stops after its first recorded block
        self._actions: list[dict] = []  # the page's actions, applied at the next boundary
        self.applied: list[dict] = []  # the events they became (with their step)
        self._steps_allowed = 0
        self._deployed = False  # the reserve of soldiers is deployed (once)
        self._numbered = 0  # actions named studio 1, studio 2, ...
        self._stop = False
        self._cond = threading.Condition()
        self._frame = (0, 0.0, b"")
        self._last = 0.0
        self.publish_seconds = 0.0  # the server's cost of the frames (for the benchmark)
        self.sim = None
        self._ready = threading.Event()
        if sim is not None:
            self._attach(sim)
            return
        self._thread = threading.Thread(target=self._run, name="seoulfall-live", daemon=True)
        self._thread.start()

    # -- the worker ----------------------------------------------------------------------
    def _attach(self, sim: Simulation) -> None:
        self.sim = sim
        self.cells = np.flatnonzero(sim.world.passable.ravel())
        self.map_bytes = world_payload(sim.world, self.cells)
        #: Steps between two boundaries (frames, pauses, actions): a twelfth of a row.
        self.tick_every = max(1, sim.record_every // TICKS_PER_ROW)
        self._ready.set()
        self.state = "running"
        self._publish(0)

    def _run(self) -> None:
        try:
            self._attach(Simulation(self.scenario, backend=self.backend))
            res = self.sim.run(tick=self.tick, tick_every=self.tick_every)
            self.state = "saving"
            res.save(self.folder)
            self.ended(True)
        except _Stopped:
            self.ended(False)
        except Exception as exc:  # noqa: BLE001 - shown in the page, the server goes on
            self.ended(False, f"{exc.__class__.__name__}: {exc}")

    def ended(self, saved: bool, error: str | None = None) -> None:
        """The run is over: saved in its folder (then replayable), stopped, or failed."""
        try:
            if saved and self.on_done is not None:  # replayable before the page hears it
                self.run_id = self.on_done(self.folder)
        finally:
            self.error = error
            self.state = "done" if saved else "failed" if error else "stopped"
            self._ready.set()
            with self._cond:
                self._cond.notify_all()

    def tick(self, step: int) -> None:
        """A step boundary (``Simulation.run``'s ``tick``): frame, actions, pause, stop."""
        self.step = step
        now = time.monotonic()
        shown = now - self._last >= FRAME_EVERY_S or step == self.nsteps
        if shown:
            self._publish(step)
        with self._cond:
            self._apply_actions()
            if self._steps_allowed > 0:
                self._steps_allowed -= 1
            while self._paused and self._steps_allowed == 0 and not self._stop:
                if not shown:  # a paused run shows where it stopped
                    self._publish(step)
                    shown = True
                self.state = "paused"
                self._cond.wait(0.5)
                self._apply_actions()  # while paused: at this very boundary
            if self._stop:
                raise _Stopped
            self.state = "running"

    def _apply_actions(self) -> None:
        """Turn the page's queued actions into events firing at this step (under the lock).

        Each becomes an event of the scenario, timed at this boundary (``at_min``), so the
        saved scenario replays the session: prepared and added to the playbook exactly as
        one read from the file would be.
        """
        sim = self.sim
        while self._actions:
            ev = {**self._actions.pop(0), "at_min": self.step * self.scenario.time.dt_min}
            if ev["type"] == "deploy_soldiers":  # the reserve's event, moved to here and now
                self._deploy(ev)
                continue
            sc = sim.scenario.override({"events+": ev})  # checked when it was asked for
            self._schedule(sc, len(sc.events) - 1)
            self.applied.append({**ev, "step": self.step})

    def _schedule(self, sc: Scenario, i: int) -> None:
        """Make ``sc`` the run's scenario and its event ``i`` pending in the playbook.

        Prepared as one read from the file would be; it takes the place of the event's old
        entry if it had one. The playbook fires pending events in scenario order, as a run of
        the saved scenario will.
        """
        book = self.sim.playbook
        e = sc.events[i]
        e.prepare(book, i)
        rest = [item for item in book.pending if item[0] != i]
        book.pending = sorted([*rest, (i, e, book.step_of(e), None)], key=lambda item: item[0])
        self.sim.scenario = self.scenario = sc

    def _reserve(self, scenario: Scenario) -> int | None:
        """The index of the reserve's event while it is still pending, else ``None``."""
        pending = {i for i, *_ in self.sim.playbook.pending}
        for i, e in enumerate(scenario.events):
            if e.type == "deploy_soldiers" and e.name == RESERVE and i in pending:
                return i
        return None

    def _deploy(self, ev: dict) -> None:
        """Fire the reserve's event at this boundary, at the clicked cell (under the lock)."""
        i = self._reserve(self.sim.scenario)
        sc = self.sim.scenario.override(
            {f"events.{i}.at_min": ev["at_min"], f"events.{i}.cell": ev["cell"]}
        )
        self._schedule(sc, i)
        self.applied.append({**ev, "name": RESERVE, "step": self.step})

    def _publish(self, step: int) -> None:
        t0 = time.perf_counter()
        cnt = self.sim.cnt[self.cells, : K.NLIVING]
        frame = np.zeros((len(STATES), self.cells.size), "<u2")
        frame[: K.NLIVING] = np.minimum(cnt.T, 65535)  # the dead are not counted live
        self._last = time.monotonic()
        data = frame.tobytes()
        self.publish_seconds += time.perf_counter() - t0
        with self._cond:
            self._frame = (self._frame[0] + 1, step * self.scenario.time.dt_min, data)
            self._cond.notify_all()

    # -- what the page calls ---------------------------------------------------------------
    def wait_ready(self, timeout: float) -> bool:
        """Whether the run has its map (set-up done, or failed), waiting up to ``timeout``."""
        return self._ready.wait(timeout)

    def frame(self, after: int, timeout: float) -> tuple[int, float, bytes] | None:
        """The newest frame if its number is above ``after`` (waiting up to ``timeout``)."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._frame[0] <= after and self.state not in ("done", "stopped", "failed"):
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._frame if self._frame[0] > after else None

    def act(self, event: dict) -> dict:
        """Queue an event (a dict of scenario keys) to fire at the next step boundary.

        Checked now against the run's scenario (``ScenarioError`` if it cannot be); named
        ``studio N`` unless it has a name.
        """
        if self.finished or self.sim is None:
            raise ValueError(f"the run is {self.state}: nothing to steer")
        if self.watch_only:
            raise ValueError(
                "a seoulfall run --serve run is watched, not steered (start a live run here to "
                "steer one)"
            )
        numbered = "name" not in event  # ``studio N`` once queued (under the lock: the worker
        ev = {"name": "studio", **event}  # moves actions from the queue meanwhile)
        if ev["type"] == "deploy_soldiers":
            if self._reserve(self.sim.scenario) is None or self._deployed:
                raise ValueError(
                    "no soldiers in reserve: ask for them when the run starts (they are "
                    "deployed once)"
                )
            ev = {"type": "deploy_soldiers", "cell": ev.get("cell"), "name": RESERVE}
            numbered = False
        sc = self.sim.scenario.override({"events+": {**ev, "at_min": 0.0}})
        e = sc.events[-1]
        if getattr(e, "placed", False):  # its place, resolved as the playbook will: off the
            self.sim.playbook.resolve_cell(e, len(sc.events) - 1)  # map is refused now
        with self._cond:
            if numbered:
                self._numbered += 1
                ev["name"] = f"studio {self._numbered}"
            self._deployed |= ev["type"] == "deploy_soldiers"
            self._actions.append(ev)
            self._cond.notify_all()
        return ev

    def control(self, action: str) -> None:
        """``pause``, ``play``, ``step`` (one block) or ``stop``, at a block's end."""
        with self._cond:
            if action == "pause":
                self._paused = True
            elif action == "play":
                self._paused = False
            elif action == "step":
                self._paused = True
                self._steps_allowed += 1
            elif action == "stop":
                if self.watch_only:
                    raise ValueError("Ctrl-C in its terminal stops a seoulfall run --serve run")
                self._stop = True
            else:
                raise ValueError(f"unknown action {action!r}: pause, play, step or stop")
            self._cond.notify_all()

    def status(self) -> dict:
        """What the page shows: the state, the step, the time, a failure's message."""
        dt = self.scenario.time.dt_min
        return {
            "state": self.state,
            "step": self.step,
            "nsteps": self.nsteps,
            "t_min": self.step * dt,
            "frame": self._frame[0],
            "error": self.error,
            "run": self.run_id,
            "actions": self.applied,
            "publish_seconds": round(self.publish_seconds, 4),
            "watch_only": self.watch_only,
        }

    @property
    def finished(self) -> bool:
        """Whether the run has ended (saved, stopped or failed)."""
        return self.state in ("done", "stopped", "failed")
