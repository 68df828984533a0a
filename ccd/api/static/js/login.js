"use strict";

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const login = $("#login").value.trim(), password = $("#password").value;
    try {
      const res = await api("POST", "/api/login", { login, password });
      const home = { agent: "agent.html", manager: "inbox.html" };
      location.href = home[res.user.role] || "supervisor.html";
    } catch (e) {
      if (e.status === 429) flash(t("too_many", { s: (e.body && e.body.retry_after) || "60" }), true);
      else if (e.status === 401) flash(t("wrong_login"), true);
      else flash(e.message, true);
    }
  });
});
