"""Plots, the map animation and the self-contained HTML report of a run.

Everything here reads a :class:`~seoulfall.results.Results` (and its map snapshots), so
``seoulfall report DIR`` can rebuild it all from a run folder without re-running. Files
written into the run folder:

- ``epidemic.png``, ``epidemic_log.png``: each state over days, linear and log;
- ``fall_map.png``: the map coloured by each district's fall day, with the Han and its
  bridges, district names in English and Korean;
- ``residents.png``: where the residents live (each cell's residents at scale 1; city maps);
- ``daynight.png``: each district's people by day over by night (runs with ``[commute]``);
- ``snapshots.png``: the map at six times;
- ``districts.png``: per-district curves, small multiples;
- ``outbreak.mp4`` (H.264 through the ffmpeg of the ``imageio-ffmpeg`` wheel) and
  ``outbreak.webp`` (animated, embedded in the report): the map over time with a clock;
- ``report.html``: one self-contained page (images inlined as ``data:`` URIs, no scripts,
  no remote fonts).

One module per concept: ``style`` (colours, fonts, figures), ``curves``, ``maps``,
``animation``, ``page`` (the pictures and report.html) and ``ensemble``. Everything is
re-exported here.
"""

from __future__ import annotations

from seoulfall.report.animation import (  # noqa: F401
    EVENT_SHOWN_MIN,
    MARK_RGB,
    animation_frames,
    write_animation,
)
from seoulfall.report.curves import (  # noqa: F401
    plot_curves,
    plot_district_curves,
)
from seoulfall.report.ensemble import (  # noqa: F401
    _groups,
    _label,
    plot_district_odds,
    plot_ensemble_curves,
    plot_p_fall,
    write_ensemble_outputs,
)
from seoulfall.report.maps import (  # noqa: F401
    _ref,
    basemap_rgb,
    day_and_night,
    district_labels,
    frame_rgb,
    plot_day_night_map,
    plot_fall_map,
    plot_residents_map,
    plot_snapshot_maps,
    snapshot_times,
    story_marks,
    story_times,
)
from seoulfall.report.page import (  # noqa: F401
    STYLE,
    _data_uri,
    _day,
    _table,
    write_plots,
    write_report,
)
from seoulfall.report.style import (  # noqa: F401
    COLOURS,
    CREDITS,
    FPS,
    MAP_RGB,
    UPSCALE,
    _clock_font,
    _plain,
    _plain_text,
    _png,
    _subplots,
    korean_font,
    korean_font_face,
)
