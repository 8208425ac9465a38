"""Maps: the base map, the fall map, the snapshot maps."""

from __future__ import annotations

import matplotlib
import numpy as np

from seoulfall.report.style import MAP_RGB, UPSCALE, _plain_text, _subplots, korean_font


# -- maps -------------------------------------------------------------------------------------
def district_labels(world) -> list[tuple[float, float, str, str]]:
    """(row, col, English name, Korean name) at each district's centre of cells."""
    korean = dict(zip(world.district_codes, world.district_names_ko))
    out = []
    for i, (code, name) in enumerate(zip(world.district_codes, world.district_names)):
        rr, cc = np.nonzero(world.district == i)
        if rr.size:
            out.append((rr.mean(), cc.mean(), name, korean.get(code, "")))
    return out


def basemap_rgb(world) -> np.ndarray:
    """A dark basemap (ny, nx, 3 floats 0-255).

    Districts in alternating greys with lighter borders, the river dark blue, bridges light
    grey, outside black.
    """
    ny, nx = world.shape
    img = np.zeros((ny, nx, 3))
    d = world.district
    shade = np.array([34.0, 44.0, 54.0])
    img[d >= 0] = shade[(d[d >= 0] % 3)][:, None] * np.array([1.0, 1.0, 1.1])
    edge = np.zeros((ny, nx), bool)
    edge[1:, :] |= (d[1:, :] != d[:-1, :]) & (d[1:, :] >= 0) & (d[:-1, :] >= 0)
    edge[:, 1:] |= (d[:, 1:] != d[:, :-1]) & (d[:, 1:] >= 0) & (d[:, :-1] >= 0)
    img[edge] = (78, 78, 90)
    img[world.water] = (16, 40, 84)
    img[world.bridge >= 0] = (150, 150, 150)
    return img


def frame_rgb(base: np.ndarray, snaps, i: int, ref: float, upscale: int = UPSCALE) -> np.ndarray:
    """One animation frame (uint8) from snapshot ``i``: the agents over the basemap."""
    img = base.astype(np.float32)
    h = snaps.grid(i, "human")
    z = snaps.grid(i, "zombie") + snaps.grid(i, "infected")
    e = snaps.grid(i, "evolved")
    y = snaps.grid(i, "hybrid")
    for count, key, floor in ((h, "human", 0.25), (z, "zombie", 0.55), (e, "evolved", 0.7)):
        on = count > 0
        alpha = np.minimum(1.0, floor + (1 - floor) * count[on] / ref).astype(np.float32)
        colour = np.array(MAP_RGB[key], np.float32)
        img[on] = img[on] * (1 - alpha[:, None]) + alpha[:, None] * colour
    img[y > 0] = MAP_RGB["hybrid"]
    out = np.clip(img, 0, 255).astype(np.uint8)
    if upscale > 1:
        out = np.repeat(np.repeat(out, upscale, axis=0), upscale, axis=1)
    return out


def _ref(snaps) -> float:
    h0 = snaps.counts[0, 0]
    return float(max(1.0, np.percentile(h0[h0 > 0], 90))) if (h0 > 0).any() else 1.0


@_plain_text
def plot_fall_map(results, world):
    """The map coloured by each district's fall day, with the river, bridges and names."""
    fig, ax = _subplots(figsize=(9, 7.8))
    ny, nx = world.shape
    s = results.summary
    days = np.full(len(world.district_codes), np.nan)
    emptied = np.zeros(len(world.district_codes), bool)
    for i, code in enumerate(world.district_codes):
        v = s["districts"].get(code, {}).get("fall_day")
        days[i] = np.nan if v is None else v
        emptied[i] = v is None and s["districts"].get(code, {}).get("evacuated", 0) > 0
    grid = np.full((ny, nx), np.nan)
    inside = world.district >= 0
    grid[inside] = days[world.district[inside]]
    cmap = matplotlib.colormaps["magma_r"].with_extremes(bad=(0, 0, 0, 0))
    held = inside & np.isnan(grid)
    bg = np.ones((ny, nx, 4))
    bg[held] = (0.82, 0.9, 0.82, 1)  # never fell: pale green
    bg[held & emptied[np.maximum(world.district, 0)]] = (0.86, 0.8, 0.95, 1)  # evacuated: lilac
    bg[world.water] = (0.55, 0.72, 0.92, 1)
    bg[world.bridge >= 0] = (0.25, 0.25, 0.25, 1)
    ax.imshow(bg, interpolation="nearest")
    finite = days[np.isfinite(days)]
    vmax = float(finite.max()) if finite.size else float(results.scenario.time.days)
    im = ax.imshow(grid, cmap=cmap, vmin=0, vmax=max(vmax, 1e-3), interpolation="nearest")
    d = world.district
    edge = np.zeros((ny, nx), bool)
    edge[1:, :] |= (d[1:, :] != d[:-1, :]) & (d[1:, :] >= 0) & (d[:-1, :] >= 0)
    edge[:, 1:] |= (d[:, 1:] != d[:, :-1]) & (d[:, 1:] >= 0) & (d[:, :-1] >= 0)
    lines = np.zeros((ny, nx, 4))
    lines[edge] = (1, 1, 1, 0.8)
    ax.imshow(lines, interpolation="nearest")
    family = korean_font()
    for r, c, en, ko in district_labels(world):
        text = en.replace("-gu", "") + (f"\n{ko}" if ko and family else "")
        ax.text(
            c,
            r,
            text,
            ha="center",
            va="center",
            fontsize=7,
            color="black",
            family=family or "sans-serif",
            bbox={"boxstyle": "round,pad=0.15", "fc": (1, 1, 1, 0.7), "ec": "none"},
        )
    cb = fig.colorbar(im, ax=ax, shrink=0.7)
    cb.set_label("fall day (humans at 10 % of their start)")
    ax.set_title(
        f"{results.scenario.name}: when each district fell\n(pale green: never; lilac: "
        "evacuated, never fell; blue: river)"
    )
    ax.set_axis_off()
    return fig


def snapshot_times(snaps, n: int = 6) -> list[int]:
    """Indices of ``n`` snapshots evenly spread from the start to the end."""
    if len(snaps.t_min) <= n:
        return list(range(len(snaps.t_min)))
    return sorted({int(round(v)) for v in np.linspace(0, len(snaps.t_min) - 1, n)})


@_plain_text
def plot_snapshot_maps(results, world):
    """The animation's map at six times."""
    snaps = results.snapshots
    idx = snapshot_times(snaps)
    base = basemap_rgb(world)
    ref = _ref(snaps)
    cols = 3
    rows = -(-len(idx) // cols)
    fig, axes = _subplots(rows, cols, figsize=(13, 4.4 * rows), squeeze=False)
    fig.patch.set_facecolor("#08080c")
    for ax, i in zip(axes.flat, idx):
        ax.imshow(frame_rgb(base, snaps, i, ref), interpolation="nearest")
        ax.set_title(f"day {snaps.t_min[i] / 1440:.2f}", color="white")
        ax.set_axis_off()
    for ax in list(axes.flat)[len(idx) :]:
        ax.set_visible(False)
    fig.suptitle("Humans (blue), zombies (red), evolved (violet), hybrids (green)", color="white")
    fig.tight_layout()
    return fig
