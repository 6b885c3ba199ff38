// The operator's page: reads the REST API of `hedgeline serve` every 5 s
// and renders health, PnL, the cumulative PnL chart, positions and the
// latest orders. Columns for fields the API does not (yet) send are left
// out, so the page fits older and newer servers.

import { money, group, sign, sum, sub } from "./decimal.js";
import { color, series, draw } from "./chart.js";

const REFRESH_MS = 5000;
const ORDERS_SHOWN = 20;
const BUCKETS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400 };
// auto picks the smallest bucket giving at most this many per symbol.
const AUTO_MAX_POINTS = 240;
// A desk with many symbols: the chart draws the CHART_MAX with the largest
// realized PnL either way, and asks the API for their history only (1000
// symbols at hourly buckets over a week is tens of MB).
const CHART_MAX = 12;

const $ = (id) => document.getElementById(id);

const state = {
  paused: false,
  timer: 0,
  gen: 0, // the newest loop; an older one in flight does not reschedule
  autoBucket: 3600, // the API's default until the span is known
  hidden: new Set(),
  symbols: [], // every symbol seen, sorted: its index is its color
  history: { list: [], bucket: 3600 },
  chartSymbols: null, // null: every symbol; else the ones the chart asks for
};

// ---------------------------------------------------------------------------
// Fetching

class APIError extends Error {}

async function getJSON(path, acceptCodes = []) {
  let resp;
  try {
    resp = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
  } catch (e) {
    throw new APIError(`${path}: unreachable (${e.message})`);
  }
  let body;
  try {
    body = await resp.json();
  } catch {
    throw new APIError(`${path}: ${resp.status} ${resp.statusText}, not JSON`);
  }
  if (!resp.ok && !acceptCodes.includes(resp.status)) {
    throw new APIError(`${path}: ${resp.status}: ${(body && body.error) || resp.statusText}`);
  }
  return body;
}

// ---------------------------------------------------------------------------
// Formatting (decimals stay strings; times and counts are plain numbers)

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().slice(5, 19).replace("T", " ");
}

