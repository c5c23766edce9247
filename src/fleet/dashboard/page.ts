/**
 * The dashboard page: one self-contained HTML document (no external assets)
 * that follows `/events` and renders one table row per device.
 *
 * Device ids, paths and errors come from the network, so the script only
 * ever writes them with `textContent` and `setAttribute`, never as HTML; the
 * Content-Security-Policy allows this page's own script and style and
 * nothing else.
 *
 * Each row shows the device state (`device-health.ts`: starting, ok,
 * degraded, error, offline; only `ok` is green), when the device was last
 * heard from, how old the row's data is, and its problems. An offline
 * device keeps its last data, dimmed, under the state `offline`.
 *
 * Test hooks: `tr[data-device="<id>"]` per device (with `data-online` and
 * `data-state`), `td[data-field="device|online|state|seen|data|lag|pending|txid|upload|error"]`
 * per cell, `#summary` (`<n> devices: <k> ok · … · <k> offline`), and
 * `#connection[data-state="live|connecting"]`.
 *
 * @module
 */

import { createHash } from "node:crypto";

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #6e7781; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }
header { display: flex; gap: 1rem; align-items: baseline; }
h1 { font-size: 1.25rem; margin: 0 0 1rem; }
#connection[data-state="live"] { color: var(--ok); }
#connection[data-state="connecting"] { color: var(--warn); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }
th { font-weight: 600; }
td[data-field="txid"] { font-family: ui-monospace, monospace; white-space: pre-line; }
td[data-field="lag"], td[data-field="pending"] { font-variant-numeric: tabular-nums; }
td[data-field="error"] { color: var(--bad); max-width: 28rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.badge { border-radius: 1rem; padding: .05rem .5rem; font-size: .8rem; color: #fff; }
.badge[data-online="true"] { background: var(--ok); }
.badge[data-online="false"] { background: var(--muted); }
td[data-state="ok"] { color: var(--ok); }
td[data-state="starting"], td[data-state="degraded"] { color: var(--warn); }
td[data-state="error"] { color: var(--bad); font-weight: 600; }
td[data-state="offline"] { color: var(--bad); }
tr[data-state="degraded"] td[data-field="error"], tr[data-state="starting"] td[data-field="error"] { color: var(--warn); }
tr[data-online="false"] td:not([data-field="state"]):not([data-field="seen"]) { opacity: .6; }
`;

const SCRIPT = `
"use strict";
var FIELDS = ["device", "online", "state", "seen", "data", "lag", "pending", "txid", "upload", "error"];
var STATES = ["ok", "starting", "degraded", "error", "offline"];
var tbody = document.getElementById("devices");
var summary = document.getElementById("summary");
var connection = document.getElementById("connection");
var devices = [];

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

function ago(ts, now) {
  return ts === null ? "never" : formatDuration(now - ts) + " ago";
}

function rowFor(id) {
  for (var i = 0; i < tbody.rows.length; i++) {
    if (tbody.rows[i].getAttribute("data-device") === id) return tbody.rows[i];
  }
  var tr = document.createElement("tr");
  tr.setAttribute("data-device", id);
  FIELDS.forEach(function (field) {
    var td = document.createElement("td");
    td.setAttribute("data-field", field);
    tr.appendChild(td);
  });
  tr.cells[1].appendChild(document.createElement("span")).className = "badge";
  return tr;
}

function cell(tr, field) {
  return tr.cells[FIELDS.indexOf(field)];
}

function renderRow(d, now) {
  var tr = rowFor(d.device);
  tr.setAttribute("data-online", String(d.online));
  tr.setAttribute("data-state", d.state === null ? "none" : d.state);
  cell(tr, "device").textContent = d.device;
  cell(tr, "device").title = d.agent === null ? "" : d.agent;
  var badge = cell(tr, "online").firstChild;
  badge.setAttribute("data-online", String(d.online));
  badge.textContent = d.online ? "online" : d.reason === null ? "offline" : "offline (" + d.reason + ")";
  badge.title = "last seen " + ago(d.lastSeen, now) + ", session " + d.session;
  var state = cell(tr, "state");
  state.textContent = d.state;
  state.setAttribute("data-state", d.state);
  cell(tr, "seen").textContent = ago(d.lastSeen, now);
  cell(tr, "data").textContent = d.dataAt === null ? "\\u2014" : formatDuration(now - d.dataAt) + " old";
  cell(tr, "lag").textContent = d.dbs.length === 0 ? "\\u2014" : formatDuration(d.maxLagMs);
  cell(tr, "pending").textContent = d.pendingFiles === 0 ? "0" : d.pendingFiles + (d.pendingFiles === 1 ? " file / " : " files / ") + formatBytes(d.pendingBytes);
  var txid = cell(tr, "txid");
  txid.textContent = d.dbs.length === 0 ? "\\u2014" : d.dbs.map(function (db) { return db.txid === null ? "\\u2014" : db.txid; }).join("\\n");
  txid.title = d.dbs.map(function (db) { return db.path; }).join("\\n");
  cell(tr, "upload").textContent = ago(d.lastUploadAt, now);
  var error = cell(tr, "error");
  error.textContent = d.problems.length === 0 ? "" : d.problems[0] + (d.problems.length > 1 ? " (+" + (d.problems.length - 1) + " more)" : "");
  error.title = d.problems.join("\\n");
  return tr;
}

function render() {
  var now = Date.now();
  var keep = new Set();
  devices.forEach(function (d) {
    keep.add(d.device);
    tbody.appendChild(renderRow(d, now));
  });
  Array.prototype.slice.call(tbody.rows).forEach(function (tr) {
    if (!keep.has(tr.getAttribute("data-device"))) tr.remove();
  });
  summary.textContent = devices.length + " devices: " + STATES.map(function (state) {
    return devices.filter(function (d) { return d.state === state; }).length + " " + state;
  }).join(" \\u00b7 ");
}

var events = new EventSource("events");
events.onopen = function () { connection.setAttribute("data-state", "live"); connection.textContent = "live"; };
events.onerror = function () { connection.setAttribute("data-state", "connecting"); connection.textContent = "reconnecting\\u2026"; };
events.onmessage = function (e) {
  devices = JSON.parse(e.data);
  render();
};
// Relative times ("12 s ago") move on between pushes.
setInterval(render, 1000);
`;

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
<table>
<thead><tr><th>Device</th><th>Link</th><th>State</th><th>Last seen</th><th>Data</th><th>Max lag</th><th>Pending</th><th>TXID</th><th>Last upload</th><th>Problems</th></tr></thead>
<tbody id="devices"></tbody>
</table>
<script>${SCRIPT}</script>
</body>
</html>
`;

function sha256(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/** The Content-Security-Policy for {@linkcode PAGE_HTML}: its inline script and style (by hash), and same-origin `connect-src` for `/events`. */
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
