"""``seoulfall serve``: a local web studio that replays run folders on the map of Seoul.

The server (FastAPI on uvicorn) reads only the run folders it was given, by their number in
its list, and only seoulfall's own files in them (never a path from a request): a request
cannot name a file. It sends the map once (each cell's district, water and bridges) and then
each snapshot as compact binary (the per-cell counts, never per-agent data); the page (plain
JavaScript, shipped in ``static/``, no library and nothing from the network) draws them on a
canvas. Every request for data, and the page itself, needs the per-launch token printed
with the URL (as Jupyter does); a request from a foreign ``Origin`` is refused. It listens on
127.0.0.1 unless told otherwise.

Live runs and steering (starting a run from the page, closing a bridge with a click) are not
built yet: see the README.
"""

from __future__ import annotations

from seoulfall.studio.app import (  # noqa: F401
    RunView,
    StudioError,
    SweepView,
    bind,
    make_app,
    open_folder,
    serve,
)
