/**
 * The dashboard page: one self-contained HTML document (no external assets)
 * that follows `/events` and shows one table row per database, problems
 * first, under the one-line fleet summary.
 *
 * Device ids, paths and errors come from the network, so the script only
 * ever writes them with `textContent` and `setAttribute`, never as HTML; the
 * Content-Security-Policy allows this page's own script and style and
 * nothing else.
 *
 * - **Order**: the states of `device-health.ts` ({@linkcode FLEET_STATES},
 *   put into the script as is), then device id, then path — the order of
 *   `fleet-query.ts`, the same as `fleet status`. Only `ok` is green; an
 *   offline or stale device keeps its last data, dimmed.
 * - **Filters** (`state`, `lag-over`, `search`, `version`) are the page's
 *   URL query: the page passes it to `/events`, which filters on the server
 *   (`fleet-query.ts`, as `fleet status` does); changing a filter in the
 *   page rewrites the URL (`history.replaceState`) and reconnects.
 * - **10,000 devices**: only the rows in view (plus a margin) are in the
 *   DOM, in a pool of `<tr>` reused while scrolling; padding rows stand in
 *   for the rest. Updates (server-side coalesced, only changed devices) are
 *   applied at once and rendered at most once per animation frame (or
 *   100 ms when frames do not come).
 * - **Timeline**: clicking a row fetches `api/history?device=…&db=…`
 *   (`server.ts`; the newest 1,000 entries, `history-store.ts`
 *   `HistoryEntry`) and shows them newest first (a list of the latest 500,
 *   and a sparkline of `lag` entries); a 404 shows "no history", another
 *   error (503: the dashboard runs with `--no-history`) its message.
 *
 * Test hooks: `#devices tr[data-device]` per visible row (with `data-db`,
 * `data-state`, `data-online`, `data-index`), `td[data-field="device|db|state|seen|data|lag|pending|txid|upload|agent|disk|error"]`
 * per cell, `#summary` (the fleet summary line), `#shown` ("N of M rows"),
 * `#connection[data-state="live|connecting"]`, the filter inputs
 * `#f-state`, `#f-lag-over`, `#f-search`, `#f-version`, `#invalid`, and the
 * timeline `#timeline` (`data-state="loading|empty|ready|failed"`) with
 * `#timeline-entries li`.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { FLEET_STATES } from "../device-health.ts";

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #6e7781; --line: #d0d7de; }
html, body { height: 100%; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; }
header { padding: .75rem 1.5rem .5rem; display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: baseline; }
h1 { font-size: 1.25rem; margin: 0; }
#summary { font-variant-numeric: tabular-nums; }
#connection[data-state="live"] { color: var(--ok); }
#connection[data-state="connecting"] { color: var(--warn); }
form { padding: 0 1.5rem .5rem; display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: center; }
form label { display: flex; gap: .3rem; align-items: center; }
#shown { color: var(--muted); }
#invalid { color: var(--bad); }
#viewport { flex: 1; overflow: auto; border-top: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
thead th { position: sticky; top: 0; background: Canvas; z-index: 1; text-align: left; font-weight: 600; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
tr.row td { height: 27px; padding: 0 .5rem; border-bottom: 1px solid var(--line); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
tr.pad td { padding: 0; border: 0; height: 0; }
tr.row { cursor: pointer; }
tr.row:hover td { background: color-mix(in srgb, CanvasText 6%, Canvas); }
tr.row[aria-selected="true"] td { background: color-mix(in srgb, CanvasText 12%, Canvas); }
tr.cont td[data-field="device"] { opacity: .35; }
col.c-device { width: 9rem; } col.c-db { width: 13rem; } col.c-state { width: 8rem; } col.c-seen { width: 6.5rem; }
col.c-data { width: 6rem; } col.c-lag { width: 5rem; } col.c-pending { width: 8rem; } col.c-txid { width: 10.5rem; }
col.c-upload { width: 7rem; } col.c-agent { width: 6rem; } col.c-disk { width: 8rem; }
td[data-field="txid"] { font-family: ui-monospace, monospace; }
td[data-field="lag"], td[data-field="pending"], td[data-field="disk"] { font-variant-numeric: tabular-nums; }
td[data-field="error"] { color: var(--bad); }
td[data-state="ok"] { color: var(--ok); }
td[data-state="pending"], td[data-state="starting"] { color: var(--muted); }
td[data-state="lagging"], td[data-state="degraded"] { color: var(--warn); font-weight: 600; }
td[data-state="error"], td[data-state="conflict"] { color: var(--bad); font-weight: 600; }
td[data-state="offline"], td[data-state="stale"] { color: var(--bad); }
tr[data-state="lagging"] td[data-field="error"], tr[data-state="degraded"] td[data-field="error"], tr[data-state="starting"] td[data-field="error"] { color: var(--warn); }
tr[data-online="false"] td:not([data-field="state"]):not([data-field="seen"]), tr[data-state="stale"] td:not([data-field="state"]):not([data-field="seen"]) { opacity: .6; }
#timeline { position: fixed; top: 0; right: 0; bottom: 0; width: min(30rem, 90vw); background: Canvas; border-left: 1px solid var(--line); box-shadow: -4px 0 12px rgb(0 0 0 / .15); padding: 1rem; overflow: auto; z-index: 2; }
#timeline[hidden] { display: none; }
#timeline h2 { font-size: 1rem; margin: 0 2rem .5rem 0; word-break: break-all; }
#timeline-close { position: absolute; top: .75rem; right: .75rem; }
#timeline-status { color: var(--muted); }
#timeline-spark { display: block; width: 100%; height: 48px; margin: .5rem 0; }
#timeline-spark polyline { fill: none; stroke: var(--warn); stroke-width: 1.5; }
#timeline-entries { list-style: none; padding: 0; margin: 0; font-size: 13px; }
#timeline-entries li { padding: .2rem 0; border-bottom: 1px solid var(--line); }
#timeline-entries time { color: var(--muted); font-variant-numeric: tabular-nums; margin-right: .5rem; }
`;

const SCRIPT = `
"use strict";
var STATES = ${JSON.stringify(FLEET_STATES)};
var FIELDS = ["device", "db", "state", "seen", "data", "lag", "pending", "txid", "upload", "agent", "disk", "error"];
var PARAMS = ["state", "lag-over", "search", "version"];
var OVERSCAN = 10;
var rowHeight = 28;
var RANK = {};
STATES.forEach(function (s, i) { RANK[s] = i; });

function $(id) { return document.getElementById(id); }
var viewport = $("viewport"), tbody = $("devices"), padTop = $("pad-top"), padBottom = $("pad-bottom");
var summaryEl = $("summary"), shownEl = $("shown"), connection = $("connection"), invalid = $("invalid");
var inputs = { "state": $("f-state"), "lag-over": $("f-lag-over"), "search": $("f-search"), "version": $("f-version") };
var timeline = $("timeline");

var devices = new Map();
var flat = [];
var dirty = true;
var summary = null;
var clockOffset = 0;
var pool = [];
var selected = null;
var source = null;

STATES.forEach(function (s) {
  var o = document.createElement("option");
  o.value = s;
  o.textContent = s;
  inputs.state.appendChild(o);
});

function formatDuration(ms) {
  var s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + " s";
  var m = Math.floor(s / 60);
  if (m < 60) return m + " min";
  var h = Math.floor(m / 60);
  if (h < 48) return h + " h";
  return Math.floor(h / 24) + " d";
}

function formatBytes(n) {
  var units = ["B", "KiB", "MiB", "GiB", "TiB"];
  var i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
}

function group(n) { return String(Math.round(n)).replace(/\\B(?=(\\d{3})+(?!\\d))/g, ","); }
function plural(n, one) { return group(n) + " " + one + (n === 1 ? "" : "s"); }
function ago(ts, now) { return ts === null ? "never" : formatDuration(now - ts) + " ago"; }
function now() { return Date.now() + clockOffset; }

/* The summary line, as fleet-query.ts formatSummary() writes it. */
function summaryLine(s, at) {
  var parts = STATES.filter(function (st) { return s.states[st] > 0 || st === "ok"; }).map(function (st) { return s.states[st] + " " + st; });
  var oldest = s.oldestData === null ? "no data yet" : "oldest data " + formatDuration(s.oldestData.ageMs + (at - s.at)) + " (" + s.oldestData.device + ")";
  var p = s.projectedPerMonth;
  var cost = p.devices === 0 ? "S3 per month: unknown (no device reports it)" :
    "S3 per month: " + plural(p.requests, "request") + ", " + group(Math.round(p.bytes / 1048576)) + " MiB" +
    (p.devices < s.devices ? " (" + group(p.devices) + " of " + group(s.devices) + " devices report)" : "");
  return plural(s.devices, "device") + ", " + plural(s.databases, "database") + ": " + parts.join(" \\u00b7 ") + " \\u00b7 " + oldest + " \\u00b7 " + cost;
}

