/* nf-admin.js — admin actions: drain and undrain, create and revoke tokens.
   Shown only to callers with the admin scope; the server refuses these calls
   to anyone else anyway. */
"use strict";
window.NF = window.NF || {};
NF.views = NF.views || {};

NF.views.admin = function (main) {
  const h = NF.h;
  const err = h("p", { class: "error", role: "alert" });
  const drainBox = h("div");
  const tokens = h("div");
  const created = h("div", { "aria-live": "polite" });
  const name = h("input", { type: "text", required: true, maxlength: "128" });
  const scopeBoxes = ["submit", "read", "admin", "nix-expr", "worker"].map((s) => {
    const cb = h("input", { type: "checkbox", id: "sc-" + s, value: s });
    if (s === "submit" || s === "read") cb.checked = true;
    return h("span", null, cb, " ", h("label", { for: "sc-" + s, class: "inline" }, s), "  ");
  });
  const form = h("form", { class: "card", "aria-labelledby": "nt" }, h("h2", { id: "nt" }, "New token"),
    NF.field("Name", name, "tok-name"), h("fieldset", null, h("legend", null, "Scopes"), scopeBoxes),
    h("button", { type: "submit" }, "Create token"), created);
  NF.append(main, [h("h1", null, "Admin"), err,
    h("section", { class: "card", "aria-labelledby": "dr" }, h("h2", { id: "dr" }, "Drain"), drainBox),
    h("section", { class: "card", "aria-labelledby": "tk" }, h("h2", { id: "tk" }, "Tokens"), tokens), form]);

  async function drainLoad() {
    try {
      const d = await NF.api.get("/v1/admin/drain");
      NF.setAccepting(d.accepting);
      const btn = d.accepting
        ? NF.confirmButton("Drain", "danger", () => setDrain(false))
        : h("button", { type: "button", on: { click: () => setDrain(true) } }, "Undrain: accept work again");
      NF.clear(drainBox);
      NF.append(drainBox, [h("p", { "data-k": "drain" }, d.accepting ? "The farm accepts new work." : "The farm is draining: new submissions are refused; running ones finish."), btn]);
    } catch (e) { err.textContent = "Cannot read the drain state: " + e.message; }
  }
  async function setDrain(accepting) {
    err.textContent = "";
    try { await NF.api.post("/v1/admin/drain", { accepting }); } catch (e) { err.textContent = "Cannot change the drain state: " + e.message; }
    drainLoad();
  }
  async function tokensLoad() {
    try {
      const r = await NF.api.get("/v1/tokens");
      const rows = r.tokens.map((t) => h("tr", null, h("td", { class: "mono" }, t.id), h("td", null, t.name),
        h("td", null, (t.scopes || []).join(", ")), h("td", null, NF.fmtTime(t.created_at)), h("td", null, NF.fmtAge(t.last_used_at)),
        h("td", null, t.revoked_at ? h("span", { class: "v-cancelled" }, "revoked " + NF.fmtAge(t.revoked_at))
          : NF.confirmButton("Revoke", "danger", async () => {
            try { await NF.api.del("/v1/tokens/" + encodeURIComponent(t.id)); } catch (e) { err.textContent = "Cannot revoke: " + e.message; }
            tokensLoad();
          }))));
      NF.clear(tokens).appendChild(rows.length ? NF.table(["id", "name", "scopes", "created", "last used", ""], rows)
        : h("p", { class: "muted" }, "No token yet. With api.auth off, every caller has api.anonymous_scopes."));
    } catch (e) { err.textContent = "Cannot list tokens: " + e.message; }
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const scopes = [...form.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value);
    try {
      const t = await NF.api.post("/v1/tokens", { name: name.value.trim(), scopes });
      NF.clear(created).appendChild(h("div", { class: "token-once" }, h("p", null, "Token for ", h("strong", null, t.name),
        " — copy it now, it is not shown again:"), h("code", { "data-k": "token" }, t.token)));
      name.value = "";
      tokensLoad();
    } catch (e) { NF.clear(created).appendChild(h("p", { class: "error", role: "alert" }, "Cannot create the token: " + e.message)); }
  });
  drainLoad();
  tokensLoad();
  return () => {};
};
