"""The ``seoulfall`` command line (SPEC §8).

Exit status: 0 on success, 2 for bad input (one line on stderr, no traceback), 1 for an
internal error (one line; set ``SEOULFALL_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from seoulfall import __version__, checkpoint
from seoulfall import runfolder as rf
from seoulfall import validate as checks_mod
from seoulfall.atomic import atomic_write_json
from seoulfall.calibration import OWN as OWN_CALIBRATE
from seoulfall.calibration import calibrate as run_calibration
from seoulfall.calibration import parse_target
from seoulfall.checkpoint import CheckpointError
from seoulfall.engine.stepper import BackendError
from seoulfall.outcome import last_standing, over_the_edge, saved_by_flight, underground
from seoulfall.results import Results
from seoulfall.safeload import DamagedFile
from seoulfall.scenario import Scenario, ScenarioError, bundled_scenarios, load_raw, parse_value
from seoulfall.sensitivity_analysis import DEFAULT_OUTPUTS, check_design, runs_needed
from seoulfall.sensitivity_analysis import OWN as OWN_SENSITIVITY
from seoulfall.sensitivity_analysis import sensitivity as run_sensitivity
from seoulfall.simulation import Simulation, check_backend, check_outputs_fit
from seoulfall.study import StudyError, check_folder_args, check_output, parse_ranges
from seoulfall.sweep import OWN as OWN_SWEEP
from seoulfall.sweep import SweepError, ensemble, read_runs

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="seoulfall: a zombie outbreak on Seoul's real map (All of Us Are Dead, season 2).",
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"seoulfall {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """seoulfall: a zombie outbreak on Seoul's real map (All of Us Are Dead, season 2)."""


#: ``--set KEY=VALUE``, as ``run`` and ``sweep`` take it.
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="override a key, e.g. zombie.bite_rate=0.3 (repeatable; keys: docs/scenario-keys.md)",
    ),
]

#: The options the studies share (``sweep``, ``calibrate``, ``sensitivity``).
ScaleOption = Annotated[float | None, typer.Option("--scale", help="population.scale")]
DaysOption = Annotated[float | None, typer.Option("--days", help="time.days")]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", min=1, help="start a local Dask cluster of N workers")
]
SchedulerOption = Annotated[
    str | None, typer.Option("--scheduler", help="address of a running Dask scheduler")
]
QuietOption = Annotated[bool, typer.Option("--quiet", help="no progress bar or summary")]
ScenarioArgument = Annotated[
    str, typer.Argument(help="bundled scenario name or path to a TOML file")
]

#: Files whose presence marks a folder as holding a run.
RUN_FILES = rf.LEGACY_MARKERS


