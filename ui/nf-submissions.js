/* nf-submissions.js — submissions newest first, filtered by state, verdict,
   profile and token, one server page at a time (GET /v1/submissions with a
   cursor), so the list stays quick with any number of rows. */
"use strict";
window.NF = window.NF || {};
NF.views = NF.views || {};

NF.views.submissions = function (main) {
  const h = NF.h;
  const any = [{ value: "", label: "any" }];
  const fState = NF.select(any.concat(NF.STATES.map((s) => ({ value: s, label: s.replace(/_/g, " ") }))), "");
  const fVerdict = NF.select(any.concat(NF.VERDICTS.map((s) => ({ value: s, label: s.replace(/_/g, " ") }))), "");
  const fProfile = NF.select(any, "");
  const fToken = h("input", { type: "text", placeholder: "token id", spellcheck: "false", size: 20, list: "token-ids" });
  const tokenIds = h("datalist", { id: "token-ids" });
  const err = h("p", { class: "error", role: "alert" });
  const summary = h("p", { class: "muted", role: "status", id: "sub-summary" });
  const list = h("div");
  const prev = h("button", { type: "button", class: "secondary" }, "← Newer");
  const next = h("button", { type: "button", class: "secondary" }, "Older →");
  const form = h("form", { class: "row card", "aria-label": "Filters" },
    NF.field("State", fState, "f-state"), NF.field("Verdict", fVerdict, "f-verdict"),
    NF.field("Profile", fProfile, "f-profile"), NF.field("Token", fToken, "f-token"), tokenIds,
    h("div", null, h("button", { type: "submit" }, "Apply")));
  NF.append(main, [h("h1", null, "Submissions"), form, err, summary,
    h("section", { class: "card" }, list, h("div", { class: "pager" }, prev, next))]);

  NF.api.get("/v1/profiles").then((r) => {
    for (const p of r.profiles) fProfile.appendChild(h("option", { value: p.name }, p.name));
  }).catch(() => { /* the filter still works with "any" */ });

  /* admins may list the tokens: offer their ids with names */
  if (NF.isAdmin())
    NF.api.get("/v1/tokens").then((r) => {
      for (const t of r.tokens) tokenIds.appendChild(h("option", { value: t.id }, t.name));
    }).catch(() => { /* typing an id still works */ });

  let cursors = [""]; /* cursors[i] = the "before" of page i */
  let page = 0;
  let nextCursor = null;
  let stopped = false;
  let timer = null;

  async function load() {
    clearTimeout(timer);
    const q = new URLSearchParams({ limit: "50" });
    if (fState.value) q.set("state", fState.value);
    if (fVerdict.value) q.set("verdict", fVerdict.value);
    if (fProfile.value) q.set("profile", fProfile.value);
    if (fToken.value.trim()) q.set("token", fToken.value.trim());
    if (cursors[page]) q.set("before", cursors[page]);
    try {
      const r = await NF.api.get("/v1/submissions?" + q.toString());
      if (stopped) return;
      err.textContent = "";
      nextCursor = r.next_before;
      summary.textContent = r.total_exact === false
        ? "More than " + r.total + " submissions match · page " + (page + 1)
        : r.total + " submission" + (r.total === 1 ? "" : "s") + " match · page " + (page + 1) +
          " of " + Math.max(1, Math.ceil(r.total / 50));
      const rows = r.submissions.map((s) => h("tr", null,
        h("td", { class: "mono id" }, h("a", { href: "#/submissions/" + encodeURIComponent(s.id), title: s.id }, s.id)),
        h("td", null, NF.word(s.state, "state")), h("td", null, NF.word(s.verdict)),
        h("td", null, s.profile || "—"), h("td", { class: "num" }, String(s.n_tests)),
        h("td", { class: "hide-narrow" }, NF.fmtTime(s.created_at)),
        h("td", { class: "num" }, s.finished_at ? NF.fmtMs(s.finished_at - s.created_at) : "—"),
        h("td", { class: "mono hide-narrow" }, s.token_id || "—")));
      NF.clear(list).appendChild(rows.length
        ? NF.table(["id", "state", "verdict", "profile", { label: "tests", cls: "num" }, { label: "created", cls: "hide-narrow" },
          { label: "took", cls: "num" }, { label: "token", cls: "hide-narrow" }], rows)
        : h("p", { class: "muted" }, "No submission matches."));
      prev.disabled = page === 0;
      next.disabled = !nextCursor;
    } catch (e) {
      if (!stopped) err.textContent = "Cannot list submissions: " + e.message;
    }
    /* the first page follows new arrivals; older pages stay put */
    if (!stopped && page === 0) timer = setTimeout(load, 3000);
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); cursors = [""]; page = 0; load(); });
  for (const c of [fState, fVerdict, fProfile]) c.addEventListener("change", () => { cursors = [""]; page = 0; load(); });
  next.addEventListener("click", () => { if (!nextCursor) return; cursors[page + 1] = nextCursor; page++; load(); });
  prev.addEventListener("click", () => { if (page > 0) { page--; load(); } });
  load();
  return () => { stopped = true; clearTimeout(timer); };
};