function fmtDuration(sec) {
  if (!Number.isFinite(sec) || sec < 0) return "";
  if (sec < 1) return `${Math.round(sec * 1000)} ms`;
  if (sec < 60) return `${sec.toFixed(sec < 10 ? 2 : 1)} s`;
  const m = Math.floor(sec / 60), s = Math.floor(sec % 60);
  if (m < 120) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

const seconds = (a, b) => (Date.parse(b) - Date.parse(a)) / 1000;

// tone colors a shown amount by its sign (a zero after rounding has none).
const tone = (shown, dir) => ["neg", "", "pos"][sign(shown.replaceAll(",", "")) * dir + 1];

// A column: field is the JSON field (td data-field), kind how it shows.
// optional columns appear only when some row carries the field.
const KINDS = {
  text: (v) => ({ text: v == null ? "" : String(v) }),
  money: (v) => ({ text: money(v), value: v, cls: "num " + tone(money(v), 1) }),
  // a cost: positive is bad
  cost: (v) => ({ text: money(v), value: v, cls: "num " + tone(money(v), -1) }),
  dec: (v) => ({ text: group(String(v)), value: v, cls: "num" }),
  int: (v) => ({ text: String(v), value: String(v), cls: "num" }),
  time: (v) => ({ text: fmtTime(v), value: v, cls: "time" }),
};

function cell(tr, field, kind, v, title) {
  const td = document.createElement("td");
  td.dataset.field = field;
  if (v === undefined || v === null || v === "") {
    td.textContent = "";
    td.dataset.value = "";
  } else {
    const f = KINDS[kind](v);
    td.textContent = f.text;
    if (f.value !== undefined) {
      td.dataset.value = String(f.value);
      if (kind === "money" || kind === "cost" || kind === "dec") td.title = String(f.value);
    }
    if (f.cls) td.className = f.cls.trim();
  }
  if (title) td.title = title;
  tr.appendChild(td);
  return td;
}

function header(table, cols) {
  const tr = document.createElement("tr");
  for (const c of cols) {
    const th = document.createElement("th");
    th.textContent = c.label;
    th.dataset.field = c.field;
    th.scope = "col";
    if (c.title) th.title = c.title;
    if (c.kind !== "text" && c.kind !== "time") th.className = "num";
    tr.appendChild(th);
  }
  table.tHead.replaceChildren(tr);
}

const present = (rows, cols) => cols.filter((c) => !c.optional || rows.some((r) => r[c.field] !== undefined));

// ---------------------------------------------------------------------------
// Health strip

function pill(kind, ok, label, detail, title) {
  const li = document.createElement("li");
  li.className = "pill " + (ok === true ? "ok" : ok === false ? "bad" : "");
  li.dataset.check = kind;
  if (ok !== null) li.dataset.ok = String(ok);
  const dot = document.createElement("span");
  dot.className = "dot";
  const b = document.createElement("b");
  b.textContent = detail;
  li.append(dot, label + " ", b);
  if (title) li.title = title;
  return li;
}

function renderHealth(res) {
  const ul = $("health");
  if (res.status === "rejected") {
    ul.dataset.status = "unreachable";
    ul.replaceChildren(pill("service", false, "API", "unreachable", res.reason.message));
    return;
  }
  const h = res.value;
  ul.dataset.status = h.status;
  const items = [pill("service", h.status === "ready", "API", h.status)];
  const check = (name, label, c) => {
    if (!c) return pill(name, null, label, "not configured", `serve runs without ${label}`);
    return pill(name, c.ok, label, c.ok ? `${c.latency_ms.toFixed(1)} ms` : "down", c.error || `reachable in ${c.latency_ms} ms`);
  };
  items.push(check("clickhouse", "ClickHouse", h.clickhouse), check("kafka", "Kafka", h.kafka));
  if (h.consumer_lag) {
    const groups = Object.entries(h.consumer_lag).sort(([a], [b]) => (a < b ? -1 : 1));
    const total = groups.reduce((n, [, g]) => n + (g.total || 0), 0);
    const failed = groups.filter(([, g]) => g.error);
    const title = groups.map(([name, g]) => `${name}: ${g.error ? "error: " + g.error : g.total + " behind (" + g.state + ")"}`).join("\n");
    const li = pill("lag", failed.length === 0, "lag", `${total} in ${groups.length} groups`, title);
    li.dataset.total = String(total);
    items.push(li);
  }
  ul.replaceChildren(...items);
}

// ---------------------------------------------------------------------------
// PnL table

const PNL_COLUMNS = [
  { field: "symbol", label: "Symbol", kind: "text" },
  { field: "realized_pnl", label: "Realized", kind: "money", total: true, optional: true, title: "FIFO realized PnL, USD" },
  { field: "unrealized_pnl", label: "Unrealized", kind: "money", total: true, optional: true, title: "open FIFO lots at the mark price, USD" },
  { field: "total_pnl", label: "Total", kind: "money", total: true, optional: true, title: "realized + unrealized, USD" },
  { field: "mark_price", label: "Mark", kind: "dec", optional: true, title: "price the open lots are marked at" },
  { field: "mark_source", label: "Mark source", kind: "text", optional: true },
  { field: "counter_trade_pnl", label: "Counter-trade", kind: "money", total: true, optional: true, title: "realized by an off-chain fill closing an on-chain lot within 300 s" },
  { field: "onchain_netting_pnl", label: "On-chain netting", kind: "money", total: true, optional: true, title: "realized by an on-chain fill closing an on-chain lot" },
  { field: "directional_exposure_pnl", label: "Directional", kind: "money", total: true, optional: true, title: "every other realized amount" },
  { field: "net_position", label: "Net", kind: "dec", optional: true, title: "net position, shares" },
  { field: "onchain_volume", label: "On-chain vol", kind: "dec", optional: true, title: "shares, both directions" },
  { field: "offchain_volume", label: "Off-chain vol", kind: "dec", optional: true, title: "shares, both directions" },
  { field: "fills", label: "Fills", kind: "int", total: true, optional: true },
];

function renderPnL(rows) {
  const table = $("pnl");
  const cols = present(rows, PNL_COLUMNS);
  header(table, cols);
  const body = rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.symbol = r.symbol;
    for (const c of cols) {
      const td = cell(tr, c.field, c.kind, r[c.field]);
      if (c.field === "symbol") {
        td.className = "sym";
        const sw = document.createElement("span");
        sw.className = "swatch";
        sw.style.backgroundColor = colorOf(r.symbol);
        td.prepend(sw);
      }
    }
    return tr;
  });
  table.tBodies[0].replaceChildren(...body);
  const foot = [];
  if (rows.length > 1) {
    const tr = document.createElement("tr");
    tr.className = "total";
    for (const c of cols) {
      if (c.field === "symbol") cell(tr, c.field, "text", "Total");
      else if (!c.total) cell(tr, c.field, "text", "");
      else if (c.kind === "int") cell(tr, c.field, "int", rows.reduce((n, r) => n + (r[c.field] || 0), 0));
      else cell(tr, c.field, "money", sum(rows.map((r) => r[c.field]).filter((v) => v != null)));
    }
    foot.push(tr);
  }
  table.tFoot.replaceChildren(...foot);
  $("pnl-empty").hidden = rows.length > 0;
}

