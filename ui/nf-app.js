/* nf-app.js — start-up, sign-in and the router. The hash names the view
   (#/overview, #/submissions, #/submissions/<id>, #/cache, #/try, #/admin);
   each view function fills <main> and returns a function that stops its
   timers and streams when the view is left. */
"use strict";
window.NF = window.NF || {};
NF.views = NF.views || {};
NF.me = { scopes: [], auth: false };
NF.isAdmin = () => NF.me.scopes.includes("admin");
NF.can = (scope) => NF.me.scopes.includes(scope);

(function () {
  let leave = null;
  let badgeTimer = null;
  const main = document.getElementById("main");

  function route() {
    const parts = (location.hash.replace(/^#\/?/, "") || "overview").split("/");
    let name = parts[0];
    const arg = parts.slice(1).map(decodeURIComponent).join("/");
    if (name === "submissions" && arg) name = "detail";
    if (!NF.views[name] || (name === "admin" && !NF.isAdmin())) name = "overview";
    if (leave) { try { leave(); } catch (e) { /* a view's own cleanup */ } }
    leave = null;
    for (const a of document.querySelectorAll("#nav a")) {
      if (a.dataset.view === (name === "detail" ? "submissions" : name)) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    NF.clear(main);
    document.title = "nixfarm — " + (name === "detail" ? "submission" : name);
    leave = NF.views[name](main, arg) || null;
    main.focus({ preventScroll: true });
  }
  NF.route = route;

  /* /v1/health is public and says both the drain state and the health; a
     failing farm answers 503 with the same body. */
  async function refreshBadge() {
    const b = document.getElementById("drain-badge");
    try {
      const r = await fetch("/v1/health", { cache: "no-store" });
      const h = await r.json();
      NF.setAccepting(h.accepting, h.status);
    } catch (e) {
      b.textContent = "farmd unreachable";
      b.className = "badge draining";
    }
  }
  let health = "";
  NF.setAccepting = function (acc, status) {
    const b = document.getElementById("drain-badge");
    if (status) health = status;
    b.textContent = (acc ? "Accepting work" : "Draining: no new work") + (health && health !== "ok" ? " · health " + health : "");
    b.className = "badge " + (acc ? "accepting" : "draining");
  };

  /* While the token form is up, the page behind it takes no focus or click. */
  function behind(inert) {
    document.querySelector("header.top").inert = inert;
    main.inert = inert;
  }

  function showLogin(message) {
    const box = document.getElementById("login");
    box.hidden = false;
    behind(true);
    document.getElementById("login-error").textContent = message || "";
    const inp = document.getElementById("login-token");
    inp.value = "";
    inp.focus();
  }

  async function whoami(token) {
    return NF.api.call("GET", "/v1/whoami", undefined, { token, noLogin: true });
  }

  function started(me) {
    NF.me = me;
    document.getElementById("login").hidden = true;
    behind(false);
    for (const el of document.querySelectorAll(".admin-only")) el.hidden = !NF.isAdmin();
    document.getElementById("who").textContent = me.anonymous
      ? "open farm (no token needed) · " + me.scopes.join(", ")
      : "token " + me.token_id + " · " + me.scopes.join(", ");
    document.getElementById("signout").hidden = me.anonymous;
    refreshBadge();
    if (!badgeTimer) badgeTimer = setInterval(refreshBadge, 5000);
    route();
  }

  NF.onUnauthorized = function (err) {
    NF.api.setToken("");
    if (leave) { try { leave(); } catch (e) { /* ignore */ } leave = null; }
    showLogin("Your token was refused: " + err.message + ". Sign in again.");
  };

  document.getElementById("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = document.getElementById("login-token").value.trim();
    const errEl = document.getElementById("login-error");
    errEl.textContent = "";
    try {
      const me = await whoami(token);
      if (me.anonymous) { errEl.textContent = "That is not a token."; return; }
      NF.api.setToken(token);
      started(me);
    } catch (e) {
      errEl.textContent = "That token was refused: " + e.message + ".";
      document.getElementById("login-token").select();
    }
  });

  document.getElementById("signout").addEventListener("click", () => {
    NF.api.setToken("");
    if (leave) { try { leave(); } catch (e) { /* ignore */ } leave = null; }
    NF.me = { scopes: [], auth: true };
    for (const el of document.querySelectorAll(".admin-only")) el.hidden = true;
    document.getElementById("who").textContent = "";
    document.getElementById("signout").hidden = true;
    NF.clear(main).appendChild(NF.h("p", { class: "muted" }, "Signed out."));
    showLogin("");
  });

  window.addEventListener("hashchange", () => { if (document.getElementById("login").hidden) route(); });

  async function boot() {
    try {
      started(await whoami(NF.api.token()));
    } catch (e) {
      if (e.status === 401) {
        const had = NF.api.token();
        NF.api.setToken("");
        NF.clear(main).appendChild(NF.h("p", { class: "muted" }, "Sign in to see this farm."));
        showLogin(had ? "Your saved token was refused: " + e.message + "." : "");
      } else {
        NF.clear(main).appendChild(NF.h("p", { class: "error" }, "Cannot reach farmd: " + e.message));
      }
    }
  }
  boot();
})();
