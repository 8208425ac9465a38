"""Maps: the base map, the fall map, the snapshot maps."""

from __future__ import annotations

from datetime import timedelta

import matplotlib
import numpy as np

from seoulfall.report.style import MAP_RGB, UPSCALE, _plain_text, _subplots, korean_font
from seoulfall.schema import KST
from seoulfall.world import subway as subway_mod
from seoulfall.world.seoul import data_dir


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


def district_edges(world) -> np.ndarray:
    """Cells on a border between two districts (bool, (ny, nx)): the lower or right one."""
    d = world.district
    edge = np.zeros(d.shape, bool)
    edge[1:, :] |= (d[1:, :] != d[:-1, :]) & (d[1:, :] >= 0) & (d[:-1, :] >= 0)
    edge[:, 1:] |= (d[:, 1:] != d[:, :-1]) & (d[:, 1:] >= 0) & (d[:, :-1] >= 0)
    return edge


def draw_district_edges(ax, world) -> None:
    """The districts' borders as white lines over a map drawn on ``ax``."""
    lines = np.zeros((*world.shape, 4))
    lines[district_edges(world)] = (1, 1, 1, 0.8)
    ax.imshow(lines, interpolation="nearest")


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
    img[district_edges(world)] = (78, 78, 90)
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


def light_basemap(world) -> np.ndarray:
    """The light background of the still maps (ny, nx, RGBA).

    White land, the river blue, bridges dark grey; the maps colour the land over it.
    """
    bg = np.ones(world.shape + (4,))
    bg[world.water] = (0.55, 0.72, 0.92, 1)
    bg[world.bridge >= 0] = (0.25, 0.25, 0.25, 1)
    return bg


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
    inside = (world.district >= 0) & ~world.water  # the river is drawn whole, over districts
    grid[inside] = days[world.district[inside]]
    cmap = matplotlib.colormaps["magma_r"].with_extremes(bad=(0, 0, 0, 0))
    held = inside & np.isnan(grid)
    bg = light_basemap(world)  # held cells are land, never river or bridge
    bg[held] = (0.82, 0.9, 0.82, 1)  # never fell: pale green
    bg[held & emptied[np.maximum(world.district, 0)]] = (0.86, 0.8, 0.95, 1)  # evacuated: lilac
    ax.imshow(bg, interpolation="nearest")
    finite = days[np.isfinite(days)]
    vmax = float(finite.max()) if finite.size else float(results.scenario.time.days)
    im = ax.imshow(grid, cmap=cmap, vmin=0, vmax=max(vmax, 1e-3), interpolation="nearest")
    draw_district_edges(ax, world)
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
    draw_story(ax, results, world)
    cb = fig.colorbar(im, ax=ax, shrink=0.7)
    cb.set_label("fall day (humans at 10 % of their start)")
    crossed = (s.get("edge") or {}).get("escaped")
    ax.set_title(
        f"{results.scenario.name}: when each district fell\n(pale green: never; lilac: "
        "evacuated, never fell; blue: river; red: bridges closed"
        + (")\nred rings: where the infected left the city" if crossed else ")")
        + (
            "\nthe subway's lines (dashed: closed); triangles: where zombies first boarded"
            if s.get("subway")
            else ""
        )
    )
    ax.set_axis_off()
    return fig