// ---------------------------------------------------------------------------
// Chart

function colorOf(sym) {
  let i = state.symbols.indexOf(sym);
  if (i < 0) {
    state.symbols.push(sym);
    state.symbols.sort();
    i = state.symbols.indexOf(sym);
  }
  return color(i);
}

function bucketSeconds() {
  const v = $("bucket").value;
  return v === "auto" ? state.autoBucket : BUCKETS[v];
}

// chartSymbols picks the CHART_MAX symbols with the largest |realized|
// (the float is only for ranking), or null when all of them fit.
function chartSymbols(pnlRows) {
  if (pnlRows.length <= CHART_MAX) return null;
  return pnlRows
    .map((r) => ({ symbol: r.symbol, size: Math.abs(parseFloat(r.realized_pnl)) || 0 }))
    .sort((a, b) => b.size - a.size || (a.symbol < b.symbol ? -1 : 1))
    .slice(0, CHART_MAX)
    .map((r) => r.symbol)
    .sort();
}

function historyURL(bucket) {
  const only = state.chartSymbols ? `&symbol=${encodeURIComponent(state.chartSymbols.join(","))}` : "";
  return `/api/pnl/history?bucket=${bucket}${only}`;
}

async function fetchHistory() {
  let bucket = bucketSeconds();
  let rows = await getJSON(historyURL(bucket));
  if ($("bucket").value === "auto" && rows.length > 0) {
    // The span is known once a first answer is in: refetch once if another
    // bucket suits it better.
    const times = rows.map((r) => Date.parse(r.bucket) / 1000);
    const span = Math.max(...times) + bucket - Math.min(...times);
    const pick = Object.values(BUCKETS).find((b) => span / b <= AUTO_MAX_POINTS) || BUCKETS["24h"];
    state.autoBucket = pick;
    if (pick !== bucket) {
      bucket = pick;
      rows = await getJSON(historyURL(bucket));
    }
  }
  return { rows, bucket };
}

function renderChart() {
  const { list } = state.history;
  for (const s of list) colorOf(s.symbol);
  draw($("pnl-chart"), $("legend"), list, {
    colorOf,
    hidden: state.hidden,
    onToggle: (sym) => {
      if (state.hidden.has(sym)) state.hidden.delete(sym);
      else state.hidden.add(sym);
      renderChart();
    },
  });
  $("pnl-chart").dataset.bucket = String(state.history.bucket);
  const note = $("chart-note");
  note.hidden = !state.chartSymbols;
  note.textContent = state.chartSymbols ? `top ${state.chartSymbols.length} of ${state.symbolCount} symbols by realized PnL` : "";
}

