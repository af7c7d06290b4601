// The board's dashboard: the live queue, countdowns, filters, breached / at-risk lists,
// escalations by level, the week's attainment, a ticket's timeline. No build step.
import { follow } from "./sse.js";
import { attainmentChart } from "./chart.js";

const KEY = "supportdesk.board.key";
const $ = (id) => document.getElementById(id);
const rows = new Map(); // ticket_id -> row
let stream = null;
let nextCursor = null;
let summaryTimer = null;

function key() { return sessionStorage.getItem(KEY); }

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${key()}` }, cache: "no-store" });
  if (r.status === 401) { askForKey("That key was refused."); throw new Error("unauthorized"); }
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

function askForKey(message = "") {
  sessionStorage.removeItem(KEY);
  if (stream) { stream.stop(); stream = null; }
  $("key-error").textContent = message;
  if (!$("key-dialog").open) $("key-dialog").showModal();
  $("key-input").focus();
}

function filterParams() {
  const p = new URLSearchParams();
  const f = new FormData($("filters"));
  for (const [name, value] of f.entries()) if (value !== "") p.set(name, String(value).trim());
  return p;
}

// --- the queue -----------------------------------------------------------------------------

// Business time: the board sends, per row, the business seconds left as of its read and the
// calendar's coming open periods; the countdown spends only the time inside those periods, so it
// stands still while the calendar is closed. Instants are the server's: the page only measures how
// long ago it received the row (performance.now), so a wrong browser clock changes nothing.
let reloadAsked = false;

function serverNow(row) {
  const bt = row.business_time;
  return bt ? Date.parse(bt.as_of) + (performance.now() - row._received) : Date.now();
}

function businessLeft(bt, at) {
  let spent = 0;
  const from = Date.parse(bt.as_of);
  for (const [s, e] of bt.open_periods) {
    const a = Math.max(Date.parse(s), from), b = Math.min(Date.parse(e), at);
    if (b > a) spent += b - a;
  }
  return bt.remaining_seconds - spent / 1000;
}

function openAt(bt, at) {
  return bt.open_periods.some(([s, e]) => Date.parse(s) <= at && at < Date.parse(e));
}

function nextOpening(bt, at) {
  const next = bt.open_periods.map(([s]) => Date.parse(s)).find((s) => s > at);
  return next === undefined ? null : new Date(next);
}

function dueState(row) {
  if (row.breached) return "red";
  const bt = row.business_time;
  if (bt && businessLeft(bt, serverNow(row)) <= 0) return "red";
  if (!bt && row.next_due_at && new Date(row.next_due_at) <= new Date()) return "red";
  if (row.at_risk) return "amber"; // sla-clock reached one of the policy's warning points
  return "";
}

function duration(seconds) {
  let s = Math.round(Math.abs(seconds));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return d ? `${d}d ${h}h ${m}m` : h ? `${h}h ${m}m ${sec}s` : `${m}m ${sec}s`;
}

function countdown(row) {
  if (!row.next_due_at) {
    if (row.breached) return "breached";
    const running = Object.values(row.clocks ?? {}).some((c) => c.state === "running");
    return running ? "no target (the policy sets none)" : "no running clock";
  }
  const bt = row.business_time;
  const prefix = row.breached ? "breached, " : "";
  if (!bt) { // no calendar known for its policy: wall time to the due instant, said so
    const s = (new Date(row.next_due_at) - new Date()) / 1000;
    return `${prefix}${s < 0 ? "overdue " : ""}${duration(s)} (wall time)`;
  }
  const at = serverNow(row);
  if (at > Date.parse(bt.valid_until) && !reloadAsked) { // past the periods we were given: read again
    reloadAsked = true;
    setTimeout(() => loadTickets().catch(() => {}).finally(() => { reloadAsked = false; }), 0);
  }
  const left = businessLeft(bt, at);
  let text = `${prefix}${left < 0 ? "overdue " : ""}${duration(left)}`;
  if (!openAt(bt, at)) {
    const opens = nextOpening(bt, at);
    const when = opens?.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" });
    text += when ? ` (paused until ${when})` : " (paused)";
  }
  return text;
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (cls) td.className = cls;
  return td;
}

function renderRow(row) {
  const tr = document.createElement("tr");
  tr.tabIndex = 0;
  tr.dataset.ticket = row.ticket_id;
  tr.setAttribute("aria-label", `${row.number ?? row.ticket_id}: ${row.subject ?? ""}. Enter opens the timeline.`);
  const esc = row.escalation_level ? `L${row.escalation_level} ${row.escalation_holder ?? row.escalation_route ?? ""}` : "";
  tr.append(
    cell(row.number ?? "(opening)", "number"), cell(row.subject, "subject"),
    cell(row.customer_id ?? row.requester_email, "customer"), cell(row.priority), cell(row.status), cell(row.queue),
    cell(esc, "escalation"), cell("", "due"),
  );
  tr.addEventListener("click", () => openTimeline(row.ticket_id));
  tr.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openTimeline(row.ticket_id); }
    if (e.key === "ArrowDown") { e.preventDefault(); tr.nextElementSibling?.focus(); }
    if (e.key === "ArrowUp") { e.preventDefault(); tr.previousElementSibling?.focus(); }
  });
  return tr;
}

function sortKey(row) { return [row.next_due_at ? Date.parse(row.next_due_at) : Infinity, row.ticket_id]; }

function redraw() {
  const body = $("tickets").querySelector("tbody");
  const focused = document.activeElement?.dataset?.ticket;
  const sorted = [...rows.values()].sort((a, b) => {
    const [ka, ia] = sortKey(a), [kb, ib] = sortKey(b);
    return ka - kb || (ia < ib ? -1 : ia > ib ? 1 : 0);
  });
  body.replaceChildren(...sorted.map(renderRow));
  tick();
  if (focused) body.querySelector(`tr[data-ticket="${CSS.escape(focused)}"]`)?.focus();
}

function tick() {
  for (const tr of $("tickets").querySelectorAll("tbody tr")) {
    const row = rows.get(tr.dataset.ticket);
    if (!row) continue;
    const state = dueState(row);
    tr.className = state;
    tr.querySelector("td.due").textContent = countdown(row) + (state === "amber" ? " (at risk)" : "");
  }
}

function received(row) {
  row._received = performance.now();
  return row;
}

async function loadTickets(append = false) {
  const p = filterParams();
  p.set("limit", "100");
  if (append && nextCursor) p.set("cursor", nextCursor);
  const page = await api(`/v1/board/tickets?${p}`);
  if (!append) rows.clear();
  for (const t of page.tickets) rows.set(t.ticket_id, received(t));
  nextCursor = page.next_cursor;
  $("more").hidden = !nextCursor;
  redraw();
}

// --- summary panels ------------------------------------------------------------------------

function listOf(ul, items, text) {
  ul.replaceChildren(...items.map((item) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "linkish";
    b.textContent = text(item);
    b.addEventListener("click", () => openTimeline(item.ticket_id));
    li.append(b);
    return li;
  }));
}

async function loadSummary() {
  const s = await api("/v1/board/summary");
  const breached = await api("/v1/board/tickets?breached=true&open=true&limit=20");
  const risk = await api(`/v1/board/tickets?at_risk_within=${s.at_risk_window_seconds}&limit=20`);
  $("breached-count").textContent = `(${s.breached_open})`;
  $("risk-count").textContent = `(${s.at_risk})`;
  listOf($("breached-list"), breached.tickets, (t) => `${t.number ?? t.ticket_id} ${t.subject ?? ""}`);
  listOf($("risk-list"), risk.tickets, (t) => `${t.number ?? t.ticket_id} due ${new Date(t.next_due_at).toLocaleTimeString()}`);
  $("esc-levels").replaceChildren(...(s.escalations_by_level.length ? s.escalations_by_level : [{ level: "-", tickets: 0 }]).map((l) => {
    const li = document.createElement("li");
    li.textContent = l.level === "-" ? "no open escalations" : `level ${l.level}: ${l.tickets}`;
    return li;
  }));
  const week = s.attainment.week.rows;
  attainmentChart($("attainment"), week);
  $("attainment-table").querySelector("tbody").replaceChildren(...week.map((r) => {
    const tr = document.createElement("tr");
    tr.append(cell(r.plan), cell(r.priority), cell(`${r.met_percent ?? "-"}%`), cell(r.decided));
    return tr;
  }));
  const queues = new Set(s.open.map((o) => o.queue).filter(Boolean));
  const select = $("f-queue");
  const known = new Set([...select.options].map((o) => o.value));
  for (const q of queues) if (!known.has(q)) select.append(new Option(q, q));
}

function summarySoon() {
  clearTimeout(summaryTimer);
  summaryTimer = setTimeout(() => loadSummary().catch(() => {}), 500);
}

// --- timeline ------------------------------------------------------------------------------

async function openTimeline(ticketId) {
  const t = await api(`/v1/board/tickets/${encodeURIComponent(ticketId)}`);
  $("timeline-title").textContent = `Timeline of ${t.number ?? t.ticket_id}: ${t.subject ?? ""}`;
  $("timeline").replaceChildren(...t.timeline.map((e) => {
    const li = document.createElement("li");
    li.dataset.topic = e.topic;
    const when = document.createElement("time");
    when.dateTime = e.occurred_at;
    when.textContent = new Date(e.occurred_at).toLocaleString();
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = ` ${e.actor}: `;
    const what = document.createElement("span");
    what.textContent = e.summary;
    const svc = document.createElement("span");
    svc.className = "svc";
    svc.textContent = ` [${e.producer}, ${e.event_type}]`;
    li.append(when, who, what, svc);
    return li;
  }));
  $("timeline-panel").hidden = false;
  $("timeline-close").focus();
}

// --- live ----------------------------------------------------------------------------------

function matches(row) {
  const p = filterParams();
  if (p.get("queue") && row.queue !== p.get("queue")) return false;
  if (p.get("customer") && row.customer_id !== p.get("customer")) return false;
  if (p.get("priority") && row.priority !== p.get("priority")) return false;
  if (p.get("open") && String(row.is_open) !== p.get("open")) return false;
  // Search is the database's (stems, numbers, addresses): only rows the search listed stay live.
  if (p.get("q") && !rows.has(row.ticket_id)) return false;
  return true;
}

function connect() {
  if (stream) stream.stop();
  // Unfiltered on purpose: a ticket that stops matching (closed, moved queue) must leave the view,
  // and a filtered stream would never say so. The filters are applied here, as the list applies them.
  stream = follow("/v1/board/stream", key(), (event, data) => {
    if (event !== "ticket") return;
    if (!matches(data)) {
      if (rows.delete(data.ticket_id)) redraw();
      summarySoon();
      return;
    }
    rows.set(data.ticket_id, received(data));
    redraw();
    summarySoon();
  }, (state) => {
    $("live-state").textContent = state === "live" ? "live" : state;
    if (state === "unauthorized") askForKey("That key was refused.");
  });
}

async function start() {
  $("forget-key").hidden = false;
  await loadTickets();
  await loadSummary();
  connect();
}

$("key-form").addEventListener("submit", (e) => {
  const value = $("key-input").value.trim();
  if (!value) { e.preventDefault(); return; }
  sessionStorage.setItem(KEY, value);
  $("key-input").value = "";
  start().catch(() => {});
});
$("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  loadTickets().then(connect).catch(() => {});
});
$("more").addEventListener("click", () => loadTickets(true).catch(() => {}));
$("timeline-close").addEventListener("click", () => { $("timeline-panel").hidden = true; });
$("forget-key").addEventListener("click", () => askForKey());
setInterval(tick, 1000);

if (key()) start().catch(() => {}); else askForKey();