class BadInput(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


def _fail(msg: str, code: int = 2):
    typer.echo(f"seoulfall: error: {msg}", err=True)
    raise typer.Exit(code)


@app.command()
def run(
    scenario: Annotated[
        str, typer.Argument(help="bundled scenario name or path to a TOML file")
    ] = "seoul-falls",
    out: Annotated[
        str | None, typer.Option("--out", help="run folder (default: under runs/)")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="random seed")] = None,
    scale: Annotated[float | None, typer.Option("--scale", help="population.scale")] = None,
    days: Annotated[float | None, typer.Option("--days", help="time.days (fractions ok)")] = None,
    set_: SetOption = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads")] = None,
    backend: Annotated[
        str, typer.Option("--backend", help="where the agents step: cpu, or gpu (NVIDIA, CUDA)")
    ] = "cpu",
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar or summary")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="overwrite a run folder that already holds a run")
    ] = False,
    checkpoint_every: Annotated[
        float | None,
        typer.Option(
            "--checkpoint-every", min=0.0, help="write a checkpoint every MINUTES simulated"
        ),
    ] = None,
    keep_checkpoints: Annotated[
        int,
        typer.Option(
            "--keep-checkpoints", min=0, help="checkpoints kept (the newest; 0: every one)"
        ),
    ] = 3,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue from the newest checkpoint in --out")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="check the invariants after every step")
    ] = False,
    serve_: Annotated[
        bool,
        typer.Option("--serve", help="watch the run live in the studio (a local web page)"),
    ] = False,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="the studio's port with --serve")
    ] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open", help="with --serve: open the page in a browser")
    ] = False,
) -> None:
    """Simulate a scenario and write a run folder."""
    overrides: list = list(set_ or [])
    if seed is not None:
        overrides.append(("seed", seed))
    if scale is not None:
        overrides.append(("population.scale", scale))
    if days is not None:
        overrides.append(("time.days", days))
    sc = Scenario.load(scenario, overrides)
    if out is not None:
        folder = rf.check_out(out)
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = Path("runs") / f"{rf.slug(sc.name)}-seed{sc.seed}-{stamp}"
    if resume and out is None:
        raise BadInput("--resume needs --out DIR: the run folder to continue")
    foreign = rf.foreign_entries(folder)
    clash = [n for n in foreign if n in rf.OWN]
    if clash:
        raise BadInput(
            f"--out {folder}: holds {', '.join(clash)}, which seoulfall did not write; "
            "choose another folder"
        )
    if foreign and not force:
        shown = ", ".join(foreign[:3]) + (
            f" (+{len(foreign) - 3} more)" if len(foreign) > 3 else ""
        )
        raise BadInput(
            f"--out {folder}: holds files seoulfall did not write ({shown}); choose another "
            "folder, or --force to write beside them (they are never touched)"
        )
    every = None
    if checkpoint_every:
        every = max(1, int(round(checkpoint_every / sc.time.dt_min)))
    sha = checkpoint.scenario_sha(sc)
    sock = None
    if serve_:
        from seoulfall import studio

        try:
            sock = studio.bind("127.0.0.1", port)  # a taken port: refused before any work
        except studio.StudioError as exc:
            raise BadInput(str(exc)) from None
    sim = None
    if not (resume and folder.is_dir() and _folder_state(folder, sc, sha) in ("complete", "data")):
        # set up (and refuse what cannot fit in memory or on disk) before the folder is made
        sim = Simulation(sc, threads=threads, backend=backend)
        check_outputs_fit(sim, folder / rf.CHECKPOINTS / rf.SPOOL, every or 0, keep_checkpoints)
    rf.make_folder(folder)
    ckpt_dir = folder / rf.CHECKPOINTS
    with rf.Lock(folder):
        rf.clear_own_temporaries(folder)  # the lock is ours: any temporary is a killed run's
        state = _folder_state(folder, sc, sha)
        if resume and state == "complete":
            typer.echo(f"seoulfall: {folder} already holds the finished run; nothing to do")
            return
        if resume and state == "data":
            _write_outputs(folder, sha)
            typer.echo(f"seoulfall: {folder}: the run was finished; wrote its missing outputs")
            return
        if state == "other" and (resume or not force):
            raise BadInput(
                f"--out {folder}: already holds a run of another scenario or seed; use --force "
                "to replace it, or another --out"
            )
        if not resume and state != "empty":
            if not force:
                raise BadInput(
                    f"--out {folder}: already holds a run; use --resume to continue it or "
                    "--force to replace it"
                )
        if force and not resume:
            rf.clear_own(folder)  # the whole previous run: data, pictures and checkpoints
        rf.write_manifest(folder, "running", sha)
        if sim is None:  # the folder changed since it was looked at
            sim = Simulation(sc, threads=threads, backend=backend)
        run_args = {
            "checkpoint_every": every,
            "checkpoint_dir": ckpt_dir,
            "checkpoint_keep": keep_checkpoints,
            "resume": resume,
            "check_every": 1 if check else None,
        }
        _NOTES.append(lambda: _kept_note(folder, ckpt_dir))
        live = _serve_run(sim, folder, sock, open_browser) if sock is not None else None
        if live is not None:
            run_args.update(tick=live.tick, tick_every=live.tick_every)
        if not quiet:  # the first run compiles for about half a minute: say so
            typer.echo("seoulfall: preparing the kernels (compiled once, then cached)...", err=True)
        with _progress(sc, sim.nsteps, quiet) as progress:
            res = sim.run(progress=progress, **run_args)
        res.save(folder, report=False)
        rf.write_manifest(folder, "data", sha)
        rf.drop_spool(ckpt_dir)  # its frames are in snapshots.npz now
        _NOTES[-1] = lambda: (
            f"the run's data is in {folder}; its plots and report are not all written: "
            f"rerun with --resume (or seoulfall report {folder}) to write them"
        )
        if not quiet:
            typer.echo("seoulfall: writing the plots, the animation and the report...", err=True)
        _write_outputs(folder, sha)
    if not quiet:
        typer.echo(summary_text(res.summary, folder))
    if live is not None:
        live.ended(True)  # the page now replays the run folder
        typer.echo("seoulfall studio: the run is done; Ctrl-C stops the studio", err=True)
        try:
            while True:
                time.sleep(3600)
        except Interrupted:
            typer.echo("seoulfall studio: stopped", err=True)


