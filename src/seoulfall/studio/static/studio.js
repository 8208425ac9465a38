// seoulfall studio: replays a run folder's map snapshots on a canvas (plain JavaScript).
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const COLOURS = {human: [43, 131, 186], infected: [253, 174, 97], zombie: [215, 25, 28],
  evolved: [123, 50, 148], hybrid: [26, 150, 65], dead: [99, 99, 99]};
const LAND = [233, 233, 228], WATER = [166, 200, 224], BRIDGE = [122, 122, 122],
  OUTSIDE = [255, 255, 255], EDGE = [176, 176, 168];
const $ = (id) => document.getElementById(id);
let run = null;  // {id, meta, district, kind, cells, frames: Map}
let frameNo = 0, timer = null;
let outbreakCell = null;  // [row, col] clicked before a live run starts
let recorder = null;  // the MediaRecorder while "record" is on

async function api(path, binary) {
  const r = await fetch(path, {headers: {"X-Seoulfall-Token": token}});
  if (!r.ok) {
    const body = await r.json().catch(() => null);
    throw new Error(path + ": " + ((body && (body.error || body.detail)) || r.status));
  }
  return binary ? r.arrayBuffer() : r.json();
}

function fail(e) { const p = $("error"); p.textContent = String(e.message || e); p.hidden = false; }

async function loadRun(id) {
  stop();
  const meta = await api(`/api/runs/${id}/meta`);
  setMap(meta, await api(`/api/runs/${id}/map`, true), {id});
  const sweep = meta.kind === "sweep";
  for (const el of ["slider", "replay-controls", "clock", "counts"]) $(el).hidden = sweep;
  $("events-title").textContent = sweep ? "The cast: P(survives)" : "Events";
  $("cast-title").hidden = $("cast").hidden = sweep || !(meta.cast || []).length;
  $("combo-box").hidden = !sweep;
  if (sweep) return showSweep();
  $("title").textContent = `${meta.scenario}, seed ${meta.seed}, ${meta.agents.toLocaleString()} agents` +
    (meta.fall_day == null ? ", Seoul held" : `, fell on day ${meta.fall_day.toFixed(2)}`);
  const slider = $("slider");
  slider.max = meta.t_min.length - 1; slider.value = 0;
  $("legend").innerHTML = meta.states.map((s) =>
    `<li><span style="background:rgb(${COLOURS[s]})"></span>${s}</li>`).join("");
  $("events").innerHTML = meta.events.map((e) =>
    `<li data-day="${e.day}">day ${e.day.toFixed(2)}: ${escapeHtml(e.name || e.type)}</li>`).join("");
  await show(0);
}

function setMap(meta, buf, extra) {
  const [ny, nx] = meta.shape, n = ny * nx;
  run = Object.assign({meta, nx, ny,
    district: new Int16Array(buf, 0, n),
    kind: new Uint8Array(buf, 2 * n, n),
    cells: new Int32Array(buf.slice(3 * n)),
    frames: new Map()}, extra);
  const canvas = $("map");
  canvas.width = nx; canvas.height = ny;
  run.base = baseImage();
  // for draw(): one image drawn into again and again, each counted cell's base colour, and
  // the states' colours as one flat array
  run.img = new ImageData(new Uint8ClampedArray(run.base.data), nx, ny);
  run.cellBase = new Uint8Array(3 * run.cells.length);
  run.cells.forEach((c, p) => run.cellBase.set(run.base.data.subarray(4 * c, 4 * c + 3), 3 * p));
  run.rgb = new Float64Array((meta.states || []).flatMap((s) => COLOURS[s]));
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
}

function baseImage() {
  // land, water, bridges, and the district outlines, under the counts
  const {nx, ny, district, kind} = run;
  const img = new ImageData(nx, ny);
  for (let i = 0; i < nx * ny; i++) {
    let c = [LAND, WATER, BRIDGE, OUTSIDE][kind[i]];
    const d = district[i], x = i % nx;
    if (kind[i] === 0 && ((x + 1 < nx && district[i + 1] !== d && kind[i + 1] === 0) ||
        (i + nx < nx * ny && district[i + nx] !== d && kind[i + nx] === 0))) c = EDGE;
    img.data.set([c[0], c[1], c[2], 255], 4 * i);
  }
  return img;
}