@_plain_text
def plot_residents_map(results, world):
    """Where the residents live: each cell's residents at scale 1, on a log scale."""
    fig, ax = _subplots(figsize=(9, 7.8))
    res = world.residents.astype(float)
    bg = light_basemap(world)
    bg[world.land & (res == 0)] = (0.85, 0.85, 0.8, 1)  # land where nobody lives
    ax.imshow(bg, interpolation="nearest")
    grid = np.where(world.land & (res > 0), res, np.nan)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=(0, 0, 0, 0))
    norm = matplotlib.colors.LogNorm(vmin=max(1.0, np.nanmin(grid)), vmax=np.nanmax(grid))
    im = ax.imshow(grid, cmap=cmap, norm=norm, interpolation="nearest")
    draw_district_edges(ax, world)
    cb = fig.colorbar(im, ax=ax, shrink=0.7)
    ticks = [v for v in (1, 3, 10, 30, 100, 300, 1000, 3000) if norm.vmin <= v <= norm.vmax]
    cb.set_ticks(ticks, labels=[f"{v:,}" for v in ticks])  # plain text: no mathtext here
    cb.ax.minorticks_off()
    cb.set_label(f"residents per {world.cell_m:g} m cell (log scale)")
    w = results.scenario.world
    how = ""
    if w.map == "seoul":
        dong = w.residents == "dong" and world.residents_dong is not None
        how = " (by dong, none on the mountains)" if dong else " (evenly over each district's land)"
    ax.set_title(
        f"Where the {int(world.residents.sum()):,} residents live{how}\n"
        f"{results.scenario.name} starts with {results.summary['agents']:,} agents at scale "
        f"{results.scenario.population.scale:g}; grey: land where nobody lives"
    )
    ax.set_axis_off()
    return fig


def day_and_night(results) -> tuple[float, float, np.ndarray] | None:
    """People in each district by day and by night: ``(t_day, t_night, ratio)``.

    ``t_day``: the first recorded time at 14:00 KST on a working day (Monday to Friday);
    ``t_night``: the first at 03:00 after it (minutes from the start); ``ratio``: each
    district's agents then (every state but those off the map, the dead where they fell
    included), by day over by night. ``None`` when the run has no daily journeys or does
    not hold both times.
    """
    sc = results.scenario
    if not sc.commuting:
        return None
    dd = results.districts
    times = np.unique(dd["t_min"].to_numpy())
    start = sc.time.start.astimezone(KST)
    clock = [start + timedelta(minutes=float(t)) for t in times]
    day = [t for t, c in zip(times, clock) if c.hour == 14 and c.minute == 0 and c.weekday() < 5]
    if not day:
        return None
    night = [t for t, c in zip(times, clock) if t > day[0] and c.hour == 3 and c.minute == 0]
    if not night:
        return None
    states = [s for s in dd.columns if s not in ("t_min", "day", "district", "name")]
    n = dd.assign(n=dd[states].sum(axis=1))
    people = n.pivot(index="district", columns="t_min", values="n").reindex(dd["district"].unique())
    ratio = people[day[0]].to_numpy(float) / np.maximum(1, people[night[0]].to_numpy(float))
    return float(day[0]), float(night[0]), ratio


@_plain_text
def plot_day_night_map(results, world):
    """Each district's people by day over by night, when the run has daily journeys."""
    got = day_and_night(results)
    if got is None:
        return None
    t_day, t_night, ratio = got
    fig, ax = _subplots(figsize=(9, 7.8))
    ny, nx = world.shape
    ax.imshow(light_basemap(world), interpolation="nearest")
    inside = (world.district >= 0) & ~world.water
    grid = np.full((ny, nx), np.nan)
    grid[inside] = ratio[world.district[inside]]
    top = float(max(2.5, np.nanmax(ratio)))
    norm = matplotlib.colors.LogNorm(vmin=1 / top, vmax=top)
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=(0, 0, 0, 0))
    im = ax.imshow(grid, cmap=cmap, norm=norm, interpolation="nearest")
    draw_district_edges(ax, world)
    box = {"boxstyle": "round,pad=0.15", "fc": (1, 1, 1, 0.7), "ec": "none"}
    for r, c, en, _ in district_labels(world):
        v = ratio[world.district_names.index(en)]
        text = f"{en.replace('-gu', '')}\n{v:.2f}"
        ax.text(c, r, text, ha="center", va="center", fontsize=7, bbox=box)
    cb = fig.colorbar(im, ax=ax, shrink=0.7)
    ticks = [v for v in (0.5, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0) if norm.vmin <= v <= norm.vmax]
    cb.set_ticks(ticks, labels=[f"{v:g}" for v in ticks])
    cb.ax.minorticks_off()
    cb.set_label("people by day / by night (log scale)")
    start = results.scenario.time.start.astimezone(KST)
    when = [(start + timedelta(minutes=t)).strftime("%a %H:%M") for t in (t_day, t_night)]
    ax.set_title(
        f"By day and by night: each district's people at {when[0]} over {when[1]} (KST)\n"
        f"{results.scenario.name}: red fills by day (work, school), blue empties"
    )
    ax.set_axis_off()
    return fig


