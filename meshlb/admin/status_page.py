"""The status page: one self-contained HTML document, in the spirit of HAProxy's stats page.

It loads nothing from elsewhere: the style and the script are inline, allowed by their
SHA-256 hashes in the Content-Security-Policy (no 'unsafe-inline'), and the script can only
fetch from the admin listener itself. Every `REFRESH_MS` it fetches `stats.json` (built by
`meshlb.admin.stats.summarize`, which computes rates, error ratios and p99) and rebuilds the
tables with DOM calls and `textContent` only, so no value from a snapshot is parsed as HTML.
Rows carry `state-<state>` classes (see `meshlb.admin.stats.STATES`) that set their colour.
"""

from __future__ import annotations

import base64
import hashlib

REFRESH_MS = 2000

STYLE = """
body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f4f5f7}
header{background:#20303f;color:#fff;padding:10px 16px;display:flex;gap:24px;align-items:baseline}
header h1{font-size:18px;margin:0}
main{padding:12px 16px}
#status.error{color:#ffb4a8;font-weight:bold}
section{background:#fff;border:1px solid #d0d5db;border-radius:4px;margin:0 0 14px;padding:8px}
h2{font-size:15px;margin:2px 0 6px}
.figures{display:flex;gap:18px;margin:0 0 6px;color:#444}
.figures b{color:#000}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #e3e6ea;white-space:nowrap}
th{background:#eef0f3;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.reason{white-space:normal;max-width:420px}
.state-healthy{background:#d6f5d6}
.state-slow-start{background:#eef8c8}
.state-draining{background:#d6e6fb}
.state-ejected{background:#fde2bd}
.state-failed-check{background:#f8c9c4}
.state-down{background:#e2d5d5}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:11px;font-weight:600}
.panic{background:#c0392b;color:#fff}
.legend span{padding:1px 8px;margin-right:6px;border:1px solid #ccd}
.hook-fail{color:#a1260d}
"""

SCRIPT = """
"use strict";
const REFRESH_MS = __REFRESH_MS__;
function el(tag, cls, ...kids) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  for (const kid of kids) node.append(kid instanceof Node ? kid : String(kid));
  return node;
}
const dash = "\\u2013";
const rate = (x) => (x === null || x === undefined ? dash : x.toFixed(1));
const pct = (x) => (x === null || x === undefined ? dash : (100 * x).toFixed(2) + "%");
const ms = (x) => (x === null || x === undefined ? dash : x.toFixed(1) + " ms");
function ago(t, now) {
  if (!t) return dash;
  const s = Math.max(0, Math.round(now - t));
  if (s < 120) return s + "s ago";
  if (s < 7200) return Math.round(s / 60) + "m ago";
  return Math.round(s / 3600) + "h ago";
}
function table(headings, rows) {
  const head = el("tr", "", ...headings.map((h) => el("th", "", h)));
  return el("table", "", el("thead", "", head), el("tbody", "", ...rows));
}
function cell(value, cls) { return el("td", cls || "", value); }
function hookText(hook) {
  if (!hook) return ["", ""];
  const code = hook.exit_code ?? hook.status ?? null;
  let what = hook.kind + " #" + hook.count + ": " + (hook.ok ? "ok" : "failed");
  if (code !== null) what += " (" + code + ")";
  if (hook.error) what += " " + hook.error;
  return [what, hook.ok ? "" : "hook-fail"];
}
function endpointRow(e, now) {
  const reason = e.state === "ejected" && e.ejection_reason ? e.ejection_reason : e.last_reason;
  const [hook, hookCls] = hookText(e.last_hook);
  const state = e.state === "ejected" && e.ejected_for > 0 ?
    e.state + " (" + Math.ceil(e.ejected_for) + "s left)" : e.state;
  const row = el("tr", "state-" + e.state,
    cell(e.address), cell(state), cell(e.weight, "num"), cell(e.active_requests, "num"),
    cell(e.total_requests, "num"), cell(rate(e.rps), "num rps"), cell(ms(e.latency_avg_ms), "num"),
    cell(ago(e.last_change, now)), cell(reason, "reason"), cell(hook, hookCls));
  row.dataset.endpoint = e.address;
  return row;
}
function clusterSection(c, now) {
  const title = el("h2", "", c.name + " ", el("small", "", c.balancer));
  if (c.panic) title.append(" ", el("span", "badge panic", "PANIC"));
  const figures = el("div", "figures",
    el("span", "", "healthy ", el("b", "", c.healthy + "/" + c.total)),
    el("span", "", "req/s ", el("b", "rps", rate(c.rps))),
    el("span", "", "5xx ", el("b", "error-rate", pct(c.error_rate))),
    el("span", "", "p99 ", el("b", "p99", ms(c.p99_ms))),
    el("span", "", "requests ", el("b", "", c.requests)),
    el("span", "", "5xx total ", el("b", "", c.errors)));
  const rows = c.endpoints.map((e) => endpointRow(e, now));
  const section = el("section", "cluster", title, figures, table(
    ["endpoint", "state", "weight", "active", "requests", "req/s", "avg latency",
     "last change", "reason", "last hook"], rows));
  section.dataset.cluster = c.name;
  return section;
}
function render(doc) {
  const now = doc.taken_at;
  document.getElementById("clusters").replaceChildren(
    ...doc.clusters.map((c) => clusterSection(c, now)));
  const listeners = doc.listeners.map((l) => el("tr", "",
    cell(l.name), cell(l.address), cell(l.active_connections, "num"),
    cell(l.connections_total, "num"), cell(l.requests_total, "num"), cell(rate(l.rps), "num")));
  document.getElementById("listeners").replaceChildren(table(
    ["listener", "address", "connections", "accepted", "requests", "req/s"], listeners));
  const failures = Object.entries(doc.local_failures).map(([k, v]) =>
    el("tr", "", cell(k), cell(v, "num")));
  document.getElementById("failures").replaceChildren(
    failures.length ? table(["local failure", "count"], failures) : "none");
  document.getElementById("taken").textContent =
    new Date(now * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  document.getElementById("workers").textContent = doc.workers + " worker(s)";
  document.getElementById("window").textContent =
    doc.window ? "rates over " + doc.window.toFixed(0) + "s" : "rates after the next refresh";
}
async function refresh() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("stats.json", {cache: "no-store"});
    if (!response.ok) throw new Error(response.status + " " + response.statusText);
    render(await response.json());
    status.textContent = "live";
    status.className = "";
  } catch (err) {
    status.textContent = "stale: " + err.message;
    status.className = "error";
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}
refresh();
""".replace("__REFRESH_MS__", str(REFRESH_MS))

_LEGEND = "".join(
    f'<span class="state-{s}">{s}</span>'
    for s in ("healthy", "slow-start", "draining", "ejected", "failed-check", "down")
)

HTML = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>meshlb status</title>
<link rel="icon" href="data:,">
<style>{STYLE}</style>
</head>
<body>
<header><h1>meshlb</h1><span id="taken">loading</span><span id="workers"></span>
<span id="window"></span><span id="status">connecting</span></header>
<main>
<p class="legend">{_LEGEND}</p>
<div id="clusters"></div>
<section><h2>Listeners</h2><div id="listeners"></div></section>
<section><h2>Local failures</h2><div id="failures"></div></section>
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"script-src '{_sha256(SCRIPT)}'; "
    f"style-src '{_sha256(STYLE)}'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

PAGE = HTML.encode()
