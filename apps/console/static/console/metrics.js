/* The metric explorer: the query in the URL, the public API's answers on the page.

   The URL's query string is the whole state (metric, tag=key:value repeated, group_by,
   agg, interval, window or from/to): a changed control pushes a new history entry and
   reads again, back/forward read the entry's query, a reload or a shared link draws the
   same view. Every figure comes from GET /api/v1/analytics/metrics/... with the staff
   session: the chart from .../time-series, the table from .../statistics, the choices
   from .../names and .../tags/<key>/values. */
(function () {
  "use strict";
  const C = window.Console;
  const config = JSON.parse(document.getElementById("metrics-config").textContent);
  const $ = (id) => document.getElementById(id);
  const DEFAULTS = { agg: "avg", window: "24h" };
  const STATS = ["count", "avg", "min", "max", "p50", "p95", "p99"];
  const GROUP_COLORS = ["#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0e7490", "#a16207",
    "#be185d", "#4d7c0f", "#1d4ed8", "#9333ea", "#0f766e", "#c026d3"];
  const metas = {}; // metric name -> its entry of .../names (type, unit, series, tag_keys)
  let loads = 0; // the latest read wins: an older answer arriving late is dropped

  // --- the query <-> the URL
  function fromURL() {
    const q = new URLSearchParams(location.search);
    const tags = [];
    for (const raw of q.getAll("tag")) {
      const at = raw.indexOf(":");
      if (at > 0) tags.push([raw.slice(0, at), raw.slice(at + 1)]);
    }
    const state = {
      metric: q.get("metric") || "",
      tags,
      group_by: q.get("group_by") || "",
      agg: q.get("agg") || DEFAULTS.agg,
      interval: q.get("interval") || "",
      window: q.get("window") || DEFAULTS.window,
      from: q.get("from") || "",
      to: q.get("to") || "",
    };
    if (state.from && state.to) state.window = "custom";
    return state;
  }

  function toQuery(state) {
    const q = new URLSearchParams();
    if (state.metric) q.set("metric", state.metric);
    for (const [k, v] of state.tags) q.append("tag", `${k}:${v}`);
    if (state.group_by) q.set("group_by", state.group_by);
    q.set("agg", state.agg);
    if (state.interval) q.set("interval", state.interval);
    if (state.window === "custom") {
      q.set("from", state.from);
      q.set("to", state.to);
    } else {
      q.set("window", state.window);
    }
    return q.toString();
  }

  let state = fromURL();

  function go(next) {
    state = next;
    const query = toQuery(state);
    if (query !== location.search.slice(1)) history.pushState(null, "", `${location.pathname}?${query}`);
    load();
  }

  window.addEventListener("popstate", () => {
    state = fromURL();
    load();
  });

  // --- windows and intervals
  const UNIT_SECONDS = { m: 60, h: 3600, d: 86400, w: 604800 };
  function seconds(interval) {
    const m = /^(\d+)([mhdw])$/.exec(interval || "");
    return m ? Number(m[1]) * UNIT_SECONDS[m[2]] : null;
  }

  const isoMinute = (ms) => new Date(ms).toISOString().slice(0, 16) + ":00Z";

  /* The API's window for the state: hours=N (ending now) up to the API's bound, else
     from/to (a 90-day window ends now, to the minute); its length in seconds. */
  function span(s) {
    if (s.window === "custom") {
      const from = Date.parse(s.from);
      const to = Date.parse(s.to);
      return { params: [["from", s.from], ["to", s.to]], length: (to - from) / 1000 || 0 };
    }
    const chosen = config.windows.find((w) => w.key === s.window) || config.windows.find((w) => w.key === DEFAULTS.window);
    if (chosen.hours <= config.max_hours) return { params: [["hours", String(chosen.hours)]], length: chosen.hours * 3600 };
    const to = Math.ceil(Date.now() / 60000) * 60000;
    return { params: [["from", isoMinute(to - chosen.hours * 3600e3)], ["to", isoMinute(to)]], length: chosen.hours * 3600 };
  }

  function bucketLimit(s) {
    return s.group_by ? config.max_grouped_buckets : config.max_buckets;
  }

  /* auto: the narrowest interval giving at most target_points buckets (1 h at 1m is 60). */
  function autoInterval(length) {
    return config.intervals.find((i) => length / seconds(i) <= config.target_points) || config.intervals[config.intervals.length - 1];
  }

  function intervalOf(s) {
    return s.interval || autoInterval(span(s).length);
  }

  // --- API URLs
  const path = (template, values) => template.replace(/\{(\w+)\}/g, (m, k) => encodeURIComponent(values[k]));

  function apiQuery(s, extra) {
    const q = new URLSearchParams();
    for (const [k, v] of s.tags) q.append("tag", `${k}:${v}`);
    if (s.group_by) q.set("group_by", s.group_by);
    for (const [k, v] of extra) q.set(k, v);
    for (const [k, v] of span(s).params) q.set(k, v);
    return q.toString();
  }

  function seriesURL(s, fill = "null") {
    return path(config.api.series, { name: s.metric }) + "?" + apiQuery(s, [["agg", s.agg], ["interval", intervalOf(s)], ["fill", fill]]);
  }

  /* The chart's buckets, as the API answers them with fill=null (the source link's
     answer), from its fill=none answer: the empty buckets are filled in here. Most of a
     big grouping's answer is empty buckets (100 groups of a sparse tag over 24 h: 1.6 MB
     with them, 84 KB without, and 0.17 s less of the server's time). Every bucket
     touching the window, aligned from Monday 2000-01-03 00:00 UTC as the API's are. */
  const BUCKET_ORIGIN = Date.UTC(2000, 0, 3);
  function filledIn(series) {
    const step = seconds(series.interval) * 1000;
    const start = Date.parse(series.since);
    const end = series.until ? Date.parse(series.until) : start + series.period_hours * 3600e3;
    const offset = (((start - BUCKET_ORIGIN) % step) + step) % step;
    const starts = [];
    for (let t = start - offset; t < end; t += step) starts.push(t);
    const fill = (buckets) => {
      const have = new Map(buckets.map((b) => [Date.parse(b.start), b]));
      return starts.map((t) => have.get(t) || { start: new Date(t).toISOString(), count: 0, value: null });
    };
    const groups = series.groups && series.groups.map((g) => ({ ...g, buckets: fill(g.buckets) }));
    return { ...series, buckets: fill(series.buckets), ...(groups ? { groups } : {}) };
  }

  function statsURL(s) {
    return path(config.api.statistics, { name: s.metric }) + "?" + apiQuery(s, []);
  }

  const withFormat = (url, format) => `${url}&format=${format}`;

  /* An API answer, or an Error whose message is the API's own words (a 400 names the
     parameter: "interval: This window and interval make 2880 buckets ..."). */
  async function read(url) {
    const response = await Console.request(url);
    if (response.redirected && response.url.includes("/login/")) {
      location.reload();
      throw new Error("The session ended; sign in again.");
    }
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (response.ok && body) return body;
    const error = new Error(explain(response.status, body));
    error.status = response.status;
    throw error;
  }

  function explain(status, body) {
    if (!body) return `The API answered ${status}.`;
    const fields = Object.entries(body.fields || {}).map(([name, why]) => `${name}: ${[].concat(why).join(" ")}`);
    const said = fields.length ? fields.join("; ") : body.detail || body.error;
    return `The API refused this query (${status}): ${said}`;
  }

  // The catalog's query: the API refuses an empty `search`, so none is sent for "all".
  const catalog = (text) => new URLSearchParams(text ? { search: text, limit: "20" } : { limit: "20" });

  async function metaOf(name) {
    if (!metas[name]) {
      const answer = await read(`${config.api.names}?${new URLSearchParams({ search: name, limit: "1000" })}`);
      for (const m of answer.metrics) metas[m.name] = m;
      if (!metas[name]) return null;
    }
    return metas[name];
  }

  // --- the controls
  function option(value, text) {
    return C.el("option", { value, text: text === undefined ? value : text });
  }

  function syncControls(meta) {
    $("mx-metric").value = state.metric;
    $("mx-agg").value = state.agg;
    $("mx-window").value = state.window;
    $("mx-range").hidden = state.window !== "custom";
    if (state.window === "custom") {
      $("mx-from").value = state.from.slice(0, 16);
      $("mx-to").value = state.to.slice(0, 16);
    }
    const keys = meta ? meta.tag_keys : [];
    const groupKeys = state.group_by && !keys.includes(state.group_by) ? [...keys, state.group_by] : keys;
    $("mx-group").replaceChildren(option("", "(none)"), ...groupKeys.map((k) => option(k)));
    $("mx-group").value = state.group_by;
    $("mx-tag-key").replaceChildren(option("", keys.length ? "key…" : "no tags"), ...keys.map((k) => option(k)));
    $("mx-tag-key").disabled = $("mx-tag-value").disabled = $("mx-tag-add").disabled = !keys.length;
    // Intervals the API would refuse for this window (too many buckets) cannot be chosen.
    const length = span(state).length;
    const auto = autoInterval(length);
    for (const node of $("mx-interval").options) {
      if (!node.value) { node.textContent = `auto (${auto})`; continue; }
      node.disabled = length / seconds(node.value) > bucketLimit(state) && node.value !== state.interval;
    }
    $("mx-interval").value = state.interval;
    $("mx-metric-meta").textContent = meta
      ? [meta.type, meta.unit ? `unit ${meta.unit}` : null, `${meta.series} series`].filter(Boolean).join(" · ")
      : "";
    $("mx-tags").replaceChildren(...state.tags.map(([k, v], i) => C.el("li", { class: "mx-tag", "data-tag": `${k}:${v}` },
      C.el("span", { text: `${k}:${v}` }),
      removeButton(i, `${k}:${v}`))));
  }

  function removeButton(index, text) {
    const button = C.el("button", { type: "button", class: "mx-tag-remove", "aria-label": `Remove ${text}`, title: "Remove", text: "×" });
    button.addEventListener("click", () => go({ ...state, tags: state.tags.filter((t, i) => i !== index) }));
    return button;
  }

  /* An input with a list of choices read as one types (the metric's name, a tag's
     value). `choices(text)` answers [{value, label, detail}]; `pick(value)` takes one. */
  function combo(input, list, choices, pick) {
    let active = -1;
    let timer = null;
    let asked = 0;
    const items = () => [...list.querySelectorAll("[role=option]")];
    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      active = -1;
    }
    function mark(i) {
      const all = items();
      active = Math.max(-1, Math.min(i, all.length - 1));
      all.forEach((node, j) => node.setAttribute("aria-selected", String(j === active)));
      if (active >= 0) all[active].scrollIntoView({ block: "nearest" });
    }
    async function ask() {
      const mine = ++asked;
      let found;
      try {
        found = await choices(input.value.trim());
      } catch (e) {
        found = [];
      }
      if (mine !== asked || document.activeElement !== input) return;
      list.replaceChildren(...(found.length ? found.map((c) => {
        const node = C.el("li", { role: "option", "data-value": c.value, "aria-selected": "false" },
          C.el("span", { class: "mx-option-name", text: c.label || c.value }),
          c.detail ? C.el("span", { class: "mx-option-detail", text: c.detail }) : null);
        node.addEventListener("mousedown", (event) => { event.preventDefault(); close(); pick(c.value); });
        return node;
      }) : [C.el("li", { class: "mx-option-none", text: "Nothing recorded matches." })]));
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      mark(-1);
    }
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(ask, 120); });
    input.addEventListener("focus", ask);
    input.addEventListener("blur", () => setTimeout(close, 100));
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown") { event.preventDefault(); if (list.hidden) ask(); else mark(active + 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); mark(active - 1); }
      else if (event.key === "Escape") close();
      else if (event.key === "Enter") {
        event.preventDefault();
        const all = items();
        const value = active >= 0 ? all[active].dataset.value : input.value.trim();
        close();
        if (value) pick(value);
      }
    });
  }

  combo($("mx-metric"), $("mx-metric-options"), async (text) => {
    const answer = await read(`${config.api.names}?${catalog(text)}`);
    return answer.metrics.map((m) => {
      metas[m.name] = m;
      return { value: m.name, detail: [m.type, m.unit, `${m.series} series`].filter(Boolean).join(" · ") };
    });
  }, (name) => {
    if (name === state.metric) return;
    const meta = metas[name];
    const keys = meta ? meta.tag_keys : [];
    go({
      ...state,
      metric: name,
      tags: state.tags.filter(([k]) => keys.includes(k)),
      group_by: keys.includes(state.group_by) ? state.group_by : "",
    });
  });

  combo($("mx-tag-value"), $("mx-tag-options"), async (text) => {
    const key = $("mx-tag-key").value;
    if (!key || !state.metric) return [];
    const url = path(config.api.values, { name: state.metric, key }) + "?" + catalog(text);
    const answer = await read(url);
    return answer.values.map((v) => ({ value: v.value, detail: `${v.series} series` }));
  }, (value) => addTag(value));

  function addTag(value) {
    const key = $("mx-tag-key").value;
    if (!key) { $("mx-tag-key").focus(); return; }
    $("mx-tag-value").value = "";
    go({ ...state, tags: [...state.tags.filter(([k]) => k !== key), [key, value]] });
  }

  $("mx-tag-add").addEventListener("click", () => addTag($("mx-tag-value").value.trim()));
  $("mx-form").addEventListener("submit", (event) => event.preventDefault());
  $("mx-agg").addEventListener("change", (e) => go({ ...state, agg: e.target.value }));
  $("mx-group").addEventListener("change", (e) => go({ ...state, group_by: e.target.value }));
  $("mx-interval").addEventListener("change", (e) => go({ ...state, interval: e.target.value }));
  $("mx-window").addEventListener("change", (e) => {
    if (e.target.value !== "custom") {
      go({ ...state, window: e.target.value, from: "", to: "" });
      return;
    }
    // From/to starts as the window shown, to be edited and applied.
    const to = Math.ceil(Date.now() / 60000) * 60000;
    $("mx-from").value = isoMinute(to - span(state).length * 1000).slice(0, 16);
    $("mx-to").value = isoMinute(to).slice(0, 16);
    $("mx-range").hidden = false;
  });
  $("mx-range-apply").addEventListener("click", () => {
    const from = $("mx-from").value;
    const to = $("mx-to").value;
    if (!from || !to) { showError("Give both from and to (UTC)."); return; }
    go({ ...state, window: "custom", from: `${from}:00Z`, to: `${to}:00Z` });
  });

  // --- drawing
  function showError(message) {
    $("mx-error").textContent = message;
    $("mx-error").hidden = !message;
  }

  function setState(name) {
    $("mx-result").dataset.state = name;
  }

  const epoch = (iso) => Date.parse(iso) / 1000;
  const groupLabel = (value, key) => (value === null ? `(no ${key})` : value);
  const unitOf = (meta, agg) => (agg === "count" ? "" : (meta && meta.unit) || "");

  function colors(n) {
    return Array.from({ length: n }, (_, i) => (i < GROUP_COLORS.length ? GROUP_COLORS[i] : `hsl(${(i * 137.5) % 360} 60% 42%)`));
  }

  function curl(s) {
    const tags = Object.fromEntries(s.tags.length ? s.tags : [["host", "web-1"]]);
    const body = JSON.stringify({ metric_name: s.metric || "checkout.duration_ms", value: 42.5, tags });
    return `curl -H "X-API-Key: $INGEST_KEY" -H 'Content-Type: application/json' \\\n  ${location.origin}/api/v1/analytics/metrics/record \\\n  -d '${body}'`;
  }

  function drawChart(s, meta, series) {
    const unit = unitOf(meta, s.agg);
    const groups = series.groups || [];
    const palette = colors(groups.length);
    const spec = {
      key: "explorer",
      heading: `${s.agg} per ${series.interval}, ${windowText(s)}${unit ? ` (${unit})` : ""}`,
      title: s.group_by ? "total" : s.metric,
      unit,
      height: window.innerWidth < 768 ? 220 : 300,
      points: series.buckets.map((b) => [epoch(b.start), b.value]),
      extra: groups.map((g, i) => ({
        label: groupLabel(g.value, s.group_by),
        color: palette[i],
        points: g.buckets.map((b) => [epoch(b.start), b.value]),
      })),
      samples: series.buckets.reduce((n, b) => n + b.count, 0),
      api: seriesURL(s),
      empty: {
        message: `No point of ${s.metric} matches these tags in this window. Widen the window, drop a tag filter, or record one:`,
        curl: curl(s),
      },
    };
    C.chart($("mx-chart"), spec);
    if (series.groups_truncated) {
      $("mx-chart").append(C.el("p", { class: "console-note",
        text: `${series.group_count} values of ${s.group_by}: the ${groups.length} biggest are drawn; the total counts them all.` }));
    }
  }

  function windowText(s) {
    if (s.window !== "custom") return `last ${s.window}`;
    return `${s.from.slice(0, 16).replace("T", " ")} to ${s.to.slice(0, 16).replace("T", " ")} UTC`;
  }

  /* A figure of the table: the unit is in its column's heading. */
  function figure(value, unit) {
    const text = C.fmt(value, unit);
    return unit && text.endsWith(" " + unit) ? text.slice(0, -unit.length - 1) : text;
  }

  function drawTable(s, meta, stats) {
    const unit = unitOf(meta, "avg");
    const rows = [{ label: s.group_by ? "total" : s.metric, key: "", figures: stats }];
    for (const g of stats.groups || []) rows.push({ label: groupLabel(g.value, s.group_by), key: g.value === null ? "\u0000" : g.value, figures: g });
    const head = C.el("tr", {}, C.el("th", { text: s.group_by ? s.group_by : "series" }),
      ...STATS.map((f) => C.el("th", { class: "num", text: f === "count" || !unit ? f : `${f} (${unit})` })));
    const body = rows.map((row, i) => C.el("tr", { "data-group": i === 0 ? "total" : row.key, class: i === 0 ? "mx-total" : null },
      C.el("th", { scope: "row", text: row.label }),
      ...STATS.map((f) => {
        const value = row.figures[f];
        return C.el("td", { class: "num", "data-field": f, "data-value": value === null ? "" : String(value),
          text: figure(value, f === "count" ? "" : unit) });
      })));
    $("mx-stats").replaceChildren(
      C.el("table", { class: "console-table mx-table" }, C.el("thead", {}, head), C.el("tbody", {}, ...body)),
      C.el("p", { class: "console-chart-source" }, "Source: ", C.el("a", { href: statsURL(s), text: "GET " + statsURL(s).split("?")[0] })));
  }

  function links(s, series) {
    const ts = seriesURL(s);
    const st = statsURL(s);
    $("mx-series-csv").href = withFormat(ts, "csv");
    $("mx-series-json").href = withFormat(ts, "json");
    $("mx-stats-csv").href = withFormat(st, "csv");
    $("mx-stats-json").href = withFormat(st, "json");
    const alert = $("mx-alert");
    if (alert) {
      const window_seconds = seconds(series ? series.interval : intervalOf(s));
      const q = new URLSearchParams({
        name: `${s.agg} of ${s.metric}${s.tags.length ? " " + s.tags.map(([k, v]) => `${k}:${v}`).join(" ") : ""}`,
        metric_name: s.metric,
        aggregation: s.agg,
        tags: JSON.stringify(Object.fromEntries(s.tags)),
        window_seconds: String(window_seconds),
        description: `From the metric explorer: ${location.href}`,
      });
      alert.href = `${config.alert_add}?${q}`;
      alert.title = `A rule on the ${s.agg} of ${s.metric} over each ${series ? series.interval : intervalOf(s)} (one point of this chart)`;
    }
  }

  async function chooseFirst() {
    $("mx-title").textContent = "Choose a metric";
    $("mx-actions").hidden = true;
    $("mx-stats").replaceChildren();
    const old = C.charts.explorer;
    if (old) { old.destroy(); delete C.charts.explorer; }
    const answer = await read(`${config.api.names}?limit=30`);
    for (const m of answer.metrics) metas[m.name] = m;
    if (!answer.metrics.length) {
      C.emptyState($("mx-chart"), "No metric has been recorded yet. Record one (an ingest key), then choose it here:", curl(state));
      setState("empty");
      return;
    }
    const list = C.el("ul", { class: "mx-pick" }, ...answer.metrics.map((m) => {
      const q = new URLSearchParams({ metric: m.name, agg: state.agg, window: state.window });
      return C.el("li", {}, C.el("a", { href: `?${q}`, text: m.name }),
        C.el("span", { class: "mx-option-detail", text: [m.type, m.unit, `${m.series} series`].filter(Boolean).join(" · ") }));
    }));
    $("mx-chart").replaceChildren(C.el("p", { text: "Type part of a metric's name above, or pick one:" }), list);
    setState("choose");
  }

  async function load() {
    const mine = ++loads;
    const s = state;
    showError("");
    setState("loading");
    $("mx-result").setAttribute("aria-busy", "true");
    try {
      if (!s.metric) {
        syncControls(null);
        await chooseFirst();
        return;
      }
      // The series and the metric's entry are asked at once (one round trip, not two);
      // the statistics once the chart is drawn, so the chart's read has the server alone.
      const asked = read(seriesURL(s, "none")).then(filledIn);
      asked.catch(() => {}); // read below; unread when the metric is unknown
      const meta = await metaOf(s.metric);
      if (mine !== loads) return;
      syncControls(meta);
      $("mx-title").textContent = s.metric;
      $("mx-actions").hidden = false;
      links(s, null);
      if (!meta) {
        const old = C.charts.explorer;
        if (old) { old.destroy(); delete C.charts.explorer; }
        C.emptyState($("mx-chart"), `No metric named ${s.metric} has been recorded. Check the name, or record it:`, curl(s));
        $("mx-stats").replaceChildren();
        setState("empty");
        return;
      }
      const series = await asked;
      if (mine !== loads) return;
      drawChart(s, meta, series);
      links(s, series);
      const stats = await read(statsURL(s));
      if (mine !== loads) return;
      drawTable(s, meta, stats);
      document.title = `${s.metric} | Metrics | ${document.title.split(" | ").pop()}`;
      setState(series.buckets.some((b) => b.count) ? "ready" : "empty");
    } catch (e) {
      if (mine !== loads) return;
      const old = C.charts.explorer;
      if (old) { old.destroy(); delete C.charts.explorer; }
      $("mx-chart").replaceChildren();
      $("mx-stats").replaceChildren();
      showError(e.message);
      setState("error");
    } finally {
      if (mine === loads) {
        $("mx-result").setAttribute("aria-busy", "false");
        $("mx-result").dataset.query = location.search.slice(1);
      }
    }
  }

  load();
})();