def outbreak_cell(results) -> tuple[float, float] | None:
    """(row, col) of the outbreak's start: the centre of the zombies of the first snapshot."""
    snaps = results.snapshots
    if snaps is None:
        return None
    z = snaps.grid(0, "zombie") + snaps.grid(0, "infected")
    rr, cc = np.nonzero(z)
    if rr.size == 0:
        return None
    w = z[rr, cc]
    return float(np.average(rr, weights=w)), float(np.average(cc, weights=w))


def event_caption(e: dict) -> str:
    """What the pictures call an event that fired: its name, else its type in words."""
    return e.get("name") or e["type"].replace("_", " ")


def story_marks(results, world) -> tuple[list, list]:
    """Where and when the story happened, for the fall map and the animation: (areas, points).

    ``areas``: (t_min, event type, cells mask) of what holds from ``t_min`` on: closed
    bridges (``close_bridges``), a cordon's outline (``quarantine``). ``points``: (t_min,
    kind, row, col, caption): the outbreak's start (``outbreak``, at 0) and every event, at
    the cell its record names (the evacuation's ``target``), row and col None for an area's.
    """
    areas, points = [], []
    start = outbreak_cell(results)
    if start is not None:
        points.append((0.0, "outbreak", start[0], start[1], "the outbreak begins"))
    for e in results.events:
        kind, t = e.get("type"), float(e.get("t_min", 0.0))
        caption = event_caption(e)
        if kind == "close_bridges":
            names = world.bridge_names
            idx = [names.index(b) for b in e.get("bridges", []) if b in names]
            areas.append((t, kind, np.isin(world.bridge, idx) & (world.bridge >= 0)))
        elif kind == "quarantine":
            areas.append((t, kind, _outline(world, e.get("districts", []))))
        cell = e.get("target") if kind == "evacuate" else e.get("cell")
        row, col = (None, None) if cell is None else (float(cell[0]), float(cell[1]))
        points.append((t, kind, row, col, caption))
    return areas, points


#: How the fall map draws the story: marker, colour and label of each placed event, and the
#: colour (RGBA) of each area.
EVENT_MARKS = {
    "deploy_soldiers": ("^", "#1a9641", "soldiers"),
    "evacuate": ("P", "#7b3294", "evacuation target"),
    "sound_lure": ("o", "#fdae61", "drones"),
    "airstrike": ("X", "#d7191c", "strike"),
}
AREA_RGBA = {"close_bridges": (0.85, 0.1, 0.1, 1), "quarantine": (1.0, 0.55, 0.0, 1)}


def draw_story(ax, results, world) -> None:
    """Mark where the outbreak began and where each event of the playbook acted.

    Each drawn marker's ``gid`` names what it marks (``outbreak``, or ``event:<index>``) so
    that the tests can find it; closed bridges are painted red, a cordon's districts
    outlined in orange.
    """
    areas, points = story_marks(results, world)
    overlay = np.zeros((*world.shape, 4))
    for _, kind, mask in areas:
        overlay[mask] = AREA_RGBA[kind]
    if overlay[..., 3].any():
        ax.imshow(overlay, interpolation="nearest", zorder=4)
    label_box = {"boxstyle": "round,pad=0.1", "fc": (1, 1, 1, 0.75), "ec": "none"}
    k = -1  # the event's index in ``results.events`` (the points follow their order)
    for t, kind, r, c, _ in points:
        k += kind != "outbreak"
        if r is None:
            continue
        if kind == "outbreak":
            style = {"ms": 18, "color": "#d7191c", "mec": "white", "mew": 1.2, "ls": "none"}
            ax.plot(c, r, marker="*", gid="outbreak", zorder=5, **style)
            ax.annotate("outbreak", (c, r), xytext=(8, -12), textcoords="offset points",
                        fontsize=8, color="#d7191c", weight="bold")  # fmt: skip
        elif kind in EVENT_MARKS:
            marker, colour, label = EVENT_MARKS[kind]
            style = {"ms": 11, "color": colour, "mec": "black", "mew": 0.8, "ls": "none"}
            ax.plot(c, r, marker=marker, gid=f"event:{k}", zorder=6, **style)
            ax.annotate(f"{label}, day {t / 1440:.1f}", (c, r), xytext=(7, 5), fontsize=7,
                        textcoords="offset points", bbox=label_box)  # fmt: skip
    draw_crossings(ax, results, world, label_box)
    draw_subway(ax, results, world, label_box)


