// The supervisor's wallboard: agents, live calls, queues and campaign counters from
// /api/live (a snapshot, then deltas), listen/whisper/barge, and pop-up messages to agents.
"use strict";

const live = { agents: new Map(), calls: new Map(), queues: new Map(), counters: new Map(), spy: null, sent: [] };

function callOf(agentId) {
  for (const c of live.calls.values()) if (c.agent_id === agentId) return c;
  return null;
}

function campaignName(id) {
  const c = live.counters.get(id);
  return c ? c.name : (id === null || id === undefined ? t("none") : "#" + id);
}

function render() {
  renderCounters();
  renderMailings();
  renderAgents();
  renderCalls();
  renderQueues();
  renderSpy();
  renderTargets();
  tick();
}

function renderCounters() {
  const body = $("#counters tbody");
  body.replaceChildren();
  for (const c of [...live.counters.values()].sort((a, b) => a.campaign_id - b.campaign_id)) {
    body.append(el("tr", { dataset: { campaign: c.campaign_id } }, el("td", {}, c.name),
      el("td", {}, c.dial_level.toFixed(2)), el("td", {}, c.attempts_today), el("td", {}, c.answers_today),
      el("td", {}, c.drops_today), el("td", { class: "abandon" }, pct(c.abandon_today)), el("td", {}, pct(c.abandon_30d))));
  }
}

// Mailings and their progress per segment and channel, polled (they change by the second,
// not by the event).
let mailings = [];

async function pollMailings() {
  try {
    mailings = (await api("GET", "/api/mailings")).mailings;
    renderMailings();
  } catch (e) { /* the wallboard goes on; the next poll tries again */ }
}

function renderMailings() {
  const body = $("#mailings tbody");
  body.replaceChildren();
  for (const m of mailings) {
    for (const r of m.rows) {
      body.append(el("tr", { dataset: { mailing: m.name } }, el("td", {}, m.name), el("td", {}, m.status),
        el("td", {}, r.segment || t("everyone_else")), el("td", {}, r.channel || t("no_channel")),
        el("td", {}, r.planned), el("td", {}, r.sent), el("td", {}, r.delivered), el("td", {}, r.failed),
        el("td", {}, r.left_out), el("td", {}, r.opted_out), el("td", {}, r.parts)));
    }
  }
}

function renderAgents() {
  const body = $("#agents tbody");
  body.replaceChildren();
  for (const a of [...live.agents.values()].sort((x, y) => x.agent_id - y.agent_id)) {
    const call = callOf(a.agent_id);
    const canSpy = a.state === "TALKING" && !live.spy;
    const spyButtons = ["listen", "whisper", "barge"].map((mode) =>
      el("button", { class: "spy " + mode, dataset: { mode }, disabled: !canSpy,
        onclick: () => startSpy(a.agent_id, mode) }, t(mode)));
    body.append(el("tr", { dataset: { agent: a.agent_id } },
      el("td", {}, a.name ? `${a.name} (${a.login})` : a.login),
      el("td", {}, el("span", { class: "state-badge", dataset: { state: a.state } },
        t("s_" + a.state) + (a.reason && a.state === "PAUSED" ? " (" + a.reason + ")" : ""))),
      el("td", { class: "timer", dataset: { since: a.since } }, since(a.since)),
      el("td", {}, call ? call.phone : ""),
      el("td", { class: "timer", dataset: { since: call ? call.started_at : "" } }, call ? since(call.started_at) : ""),
      el("td", { class: "actions" }, ...spyButtons)));
  }
}

function renderCalls() {
  const body = $("#calls tbody");
  body.replaceChildren();
  for (const c of [...live.calls.values()].sort((a, b) => a.started_at.localeCompare(b.started_at))) {
    const a = live.agents.get(c.agent_id);
    const who = c.lead_name ? `${c.lead_name} ${c.phone}` : c.phone;
    body.append(el("tr", { dataset: { call: c.call_id, direction: c.direction } },
      el("td", {}, campaignName(c.campaign_id)),
      el("td", {}, c.direction === "inbound" ? `${who} (${t("inbound")})` : who),
      el("td", {}, a ? a.login : t("none")),
      el("td", { class: "timer", dataset: { since: c.started_at } }, since(c.started_at))));
  }
}

function renderQueues() {
  const body = $("#queues tbody");
  body.replaceChildren();
  for (const q of live.queues.values()) {
    body.append(el("tr", {}, el("td", {}, q.name), el("td", {}, q.waiting),
      el("td", { class: "timer", dataset: { since: q.oldest_since || "" } }, since(q.oldest_since))));
  }
}

function renderSpy() {
  const s = live.spy;
  $("#spy-card").hidden = !s;
  if (!s) return;
  const a = live.agents.get(s.agent_id);
  $("#spy-agent").textContent = a ? a.login : "#" + s.agent_id;
  $("#spy-mode").textContent = t(s.mode);
  $("#spy-state").textContent = s.state === "calling" ? t("calling_you") : "";
  for (const b of document.querySelectorAll(".spy-switch")) {
    b.disabled = s.state !== "active" || b.dataset.mode === s.mode;
    b.classList.toggle("on", b.dataset.mode === s.mode);
  }
}