async function frame(k) {
  if (!run.frames.has(k)) {
    const buf = await api(`/api/runs/${run.id}/frame/${k}`, true);
    run.frames.set(k, new Uint16Array(buf));
    if (run.frames.size > 64) run.frames.delete(run.frames.keys().next().value);
  }
  return run.frames.get(k);
}

async function show(k) {
  const counts = await frame(k);
  frameNo = k;
  draw(counts, run.meta.t_min[k]);
  $("slider").value = k;
}

function draw(counts, tMin) {
  // each cell's colour: its living states' colours mixed by count over the base map, more
  // opaque where more stand (log scale); one pass over the cells, typed arrays only
  const {cells, meta, rgb, cellBase: base} = run, P = cells.length, S = meta.states.length;
  const data = run.img.data, img = run.img;
  let peak = 1;
  for (let p = 0; p < P; p++) {
    let l = 0;
    for (let s = 0; s < 5; s++) l += counts[s * P + p];
    if (l > peak) peak = l;
  }
  const inv = 1 / Math.log1p(peak);
  for (let p = 0; p < P; p++) {
    let l = 0, r = 0, g = 0, b = 0;
    for (let s = 0; s < 5; s++) {
      const c = counts[s * P + p];
      if (c) { l += c; r += c * rgb[3 * s]; g += c * rgb[3 * s + 1]; b += c * rgb[3 * s + 2]; }
    }
    const o = 4 * cells[p], q = 3 * p;
    if (l > 0) {
      const a = 0.35 + 0.65 * Math.log1p(l) * inv, k = 1 - a, w = a / l;
      data[o] = base[q] * k + r * w; data[o + 1] = base[q + 1] * k + g * w;
      data[o + 2] = base[q + 2] * k + b * w;
    } else if (S > 5 && counts[5 * P + p] > 0) {
      data[o] = data[o + 1] = data[o + 2] = 190;  // only the dead remain
    } else {
      data[o] = base[q]; data[o + 1] = base[q + 1]; data[o + 2] = base[q + 2];
    }
  }
  const totals = new Array(S).fill(0);
  for (let s = 0; s < S; s++) {
    let t = 0;
    for (let p = s * P, end = p + P; p < end; p++) t += counts[p];
    totals[s] = t;
  }
  $("map").getContext("2d").putImageData(img, 0, 0);
  window.framesDrawn = (window.framesDrawn || 0) + 1;  // for benchmarks/bench_studio.py
  const day = tMin / 1440;
  $("clock").textContent = `day ${day.toFixed(2)}`;
  const shown = run.live == null ? meta.states : meta.states.slice(0, 5);  // live: no dead count
  $("counts").textContent = shown.map((s, i) => `${s} ${totals[i].toLocaleString()}`).join(", ");
  recordFrame(`day ${day.toFixed(2)}  ` + shown.slice(0, 5).map((s, i) => `${s} ${totals[i].toLocaleString()}`).join("  "));
  for (const li of $("events").children) li.classList.toggle("past", +li.dataset.day <= day);
  if (meta.curves) drawCurves(day);
  if (run.live == null) overlay(day);
}

// -- a replay's overlay: closed bridges, the events' places, the cast ----------------------
const EVENT_COLOURS = {airstrike: "#000000", sound_lure: "#e66101", deploy_soldiers: "#08306b",
  evacuate: "#018571", quarantine: "#7b3294"};

function stateAt(ch, day) {
  // a character's state and district at `day`: its last change by then
  let now = ch.changes[0];
  for (const c of ch.changes) if (c.day <= day) now = c;
  return now || {state: "human", district: ""};
}