def _serve_run(sim, folder: Path, sock, open_browser: bool):
    """The studio in a thread, showing ``sim`` live as it steps (``seoulfall run --serve``)."""
    from seoulfall import studio
    from seoulfall.studio.live import LiveRun

    views: list = []

    def replay(f: Path) -> int | None:
        try:
            views.append(studio.RunView(f))
        except studio.StudioError:  # a run without map snapshots: nothing to replay
            return None
        return len(views) - 1

    live = LiveRun(sim.scenario, folder, on_done=replay, sim=sim)
    studio.serve(views, sock, open_browser=open_browser, live=[live], background=True)
    return live


#: What an interrupt leaves behind, said in its one line (the newest command's note).
_NOTES: list = []


def _kept_note(folder: Path, ckpt_dir: Path) -> str:
    latest = checkpoint.newest(ckpt_dir)
    if latest is None:
        return f"no checkpoint was written in {folder} (use --checkpoint-every to keep progress)"
    step = int(latest.stem.split("-")[1])
    return (
        f"kept the checkpoint at step {step:,} in {ckpt_dir}; continue with the same command "
        "and --resume"
    )


@contextlib.contextmanager
def _progress(sc, nsteps: int, quiet: bool):
    """A progress callback: a bar on a terminal, else a plain line at most every 10 s."""
    if quiet:
        yield None
        return
    day = sc.time.dt_min / 1440.0
    if sys.stderr.isatty():
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("day {task.fields[day]:.1f}"),
            TimeRemainingColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(sc.name, total=nsteps, day=0.0)
            yield lambda s, n: bar.update(task, completed=s, day=s * day)
        return
    t0 = last = time.monotonic()

    def line(s, n):
        nonlocal last
        now = time.monotonic()
        if now - last >= PLAIN_PROGRESS_S or s >= n:
            last = now
            typer.echo(
                f"seoulfall: {sc.name}: day {s * day:.2f} of {n * day:g} ({100 * s / n:.0f} %), "
                f"{now - t0:.0f} s",
                err=True,
            )

    yield line


#: Off a terminal, a progress line is printed at most this often (seconds of stepping).
PLAIN_PROGRESS_S = 10.0


def _write_outputs(folder: Path, sha: str) -> None:
    res = Results.load(folder)
    res.write_outputs(folder)
    rf.write_manifest(folder, "complete", sha)


def _folder_state(folder: Path, sc, sha: str) -> str:
    """What ``folder`` holds for this scenario.

    ``empty`` (nothing of a run), ``running`` (checkpoints), ``data`` (this run, outputs
    missing), ``complete`` (this run, finished) or ``other`` (a run of another scenario or
    seed).
    """
    m = rf.read_manifest(folder)
    has_data = all((folder / n).is_file() for n in rf.LEGACY_MARKERS)
    outputs_there = (folder / "report.html").is_file()
    if m is not None and has_data and m["state"] != "running":
        if m.get("scenario_sha256") != sha:
            return "other"
        return "complete" if (m["state"] == "complete" and outputs_there) else "data"
    if m is None and has_data:  # a run folder written before manifests existed
        if not _complete(folder, sc):
            return "other"
        return "complete" if outputs_there else "data"
    return "running" if _has_checkpoints(folder) else "empty"


def _complete(folder: Path, sc) -> bool:
    """Whether ``folder`` holds the data of this very scenario's finished run."""
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        same = (folder / "scenario.toml").read_text(encoding="utf-8") == sc.to_toml()
    except (OSError, ValueError):
        return False
    return same and isinstance(summary, dict) and summary.get("steps") == sc.steps


