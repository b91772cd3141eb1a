// The LuxTensor testnet dashboard: renders the runner's board (GET /api/state once, then every
// server-sent `state` event on /events). No libraries: the chart and the block tree are SVG
// drawn here. Every node row carries data-node, data-height and data-head attributes, which the
// headless-browser check in CI reads from the rendered DOM.
"use strict";

const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#f778ba", "#a371f7", "#79c0ff", "#56d364",
  "#e3b341", "#ff7b72", "#ffa657", "#7ee787", "#d2a8ff"];
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

function short(hash) {
  return hash && hash.length > 14 ? hash.slice(0, 8) + "…" + hash.slice(-4) : (hash || "");
}

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmtSecs(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return s.toFixed(0) + " s";
  return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
}

function renderRun(st) {
  $("phase").textContent = st.phase;
  $("top").textContent = st.top;
  const v = $("verdict");
  if (st.verdict) {
    v.textContent = st.verdict.text;
    v.className = "verdict " + (st.verdict.ok ? "ok" : "failed");
    v.dataset.verdict = st.verdict.ok ? "ok" : "failed";
  } else {
    v.textContent = "running";
    v.className = "verdict pending";
    v.dataset.verdict = "";
  }
}

function renderNodes(st) {
  const body = $("nodes").querySelector("tbody");
  body.replaceChildren();
  st.nodes.forEach((n, i) => {
    const tr = el("tr", { "data-node": n.name });
    const name = el("td");
    name.append(el("i", { style: `display:inline-block;width:8px;height:8px;border-radius:4px;margin-right:6px;background:${COLORS[i % COLORS.length]}` }), n.name);
    tr.append(name);
    if (!n.reachable) {
      tr.className = "down";
      tr.dataset.reachable = "false";
      const td = el("td", { colspan: 11 }, "not answering");
      tr.append(td);
      body.append(tr);
      return;
    }
    tr.dataset.reachable = "true";
    tr.dataset.height = n.height;
    tr.dataset.head = n.head;
    if (n.lag > 0) tr.className = "lagging";
    const role = el("td");
    role.append(el("span", { class: "role " + n.role }, n.role + (n.paused ? " (paused)" : "")));
    tr.append(role,
      el("td", { class: "height" }, n.height),
      el("td", { class: "hash head", title: n.head }, short(n.head)),
      el("td", {}, n.finalized),
      el("td", { title: "head slot / current slot" }, `${n.slot} / ${n.current_slot}`),
      el("td", {}, n.peers),
      el("td", {}, n.banned),
      el("td", { class: "lag" }, n.lag),
      el("td", {}, n.reorgs),
      el("td", { title: "GetStatus round trip from the runner" }, n.latency_ms === null ? "–" : `${n.latency_ms} ms`));
    const sync = el("td");
    if (n.syncing && n.target > 0) {
      const pct = Math.min(100, (100 * n.height) / n.target);
      const bar = el("span", { class: "bar", title: `${n.height} of ${n.target}` });
      bar.append(el("i", { style: `width:${pct.toFixed(1)}%` }));
      sync.append(bar, ` ${pct.toFixed(0)}% · ${n.blocks_per_sec.toFixed(1)} blocks/s · ETA ${fmtSecs(n.eta_secs)}`);
    } else {
      sync.append(el("span", { class: "synced" }, "in sync"), n.blocks_per_sec > 0 ? ` · ${n.blocks_per_sec.toFixed(1)} blocks/s` : "");
    }
    tr.append(sync);
    body.append(tr);
  });
}

