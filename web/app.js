// dmon's dashboard: a live table of the index, fed by the WebSocket
// /index?subscribe=true&query=Q (docs/http-api.md). No dependencies.

const HISTORY_POINTS = 120;   // metric values kept per host/service for the chart
const MAX_ROWS = 2000;        // rows drawn at once; the rest are counted
const RETRY_MS = 2000;        // wait before re-subscribing after the server closed

const $ = (id) => document.getElementById(id);
const els = {
  form: $("query-form"), query: $("query"), status: $("status"), error: $("error"),
  rows: $("rows"), empty: $("empty"), chartPanel: $("chart-panel"),
  chartTitle: $("chart-title"), chart: $("chart"),
};

// key "host\u0000service" -> { event, time (ms) }
const current = new Map();
// key -> [[ms, metric], ...], kept across re-subscriptions
const series = new Map();
let groupBy = "host";
let selected = null;
let socket = null;
let generation = 0;  // bumps on every subscribe; stale sockets' callbacks are ignored
let retryTimer = null;
let renderQueued = false;

const keyOf = (e) => `${e.host ?? ""}\u0000${e.service ?? ""}`;
const splitKey = (k) => k.split("\u0000");

function eventTime(e) {
  if (typeof e.time === "string") {
    const t = Date.parse(e.time);
    if (!Number.isNaN(t)) return t;
  } else if (typeof e.time === "number") {
    return e.time * 1000;
  }
  return Date.now();
}

function setStatus(text, cls) {
  els.status.textContent = text;
  els.status.className = `status ${cls ?? ""}`;
}

function showError(text) {
  els.error.textContent = text;
  els.error.hidden = !text;
}

// ---- subscription -------------------------------------------------------

async function subscribe(query) {
  const gen = ++generation;
  clearTimeout(retryTimer);
  if (socket) {
    socket.close();
    socket = null;
  }
  const url = new URL(location.href);
  url.searchParams.set("query", query);
  window.history.replaceState(null, "", url);
  setStatus("checking query…");

  // GET /index validates the query first: the server answers 400 with the parse error.
  let res;
  try {
    res = await fetch(`/index?query=${encodeURIComponent(query)}`);
  } catch (err) {
    if (gen !== generation) return;
    showError(`cannot reach dmon: ${err.message}`);
    setStatus("disconnected", "down");
    retryTimer = setTimeout(() => subscribe(query), RETRY_MS);
    return;
  }
  if (gen !== generation) return;
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.error) message = body.error;
    } catch { /* not JSON: keep the status line */ }
    if (gen !== generation) return;
    current.clear();
    scheduleRender();
    showError(`query refused: ${message}`);
    setStatus("not subscribed", "down");
    return;
  }
  showError("");
  current.clear();
  scheduleRender();

  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(
    `${scheme}://${location.host}/index?subscribe=true&query=${encodeURIComponent(query)}`);
  socket = ws;
  ws.onopen = () => {
    if (gen === generation) setStatus("live", "live");
  };
  ws.onmessage = (msg) => {
    if (gen !== generation) return;
    let e;
    try {
      e = JSON.parse(msg.data);
    } catch {
      return;
    }
    receive(e);
  };
  ws.onclose = (ev) => {
    if (gen !== generation) return;
    socket = null;
    const why = ev.reason ? `: ${ev.reason}` : "";
    showError(`the server closed the subscription (code ${ev.code}${why}); retrying…`);
    setStatus("disconnected", "down");
    retryTimer = setTimeout(() => {
      if (gen === generation) subscribe(query);
    }, RETRY_MS);
  };
}

function receive(e) {
  const key = keyOf(e);
  if (e.state === "expired") {
    current.delete(key);
  } else {
    const time = eventTime(e);
    current.set(key, { event: e, time });
    if (typeof e.metric === "number") {
      let points = series.get(key);
      if (!points) series.set(key, (points = []));
      const last = points[points.length - 1];
      if (!last || last[0] !== time || last[1] !== e.metric) points.push([time, e.metric]);
      if (points.length > HISTORY_POINTS) points.splice(0, points.length - HISTORY_POINTS);
    }
  }
  scheduleRender();
}

// ---- table --------------------------------------------------------------

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function formatMetric(m) {
  if (typeof m !== "number") return "";
  if (Number.isInteger(m)) return String(m);
  const abs = Math.abs(m);
  if (abs !== 0 && (abs < 0.001 || abs >= 1e9)) return m.toExponential(3);
  return String(Number(m.toPrecision(4)));
}

function formatAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function stateClass(state) {
  if (!state) return "state-none";
  if (["ok", "warning", "critical", "expired"].includes(state)) return `state-${state}`;
  return "state-other";
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function render() {
  const now = Date.now();
  const entries = [...current.entries()];
  const other = groupBy === "host" ? "service" : "host";
  entries.sort(([, a], [, b]) => {
    const ga = String(a.event[groupBy] ?? ""), gb = String(b.event[groupBy] ?? "");
    if (ga !== gb) return ga < gb ? -1 : 1;
    const oa = String(a.event[other] ?? ""), ob = String(b.event[other] ?? "");
    return oa < ob ? -1 : oa > ob ? 1 : 0;
  });

  const frag = document.createDocumentFragment();
  let group = null;
  let groupHeader = null;
  let groupCount = 0;
  const closeGroup = () => {
    if (groupHeader) groupHeader.firstChild.textContent = `${groupBy}: ${group} (${groupCount})`;
  };
  for (const [key, { event: e, time }] of entries.slice(0, MAX_ROWS)) {
    const g = String(e[groupBy] ?? "");
    if (g !== group) {
      closeGroup();
      group = g;
      groupCount = 0;
      groupHeader = document.createElement("tr");
      groupHeader.className = "group";
      const th = document.createElement("th");
      th.colSpan = 7;
      groupHeader.appendChild(th);
      frag.appendChild(groupHeader);
    }
    groupCount++;
    const tr = document.createElement("tr");
    tr.className = key === selected ? "event selected" : "event";
    tr.dataset.key = key;
    tr.dataset.host = e.host ?? "";
    tr.dataset.service = e.service ?? "";
    tr.dataset.state = e.state ?? "";
    cell(tr, e.host ?? "");
    cell(tr, e.service ?? "");
    cell(tr, e.state ?? "", `state ${stateClass(e.state)}`);
    cell(tr, formatMetric(e.metric), "num metric");
    const age = cell(tr, formatAge(now - time), "num age");
    age.dataset.time = String(time);
    cell(tr, typeof e.ttl === "number" ? `${formatMetric(e.ttl)}s` : "", "num ttl");
    const desc = cell(tr, e.description ?? "", "desc");
    desc.title = e.description ?? "";
    frag.appendChild(tr);
  }
  closeGroup();
  els.rows.replaceChildren(frag);
  const hidden = entries.length - Math.min(entries.length, MAX_ROWS);
  els.empty.hidden = entries.length > 0 && hidden === 0;
  els.empty.textContent = entries.length === 0
    ? "no events match the query yet"
    : `${hidden} more events not shown; narrow the query`;
  drawChart();
}

function tickAges() {
  const now = Date.now();
  for (const td of els.rows.querySelectorAll("td.age")) {
    td.textContent = formatAge(now - Number(td.dataset.time));
  }
}

// ---- chart --------------------------------------------------------------

function drawChart() {
  if (!selected) {
    els.chartPanel.hidden = true;
    return;
  }
  const [host, service] = splitKey(selected);
  els.chartPanel.hidden = false;
  els.chartTitle.textContent = `${host} / ${service}`;
  const canvas = els.chart;
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 640, h = canvas.clientHeight || 200;
  if (canvas.width !== w * dpr || canvas.height !== h * dpr) {
    canvas.width = w * dpr;
    canvas.height = h * dpr;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#6b7280";

  const points = series.get(selected) ?? [];
  if (points.length === 0) {
    ctx.fillText("no metric values received yet", 12, h / 2);
    return;
  }
  const pad = { left: 56, right: 12, top: 10, bottom: 22 };
  let minY = Math.min(...points.map((p) => p[1]));
  let maxY = Math.max(...points.map((p) => p[1]));
  if (minY === maxY) { minY -= 1; maxY += 1; }
  const minX = points[0][0];
  const lastX = points[points.length - 1][0];
  const maxX = lastX > minX ? lastX : minX + 1000;
  const x = (t) => pad.left + ((t - minX) / (maxX - minX)) * (w - pad.left - pad.right);
  const y = (v) => h - pad.bottom - ((v - minY) / (maxY - minY)) * (h - pad.top - pad.bottom);

  // axes and labels
  ctx.strokeStyle = "#e3e6eb";
  ctx.lineWidth = 1;
  for (const v of [minY, (minY + maxY) / 2, maxY]) {
    ctx.beginPath();
    ctx.moveTo(pad.left, y(v));
    ctx.lineTo(w - pad.right, y(v));
    ctx.stroke();
    ctx.fillText(formatMetric(v), 4, y(v) + 4);
  }
  ctx.fillText(new Date(minX).toLocaleTimeString(), pad.left, h - 6);
  const right = new Date(maxX).toLocaleTimeString();
  ctx.fillText(right, w - pad.right - ctx.measureText(right).width, h - 6);

  // the line, and a dot per value
  ctx.strokeStyle = "#3b82f6";
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach(([t, v], i) => (i ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
  ctx.stroke();
  ctx.fillStyle = "#1d4ed8";
  for (const [t, v] of points) {
    ctx.beginPath();
    ctx.arc(x(t), y(v), 2.5, 0, 2 * Math.PI);
    ctx.fill();
  }
}

// ---- wiring -------------------------------------------------------------

els.form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  subscribe(els.query.value.trim());
});

for (const radio of document.querySelectorAll('#group-by input[name="group"]')) {
  radio.addEventListener("change", () => {
    if (radio.checked) {
      groupBy = radio.value;
      scheduleRender();
    }
  });
}

els.rows.addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr.event");
  if (!tr) return;
  selected = selected === tr.dataset.key ? null : tr.dataset.key;
  scheduleRender();
});

setInterval(tickAges, 1000);

const initial = new URLSearchParams(location.search).get("query");
if (initial !== null) els.query.value = initial;
subscribe(els.query.value.trim());