def _has_checkpoints(folder: Path) -> bool:
    return checkpoint.newest(folder / rf.CHECKPOINTS) is not None


def summary_text(s: dict, folder: Path) -> str:
    """The short summary printed at the end of a run."""
    fall = "Seoul held" if s["fall_day"] is None else f"fell on day {s['fall_day']:.2f}"
    fled = saved_by_flight(s)
    if fled:
        fall = (
            f"every district fell (the city held only with the {fled:,} who fled counted as saved)"
        )
    held, names = last_standing(s)
    last = ", ".join(names[:3])
    more = f" (+{len(names) - 3} more)" if len(names) > 3 else ""
    standing = "still standing" if held else "fell last"
    final = ", ".join(f"{k} {v:,}" for k, v in s["final"].items())
    rate = s["agent_steps_per_second"] or 0.0
    cast = ""
    if s.get("cast"):
        fates = [f"{n} {f['state']}" for n, f in s["cast"].items()]
        cast = "  cast: " + ", ".join(fates) + "\n"
    edge = over_the_edge(s)
    edge = f"  edge: {edge}\n" if edge else ""
    sub = underground(s)
    edge += f"  subway: {sub}\n" if sub else ""
    return (
        f"{s['scenario']} (seed {s['seed']}, {s['agents']:,} agents, {s['days']} days): {fall}; "
        f"peak {s['peak_zombies']['count']:,} zombies on day {s['peak_zombies']['day']:.2f}\n"
        f"  {standing}: {last}{more}\n"
        f"  final: {final}\n{cast}{edge}"
        f"  {s['wall_seconds']:.1f} s wall, {rate / 1e6:.0f} M agent-steps/s -> {folder}"
    )


@app.command()
def sweep(
    scenario: Annotated[
        str, typer.Argument(help="bundled scenario name or path to a TOML file")
    ] = "seoul-falls",
    seeds: Annotated[
        int, typer.Option("--seeds", min=1, help="seeds 0 .. N-1 per combination")
    ] = 10,
    set_: SetOption = None,
    vary: Annotated[
        list[str] | None, typer.Option("--vary", help="KEY=V1,V2,...: every value is tried")
    ] = None,
    scale: ScaleOption = None,
    days: DaysOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="ensemble folder")] = None,
    quiet: QuietOption = False,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="where the runs step: cpu, or gpu (several runs at once on one NVIDIA GPU)",
        ),
    ] = "cpu",
) -> None:
    """Run many seeds (and parameter values) and write the odds."""
    if workers and scheduler:
        raise BadInput("give --workers or --scheduler, not both")
    check_backend(backend)
    sc = Scenario.load(scenario, _overrides(set_, scale, days))
    grid = _vary_grid(vary or [])
    args = {"scenario": json.loads(json.dumps(sc.to_dict(), default=str)), "seeds": seeds,
            "vary": grid}  # fmt: skip
    folder = _study_folder(out, "sweep", sc, "sweep.json", args, OWN_SWEEP, "sweep")
    with rf.Lock(folder, what="sweep"):  # a second sweep into the folder is refused
        atomic_write_json(folder / "sweep.json", args)
        _NOTES.append(lambda: _study_note(folder, "sweep"))
        t0 = time.perf_counter()
        with _study_client(scheduler, workers) as (client, nworkers), _counter(quiet) as bar:
            ens = ensemble(sc, seeds, grid, client, workers=nworkers, out=folder, progress=bar,
                           backend=backend)  # fmt: skip
        if not quiet:
            s = ens.summary
            lines = [f"{s['runs']} runs in {time.perf_counter() - t0:.1f} s -> {folder}"]
            for c in s["combinations"]:
                label = ", ".join(f"{k}={v}" for k, v in c["vary"].items()) or "all"
                fd = c["quantiles"]["fall_day"]["q50"]
                med = "-" if fd is None else f"{fd:.2f}"
                lines.append(f"  {label}: P(falls) {c['p_fall']:.2f}, median fall day {med}")
                if c["cast"]:  # each combination's own odds, never pooled across them
                    odds = ", ".join(f"{n} {p:.2f}" for n, p in c["cast"].items())
                    lines.append(f"    cast survival: {odds}")
            typer.echo("\n".join(lines))


