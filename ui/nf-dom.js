/* nf-dom.js — building the page without HTML strings. Every piece of data
   reaches the page as a text node (textContent), never as markup, so a
   program that prints <script> shows those characters and nothing runs. */
"use strict";
window.NF = window.NF || {};

/* h("tag", {attr: value, class: "x", on: {click: fn}}, child, ...): children
   are nodes, strings (made text nodes), arrays of those, or null (skipped). */
NF.h = function (tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "on") {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === "class") {
      el.className = v;
    } else if (k === "value") {
      el.value = v;
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  NF.append(el, children);
  return el;
};

NF.append = function (el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) NF.append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
};

NF.clear = function (el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
};

NF.fmtTime = function (ms) {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  return d.toLocaleString(undefined, { hour12: false });
};

NF.fmtAge = function (ms) {
  if (ms === null || ms === undefined) return "—";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
};

NF.fmtMs = function (ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return ms + " ms";
  return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
};

NF.fmtBytes = function (n) {
  if (n === null || n === undefined) return "—";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
};

/* A verdict or state as a coloured word (class v-<name>). */
NF.word = function (w, cls) {
  return NF.h("span", { class: (cls || "verdict") + " v-" + String(w || "none").replace(/[^a-z_]/g, "") },
    w ? String(w).replace(/_/g, " ") : "—");
};

NF.table = function (headers, rows, caption) {
  return NF.h("div", { class: "table-wrap" },
    NF.h("table", null,
      caption ? NF.h("caption", { class: "muted" }, caption) : null,
      NF.h("thead", null, NF.h("tr", null, headers.map((x) =>
        NF.h("th", { scope: "col", class: x.cls || null }, x.label || x)))),
      NF.h("tbody", null, rows)));
};

NF.field = function (label, control, id) {
  control.id = id;
  return NF.h("div", null, NF.h("label", { for: id }, label), control);
};

NF.select = function (options, value) {
  const s = NF.h("select");
  for (const o of options) {
    const opt = NF.h("option", { value: o.value }, o.label);
    if (o.value === value) opt.selected = true;
    s.appendChild(opt);
  }
  return s;
};

/* Bytes of a test/compile stream: {text} for UTF-8, {bytes} for base64. */
NF.streamView = function (label, value, encoding, truncated) {
  if (value === null || value === undefined || value === "")
    return NF.h("div", null, NF.h("h4", null, label), NF.h("p", { class: "muted" }, "(empty)"));
  let body;
  if (encoding === "base64") {
    let raw = "";
    try { raw = atob(value); } catch (e) { raw = ""; }
    const lines = [];
    const n = Math.min(raw.length, 1024);
    for (let off = 0; off < n; off += 16) {
      let hex = "", asc = "";
      for (let i = off; i < Math.min(off + 16, n); i++) {
        const c = raw.charCodeAt(i);
        hex += c.toString(16).padStart(2, "0") + " ";
        asc += c >= 32 && c < 127 ? raw[i] : ".";
      }
      lines.push(off.toString(16).padStart(6, "0") + "  " + hex.padEnd(48) + " " + asc);
    }
    body = [NF.h("p", { class: "muted" }, "Binary output, " + raw.length + " bytes" +
      (raw.length > n ? " (first " + n + " shown)" : "") + ", as hex:"),
      NF.h("pre", { class: "out" }, lines.join("\n"))];
  } else {
    body = NF.h("pre", { class: "out" }, value);
  }
  return NF.h("div", null, NF.h("h4", null, label, truncated ? " (truncated)" : ""), body);
};

/* A button that acts on the second press ("Press again to confirm"), so a
   stray click or Enter does nothing harmful, without a modal dialog. */
NF.confirmButton = function (label, cls, action) {
  let armed = null;
  const b = NF.h("button", { type: "button", class: cls || null }, label);
  b.addEventListener("click", async () => {
    if (!armed) {
      b.textContent = "Press again to confirm: " + label.toLowerCase();
      armed = setTimeout(() => { armed = null; b.textContent = label; }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    b.disabled = true;
    b.textContent = label;
    try { await action(); } finally { b.disabled = false; }
  });
  return b;
};
