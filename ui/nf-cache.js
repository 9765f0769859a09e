/* nf-cache.js — the dependency sets (GET /v1/cache): state, closure size,
   last use, held and pinned; the quota bar; a failed set's build log; and for
   admins, rebuild, evict and pin. */
"use strict";
window.NF = window.NF || {};
NF.views = NF.views || {};

NF.views.cache = function (main) {
  const h = NF.h;
  const err = h("p", { class: "error", role: "alert" });
  const quota = h("div");
  const list = h("div");
  const logBox = h("div");
  NF.append(main, [h("h1", null, "Cache"), err,
    h("section", { class: "card", "aria-labelledby": "qq" }, h("h2", { id: "qq" }, "Quota"), quota),
    h("section", { class: "card", "aria-labelledby": "ss" }, h("h2", { id: "ss" }, "Dependency sets"), list),
    logBox]);
  let stopped = false;
  let timer = null;

  async function act(fn, what) {
    err.textContent = "";
    try { await fn(); } catch (e) { err.textContent = "Cannot " + what + ": " + e.message; }
    load();
  }

  async function showLog(key) {
    try {
      const d = await NF.api.get("/v1/depsets/" + encodeURIComponent(key));
      NF.clear(logBox).appendChild(h("section", { class: "card", "aria-labelledby": "lg" },
        h("h2", { id: "lg" }, "Build log of ", h("span", { class: "mono" }, key.slice(0, 16))),
        d.error ? h("p", { class: "error" }, d.error) : null,
        h("pre", { class: "out" }, d.log || "(no log kept)")));
      logBox.querySelector("h2").scrollIntoView();
    } catch (e) { err.textContent = "Cannot read the log: " + e.message; }
  }

  function render(c) {
    NF.clear(quota);
    if (c.quota_bytes > 0) {
      const pct = Math.min(100, Math.round(100 * c.used_bytes / c.quota_bytes));
      const bar = h("div", { class: "quota" + (c.used_bytes > c.quota_bytes ? " over" : ""), role: "progressbar",
        "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct), "aria-label": "Cache quota used" }, h("span"));
      bar.firstChild.style.width = pct + "%";
      NF.append(quota, [bar, h("p", null, NF.fmtBytes(c.used_bytes) + " of " + NF.fmtBytes(c.quota_bytes) + " (" + pct + "%) used by ready sets")]);
    } else {
      quota.appendChild(h("p", null, NF.fmtBytes(c.used_bytes) + " used by ready sets; no quota set (cache.quota_bytes = 0)."));
    }
    const admin = NF.isAdmin();
    const rows = c.depsets.map((d) => {
      const acts = [];
      if (d.state === "failed") acts.push(h("button", { type: "button", class: "secondary", on: { click: () => showLog(d.key) } }, "Build log"));
      if (admin) {
        if (d.state === "ready" || d.state === "failed")
          acts.push(NF.confirmButton("Rebuild", "secondary", () => act(() => NF.api.post("/v1/depsets/" + d.key + "/rebuild"), "rebuild")));
        if (d.state === "ready" || d.state === "failed")
          acts.push(NF.confirmButton("Evict", "danger", () => act(() => NF.api.del("/v1/depsets/" + d.key), "evict")));
        acts.push(h("button", { type: "button", class: "secondary", "aria-pressed": d.pinned ? "true" : "false",
          on: { click: () => act(() => NF.api.post("/v1/depsets/" + d.key + "/pin", { pinned: !d.pinned }), "pin") } },
        d.pinned ? "Unpin" : "Pin"));
      }
      return h("tr", null,
        h("td", { class: "mono", title: d.key }, d.key.slice(0, 12) + "…"),
        h("td", null, d.expr ? "(Nix expression)" : (d.packages || []).join(", ")),
        h("td", null, NF.word(d.state, "state")),
        h("td", { class: "num" }, NF.fmtBytes(d.closure_bytes)),
        h("td", null, NF.fmtAge(d.last_used_at)),
        h("td", null, [d.pinned ? "pinned" : null, d.running ? d.running + " running" : null,
          d.holds - (d.pinned ? 1 : 0) > 0 ? (d.holds - (d.pinned ? 1 : 0)) + " held" : null].filter(Boolean).join(", ") || "no"),
        h("td", null, h("div", { class: "actions" }, acts)));
    });
    NF.clear(list).appendChild(rows.length
      ? NF.table(["key", "packages", "state", { label: "closure", cls: "num" }, "last use", "held", "actions"], rows)
      : h("p", { class: "muted" }, "No dependency set yet."));
  }

  async function load() {
    clearTimeout(timer);
    try {
      const c = await NF.api.get("/v1/cache");
      if (stopped) return;
      render(c);
    } catch (e) {
      if (!stopped) err.textContent = "Cannot read the cache: " + e.message;
    }
    if (!stopped) timer = setTimeout(load, 10000);
  }
  load();
  return () => { stopped = true; clearTimeout(timer); };
};
