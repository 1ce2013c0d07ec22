/* AI usage: every chart and table from the page's JSON source (config.data), which
   answers what the API requests named under each one answer. Charts through console.js. */
(function () {
  "use strict";
  const C = window.Console;
  const config = JSON.parse(document.getElementById("ai-config").textContent);
  const origin = location.origin;

  function send(path, body, key) {
    return `curl -H "X-API-Key: $${key || "INGEST_KEY"}" -H 'Content-Type: application/json' \\\n  ${origin}${path} \\\n  -d '${body}'`;
  }

  const LOG = "/api/v1/analytics/log-ai-usage";
  const USAGE = '{"feature": "chat", "model": "gpt-4o", "assistant_name": "helper", "tokens_in": 1200, "tokens_out": 300, "ttft_ms": 420, "generation_ms": 2100, "response_time_ms": 2600, "cache_hit": false, "question": "How do I reset my password?"}';
  const EMPTY = {
    ttft: "No request in this window sent ttft_ms (time to first token). Send it with the usage:",
    tokens_per_second: "No request in this window sent generation_ms (first token to last), so no speed. Send it with the usage:",
    cache_hit_rate: "No request in this window said whether the cache served it (cache_hit). Send it with the usage:",
  };

  function downloads(sources) {
    const parts = [];
    sources.forEach((s, i) => {
      parts.push(C.el("span", { class: "ai-download" }, sources.length > 1 ? `${s.label}: ` : "",
        C.el("a", { href: s.csv, text: "CSV", download: "" }), " · ",
        C.el("a", { href: s.json, text: "JSON" })));
      if (i + 1 < sources.length) parts.push(" ");
    });
    return C.el("div", { class: "console-chart-source ai-downloads" }, "Download: ", ...parts);
  }

  function drawChart(box, spec, nothing) {
    let node = document.getElementById(`chart-${spec.key}`);
    if (!node) {
      node = C.el("div", { class: "console-chart", id: `chart-${spec.key}` });
      box.append(node);
    }
    const line = (s) => spec.x.map((t, i) => [t, s.values[i]]);
    // Nothing in the window: no line at all; one of nulls lets console.js say so.
    const lines = spec.series.length ? spec.series : [{ label: spec.heading, values: spec.x.map(() => null) }];
    const [first, ...rest] = lines;
    C.chart(node, {
      key: spec.key,
      heading: spec.heading,
      title: first.label,
      unit: spec.unit,
      points: line(first),
      extra: rest.map((s) => ({ label: s.label, points: line(s) })),
      samples: spec.samples,
      api: spec.sources[0].url,
      height: 170,
      empty: nothing
        ? { message: "No AI usage in this window." }
        : { message: EMPTY[spec.key] || "Nothing in this window.", curl: send(LOG, USAGE) },
    });
    node.dataset.series = String(spec.series.length);
    node.append(downloads(spec.sources));
  }

  function table(head, rows) {
    return C.el("table", { class: "console-table" },
      C.el("thead", {}, C.el("tr", {}, ...head.map(([text, num]) => C.el("th", { class: num ? "num" : null, text })))),
      C.el("tbody", {}, ...rows));
  }

  function cell(text, num, title) {
    return C.el("td", { class: num ? "num" : null, text, title });
  }

  function sourceLine(part) {
    return C.el("p", { class: "console-chart-source", "data-source": "" }, "Source: ",
      C.el("a", { href: part.api, text: "GET " + part.api.split("?")[0] }));
  }

  function source(part) {
    return downloads([{ label: "", csv: part.csv, json: part.json }]);
  }

  function features(part, nothing) {
    const box = document.querySelector('[data-list="features"]');
    document.querySelector('[data-field="features-window"]').textContent =
      `last ${part.hours} h` + (part.hours < config.days * 24 ? " (the API's longest window)" : "");
    const foot = sourceLine(part);
    if (!part.rows.length) {
      C.emptyState(box, `No AI request in the last ${part.hours} h.` + (nothing ? "" : " Log one:"), nothing ? null : send(LOG, USAGE));
      box.append(foot, source(part));
      return;
    }
    const rows = part.rows.map((f) => C.el("tr", { "data-feature": f.feature },
      cell(f.feature), cell(C.fmt(f.requests, ""), true), cell(C.fmt(f.success_rate, "%"), true),
      cell(C.fmt(f.avg_response_time_ms, "ms"), true), cell(C.fmt(f.cache_hit_rate, "%"), true)));
    box.replaceChildren(table([["Feature"], ["Requests", 1], ["Success", 1], ["Avg response", 1], ["Cache hits", 1]], rows), foot, source(part));
  }

  function ttft(part) {
    const box = document.querySelector('[data-list="ttft"]');
    const stat = (label, value) => C.el("div", { class: "stat" },
      C.el("span", { class: "stat-label", text: label }),
      C.el("span", { class: "stat-value", "data-ttft": label, text: part.p50 || part.p95 ? C.fmt(value, "ms") : "–" }));
    box.replaceChildren(
      stat("TTFT p50", part.p50), stat("TTFT p95", part.p95), stat("TTFT p99", part.p99),
      C.el("p", { class: "console-chart-source ai-stat-source" }, `Last ${part.period_hours} h. Source: `,
        C.el("a", { href: part.api, text: "GET " + part.api.split("?")[0] }), " ", source(part)));
  }

  function trending(part) {
    const box = document.querySelector('[data-list="trending"]');
    const foot = sourceLine(part);
    if (!part.rows.length) {
      C.emptyState(box, "No question recorded yet. Send the user's question with the usage (secrets are redacted); wordings of one question count together:",
        send(LOG, '{"feature": "chat", "model": "gpt-4o", "question": "How do I reset my password?"}'));
      box.append(foot, source(part));
      return;
    }
    const rows = part.rows.map((t) => {
      const last = C.when(t.last_asked);
      return C.el("tr", { "data-topic": t.topic },
        cell(t.canonical_text, false, t.topic),
        cell(C.fmt(t.frequency, ""), true),
        cell(C.fmt(t.variation_count, ""), true),
        C.el("td", { class: "console-when", title: last.title, text: last.text }));
    });
    box.replaceChildren(table([["Question"], ["Asked", 1], ["Wordings", 1], ["Last asked"]], rows), foot, source(part));
  }

  function freshness(part) {
    const box = document.querySelector('[data-list="freshness"]');
    const foot = sourceLine(part);
    const total = part.rows.reduce((n, r) => n + r.doc_count, 0);
    if (!total) {
      C.emptyState(box, "No knowledge document recorded. Send each document's last update (an ingest key):",
        send("/api/v1/analytics/ai/documents", `{"document_id": "faq-1", "title": "FAQ", "updated_at": "${new Date().toISOString().slice(0, 10)}T00:00:00Z"}`));
      box.append(foot, source(part));
      return;
    }
    const rows = part.rows.map((r, i) => C.el("tr", { "data-category": r.freshness_category },
      cell(r.freshness_category),
      cell(C.fmt(r.doc_count, ""), true),
      cell(C.fmt(r.percentage, "%"), true),
      C.el("td", { class: "ai-bar-cell" }, C.el("span", { class: `ai-bar ai-bar-${i}`, style: `width: ${r.percentage}%` }))));
    box.replaceChildren(table([["Updated"], ["Documents", 1], ["Share", 1], [""]], rows), foot, source(part));
  }

  function render(data) {
    const from = C.when(data.since);
    document.querySelector('[data-field="window"]').textContent = `${from.text} to now`;
    for (const node of document.querySelectorAll("[data-total]")) {
      node.textContent = C.fmt(data.totals[node.dataset.total], node.dataset.unit);
    }
    const nothing = !data.totals.requests;
    const unpriced = document.querySelector('[data-field="unpriced"]');
    unpriced.textContent = data.totals.unpriced_tokens
      ? `${C.fmt(data.totals.unpriced_tokens, "")} tokens of models without a price are not in the cost (add prices under AI › Model prices, or POST /api/v1/analytics/ai/prices).`
      : "";
    const empty = document.getElementById("ai-empty");
    if (nothing) {
      C.emptyState(empty, `No AI usage recorded in the last ${data.days} days. Applications log each request to a model (an ingest key):`, send(LOG, USAGE));
    } else {
      empty.replaceChildren();
    }
    for (const box of document.querySelectorAll("[data-charts]")) {
      // Every chart's place first: a chart sizes itself to its column when drawn.
      for (const key of box.dataset.charts.split(" ")) {
        if (!document.getElementById(`chart-${key}`)) box.append(C.el("div", { class: "console-chart", id: `chart-${key}` }));
      }
      for (const key of box.dataset.charts.split(" ")) {
        const spec = data.charts.find((c) => c.key === key);
        if (spec) drawChart(box, spec, nothing);
      }
    }
    features(data.features, nothing);
    ttft(data.ttft);
    trending(data.trending);
    freshness(data.freshness);
    document.body.dataset.aiLoaded = String(Date.now());
  }

  async function load() {
    try {
      render(await C.json(config.data));
    } catch (e) {
      const box = document.getElementById("ai-empty");
      box.replaceChildren(C.el("p", { class: "console-error", role: "alert", text: `Could not read this page's figures: ${e.message}` }));
    }
  }

  load();
  setInterval(load, config.refresh_seconds * 1000);
})();