function renderChart(st) {
  const svg = $("chart");
  svg.replaceChildren();
  const W = 640, H = 260, L = 44, B = 22, T = 8, R = 8;
  const series = st.history.filter((s) => s.points.length > 0);
  const now = st.uptime_secs;
  const t0 = Math.max(0, now - 300);
  let maxH = 1, minH = Infinity;
  for (const s of series) for (const [t, h] of s.points) if (t >= t0) { maxH = Math.max(maxH, h); minH = Math.min(minH, h); }
  if (!isFinite(minH)) minH = 0;
  if (maxH === minH) maxH = minH + 1;
  const x = (t) => L + ((t - t0) / Math.max(1, now - t0)) * (W - L - R);
  const y = (h) => H - B - ((h - minH) / (maxH - minH)) * (H - B - T);
  for (let k = 0; k <= 4; k++) {
    const h = Math.round(minH + ((maxH - minH) * k) / 4);
    svg.append(el("svg:line", { x1: L, x2: W - R, y1: y(h), y2: y(h), stroke: "#2a333d" }));
    svg.append(el("svg:text", { x: 4, y: y(h) + 4 }, h));
  }
  svg.append(el("svg:text", { x: L, y: H - 6 }, `${Math.round(now - t0)} s ago`));
  svg.append(el("svg:text", { x: W - R - 30, y: H - 6 }, "now"));
  const legend = $("legend");
  legend.replaceChildren();
  st.history.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter(([t]) => t >= t0).map(([t, h]) => `${x(t).toFixed(1)},${y(h).toFixed(1)}`);
    if (pts.length > 0) {
      svg.append(el("svg:polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 2, "data-node": s.name }));
    }
    const item = el("span");
    item.append(el("i", { style: `background:${color}` }), s.name);
    legend.append(item);
  });
}

function renderTree(st) {
  const svg = $("tree");
  svg.replaceChildren();
  const blocks = st.tree;
  if (blocks.length === 0) return;
  const reachable = st.nodes.filter((n) => n.reachable).length;
  const heights = [...new Set(blocks.map((b) => b.height))].sort((a, b) => a - b).slice(-10);
  const lanes = new Map();
  const pos = new Map();
  const W = 640, bw = 52, bh = 30, gap = (W - 20 - bw) / Math.max(1, heights.length - 1);
  heights.forEach((h, col) => {
    const here = blocks.filter((b) => b.height === h).sort((a, b) => b.canonical_on.length - a.canonical_on.length);
    here.forEach((b, lane) => {
      pos.set(b.hash, { x: 10 + col * gap, y: 14 + lane * (bh + 26) });
      lanes.set(b.hash, lane);
    });
  });
  for (const b of blocks) {
    const p = pos.get(b.hash), q = pos.get(b.parent);
    if (p && q) svg.append(el("svg:line", { x1: q.x + bw, y1: q.y + bh / 2, x2: p.x, y2: p.y + bh / 2, stroke: "#5a6570" }));
  }
  for (const b of blocks) {
    const p = pos.get(b.hash);
    if (!p) continue;
    const cls = b.canonical_on.length === 0 ? "none" : b.canonical_on.length >= reachable ? "all" : "some";
    const g = el("svg:g", { "data-hash": b.hash, class: "block " + cls });
    const title = el("svg:title", {}, `height ${b.height}\n${b.hash}\nproducer ${b.producer}\ncanonical on: ${b.canonical_on.join(", ") || "no node (abandoned)"}`);
    g.append(title);
    g.append(el("svg:rect", { x: p.x, y: p.y, width: bw, height: bh, rx: 4, class: cls }));
    g.append(el("svg:text", { x: p.x + 4, y: p.y + 12 }, "#" + b.height));
    g.append(el("svg:text", { x: p.x + 4, y: p.y + 25 }, b.hash.slice(2, 8)));
    g.append(el("svg:text", { x: p.x, y: p.y + bh + 12 }, String(b.producer).slice(0, 8)));
    svg.append(g);
  }
}

function renderEvents(st) {
  const list = $("events");
  list.replaceChildren();
  for (const e of st.events.slice(0, 80)) {
    const li = el("li", { "data-kind": e.kind });
    li.append(el("span", { class: "t" }, `+${e.at.toFixed(1)} s`), el("span", { class: "kind " + e.kind.replace(" ", "-") }, e.kind), e.text);
    list.append(li);
  }
}

function render(st) {
  renderRun(st);
  renderNodes(st);
  renderChart(st);
  renderTree(st);
  renderEvents(st);
  document.body.dataset.rendered = String(st.uptime_secs);
}

let pushed = false;
fetch("/api/state").then((r) => r.json()).then((st) => { if (!pushed) render(st); }).catch(() => {});
const source = new EventSource("/events");
source.addEventListener("state", (e) => { pushed = true; $("live").className = "live on"; render(JSON.parse(e.data)); });
source.onerror = () => { $("live").className = "live"; };