def _study_folder(out, kind: str, sc, marker: str, args: dict, own, what: str) -> Path:
    """The folder of a sweep, calibration or sensitivity study, made and checked.

    Refused: a folder holding files of ours that we did not write (no ``marker``), or a
    study with other arguments (``marker`` differs).
    """
    if out is not None:
        folder = rf.check_out(out)
    else:
        folder = Path("runs") / f"{kind}-{rf.slug(sc.name)}-{time.strftime('%Y%m%d-%H%M%S')}"
    clash = [n for n in rf.foreign_entries(folder) if n in own]
    if clash and not (folder / marker).exists():
        raise BadInput(
            f"--out {folder}: holds {', '.join(clash)}, which seoulfall did not write; "
            "choose another folder"
        )
    try:
        check_folder_args(folder, marker, args, what)
    except StudyError as exc:
        raise BadInput(str(exc)) from None
    rf.make_folder(folder)
    return folder


@contextlib.contextmanager
def _study_client(scheduler: str | None, workers: int | None):
    """``(client, workers)`` for a study, as a context.

    A running scheduler's client, or a local cluster's size (every core unless
    ``--workers``); the client is closed on the way out.
    """
    if workers and scheduler:
        raise BadInput("give --workers or --scheduler, not both")
    client = None
    if scheduler:
        from dask.distributed import Client

        failed = None
        try:
            client = Client(scheduler, timeout=10)
        except Exception as exc:  # noqa: BLE001 - any failure to connect is the address's
            failed = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        if failed is not None:
            # The half-made client lives on in a reference cycle. Collected later, inside
            # another client's start (a local cluster's, in the same process: a notebook,
            # the tests), its __del__ waits for the lock that start holds, and both hang
            # (seen in CI). Collect it now, out of the except block (whose traceback holds
            # it), while no lock is held.
            gc.collect()
            raise BadInput(f"--scheduler {scheduler}: cannot connect ({failed})")
    elif not workers:
        workers = os.cpu_count() or 1
    try:
        yield client, workers
    finally:
        if client is not None:
            client.close()