function rankOf(d) {
  var r = 99;
  for (var i = 0; i < d.rows.length; i++) r = Math.min(r, RANK[d.rows[i].state]);
  return r;
}

function compare(a, b) {
  return a._rank - b._rank || (a.device < b.device ? -1 : a.device > b.device ? 1 : 0);
}

function rebuild() {
  var list = Array.from(devices.values()).sort(compare);
  flat = [];
  list.forEach(function (d) {
    d.rows.forEach(function (r, i) { flat.push({ d: d, r: r, first: i === 0 }); });
  });
}

function put(d) {
  d._rank = rankOf(d);
  devices.set(d.device, d);
}

function makeRow() {
  var tr = document.createElement("tr");
  tr.className = "row";
  FIELDS.forEach(function (field) {
    var td = document.createElement("td");
    td.setAttribute("data-field", field);
    tr.appendChild(td);
  });
  return tr;
}

function setText(td, text, title) {
  if (td.textContent !== text) td.textContent = text;
  if (title !== undefined && td.title !== title) td.title = title;
}

function fill(tr, item, index, t) {
  var d = item.d, r = item.r, c = tr.cells;
  tr.className = item.first ? "row first" : "row cont";
  tr.setAttribute("data-device", d.device);
  tr.setAttribute("data-db", r.db === null ? "" : r.db);
  tr.setAttribute("data-state", r.state);
  tr.setAttribute("data-online", String(d.online));
  tr.setAttribute("data-index", String(index));
  tr.setAttribute("aria-selected", String(selected !== null && selected.device === d.device && selected.db === r.db));
  setText(c[0], d.device, d.device);
  setText(c[1], r.db === null ? "\\u2014" : r.db, r.db === null ? "" : r.db);
  var state = r.state === "offline" && d.reason !== null ? "offline (" + d.reason + ")" : r.state;
  setText(c[2], state);
  c[2].setAttribute("data-state", r.state);
  setText(c[3], ago(d.heardAt, t), "session " + d.session + ", status every " + formatDuration(d.intervalMs));
  setText(c[4], d.dataAt === null ? "\\u2014" : formatDuration(t - d.dataAt) + " old");
  setText(c[5], r.db === null || r.lagMs === null ? "\\u2014" : formatDuration(r.lagMs));
  setText(c[6], r.db === null ? "\\u2014" : r.pendingFiles === 0 ? "0" : r.pendingFiles + (r.pendingFiles === 1 ? " file / " : " files / ") + formatBytes(r.pendingBytes));
  setText(c[7], r.txid === null ? "\\u2014" : r.txid);
  setText(c[8], r.db === null ? "\\u2014" : ago(r.lastUploadAt, t));
  setText(c[9], d.agent === null ? "\\u2014" : d.agent);
  setText(c[10], d.disk === null ? "\\u2014" : formatBytes(d.disk.free) + (d.disk.total > 0 ? " (" + Math.round(100 * d.disk.free / d.disk.total) + "%)" : ""));
  setText(c[11], r.problems.length === 0 ? "" : r.problems[0] + (r.problems.length > 1 ? " (+" + (r.problems.length - 1) + " more)" : ""), r.problems.join("\\n"));
}

