// The agent desktop: my state and its buttons, the caller's card the moment my phone rings, my calls today.
import {clock, gate} from "/static/session.js";

const $ = (id) => document.getElementById(id);
const BUSY = new Set(["reserved", "ringing", "on_call", "wrap_up"]);
const LABELS = {logged_out: "Logged out", available: "Available", reserved: "Call coming", ringing: "Ringing",
                on_call: "On a call", wrap_up: "Wrap-up", paused: "Paused"};
let me = null;          // the last /agent/me answer
let offset = 0;         // server clock minus ours, in ms
let popShownAt = 0;

function text(id, value) { $(id).textContent = value === null || value === undefined || value === "" ? "—" : value; }

function renderState() {
  const state = me.state;
  const badge = $("state");
  badge.textContent = LABELS[state] || state;
  badge.dataset.state = state;
  $("state-reason").textContent = state === "paused" && me.reason ? `(${me.reason})` : "";
  $("btn-available").disabled = !(state === "logged_out" || state === "paused");
  $("btn-pause").disabled = state === "logged_out" || state === "paused";
  $("pause-reason").disabled = $("btn-pause").disabled;
  $("btn-resume").disabled = state !== "paused";
  $("btn-logout").disabled = BUSY.has(state) && state !== "wrap_up";
  tick();
}

function tick() {
  if (!me) return;
  const now = Date.now() + offset;
  $("state-since").textContent = me.since_ms ? `for ${clock((now - me.since_ms) / 1000)}` : "";
  const wrap = $("wrapup");
  if (me.state === "wrap_up") {
    wrap.hidden = false;
    $("wrapup-left").textContent = String(Math.max(0, Math.ceil(me.wrap_up_seconds - (now - me.since_ms) / 1000)));
  } else {
    wrap.hidden = true;
  }
}

function renderPop(pop) {
  if (!pop) {
    $("pop-body").hidden = true;
    $("pop-empty").hidden = false;
    $("pop").dataset.active = "no";
    return;
  }
  popShownAt = Date.now();
  const customer = pop.customer || {};
  $("pop-kind").textContent = pop.event === "answered" ? "Connected" : "Ringing";
  $("pop-kind").dataset.state = pop.event === "answered" ? "on_call" : "ringing";
  text("pop-name", customer.name || "Unknown caller");
  text("pop-segment", pop.segment);
  text("pop-confidence", {ani: "caller ID", verified: "verified (account + secret)", none: "not recognised"}[pop.confidence] || pop.confidence);
  text("pop-language", pop.language || customer.language);
  text("pop-waited", pop.waited_seconds === null ? null : clock(pop.waited_seconds));
  text("pop-intents", (pop.intents || []).join(", "));
  text("pop-path", (pop.ivr_path || []).join(" → "));
  const contacts = customer.recent_contacts || [];
  const last = contacts.length ? contacts[contacts.length - 1] : null;
  text("pop-last", last ? describeContact(last) : null);
  const cases = $("pop-cases");
  cases.replaceChildren();
  for (const c of customer.open_cases || []) {
    const item = document.createElement("li");
    item.textContent = typeof c === "string" ? c : [c.id, c.title].filter(Boolean).join(": ");
    cases.append(item);
  }
  if (!cases.children.length) {
    const none = document.createElement("li");
    none.textContent = "none";
    cases.append(none);
  }
  $("pop-empty").hidden = true;
  $("pop-body").hidden = false;
  $("pop").dataset.active = "yes";
}

function describeContact(contact) {
  if (typeof contact === "string") return contact;
  const at = contact.at ? new Date(Number(contact.at) * 1000).toLocaleString() : "";
  return [at, contact.channel, contact.intent, contact.outcome].filter(Boolean).join(" · ") || JSON.stringify(contact);
}

function renderCalls(calls) {
  const body = $("calls");
  body.replaceChildren();
  for (const call of calls) {
    const row = document.createElement("tr");
    for (const value of [new Date(call.at * 1000).toLocaleTimeString(), call.customer || "Unknown caller",
                         call.segment || "—", call.answered ? "yes" : "no"]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.append(cell);
    }
    body.append(row);
  }
  $("calls-empty").hidden = calls.length > 0;
}

async function refresh() {
  const reply = await fetch("/agent/me", {credentials: "same-origin"});
  if (reply.status === 401) { location.reload(); return; }
  if (!reply.ok) return;
  me = await reply.json();
  offset = me.now_ms - Date.now();
  renderState();
  renderCalls(me.calls_today);
  if (me.current_pop && $("pop-body").hidden) renderPop(me.current_pop);
  if (!BUSY.has(me.state) && !$("pop-body").hidden && Date.now() - popShownAt > 5000) renderPop(null);
}

async function act(action, reason = "") {
  $("action-error").textContent = "";
  const reply = await fetch("/agent/action", {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({action, reason}),
  });
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) $("action-error").textContent = body.error || "that did not work";
  await refresh();
}

function start(person) {
  $("desk").hidden = false;
  $("btn-available").addEventListener("click", () => act(me && me.state === "paused" ? "resume" : "login"));
  $("btn-pause").addEventListener("click", () => act("pause", $("pause-reason").value));
  $("btn-resume").addEventListener("click", () => act("resume"));
  $("btn-logout").addEventListener("click", () => act("logout"));
  refresh().then(() => {
    const select = $("pause-reason");
    for (const reason of me ? me.pause_reasons : []) {
      const option = document.createElement("option");
      option.value = reason;
      option.textContent = reason;
      select.append(option);
    }
  });
  const stream = new EventSource(`/cti/agents/${encodeURIComponent(person.name)}/events`);
  stream.addEventListener("screenpop", (event) => {
    renderPop(JSON.parse(event.data));
    refresh();
  });
  setInterval(refresh, 2000);
  setInterval(tick, 250);
}

gate("agent", start);
