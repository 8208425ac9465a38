"""Epidemic curves: the whole city, and per district."""

from __future__ import annotations

from seoulfall.report.style import COLOURS, _plain_text, _subplots


# -- curves ----------------------------------------------------------------------------------
@_plain_text
@_plain_text
def plot_curves(ts, ax=None, log: bool = False):
    """Each state's count against days on ``ax`` (created if None)."""
    if ax is None:
        import matplotlib.pyplot as plt  # a notebook's own figure, on its backend

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


@_plain_text
def plot_district_curves(results):
    """Small multiples: humans and zombies (+ evolved) per district."""
    dd = results.districts
    names = list(dict.fromkeys(dd["name"]))
    cols = 5
    rows = max(1, -(-len(names) // cols))
    fig, axes = _subplots(rows, cols, figsize=(13, 2.1 * rows), sharex=True, squeeze=False)
    for ax, name in zip(axes.flat, names):
        d = dd[dd["name"] == name]
        ax.plot(d["day"], d["human"], color=COLOURS["human"], lw=1.2)
        ax.plot(d["day"], d["zombie"] + d["evolved"], color=COLOURS["zombie"], lw=1.2)
        ax.plot(d["day"], d["hybrid"], color=COLOURS["hybrid"], lw=1.0)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle("Per district: humans (blue), zombies + evolved (red), hybrids (green)")
    fig.supxlabel("day")
    fig.subplots_adjust(left=0.04, right=0.99, top=0.93, bottom=0.07, hspace=0.45, wspace=0.22)
    return fig