function renderTargets() {
  const agentSel = $("#msg-agent"), campSel = $("#msg-campaign");
  const keepA = agentSel.value, keepC = campSel.value;
  agentSel.replaceChildren(...[...live.agents.values()].map((a) =>
    el("option", { value: a.agent_id }, a.name ? `${a.name} (${a.login})` : a.login)));
  campSel.replaceChildren(...[...live.counters.values()].map((c) => el("option", { value: c.campaign_id }, c.name)));
  if (keepA) agentSel.value = keepA;
  if (keepC) campSel.value = keepC;
  const ul = $("#sent");
  ul.replaceChildren();
  for (const m of live.sent.slice(0, 30)) {
    const a = live.agents.get(m.agent_id);
    ul.append(el("li", { class: m.read_at ? "read" : "unread", dataset: { id: m.id } },
      el("span", { class: "muted" }, fmtTime(m.created_at) + " → " + (a ? a.login : m.agent_id) + ": "), m.body,
      m.read_at ? el("span", { class: "muted" }, " ✓ " + t("read")) : null));
  }
}

function tick() {
  for (const td of document.querySelectorAll("td.timer")) td.textContent = since(td.dataset.since);
}

async function startSpy(agentId, mode) {
  live.spy = { agent_id: agentId, mode, state: "calling" };
  render();
  try {
    live.spy = await api("POST", "/api/spy", { agent_id: agentId, mode });
  } catch (e) {
    live.spy = null;
    flash(e.message, true);
  }
  render();
}

async function switchSpy(mode) {
  try { live.spy = await api("POST", `/api/spy/${live.spy.id}/mode`, { mode }); } catch (e) { flash(e.message, true); }
  render();
}

async function stopSpy() {
  if (!live.spy || !live.spy.id) return;
  try { await api("DELETE", `/api/spy/${live.spy.id}`); } catch (e) { flash(e.message, true); }
  live.spy = null;
  render();
}

function onLive(msg) {
  switch (msg.type) {
    case "snapshot":
      syncClock(msg.now);
      live.agents = new Map(msg.agents.map((a) => [a.agent_id, a]));
      live.calls = new Map(msg.calls.map((c) => [c.call_id, c]));
      live.queues = new Map(msg.queues.map((q) => [q.name, q]));
      live.counters = new Map(msg.counters.map((c) => [c.campaign_id, c]));
      break;
    case "agent": live.agents.set(msg.agent.agent_id, msg.agent); break;
    case "call_started": live.calls.set(msg.call.call_id, msg.call); break;
    case "call_ended": live.calls.delete(msg.call_id); break;
    case "queue":
      if (msg.queue.waiting) live.queues.set(msg.queue.name, msg.queue); else live.queues.delete(msg.queue.name);
      break;
    case "counters": live.counters.set(msg.counters.campaign_id, msg.counters); break;
    case "spy":
      if (live.spy && live.spy.id === msg.session.id) live.spy = msg.session.state === "ended" ? null : msg.session;
      break;
    case "message_read":
      live.sent = live.sent.map((m) => (m.id === msg.message.id ? msg.message : m));
      break;
  }
  render();
}

async function sendMessage(ev) {
  ev.preventDefault();
  const target = document.querySelector("input[name=target]:checked").value;
  const body = { body: $("#msg-body").value.trim() };
  if (!body.body) return;
  if (target === "agent") body.agent_id = Number($("#msg-agent").value);
  else body.campaign_id = Number($("#msg-campaign").value);
  try {
    const res = await api("POST", "/api/messages", body);
    live.sent = res.messages.concat(live.sent);
    $("#msg-body").value = "";
    flash(t("sent") + " (" + res.messages.length + ")", false);
  } catch (e) { flash(e.message, true); }
  render();
}

document.addEventListener("DOMContentLoaded", async () => {
  const me = await api("GET", "/api/me");
  if (me.role === "agent") { location.href = "agent.html"; return; }
  if (me.role === "manager") { location.href = "inbox.html"; return; }
  $("#who").textContent = me.name || me.login;
  $("#sign-out").addEventListener("click", signOut);
  $("#spy-stop").addEventListener("click", stopSpy);
  for (const b of document.querySelectorAll(".spy-switch")) b.addEventListener("click", () => switchSpy(b.dataset.mode));
  $("#msg-form").addEventListener("submit", sendMessage);
  document.addEventListener("langchange", render);
  const mine = (await api("GET", "/api/spy")).sessions.find((s) => s.user_id === me.id);
  if (mine) live.spy = mine;
  liveSocket("/api/live", onLive, showLinkStatus);
  setInterval(tick, 1000);
  pollMailings();
  setInterval(pollMailings, 2000);
});