function render() {
  if (dirty) { rebuild(); dirty = false; }
  var t = now();
  var head = padTop.getBoundingClientRect().top - viewport.getBoundingClientRect().top + viewport.scrollTop;
  var first = Math.max(0, Math.floor((viewport.scrollTop - head) / rowHeight) - OVERSCAN);
  first = Math.min(first, Math.max(0, flat.length - 1));
  var count = Math.ceil(viewport.clientHeight / rowHeight) + 2 * OVERSCAN;
  var last = Math.min(flat.length, first + count);
  while (pool.length < last - first) { var tr = makeRow(); pool.push(tr); tbody.insertBefore(tr, padBottom); }
  while (pool.length > last - first) pool.pop().remove();
  for (var i = first; i < last; i++) fill(pool[i - first], flat[i], i, t);
  if (pool.length > 0) {
    var h = pool[0].getBoundingClientRect().height;
    if (h > 0 && Math.abs(h - rowHeight) > 0.25) { rowHeight = h; schedule(); }
  }
  padTop.firstChild.style.height = first * rowHeight + "px";
  padBottom.firstChild.style.height = (flat.length - last) * rowHeight + "px";
  if (summary !== null) setText(summaryEl, summaryLine(summary, t));
  setText(shownEl, flat.length + " of " + (summary === null ? 0 : summary.rows) + " rows");
}

var scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(run);
  setTimeout(run, 100);
}
function run() {
  if (!scheduled) return;
  scheduled = false;
  render();
}

function query() {
  var q = new URLSearchParams();
  PARAMS.forEach(function (p) {
    var v = inputs[p].value.trim();
    if (v !== "") q.set(p, v);
  });
  return q.toString();
}

function readUrl() {
  var q = new URLSearchParams(location.search);
  PARAMS.forEach(function (p) {
    var v = q.get(p) || "";
    var el = inputs[p];
    if (el.tagName === "SELECT" && v !== "" && !Array.prototype.some.call(el.options, function (o) { return o.value === v; })) {
      var o = document.createElement("option");
      o.value = v;
      o.textContent = v;
      el.appendChild(o);
    }
    el.value = v;
  });
}

function connect() {
  if (source !== null) source.close();
  var q = query();
  devices.clear();
  dirty = true;
  setText(invalid, "");
  connection.setAttribute("data-state", "connecting");
  connection.textContent = "connecting\\u2026";
  source = new EventSource("events" + (q === "" ? "" : "?" + q));
  source.onopen = function () { connection.setAttribute("data-state", "live"); connection.textContent = "live"; };
  source.onerror = function () { connection.setAttribute("data-state", "connecting"); connection.textContent = "reconnecting\\u2026"; };
  source.addEventListener("snapshot", function (e) {
    var m = JSON.parse(e.data);
    devices.clear();
    m.devices.forEach(put);
    take(m.summary);
  });
  source.addEventListener("update", function (e) {
    var m = JSON.parse(e.data);
    m.devices.forEach(put);
    m.removed.forEach(function (id) { devices.delete(id); });
    take(m.summary);
  });
  source.addEventListener("invalid", function (e) {
    devices.clear();
    dirty = true;
    setText(invalid, JSON.parse(e.data).error);
    schedule();
  });
}

function take(s) {
  summary = s;
  clockOffset = s.at - Date.now();
  dirty = true;
  schedule();
}

function applyFilters() {
  var q = query();
  history.replaceState(null, "", location.pathname + (q === "" ? "" : "?" + q));
  connect();
}

var typing;
PARAMS.forEach(function (p) {
  var el = inputs[p];
  el.addEventListener(el.tagName === "SELECT" ? "change" : "input", function () {
    clearTimeout(typing);
    typing = setTimeout(applyFilters, el.tagName === "SELECT" ? 0 : 300);
  });
});
$("filters").addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(typing); applyFilters(); });

/* The timeline of one row. */
var historyRequest = 0;
function openTimeline(device, db) {
  selected = { device: device, db: db };
  schedule();
  var token = ++historyRequest;
  timeline.hidden = false;
  timeline.setAttribute("data-state", "loading");
  setText($("timeline-title"), device + (db === null ? "" : " \\u00b7 " + db));
  setText($("timeline-status"), "loading\\u2026");
  $("timeline-entries").replaceChildren();
  $("timeline-spark").replaceChildren();
  var q = new URLSearchParams({ device: device });
  if (db !== null) q.set("db", db);
  fetch("api/history?" + q.toString()).then(function (res) {
    if (token !== historyRequest) return;
    if (res.status === 404) { timeline.setAttribute("data-state", "empty"); setText($("timeline-status"), "no history"); return; }
    if (!res.ok) return res.text().then(function (t) {
      if (token !== historyRequest) return;
      timeline.setAttribute("data-state", "failed");
      setText($("timeline-status"), "history unavailable (HTTP " + res.status + (t.trim() === "" ? "" : ": " + t.trim()) + ")");
    });
    return res.json().then(function (h) { if (token === historyRequest) showHistory(h.entries || [], h.truncated === true); });
  }).catch(function (err) {
    if (token !== historyRequest) return;
    timeline.setAttribute("data-state", "failed");
    setText($("timeline-status"), "history unavailable (" + err.message + ")");
  });
}