function overlay(day) {
  const {meta, nx} = run, g = $("map").getContext("2d");
  const xy = (c) => [c % nx, Math.floor(c / nx)];
  g.fillStyle = "#7f0000";  // bridges closed by then
  for (const e of meta.events || []) {
    if (e.type !== "close_bridges" || e.day > day) continue;
    for (const b of e.bridges || []) for (const c of meta.bridges[b] || []) g.fillRect(...xy(c), 1, 1);
  }
  g.lineWidth = 1.2;  // a ring where an event struck, once it has
  for (const e of meta.events || []) {
    if (!e.cell || e.day > day) continue;
    g.strokeStyle = EVENT_COLOURS[e.type] || "#000";
    g.beginPath(); g.arc(e.cell[1] + 0.5, e.cell[0] + 0.5, 4, 0, 2 * Math.PI); g.stroke();
  }
  const rows = [];  // the cast: a dot in its state's colour, outlined in white
  for (const ch of meta.cast || []) {
    const now = stateAt(ch, day), c = ch.track[frameNo];
    rows.push(`<li><span style="background:rgb(${COLOURS[now.state] || [0, 0, 0]})"></span>` +
      `${escapeHtml(ch.name)}: ${now.state}` + (now.district ? ` (${escapeHtml(now.district)})` : "") +
      (now.cause && now.state !== "human" ? `, ${escapeHtml(now.cause.replaceAll("_", " "))}` : "") + "</li>");
    if (c == null || c < 0) continue;
    const [x, y] = xy(c);
    g.fillStyle = "#fff"; g.fillRect(x - 1.5, y - 1.5, 4, 4);
    g.fillStyle = `rgb(${COLOURS[now.state] || [0, 0, 0]})`; g.fillRect(x - 0.5, y - 0.5, 2, 2);
  }
  $("cast").innerHTML = rows.join("");
}

function castNear(x, y) {
  // the characters within two cells of (x, y) at the frame shown
  if (!run.meta.cast || run.live != null) return [];
  return run.meta.cast.filter((ch) => {
    const c = ch.track[frameNo];
    return c >= 0 && Math.abs(c % run.nx - x) <= 2 && Math.abs(Math.floor(c / run.nx) - y) <= 2;
  });
}

// -- sweep folders: the odds ----------------------------------------------------------------
function showSweep() {
  const {meta} = run;
  $("title").textContent = `sweep: ${meta.scenario}, ${meta.runs.toLocaleString()} runs`;
  $("combo").innerHTML = meta.combinations.map((c, i) =>
    `<option value="${i}">${escapeHtml(c.label)} (P(falls) ${c.p_fall.toFixed(2)})</option>`).join("");
  $("combo").onchange = () => drawOdds(+$("combo").value);
  $("legend").innerHTML = "<li>each district coloured by its P(falls): cream 0, red 1</li>";
  drawOdds(0);
}

function drawOdds(i) {
  const {meta, nx, ny, district} = run, combo = meta.combinations[i];
  const img = new ImageData(new Uint8ClampedArray(run.base.data), nx, ny);
  const p = meta.districts.map((d) => combo.district_p_fall[d.code] ?? 0);
  for (let c = 0; c < nx * ny; c++) {
    const d = district[c], o = 4 * c;
    if (d < 0 || run.kind[c] !== 0 || img.data[o] === EDGE[0]) continue;  // keep the outlines
    const a = p[d];  // cream (never falls) to red (always falls)
    img.data[o] = 247 + a * (215 - 247); img.data[o + 1] = 244 + a * (25 - 244);
    img.data[o + 2] = 235 + a * (28 - 235);
  }
  $("map").getContext("2d").putImageData(img, 0, 0);
  window.framesDrawn = (window.framesDrawn || 0) + 1;
  recordFrame(`P(falls): ${combo.label}`);
  $("events").innerHTML = Object.entries(combo.cast).map(([n, q]) =>
    `<li>${escapeHtml(n)}: P(survives) ${q.toFixed(2)}</li>`).join("");
  // P(Seoul has fallen by day d), one line per combination, the chosen one thick
  const cv = $("curves"), g = cv.getContext("2d");
  g.clearRect(0, 0, cv.width, cv.height);
  meta.combinations.forEach((c, j) => {
    const pts = Object.entries(c.p_fall_by_day).map(([d, v]) => [+d, v]);
    const last = Math.max(1, ...pts.map((q) => q[0]));
    const X = (d) => 30 + (cv.width - 40) * d / last, Y = (v) => cv.height - 20 - (cv.height - 30) * v;
    g.strokeStyle = j === i ? "#d7191c" : "#999"; g.lineWidth = j === i ? 2 : 1; g.beginPath();
    pts.forEach(([d, v], k) => (k ? g.lineTo(X(d), Y(v)) : g.moveTo(X(d), Y(v))));
    g.stroke();
  });
  g.lineWidth = 1; g.fillStyle = "#333"; g.font = "11px sans-serif";
  const lastDay = Math.max(1, ...meta.combinations.flatMap((c) => Object.keys(c.p_fall_by_day).map(Number)));
  g.fillText("P(Seoul has fallen) by day", 34, 12); g.fillText("1", 20, 14); g.fillText("0", 20, cv.height - 20);
  g.fillText("day 0", 30, cv.height - 4); g.fillText(`day ${lastDay}`, cv.width - 45, cv.height - 4);
}

