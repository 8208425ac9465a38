"""The pictures' common ground: colours, credits, fonts (Korean names included), figures.

Figures here never touch matplotlib's global state (backend, rcParams).
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import io
from pathlib import Path

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text

from seoulfall.engine import states


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
    "SGIS). Populations: Seoul statistics, 2024 registered residents. Dong (행정동) "
    "boundaries: vuski/admdongkor (2021-04), based on Statistics Korea SGIS boundaries, via "
    "raqoon886/Local_HangJeongDong, with its 2021 Q2 registered population per dong. Mountain "
    "peaks: Wikipedia (facts only). Daytime population per gu: arer90/seoul-ili-forecast-abm "
    "(MIT), from Seoul's living population (서울 생활인구). Subway stations and lines: Seoul "
    "Metropolitan Government, Seoul Open Data Plaza (OA-15442, OA-21232), KOGL Type 1. "
    "Korean labels: Nanum Gothic (SIL "
    "Open Font License), from the koreanize-matplotlib package."
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


def _png(fig, dpi: int = 110, tight: bool = True) -> bytes:
    _plain(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    return buf.getvalue()
