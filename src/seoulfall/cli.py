"""The ``seoulfall`` command line (SPEC §8).

Exit status: 0 on success, 2 for bad input (one line on stderr, no traceback), 1 for an
internal error (one line; set ``SEOULFALL_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from seoulfall.checkpoint import CheckpointError
from seoulfall.scenario import ScenarioError
from seoulfall.simulation import BackendError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="seoulfall: a zombie outbreak on Seoul's real map (All of Us Are Dead, season 2).",
)


#: Files whose presence marks a folder as holding a run.
RUN_FILES = ("scenario.toml", "summary.json", "timeseries.parquet")


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
        Path | None, typer.Option("--out", help="run folder (default: under runs/)")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="random seed")] = None,
    scale: Annotated[float | None, typer.Option("--scale", help="population.scale")] = None,
    days: Annotated[float | None, typer.Option("--days", help="time.days (fractions ok)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE override")] = None,
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
    resume: Annotated[
        bool, typer.Option("--resume", help="continue from the newest checkpoint in --out")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="check the invariants after every step")
    ] = False,
) -> None:
    """Simulate a scenario and write a run folder."""
    from seoulfall.scenario import Scenario
    from seoulfall.simulation import Simulation

    overrides: list = list(set_ or [])
    if seed is not None:
        overrides.append(("seed", seed))
    if scale is not None:
        overrides.append(("population.scale", scale))
    if days is not None:
        overrides.append(("time.days", days))
    sc = Scenario.load(scenario, overrides)
    folder = out or Path("runs") / f"{sc.name}-seed{sc.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"--out {folder}: exists and is not a folder")
    from seoulfall import checkpoint

    ckpt_dir = folder / "checkpoints"
    if resume:
        if out is None:
            raise BadInput("--resume needs --out DIR: the run folder to continue")
        if _complete(folder, sc):
            typer.echo(f"seoulfall: {folder} already holds the finished run; nothing to do")
            return
    elif not force and (
        any((folder / name).exists() for name in RUN_FILES) or checkpoint.newest(ckpt_dir)
    ):
        raise BadInput(
            f"--out {folder}: already holds a run; use --resume to continue it or --force to "
            "overwrite it"
        )
    for stale in [*folder.glob(".*.tmp"), *ckpt_dir.glob(".*.tmp")]:
        stale.unlink()  # temporaries of writes a killed run never finished: never results
    every = None
    if checkpoint_every:
        every = max(1, int(round(checkpoint_every / sc.time.dt_min)))
    sim = Simulation(sc, threads=threads, backend=backend)
    run_args = {
        "checkpoint_every": every,
        "checkpoint_dir": ckpt_dir,
        "resume": resume,
        "check_every": 1 if check else None,
    }
    show = not quiet and sys.stderr.isatty()
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("day {task.fields[day]:.1f}"),
            TimeRemainingColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(sc.name, total=sim.nsteps, day=0.0)
            res = sim.run(
                progress=lambda s, n: bar.update(task, completed=s, day=s * sc.time.dt_min / 1440),
                **run_args,
            )
    else:
        res = sim.run(**run_args)
    res.save(folder)
    if not quiet:
        typer.echo(summary_text(res.summary, folder))


def _complete(folder: Path, sc) -> bool:
    """Whether ``folder`` holds the finished run of this very scenario."""
    import json

    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        same = (folder / "scenario.toml").read_text(encoding="utf-8") == sc.to_toml()
    except (OSError, ValueError):
        return False
    return same and summary.get("steps") == sc.steps


def summary_text(s: dict, folder: Path) -> str:
    """The short summary printed at the end of a run."""
    from seoulfall.results import last_standing

    fall = "Seoul held" if s["fall_day"] is None else f"fell on day {s['fall_day']:.2f}"
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
    return (
        f"{s['scenario']} (seed {s['seed']}, {s['agents']:,} agents, {s['days']} days): {fall}; "
        f"peak {s['peak_zombies']['count']:,} zombies on day {s['peak_zombies']['day']:.2f}\n"
        f"  {standing}: {last}{more}\n"
        f"  final: {final}\n{cast}"
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
    set_: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE override")] = None,
    vary: Annotated[
        list[str] | None, typer.Option("--vary", help="KEY=V1,V2,...: every value is tried")
    ] = None,
    scale: Annotated[float | None, typer.Option("--scale", help="population.scale")] = None,
    days: Annotated[float | None, typer.Option("--days", help="time.days")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="start a local Dask cluster of N workers")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="address of a running Dask scheduler")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="ensemble folder")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar or summary")] = False,
) -> None:
    """Run many seeds (and parameter values) and write the odds."""
    import json

    from seoulfall.scenario import Scenario, parse_value
    from seoulfall.sweep import ensemble

    if workers and scheduler:
        raise BadInput("give --workers or --scheduler, not both")
    overrides: list = list(set_ or [])
    if scale is not None:
        overrides.append(("population.scale", scale))
    if days is not None:
        overrides.append(("time.days", days))
    sc = Scenario.load(scenario, overrides)
    grid: dict = {}
    for item in vary or []:
        if "=" not in item:
            raise BadInput(f"--vary {item!r}: expected KEY=V1,V2,... e.g. zombie.bite_rate=0.1,0.2")
        key, values = item.split("=", 1)
        grid[key.strip()] = [parse_value(v.strip()) for v in values.split(",") if v.strip()]
        if not grid[key.strip()]:
            raise BadInput(f"--vary {item!r}: no values")
    folder = out or Path("runs") / f"sweep-{sc.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    args = {"scenario": json.loads(json.dumps(sc.to_dict(), default=str)), "seeds": seeds,
            "vary": grid}  # fmt: skip
    marker = folder / "sweep.json"
    if marker.exists():
        try:
            before = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            before = None
        if before != args:
            raise BadInput(
                f"--out {folder}: holds a sweep with other arguments; give another --out"
            )
    folder.mkdir(parents=True, exist_ok=True)
    from seoulfall.atomic import atomic_write_text

    atomic_write_text(marker, json.dumps(args, indent=2, ensure_ascii=False) + "\n")
    client = None
    if scheduler:
        from dask.distributed import Client

        try:
            client = Client(scheduler, timeout=10)
        except (OSError, TimeoutError, ValueError) as exc:
            raise BadInput(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    elif not workers:
        workers = os.cpu_count() or 1
    show = not quiet and sys.stderr.isatty()
    t0 = time.perf_counter()
    try:
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            with Progress(
                BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
            ) as bar:
                task = bar.add_task("sweep", total=None)
                ens = ensemble(
                    sc, seeds, grid, client, workers=workers, out=folder,
                    progress=lambda d, n: bar.update(task, completed=d, total=n),
                )  # fmt: skip
        else:
            ens = ensemble(sc, seeds, grid, client, workers=workers, out=folder)
    finally:
        if client is not None:
            client.close()
    if not quiet:
        s = ens.summary
        lines = [f"{s['runs']} runs in {time.perf_counter() - t0:.1f} s -> {folder}"]
        for c in s["combinations"]:
            label = ", ".join(f"{k}={v}" for k, v in c["vary"].items()) or "all"
            fd = c["quantiles"]["fall_day"]["q50"]
            med = "-" if fd is None else f"{fd:.2f}"
            lines.append(f"  {label}: P(falls) {c['p_fall']:.2f}, median fall day {med}")
        if s["cast"]:
            odds = ", ".join(f"{n} {p:.2f}" for n, p in s["cast"].items())
            lines.append(f"  cast survival: {odds}")
        typer.echo("\n".join(lines))


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="a run folder written by seoulfall run")],
) -> None:
    """Rebuild the plots, the animation and report.html of a run folder."""
    from seoulfall.results import Results

    if not folder.is_dir():
        raise BadInput(f"{folder}: no such run folder")
    missing = [n for n in RUN_FILES if not (folder / n).exists()]
    if missing:
        raise BadInput(f"{folder}: not a run folder (missing {', '.join(missing)})")
    try:
        res = Results.load(folder)
    except ScenarioError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file: say which, keep the folder
        raise BadInput(f"{folder}: cannot read the run ({exc.__class__.__name__}: {exc})") from None
    t0 = time.perf_counter()
    timing = res.write_outputs(folder)
    parts = ", ".join(f"{k.removesuffix('_seconds')} {v:.1f} s" for k, v in timing.items())
    typer.echo(f"wrote {folder / 'report.html'} in {time.perf_counter() - t0:.1f} s ({parts})")


@app.command()
def scenarios() -> None:
    """List the bundled scenarios with their descriptions."""
    from seoulfall.scenario import bundled_scenarios, load_raw

    for name in bundled_scenarios():
        desc = load_raw(name).get("description", "")
        typer.echo(f"{name:<16} {desc}")


@app.command()
def validate() -> None:
    """Check the reference models and the engine against the published mathematics."""
    from seoulfall.validate import format_row, run_checks

    typer.echo(f"{'':6}{'check':<66} {'value':>12} {'expected':>12} {'tolerance':>10}")
    checks = run_checks(progress=lambda c: typer.echo(format_row(c)))
    failed = sum(not c.passed for c in checks)
    typer.echo(f"{len(checks) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: map errors to exit codes and one-line messages."""
    try:
        app(args=argv, prog_name="seoulfall", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (ScenarioError, BadInput, CheckpointError, BackendError) as exc:
        typer.echo(f"seoulfall: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("seoulfall: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        # usage errors of the (vendored) click under typer: bad option values, unknown options
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            typer.echo(f"seoulfall: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        if os.environ.get("SEOULFALL_DEBUG"):
            raise
        typer.echo(f"seoulfall: internal error: {exc.__class__.__name__}: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