function drawCurves(day) {
  const c = $("curves"), g = c.getContext("2d"), {curves} = run.meta;
  g.clearRect(0, 0, c.width, c.height);
  const days = curves.day, last = days[days.length - 1] || 1;
  const top = Math.max(1, ...curves.human, ...curves.zombie, ...curves.dead);
  const X = (d) => 30 + (c.width - 40) * d / last, Y = (v) => c.height - 20 - (c.height - 30) * v / top;
  for (const s of ["human", "zombie", "evolved", "dead"]) {
    g.strokeStyle = `rgb(${COLOURS[s]})`; g.beginPath();
    curves[s].forEach((v, i) => (i ? g.lineTo(X(days[i]), Y(v)) : g.moveTo(X(days[i]), Y(v))));
    g.stroke();
  }
  for (const e of run.meta.events || []) {  // the events on the time axis: a tick each
    g.strokeStyle = EVENT_COLOURS[e.type] || "#7f0000"; g.beginPath();
    g.moveTo(X(e.day), c.height - 20); g.lineTo(X(e.day), c.height - 28); g.stroke();
  }
  g.strokeStyle = "#000"; g.beginPath(); g.moveTo(X(day), 5); g.lineTo(X(day), c.height - 20); g.stroke();
  g.fillStyle = "#333"; g.font = "11px sans-serif";
  g.fillText("0", 24, c.height - 6); g.fillText(`day ${last.toFixed(1)}`, c.width - 60, c.height - 6);
  g.fillText(top.toLocaleString(), 2, 12);
}

function stop() { if (timer) { clearInterval(timer); timer = null; } $("play").textContent = "play"; }

function play() {
  if (timer) { stop(); return; }
  if (!run || run.live != null) return;  // a live run plays itself
  $("play").textContent = "pause";
  let busy = false;
  timer = setInterval(async () => {
    if (busy) return;  // a slow frame is never queued behind another
    busy = true;
    try {
      if (frameNo >= run.meta.t_min.length - 1) { stop(); return; }
      await show(frameNo + 1);
    } catch (e) { stop(); fail(e); } finally { busy = false; }
  }, 1000 / +$("speed").value);
}

function tooltip(ev) {
  if (!run) return;
  const r = $("map").getBoundingClientRect(), [y, x] = mapCell(ev);
  const tip = $("tip");
  const d = (x >= 0 && y >= 0 && x < run.nx && y < run.ny) ? run.district[y * run.nx + x] : -1;
  if (d < 0) { tip.hidden = true; return; }
  const info = run.meta.districts[d];
  let fell = info.fall_day == null ? "never fell" : `fell on day ${info.fall_day.toFixed(2)}`;
  if (run.meta.kind === "sweep") {
    const q = run.meta.combinations[+$("combo").value].district_p_fall[info.code] ?? 0;
    fell = `P(falls) ${q.toFixed(2)}`;
  } else if (run.live != null || run.preview != null) fell = "";
  const here = castNear(x, y).map((ch) => `${ch.name} (${stateAt(ch, run.meta.t_min[frameNo] / 1440).state})`);
  tip.textContent = `${info.name} ${info.name_ko}` + (fell ? `: ${fell}` : "") +
    (here.length ? ` · ${here.join(", ")}` : "");
  tip.style.left = (ev.clientX - r.left + 12) + "px";
  tip.style.top = (ev.clientY - r.top + 12) + "px";
  tip.hidden = false;
}

