/* The Uptime pages: the services' list (status, 24 h / 7 d / 30 d, compact daily bars)
   and a service's page (90 daily bars, the SLA and its error budget, the response-time
   chart, the downtimes, a heartbeat's pings). Every figure is the API answer the page
   embeds (see apps/console/uptime.py); times in UTC, the viewer's local time on hover.
   Uses console.js (window.Console). */
(function () {
  "use strict";

  const LEVELS = [
    ["up", "no downtime"],
    ["dip", "99 % or more"],
    ["partial", "95 % or more"],
    ["down", "under 95 %"],
    ["none", "no data"],
  ];

  function level(uptime) {
    if (uptime === null || uptime === undefined) return "none";
    if (uptime >= 100) return "up";
    if (uptime >= 99) return "dip";
    if (uptime >= 95) return "partial";
    return "down";
  }

  function pct(value) {
    if (value === null || value === undefined) return "no data";
    if (value >= 100) return "100 %";
    // Never round a figure under 100 up to "100.00".
    return (value >= 99.995 ? value.toFixed(4) : value.toFixed(2)) + " %";
  }

  function duration(seconds) {
    let s = Math.round(Math.abs(seconds));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return `${d} d ${h} h ${String(m).padStart(2, "0")} min`;
    if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
    if (m) return `${m} min ${String(s).padStart(2, "0")} s`;
    return `${s} s`;
  }

  function addDays(isoDate, n) {
    const d = new Date(isoDate + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }

  function dayLabel(date, uptime, seconds, count) {
    if (uptime === null || uptime === undefined) return `${date} (UTC): no data`;
    let text = `${date} (UTC): ${pct(uptime)} up`;
    if (count) text += `, ${count} downtime${count === 1 ? "" : "s"} (${duration(seconds)} down)`;
    return text;
  }

  /* The bars of `days` ([{date, uptime, seconds, count}], oldest first). */
  function bars(C, days, label, compact) {
    const box = C.el("div", { class: "uptime-bars" + (compact ? " uptime-bars-compact" : ""), role: "img", "aria-label": label });
    for (const day of days) {
      const lvl = level(day.uptime);
      box.append(C.el("span", {
        class: `uptime-bar bar-${lvl}`,
        "data-date": day.date,
        "data-level": lvl,
        "data-uptime": day.uptime === null ? "" : String(day.uptime),
        title: dayLabel(day.date, day.uptime, day.seconds, day.count),
      }));
    }
    return box;
  }

  function legend(C) {
    const box = document.getElementById("uptime-legend");
    if (!box) return;
    box.replaceChildren(...LEVELS.map(([lvl, text]) =>
      C.el("span", {}, C.el("span", { class: `uptime-swatch bar-${lvl}` }), text)));
  }

  function statusText(C, status) {
    return C.el("span", {}, C.el("span", { class: `console-dot status-${status}` }), " ",
      C.el("span", { class: `status-text status-${status}`, text: status }));
  }

  function curlCreate(path) {
    return `curl -H "X-API-Key: $ADMIN_KEY" -H 'Content-Type: application/json' \\\n  ${location.origin}${path} \\\n  -d '{"name": "website", "check_type": "http", "target": "https://example.com/health", "interval_seconds": 60}'`;
  }

  // --- the list
  function drawList(C, config) {
    const box = document.getElementById("uptime-services");
    if (!config.services.length) {
      const empty = C.el("div", { class: "console-empty", id: "uptime-empty" },
        C.el("p", { text: "No service is monitored yet. Monitor one through the API (an admin key):" }),
        C.el("pre", { class: "console-curl" }, C.el("code", { text: curlCreate(config.create_api) })),
        C.el("p", {}, "or ", C.el("a", { href: config.admin_add, id: "uptime-admin-add", text: "add one in the admin" }), "."));
      box.replaceChildren(empty);
      return;
    }
    const body = C.el("tbody");
    for (const s of config.services) {
      const days = s.days.map((d, i) => ({ date: addDays(config.first_day, i), uptime: d[0], seconds: d[1], count: d[2] }));
      body.append(C.el("tr", { "data-service": String(s.id), "data-status": s.status },
        C.el("td", {}, C.el("a", { href: s.url, text: s.name }),
          C.el("div", { class: "console-note", text: s.check_type + (s.enabled ? "" : ", disabled") + (s.public ? ", public" : "") })),
        C.el("td", {}, statusText(C, s.status)),
        ...["24h", "7d", "30d"].map((w) => C.el("td", {
          class: "num uptime-figure" + (s.uptime[w] !== null && s.uptime[w] < s.sla_target ? " uptime-breach" : ""),
          "data-window": w, "data-label": w.replace("h", " h").replace("d", " d"), "data-uptime": s.uptime[w] === null ? "" : String(s.uptime[w]), text: pct(s.uptime[w]) })),
        C.el("td", { class: "num uptime-figure", "data-label": "SLA target", text: pct(s.sla_target) }),
        C.el("td", { class: "uptime-bars-cell" }, bars(C, days, `${s.name}: uptime per day over the last ${config.days} days`, true))));
    }
    const table = C.el("table", { class: "console-table", id: "uptime-list" },
      C.el("thead", {}, C.el("tr", {},
        C.el("th", { text: "Service" }), C.el("th", { text: "Status" }),
        C.el("th", { class: "num", text: "24 h" }), C.el("th", { class: "num", text: "7 d" }),
        C.el("th", { class: "num", text: "30 d" }), C.el("th", { class: "num", text: "SLA target" }),
        C.el("th", { class: "uptime-bars-cell", text: `Last ${config.days} days` }))),
      body);
    box.replaceChildren(C.el("div", { class: "uptime-table-wrap" }, table));
    legend(C);
    // The rows of bars are on the page (all at once): the list's first chart, for the bench.
    if (window.consoleFirstChartMs === undefined) window.consoleFirstChartMs = performance.now();
  }

  // --- a service
  function stat(C, label, value, attrs) {
    return C.el("div", Object.assign({ class: "stat" }, attrs || {}),
      C.el("span", { class: "stat-label", text: label }), C.el("span", { class: "stat-value", text: value }));
  }

  function drawSummary(C, config) {
    const u = config.uptime;
    const status = document.getElementById("service-status");
    const checked = C.when(u.service.last_checked);
    status.replaceChildren(statusText(C, u.service.status), " · last checked ",
      C.el("time", { title: checked.title, text: checked.text }));
    document.getElementById("uptime-windows").replaceChildren(
      ...["24h", "7d", "30d"].map((w) => stat(C, `Uptime ${w.replace("h", " h").replace("d", " d")}`, pct(u.uptime[w]),
        { "data-window": w, "data-uptime": u.uptime[w] === null ? "" : String(u.uptime[w]) })),
      stat(C, "SLA target", pct(u.sla_target)),
      stat(C, "Last response", C.fmt(u.service.response_time_ms, "ms")));
  }

  function drawDays(C, config) {
    const days = config.uptime.days.map((d) => ({ date: d.date, uptime: d.uptime_percentage, seconds: d.downtime_seconds, count: d.downtime_count }));
    const first = days[0].date;
    const box = document.getElementById("uptime-days");
    box.replaceChildren(
      bars(C, days, `${config.name}: uptime per day over the last ${days.length} days`, false),
      C.el("div", { class: "uptime-axis" },
        C.el("span", { text: first }),
        C.el("span", { class: "uptime-axis-figure", text: `${days.filter((d) => d.uptime === null).length} of ${days.length} days without data` }),
        C.el("span", { text: "today" })));
    legend(C);
    if (window.consoleFirstChartMs === undefined) window.consoleFirstChartMs = performance.now();
  }

  function drawSla(C, config) {
    const sla = config.uptime.sla;
    const box = document.getElementById("sla");
    if (sla.status === "no_data") {
      box.replaceChildren(C.el("p", { class: "console-note", id: "sla-no-data", text: sla.detail }));
      return;
    }
    const start = Date.parse(sla.period_start) / 1000;
    const end = Date.parse(sla.period_end) / 1000;
    const budget = (end - start) * (1 - sla.target / 100);
    const left = sla.error_budget_remaining_seconds;
    const share = budget > 0 ? Math.max(0, Math.min(1, left / budget)) : 0;
    const width = left < 0 ? 1 : share; // spent: the whole bar in red
    const meter = C.el("div", { class: "uptime-budget", title: `${duration(Math.max(left, 0))} of ${duration(budget)} left` },
      C.el("span", { class: left < 0 ? "over" : share < 0.25 ? "low" : "ok", style: `width: ${(100 * width).toFixed(2)}%` }));
    box.replaceChildren(
      C.el("div", { class: "console-stats" },
        stat(C, "Uptime (30 d)", pct(sla.uptime_percentage), { id: "sla-uptime", "data-value": String(sla.uptime_percentage) }),
        stat(C, "Target", pct(sla.target), { id: "sla-target", "data-value": String(sla.target) }),
        stat(C, "Compliant", sla.compliant ? "yes" : "no", { id: "sla-compliant", "data-value": String(sla.compliant), class: "stat " + (sla.compliant ? "sla-ok" : "sla-breach") }),
        stat(C, "Error budget left", (left < 0 ? "−" : "") + duration(left), { id: "sla-budget", "data-value": String(left) }),
        stat(C, "Downtime", `${duration(sla.downtime_seconds)} (${sla.downtime_count})`, { id: "sla-downtime", "data-value": String(sla.downtime_seconds) }),
        stat(C, "Average response", C.fmt(sla.avg_response_time_ms, "ms")),
        stat(C, "p95 response", C.fmt(sla.p95_response_time_ms, "ms"))),
      meter,
      C.el("p", { class: "console-note", id: "sla-budget-note",
        text: left < 0
          ? `Budget spent: down ${duration(-left)} more than the ${pct(sla.target)} target allows (${duration(budget)} over this period).`
          : `${(100 * share).toFixed(1)} % of the error budget left: the ${pct(sla.target)} target allows ${duration(budget)} down over this period.` }),
      C.el("p", { class: "console-note" }, "Period: ", timeRange(C, sla.period_start, sla.period_end)));
  }

  function timeRange(C, a, b) {
    const x = C.when(a), y = C.when(b);
    return C.el("span", {}, C.el("time", { title: x.title, text: x.text }), " to ", C.el("time", { title: y.title, text: y.text }));
  }

  function drawResponse(C, config) {
    const rt = config.response_times;
    const holder = document.getElementById("chart-response-times");
    const heartbeat = config.check_type === "heartbeat";
    const points = rt.points.map((p) => [Date.parse(p.start) / 1000, p.avg_ms]);
    const failed = rt.points.reduce((n, p) => n + p.failed, 0);
    const checks = rt.points.reduce((n, p) => n + p.checks, 0);
    C.chart(holder, {
      key: "response-times",
      title: "Average",
      heading: `Response time · ${checks.toLocaleString("en")} checks, ${failed} failed`,
      unit: "ms",
      points,
      extra: [{ label: "p95", points: rt.points.map((p) => [Date.parse(p.start) / 1000, p.p95_ms]) }],
      height: 180,
      empty: heartbeat
        ? (checks
          ? { message: `A heartbeat measures no response time: its ${checks} ping${checks === 1 ? "" : "s"} in the last ${config.hours} h are listed below.` }
          : { message: `A heartbeat measures no response time, and none of its pings came in the last ${config.hours} h. The job pings its URL (on the admin page) when it succeeds:`,
              curl: `curl -fsS -m 10 ${location.origin}/api/v1/analytics/monitoring/ping/<token>` })
        : { message: `No check of ${config.name} ran in the last ${config.hours} h. Checks run on Celery beat and a worker (make run). Its state now:`,
            curl: `curl -H "X-API-Key: $READ_KEY" ${location.origin}/api/v1/analytics/monitoring/health/${encodeURIComponent(config.name)}` },
    });
  }

  function drawDowntimes(C, config) {
    const box = document.getElementById("downtimes");
    const list = config.uptime.downtimes;
    if (!list.length) {
      box.replaceChildren(C.el("p", { class: "console-note", id: "no-downtimes", text: `No downtime in the last ${config.uptime.days.length} days.` }));
      return;
    }
    const body = C.el("tbody");
    for (const d of list) {
      const s = C.when(d.start);
      const e = d.end ? C.when(d.end) : null;
      body.append(C.el("tr", { "data-start": d.start, "data-seconds": String(d.duration_seconds), "data-ongoing": String(d.ongoing) },
        C.el("td", {}, C.el("time", { class: "console-when", title: s.title, text: s.text })),
        C.el("td", {}, e ? C.el("time", { class: "console-when", title: e.title, text: e.text }) : C.el("span", { class: "uptime-ongoing", text: "ongoing" })),
        C.el("td", { class: "num", text: duration(d.duration_seconds) + (d.ongoing ? " so far" : "") }),
        C.el("td", { class: "uptime-error", text: d.error || "–" })));
    }
    const total = list.reduce((n, d) => n + d.duration_seconds, 0);
    box.replaceChildren(C.el("div", { class: "uptime-table-wrap" }, C.el("table", { class: "console-table", id: "downtime-list" },
      C.el("thead", {}, C.el("tr", {}, C.el("th", { text: "Down from" }), C.el("th", { text: "Up again" }), C.el("th", { class: "num", text: "Duration" }), C.el("th", { text: "First error" }))),
      body,
      C.el("tfoot", {}, C.el("tr", {}, C.el("td", { colspan: "2", text: `${list.length} downtime${list.length === 1 ? "" : "s"}` }), C.el("td", { class: "num", text: duration(total) }), C.el("td"))))));
  }

  function drawPings(C, config) {
    const box = document.getElementById("pings");
    if (!box || !config.pings) return;
    const pings = config.pings.pings;
    if (!pings.length) {
      C.emptyState(box, "No ping received yet (pings are kept as long as checks are). The job pings its URL (on the admin page) when it succeeds:",
        `curl -fsS -m 10 ${location.origin}/api/v1/analytics/monitoring/ping/<token>`);
      return;
    }
    const body = C.el("tbody");
    pings.forEach((at, i) => {
      const w = C.when(at);
      const next = pings[i + 1];
      const gap = next ? (Date.parse(at) - Date.parse(next)) / 1000 : null;
      const late = gap !== null && gap > config.interval_seconds + config.grace_seconds;
      body.append(C.el("tr", { "data-ping": at },
        C.el("td", {}, C.el("time", { class: "console-when", title: w.title, text: w.text })),
        C.el("td", { class: "num" + (late ? " uptime-late" : ""), text: gap === null ? "–" : duration(gap) + (late ? " (late)" : "") })));
    });
    box.replaceChildren(C.el("div", { class: "uptime-table-wrap" }, C.el("table", { class: "console-table", id: "ping-list" },
      C.el("thead", {}, C.el("tr", {}, C.el("th", { text: "Pinged at" }), C.el("th", { class: "num", text: "Since the previous" }))), body)));
  }

  function drawService(C, config) {
    drawSummary(C, config);
    drawDays(C, config);
    drawSla(C, config);
    drawResponse(C, config);
    drawDowntimes(C, config);
    drawPings(C, config);
  }

  function refresh(C, config, draw) {
    setInterval(() => {
      C.json(config.data_url).then((data) => {
        Object.assign(config, data);
        draw(C, config);
      }).catch(() => {});
    }, config.refresh_seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const C = window.Console;
    const list = document.getElementById("uptime-config");
    if (list) {
      const config = JSON.parse(list.textContent);
      drawList(C, config);
      refresh(C, config, drawList);
    }
    const one = document.getElementById("uptime-service-config");
    if (one) {
      const config = JSON.parse(one.textContent);
      drawService(C, config);
      refresh(C, config, drawService);
    }
  });
})();