// ---------------------------------------------------------------------------
// Positions and orders

function renderPositions(rows) {
  const table = $("positions");
  const pending = (p) => !!p.pending_execution_id;
  rows = rows.slice().sort((a, b) => pending(b) - pending(a) || (a.symbol < b.symbol ? -1 : 1));
  const cols = [
    { field: "symbol", label: "Symbol", kind: "text" },
    { field: "net", label: "Net", kind: "dec" },
    { field: "hedged_shares", label: "Hedged", kind: "dec" },
    { field: "pending_shares", label: "Pending hedge", kind: "dec", title: "shares of the hedge in flight" },
  ];
  const withAge = rows.some((r) => r.pending_age_seconds !== undefined);
  if (withAge) cols.push({ field: "pending_age_seconds", label: "Pending for", kind: "text" });
  cols.push(
    { field: "threshold_value", label: "Threshold", kind: "text" },
    { field: "broker", label: "Broker", kind: "text" },
    { field: "last_price_usdc", label: "Last price", kind: "dec" },
    { field: "status", label: "Status", kind: "text" },
    { field: "last_updated", label: "Updated (UTC)", kind: "time" },
  );
  header(table, cols);
  table.tBodies[0].replaceChildren(...rows.map((p) => {
    const tr = document.createElement("tr");
    tr.dataset.symbol = p.symbol;
    tr.dataset.pending = String(pending(p));
    if (pending(p)) tr.className = "pending";
    for (const c of cols) {
      let td;
      switch (c.field) {
        case "pending_shares":
          td = cell(tr, c.field, "dec", pending(p) ? p.pending_shares : null, pending(p) ? `execution ${p.pending_execution_id}` : "");
          if (pending(p) && p.pending_direction) td.prepend(p.pending_direction + " ");
          break;
        case "pending_age_seconds":
          td = cell(tr, c.field, "text", pending(p) && p.pending_age_seconds != null ? fmtDuration(Number(p.pending_age_seconds)) : null);
          if (pending(p)) td.dataset.value = String(p.pending_age_seconds ?? "");
          break;
        case "threshold_value":
          cell(tr, c.field, "text", p.threshold_kind === "dollars" ? `$${group(p.threshold_value)}` : `${group(p.threshold_value)} ${p.threshold_kind === "shares" ? "sh" : p.threshold_kind}`)
            .dataset.value = p.threshold_value;
          break;
        case "status":
          td = cell(tr, c.field, "text", p.status, p.failure || "");
          td.className = "badge " + (p.failure ? "bad" : "");
          break;
        default:
          cell(tr, c.field, c.kind, p[c.field]);
      }
    }
    return tr;
  }));
  const n = rows.filter(pending).length;
  $("pending-count").textContent = rows.length ? `${rows.length} · ${n} pending hedge${n === 1 ? "" : "s"}` : "";
  $("pending-count").dataset.pending = String(n);
  $("positions-empty").hidden = rows.length > 0;
}

// slippage per share against the reference price, positive when worse
// (bought above it, sold below it), exact.
function slippage(o) {
  if (o.slippage_per_share != null) return o.slippage_per_share;
  if (o.avg_price == null || o.reference_price == null) return null;
  return o.direction === "Sell" ? sub(o.reference_price, o.avg_price) : sub(o.avg_price, o.reference_price);
}