// -- live runs ----------------------------------------------------------------------------
async function post(path, body) {
  const r = await fetch(path, {method: "POST", body: JSON.stringify(body),
    headers: {"X-Seoulfall-Token": token, "Content-Type": "application/json"}});
  const out = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(out.error || out.detail || r.status);
  return out;
}

function liveButtons(on) {
  $("live-start").disabled = on;
  $("live-pause").textContent = "pause";
  for (const b of ["live-pause", "live-step", "live-stop", "live-alert", "live-subway"]) $(b).disabled = !on;
}

async function liveStart() {
  stop();
  $("error").hidden = true;
  const num = (id) => ($(id).value === "" ? null : +$(id).value);
  const body = {seed: num("live-seed") ?? 0, scale: num("live-scale"), days: num("live-days"),
    backend: $("live-backend").value, soldiers: num("live-soldiers") ?? 0};
  const file = $("live-file").files[0];
  if (file) body.toml = await file.text(); else body.scenario = $("live-scenario").value;
  if (outbreakCell && !file && run && run.preview === body.scenario) body.outbreak_cell = outbreakCell;
  const {id} = await post("/api/live", body);
  outbreakCell = null;
  if ($("live-click").value === "outbreak") $("live-click").value = "";  // placed: now it steers
  await liveWatch(id, false);
}

async function liveWatch(id, watchOnly) {
  // frames of live run `id` until it ends (watchOnly: a `seoulfall run --serve` run)
  liveButtons(true);
  $("live-stop").hidden = watchOnly;
  $("live-click").closest("label").hidden = $("rates").hidden = watchOnly;
  $("live-alert").parentElement.hidden = watchOnly;
  for (const input of document.querySelectorAll("#rates input")) { input.value = 1; input.oninput(); }
  $("live-status").textContent = "setting up (the first run compiles the engine)...";
  const meta = await api(`/api/live/${id}/meta`);
  setMap(meta, await api(`/api/live/${id}/map`, true), {live: id});
  $("live-save").href = `/api/live/${id}/scenario?token=${encodeURIComponent(token)}`;
  $("live-save").hidden = watchOnly;
  $("title").textContent = `live: ${meta.scenario}, seed ${meta.seed}, ${meta.agents.toLocaleString()} agents`;
  $("slider").max = 0; $("events").innerHTML = "";
  $("cast-title").hidden = $("cast").hidden = true;  // the cast is drawn in the replay
  for (const el of ["slider", "replay-controls"]) $(el).hidden = true;  // a live run plays itself
  for (const el of ["clock", "counts"]) $(el).hidden = false;
  $("combo-box").hidden = true;
  $("curves").getContext("2d").clearRect(0, 0, 360, 180);
  let seq = 0, shownAt = 0;
  for (;;) {  // the newest frame each time: a slow page skips frames, never queues them
    const r = await fetch(`/api/live/${id}/frame?after=${seq}&wait=2`, {headers: {"X-Seoulfall-Token": token}});
    if (r.status === 200 && run.live === id) {
      seq = +r.headers.get("X-Frame");
      draw(new Uint16Array(await r.arrayBuffer()), +r.headers.get("X-T-Min"));
    }
    if (r.status === 200 && performance.now() - shownAt < 500) continue;  // status twice a second
    shownAt = performance.now();
    const st = await api(`/api/live/${id}`);
    $("live-status").textContent = `${st.state}: step ${st.step.toLocaleString()} of ${st.nsteps.toLocaleString()}` +
      (st.error ? ` (${st.error})` : "");
    if (["running", "paused"].includes(st.state)) $("live-pause").textContent = st.state === "paused" ? "play" : "pause";
    if (["done", "stopped", "failed"].includes(st.state)) {
      liveButtons(false);
      $("rates").hidden = true;
      if (st.state === "done") await listRuns(st.run);
      return;
    }
  }
}

function mapCell(ev) {
  const c = $("map"), r = c.getBoundingClientRect();
  return [Math.floor((ev.clientY - r.top) * run.ny / r.height),
    Math.floor((ev.clientX - r.left) * run.nx / r.width)];
}

