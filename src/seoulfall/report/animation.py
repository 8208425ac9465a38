"""The animation of the outbreak (``outbreak.mp4``, ``outbreak.webp``)."""

from __future__ import annotations

import io
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from seoulfall.atomic import atomic_write_bytes
from seoulfall.report.maps import _ref, basemap_rgb, frame_rgb, story_marks
from seoulfall.report.style import FPS, MAP_RGB, UPSCALE, _clock_font

#: How long an event's mark stays on the animation after it fired (minutes of the run).
EVENT_SHOWN_MIN = 12 * 60.0
#: The colours of the animation's marks (RGB), by ``maps.story_marks`` kind.
MARK_RGB = {
    "outbreak": (255, 60, 60),
    "close_bridges": (230, 40, 40),
    "quarantine": (255, 140, 0),
    "deploy_soldiers": (60, 220, 90),
    "evacuate": (200, 120, 255),
    "sound_lure": (255, 190, 80),
    "airstrike": (255, 255, 255),
}


def animation_frames(results, world):
    """The animation's frames as PIL images: map, clock, legend and the story's marks.

    Closed bridges turn red and a cordon's outline orange when they happen
    (``maps.story_marks``); the outbreak's start and each event get a caption, and a ring
    where it acted, for ``EVENT_SHOWN_MIN``.
    """
    from PIL import Image, ImageDraw

    snaps = results.snapshots
    base = basemap_rgb(world)
    ref = _ref(snaps)
    start = results.scenario.time.start
    big, small = _clock_font(20), _clock_font(13)
    up = max(UPSCALE, -(-640 // world.shape[1]))  # small maps get bigger pixels
    areas, points = story_marks(results, world)
    for i, t in enumerate(snaps.t_min):
        core = frame_rgb(base, snaps, i, ref, up)
        for since, kind, mask in areas:
            if t >= since:
                core[np.repeat(np.repeat(mask, up, axis=0), up, axis=1)] = MARK_RGB[kind]
        h, w = core.shape[:2]
        canvas = Image.new("RGB", (w, h + 56), (8, 8, 12))
        canvas.paste(Image.fromarray(core), (0, 56))
        draw = ImageDraw.Draw(canvas)
        captions = []
        for since, kind, r, c, caption in points:
            if not since <= t < since + EVENT_SHOWN_MIN:
                continue
            rgb = MARK_RGB.get(kind, (235, 235, 235))
            # the user's text: line and paragraph separators would break the text layout
            captions.append(("".join(ch if ch.isprintable() else " " for ch in caption), rgb))
            if r is not None:
                x, y, rad = (c + 0.5) * up, (r + 0.5) * up + 56, max(6, 4 * up)
                draw.ellipse((x - rad, y - rad, x + rad, y + rad), outline=rgb, width=3)
        for k, (caption, rgb) in enumerate(captions[-3:]):
            y = h + 56 - 22 * (len(captions[-3:]) - k) - 4
            draw.rectangle((6, y - 2, 12 + 8 * len(caption), y + 18), fill=(8, 8, 12))
            draw.text((10, y), caption, fill=rgb, font=small)
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
