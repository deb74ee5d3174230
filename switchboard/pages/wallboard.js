// The supervisor wallboard: queues and agents, redrawn from the service's live SSE snapshot.
import {clock, gate} from "/static/session.js";

const $ = (id) => document.getElementById(id);
const LABELS = {logged_out: "Logged out", available: "Available", reserved: "Call coming", ringing: "Ringing",
                on_call: "On a call", wrap_up: "Wrap-up", paused: "Paused"};

function row(cells, attrs = {}) {
  const tr = document.createElement("tr");
  for (const [i, value] of cells.entries()) {
    const cell = document.createElement(i === 0 ? "th" : "td");
    if (i === 0) cell.scope = "row";
    if (value instanceof Node) cell.append(value); else cell.textContent = value;
    tr.append(cell);
  }
  Object.assign(tr.dataset, attrs);
  return tr;
}

function badge(state) {
  const span = document.createElement("span");
  span.className = "badge";
  span.dataset.state = state;
  span.textContent = LABELS[state] || state;
  return span;
}

function draw(data) {
  $("stale").hidden = !data.stale;
  $("sl-threshold").textContent = `(${data.threshold_seconds} s)`;
  $("queues").replaceChildren(...data.queues.map((q) => row([
    q.queue, q.waiting === null ? "—" : String(q.waiting), clock(q.longest_wait),
    q.service_level === null ? "—" : `${Math.round(q.service_level * 100)} %`, String(q.answered),
    String(q.abandoned)], {queue: q.queue, waiting: String(q.waiting)})));
  const order = ["on_call", "ringing", "reserved", "wrap_up", "available", "paused", "logged_out"];
  const agents = [...data.agents].sort((a, b) => order.indexOf(a.state) - order.indexOf(b.state) || a.id.localeCompare(b.id));
  $("agents").replaceChildren(...agents.map((a) => row([
    `${a.name} (${a.id})`, badge(a.state), clock(a.in_state_seconds) + (a.reason ? ` · ${a.reason}` : "")],
    {agent: a.id, state: a.state})));
  $("state-counts").textContent = order.filter((s) => data.states[s]).map((s) => `${LABELS[s]}: ${data.states[s]}`).join(" · ");
}

gate("supervisor", () => {
  $("board").hidden = false;
  const stream = new EventSource("/wallboard/events");
  stream.addEventListener("wallboard", (event) => draw(JSON.parse(event.data)));
  stream.addEventListener("stale", () => { $("stale").hidden = false; });
  stream.addEventListener("error", () => { $("stale").hidden = false; });
});
