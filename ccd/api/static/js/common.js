// What both console pages share: API calls (the session cookie rides along), the live
// WebSocket with reconnect, durations, and small DOM helpers.
"use strict";

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || "HTTP " + status);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (resp.status === 401 && path !== "/api/login") {
    location.href = "index.html";
    throw new ApiError(401, data);
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

// Server time minus browser time, from the last snapshot: durations use the server's clock.
let clockOffsetMs = 0;
function serverNow() { return Date.now() + clockOffsetMs; }
function syncClock(serverIso) { if (serverIso) clockOffsetMs = Date.parse(serverIso) - Date.now(); }

function since(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.floor((serverNow() - Date.parse(iso)) / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(sec).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function fmtTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(LANG === "ru" ? "ru-RU" : "en-GB",
    { day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit" });
}

function pct(x) { return (100 * (x || 0)).toFixed(1) + " %"; }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function $(sel) { return document.querySelector(sel); }

// A WebSocket that reconnects with backoff; each (re)connect starts with a snapshot message.
function liveSocket(path, onMessage, onStatus) {
  let delay = 500;
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + path);
    ws.onopen = () => { delay = 500; onStatus(true); };
    ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      if (ev.code === 4001) { location.href = "index.html"; return; }  // session ended
      onStatus(false);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
}

function showLinkStatus(up) {
  const e = $("#link");
  e.dataset.i18n = up ? "connected" : "disconnected";
  e.textContent = t(e.dataset.i18n);
  e.className = "link " + (up ? "up" : "down");
}

function flash(text, isError) {
  const e = $("#flash");
  e.textContent = text;
  e.className = "flash " + (isError ? "error" : "info");
  clearTimeout(flash._timer);
  flash._timer = setTimeout(() => { e.className = "flash"; }, 5000);
}

async function signOut() {
  try { await api("POST", "/api/logout"); } catch (e) { /* the session may be gone already */ }
  location.href = "index.html";
}
