"""Plots, the map animation and the self-contained HTML report of a run.

Everything here reads a :class:`~seoulfall.results.Results` (and its map snapshots), so
``seoulfall report DIR`` can rebuild it all from a run folder without re-running. Files
written into the run folder:

- ``epidemic.png``, ``epidemic_log.png``: each state over days, linear and log;
- ``fall_map.png``: the map coloured by each district's fall day, with the Han and its
  bridges, district names in English and Korean;
- ``snapshots.png``: the map at six times;
- ``districts.png``: per-district curves, small multiples;
- ``outbreak.mp4`` (H.264 through the ffmpeg of the ``imageio-ffmpeg`` wheel) and
  ``outbreak.webp`` (animated, embedded in the report): the map over time with a clock;
- ``report.html``: one self-contained page (images inlined as ``data:`` URIs, no scripts,
  no remote fonts).
"""

from __future__ import annotations

import base64
import functools
import html
import importlib.util
import io
import json
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text

from seoulfall.atomic import atomic_write_bytes, atomic_write_text
from seoulfall.engine import states
from seoulfall.outcome import last_standing
from seoulfall.world import load_world


def _plain(fig) -> None:
    """Draw every text of ``fig`` as written, never as mathtext.

    Scenario text (names, districts, the cast, varied values) reaches titles and labels, and
    a ``$`` in it is a dollar sign. Set on each text rather than through ``rc_context``,
    whose exit leaves a notebook's inline backend showing no figure at all.
    """
    for text in fig.findobj(Text):
        text.set_parse_math(False)


def _plain_text(fn):
    """``fn`` returns a Figure or an Axes whose texts are then made plain (:func:`_plain`)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        out = fn(*args, **kwargs)
        fig = getattr(out, "figure", out)
        if isinstance(fig, Figure):
            _plain(fig)
        return out

    return wrapper


def _subplots(*args, figsize, **kwargs):
    """A figure of its own (no pyplot, so the user's backend and figures are left alone)."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


COLOURS = states.COLOURS
# The animation's colours on its dark basemap (RGB 0-255).
MAP_RGB = {
    "human": (70, 150, 255),
    "zombie": (255, 45, 45),
    "evolved": (214, 90, 255),
    "hybrid": (80, 255, 120),
}
CREDITS = (
    "District boundaries: southkorea/seoul-maps (JUSO / Seoul Open Data 2015), Apache License "
    "2.0. Han River edge: KOSTAT/SGIS 2018 boundaries, KOGL Type 1 (source: Statistics Korea, "
    "SGIS). Populations: Seoul statistics, 2024 registered residents. Korean labels: Nanum "
    "Gothic (SIL Open Font License), from the koreanize-matplotlib package."
)
UPSCALE = 2  # animation pixels per cell
FPS = 12


# -- fonts ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def korean_font() -> str | None:
    """Register a font with Hangul and return its family name (None if none is found).

    The font comes with the ``koreanize-matplotlib`` wheel (Nanum Gothic; its module is not
    imported, since importing it changes matplotlib's global settings), else from the system
    (Debian's ``fonts-nanum`` or Noto CJK). Found and registered once per process.
    """
    spec = importlib.util.find_spec("koreanize_matplotlib")
    candidates = []
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(list(spec.submodule_search_locations)[0]) / "fonts")
    candidates += [Path("/usr/share/fonts/truetype/nanum"), Path("/usr/share/fonts/opentype")]
    for folder in candidates:
        for path in sorted(folder.glob("**/*.[ot]t[fc]")) if folder.exists() else []:
            if "Nanum" in path.name or "CJK" in path.name:
                font_manager.fontManager.addfont(str(path))
                return font_manager.FontProperties(fname=str(path)).get_name()
    return None