#: The lines' colours (Seoul's own signage colours).
LINE_COLOURS = {
    "1": "#0052A4", "2": "#00A84D", "3": "#EF7C1C", "4": "#00A5DE", "5": "#996CAC",
    "6": "#CD7C2F", "7": "#747F00", "8": "#E6186C", "9": "#BDB092",
    "Gyeongui-Jungang": "#77C4A3", "Suin-Bundang": "#F5A200", "Shinbundang": "#D4003B",
    "AREX": "#0090D2", "Ui-Sinseol": "#B7C452", "Sillim": "#6789CA", "Gyeongchun": "#0C8E72",
}  # fmt: skip


def draw_subway(ax, results, world, label_box) -> None:
    """The subway's lines in their colours, dashed where closed at the end of the run.

    Where a zombie first rode each line, a black triangle at the station its car left.
    Each line's ``gid`` is ``subway:<line>``, each triangle's ``zombie-aboard:<line>``.
    """
    sw = results.summary.get("subway")
    sc = results.scenario
    if not sw or sc.subway is None:
        return
    s = sc.subway
    net = subway_mod.build(world, data_dir(), s.speed_kmh, s.dwell_min, s.transfer_min)
    nx = world.shape[1]
    for j, name in enumerate(net.lines):
        info = sw["lines"].get(name, {})
        cars = np.flatnonzero(net.car_line == j)
        r0, c0 = np.divmod(net.node_cell[net.car_from[cars]], nx)
        r1, c1 = np.divmod(net.node_cell[net.car_to[cars]], nx)
        xs = np.column_stack([c0, c1, np.full(cars.size, np.nan)]).ravel()
        ys = np.column_stack([r0, r1, np.full(cars.size, np.nan)]).ravel()
        style = "-" if info.get("open", True) else (0, (2, 1.5))
        ax.plot(xs, ys, ls=style, lw=1.1, color=LINE_COLOURS.get(name, "#444444"),
                alpha=0.85, zorder=3, gid=f"subway:{name}")  # fmt: skip
        at = info.get("first_zombie_from")
        if at:
            r, c = divmod(int(net.group_cell[net.group_index(at)]), nx)
            ax.plot(c, r, marker="^", ms=6, color="black", mec="white", mew=0.6, ls="none",
                    zorder=6, gid=f"zombie-aboard:{name}")  # fmt: skip


def draw_crossings(ax, results, world, label_box, named: int = 3) -> None:
    """Where the infected crossed the city's open edge: a red ring per district.

    Each district they left through gets a ring on its way out nearest the middle of its
    ways out, its area by their number; the ``named`` largest are labelled. Each ring's
    ``gid`` is ``escaped:<district code>``.
    """
    edge = results.summary.get("edge")
    if not edge or not edge["escaped"]:
        return
    ways = world.edge_exits().any(axis=1).reshape(world.shape)
    most = max(v["escaped"] for v in edge["through"].values())
    order = sorted(edge["through"].items(), key=lambda kv: -kv[1]["escaped"])
    for rank, (code, v) in enumerate(order):
        if not v["escaped"] or code not in world.district_codes:
            continue
        rr, cc = np.nonzero(ways & (world.district == world.district_codes.index(code)))
        if rr.size == 0:
            continue
        k = int(np.argmin((rr - rr.mean()) ** 2 + (cc - cc.mean()) ** 2))
        size = 6 + 14 * (v["escaped"] / most) ** 0.5
        style = {"ms": size, "mfc": "none", "mec": "#b2182b", "mew": 2.0, "ls": "none"}
        ax.plot(cc[k], rr[k], marker="o", gid=f"escaped:{code}", zorder=6, **style)
        if rank < named:  # the label on the side away from the map's nearer edge
            east = cc[k] > world.shape[1] / 2
            ax.annotate(f"{v['escaped']:,} infected out", (cc[k], rr[k]),
                        xytext=(-9 if east else 9, -12), ha="right" if east else "left",
                        fontsize=7, color="#b2182b", textcoords="offset points",
                        bbox=label_box)  # fmt: skip


