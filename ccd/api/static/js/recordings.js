// Call recordings on the supervisor's page: search by campaign, agent, date and disposition;
// play in the page's <audio> element (fed by ccd, which streams the file from Asterisk) or
// download. Every play and download is logged by ccd.
"use strict";

const DISPOSITIONS = ["END", "CALLBACK", "NO_ANSWER", "BUSY", "VOICEMAIL", "BAD_NUMBER", "FAX"];
let recordings = [];

function fmtSeconds(s) {
  if (s === null || s === undefined) return "";
  const n = Math.round(s), m = Math.floor(n / 60);
  return `${String(m).padStart(2, "0")}:${String(n % 60).padStart(2, "0")}`;
}

function renderRecordings() {
  const body = $("#recordings tbody");
  body.replaceChildren();
  if (!recordings.length) {
    body.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, t("no_recordings"))));
    return;
  }
  for (const r of recordings) {
    const playable = r.state === "done";
    body.append(el("tr", { dataset: { recording: r.name } },
      el("td", {}, fmtTime(r.started_at)), el("td", {}, r.campaign || t("none")),
      el("td", {}, r.agent || t("none")), el("td", {}, r.phone || ""),
      el("td", {}, fmtSeconds(r.duration_s)),
      el("td", {}, r.disposition ? t("d_" + r.disposition) : t("none")),
      el("td", { class: "actions" },
        el("button", { class: "play", disabled: !playable, onclick: () => playRecording(r) }, t("play")),
        playable ? el("a", { class: "download", href: r.file_url + "?download=1", download: "" }, t("download")) : null)));
  }
}

function playRecording(r) {
  const player = $("#rec-player");
  player.hidden = false;
  player.src = r.file_url;
  player.dataset.recording = r.name;
  player.play().catch((e) => flash(e.message, true));
}

async function searchRecordings(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams();
  const campaign = $("#rec-campaign").value.trim(), agent = $("#rec-agent").value;
  const day = $("#rec-date").value, dispo = $("#rec-dispo").value;
  if (campaign) q.set("campaign", campaign);
  if (agent) q.set("agent_id", agent);
  if (day) q.set("date", day);
  if (dispo) q.set("disposition", dispo);
  try {
    recordings = (await api("GET", "/api/recordings?" + q.toString())).recordings;
  } catch (e) { flash(e.message, true); }
  renderRecordings();
}

document.addEventListener("DOMContentLoaded", () => {
  const sel = $("#rec-dispo");
  for (const d of DISPOSITIONS) sel.append(el("option", { value: d }, d));
  $("#rec-form").addEventListener("submit", searchRecordings);
  document.addEventListener("langchange", renderRecordings);
  searchRecordings();
});
