/* The Devices pages: curl lines for the empty states, and on a device's page its state
   band (a coloured segment per stretch of time in one state), the time-in-state totals
   exactly as the device-state-history API answers them, the changes, and one chart per
   stored metric. Times in UTC; hover for the viewer's local time. Uses console.js. */
(function () {
  "use strict";

  const STATE_COLORS = ["#2f7ab9", "#15803d", "#c2410c", "#7c3aed", "#b91c1c", "#0e7490", "#a16207", "#be185d"];
  const UNKNOWN = "#9ca3af";

  function curl(path, body) {
    return `curl -H "X-API-Key: $INGEST_KEY" -H 'Content-Type: application/json' \\\n  ${location.origin}${path} \\\n  -d '${body}'`;
  }

  function duration(seconds) {
    let s = Math.round(seconds);
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return `${d} d ${h} h`;
    if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
    if (m) return `${m} min ${String(s).padStart(2, "0")} s`;
    return `${s} s`;
  }

  function colorOf(states) {
    const map = {};
    states.forEach((state, i) => { map[state] = STATE_COLORS[i % STATE_COLORS.length]; });
    return (state) => (state === null ? UNKNOWN : map[state]);
  }

  function timeline(C, config) {
    const history = config.history;
    const box = document.getElementById("timeline");
    const start = Date.parse(history.since) / 1000;
    const end = start + history.period_hours * 3600; // the selector's "now"
    const changes = history.timeline;
    const seconds = history.time_in_state_seconds;
    document.getElementById("current-state").textContent = history.current_state ? `now: ${history.current_state}` : "";
    if (!changes.length && history.state_at_start === null) {
      C.emptyState(box, `No state change of ${history.device_id} in this window (nor before it). Send one:`,
        curl("/api/v1/analytics/device-state-change", `{"device_id": "${history.device_id}", "previous_state": "idle", "new_state": "active", "reason": "motion"}`));
      return;
    }
    // Stretches: from the window's start in the state it opened in, then each change.
    const stretches = [];
    let from = history.truncated && changes.length ? Date.parse(changes[0].timestamp) / 1000 : start;
    let state = history.truncated ? null : history.state_at_start;
    for (const change of changes) {
      const t = Date.parse(change.timestamp) / 1000;
      if (t > from) stretches.push({ state, from, to: t });
      from = t; state = change.new_state;
    }
    if (end > from) stretches.push({ state, from, to: end });
    const states = Object.keys(seconds).sort((a, b) => seconds[b] - seconds[a]);
    const color = colorOf(states);
    const span = end - start;
    const band = C.el("div", { class: "device-band", role: "img", "aria-label": `States of ${history.device_id} over the window` });
    for (const s of stretches) {
      const label = s.state === null ? "state not known" : s.state;
      band.append(C.el("span", {
        "data-state": s.state === null ? "" : s.state,
        "data-seconds": String(s.to - s.from),
        style: `flex: 0 0 ${(100 * (s.to - s.from) / span).toFixed(4)}%; background: ${color(s.state)}`,
        title: `${label}: ${C.utc(s.from)} to ${C.utc(s.to)} (${C.local(s.from)} to ${C.local(s.to)}), ${duration(s.to - s.from)}`,
      }));
    }
    const axis = C.el("div", { class: "device-band-axis" },
      C.el("span", { text: C.utc(start), title: new Date(start * 1000).toString() }),
      C.el("span", { text: C.utc(end), title: new Date(end * 1000).toString() }));
    // The totals: the API's time_in_state_seconds, as they are.
    const body = C.el("tbody");
    let known = 0;
    for (const st of states) {
      known += seconds[st];
      body.append(C.el("tr", { "data-state": st, "data-seconds": String(seconds[st]) },
        C.el("td", {}, C.el("span", { class: "device-swatch", style: `background: ${color(st)}` }), st),
        C.el("td", { class: "num", text: duration(seconds[st]) }),
        C.el("td", { class: "num", text: C.fmt(100 * seconds[st] / span, "%") })));
    }
    if (!history.truncated && history.state_at_start === null && changes.length) {
      const unknown = Date.parse(changes[0].timestamp) / 1000 - start;
      body.append(C.el("tr", { "data-unknown": String(unknown) },
        C.el("td", {}, C.el("span", { class: "device-swatch", style: `background: ${UNKNOWN}` }), "not known (before the first change)"),
        C.el("td", { class: "num", text: duration(unknown) }),
        C.el("td", { class: "num", text: C.fmt(100 * unknown / span, "%") })));
    }
    const table = C.el("table", { class: "console-table", id: "state-totals" },
      C.el("thead", {}, C.el("tr", {}, C.el("th", { text: "State" }), C.el("th", { class: "num", text: "Time in state" }), C.el("th", { class: "num", text: "Share of window" }))),
      body,
      C.el("tfoot", {}, C.el("tr", {}, C.el("td", { text: `${history.total_changes} change${history.total_changes === 1 ? "" : "s"} in the window` }),
        C.el("td", { class: "num", text: duration(known) }), C.el("td", { class: "num", text: C.fmt(100 * known / span, "%") }))));
    const note = history.truncated ? C.el("p", { class: "console-note", text: "More than 5000 changes: the band shows the newest 5000; the totals cover all." }) : null;
    box.replaceChildren(band, axis, table, ...(note ? [note] : []));
    if (window.consoleFirstChartMs === undefined) window.consoleFirstChartMs = performance.now();
  }

  function changeList(C, config) {
    const box = document.getElementById("changes");
    const changes = config.history.timeline.slice().reverse().slice(0, 100);
    if (!changes.length) {
      box.replaceChildren(C.el("p", { class: "console-note", text: "No change in this window." }));
      return;
    }
    const body = C.el("tbody");
    for (const c of changes) {
      const w = C.when(c.timestamp);
      body.append(C.el("tr", {},
        C.el("td", {}, C.el("time", { class: "console-when", title: w.title, text: w.text })),
        C.el("td", { text: `${c.previous_state || "–"} → ${c.new_state}` }),
        C.el("td", { text: c.changed_by }),
        C.el("td", { text: c.reason })));
    }
    box.replaceChildren(C.el("div", { class: "devices-table-wrap" }, C.el("table", { class: "console-table" },
      C.el("thead", {}, C.el("tr", {}, ...["When", "Change", "By", "Reason"].map((t) => C.el("th", { text: t })))), body)));
  }

  function metrics(C, config) {
    const box = document.getElementById("device-metrics");
    const data = config.metrics;
    if (!data.series.length) {
      C.emptyState(box, `No metrics point of ${data.device_id} stored in this window. Send one:`,
        curl("/api/v1/analytics/device-metrics", `{"device_id": "${data.device_id}", "metrics": {"temperature_c": 21.5, "battery_percent": 87}}`));
      return;
    }
    box.replaceChildren();
    const text = Object.entries(data.text || {});
    if (text.length) {
      const holder = document.getElementById("device-text");
      holder.textContent = "Text values, last reported: " + text.map(([k, v]) => `${k} = ${v}`).join(", ");
      holder.hidden = false;
    }
    for (const s of data.series) {
      const holder = C.el("div", { class: "console-chart", id: `chart-metric-${s.metric}`, "data-metric": s.metric });
      box.append(holder);
      C.chart(holder, {
        key: `metric:${s.metric}`, title: s.metric, unit: "",
        points: s.points.map((p) => [Date.parse(p.timestamp) / 1000, p.value]),
        now: s.points.length ? s.points[s.points.length - 1].value : undefined,
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const C = window.Console;
    for (const node of document.querySelectorAll("code[data-curl]")) node.textContent = curl(node.dataset.curl, node.dataset.body);
    for (const node of document.querySelectorAll("time[data-utc]")) {
      const s = Date.parse(node.dataset.utc);
      if (!Number.isNaN(s)) node.title = new Date(s).toString();
    }
    const holder = document.getElementById("device-config");
    if (!holder) return;
    const config = JSON.parse(holder.textContent);
    timeline(C, config);
    changeList(C, config);
    metrics(C, config);
  });
})();
