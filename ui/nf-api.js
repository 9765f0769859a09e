/* nf-api.js — every call of the page to farmd's /v1 API. The token (when
   api.auth is on) lives in this tab's sessionStorage and goes with every call,
   including the event streams, which is why they are read with fetch rather
   than EventSource (EventSource cannot send an Authorization header). */
"use strict";
window.NF = window.NF || {};

NF.TOKEN_KEY = "nixfarm.token";

NF.ApiError = class extends Error {
  constructor(status, body) {
    const e = body && body.error ? body.error : null;
    super(e && e.message ? e.message : "HTTP " + status);
    this.status = status;
    this.code = e ? e.code : null;
  }
};

NF.api = {
  token() { return sessionStorage.getItem(NF.TOKEN_KEY) || ""; },
  setToken(t) {
    if (t) sessionStorage.setItem(NF.TOKEN_KEY, t);
    else sessionStorage.removeItem(NF.TOKEN_KEY);
  },
  headers(extra, token) {
    const h = Object.assign({ Accept: "application/json" }, extra || {});
    const t = token !== undefined ? token : this.token();
    if (t) h.Authorization = "Bearer " + t;
    return h;
  },
  /* Resolves to the parsed body; rejects with NF.ApiError (a 401 also asks
     for a token again). */
  async call(method, path, body, opts) {
    const init = { method, headers: this.headers(body !== undefined ? { "Content-Type": "application/json" } : null,
      opts && opts.token), cache: "no-store" };
    if (body !== undefined) init.body = JSON.stringify(body);
    const r = await fetch(path, init);
    let data = null;
    const text = await r.text();
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!r.ok) {
      const err = new NF.ApiError(r.status, data);
      if (r.status === 401 && !(opts && opts.noLogin) && NF.onUnauthorized) NF.onUnauthorized(err);
      throw err;
    }
    return data;
  },
  get(path) { return this.call("GET", path); },
  post(path, body) { return this.call("POST", path, body === undefined ? {} : body); },
  del(path) { return this.call("DELETE", path); },

  /* Reads a server-sent event stream; calls onEvent({type, data}) per event.
     Resolves when the server closes it; abort with the AbortSignal. */
  async stream(path, onEvent, signal) {
    const r = await fetch(path, { headers: this.headers({ Accept: "text/event-stream" }), signal, cache: "no-store" });
    if (!r.ok || !r.body) throw new NF.ApiError(r.status, null);
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = { type: "message", data: "" };
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const c = line.indexOf(":");
          const k = c < 0 ? line : line.slice(0, c);
          const v = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
          if (k === "event") ev.type = v;
          else if (k === "data") ev.data += v;
        }
        if (ev.data) {
          try { ev.data = JSON.parse(ev.data); } catch (e) { /* keep text */ }
          onEvent(ev);
        }
      }
    }
  },
};

NF.TERMINAL = ["finished", "compile_error", "deps_failed", "cancelled", "internal_error"];
NF.isTerminal = (s) => NF.TERMINAL.includes(s);
NF.STATES = ["queued", "waiting_deps", "running", "finished", "compile_error", "deps_failed", "cancelled", "internal_error"];
NF.VERDICTS = ["accepted", "wrong_answer", "time_limit", "memory_limit", "output_limit", "runtime_error", "internal_error", "compile_error", "deps_failed", "cancelled"];