def korean_font_face(text: str) -> str:
    """A CSS ``@font-face`` embedding Nanum Gothic cut down to the Hangul in ``text``.

    Browsers fall back to it for the characters no system font has (so a machine without
    a Korean font shows the names, not boxes); the subset weighs a few kilobytes. Empty if
    the text has no Hangul or no Korean font is found.
    """
    chars = sorted({ch for ch in text if "\uac00" <= ch <= "\ud7a3" or "\u3130" <= ch <= "\u318f"})
    if not chars or korean_font() is None:
        return ""
    import logging

    from fontTools import subset

    logging.getLogger("fontTools").setLevel(logging.ERROR)  # tables it drops, by design

    path = next(
        (
            f.fname
            for f in font_manager.fontManager.ttflist
            if "Nanum" in f.name or "CJK" in f.fname
        ),
        None,
    )
    if path is None:
        return ""
    options = subset.Options()
    options.drop_tables += ["DSIG"]
    font = subset.load_font(path, options)
    sub = subset.Subsetter(options)
    sub.populate(text="".join(chars))
    sub.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    data = base64.b64encode(buf.getvalue()).decode()
    return (
        "@font-face{font-family:'seoulfall-ko';font-display:block;"
        f"src:url(data:font/ttf;base64,{data}) format('truetype');}}"
    )


def _clock_font(size: int):
    from PIL import ImageFont

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"
    return ImageFont.truetype(str(path), size)


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


