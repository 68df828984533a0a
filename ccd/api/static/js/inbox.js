// The managers' SMS inbox: customers' messages by code, status and date from /api/inbox, new
// ones pushed over /api/live, one message with the contact's history, reply by SMS, take it,
// mark it done.
"use strict";

const inbox = { messages: [], current: null };

function filterQuery() {
  const q = new URLSearchParams();
  const code = $("#f-code").value.trim(), status = $("#f-status").value;
  if (code) q.set("code", code);
  if (status) q.set("status", status);
  if ($("#f-from").value) q.set("from", $("#f-from").value);
  if ($("#f-to").value) q.set("to", $("#f-to").value);
  return q;
}

// Whether a pushed message belongs in the list as filtered now.
function matches(m) {
  const q = filterQuery();
  if (q.has("code") && (m.keyword || "").toUpperCase() !== q.get("code").toUpperCase()) return false;
  if (q.has("status") && !q.get("status").split(",").includes(m.status)) return false;
  const day = m.received_at.slice(0, 10);
  if (q.has("from") && day < q.get("from")) return false;
  if (q.has("to") && day > q.get("to")) return false;
  return true;
}

async function load() {
  try {
    inbox.messages = (await api("GET", "/api/inbox?" + filterQuery())).messages;
    renderList();
  } catch (e) { flash(e.message, true); }
}

function renderList() {
  const body = $("#inbox tbody");
  body.replaceChildren();
  for (const m of inbox.messages) {
    body.append(el("tr", { dataset: { id: m.id, status: m.status }, class: inbox.current && inbox.current.id === m.id ? "on" : "",
      onclick: () => openMessage(m.id) },
      el("td", {}, fmtTime(m.received_at)), el("td", {}, m.contact_name ? `${m.contact_name} (${m.sender})` : m.sender),
      el("td", {}, m.keyword || ""), el("td", { class: "sms-cell" }, m.text),
      el("td", {}, t("st_" + m.status)), el("td", {}, m.assigned_to || "")));
  }
}

function upsert(m) {
  const i = inbox.messages.findIndex((x) => x.id === m.id);
  if (i >= 0) inbox.messages[i] = { ...inbox.messages[i], ...m };
  else if (matches(m)) inbox.messages.unshift(m);
  renderList();
}

async function openMessage(id) {
  try {
    inbox.current = await api("GET", "/api/inbox/" + id);
  } catch (e) { flash(e.message, true); return; }
  renderMessage();
  renderList();
}

function renderMessage() {
  const m = inbox.current;
  $("#message-card").hidden = !m;
  if (!m) return;
  $("#m-from").textContent = m.contact_name ? `${m.contact_name} (${m.sender})` : m.sender;
  $("#m-text").textContent = m.text;
  $("#m-meta").textContent = [fmtTime(m.received_at), m.keyword || t("no_code"), t("st_" + m.status),
    m.assigned_to ? t("assigned_to") + ": " + m.assigned_to : ""].filter(Boolean).join(" · ");
  // Marketing SMS consent now (replies go regardless: they answer the customer).
  const consent = m.history.consent.filter((c) => c.channel === "sms" && c.purpose === "marketing").pop();
  $("#m-consent").textContent = consent ? t("consent_" + consent.status) : "";
  $("#m-consent").dataset.status = consent ? consent.status : "";
  const isOpen = m.status === "new" || m.status === "assigned";
  $("#m-assign").disabled = !isOpen;
  $("#m-done").disabled = !isOpen;
  const items = [];
  for (const h of m.history.sms) {
    // a reply shows where it is: sent, then delivered / not delivered / expired by its receipt
    const text = h.direction === "in" ? "← " + h.text : "→ " + h.text + " · " + t("rs_" + h.state);
    items.push({ at: h.at, text, cls: h.direction });
  }
  for (const c of m.history.calls) items.push({ at: c.at, text: "☎ " + c.campaign + " · " + (c.disposition || c.outcome || ""), cls: "call" });
  for (const x of m.history.messages) items.push({ at: x.at, text: "✉ " + x.mailing + " · " + (x.channel || "") + " · " + x.state, cls: "mailing" });
  items.sort((a, b) => (a.at < b.at ? 1 : -1));
  $("#m-history").replaceChildren(...items.map((i) => el("li", { class: i.cls }, fmtTime(i.at) + "  " + i.text)));
}

async function act(path, body) {
  const m = inbox.current;
  try {
    upsert(await api("POST", `/api/inbox/${m.id}/${path}`, body));
    await openMessage(m.id);
  } catch (e) { flash(e.message, true); }
}

async function reply(ev) {
  ev.preventDefault();
  const text = $("#reply-text").value.trim();
  if (!text || !inbox.current) return;
  try {
    const res = await api("POST", `/api/inbox/${inbox.current.id}/reply`, { text });
    flash(t("reply_sent", { n: res.parts }), false);
    $("#reply-text").value = "";
  } catch (e) {
    flash(e.body && e.body.state ? t("reply_" + e.body.state) + (e.body.error ? ": " + e.body.error : "") : e.message, true);
  }
  await openMessage(inbox.current.id);
}

function onLive(msg) {
  switch (msg.type) {
    case "snapshot": syncClock(msg.now); load(); break;
    case "sms_inbound": upsert(msg.message); break;
    case "sms_inbound_many": load(); break;
    case "sms_updated": upsert(msg.message); break;
    case "sms_reply":
      if (inbox.current && inbox.current.id === msg.inbound_id) openMessage(msg.inbound_id);
      break;
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  const me = await api("GET", "/api/me");
  if (me.role === "agent") { location.href = "agent.html"; return; }
  $("#who").textContent = me.name || me.login;
  $("#to-wallboard").hidden = me.role === "manager";
  $("#sign-out").addEventListener("click", signOut);
  $("#inbox-filter").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  $("#m-assign").addEventListener("click", () => act("assign", {}));
  $("#m-done").addEventListener("click", () => act("done"));
  $("#reply-form").addEventListener("submit", reply);
  document.addEventListener("langchange", () => { renderList(); renderMessage(); });
  liveSocket("/api/live", onLive, showLinkStatus);
});