async function liveClick(ev) {
  const what = $("live-click").value;
  if (what === "outbreak") return placeOutbreak(ev);
  if (!what || !run || run.live == null) return;
  const [y, x] = mapCell(ev);
  const d = run.district[y * run.nx + x];
  let body;
  if (what === "bridge") body = {bridge_at: [y, x]};
  else if (what === "station") body = {station_at: [y, x]};
  else if (what === "quarantine") {
    if (d < 0) return;
    body = {event: {type: "quarantine", districts: [run.meta.districts[d].name]}};
  } else if (what === "airstrike") body = {event: {type: "airstrike", cell: [y, x], radius_m: 1500}};
  else if (what === "soldiers") body = {event: {type: "deploy_soldiers", cell: [y, x]}};
  else body = {event: {type: "sound_lure", cell: [y, x], duration_min: 180}};
  await act(body);
}

async function act(body) {
  // an action of the page: queued on the server, shown in the event log
  const {queued} = await post(`/api/live/${run.live}/act`, body);
  const li = document.createElement("li");
  li.textContent = `${queued.name}: ${queued.type}` + (queued.districts ? ` ${queued.districts[0]}` : "") +
    (queued.bridges ? ` ${queued.bridges[0]}` : "") + (queued.stations ? ` ${queued.stations[0]}` : "") + (queued.cell ? ` at [${queued.cell}]` : "") +
    (queued.rate ? ` ${queued.rate} × ${queued.factor}` : "");
  $("events").appendChild(li);
}

// -- before a live run: the bundled scenario's map, and a click to place the outbreak --------
async function preview() {
  if ($("live-click").value !== "outbreak" || $("live-start").disabled) return;  // not during a run
  const name = $("live-scenario").value;
  if (run && run.preview === name) return;
  stop();
  const meta = await api(`/api/world/${encodeURIComponent(name)}/meta`);
  setMap(meta, await api(`/api/world/${encodeURIComponent(name)}/map`, true), {preview: name});
  outbreakCell = null;
  $("title").textContent = `${name}: click on the map where the outbreak starts`;
  for (const el of ["slider", "replay-controls", "counts", "combo-box", "cast", "cast-title"]) $(el).hidden = true;
  $("map").getContext("2d").putImageData(run.base, 0, 0);
}

function placeOutbreak(ev) {
  if (!run || run.preview == null) return;
  const [y, x] = mapCell(ev), i = y * run.nx + x, d = run.district[i];
  if (d < 0 || run.kind[i] !== 0) { fail(new Error(`[${y}, ${x}]: not land; the outbreak starts on land`)); return; }
  $("error").hidden = true;
  outbreakCell = [y, x];
  const g = $("map").getContext("2d");
  g.putImageData(run.base, 0, 0);
  g.strokeStyle = "#d7191c"; g.lineWidth = 2; g.beginPath();
  g.arc(x + 0.5, y + 0.5, Math.max(3, run.nx / 60), 0, 2 * Math.PI); g.stroke();
  g.fillStyle = "#d7191c"; g.fillRect(x - 1, y - 1, 3, 3);
  $("live-status").textContent = `the outbreak starts at [${y}, ${x}] in ${run.meta.districts[d].name}`;
}

// -- rates: a slider is a set_rate event at the next step boundary ----------------------------
function rateSliders(keys) {
  const box = $("rates");
  for (const key of keys) {
    const label = document.createElement("label");
    label.innerHTML = `<span>${escapeHtml(key)}</span><input type="range" min="0" max="3" step="0.1" value="1" data-rate="${escapeHtml(key)}"><output>× 1.0</output>`;
    const input = label.querySelector("input");
    input.oninput = () => { label.querySelector("output").textContent = `× ${(+input.value).toFixed(1)}`; };
    input.onchange = () => act({event: {type: "set_rate", rate: key, factor: +input.value}}).catch(fail);
    box.appendChild(label);
  }
}

