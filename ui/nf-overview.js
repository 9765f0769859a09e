/* nf-overview.js — the farm at a glance: queue depth per state, the last
   hour's submissions per second, verdict mix and p50/p99 latency (buckets
   aggregated by the server, GET /v1/stats), every process with its heartbeat
   and what it is running, and the drain state. Refreshed every 2 s. */
"use strict";
window.NF = window.NF || {};
NF.views = NF.views || {};

NF.OUTCOME_COLORS = {
  accepted: "#146c2e", wrong_answer: "#b3261e", time_limit: "#8a5300", memory_limit: "#7b1fa2",
  output_limit: "#00695c", runtime_error: "#c2185b", compile_error: "#455a64",
  deps_failed: "#5d4037", cancelled: "#6d6d6d", internal_error: "#000000",
};

NF.views.overview = function (main) {
  const h = NF.h;
  const depthS = h("ul", { class: "tiles", "aria-label": "Submissions per state" });
  const depthD = h("ul", { class: "tiles", "aria-label": "Dependency sets per state" });
  const latency = h("ul", { class: "tiles", "aria-label": "Last hour in figures" });
  const mix = h("ul", { class: "legend-list", "aria-label": "Verdict mix, last hour" });
  const procs = h("div");
  const drain = h("p");
  const err = h("p", { class: "error", role: "alert" });
  const chartRate = h("div", { class: "chart", role: "img", "aria-label": "Submissions per second, last hour" });
  const chartMix = h("div", { class: "chart", role: "img", "aria-label": "Outcomes per minute, last hour" });
  const chartLat = h("div", { class: "chart", role: "img", "aria-label": "Latency p50 and p99, last hour" });
  NF.append(main, [
    h("h1", null, "Overview"), err,
    h("div", { class: "grid" },
      h("section", { class: "card", "aria-labelledby": "q-h" }, h("h2", { id: "q-h" }, "Queue"),
        h("h3", { class: "muted" }, "Submissions"), depthS, h("h3", { class: "muted" }, "Dependency sets"), depthD, drain),
      h("section", { class: "card", "aria-labelledby": "p-h" }, h("h2", { id: "p-h" }, "Workers, builders and other processes"), procs)),
    h("section", { class: "card", "aria-labelledby": "l-h" }, h("h2", { id: "l-h" }, "Last hour"), latency, mix),
    h("div", { class: "grid" },
      h("section", { class: "card" }, h("h2", null, "Submissions per second"), chartRate),
      h("section", { class: "card" }, h("h2", null, "Verdict mix (per minute)"), chartMix),
      h("section", { class: "card" }, h("h2", null, "Latency, submit to result"), chartLat)),
  ]);

  const charts = {};
  let mixKeys = "";
  function width(el) { return Math.max(260, el.clientWidth || 300); }
  function makeChart(key, el, series, data, yLabel) {
    if (charts[key]) { charts[key].destroy(); delete charts[key]; }
    NF.clear(el);
    charts[key] = new uPlot({
      width: width(el), height: 200,
      series: [{}].concat(series),
      axes: [{}, { label: yLabel, size: 60 }],
      scales: { x: { time: true } },
      legend: { show: true },
    }, data, el);
  }
  // Each chart follows its own box, not the window's resize event: a chart
  // made while the layout was still changing (a rotated phone, a refresh
  // during a resize) would otherwise keep a stale width and push the page
  // sideways. The observer also reports each box once when it starts.
  const boxes = new Map([[chartRate, "rate"], [chartMix, "mix"], [chartLat, "lat"]]);
  const resizer = new ResizeObserver((entries) => {
    for (const e of entries) {
      const c = charts[boxes.get(e.target)];
      if (c && c.width !== width(e.target)) c.setSize({ width: width(e.target), height: 200 });
    }
  });
  for (const el of boxes.keys()) resizer.observe(el);

  function tiles(ul, obj) {
    NF.clear(ul);
    for (const [k, v] of Object.entries(obj || {}))
      ul.appendChild(h("li", null, h("span", { class: "n" }, String(v)), h("span", { class: "k" }, k.replace(/_/g, " "))));
  }

  /* "running submission <id>" links to the submission */
  function doingCell(p) {
    const d = p.doing || p.current_item || "—";
    const m = /^running submission ([0-9a-f]+)$/.exec(d);
    if (!m) return d;
    return h("span", null, "running ", h("a", { href: "#/submissions/" + m[1], class: "mono" }, m[1].slice(0, 12) + "…"));
  }

  function render(st) {
    tiles(depthS, st.depths.submissions);
    tiles(depthD, st.depths.depsets);
    NF.setAccepting(st.accepting);
    NF.clear(drain).appendChild(st.accepting
      ? h("span", null, "The farm accepts new work.")
      : h("strong", { class: "v-cancelled" }, "The farm is draining: new submissions are refused."));
    const lat = st.latency;
    let fin = 0, sub = 0;
    for (const b of st.buckets) { fin += b.finished; sub += b.submitted; }
    NF.clear(latency);
    for (const [k, v] of [["submitted", String(sub)], ["finished", String(fin)],
      ["latency p50", NF.fmtMs(lat.p50_ms)], ["latency p99", NF.fmtMs(lat.p99_ms)]])
      latency.appendChild(h("li", null, h("span", { class: "n", "data-k": k }, v), h("span", { class: "k" }, k)));
    NF.clear(mix);
    const outs = Object.entries(st.outcomes).sort((a, b) => b[1] - a[1]);
    if (!outs.length) mix.appendChild(h("li", { class: "muted" }, "No submission finished in the last hour."));
    for (const [k, v] of outs)
      mix.appendChild(h("li", null, NF.word(k), " " + v + " (" + Math.round(100 * v / Math.max(1, fin)) + "%)"));

    const xs = st.buckets.map((b) => b.t / 1000);
    const per = st.bucket_s;
    const rateData = [xs, st.buckets.map((b) => b.submitted / per), st.buckets.map((b) => b.finished / per)];
    if (!charts.rate)
      makeChart("rate", chartRate, [{ label: "submitted/s", stroke: "#0b57d0", width: 2 },
        { label: "finished/s", stroke: "#146c2e", width: 2 }], rateData, "per second");
    else charts.rate.setData(rateData);

    const keys = Object.keys(st.outcomes).sort();
    const mixData = [xs].concat(keys.map((k) => st.buckets.map((b) => b.outcomes[k] || 0)));
    if (keys.join() !== mixKeys || !charts.mix) {
      mixKeys = keys.join();
      if (keys.length)
        makeChart("mix", chartMix, keys.map((k) => ({ label: k, stroke: NF.OUTCOME_COLORS[k] || "#333", width: 2 })), mixData, "count");
      else { NF.clear(chartMix).appendChild(h("p", { class: "muted" }, "Nothing finished in the last hour.")); delete charts.mix; }
    } else charts.mix.setData(mixData);

    const latData = [xs, st.buckets.map((b) => b.p50_ms), st.buckets.map((b) => b.p99_ms)];
    if (!charts.lat)
      makeChart("lat", chartLat, [{ label: "p50 ms", stroke: "#0b57d0", width: 2, spanGaps: true, points: { show: true, size: 5 } },
        { label: "p99 ms", stroke: "#b3261e", width: 2, spanGaps: true, points: { show: true, size: 5 } }], latData, "ms");
    else charts.lat.setData(latData);

    const rows = st.processes.map((p) => h("tr", null,
      h("td", null, p.role), h("td", { class: "mono" }, p.id),
      h("td", { class: "hide-narrow" }, (p.host || "") + (p.pid ? " pid " + p.pid : "")),
      h("td", null, doingCell(p), p.doing_since ? h("span", { class: "muted" }, " since " + NF.fmtAge(p.doing_since)) : null),
      h("td", null, NF.fmtAge(p.last_seen_at)),
      h("td", null, p.stale ? h("strong", { class: "v-failed" }, "stale") : h("span", { class: "v-accepted" }, "live"))));
    NF.clear(procs).appendChild(rows.length ? NF.table(["role", "id", { label: "host", cls: "hide-narrow" }, "doing", "heartbeat", "state"], rows)
      : h("p", { class: "muted" }, "No process has reported a heartbeat."));
  }

  let stopped = false;
  let timer = null;
  async function tick() {
    try {
      const st = await NF.api.get("/v1/stats?window_s=3600&bucket_s=60");
      if (stopped) return;
      err.textContent = "";
      render(st);
    } catch (e) {
      if (!stopped) err.textContent = "Cannot read the farm's stats: " + e.message;
    }
    if (!stopped) timer = setTimeout(tick, 2000);
  }
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    resizer.disconnect();
    for (const c of Object.values(charts)) c.destroy();
  };
};