function renderOrders(rows) {
  const table = $("orders");
  const cols = [
    { field: "placed_at", label: "Placed (UTC)", kind: "time" },
    { field: "symbol", label: "Symbol", kind: "text" },
    { field: "direction", label: "Side", kind: "text" },
    { field: "shares", label: "Shares", kind: "dec" },
    { field: "shares_filled", label: "Filled", kind: "dec" },
    { field: "status", label: "Status", kind: "text" },
    { field: "avg_price", label: "Avg price", kind: "dec" },
    { field: "slippage", label: "Slippage/sh", kind: "cost", title: "USD per share against the reference price; positive: worse" },
    { field: "latency", label: "Latency", kind: "text", title: "the triggering on-chain fill's block to the hedge's fill (placed to filled when unknown)" },
    { field: "broker", label: "Broker", kind: "text" },
  ];
  header(table, cols);
  table.tBodies[0].replaceChildren(...rows.slice(0, ORDERS_SHOWN).map((o) => {
    const tr = document.createElement("tr");
    tr.dataset.executionId = o.execution_id;
    tr.dataset.status = o.status;
    for (const c of cols) {
      switch (c.field) {
        case "status": {
          const td = cell(tr, c.field, "text", o.status, o.error || o.failure || "");
          td.className = "badge " + ({ Filled: "ok", Failed: "bad" }[o.status] || "wait");
          break;
        }
        case "slippage": {
          const td = cell(tr, c.field, "cost", slippage(o));
          if (o.reference_price != null) td.title = `reference ${o.reference_price}, average ${o.avg_price ?? "-"}`;
          break;
        }
        case "latency": {
          const s = o.hedge_latency_ms != null ? o.hedge_latency_ms / 1000 : o.filled_at ? seconds(o.placed_at, o.filled_at) : null;
          cell(tr, c.field, "text", s == null ? null : fmtDuration(s)).dataset.value = s == null ? "" : String(s);
          break;
        }
        default:
          cell(tr, c.field, c.kind, o[c.field]);
      }
    }
    return tr;
  }));
  $("orders-empty").hidden = rows.length > 0;
}

// ---------------------------------------------------------------------------
// The refresh loop

async function refresh() {
  // PnL first: it says which symbols the chart asks history for.
  const pnl = await getJSON("/api/pnl").then((value) => ({ status: "fulfilled", value }), (reason) => ({ status: "rejected", reason }));
  if (pnl.status === "fulfilled") {
    state.chartSymbols = chartSymbols(pnl.value);
    state.symbolCount = pnl.value.length;
  }
  const [health, hist, positions, orders] = await Promise.allSettled([
    getJSON("/api/health?ready=true", [503]),
    fetchHistory(),
    getJSON("/api/positions"),
    getJSON(`/api/orders?limit=${ORDERS_SHOWN}`),
  ]);
  renderHealth(health);
  const errors = [];
  const apply = (res, fn) => (res.status === "fulfilled" ? fn(res.value) : errors.push(res.reason.message));
  apply(pnl, (rows) => { for (const r of rows) colorOf(r.symbol); renderPnL(rows); });
  apply(hist, ({ rows, bucket }) => { state.history = { list: series(rows, bucket), bucket }; renderChart(); });
  apply(positions, renderPositions);
  apply(orders, renderOrders);

  const err = $("error");
  err.hidden = errors.length === 0;
  err.textContent = errors.join("\n");
  const now = new Date();
  const upd = $("updated");
  if (errors.length === 0) {
    upd.dataset.updated = now.toISOString();
    upd.textContent = `updated ${now.toLocaleTimeString()}`;
    upd.className = "";
  } else {
    upd.className = "stale";
    upd.textContent = upd.dataset.updated ? `stale since ${new Date(upd.dataset.updated).toLocaleTimeString()}` : "no data";
  }
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
}

async function loop() {
  clearTimeout(state.timer);
  const gen = ++state.gen;
  try {
    await refresh();
  } catch (e) {
    $("error").hidden = false;
    $("error").textContent = `page error: ${e.message}`;
  }
  if (gen === state.gen && !state.paused && !document.hidden) state.timer = setTimeout(loop, REFRESH_MS);
}

$("pause").addEventListener("click", () => {
  state.paused = !state.paused;
  $("pause").textContent = state.paused ? "resume" : "pause";
  $("pause").setAttribute("aria-pressed", String(state.paused));
  if (!state.paused) loop();
  else clearTimeout(state.timer);
});
$("bucket").addEventListener("change", loop);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && !state.paused) loop();
});
let resizeTimer = 0;
new ResizeObserver(() => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(renderChart, 100);
}).observe($("chart"));

loop();