function showHistory(entries, truncated) {
  if (entries.length === 0) { timeline.setAttribute("data-state", "empty"); setText($("timeline-status"), "no history"); return; }
  timeline.setAttribute("data-state", "ready");
  setText($("timeline-status"), (truncated ? "latest " : "") + entries.length + (entries.length === 1 ? " entry" : " entries"));
  var lags = entries.filter(function (e) { return e.kind === "lag" && typeof e.lagMs === "number"; });
  if (lags.length > 1) {
    var svg = $("timeline-spark");
    var t0 = lags[0].ts, t1 = lags[lags.length - 1].ts, max = 1;
    lags.forEach(function (e) { max = Math.max(max, e.lagMs); });
    var points = lags.map(function (e) {
      var x = t1 === t0 ? 0 : (300 * (e.ts - t0)) / (t1 - t0);
      return x.toFixed(1) + "," + (46 - (44 * e.lagMs) / max).toFixed(1);
    }).join(" ");
    var line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points);
    svg.appendChild(line);
    var label = document.createElementNS("http://www.w3.org/2000/svg", "title");
    label.textContent = "lag, up to " + formatDuration(max);
    svg.appendChild(label);
  }
  var list = $("timeline-entries");
  entries.slice(-500).reverse().forEach(function (e) {
    var li = document.createElement("li");
    li.setAttribute("data-kind", String(e.kind));
    var time = document.createElement("time");
    time.textContent = new Date(e.ts).toISOString().replace("T", " ").slice(0, 19);
    li.appendChild(time);
    var where = e.db && (selected === null || selected.db !== e.db) ? e.db + ": " : "";
    var what = where + (e.kind === "state" ? "state " + e.state : e.kind === "event" ? String(e.event) : e.kind === "lag" ? "lag " + formatDuration(e.lagMs) : String(e.kind));
    li.appendChild(document.createTextNode(what + (e.detail ? ": " + (typeof e.detail === "string" ? e.detail : JSON.stringify(e.detail)) : "")));
    list.appendChild(li);
  });
}

function closeTimeline() {
  timeline.hidden = true;
  selected = null;
  historyRequest++;
  schedule();
}

tbody.addEventListener("click", function (e) {
  var tr = e.target.closest("tr.row");
  if (tr === null) return;
  var db = tr.getAttribute("data-db");
  openTimeline(tr.getAttribute("data-device"), db === "" ? null : db);
});
$("timeline-close").addEventListener("click", closeTimeline);
document.addEventListener("keydown", function (e) { if (e.key === "Escape" && !timeline.hidden) closeTimeline(); });

viewport.addEventListener("scroll", schedule, { passive: true });
window.addEventListener("resize", schedule);
// Relative times ("12 s ago") move on between pushes.
setInterval(schedule, 1000);
readUrl();
connect();
`;

const HEADERS: readonly (readonly [string, string])[] = [
  ["device", "Device"],
  ["db", "Database"],
  ["state", "State"],
  ["seen", "Last seen"],
  ["data", "Data age"],
  ["lag", "Lag"],
  ["pending", "Pending"],
  ["txid", "TXID"],
  ["upload", "Last upload"],
  ["agent", "Agent"],
  ["disk", "Free disk"],
  ["error", "Problems"],
];

/** The dashboard document. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>litefleet</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><h1>litefleet</h1><span id="summary">0 devices</span><span id="connection" data-state="connecting">connecting\u2026</span></header>
<form id="filters" role="search">
<label>State <select id="f-state"><option value="">all</option></select></label>
<label>Lag over <input id="f-lag-over" size="6" placeholder="e.g. 1h" autocomplete="off"></label>
<label>Search <input id="f-search" type="search" size="18" placeholder="device id or database" autocomplete="off"></label>
<label>Version <input id="f-version" size="6" placeholder="e.g. 0.9" autocomplete="off"></label>
<span id="shown"></span><span id="invalid" role="alert"></span>
</form>
<div id="viewport">
<table>
<colgroup>${HEADERS.map(([f]) => `<col class="c-${f}">`).join("")}</colgroup>
<thead><tr>${HEADERS.map(([, h]) => `<th>${h}</th>`).join("")}</tr></thead>
<tbody id="devices"><tr id="pad-top" class="pad"><td colspan="${HEADERS.length}"></td></tr><tr id="pad-bottom" class="pad"><td colspan="${HEADERS.length}"></td></tr></tbody>
</table>
</div>
<aside id="timeline" hidden aria-label="device timeline">
<button id="timeline-close" type="button" aria-label="close">\u00d7</button>
<h2 id="timeline-title"></h2>
<div id="timeline-status"></div>
<svg id="timeline-spark" viewBox="0 0 300 48" preserveAspectRatio="none" aria-hidden="true"></svg>
<ol id="timeline-entries"></ol>
</aside>
<script>${SCRIPT}</script>
</body>
</html>
`;

function sha256(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/** The Content-Security-Policy for {@linkcode PAGE_HTML}: its inline script and style (by hash), and same-origin `connect-src` for `/events` and `/api/history`. */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
