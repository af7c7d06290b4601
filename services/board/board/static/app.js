// The board's dashboard: the live queue, countdowns, filters, who holds what (mine, my team's,
// unassigned), the workload, breached / at-risk lists, escalations by level, the week's
// attainment, a ticket's timeline. No build step.
import { follow } from "./sse.js";
import { attainmentChart } from "./chart.js";

const KEY = "supportdesk.board.key";
const $ = (id) => document.getElementById(id);
const rows = new Map(); // ticket_id -> row
let stream = null;
let nextCursor = null;
let summaryTimer = null;
let me = null; // who "me" and "mine" are to the board (GET /v1/board/me)
const presence = new Map(); // `${ticket}\n${agent}` -> {ticket_id, who, activity, until (performance.now())}
let viewing = null; // {ticketId, timer}: this page says it is viewing the ticket whose timeline is open

function key() { return sessionStorage.getItem(KEY); }

async function api(path, init = {}) {
  const headers = { Authorization: `Bearer ${key()}`, ...(init.body ? { "Content-Type": "application/json" } : {}) };
  const r = await fetch(path, { ...init, headers, cache: "no-store" });
  if (r.status === 401) { askForKey("That key was refused."); throw new Error("unauthorized"); }
  if (!r.ok) {
    const problem = r.headers.get("content-type") === "application/problem+json" ? await r.json() : null;
    throw new Error(problem?.detail ?? `${path}: ${r.status}`);
  }
  return r.json();
}

function askForKey(message = "") {
  sessionStorage.removeItem(KEY);
  if (stream) { stream.stop(); stream = null; }
  unview();
  $("key-error").textContent = message;
  if (!$("key-dialog").open) $("key-dialog").showModal();
  $("key-input").focus();
}

// The "Show" choices as the list's people filters: the server resolves "me" and "mine".
const WHO = { mine: ["assignee", "me"], team: ["team", "mine"], unassigned: ["assignee", "none"] };

function filterParams() {
  const p = new URLSearchParams();
  const f = new FormData($("filters"));
  for (const [name, value] of f.entries()) {
    if (value === "") continue;
    if (name === "who") p.set(...WHO[value]);
    else p.set(name, String(value).trim());
  }
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

function waited(row) { // seconds an open ticket nobody holds has waited, now
  return row.unassigned_seconds + (performance.now() - row._received) / 1000;
}

function holder(row) {
  if (row.assignee) return row.assignee_name ?? row.assignee;
  if (row.third_party) return `third party: ${row.third_party}`;
  if (row.unassigned_since) return `unassigned ${duration(waited(row))}`;
  return "";
}

function subjectCell(row) {
  const td = cell(row.subject, "subject");
  const here = document.createElement("span");
  here.className = "presence";
  td.append(here);
  return td;
}

// Others viewing or replying to the ticket, as the stream said, until each expires.
function presenceText(ticketId) {
  const now = performance.now();
  const here = [];
  for (const [k, p] of presence) {
    if (p.until <= now) presence.delete(k);
    else if (p.ticket_id === ticketId) here.push(`${p.who} is ${p.activity}`);
  }
  return here.join(", ");
}

function renderRow(row) {
  const tr = document.createElement("tr");
  tr.tabIndex = 0;
  tr.dataset.ticket = row.ticket_id;
  tr.setAttribute("aria-label", `${row.number ?? row.ticket_id}: ${row.subject ?? ""}. Enter opens the timeline.`);
  const esc = row.escalation_level ? `L${row.escalation_level} ${row.escalation_holder ?? row.escalation_route ?? ""}` : "";
  tr.append(
    cell(row.number ?? "(opening)", "number"), subjectCell(row),
    cell(row.customer_id ?? row.requester_email, "customer"), cell(row.priority), cell(row.status), cell(row.queue),
    cell(holder(row), row.unassigned_since ? "assignee waiting" : "assignee"), cell(row.team_name ?? row.team, "team"),
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
    if (row.unassigned_since) tr.querySelector("td.assignee").textContent = holder(row);
    tr.querySelector("span.presence").textContent = presenceText(row.ticket_id);
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
  let page;
  try {
    page = await api(`/v1/board/tickets?${p}`);
    $("me").textContent = whoAmI();
  } catch (e) { // e.g. "Mine" for a key that is no agent of the directory: say why, show nothing
    $("me").textContent = e.message;
    page = { tickets: [], next_cursor: null };
  }
  if (!append) rows.clear();
  for (const t of page.tickets) rows.set(t.ticket_id, received(t));
  nextCursor = page.next_cursor;
  $("more").hidden = !nextCursor;
  redraw();
  return page.change ?? null;
}

function whoAmI() {
  if (!me) return "";
  if (!me.agent_id) return `${me.caller} is no agent of the directory: "Mine" and "My team's" show nothing.`;
  const teams = me.teams.length ? `, of ${me.teams.join(", ")}` : ", in no team";
  return `Signed in as ${me.name ?? me.agent_id}${teams}.`;
}

// --- summary panels ------------------------------------------------------------------------

async function loadWorkload() {
  const w = await api("/v1/board/workload");
  $("workload").querySelector("tbody").replaceChildren(...w.agents.filter((a) => a.active !== false || a.open).map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.agent = a.agent_id;
    const who = `${a.name ?? a.agent_id}${a.availability ? ` (${a.availability})` : ""}`;
    const open = cell(a.capacity == null ? String(a.open) : `${a.open} / ${a.capacity}`, "open");
    if (a.capacity != null && a.open > a.capacity) open.classList.add("over");
    tr.append(cell(who, "agent"), open, cell(String(a.at_risk), "at-risk"), cell(String(a.breached), "breached"));
    return tr;
  }));
  $("team-pools").replaceChildren(...w.teams.filter((t) => t.team_id || t.unassigned).map((t) => {
    const li = document.createElement("li");
    li.dataset.team = t.team_id ?? "";
    const name = t.name ?? t.team_id ?? "no team";
    li.textContent = t.unassigned
      ? `${name}: ${t.unassigned} unassigned, oldest waiting ${duration(t.oldest_unassigned_seconds)}`
      : `${name}: none unassigned`;
    return li;
  }));
}

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
  await loadWorkload().catch(() => {}); // the panels above stand whatever it answers
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
  view(ticketId);
}

