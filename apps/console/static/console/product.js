/* Product: active users, retention heat map, top users, scenarios, platform trends; and
   one user's page. Each part comes from its JSON source, {api, answer}: `answer` is what
   the public endpoint `api` answers, drawn as it is. */
(function () {
  "use strict";
  const C = window.Console;
  const origin = location.origin;
  const HEAT = [47, 122, 185]; // the console's first series colour, as the heat map's hue

  function send(path, body, key) {
    return `curl -H "X-API-Key: $${key || "INGEST_KEY"}" -H 'Content-Type: application/json' \\\n  ${origin}${path} \\\n  -d '${body}'`;
  }

  const EVENT_CURL = send("/api/v1/analytics/events", '{"event_type": "user_logged_in", "user_id": "user_123"}');
  const TRACK_CURL = send("/api/v1/analytics/batch-track", '{"period_type": "day"}', "ADMIN_KEY");

  // Money with cents: the shared "USD" format gives a price per call 4 decimals ($0.0000).
  function fmt(value, unit) {
    if (unit === "USD" && value !== null && value !== undefined) {
      return "$" + Number(value).toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    return C.fmt(value, unit);
  }

  function withFormat(api, format) {
    return api + (api.includes("?") ? "&" : "?") + "format=" + format;
  }

  function downloads(key, api, label) {
    const box = document.querySelector(`[data-downloads="${key}"]`);
    if (!box) return;
    box.replaceChildren(
      `${label || "Data"}: `,
      C.el("a", { href: withFormat(api, "csv"), "data-format": "csv", text: "CSV" }), " · ",
      C.el("a", { href: withFormat(api, "json"), "data-format": "json", text: "JSON" }),
      C.el("span", { class: "product-api", text: ` (GET ${api})` }));
  }

  function day(date) {
    return Date.parse(date + "T00:00:00Z") / 1000;
  }

  function moment(iso) {
    return Date.parse(iso) / 1000;
  }

  function table(head, rows, numeric) {
    return C.el("div", { class: "product-table-wrap" },
      C.el("table", { class: "console-table" },
        C.el("thead", {}, C.el("tr", {}, ...head.map((h, i) => C.el("th", { class: numeric.includes(i) ? "num" : null, text: h })))),
        C.el("tbody", {}, ...rows)));
  }

  function whenCell(iso) {
    const w = C.when(iso);
    return C.el("td", { class: "console-when", title: w.title, text: w.text });
  }

  function failed(part, error) {
    const section = document.getElementById(`part-${part}`);
    if (section && !section.querySelector(".console-error")) {
      section.append(C.el("p", { class: "console-error", role: "alert", text: `Could not read this part: ${error.message}` }));
    }
  }

  // --- the Product page
  function productPage(config) {
    const userUrl = (id) => config.user_url.replace("USER_ID", encodeURIComponent(id));

    const render = {
      active({ api, answer }) {
        for (const name of ["dau", "wau", "mau"]) {
          document.querySelector(`[data-field="${name}"]`).textContent = C.fmt(answer[name], "users");
        }
        const s = answer.series;
        C.chart(document.getElementById("chart-active"), {
          key: "active",
          heading: "Daily, weekly and monthly active users",
          title: "DAU",
          unit: "users",
          height: 200,
          samples: s.filter((d) => d.mau > 0).length,
          points: s.map((d) => [day(d.date), d.dau]),
          extra: [
            { label: "WAU (7 d)", points: s.map((d) => [day(d.date), d.wau]) },
            { label: "MAU (30 d)", points: s.map((d) => [day(d.date), d.mau]) },
          ],
          api,
          empty: {
            message: `No user seen in the last ${config.days} days. Users count from events, activity and AI usage; send an event:`,
            curl: EVENT_CURL,
          },
        });
        downloads("active", api, "Series");
      },

      retention({ api, answer }) {
        const box = document.querySelector('[data-part="retention"]');
        downloads("retention", api, "Cohorts");
        if (!answer.cohorts.some((c) => c.size > 0)) {
          C.emptyState(box, `No user first seen in the last ${answer.weeks} weeks. A user's cohort is the week of their first event, activity or AI request; send an event:`, EVENT_CURL);
          return;
        }
        const head = C.el("tr", {}, C.el("th", { text: "Cohort (week of)" }), C.el("th", { class: "num", text: "Users" }),
          ...Array.from({ length: answer.weeks }, (_, k) => C.el("th", { class: "num", text: k ? `+${k} w` : "Week 0" })));
        const rows = answer.cohorts.map((c) => {
          const cells = Array.from({ length: answer.weeks }, (_, k) => {
            if (k >= c.retained.length) return C.el("td", { class: "heat heat-future", "aria-hidden": "true" });
            const share = c.retention[k];
            const text = c.size ? C.fmt(share, "share") : "–";
            const td = C.el("td", {
              class: "heat num", "data-week": String(k), "data-retained": String(c.retained[k]), "data-share": String(share),
              title: `${c.retained[k]} of ${c.size} users of the week of ${c.cohort_start} seen ${k ? k + " week(s) later" : "that week"}`,
            }, C.el("span", { class: "heat-share", text }), C.el("span", { class: "heat-count", text: String(c.retained[k]) }));
            if (c.size) {
              td.style.backgroundColor = `rgba(${HEAT.join(",")},${(0.06 + 0.9 * share).toFixed(3)})`;
              if (share > 0.5) td.classList.add("heat-dark");
            }
            return td;
          });
          return C.el("tr", { "data-cohort": c.cohort_start },
            C.el("th", { scope: "row", text: c.cohort_start }),
            C.el("td", { class: "num", "data-size": String(c.size), text: C.fmt(c.size, "") }), ...cells);
        });
        box.replaceChildren(C.el("div", { class: "product-table-wrap" },
          C.el("table", { class: "console-table product-heat", id: "retention-table" },
            C.el("thead", {}, head), C.el("tbody", {}, ...rows))),
          C.el("p", { class: "console-note", text: "Each cell: the share of the cohort seen that week (its colour), and how many users that is." }));
      },

      "top-users"({ api, answer }) {
        const box = document.querySelector('[data-part="top-users"]');
        downloads("top-users", api, "Users");
        if (!answer.length) {
          C.emptyState(box, `No user seen in the last ${config.days} days. Send an event naming one:`, EVENT_CURL);
          return;
        }
        const rows = answer.map((u) => C.el("tr", { "data-user": u.user_id },
          C.el("td", {}, C.el("a", { href: userUrl(u.user_id), text: u.user_id }),
            u.email ? C.el("div", { class: "product-email", text: u.email }) : null),
          C.el("td", { class: "num", text: C.fmt(u.activity_count, "") }),
          whenCell(u.last_active)));
        box.replaceChildren(table(["User", "Activity", "Last active"], rows, [1]),
          C.el("p", { class: "console-note", text: "Activity: events, activity records and AI requests." }));
      },

      scenarios({ api, answer }) {
        const box = document.querySelector('[data-part="scenarios"]');
        downloads("scenarios", api, "Scenarios");
        if (!answer.length) {
          C.emptyState(box, `No scenario started in the last ${config.days} days. A scenario is started and completed by events naming it (metadata.scenario_id):`,
            send("/api/v1/analytics/events", '{"event_type": "scenario_started", "user_id": "user_123", "metadata": {"scenario_id": "job-interview", "scenario_name": "Job interview"}}'));
          return;
        }
        const rows = answer.map((s) => C.el("tr", { "data-scenario": s.scenario_id },
          C.el("td", { title: s.scenario_id, text: s.name }),
          C.el("td", { class: "num", text: C.fmt(s.start_count, "") }),
          C.el("td", { class: "num", text: C.fmt(s.completion_count, "") }),
          C.el("td", { class: "num product-rate" },
            C.el("span", { class: "product-bar", style: `width:${Math.min(s.completion_rate, 100)}%` }),
            C.el("span", { class: "product-rate-text", text: C.fmt(s.completion_rate, "%") }))));
        box.replaceChildren(table(["Scenario", "Starts", "Completions", "Completed"], rows, [1, 2, 3]));
      },

      platform({ api, answer }) {
        downloads("platform", api, "Dashboard");
        const m = answer.current_metrics;
        const now = document.querySelector('[data-part="platform-now"]');
        const stat = (label, value, unit, key) => C.el("div", { class: "stat" },
          C.el("span", { class: "stat-label", text: label }),
          C.el("span", { class: "stat-value", "data-field": key, text: fmt(value, unit) }));
        now.replaceChildren(
          stat("Users", m.users.total, "", "users.total"),
          stat(`Active (${answer.days} d)`, m.users.active, "", "users.active"),
          stat(`New (${answer.days} d)`, m.users.new, "", "users.new"),
          stat("Contracts", m.contracts.total, "", "contracts.total"),
          stat("Open contracts", m.contracts.active, "", "contracts.active"),
          stat(`Completed (${answer.days} d)`, m.contracts.completed, "", "contracts.completed"),
          stat(`Revenue (${answer.days} d)`, m.financial.revenue, "USD", "financial.revenue"),
          stat(`Platform fees (${answer.days} d)`, m.financial.platform_fees, "USD", "financial.platform_fees"));
        const box = document.querySelector('[data-charts="platform"]');
        const t = answer.trends;
        const specs = [
          { key: "platform_users", heading: "Users", unit: "users", lines: [["Total", "total_users"], ["Active", "active_users"], ["New", "new_users"]] },
          { key: "platform_contracts", heading: "Contracts", unit: "contracts", lines: [["Total", "total_contracts"], ["Open", "active_contracts"], ["Completed", "completed_contracts"]] },
          { key: "platform_revenue", heading: "Revenue per day", unit: "USD", lines: [["Revenue", "revenue"], ["Platform fees", "platform_fees"]] },
        ];
        if (!t.length) {
          for (const spec of specs) { const old = C.charts[spec.key]; if (old) { old.destroy(); delete C.charts[spec.key]; } }
          C.emptyState(box, `No tracked day in the last ${answer.days} days. Beat tracks each UTC day once it is over (make run starts beat and a worker); track the last complete day now:`, TRACK_CURL);
          return;
        }
        if (box.querySelector(":scope > .console-empty")) box.replaceChildren();
        for (const spec of specs) {
          let node = document.getElementById(`chart-${spec.key}`);
          if (!node) { node = C.el("div", { class: "console-chart", id: `chart-${spec.key}` }); box.append(node); }
          const [first, ...rest] = spec.lines;
          const series = (field) => t.map((row) => [moment(row.period_start), row[field]]);
          C.chart(node, {
            key: spec.key, heading: spec.heading, title: first[0], unit: spec.unit, api,
            samples: t.length, points: series(first[1]),
            extra: rest.map(([label, field]) => ({ label, points: series(field) })),
          });
        }
      },
    };

    async function load(key) {
      try {
        render[key](await C.json(config.sources[key]));
      } catch (e) {
        failed(key, e);
      }
    }

    const form = document.getElementById("product-window");
    for (const select of form.querySelectorAll("select")) select.addEventListener("change", () => form.submit());
    // The active users' chart (the page's first) is read first, the other parts once it
    // is drawn: on a busy server its read does not wait behind theirs.
    const [first, ...rest] = Object.keys(config.sources);
    load(first).finally(() => { for (const key of rest) load(key); });
    for (const key of [first, ...rest]) setInterval(() => load(key), config.refresh_seconds * 1000);
  }

  // --- one user's page
  const PERIOD_COLUMNS = [
    ["Sessions", "sessions", ""], ["Page views", "page_views", ""], ["Actions", "actions", ""],
    ["Active time", "active_time_seconds", "s"], ["Contracts created", "contracts_created", ""],
    ["completed", "contracts_completed", ""], ["cancelled", "contracts_cancelled", ""],
    ["Credits bought", "credits_purchased", ""], ["Credits spent", "credits_spent", ""],
    ["Spent", "total_spent", "USD"], ["Agents used", "agents_used", ""], ["Orchestrations", "orchestrations_run", ""],
  ];

  function metadata(value) {
    const text = value && Object.keys(value).length ? JSON.stringify(value) : "";
    return C.el("td", { class: "product-meta", title: text, text: text.length > 120 ? text.slice(0, 119) + "…" : text });
  }

  async function userPage(config) {
    const form = document.querySelector(".product-window");
    for (const select of form.querySelectorAll("select")) select.addEventListener("change", () => form.submit());
    let data;
    try {
      data = await C.json(config.source);
    } catch (e) {
      failed("periods", e);
      return;
    }
    const periods = data.periods.answer;
    downloads("periods", data.periods.api, "Periods");
    C.chart(document.getElementById("chart-user_periods"), {
      key: "user_periods", heading: "Sessions, page views and actions per period", title: "Sessions", unit: "",
      api: data.periods.api, samples: periods.length,
      points: periods.map((p) => [moment(p.period_start), p.sessions]),
      extra: [
        { label: "Page views", points: periods.map((p) => [moment(p.period_start), p.page_views]) },
        { label: "Actions", points: periods.map((p) => [moment(p.period_start), p.actions]) },
      ],
      empty: {
        message: `No ${config.period_type} of this user has been tracked. Beat tracks each period once it is over (make run starts beat and a worker); track the last complete ${config.period_type} now:`,
        curl: send("/api/v1/analytics/batch-track", `{"period_type": "${config.period_type}"}`, "ADMIN_KEY"),
      },
    });
    const box = document.querySelector('[data-part="periods"]');
    if (periods.length) {
      const rows = periods.slice().reverse().map((p) => C.el("tr", { "data-period": p.period_start },
        whenCell(p.period_start),
        ...PERIOD_COLUMNS.map(([, field, unit]) => C.el("td", { class: "num", text: fmt(p[field], unit) }))));
      box.replaceChildren(table(["Period start", ...PERIOD_COLUMNS.map((c) => c[0])], rows, PERIOD_COLUMNS.map((_, i) => i + 1)));
    } else {
      box.replaceChildren();
    }

    const events = data.events.answer;
    downloads("events", data.events.api, "Events");
    const list = document.querySelector('[data-part="events"]');
    if (!events.length) {
      C.emptyState(list, "No event of this user is kept. Send one:",
        send("/api/v1/analytics/events", JSON.stringify({ event_type: "user_logged_in", user_id: config.user_id })));
      return;
    }
    const rows = events.map((e) => C.el("tr", { "data-event": e.event_id },
      whenCell(e.timestamp),
      C.el("td", { class: "product-type", text: e.event_type }),
      C.el("td", { class: "product-session", text: e.session_id || "–" }),
      metadata(e.metadata)));
    list.replaceChildren(table(["Time", "Event", "Session", "Metadata"], rows, []));
    list.querySelector("table").classList.add("product-events");
  }

  const main = document.getElementById("product-config");
  if (main) productPage(JSON.parse(main.textContent));
  const user = document.getElementById("product-user-config");
  if (user) userPage(JSON.parse(user.textContent));
})();