def _outline(world, districts) -> np.ndarray:
    """The border cells of some districts (a mask), named by code or name."""
    idx = []
    for key in districts:
        try:
            idx.append(world.district_index(key))
        except KeyError:
            continue
    inside = np.isin(world.district, idx)
    core = inside.copy()
    core[1:] &= inside[:-1]
    core[:-1] &= inside[1:]
    core[:, 1:] &= inside[:, :-1]
    core[:, :-1] &= inside[:, 1:]
    return inside & ~core


def snapshot_times(snaps, n: int = 6) -> list[int]:
    """Indices of ``n`` snapshots evenly spread from the start to the end."""
    if len(snaps.t_min) <= n:
        return list(range(len(snaps.t_min)))
    return sorted({int(round(v)) for v in np.linspace(0, len(snaps.t_min) - 1, n)})


def story_times(results, n: int = 6) -> list[tuple[int, str]]:
    """Up to ``n`` snapshots where things happen, each with what happened: (index, caption).

    In this order until ``n`` are chosen: the start, the end, the peak of zombies, the fall
    (if Seoul fell), then each event of the playbook (the first snapshot at or after it);
    what is left is filled evenly in the longest gaps. Several moments on one snapshot share
    it.
    """
    snaps = results.snapshots
    t = np.asarray(snaps.t_min, float)
    s = results.summary

    def at(day: float) -> int:
        return int(min(len(t) - 1, np.searchsorted(t, day * 1440.0 - 1e-6)))

    moments = [(0, "the outbreak begins"), (len(t) - 1, "the end")]
    moments.append((at(s["peak_zombies"]["day"]), f"peak: {s['peak_zombies']['count']:,} zombies"))
    if s.get("fall_day") is not None:
        moments.append((at(s["fall_day"]), "Seoul falls"))
    for e in results.events:
        moments.append((at(e["day"]), event_caption(e)))
    chosen: dict[int, list[str]] = {}
    for i, caption in moments:
        if i in chosen:
            chosen[i].append(caption)
        elif len(chosen) < n:
            chosen[i] = [caption]
    while len(chosen) < min(n, len(t)):
        idx = sorted(chosen)
        gaps = [(b - a, a, b) for a, b in zip(idx, idx[1:]) if b - a > 1]
        if not gaps:
            break
        _, a, b = max(gaps)
        chosen[(a + b) // 2] = []
    return [(i, "; ".join(chosen[i])) for i in sorted(chosen)]


@_plain_text
def plot_snapshot_maps(results, world):
    """The animation's map at six moments of the story (``story_times``)."""
    snaps = results.snapshots
    story = story_times(results)
    idx = [i for i, _ in story]
    base = basemap_rgb(world)
    ref = _ref(snaps)
    cols = 3
    rows = -(-len(idx) // cols)
    fig, axes = _subplots(rows, cols, figsize=(13, 4.4 * rows), squeeze=False)
    fig.patch.set_facecolor("#08080c")
    for ax, (i, caption) in zip(axes.flat, story):
        ax.imshow(frame_rgb(base, snaps, i, ref), interpolation="nearest")
        caption = caption if len(caption) <= 60 else caption[:59] + "…"
        title = f"day {snaps.t_min[i] / 1440:.2f}" + (f": {caption}" if caption else "")
        # the names are the user's text: never mathtext (wrapping would parse it)
        ax.set_title(title, color="white", fontsize=9, parse_math=False)
        ax.set_axis_off()
    for ax in list(axes.flat)[len(idx) :]:
        ax.set_visible(False)
    fig.suptitle("Humans (blue), zombies (red), evolved (violet), hybrids (green)", color="white")
    fig.tight_layout()
    return fig
