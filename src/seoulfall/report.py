"""Plots and the HTML report of a run (a plain page for now; images embedded)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from seoulfall.atomic import atomic_write_bytes, atomic_write_text  # noqa: E402
from seoulfall.results import last_standing  # noqa: E402

COLOURS = {
    "human": "#2b83ba",
    "infected": "#fdae61",
    "zombie": "#d7191c",
    "evolved": "#7b3294",
    "hybrid": "#1a9641",
    "dead": "#636363",
    "evacuated": "#80cdc1",
    "reserve": "#bababa",
}
CREDITS = (
    "District boundaries: southkorea/seoul-maps (JUSO / Seoul Open Data 2015), Apache License "
    "2.0. Han River edge: KOSTAT/SGIS 2018 boundaries, KOGL Type 1 (source: Statistics Korea, "
    "SGIS). Populations: Seoul statistics, 2024 registered residents."
)


def plot_curves(ts, ax=None, log: bool = False):
    """Each state's count against days on ``ax`` (created if None)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    for s in ts.columns[2:]:
        ax.plot(ts["day"], ts[s], label=s, color=COLOURS.get(s), lw=1.8)
    ax.set_xlabel("day")
    ax.set_ylabel("agents")
    if log:
        ax.set_yscale("symlog", linthresh=1)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return ax


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def write_plots(results, folder: Path) -> list[Path]:
    """Write ``epidemic.png`` (linear) and ``epidemic_log.png``; returns the paths."""
    out = []
    for name, log in (("epidemic.png", False), ("epidemic_log.png", True)):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        plot_curves(results.timeseries, ax=ax, log=log)
        ax.set_title(f"{results.scenario.name} (seed {results.scenario.seed})")
        atomic_write_bytes(folder / name, _png(fig))
        out.append(folder / name)
    return out


def _day(v) -> str:
    return "" if v is None else f"{v:.2f}"


def write_report(results, folder: Path) -> Path:
    """A self-contained ``report.html``: headline numbers, curves, districts, credits."""
    s = results.summary
    imgs = "".join(
        f'<img alt="{n}" src="data:image/png;base64,'
        f'{base64.b64encode((folder / n).read_bytes()).decode()}">'
        for n in ("epidemic.png", "epidemic_log.png")
        if (folder / n).exists()
    )
    rows = "".join(
        f"<tr><td>{html.escape(code)}</td><td>{html.escape(v['name'])}</td>"
        f"<td>{_day(v['fall_day'])}</td></tr>"
        for code, v in s["districts"].items()
    )
    final = "".join(f"<li>{k}: {v:,}</li>" for k, v in s["final"].items())
    fall = "not within the run" if s["fall_day"] is None else f"day {s['fall_day']:.2f}"
    held, names = last_standing(s)
    last = ", ".join(html.escape(n) for n in names)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>seoulfall: {html.escape(s["scenario"])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}img{{max-width:100%}}
td,th{{padding:2px 8px}}</style></head><body>
<h1>seoulfall: {html.escape(s["scenario"])}</h1>
<p>Seed {s["seed"]}, {s["agents"]:,} agents, {s["days"]} days ({s["steps"]:,} steps).</p>
<p>Fall (humans at 10% of their start): <b>{fall}</b>. Peak zombies:
<b>{s["peak_zombies"]["count"]:,}</b> on day {s["peak_zombies"]["day"]:.2f}.
{"Still standing" if held else "Fell last"}: <b>{last}</b>.</p>
<ul>{final}</ul>{imgs}
<h2>Districts</h2><table><tr><th>code</th><th>district</th><th>fall day</th></tr>{rows}</table>
<h2>Scenario</h2><pre>{html.escape(results.scenario.to_toml())}</pre>
<p><small>{CREDITS}</small></p></body></html>"""
    atomic_write_text(folder / "report.html", page)
    return folder / "report.html"