// -- record: the map's animation as a WebM video --------------------------------------------
function recordFrame(text) {
  if (!recorder) return;
  const rec = recorder.canvas, g = rec.getContext("2d"), map = $("map");
  if (rec.width !== 2 * map.width) { rec.width = 2 * map.width; rec.height = 2 * map.height + 28; }
  g.fillStyle = "#fff"; g.fillRect(0, 0, rec.width, rec.height);
  g.imageSmoothingEnabled = false;
  g.drawImage(map, 0, 28, rec.width, rec.height - 28);
  g.fillStyle = "#1d1d1f"; g.font = "16px sans-serif"; g.fillText(text, 8, 20);
  window.framesRecorded = (window.framesRecorded || 0) + 1;
}

function record() {
  const b = $("record");
  if (recorder) { recorder.stop(); return; }
  if (!run || typeof MediaRecorder === "undefined") { fail(new Error("this browser cannot record video")); return; }
  const canvas = document.createElement("canvas"), chunks = [];
  const media = new MediaRecorder(canvas.captureStream(30), {mimeType: "video/webm"});
  recorder = media; recorder.canvas = canvas;
  const name = (run.meta.name || run.meta.scenario || "seoulfall").replace(/[^\w.-]+/g, "-");
  media.ondataavailable = (e) => {
    if (e.data.size) chunks.push(e.data);
    window.recordedBytes = (window.recordedBytes || 0) + e.data.size;
  };
  media.onstop = () => {
    recorder = null; b.textContent = "record"; b.classList.remove("on");
    // stopped before the encoder gave any frame: say so rather than save an empty file
    if (!chunks.length) { fail(new Error("nothing was recorded yet: record a little longer")); return; }
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob(chunks, {type: "video/webm"}));
    a.download = `${name}.webm`; document.body.appendChild(a); a.click(); a.remove();
  };
  recordFrame($("clock").textContent + "  " + $("counts").textContent);
  media.start(250);
  b.textContent = "stop recording"; b.classList.add("on");
}

async function liveControl(action) {
  if (run && run.live != null) await post(`/api/live/${run.live}/control`, {action});
}

async function listRuns(select) {
  const runs = await api("/api/runs");
  $("run").innerHTML = runs.map((r) => `<option value="${r.id}">${escapeHtml(r.name)}</option>`).join("");
  if (select != null) { $("run").value = select; await loadRun(select); }
  return runs;
}

async function main() {
  const runs = await listRuns();
  const sc = await api("/api/scenarios");
  $("live-scenario").innerHTML = sc.bundled.map((n) => `<option>${escapeHtml(n)}</option>`).join("");
  $("livebox").hidden = !sc.live && sc.watch == null;
  $("live-form").hidden = $("live-start").hidden = !sc.live;
  rateSliders(sc.rates);
  $("live-backend").value = sc.backend;
  $("live-click").onchange = () => preview().catch(fail);
  $("live-scenario").onchange = () => preview().catch(fail);
  $("record").onclick = record;
  $("live-start").onclick = () => liveStart().catch((e) => { liveButtons(false); fail(e); });
  $("live-pause").onclick = () => {
    const b = $("live-pause"), a = b.textContent;  // "pause" or "play"
    liveControl(a).then(() => { b.textContent = a === "pause" ? "play" : "pause"; }).catch(fail);
  };
  $("live-step").onclick = () => liveControl("step").then(() => { $("live-pause").textContent = "play"; }).catch(fail);
  $("live-stop").onclick = () => liveControl("stop").catch(fail);
  $("live-alert").onclick = () => act({event: {type: "public_alert"}}).catch(fail);
  $("live-subway").onclick = () => act({event: {type: "close_subway"}}).catch(fail);
  $("run").onchange = () => loadRun(+$("run").value).catch(fail);
  $("slider").oninput = () => { if (run.live == null) { stop(); show(+$("slider").value).catch(fail); } };
  $("play").onclick = play;
  $("map").onmousemove = tooltip;
  $("map").onclick = (ev) => liveClick(ev).catch(fail);
  $("map").onmouseleave = () => { $("tip").hidden = true; };
  if (sc.watch != null) await liveWatch(sc.watch, true);  // seoulfall run --serve
  else if (runs.length) await loadRun(runs[0].id);
}

main().catch(fail);