@contextlib.contextmanager
def _counter(quiet: bool):
    """A ``progress(done, total)`` callback: a bar on a terminal, else none."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("runs", total=None)
        yield lambda d, n: bar.update(task, completed=d, total=n)


def _overrides(set_, scale, days) -> list:
    overrides: list = list(set_ or [])
    if scale is not None:
        overrides.append(("population.scale", scale))
    if days is not None:
        overrides.append(("time.days", days))
    return overrides


@app.command()
def calibrate(
    scenario: ScenarioArgument = "seoul-falls",
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            metavar="KEY=VALUE",
            help="what the runs should show, e.g. fall_day=5, last_standing=Jongno-gu, "
            "cast.On-jo=survived, data=observed.csv; add :tol=T and :weight=W (repeatable)",
        ),
    ] = None,
    vary: Annotated[
        list[str] | None,
        typer.Option(
            "--vary",
            metavar="KEY=LO:HI[:log]",
            help="a key to search between LO and HI, e.g. zombie.bite_rate=0.05:1:log",
        ),
    ] = None,
    trials: Annotated[int, typer.Option("--trials", min=1, help="trials in the study")] = 20,
    seeds_per_trial: Annotated[
        int, typer.Option("--seeds-per-trial", min=1, help="seeds 0 .. K-1 run per trial")
    ] = 4,
    scale: ScaleOption = None,
    days: DaysOption = None,
    set_: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="calibration folder")] = None,
    quiet: QuietOption = False,
) -> None:
    """Search for the values that make the targets happen (Optuna), and write best.toml."""
    if workers and scheduler:
        raise BadInput("give --workers or --scheduler, not both")
    sc = Scenario.load(scenario, _overrides(set_, scale, days))
    parse_ranges(vary or [], sc)  # every argument is checked before any run
    targets = [parse_target(t, sc) for t in target or []]
    if not targets:
        raise BadInput("--target: give at least one, e.g. --target fall_day=5")
    args = {"scenario": json.loads(json.dumps(sc.to_dict(), default=str)),
            "targets": list(target or []), "vary": list(vary or []),
            "seeds_per_trial": seeds_per_trial}  # fmt: skip
    folder = _study_folder(out, "calibrate", sc, "calibrate.json", args, OWN_CALIBRATE,
                           "calibration")  # fmt: skip
    with rf.Lock(folder, what="calibration"):
        atomic_write_json(folder / "calibrate.json", args)
        _NOTES.append(lambda: _study_note(folder, "calibration"))
        if not quiet:
            typer.echo(
                f"seoulfall: calibrate: {trials} trials x {seeds_per_trial} seeds = "
                f"{trials * seeds_per_trial} runs at most (finished ones are kept) -> {folder}",
                err=True,
            )
        t0 = time.perf_counter()
        with _study_client(scheduler, workers) as (client, nworkers), _counter(quiet) as bar:
            cal = run_calibration(
                sc, targets, list(vary or []), trials, seeds_per_trial, client,
                workers=nworkers, out=folder, progress=bar,
            )  # fmt: skip
        if not quiet:
            best = ", ".join(f"{k}={v:.6g}" for k, v in cal.best.items())
            hits = ", ".join(f"{k} met in {v:.0%}" for k, v in cal.hits.items())
            typer.echo(
                f"{len(cal.trials)} trials in {time.perf_counter() - t0:.1f} s -> {folder}\n"
                f"  best (trial {cal.best_trial}, score {cal.best_score:.4g}): {best}\n"
                f"  over its {len(cal.records)} seeds: {hits}\n"
                f"  run it: seoulfall run {folder / 'best.toml'}"
            )


@app.command()
def sensitivity(
    scenario: ScenarioArgument = "seoul-falls",
    vary: Annotated[
        list[str] | None,
        typer.Option(
            "--vary", metavar="KEY=LO:HI[:log]", help="a key varied between LO and HI (repeatable)"
        ),
    ] = None,
    method: Annotated[str, typer.Option("--method", help="sobol or morris")] = "sobol",
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            help="N: Sobol' runs N (D + 2) points (N a power of 2), Morris N (D + 1)",
        ),
    ] = 64,
    outputs: Annotated[
        str,
        typer.Option(
            "--outputs",
            help="comma-separated: fall_day, peak_zombies, peak_day, final.STATE, "
            "fall_day.DISTRICT",
        ),
    ] = ",".join(DEFAULT_OUTPUTS),
    seeds_per_point: Annotated[
        int, typer.Option("--seeds-per-point", min=1, help="seeds 0 .. K-1 run per point")
    ] = 1,
    scale: ScaleOption = None,
    days: DaysOption = None,
    set_: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="sensitivity folder")] = None,
    quiet: QuietOption = False,
) -> None:
    """Which varied key decides each output: Sobol' or Morris indices (SALib)."""
    if workers and scheduler:
        raise BadInput("give --workers or --scheduler, not both")
    sc = Scenario.load(scenario, _overrides(set_, scale, days))
    ranges = parse_ranges(vary or [], sc)
    check_design(method, samples)
    names = [o.strip() for o in outputs.split(",") if o.strip()]
    for o in names:
        check_output(o, sc, "--outputs")
    if not names:
        raise BadInput("--outputs: name at least one output")
    points, runs = runs_needed(ranges, method, samples, seeds_per_point)
    args = {"scenario": json.loads(json.dumps(sc.to_dict(), default=str)), "vary": list(vary),
            "method": method, "samples": samples, "outputs": names,
            "seeds_per_point": seeds_per_point}  # fmt: skip
    folder = _study_folder(out, "sensitivity", sc, "sensitivity_args.json", args,
                           OWN_SENSITIVITY, "sensitivity study")  # fmt: skip
    with rf.Lock(folder, what="sensitivity study"):
        atomic_write_json(folder / "sensitivity_args.json", args)
        _NOTES.append(lambda: _study_note(folder, "sensitivity study"))
        if not quiet:
            typer.echo(
                f"seoulfall: sensitivity: {method}, {points} points x {seeds_per_point} seed(s) "
                f"= {runs} runs (finished ones are kept) -> {folder}",
                err=True,
            )
        t0 = time.perf_counter()
        with _study_client(scheduler, workers) as (client, nworkers), _counter(quiet) as bar:
            sens = run_sensitivity(
                sc, list(vary), method, samples, names, seeds_per_point, client,
                workers=nworkers, out=folder, progress=bar,
            )  # fmt: skip
        if not quiet:
            col = "ST" if method == "sobol" else "mu_star"
            lines = [f"{sens.runs} runs in {time.perf_counter() - t0:.1f} s -> {folder}"]
            for o in sens.outputs:
                d = sens.indices[sens.indices["output"] == o].sort_values(col, ascending=False)
                top = ", ".join(f"{r['key']} {r[col]:.2f}" for _, r in d.iterrows())
                lines.append(f"  {o} ({col}): {top}")
            typer.echo("\n".join(lines))


