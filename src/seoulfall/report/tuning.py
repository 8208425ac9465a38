"""The outputs of a calibration (fit, history, report) and of a sensitivity study (indices)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from seoulfall.atomic import atomic_write_bytes, atomic_write_text
from seoulfall.report.page import STYLE, _data_uri, _table
from seoulfall.report.style import COLOURS, CREDITS, _plain_text, _png, _subplots
from seoulfall.study import output_value

_BAND = "#fdae61"
#: Tick labels as plain numbers (a log axis's own are mathtext, which plain texts show raw).
_PLAIN = FuncFormatter(lambda v, _: f"{v:g}")
_NONE = NullFormatter()


def _grid(n: int, width: float = 4.2, height: float = 3.0):
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = _subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


@_plain_text
def plot_fit(cal):
    """Each target against the best values' ensemble (a Figure).

    A number: its seeds, the target and its tolerance band; a category: its hit rate; data:
    the observed counts against the seeds' curves.
    """
    fig, axes = _grid(len(cal.targets))
    recs = cal.records
    for ax, t in zip(axes, cal.targets):
        if t.kind == "number":
            vals = np.array([output_value(r, t.output) for r in recs])
            x = np.linspace(-0.2, 0.2, len(vals)) if len(vals) > 1 else np.zeros(1)
            ax.axhspan(t.value - t.tol, t.value + t.tol, color=_BAND, alpha=0.35,
                       label=f"target ± {t.tol:g}")  # fmt: skip
            ax.axhline(t.value, color="#d7191c", lw=1.5)
            ax.plot(x, vals, "o", color="#2b83ba", label="each seed")
            ax.plot([0], [vals.mean()], "D", color="black", label="mean")
            ax.set_xlim(-1, 1)
            ax.set_xticks([])
            ax.set_ylabel(t.output)
            ax.legend(fontsize=7, loc="best")
        elif t.kind == "data":
            days = np.array(t.observed["t_min"]) / 1440.0
            for c in (c for c in t.observed if c != "t_min"):
                colour = COLOURS.get(c, "black")
                for r in recs:
                    ax.plot(days, np.take(r["at"][c], t.value), color=colour, alpha=0.25, lw=1)
                ax.plot(days, t.observed[c], "o", ms=3, color=colour, label=f"{c} observed")
            ax.set_yscale("symlog", linthresh=1.0)
            ax.yaxis.set_major_formatter(_PLAIN)  # the texts are plain: no mathtext ticks
            ax.set_xlabel("day")
            ax.legend(fontsize=7, loc="best")
        else:
            rate = cal.hits[t.label]
            ax.bar([0], [rate], color="#1a9641", width=0.5)
            ax.set_ylim(0, 1)
            ax.set_xlim(-1, 1)
            ax.set_xticks([])
            ax.set_ylabel("share of seeds that meet it")
        ax.set_title(f"{t.label}: met in {cal.hits[t.label]:.0%} of seeds", fontsize=9)
    fig.suptitle(f"The best values' {len(recs)} seeds against the targets", fontsize=10)
    fig.tight_layout()
    return fig


@_plain_text
def plot_history(cal):
    """The score of each trial (and the best so far), and each varied value by trial."""
    df = cal.to_df()
    keys = [r.key for r in cal.ranges]
    fig, axes = _grid(len(keys) + 1)
    ax = axes[0]
    ax.plot(df["trial"], df["score"], "o", ms=3, color="#2b83ba", label="trial")
    ax.plot(df["trial"], df["score"].cummin(), color="#d7191c", label="best so far")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.yaxis.set_major_formatter(_PLAIN)
    ax.set_xlabel("trial")
    ax.set_ylabel("score (lower is better)")
    ax.legend(fontsize=7)
    for ax, r in zip(axes[1:], cal.ranges):
        sc = ax.scatter(
            df["trial"], df[r.key], c=np.log10(df["score"] + 1e-9), s=12, cmap="viridis_r"
        )
        ax.axhline(cal.best[r.key], color="#d7191c", lw=1, label=f"best {cal.best[r.key]:.4g}")
        if r.log:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(_PLAIN)
            ax.yaxis.set_minor_formatter(_NONE)
        ax.set_xlabel("trial")
        ax.set_ylabel(r.key)
        ax.legend(fontsize=7)
        fig.colorbar(sc, ax=ax, label="log10 score")
    fig.tight_layout()
    return fig


def _number(v: float) -> str:
    """A count with thousands separators, a smaller number to 4 significant digits."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def _page(title: str, intro: str, parts: list[str]) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{intro}</p>
{"".join(parts)}
<h2>Credits</h2><p><small>{html.escape(CREDITS)}</small></p></body></html>"""


def _image(folder: Path, name: str, title: str) -> str:
    uri = _data_uri(folder / name, "image/png")
    return f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="{uri}">'


def write_calibration_outputs(cal, folder: Path) -> None:
    """Write ``fit.png``, ``history.png`` and ``report.html`` of a calibration."""
    atomic_write_bytes(folder / "fit.png", _png(plot_fit(cal), dpi=90))
    atomic_write_bytes(folder / "history.png", _png(plot_history(cal), dpi=90))
    s = cal.summary()
    best = [[k, f"{v:.6g}", f"{r.lo:g} to {r.hi:g}" + (" (log)" if r.log else "")]
            for (k, v), r in zip(cal.best.items(), cal.ranges)]  # fmt: skip
    targets = [[t["target"], _number(t["tol"]), f"{t['weight']:g}", _number(t["value"]),
                f"{t['hit_rate']:.0%}"] for t in s["targets"]]  # fmt: skip
    parts = [
        "<h2>Best values</h2>" + _table(["key", "best", "searched"], best),
        "<h2>Targets</h2>"
        + _table(["target", "tolerance", "weight", "ensemble value", "met in"], targets),
        _image(folder, "fit.png", "The targets against the best values' seeds"),
        _image(folder, "history.png", "The search"),
    ]
    intro = (
        f"{s['trials']} trials of {s['seeds_per_trial']} seeds ({s['runs']} runs, "
        f"{s['seconds']:.0f} s of runs); best trial {s['best']['trial']} with score "
        f"{s['best']['score']:.4g}. <code>best.toml</code> holds the scenario with the best values."
    )
    title = f"seoulfall calibration: {cal.base.name}"
    atomic_write_text(folder / "report.html", _page(title, intro, parts))


@_plain_text
def plot_indices(sens):
    """Each output's indices per varied key, with their confidence intervals (a Figure)."""
    df = sens.indices
    outputs = list(dict.fromkeys(df["output"]))
    fig, axes = _grid(len(outputs), height=1.4 + 0.45 * len(sens.ranges))
    bars = ("S1", "ST") if sens.method == "sobol" else ("mu_star",)
    for ax, out in zip(axes, outputs):
        d = df[df["output"] == out]
        y = np.arange(len(d))
        h = 0.8 / len(bars)
        for j, name in enumerate(bars):
            ax.barh(y + (j - (len(bars) - 1) / 2) * h, d[name], height=h,
                    xerr=d[f"{name}_conf"], label=name, capsize=2)  # fmt: skip
        ax.set_yticks(y, d["key"])
        ax.invert_yaxis()
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(out, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"{sens.method}: each key's effect on each output (95 % intervals)", fontsize=10)
    fig.tight_layout()
    return fig


def write_sensitivity_outputs(sens, folder: Path) -> None:
    """Write ``sensitivity.png`` and ``report.html`` of a sensitivity study."""
    atomic_write_bytes(folder / "sensitivity.png", _png(plot_indices(sens), dpi=90))
    df = sens.indices
    cols = [c for c in df.columns if c not in ("key", "output")]
    rows = [[r["output"], r["key"], *(f"{r[c]:.3g}" for c in cols)] for _, r in df.iterrows()]
    parts = [
        "<h2>Indices</h2>" + _table(["output", "key", *cols], rows),
        _image(folder, "sensitivity.png", "Each key's effect"),
    ]
    intro = (
        f"{sens.method}: {sens.points} points of {sens.seeds} seed(s), {sens.runs} runs. "
        + (
            "S1: first-order index, ST: total-order index"
            if sens.method == "sobol"
            else "mu_star: mean absolute elementary effect, sigma: its spread"
        )  # fmt: skip
        + "; _conf: the half-width of the 95 % interval."
    )
    title = f"seoulfall sensitivity: {sens.base.name}"
    atomic_write_text(folder / "report.html", _page(title, intro, parts))
