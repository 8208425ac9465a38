"""``seoulfall serve``: a local web studio that replays run folders on the map of Seoul.

The server (FastAPI on uvicorn) reads only the run folders it was given, by their number in
its list, and only seoulfall's own files in them (never a path from a request): a request
cannot name a file. It sends the map once (each cell's district, water and bridges) and then
each snapshot as compact binary (the per-cell counts, never per-agent data); the page (plain
JavaScript, shipped in ``static/``, no library and nothing from the network) draws them on a
canvas. Every request for data, and the page itself, needs the per-launch token printed
with the URL (as Jupyter does); a request from a foreign ``Origin`` is refused. It listens on
127.0.0.1 unless told otherwise.

With ``--runs-dir`` the page also starts live runs (``live.py``): the engine steps in a
worker thread and the page polls the newest frame of per-cell counts. Before the start a
click places the outbreak; during the run a click quarantines a district, closes a bridge,
strikes or sounds a lure, and a slider changes a rate, each an event of the run at the next
step boundary, so the scenario the page saves replays the session bit for bit. "record"
saves the map's animation as a WebM video (the browser's MediaRecorder). ``seoulfall run
--serve`` shows a command-line run the same way (watched and paused, not steered).
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