def _study_note(folder: Path, what: str) -> str:
    try:
        done = len(read_runs(folder))
    except ValueError:
        done = 0
    return (
        f"kept {done} finished run(s) of the {what} in {folder / 'runs.jsonl'}; rerun the "
        "same command to continue"
    )


def _vary_grid(items: list[str]) -> dict:
    """``--vary KEY=V1,V2,...`` options as ``{key: [values]}``, refusing what cannot be."""
    from datetime import date, datetime

    grid: dict = {}
    for item in items:
        if "=" not in item:
            raise BadInput(f"--vary {item!r}: expected KEY=V1,V2,... e.g. zombie.bite_rate=0.1,0.2")
        key, values = (p.strip() for p in item.split("=", 1))
        if key == "seed":
            raise BadInput("--vary seed: the seeds come from --seeds N (seeds 0 .. N-1)")
        if key in grid:
            raise BadInput(f"--vary {key}: given twice; list every value once: {key}=V1,V2,...")
        vals = [parse_value(v.strip()) for v in values.split(",") if v.strip()]
        vals = [v.isoformat() if isinstance(v, (date, datetime)) else v for v in vals]
        if not vals:
            raise BadInput(f"--vary {item!r}: no values")
        if any(isinstance(v, (list, dict)) for v in vals):
            raise BadInput(f"--vary {key}: vary single values (numbers, booleans, text)")
        if len({json.dumps(v) for v in vals}) != len(vals):
            raise BadInput(f"--vary {key}: a value is given twice")
        grid[key] = vals
    return grid


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="a run folder written by seoulfall run")],
) -> None:
    """Rebuild the plots, the animation and report.html of a run folder."""
    if not folder.is_dir():
        raise BadInput(f"{folder}: no such run folder")
    missing = [n for n in RUN_FILES if not (folder / n).exists()]
    if missing:
        raise BadInput(f"{folder}: not a run folder (missing {', '.join(missing)})")
    try:  # read and checked before anything is written: a refused report changes nothing
        res = Results.load(folder)
    except ScenarioError:
        raise
    except DamagedFile as exc:
        raise BadInput(f"{folder}: cannot read the run ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file: say which, keep the folder
        raise BadInput(f"{folder}: cannot read the run ({exc.__class__.__name__}: {exc})") from None
    with rf.Lock(folder, what="command"):
        t0 = time.perf_counter()
        timing = res.write_outputs(folder)
        m = rf.read_manifest(folder)
        if m is not None and m["state"] == "data":
            rf.write_manifest(folder, "complete", m.get("scenario_sha256"))
    parts = ", ".join(f"{k.removesuffix('_seconds')} {v:.1f} s" for k, v in timing.items())
    typer.echo(f"wrote {folder / 'report.html'} in {time.perf_counter() - t0:.1f} s ({parts})")


@app.command()
def scenarios(
    name: Annotated[
        str | None,
        typer.Argument(help="a bundled scenario: print its TOML (to read it, or to start a file)"),
    ] = None,
) -> None:
    """List the bundled scenarios, or print one of them (its TOML, comments included)."""
    bundled = bundled_scenarios()
    if name is not None:
        if name not in bundled:
            from difflib import get_close_matches

            near = get_close_matches(name, list(bundled), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise BadInput(f"unknown scenario {name!r}{hint}; bundled: {', '.join(bundled)}")
        typer.echo(bundled[name].read_text(encoding="utf-8"), nl=False)
        return
    for n in bundled:
        desc = load_raw(n).get("description", "")
        typer.echo(f"{n:<24} {desc}")


@app.command()
def serve(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(help="run folders to replay, sweep folders to show (seoulfall run, sweep)"),
    ] = None,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="port (0: any free)")
    ] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="address to listen on (another machine's reach: beware)")
    ] = "127.0.0.1",
    open_browser: Annotated[
        bool, typer.Option("--open", help="open the page in a browser")
    ] = False,
    runs_dir: Annotated[
        Path, typer.Option("--runs-dir", help="where live runs started from the page are saved")
    ] = Path("runs"),
    backend: Annotated[
        str, typer.Option("--backend", help="where live runs step unless the page says: cpu, gpu")
    ] = "cpu",
) -> None:
    """Replay run folders, and start live runs, on the map in a local web page."""
    from seoulfall import studio

    try:
        if backend not in ("cpu", "gpu"):
            raise studio.StudioError(f"--backend {backend}: unknown; allowed: cpu, gpu")
        views = [studio.open_folder(f) for f in folders or []]
        sock = studio.bind(host, port)
    except studio.StudioError as exc:
        raise BadInput(str(exc)) from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(
            f"seoulfall studio: warning: listening on {host}: anyone who can reach it and has "
            "the token sees these runs",
            err=True,
        )
    try:
        studio.serve(views, sock, open_browser=open_browser, runs_dir=runs_dir, backend=backend)
    except Interrupted:
        pass
    typer.echo("seoulfall studio: stopped", err=True)


