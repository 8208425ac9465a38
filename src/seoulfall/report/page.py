"""The run's pictures and its self-contained ``report.html``."""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

from seoulfall.atomic import atomic_write_bytes, atomic_write_text
from seoulfall.engine.states import CAUSE_TEXT
from seoulfall.outcome import last_standing, over_the_edge, saved_by_flight, underground
from seoulfall.report.animation import write_animation
from seoulfall.report.curves import plot_curves, plot_district_curves
from seoulfall.report.maps import (
    plot_day_night_map,
    plot_fall_map,
    plot_residents_map,
    plot_snapshot_maps,
)
from seoulfall.report.style import CREDITS, _png, _subplots, korean_font_face
from seoulfall.world import load_world


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
        if len(world.district_codes) > 1:  # a city's map (Seoul, Hyosan, a world file)
            fig = plot_residents_map(results, world)
            atomic_write_bytes(folder / "residents.png", _png(fig, dpi=80))
            fig = plot_day_night_map(results, world)  # runs with daily journeys
            if fig is not None:
                atomic_write_bytes(folder / "daynight.png", _png(fig, dpi=80))
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


def _change(r: dict) -> str:
    """One change of a character's state in words: day, state, why, where."""
    why = CAUSE_TEXT.get(r.get("cause") or "", "")
    where = r.get("district_name") or ""
    detail = ", ".join(x for x in (why, where) if x)
    state = r["state"] + (f" ({r['kind']})" if r.get("kind") else "")
    return f"day {_day(r['day'])}: {state}" + (f" ({detail})" if detail else "")


def _cast_table(fates: dict, records: list[dict]) -> str:
    """Each character's fate, why, and every change of state on the way (``cast.jsonl``)."""
    rows = []
    for n, f in fates.items():
        changes = [r for r in records if r["name"] == n and r["t_min"] > 0]
        rows.append(
            [
                n,
                f["state"] + (f" ({f['kind']})" if f.get("kind") else ""),
                "yes" if f["survived"] else "no",
                _day(f["day"]) if f["t_min"] > 0 else "start",
                f.get("district_name") or "",
                CAUSE_TEXT.get(f.get("cause") or "", ""),
                "; ".join(_change(r) for r in changes) or "no change",
            ]
        )
    head = ["character", "final state", "survived", "since day", "where", "why", "story"]
    return _table(head, rows)


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
    fled = saved_by_flight(s)
    if fled:
        fall = f"not the city: every district fell, and its {fled:,} who fled count as saved"
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
    edge = s.get("edge")
    if edge is not None:
        cards.append(("Left by land: fled / infected", f"{edge['fled']:,} / {edge['escaped']:,}"))
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
        ("fall_map.png", "When each district fell, where it began, where the playbook acted"),
        ("residents.png", "Where people live"),
        ("daynight.png", "By day and by night"),
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
    if edge is not None:
        by = sorted(edge["through"].items(), key=lambda kv: -kv[1]["escaped"] - kv[1]["fled"])
        rows = [[c, v["name"], korean.get(c, ""), f"{v['fled']:,}", f"{v['escaped']:,}"]
                for c, v in by]  # fmt: skip
        words = over_the_edge(s)
        parts.append(
            "<h2>Over the city's edge</h2><p>" + html.escape(words[:1].upper() + words[1:])
            + ". Humans who flee zombies across Seoul's land boundary leave it (fled); "
            "infected, zombies and evolved zombies who cross it are the outbreak reaching the "
            "land beyond (escaped).</p>"
            + _table(["code", "left through", "구", "fled", "infected, escaped"], rows)
        )  # fmt: skip
    if s.get("subway"):
        lines = s["subway"]["lines"]
        rows = [[name, "open" if v["open"] else "closed", f"{v['infected_aboard']:,}",
                 _day(v["first_zombie_day"]), v["first_zombie_from"] or ""]
                for name, v in lines.items()]  # fmt: skip
        words = underground(s)
        parts.append(
            "<h2>The subway</h2><p>" + html.escape(words[:1].upper() + words[1:])
            + ". A train car is a place: bites happen aboard with the same hazards as in "
            "the street; a rider infected aboard carries the outbreak to where it gets off.</p>"
            + _table(["line", "at the end", "infected aboard", "first zombie aboard (day)",
                      "boarded from"], rows)
        )  # fmt: skip
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
        parts.append("<h2>The cast</h2>" + _cast_table(s["cast"], results.cast))
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
