/* The overview: each panel from its JSON source, the live figures from the feed. */
(function () {
  "use strict";
  const C = window.Console;
  const config = JSON.parse(document.getElementById("console-config").textContent);
  const origin = location.origin;
  const SEVERITIES = ["critical", "error", "warning", "info"];
  const INGEST_KEEP = 720; // pushes kept for the ingest chart (an hour at 5 s)
  const ingest = []; // the feed's readings since this page opened: [t, accepted, rejected]
  // The last hours from beat's per-minute counters (data/ingest.json), drawn at once; the
  // feed's readings are appended after them.
  let history = null; // {charts: [accepted, rejected], hours, interval}

  function send(path, body, key) {
    return `curl -H "X-API-Key: $${key || "INGEST_KEY"}" -H 'Content-Type: application/json' \\\n  ${origin}${path} \\\n  -d '${body}'`;
  }

  function setField(name, value) {
    for (const node of document.querySelectorAll(`[data-field="${name}"]`)) {
      node.textContent = value === "" ? "" : C.fmt(value, node.dataset.unit === undefined ? "status" : node.dataset.unit);
    }
  }

  function at(data, path) {
    return path.split(".").reduce((v, k) => (v === null || v === undefined ? v : v[k]), data);
  }

  // --- panels
  function hostEmpty(chart, host) {
    return {
      message: `No reading of this machine (${chart.metric}, host ${host}) in the last 24 h. Beat records this machine's figures every minute (make run starts beat and a worker); or send one:`,
      curl: send("/api/v1/analytics/metrics/record", `{"metric_name": "${chart.metric}", "value": 42.5, "labels": {"host": "${host}"}}`),
    };
  }

  const TRAFFIC_EMPTY = {
    message: "No request in the last 24 h. Every request this service serves is logged (ANALYTICS_ENABLED); other services ship theirs:",
    curl: send("/api/v1/analytics/requests", '{"service": "web", "endpoint": "/api/items", "method": "GET", "status_code": 200, "response_time_ms": 42}'),
  };

  function drawCharts(panel, data, empty) {
    const box = document.querySelector(`[data-charts="${panel}"]`);
    if (!box) return;
    if (data.charts.every((spec) => spec.samples === 0)) {
      // Nothing in any chart: one message for the panel, not one blank chart each.
      for (const spec of data.charts) { const old = C.charts[spec.key]; if (old) { old.destroy(); delete C.charts[spec.key]; } }
      const what = empty(data.charts[0]);
      C.emptyState(box, what.message, what.curl);
      box.firstChild.append(C.el("p", { class: "console-chart-source" }, "Sources: ",
        ...data.charts.map((spec, i) => C.el("span", {}, i ? ", " : "", C.el("a", { href: spec.api, text: spec.title })))));
      return;
    }
    if (box.querySelector(":scope > .console-empty")) box.replaceChildren();
    for (const spec of data.charts) {
      let node = document.getElementById(`chart-${spec.key}`);
      if (!node) {
        node = C.el("div", { class: "console-chart", id: `chart-${spec.key}` });
        box.append(node);
      }
      C.chart(node, { ...spec, empty: empty(spec) });
    }
  }

  const render = {
    host(data) {
      setField("host.host", data.host.host);
      drawCharts("host", data, (spec) => hostEmpty(spec, data.host.host));
    },
    traffic(data) {
      drawCharts("traffic", data, () => TRAFFIC_EMPTY);
    },
    incidents(data) {
      severities(data.by_severity);
    },
    services(data) {
      setField("services.overall_status", data.total_services ? data.overall_status : "");
      const box = document.querySelector('[data-list="services"]');
      if (!data.services.length) {
        C.emptyState(box, "No monitored service yet. Add one (an admin key), beat checks it:",
          send("/api/v1/analytics/monitoring/services", `{"name": "api", "check_type": "http", "target": "${origin}/api/v1/analytics/health", "interval_seconds": 30}`, "ADMIN_KEY"));
        return;
      }
      const rows = data.services.map((s) => {
        const checked = C.when(s.last_checked);
        return C.el("tr", {},
          C.el("td", {}, C.el("span", { class: `console-dot status-${s.status}`, title: s.status }), " ", s.service_name),
          C.el("td", { class: `status-text status-${s.status}`, text: s.status }),
          C.el("td", { class: "num", text: C.fmt(s.response_time_ms, "ms") }),
          C.el("td", { class: "console-when", title: checked.title, text: checked.text }));
      });
      box.replaceChildren(C.el("table", { class: "console-table" },
        C.el("thead", {}, C.el("tr", {}, C.el("th", { text: "Service" }), C.el("th", { text: "Status" }),
          C.el("th", { class: "num", text: "Response" }), C.el("th", { text: "Last checked" }))),
        C.el("tbody", {}, ...rows)));
    },
    ai(data) {
      setField("ai.requests", data.requests);
      setField("ai.cost_usd", data.cost_usd);
      const box = document.querySelector('[data-list="assistants"]');
      if (!data.requests) {
        C.emptyState(box, "No AI request in the last 24 h. Log one:",
          send("/api/v1/analytics/log-ai-usage", '{"feature": "chat", "model": "gpt-4o", "tokens_in": 1200, "tokens_out": 300, "ttft_ms": 420}'));
        return;
      }
      const rows = data.assistants.map((a) => C.el("tr", {},
        C.el("td", { text: a.assistant_name || "(no assistant)" }),
        C.el("td", { class: "num", text: C.fmt(a.requests, "") }),
        C.el("td", { class: "num", text: C.fmt(a.estimated_cost_usd, "USD") })));
      const note = data.unpriced_tokens ? C.el("p", { class: "console-note", text: `${C.fmt(data.unpriced_tokens, "")} tokens of models without a price are not in the cost.` }) : null;
      box.replaceChildren(C.el("table", { class: "console-table" },
        C.el("thead", {}, C.el("tr", {}, C.el("th", { text: "Assistant" }), C.el("th", { class: "num", text: "Requests" }), C.el("th", { class: "num", text: "Cost" }))),
        C.el("tbody", {}, ...rows)), ...(note ? [note] : []));
    },
    ingest(data) {
      history = data;
      drawIngest();
    },
    users(data) {
      setField("users.dau", data.dau);
      setField("users.wau", data.wau);
      setField("users.mau", data.mau);
      const box = document.querySelector('[data-list="users-empty"]');
      if (!data.mau) {
        C.emptyState(box, "No user seen in 30 days. Users count from events, activity and AI usage:",
          send("/api/v1/analytics/events", '{"event_type": "user_logged_in", "user_id": "user_123"}'));
      } else {
        box.replaceChildren();
      }
    },
  };

  function severities(counts) {
    const box = document.querySelector('[data-list="severities"]');
    if (!box) return;
    const items = SEVERITIES.map((name) => C.el("li", { class: `severity-${name}` },
      C.el("span", { class: "severity-count", "data-severity": name, "data-count": String(counts[name] || 0), text: String(counts[name] || 0) }),
      C.el("span", { class: "severity-name", text: name })));
    box.replaceChildren(...items);
  }

  async function load(key) {
    try {
      render[key](await C.json(config.panels[key]));
    } catch (e) {
      const panel = document.getElementById(`panel-${key}`);
      if (panel && !panel.querySelector(".console-error")) {
        panel.append(C.el("p", { class: "console-error", role: "alert", text: `Could not read this panel: ${e.message}` }));
      }
    }
  }

  // --- live
  function onLive(data) {
    for (const node of document.querySelectorAll("[data-live]")) {
      node.textContent = C.fmt(at(data, node.dataset.live), node.dataset.unit);
      if (node.dataset.live === "health.status") node.className = `stat-value status-text status-${data.health.status}`;
    }
    severities(data.open_incidents_by_severity || {});
    const t = Date.parse(data.generated_at) / 1000;
    if (data.ingest_rate !== null && (!ingest.length || ingest[ingest.length - 1][0] < t)) {
      ingest.push([t, data.ingest_rate, data.rejected_rate]);
      if (ingest.length > INGEST_KEEP) ingest.shift();
    }
    drawIngest();
  }

  function drawIngest() {
    const node = document.getElementById("chart-ingest");
    const [accepted, rejected] = history ? history.charts : [null, null];
    const recorded = accepted ? accepted.samples : 0;
    // History up to the feed's first reading, then the feed's readings.
    const before = (points) => points.filter((p) => !ingest.length || p[0] < ingest[0][0]);
    const past = recorded ? before(accepted.points) : [];
    const pastRejected = recorded ? before(rejected.points) : [];
    const live = ingest.length < 2 && !recorded ? 0 : ingest.length; // a rate alone is no line
    C.chart(node, {
      key: "ingest",
      heading: recorded ? `Ingest, last ${history.hours} h (${history.interval} averages, then live)` : "Ingest since this page opened",
      title: "Accepted",
      unit: "items/s",
      height: 120,
      api: recorded ? accepted.api : undefined,
      samples: recorded + live,
      points: [...past, ...ingest.map((p) => [p[0], p[1]])],
      extra: [{ label: "Rejected", points: [...pastRejected, ...ingest.map((p) => [p[0], p[2]])], color: "#b91c1c" }],
      empty: {
        message: ingest.length ? `${C.fmt(ingest[0][1], "items/s")} accepted, ${C.fmt(ingest[0][2], "items/s")} rejected; the chart starts with the next reading. Send something to see it move:` : "The ingest rate is measured between two readings of the feed; it fills in as this page stays open (beat records it every minute for this chart's history). Send something to see it move:",
        curl: send("/api/v1/analytics/events", '{"event_type": "user_logged_in", "user_id": "user_123"}'),
      },
    });
  }

  function onStatus(kind, text) {
    const node = document.getElementById("live-status");
    node.textContent = text;
    node.dataset.state = kind;
  }

  drawIngest();
  for (const key of Object.keys(config.panels)) {
    if (key === "live") continue;
    load(key);
    if (key !== "incidents" && key !== "ingest") setInterval(() => load(key), config.refresh_seconds * 1000);
  }
  if (config.panels.live) {
    C.live({ wsPort: config.ws_port, pollUrl: config.panels.live, pollSeconds: config.poll_seconds, onData: onLive, onStatus });
  }
})();
