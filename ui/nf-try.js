/* nf-try.js — pick a profile, write code and tests, submit, and watch the
   verdict arrive (the submission is followed live below the form). */
"use strict";
window.NF = window.NF || {};
NF.views = NF.views || {};

NF.SAMPLES = {
  c: "#include <stdio.h>\n\nint main(void)\n{\n    int a, b;\n    if (scanf(\"%d %d\", &a, &b) == 2)\n        printf(\"%d\\n\", a + b);\n    return 0;\n}\n",
  python3: "a, b = map(int, input().split())\nprint(a + b)\n",
  bash: "read a b\necho $((a + b))\n",
};

NF.views.try = function (main) {
  const h = NF.h;
  const profile = h("select");
  const fname = h("input", { type: "text", value: "main.c", spellcheck: "false" });
  const code = h("textarea", { class: "code", spellcheck: "false" });
  code.value = NF.SAMPLES.c;
  const cpu = h("input", { type: "number", min: "1", step: "1", placeholder: "default", inputmode: "numeric" });
  const wall = h("input", { type: "number", min: "1", step: "1", placeholder: "default", inputmode: "numeric" });
  const testsBox = h("div");
  const err = h("p", { class: "error", role: "alert" });
  const result = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, "Submit");
  const addTest = h("button", { type: "button", class: "secondary" }, "Add a test");
  const form = h("form", { class: "card", "aria-label": "New submission" },
    h("div", { class: "row" }, NF.field("Profile", profile, "t-profile"), NF.field("File name", fname, "t-file"),
      NF.field("CPU limit (ms)", cpu, "t-cpu"), NF.field("Wall limit (ms)", wall, "t-wall")),
    NF.field("Code", code, "t-code"),
    h("h2", null, "Tests"), testsBox, h("div", { class: "actions" }, addTest, submit), err);
  NF.append(main, [h("h1", null, "Try it"), NF.can("submit") ? form
    : h("p", { class: "error" }, "This token has no submit scope."), result]);

  let nTests = 0;
  function testRow(stdin, expected) {
    const i = ++nTests;
    const si = h("textarea", { rows: "2", spellcheck: "false", "data-role": "stdin" });
    si.value = stdin || "";
    const ex = h("textarea", { rows: "2", spellcheck: "false", "data-role": "expected" });
    ex.value = expected || "";
    const row = h("fieldset", { class: "row" }, h("legend", null, "Test " + i),
      NF.field("stdin", si, "t-in-" + i), NF.field("expected output (optional)", ex, "t-ex-" + i),
      h("div", null, h("button", { type: "button", class: "secondary", "aria-label": "Remove test " + i, on: { click: () => row.remove() } }, "Remove")));
    testsBox.appendChild(row);
  }
  testRow("1 2\n", "3\n");
  addTest.addEventListener("click", () => testRow("", ""));

  let profiles = {};
  NF.api.get("/v1/profiles").then((r) => {
    for (const p of r.profiles) {
      profiles[p.name] = p;
      const o = h("option", { value: p.name }, p.name + (p.version ? " (" + p.version + ")" : "") + (p.available === false ? " — unavailable" : ""));
      if (p.available === false) o.disabled = true;
      if (p.name === "c") o.selected = true;
      profile.appendChild(o);
    }
  }).catch((e) => { err.textContent = "Cannot read the profiles: " + e.message; });
  profile.addEventListener("change", () => {
    const p = profiles[profile.value];
    if (p && p.file) fname.value = p.file;
    if (NF.SAMPLES[profile.value] && Object.values(NF.SAMPLES).includes(code.value)) code.value = NF.SAMPLES[profile.value];
  });

  let stopFollow = null;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const tests = [];
    for (const fs of testsBox.querySelectorAll("fieldset")) {
      const t = { stdin: fs.querySelector("[data-role=stdin]").value };
      const ex = fs.querySelector("[data-role=expected]").value;
      if (ex !== "") t.expected_output = ex;
      tests.push(t);
    }
    const sub = { profile: profile.value, files: [{ name: fname.value.trim(), content: code.value }] };
    if (tests.length) sub.tests = tests;
    const run = {};
    if (cpu.value) run.cpu_ms = Number(cpu.value);
    if (wall.value) run.wall_ms = Number(wall.value);
    if (Object.keys(run).length) sub.limits = { run };
    submit.disabled = true;
    try {
      const r = await NF.api.post("/v1/submissions", sub);
      if (stopFollow) stopFollow();
      NF.clear(result);
      const box = h("div");
      NF.append(result, [h("p", null, "Submitted as ", h("a", { href: "#/submissions/" + encodeURIComponent(r.id) }, r.id), "."), box]);
      stopFollow = NF.followSubmission(box, r.id);
    } catch (e) {
      err.textContent = "Refused: " + e.message;
    } finally {
      submit.disabled = false;
    }
  });
  return () => { if (stopFollow) stopFollow(); };
};
