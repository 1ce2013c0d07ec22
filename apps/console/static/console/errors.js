/* The Errors page: one chart by category, one by severity, each line the `series` of the
   error-trends API asked with that category or severity (its JSON/CSV linked under the
   chart); times in UTC with the viewer's local time on hover. Uses console.js. */
(function () {
  "use strict";

  function curl(path, body) {
    return `curl -H "X-API-Key: $INGEST_KEY" -H 'Content-Type: application/json' \\\n  ${location.origin}${path} \\\n  -d '${body}'`;
  }

  function localTitles() {
    for (const node of document.querySelectorAll("time[data-utc]")) {
      const s = Date.parse(node.dataset.utc);
      if (!Number.isNaN(s)) node.title = new Date(s).toString();
    }
    for (const node of document.querySelectorAll("code[data-curl]")) {
      node.textContent = curl(node.dataset.curl, node.dataset.body);
    }
  }

  function draw(config) {
    const C = window.Console;
    for (const box of document.querySelectorAll("[data-chart]")) {
      const key = box.dataset.chart;
      const lines = config.charts[key] || [];
      const heading = `${box.dataset.heading} (errors per ${config.interval})`;
      if (!lines.length) {
        // The curl line once, in the first chart; the second only says it is empty.
        const first = key === "by_category";
        C.chart(box, {
          key, heading, title: heading, unit: "errors", points: [], samples: 0,
          empty: {
            message: first ? "No error in this window. Send one to see it counted here:" : "No error in this window.",
            curl: first ? curl("/api/v1/analytics/error", '{"category": "api", "severity": "error", "error_message": "Payment provider timed out", "endpoint": "/api/checkout"}') : null,
          },
        });
        continue;
      }
      const [first, ...rest] = lines;
      C.chart(box, {
        key, heading, title: first.label, unit: "errors", points: first.points,
        extra: rest.map((line) => ({ label: line.label, points: line.points })),
        api: config.api, height: 180,
      });
      box.dataset.lines = JSON.stringify(lines.map((line) => line.label));
      const list = C.el("ul", { class: "console-lines" });
      for (const line of lines) {
        list.append(C.el("li", { "data-line": line.label },
          `${line.label} (${C.fmt(line.total, "")} error${line.total === 1 ? "" : "s"}): `,
          C.el("a", { href: line.api + "&format=json", "data-format": "json", text: "JSON" }), " · ",
          C.el("a", { href: line.api + "&format=csv", "data-format": "csv", text: "CSV" })));
      }
      box.append(list);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    localTitles();
    draw(JSON.parse(document.getElementById("errors-config").textContent));
  });
})();
