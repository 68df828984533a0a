// The agent's console: shift and pause controls, the current contact with disposition
// buttons, the MANUAL worklist (due contacts in red), and supervisors' pop-up messages.
// The current call is an outbound one (the lead dialled) or an inbound caller (the queue and
// the number they dialled, their lead when the number has one).
"use strict";

const DISPOSITIONS = ["END", "CALLBACK", "NO_ANSWER", "BUSY", "VOICEMAIL", "BAD_NUMBER", "FAX"];
const INBOUND_DISPOSITIONS = ["END", "CALLBACK"];  // what an inbound call takes (the API's rule)
const agent = { me: null, since: null, popups: [], popupOpen: null, messages: [] };

async function refresh() {
  try {
    agent.me = await api("GET", "/api/agent/me");
  } catch (e) {
    flash(e.message, true);
    return;
  }
  renderState();
  renderContact();
  await refreshWorklist();
}

async function refreshWorklist() {
  let data;
  try { data = await api("GET", "/api/agent/worklist"); } catch (e) { flash(e.message, true); return; }
  const body = $("#worklist tbody");
  body.replaceChildren();
  const busy = !agent.me || !["READY", "PAUSED"].includes(agent.me.state);
  for (const c of data.contacts) {
    body.append(el("tr", { class: c.due ? "due" : "", dataset: { lead: c.lead_id } },
      el("td", {}, c.campaign), el("td", {}, c.name), el("td", {}, c.phone),
      el("td", {}, fmtTime(c.scheduled_at) + (c.due ? " · " + t("due") : "")),
      el("td", {}, c.status),
      el("td", {}, el("button", { class: "dial", disabled: busy, onclick: () => dial(c) }, t("dial")))));
  }
  $("#worklist-empty").hidden = data.contacts.length > 0;
}

function renderState() {
  const st = agent.me ? agent.me.state : "LOGGED_OUT";
  const badge = $("#state");
  badge.dataset.state = st;
  badge.textContent = t("s_" + st) + (agent.me && agent.me.reason && st === "PAUSED" ? " (" + agent.me.reason + ")" : "");
  $("#start-shift").disabled = st !== "LOGGED_OUT";
  $("#end-shift").disabled = st === "LOGGED_OUT";
  // Ready also ends the wrap-up of an inbound call (an outbound one waits for its disposition).
  const inboundWrapUp = st === "WRAP_UP" && isInbound(agent.me.call);
  $("#ready").disabled = st !== "PAUSED" && !inboundWrapUp;
  $("#pause").disabled = !["READY", "TALKING", "WRAP_UP", "RESERVED"].includes(st);
}

function renderContact() {
  const call = agent.me && agent.me.call;
  $("#contact-empty").hidden = !!call;
  $("#contact-body").hidden = !call;
  if (!call) return;
  const inbound = isInbound(call);
  const lead = inbound ? call.contact : call.lead;
  $("#c-direction").textContent = inbound
    ? t("inbound_from", { queue: call.queue, did: call.did }) : t("outbound");
  for (const id of ["#c-campaign", "#c-campaign-label", "#c-attempts", "#c-attempts-label"]) {
    $(id).hidden = inbound;
  }
  $("#c-campaign").textContent = inbound ? "" : call.campaign;
  $("#c-name").textContent = (lead && lead.name) || t("none");
  $("#c-phone").textContent = inbound ? call.caller : call.lead.phone;
  $("#c-attempts").textContent = inbound ? "" : call.lead.attempts;
  const fields = $("#c-fields");
  fields.replaceChildren();
  for (const [k, v] of Object.entries((lead && lead.fields) || {})) fields.append(el("dt", {}, k), el("dd", {}, String(v)));
  const box = $("#dispositions");
  box.replaceChildren();
  const canDispose = ["TALKING", "WRAP_UP"].includes(agent.me.state);
  for (const d of inbound ? INBOUND_DISPOSITIONS : DISPOSITIONS) {
    box.append(el("button", { class: "dispo", dataset: { dispo: d }, disabled: !canDispose,
      onclick: () => dispose(d) }, t("d_" + d)));
  }
  tick();
}