// While a timeline is open the page says it is viewing the ticket, again before the word expires.
function view(ticketId) {
  unview();
  const say = () => api(`/v1/board/tickets/${encodeURIComponent(ticketId)}/presence`, {
    method: "POST", body: JSON.stringify({ activity: "viewing" }),
  }).catch(() => {});
  say();
  viewing = { ticketId, timer: setInterval(say, 10_000) };
}

function unview() {
  if (viewing) clearInterval(viewing.timer);
  viewing = null;
}

// --- live ----------------------------------------------------------------------------------

function matches(row) {
  const p = filterParams();
  if (p.get("queue") && row.queue !== p.get("queue")) return false;
  if (p.get("customer") && row.customer_id !== p.get("customer")) return false;
  if (p.get("priority") && row.priority !== p.get("priority")) return false;
  if (p.get("open") && String(row.is_open) !== p.get("open")) return false;
  const who = p.get("assignee") ?? (p.get("team") ? "mine-team" : "");
  if (who === "me" && (!me?.agent_id || row.assignee !== me.agent_id)) return false;
  if (who === "mine-team" && !(me?.teams ?? []).includes(row.team)) return false;
  if (who === "none" && !row.unassigned_since) return false;
  // Search is the database's (stems, numbers, addresses): only rows the search listed stay live.
  if (p.get("q") && !rows.has(row.ticket_id)) return false;
  return true;
}

function connect(from = null) {
  if (stream) stream.stop();
  // Unfiltered on purpose: a ticket that stops matching (closed, moved queue) must leave the view,
  // and a filtered stream would never say so. The filters are applied here, as the list applies them.
  stream = follow("/v1/board/stream", key(), (event, data) => {
    if (event === "presence") {
      if (me?.agent_id === data.agent) return; // not our own
      presence.set(`${data.ticket_id}\n${data.agent}`, {
        ticket_id: data.ticket_id, who: data.name ?? data.agent, activity: data.activity,
        until: performance.now() + data.expires_in_seconds * 1000,
      });
      tick();
      return;
    }
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
  }, from);
}

async function start() {
  $("forget-key").hidden = false;
  // Who "me" is only matters to "Mine" and "My team's": without it the rest of the board still works.
  me = await api("/v1/board/me").catch(() => null);
  const from = await loadTickets();
  await loadSummary();
  connect(from);
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
  loadTickets().then((from) => connect(from)).catch(() => {});
});
for (const radio of document.querySelectorAll('#filters input[name="who"]')) { // a choice applies at once
  radio.addEventListener("change", () => $("filters").requestSubmit());
}
$("more").addEventListener("click", () => loadTickets(true).catch(() => {}));
$("timeline-close").addEventListener("click", () => { $("timeline-panel").hidden = true; unview(); });
$("forget-key").addEventListener("click", () => askForKey());
setInterval(tick, 1000);

if (key()) start().catch(() => {}); else askForKey();