def _png(fig, dpi: int = 110, tight: bool = True) -> bytes:
    _plain(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    return buf.getvalue()


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


def animation_frames(results, world):
    """The animation's frames as PIL images: map, clock and legend."""
    from PIL import Image, ImageDraw

    snaps = results.snapshots
    base = basemap_rgb(world)
    ref = _ref(snaps)
    start = results.scenario.time.start
    big, small = _clock_font(20), _clock_font(13)
    up = max(UPSCALE, -(-640 // world.shape[1]))  # small maps get bigger pixels
    for i, t in enumerate(snaps.t_min):
        core = frame_rgb(base, snaps, i, ref, up)
        h, w = core.shape[:2]
        canvas = Image.new("RGB", (w, h + 56), (8, 8, 12))
        canvas.paste(Image.fromarray(core), (0, 56))
        draw = ImageDraw.Draw(canvas)
        now = start + timedelta(minutes=float(t))
        draw.text((10, 6), f"Day {t / 1440:5.2f}", fill=(235, 235, 235), font=big)
        draw.text(
            (10, 32), now.strftime("%a %d %b %Y, %H:%M KST"), fill=(190, 190, 190), font=small
        )
        x = max(180, w - 300)
        for k, (label, key) in enumerate(
            (
                ("humans", "human"),
                ("zombies", "zombie"),
                ("evolved", "evolved"),
                ("hybrids", "hybrid"),
            )
        ):
            px, py = x + (k % 2) * 140, 10 + (k // 2) * 22
            draw.rectangle((px, py + 2, px + 12, py + 14), fill=MAP_RGB[key])
            draw.text((px + 18, py), label, fill=(220, 220, 220), font=small)
        yield canvas


def write_animation(results, world, folder: Path) -> dict[str, float]:
    """Write ``outbreak.mp4`` and ``outbreak.webp``; returns the seconds each took.

    The frames are made once and streamed to ffmpeg (H.264, ``veryfast``); the WebP gets
    the same frames at half size, small enough to embed in the report.
    """
    import imageio_ffmpeg
    from PIL import Image

    t0 = time.perf_counter()
    fd, name = tempfile.mkstemp(dir=folder, prefix=".outbreak.mp4.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)  # a name of its own: two writers never share it
    writer = None
    small = []
    try:
        for frame in animation_frames(results, world):
            w, h = frame.size
            if writer is None:
                writer = imageio_ffmpeg.write_frames(
                    str(tmp),
                    (w, h),
                    fps=FPS,
                    codec="libx264",
                    pix_fmt_out="yuv420p",
                    macro_block_size=2,
                    ffmpeg_log_level="error",
                    output_params=["-preset", "veryfast", "-movflags", "+faststart", "-f", "mp4"],
                )
                writer.send(None)
            writer.send(frame.tobytes())
            small.append(frame.resize((w // 2, h // 2), Image.BILINEAR) if w > 600 else frame)
        if writer is None:
            return {}
        writer.close()
        writer = None
        tmp.replace(folder / "outbreak.mp4")
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    timing = {"frames_and_mp4_seconds": time.perf_counter() - t0}
    t0 = time.perf_counter()
    buf = io.BytesIO()
    small[0].save(
        buf,
        format="WEBP",
        save_all=True,
        append_images=small[1:],
        duration=int(1000 / FPS),
        loop=0,
        quality=60,
        method=0,
    )
    atomic_write_bytes(folder / "outbreak.webp", buf.getvalue())
    timing["webp_seconds"] = time.perf_counter() - t0
    return timing


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


# -- writing ----------------------------------------------------------------------------------
def write_plots(results, folder: Path, world=None) -> dict[str, float]:
    """Write every PNG and, when there are snapshots, the animation.

    Returns the seconds each output took.
    """
    timing = {}
    t0 = time.perf_counter()
    for name, log in (("epidemic.png", False), ("epidemic_log.png", True)):
        fig, ax = _subplots(figsize=(8, 4.5))
        plot_curves(results.timeseries, ax=ax, log=log)
        ax.set_title(f"{results.scenario.name} (seed {results.scenario.seed})")
        atomic_write_bytes(folder / name, _png(fig))
    atomic_write_bytes(
        folder / "districts.png", _png(plot_district_curves(results), dpi=80, tight=False)
    )
    timing["curves_seconds"] = time.perf_counter() - t0
    if world is None:
        world = load_world(results.scenario)
    if world.ncells > 1:
        t0 = time.perf_counter()
        atomic_write_bytes(folder / "fall_map.png", _png(plot_fall_map(results, world), dpi=100))
        timing["fall_map_seconds"] = time.perf_counter() - t0
        if results.snapshots is not None:
            t0 = time.perf_counter()
            fig = plot_snapshot_maps(results, world)
            atomic_write_bytes(folder / "snapshots.png", _png(fig, dpi=80))
            timing["snapshots_seconds"] = time.perf_counter() - t0
            timing.update(write_animation(results, world, folder))
    return timing


def _day(v) -> str:
    return "" if v is None else f"{v:.2f}"


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _table(head: list[str], rows: list[list]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body{font-family:'seoulfall-ko',system-ui,-apple-system,"Segoe UI",sans-serif;max-width:70em;
margin:1.5em auto;
padding:0 1em;color:#1d1d1f;background:#fafafa}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
img{max-width:100%;display:block;margin:.8em 0}
table{border-collapse:collapse;font-size:.9em}td,th{padding:3px 9px;border-bottom:1px solid #e4e4e4;
text-align:left}th{background:#f0f0f0}
.cards{display:flex;flex-wrap:wrap;gap:.8em}.card{background:#fff;border:1px solid #ddd;
border-radius:8px;padding:.6em 1em;min-width:9em}.card b{display:block;font-size:1.4em}
.anim{background:#08080c;padding:.5em;border-radius:8px;display:inline-block}
.anim img{width:744px;max-width:100%;image-rendering:pixelated;margin:0}
pre{background:#f4f4f4;padding:1em;overflow:auto;font-size:.85em}small{color:#666}
"""


def write_report(results, folder: Path) -> Path:
    """Write the self-contained ``report.html`` from the run folder's files."""
    s = results.summary
    sc = results.scenario
    fall = "not within the run" if s["fall_day"] is None else f"day {s['fall_day']:.2f}"
    held, names = last_standing(s)
    final = s["final"]
    cards = [
        ("Fell (humans down to 10 %)", fall),
        ("Peak zombies", f"{s['peak_zombies']['count']:,} (day {s['peak_zombies']['day']:.2f})"),
        (
            "Humans left",
            f"{final.get('human', 0):,} of {s['agents']:,}"
            + (f", and {final['soldier']:,} soldiers" if final.get("soldier") else ""),
        ),
        ("Still standing" if held else "Fell last", ", ".join(names)),
        (
            "Evolved / hybrids at the end",
            f"{final.get('evolved', 0):,} / {final.get('hybrid', 0):,}",
        ),
        ("Dead", f"{final.get('dead', 0):,}"),
    ]
    cards_html = "".join(
        f'<div class="card">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in cards
    )
    parts = []
    if (folder / "outbreak.webp").exists():
        uri = _data_uri(folder / "outbreak.webp", "image/webp")
        parts.append(
            '<h2>The outbreak on the map</h2><div class="anim"><img id="animation" '
            f'alt="animated map of the outbreak" src="{uri}">'
            "</div><p><small>Humans blue, zombies red, evolved violet, hybrids green; the "
            "full-size video is <code>outbreak.mp4</code> in the run folder.</small></p>"
        )
    for name, title in (
        ("fall_map.png", "When each district fell"),
        ("epidemic.png", "Epidemic curves"),
        ("epidemic_log.png", "Epidemic curves (log scale)"),
        ("snapshots.png", "The map at six times"),
        ("districts.png", "Per district"),
    ):
        if (folder / name).exists():
            uri = _data_uri(folder / name, "image/png")
            parts.append(f'<h2>{title}</h2><img alt="{html.escape(title)}" src="{uri}">')

    world = load_world(sc) if sc.world.map in ("seoul", "hyosan") else None
    korean = dict(zip(world.district_codes, world.district_names_ko)) if world else {}
    last = results.districts[results.districts["t_min"] == results.districts["t_min"].max()]
    last = last.set_index("district")
    rows = []
    for code, v in s["districts"].items():
        row = last.loc[code] if code in last.index else None
        counts = [
            int(row[k]) if row is not None else ""
            for k in ("human", "zombie", "evolved", "hybrid", "dead")
        ]
        rows.append([code, v["name"], korean.get(code, ""), _day(v["fall_day"]), *counts])
    parts.append(
        "<h2>Districts</h2>"
        + _table(
            [
                "code",
                "district",
                "구",
                "fall day",
                "humans",
                "zombies",
                "evolved",
                "hybrids",
                "dead",
            ],
            rows,
        )
    )
    if results.events:
        ev_rows = [
            [
                e.get("type", ""),
                _day(e.get("day")),
                ", ".join(f"{k}: {v}" for k, v in e.items() if k not in ("type", "t_min", "day")),
            ]
            for e in results.events
        ]
        parts.append("<h2>Events</h2>" + _table(["event", "day", "effect"], ev_rows))
    else:
        parts.append("<h2>Events</h2><p>No events fired in this run.</p>")
    if s.get("cast"):
        cast_rows = [
            [
                n,
                f["state"] + (f" ({f['kind']})" if f.get("kind") else ""),
                "yes" if f["survived"] else "no",
                _day(f["day"]) if f["t_min"] > 0 else "start",
                f.get("district_name") or "",
            ]
            for n, f in s["cast"].items()
        ]
        parts.append(
            "<h2>The cast</h2>"
            + _table(["character", "final state", "survived", "since day", "where"], cast_rows)
        )
    desc = html.escape(sc.description) if sc.description else ""
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>seoulfall: {html.escape(s["scenario"])} (seed {html.escape(str(s["seed"]))})</title>
<style>{korean_font_face(desc + "".join(korean.values()))}{STYLE}</style></head><body>
<h1>seoulfall: {html.escape(s["scenario"])}</h1>
<p>{desc}</p>
<p>Seed {html.escape(str(s["seed"]))}, {s["agents"]:,} agents,
{html.escape(str(s["days"]))} days from
{html.escape(sc.time.start.isoformat())} ({s["steps"]:,} steps of {sc.time.dt_min} min);
{s["wall_seconds"]:.1f} s to run.</p>
<div class="cards">{cards_html}</div>
{"".join(parts)}
<h2>Scenario</h2><details><summary>the resolved scenario (scenario.toml)</summary>
<pre>{html.escape(sc.to_toml())}</pre></details>
<h2>Credits</h2><p><small>{html.escape(CREDITS)}</small></p>
<p><small>Made by seoulfall. Fans' fiction on real geography: <i>All of Us Are Dead</i> is
Netflix's; this simulator is not affiliated with it.</small></p>
</body></html>"""
    atomic_write_text(folder / "report.html", page)
    return folder / "report.html"


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