@app.command()
def validate() -> None:
    """Check the reference models and the engine against the published mathematics."""
    typer.echo(f"{'':6}{'check':<66} {'value':>12} {'expected':>12} {'tolerance':>10}")
    checks = checks_mod.run_checks(progress=lambda c: typer.echo(checks_mod.format_row(c)))
    failed = sum(not c.passed for c in checks)
    typer.echo(f"{len(checks) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


class Interrupted(BaseException):
    """SIGINT or SIGTERM: the command stops where it is.

    A BaseException, so that no library's ``except Exception`` (nor typer's own handler of
    KeyboardInterrupt, which returns 130 as if nothing happened) swallows it.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def _quiet_dask() -> None:
    """A sweep torn down by an interrupt: Dask's own complaints are not the user's news."""
    import logging

    for name in ("distributed", "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _os_error(exc: OSError) -> str:
    where = exc.filename or ""
    return f"{where}: {exc.strerror or exc}" if where else f"{exc.strerror or exc}"


#: Operating-system errors that come from the user's files or disk, not from a bug.
USER_OS_ERRORS = {
    errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
    errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.ENOENT, errno.EEXIST, errno.EXDEV,
    errno.EFBIG,
}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """Console entry point: map errors to exit codes and one-line messages.

    0 success; 2 bad input; 1 an internal error or a failed ``validate``; 130 after SIGINT
    and 143 after SIGTERM, with one line saying what was kept.
    """
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupted)
    _NOTES.clear()
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:  # the bare command: its help, and success
        args = ["--help"]
    try:
        code = app(args=args, prog_name="seoulfall", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except Interrupted as exc:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # the one line, then out: no second traceback
        _quiet_dask()
        name = signal.Signals(exc.signum).name
        try:
            kept = _NOTES[-1]() if _NOTES else ""
        except Exception:  # noqa: BLE001 - the note is a courtesy; the exit code is the promise
            kept = ""
        typer.echo(f"seoulfall: interrupted ({name}){'; ' + kept if kept else ''}", err=True)
        sys.exit(128 + exc.signum)
    except (
        ScenarioError,
        BadInput,
        CheckpointError,
        BackendError,
        rf.RunFolderError,
        DamagedFile,
        SweepError,
        StudyError,
    ) as exc:
        typer.echo(f"seoulfall: error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in USER_OS_ERRORS or os.environ.get("SEOULFALL_DEBUG"):
            _internal(exc)
        typer.echo(f"seoulfall: error: {_os_error(exc)}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        # usage errors of the (vendored) click under typer: bad option values, unknown options
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            typer.echo(f"seoulfall: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        _internal(exc)
    sys.exit(code if isinstance(code, int) else 0)


def _internal(exc: BaseException):
    if os.environ.get("SEOULFALL_DEBUG"):
        raise exc
    typer.echo(f"seoulfall: internal error: {exc.__class__.__name__}: {exc}", err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
