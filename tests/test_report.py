"""Snapshots, plots, the animation and report.html, checked as files and in a real browser."""

import shutil
import subprocess
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image
from test_cli import run_cli

from seoulfall import Results, runfolder, simulate
from seoulfall.report import korean_font, plot_fall_map
from seoulfall.snapshots import STATES, Snapshots
from seoulfall.world import load_world

PNGS = ("epidemic.png", "epidemic_log.png", "fall_map.png", "residents.png", "snapshots.png",
        "districts.png")  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small default-scenario run (scale 0.002, 1.5 days, snapshots hourly), saved."""
    res = simulate(
        "seoul-falls",
        seed=0,
        scale=0.002,
        days=1.5,
        overrides={"output.snapshot_every_min": 60, "outbreak.zombies": 40},
    )
    folder = tmp_path_factory.mktemp("run")
    res.save(folder)
    return folder


def test_snapshots_hold_every_agent_at_regular_times(run_dir):
    res = Results.load(run_dir)
    sn = res.snapshots
    assert np.array_equal(sn.t_min, np.arange(0, 1.5 * 1440 + 1, 60))
    assert sn.counts.dtype == np.uint16 and sn.counts.shape[1] == len(STATES)
    ts = res.timeseries.set_index("t_min").loc[sn.t_min]
    on_map = ts[list(STATES)].sum(axis=1).to_numpy()  # not the reserve, not the evacuated
    assert (sn.counts.sum(axis=(1, 2)) == on_map).all()  # nobody lost
    # the last snapshot agrees with the last row of the time series, state by state
    last = res.timeseries.iloc[-1]
    assert [int(sn.counts[-1, k].sum()) for k in range(len(STATES))] == [
        int(last[s]) for s in STATES
    ]
    world = load_world(res.scenario)
    assert world.passable.ravel()[sn.cells].all()
    assert sn.grid(0, "human").sum() == res.timeseries["human"].iloc[0]


def test_a_run_folder_holds_the_plots_and_the_animation(run_dir):
    for name in PNGS:
        with Image.open(run_dir / name) as im:
            assert im.size[0] > 300 and im.size[1] > 200, name
    with Image.open(run_dir / "outbreak.webp") as im:
        assert im.n_frames == 37  # one frame per snapshot: hourly over 1.5 days
    mp4 = (run_dir / "outbreak.mp4").read_bytes()
    assert mp4[4:8] == b"ftyp" and len(mp4) > 10_000
    html = (run_dir / "report.html").read_text()
    assert (run_dir / "report.html").stat().st_size < 10_000_000
    for needle in ("Gangnam-gu", "강남구", "Nam-ra", "KOSTAT", "<h2>Events</h2>"):
        assert needle in html, needle
    for event in Results.load(run_dir).events:
        assert f"<td>{event['type']}</td>" in html
    assert "http://" not in html and "https://" not in html  # nothing to fetch


def test_korean_district_names_render_without_missing_glyphs(run_dir):
    assert korean_font() is not None
    res = Results.load(run_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = plot_fall_map(res, load_world(res.scenario))
        fig.canvas.draw()
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
    assert not missing, missing[:2]


def test_report_command_rebuilds_the_outputs_from_the_folder(run_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    for name in (*PNGS, "outbreak.mp4", "outbreak.webp", "report.html"):
        (copy / name).unlink()
    code, out, err = run_cli(["report", str(copy)], capsys)
    assert code == 0, err
    for name in (*PNGS, "outbreak.mp4", "outbreak.webp", "report.html"):
        assert (copy / name).stat().st_size > 0, name
    assert "report.html" in out and "mp4" in out
    # the rebuilt report shows the same headline numbers
    assert (copy / "report.html").read_text().count("Peak zombies") == 1


@pytest.mark.parametrize("damage", ["missing", "snapshots"])
def test_report_command_refuses_a_bad_folder_in_one_line(run_dir, tmp_path, capsys, damage):
    folder = tmp_path / "bad"
    if damage == "missing":
        folder.mkdir()
        needle = "not a run folder"
    else:
        shutil.copytree(run_dir, folder)
        (folder / "snapshots.npz").write_bytes(b"not a zip file")
        needle = "cannot read the run"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, out, err = run_cli(["report", str(folder)], capsys)
    assert code == 2 and needle in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing lost


def test_snapshots_file_round_trips(run_dir):
    a = Results.load(run_dir).snapshots
    path = run_dir / "copy.npz"
    path.write_bytes(a.to_bytes())
    b = Snapshots.load(path)
    path.unlink()
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.t_min, b.t_min)
    assert np.array_equal(a.cells, b.cells) and a.shape == b.shape


# -- in a real browser --------------------------------------------------------------------------
def chromium_path():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is needed for the browser tests (.ci/run installs it)"
    return path


def test_report_renders_offline_in_chromium_with_the_animation_playing(run_dir, tmp_path):
    from playwright.sync_api import sync_playwright

    requests = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.route("http*://**/*", lambda route: route.abort())  # offline, whatever it asks
        page.goto((run_dir / "report.html").as_uri(), wait_until="load")
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth, e.naturalHeight])"
        )
        hangul = page.evaluate(
            "async () => { await document.fonts.ready;"
            " return document.fonts.check('12px seoulfall-ko', '강남구 종로구'); }"
        )
        anim = page.locator("#animation")
        anim.scroll_into_view_if_needed()
        first = anim.screenshot()
        page.wait_for_timeout(1500)
        later = anim.screenshot()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert len(images) == 8  # the animation and seven plots (the default city moves)
    for alt, complete, w, h in images:
        assert complete and w > 300 and h > 200, alt
    assert first != later  # the animation plays
    assert hangul  # the embedded Korean subset loaded: names, not boxes, without a system font
    with Image.open(tmp_path / "report.png") as shot:
        assert shot.size[1] > 3000  # the whole page laid out, not an error page


def test_seoulfall_never_changes_the_users_matplotlib_backend(tmp_path):
    code = (
        "import matplotlib; matplotlib.use('svg'); "
        "import seoulfall, seoulfall.report; from seoulfall import simulate; "
        "r = simulate('lattice', days=0.02); ax = r.plot(); r.save(r'" + str(tmp_path) + "'); "
        "import matplotlib.pyplot as plt; "
        "print(matplotlib.get_backend(), type(ax).__name__, len(plt.get_fignums()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # the user's backend stays; the plot is one figure of the user's, saving adds none
    assert out.stdout.split() == ["svg", "Axes", "1"]


def test_the_report_counts_living_soldiers_beside_the_humans(tmp_path):
    from seoulfall.report import write_report

    # 50,000 soldiers deployed at day 1.5 (the default's 10,000 fall within the hour in the
    # moving city), some still standing at 1.6
    res = simulate("seoul-falls", scale=0.002, days=1.6, seed=0,
                   overrides={"events.1.count": 50000})  # fmt: skip
    soldiers = res.summary["final"]["soldier"]
    assert soldiers > 0
    page = write_report(res, tmp_path).read_text(encoding="utf-8")
    humans = res.summary["final"]["human"]
    assert f"{humans:,} of {res.summary['agents']:,}, and {soldiers:,} soldiers" in page


def test_the_fall_map_draws_the_river_whole_and_the_story_where_it_happened(tmp_path):
    res = simulate("seoul-falls", seed=0, scale=0.001, days=2.8)
    world = load_world(res.scenario)
    fig = plot_fall_map(res, world)
    ax = fig.axes[0]
    # the river: no district's fall colour over any water cell (it once hid the Han between
    # Yongsan-gu and Dongjak-gu / Seocho-gu)
    grid = next(im.get_array() for im in ax.images if im.get_array().ndim == 2)
    assert np.ma.getdata(grid)[world.water].size > 1000
    assert np.isnan(np.ma.getdata(grid)[world.water]).all()
    marks = {line.get_gid(): line for line in ax.lines}
    # the outbreak's star stands among the first zombies, in Gangnam-gu
    star = marks["outbreak"]
    r, c = int(round(star.get_ydata()[0])), int(round(star.get_xdata()[0]))
    assert world.district_codes[world.district[r, c]] == "11680"
    # every event that acted somewhere is marked at the cell its record names (the bridges
    # are an area, the alert acts everywhere)
    placed = [(k, e) for k, e in enumerate(res.events) if "cell" in e or "target" in e]
    assert {e["type"] for e in res.events} - {e["type"] for _, e in placed} == {
        "close_bridges",
        "public_alert",
    }
    assert {e["type"] for _, e in placed} == {
        "deploy_soldiers",
        "evacuate",
        "sound_lure",
        "airstrike",
    }
    for k, e in placed:
        cell = e["target"] if e["type"] == "evacuate" else e["cell"]
        line = marks[f"event:{k}"]
        assert (line.get_ydata()[0], line.get_xdata()[0]) == tuple(cell), e["type"]
    # the closed bridges are painted red over the map
    overlay = next(im.get_array() for im in ax.images if im.get_array().shape[-1:] == (4,)
                   and im.get_zorder() == 4)  # fmt: skip
    closed = world.bridge >= 0
    assert (overlay[closed][:, 0] > 0.8).all() and overlay[~closed & ~world.water][:, 3].max() == 0


def test_the_snapshot_maps_show_the_moments_of_the_story(run_dir):
    from seoulfall.report import plot_snapshot_maps, story_times

    res = Results.load(run_dir)  # 1.5 days: the bridges close, the army and evacuation fire
    story = story_times(res)
    captions = [c for _, c in story]
    t = res.snapshots.t_min
    assert story[0] == (0, "the outbreak begins") and story[-1][0] == len(t) - 1
    peak = res.summary["peak_zombies"]
    assert any(f"peak: {peak['count']:,} zombies" in c for c in captions)
    for e in res.events:  # each event on the first snapshot at or after it
        i = next(i for i, c in story if e["name"] in c)
        assert t[i] >= e["t_min"] - 1e-6 and (i == 0 or t[i - 1] < e["t_min"])
    assert len(story) == 6 and [i for i, _ in story] == sorted({i for i, _ in story})
    fig = plot_snapshot_maps(res, load_world(res.scenario))
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[0] == "day 0.00: the outbreak begins" and len(titles) == 6
    # with no event and no fall the gaps are filled evenly
    quiet = simulate("seoul-falls-no-response", scale=0.001, days=0.5)
    idx = [i for i, _ in story_times(quiet)]
    assert len(idx) == 6 and idx[0] == 0 and idx[-1] == len(quiet.snapshots.t_min) - 1


def test_the_animation_marks_the_events_where_and_when_they_happen(run_dir):
    from seoulfall.report import MARK_RGB, UPSCALE, animation_frames, story_marks

    res = Results.load(run_dir)
    world = load_world(res.scenario)
    areas, points = story_marks(res, world)
    closed = next(e for e in res.events if e["type"] == "close_bridges")
    t = np.asarray(res.snapshots.t_min)
    after = int(np.searchsorted(t, closed["t_min"]))
    frames = [np.asarray(f) for f in animation_frames(res, world)]
    up = max(UPSCALE, -(-640 // world.shape[1]))
    rr, cc = np.nonzero(world.bridge >= 0)
    px = frames[0][rr * up + up // 2 + 56, cc * up + up // 2]  # bridge pixels, first frame
    assert not (px == MARK_RGB["close_bridges"]).all(axis=1).any()  # still open
    px = frames[after][rr * up + up // 2 + 56, cc * up + up // 2]
    assert (px == MARK_RGB["close_bridges"]).all(axis=1).all()  # red from the frame it closed
    # the outbreak's ring: drawn on the first frame, around the first zombies, gone a day later
    t0, kind, r, c, caption = points[0]
    assert (t0, kind, caption) == (0.0, "outbreak", "the outbreak begins")
    rgb = MARK_RGB[kind]
    y, x, rad = int((r + 0.5) * up) + 56, int((c + 0.5) * up), max(6, 4 * up)

    def ring_pixels(frame):
        box = frame[y - rad - 1 : y + rad + 2, x - rad - 1 : x + rad + 2]
        return int((box == rgb).all(axis=-1).sum())

    late = int(np.searchsorted(t, 1440.0))
    assert ring_pixels(frames[0]) > 20 and ring_pixels(frames[late]) < ring_pixels(frames[0]) / 4


def test_the_cast_table_says_why_each_character_changed(tmp_path):
    import html
    import re

    from seoulfall import Scenario
    from seoulfall.report import write_report

    # two hungry immune hybrids among ten named humans in one cell: bites that kill
    cast = [{"name": f"p{i}", "cell": [0, 0]} for i in range(10)] + [
        {"name": f"h{i}", "state": "hybrid", "kind": "immune", "cell": [0, 0]} for i in range(2)
    ]
    sc = Scenario.from_dict(
        {
            "world": {"map": "well-mixed"},
            "population": {"agents": 12},
            "outbreak": {"zombies": 0},
            "time": {"days": 0.25, "dt_min": 1.0},
            "hybrid": {"hunger_hours": 0.0, "lapse_rate": 0.05, "self_control": 0.0},
            "human": {"retaliation": 0.0, "kill_rate": 0.0},
            "cast": cast,
        }
    )
    res = simulate(sc, seed=1)
    page = write_report(res, tmp_path).read_text(encoding="utf-8")
    table = page[page.index("<h2>The cast</h2>") :]
    rows = {
        m[0]: [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", m[1])]
        for m in re.findall(r"<tr><td>(\w+)</td>(.*?)</tr>", table)
    }
    assert set(rows) == {c["name"] for c in cast}
    dead = [n for n, f in res.summary["cast"].items() if f["state"] == "dead"]
    assert dead and all(n.startswith("p") for n in dead)
    for n, cells in rows.items():
        state, why, story = cells[0], cells[4], cells[5]
        if n in dead:
            f = res.summary["cast"][n]
            assert (state, why) == ("dead", "killed by an immune hybrid's bite")
            says = f"killed by an immune hybrid's bite, {f['district_name']}"
            assert story == f"day {f['day']:.2f}: dead ({says})"
        else:
            assert why == "" and story == "no change", (n, cells)


def test_the_residents_map_shows_where_each_placement_puts_people(run_dir):
    from seoulfall import Scenario
    from seoulfall.report import plot_residents_map

    res = Results.load(run_dir)
    for placement, words in (("dong", "by dong, none on the mountains"),
                             ("district", "evenly over each district's land")):  # fmt: skip
        res.scenario = Scenario.from_dict(res.scenario.to_dict(), {"world.residents": placement})
        world = load_world(res.scenario)
        fig = plot_residents_map(res, world)
        ax = fig.axes[0]
        assert f"{world.residents.sum():,} residents live ({words})" in ax.get_title()
        shown = ax.get_images()[1].get_array()  # the residents layer over the base map
        assert np.array_equal(~shown.mask, world.land & (world.residents > 0))
        assert np.array_equal(shown.data[~shown.mask], world.residents[~shown.mask])
        plt.close(fig)


def test_a_moving_city_shows_where_people_are_by_day_and_by_night(tmp_path):
    from seoulfall.report import day_and_night

    res = simulate("seoul-moves", seed=1, scale=0.002, days=1.0,
                   overrides={"outbreak.zombies": 0, "events": []})  # fmt: skip
    t_day, t_night, ratio = day_and_night(res)
    assert (t_day, t_night) == (420.0, 1200.0)  # Monday 14:00 and Tuesday 03:00 (from 07:00)
    world = load_world(res.scenario)
    jung, eunpyeong = (world.district_names.index(n) for n in ("Jung-gu", "Eunpyeong-gu"))
    assert ratio[jung] > 1.8 and ratio[eunpyeong] < 0.95
    res.save(tmp_path / "moves")
    assert (tmp_path / "moves" / "daynight.png").exists()
    assert "By day and by night" in (tmp_path / "moves" / "report.html").read_text()
    # every file of the run folder is one seoulfall knows it writes (a resume refused the
    # folder when daynight.png was not)
    assert {p.name for p in (tmp_path / "moves").iterdir()} <= set(runfolder.OWN)
    # a city that does not move has no such map
    still = simulate("lattice", seed=1, days=0.05)
    assert day_and_night(still) is None
    still.save(tmp_path / "still")
    assert not (tmp_path / "still" / "daynight.png").exists()