function isInbound(call) {
  return !!call && call.direction === "inbound";
}

async function dispose(d) {
  const body = { disposition: d };
  const note = $("#note").value.trim();
  if (note) body.note = note;
  if (d === "CALLBACK") {
    const v = $("#callback-at").value;
    if (!v) { flash(t("callback_needs_time"), true); $("#callback-at").focus(); return; }
    body.callback_at = new Date(v).toISOString();  // the browser's local time, sent with its zone
  }
  try {
    await api("POST", "/api/agent/disposition", body);
    $("#note").value = "";
    $("#callback-at").value = "";
    flash(t("d_" + d) + " ✓", false);
  } catch (e) { flash(e.message, true); }
  await refresh();
}

async function dial(c) {
  try { await api("POST", "/api/agent/dial", { campaign_id: c.campaign_id, lead_id: c.lead_id }); }
  catch (e) { flash(e.message, true); }
  await refresh();
}

async function command(path, body) {
  try { await api("POST", path, body); } catch (e) { flash(e.message, true); }
  await refresh();
}

function tick() {
  $("#state-time").textContent = agent.since ? since(agent.since) : "";
  const call = agent.me && agent.me.call;
  if (call && call.answered_at && !call.ended) $("#c-timer").textContent = since(call.answered_at);
}

// --- messages ---

function addMessage(m) {
  agent.messages = agent.messages.filter((x) => x.id !== m.id);
  agent.messages.unshift(m);
  renderMessages();
}

function renderMessages() {
  const ul = $("#messages");
  ul.replaceChildren();
  for (const m of agent.messages.slice(0, 50)) {
    ul.append(el("li", { class: m.read_at ? "read" : "unread", dataset: { id: m.id } },
      el("span", { class: "muted" }, fmtTime(m.created_at) + " · " + (m.from || "") + ": "), m.body));
  }
}

function popup(m) {
  agent.popups.push(m);
  showNextPopup();
}

function showNextPopup() {
  if (agent.popupOpen || !agent.popups.length) return;
  const m = agent.popups.shift();
  agent.popupOpen = m;
  $("#popup-title").textContent = t("message_from", { who: m.from || "" });
  $("#popup-body").textContent = m.body;
  $("#popup").hidden = false;
  $("#popup-ok").focus();
}

async function closePopup() {
  const m = agent.popupOpen;
  $("#popup").hidden = true;
  agent.popupOpen = null;
  if (m) {
    try { addMessage(await api("POST", `/api/messages/${m.id}/read`)); } catch (e) { flash(e.message, true); }
  }
  showNextPopup();
}

function onLive(msg) {
  if (msg.type === "snapshot") {
    agent.since = msg.agent ? msg.agent.since : null;
    refresh();
  } else if (msg.type === "agent") {
    agent.since = msg.agent.since;
    refresh();
  } else if (msg.type === "call_started" || msg.type === "call_ended") {
    refresh();
  } else if (msg.type === "message") {
    addMessage(msg.message);
    popup(msg.message);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  const me = await api("GET", "/api/me");
  if (me.role !== "agent") { location.href = "supervisor.html"; return; }
  $("#who").textContent = me.name || me.login;
  $("#sign-out").addEventListener("click", signOut);
  $("#start-shift").addEventListener("click", () => command("/api/agent/login", {}));
  $("#end-shift").addEventListener("click", () => command("/api/agent/logout"));
  $("#ready").addEventListener("click", () => command("/api/agent/ready"));
  $("#pause").addEventListener("click", () => command("/api/agent/pause", { reason: $("#pause-reason").value }));
  $("#popup-ok").addEventListener("click", closePopup);
  document.addEventListener("langchange", () => { renderState(); renderContact(); renderMessages(); refreshWorklist(); });
  const recent = await api("GET", "/api/messages");
  agent.messages = recent.messages;
  renderMessages();
  await refresh();
  liveSocket("/api/agent/ws", onLive, showLinkStatus);
  setInterval(tick, 1000);
});
