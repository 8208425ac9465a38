"""The outputs of an ensemble: its curves, odds, odds map and report."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import numpy as np

from seoulfall.atomic import atomic_write_bytes, atomic_write_text
from seoulfall.report.page import STYLE, _data_uri, _day, _table
from seoulfall.report.style import COLOURS, CREDITS, _plain_text, _png, _subplots
from seoulfall.world import load_world


# -- ensembles ----------------------------------------------------------------------------------
def _label(vary: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in vary.items()) or "all runs"


def _groups(ens) -> list[tuple[dict, list]]:
    out: dict[str, list] = {}
    for r in ens.records:
        out.setdefault(json.dumps(r["vary"], sort_keys=True), []).append(r)
    return [(json.loads(k), v) for k, v in out.items()]


@_plain_text
def plot_ensemble_curves(ens):
    """Median and 50 % / 90 % bands of humans and zombies (+ evolved) per combination."""
    groups = _groups(ens)[:6]
    cols = min(3, len(groups))
    rows = -(-len(groups) // cols)
    fig, axes = _subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, (vary, recs) in zip(axes.flat, groups):
        n = min(len(r["curves"]["day"]) for r in recs)
        day = np.asarray(recs[0]["curves"]["day"][:n])
        for key, colour in (("human", COLOURS["human"]), ("zombie", COLOURS["zombie"])):
            y = np.array([r["curves"][key][:n] for r in recs], float)
            if key == "zombie":
                y += np.array([r["curves"]["evolved"][:n] for r in recs], float)
            q = np.quantile(y, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
            ax.fill_between(day, q[0], q[4], color=colour, alpha=0.15, lw=0)
            ax.fill_between(day, q[1], q[3], color=colour, alpha=0.3, lw=0)
            label = "humans" if key == "human" else "zombies + evolved"
            ax.plot(day, q[2], color=colour, lw=1.8, label=label)
        ax.set_title(f"{_label(vary)} ({len(recs)} runs)", fontsize=9)
        ax.set_xlabel("day")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    fig.suptitle("Median, 50 % and 90 % bands")
    fig.tight_layout()
    return fig


@_plain_text
def plot_p_fall(ens):
    """P(Seoul has fallen by day d) for each combination."""
    fig, ax = _subplots(figsize=(7, 4))
    for c in ens.summary["combinations"]:
        d = c["p_fall_by_day"]
        ax.plot([int(k) for k in d], list(d.values()), marker="o", label=_label(c["vary"]))
    ax.set_xlabel("day")
    ax.set_ylabel("P(fallen by this day)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


@_plain_text
def plot_district_odds(ens, world):
    """Map of each district's probability of falling, per combination (at most four)."""
    combos = ens.summary["combinations"][:4]
    fig, axes = _subplots(1, len(combos), figsize=(6 * len(combos), 5.2), squeeze=False)
    ny, nx = world.shape
    inside = world.district >= 0
    for ax, c in zip(axes.flat, combos):
        p = np.array([c["districts"][code]["p_fall"] for code in world.district_codes])
        grid = np.full((ny, nx), np.nan)
        grid[inside] = p[world.district[inside]]
        bg = np.ones((ny, nx, 4))
        bg[world.water] = (0.55, 0.72, 0.92, 1)
        ax.imshow(bg, interpolation="nearest")
        im = ax.imshow(grid, cmap="Reds", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(_label(c["vary"]), fontsize=9)
        ax.set_axis_off()
    fig.colorbar(im, ax=list(axes.flat), shrink=0.8, label="P(district falls)")
    return fig


def write_ensemble_outputs(ens, folder: Path) -> dict[str, float]:
    """Write the ensemble's plots and ``report.html``; returns seconds per output."""
    timing = {}
    t0 = time.perf_counter()
    atomic_write_bytes(folder / "ensemble_curves.png", _png(plot_ensemble_curves(ens), dpi=90))
    atomic_write_bytes(folder / "p_fall.png", _png(plot_p_fall(ens), dpi=90))
    names = ["ensemble_curves.png", "p_fall.png"]
    if ens.scenario is not None:
        world = load_world(ens.scenario)
        if world.ncells > 1 and len(world.district_codes) > 1:
            fig = plot_district_odds(ens, world)
            atomic_write_bytes(folder / "district_odds.png", _png(fig, dpi=90))
            names.append("district_odds.png")
    timing["plots_seconds"] = time.perf_counter() - t0
    s = ens.summary
    parts = []
    rows = []
    for c in s["combinations"]:
        q = c["quantiles"]
        fd = q["fall_day"]
        rows.append(
            [
                _label(c["vary"]),
                c["runs"],
                f"{c['p_fall']:.2f}",
                "" if fd["q50"] is None else f"{fd['q50']:.2f} ({fd['q05']:.2f}-{fd['q95']:.2f})",
                f"{q['peak_zombies']['q50']:,.0f}",
                f"{q['final_human']['q50']:,.0f}",
            ]
        )
    parts.append(
        "<h2>Headline odds</h2>"
        + _table(
            [
                "combination",
                "runs",
                "P(falls)",
                "fall day: median (5-95 %)",
                "peak zombies",
                "humans left",
            ],
            rows,
        )
    )
    for name, title in (
        ("ensemble_curves.png", "Epidemic curves"),
        ("p_fall.png", "Odds of falling by day"),
        ("district_odds.png", "Each district's odds of falling"),
    ):
        if name in names:
            uri = _data_uri(folder / name, "image/png")
            parts.append(f'<h2>{title}</h2><img alt="{title}" src="{uri}">')
    combos = s["combinations"]
    if s["cast"]:
        if len(combos) == 1:
            head = ["character", "P(survives)"]
            rows = [[n, f"{p:.2f}"] for n, p in s["cast"].items()]
        else:
            head = ["character", "P(survives), all runs"] + [_label(c["vary"]) for c in combos]
            rows = [
                [n, f"{p:.2f}"] + [f"{c['cast'].get(n, float('nan')):.2f}" for c in combos]
                for n, p in s["cast"].items()
            ]
        parts.append("<h2>The cast's odds</h2>" + _table(head, rows))
    for c in combos:
        drows = sorted(
            (
                [v["name"], f"{v['p_fall']:.2f}", _day(v["median_fall_day"]),
                 f"{v['p_never']:.2f}", f"{v['p_last_to_fall']:.2f}"]
                for v in c["districts"].values()
            ),
            key=lambda r: (-float(r[3]), -float(r[4])),
        )  # fmt: skip
        title = "Districts" if len(combos) == 1 else f"Districts ({_label(c['vary'])})"
        parts.append(
            f"<h2>{html.escape(title)}</h2>"
            + _table(
                ["district", "P(falls)", "median fall day", "P(never falls)", "P(last to fall)"],
                drows,
            )  # fmt: skip
        )
    name = ens.scenario.name if ens.scenario is not None else "ensemble"
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>seoulfall sweep: {html.escape(name)}</title><style>{STYLE}</style></head><body>
<h1>seoulfall sweep: {html.escape(name)}</h1>
<p>{s["runs"]} runs; varied: {html.escape(", ".join(s["vary"]) or "seeds only")}.</p>
{"".join(parts)}
<h2>Credits</h2><p><small>{html.escape(CREDITS)}</small></p></body></html>"""
    t0 = time.perf_counter()
    atomic_write_text(folder / "report.html", page)
    timing["report_seconds"] = time.perf_counter() - t0
    return timing
