/* nf-detail.js — one submission: state and verdict, limits and timings, the
   compile log, each test's verdict with stdout and stderr (binary shown as a
   hex dump), and its dependency set. While it runs, it follows the event
   stream (GET /v1/submissions/{id}/events) and redraws at every event. */
"use strict";
window.NF = window.NF || {};
NF.views = NF.views || {};

/* Shows submission id in box and follows it live; returns a stop function. */
NF.followSubmission = function (box, id) {
  const h = NF.h;
  const ctl = new AbortController();
  let stopped = false;
  let pending = null;
  let last = null;
  const actErr = h("p", { class: "error", role: "alert" });

  function limitsList(lim) {
    if (!lim) return h("p", { class: "muted" }, "—");
    const rows = [];
    for (const stage of ["compile", "run"]) {
      if (!lim[stage]) continue;
      const l = lim[stage];
      rows.push(h("dt", null, stage),
        h("dd", null, [l.cpu_ms !== undefined ? "cpu " + NF.fmtMs(l.cpu_ms) : null, l.wall_ms !== undefined ? "wall " + NF.fmtMs(l.wall_ms) : null,
          l.memory_kib !== undefined ? "memory " + NF.fmtBytes(l.memory_kib * 1024) : null, l.processes !== undefined ? l.processes + " processes" : null,
          l.output_bytes !== undefined ? "output " + NF.fmtBytes(l.output_bytes) : null].filter(Boolean).join(" · ")));
    }
    return h("dl", { class: "kv" }, rows);
  }

  function render(v, live) {
    const cancelBtn = NF.isAdmin() && !NF.isTerminal(v.state)
      ? NF.confirmButton("Cancel submission", "danger", cancel) : null;
    const tests = (v.tests || []).map((t, i) => [
      h("tr", null, h("td", null, String(i + 1)), h("td", null, t.name || "—"),
        h("td", null, NF.word(t.verdict)), h("td", { class: "num" }, t.exit_code === null || t.exit_code === undefined ? "—" : String(t.exit_code)),
        h("td", null, t.signal || "—"), h("td", { class: "num" }, NF.fmtMs(t.cpu_ms)), h("td", { class: "num" }, NF.fmtMs(t.wall_ms)),
        h("td", { class: "num" }, t.memory_kib !== undefined ? NF.fmtBytes(t.memory_kib * 1024) : "—")),
    ]);
    const outputs = (v.tests || []).map((t, i) => h("details", { open: (v.tests.length <= 3) || null },
      h("summary", null, "Test " + (i + 1) + (t.name && t.name !== String(i + 1) ? " (" + t.name + ")" : "") + ": output"),
      NF.streamView("stdout", t.stdout, t.encoding, t.stdout_truncated),
      NF.streamView("stderr", t.stderr, t.encoding, t.stderr_truncated)));
    const c = v.compile;
    const dep = v.depset || {};
    NF.clear(box);
    NF.append(box, [
      h("section", { class: "card", "aria-labelledby": "sub-h" },
        h("h2", { id: "sub-h" }, "Submission ", h("span", { class: "mono" }, v.id)),
        h("dl", { class: "kv" },
          h("dt", null, "state"), h("dd", { "data-k": "state" }, NF.word(v.state, "state"), live ? h("span", { class: "live" }, "  ● following live") : null),
          h("dt", null, "verdict"), h("dd", { "data-k": "verdict", "aria-live": "polite" }, NF.word(v.verdict)),
          v.error ? [h("dt", null, "error"), h("dd", { class: "error" }, v.error)] : null,
          h("dt", null, "profile"), h("dd", null, v.profile || "—"),
          h("dt", null, "created"), h("dd", null, NF.fmtTime(v.created_at)),
          h("dt", null, "started"), h("dd", null, NF.fmtTime(v.started_at)),
          h("dt", null, "finished"), h("dd", null, NF.fmtTime(v.finished_at)),
          h("dt", null, "took"), h("dd", null, v.finished_at ? NF.fmtMs(v.finished_at - v.created_at) : "—"),
          h("dt", null, "attempts"), h("dd", null, String(v.attempts))),
        cancelBtn ? h("div", { class: "actions" }, cancelBtn) : null, actErr),
      h("section", { class: "card" }, h("h2", null, "Limits"), limitsList(v.limits)),
      h("section", { class: "card" }, h("h2", null, "Compile"),
        c ? [h("p", null, "exit " + (c.exit_code === null ? "—" : c.exit_code) + (c.signal ? " · " + c.signal : "") +
          " · cpu " + NF.fmtMs(c.cpu_ms) + " · wall " + NF.fmtMs(c.wall_ms)),
        (c.stdout || c.stderr) ? [NF.streamView("stdout", c.stdout, c.encoding, c.stdout_truncated),
          NF.streamView("stderr", c.stderr, c.encoding, c.stderr_truncated)] : h("p", { class: "muted" }, "The compiler printed nothing.")]
          : h("p", { class: "muted" }, "No compile step (or not yet).")),
      h("section", { class: "card" }, h("h2", null, "Tests"),
        tests.length ? NF.table(["#", "name", "verdict", { label: "exit", cls: "num" }, "signal", { label: "cpu", cls: "num" },
          { label: "wall", cls: "num" }, { label: "memory", cls: "num" }], tests) : h("p", { class: "muted" }, "No test result yet."),
        outputs),
      h("section", { class: "card" }, h("h2", null, "Dependency set"),
        h("dl", { class: "kv" }, h("dt", null, "key"), h("dd", { class: "mono" }, dep.key || "—"),
          h("dt", null, "state"), h("dd", null, NF.word(dep.state, "state")),
          h("dt", null, "packages"), h("dd", null, (v.packages || []).join(", ") || "—"))),
    ]);
  }

  async function cancel() {
    actErr.textContent = "";
    try { await NF.api.del("/v1/submissions/" + encodeURIComponent(id)); refresh(); }
    catch (e) { actErr.textContent = "Cannot cancel: " + e.message; }
  }

  async function refresh() {
    try {
      const v = await NF.api.get("/v1/submissions/" + encodeURIComponent(id));
      if (stopped) return;
      last = v;
      render(v, !NF.isTerminal(v.state));
    } catch (e) {
      if (!stopped) NF.clear(box).appendChild(h("p", { class: "error", role: "alert" }, "Cannot read submission " + id + ": " + e.message));
    }
  }
  /* events come in bursts (a test result per test): one redraw per 150 ms */
  function soon() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh(); }, 150);
  }

  async function follow() {
    await refresh();
    while (!stopped && last && !NF.isTerminal(last.state)) {
      try {
        await NF.api.stream("/v1/submissions/" + encodeURIComponent(id) + "/events", soon, ctl.signal);
      } catch (e) {
        if (stopped) return;
        await new Promise((r) => setTimeout(r, 1000));
      }
      if (!stopped) await refresh();
    }
  }
  follow();
  return () => { stopped = true; ctl.abort(); clearTimeout(pending); };
};

NF.views.detail = function (main, id) {
  const box = NF.h("div");
  NF.append(main, [NF.h("p", null, NF.h("a", { href: "#/submissions" }, "← All submissions")), NF.h("h1", null, "Submission"), box]);
  return NF.followSubmission(box, id);
};
