/* The staff console's shared parts: numbers with units, uPlot charts (UTC axes, the
   viewer's local time on hover), empty states that say what to send, JSON reads and
   the live feed with its polling fallback. No build step: plain script, one global. */
(function () {
  "use strict";

  const COLORS = ["#2f7ab9", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0e7490"];
  const charts = {}; // key -> uPlot, for resizing (and for tests to read)

  // --- numbers and times
  function fmt(value, unit) {
    if (value === null || value === undefined || value === "") return "–";
    if (unit === "status") return String(value);
    const n = Number(value);
    if (!Number.isFinite(n)) return String(value);
    switch (unit) {
      case "%":
        return n.toFixed(1) + " %";
      case "share":
        return (n * 100).toFixed(n && n < 0.01 ? 2 : 1) + " %";
      case "ms":
        return (n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString("en")) + " ms";
      case "USD":
        return "$" + n.toFixed(n < 1 ? 4 : 2);
      case "req/min":
      case "items/s":
        return (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : Math.round(n).toLocaleString("en")) + " " + unit;
      case "GB":
        return n.toFixed(1) + " GB";
      default:
        return (Number.isInteger(n) ? n.toLocaleString("en") : n.toFixed(2)) + (unit ? " " + unit : "");
    }
  }

  function short(value, unit) {
    if (value === null || value === undefined) return "";
    const n = Math.abs(value);
    const text = n >= 1e6 ? (value / 1e6).toFixed(1) + "M" : n >= 1e4 ? (value / 1e3).toFixed(0) + "k"
      : n >= 100 ? value.toFixed(0) : n >= 10 ? value.toFixed(1).replace(/\.0$/, "") : value.toFixed(2).replace(/\.?0+$/, "");
    return unit === "%" ? text + "%" : text;
  }

  const pad = (n) => String(n).padStart(2, "0");

  function utc(seconds) {
    const d = new Date(seconds * 1000);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
  }

  function local(seconds) {
    const d = new Date(seconds * 1000);
    return `${pad(d.getHours())}:${pad(d.getMinutes())} local`;
  }

  function when(iso) {
    if (!iso) return { text: "never", title: "" };
    const s = Date.parse(iso) / 1000;
    return { text: utc(s), title: new Date(s * 1000).toString() };
  }

  // --- DOM helpers
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function emptyState(container, message, curl) {
    container.replaceChildren(
      el("div", { class: "console-empty" },
        el("p", { text: message }),
        curl ? el("pre", { class: "console-curl" }, el("code", { text: curl })) : null)
    );
  }

  // --- charts
  function cssVar(name, fallback) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  }

  /* Draws `spec` into `container`: spec = {key, title, unit, points: [[t, v], ...],
     extra: [{label, points}] (same t), api, empty: {message, curl}}. No point with a
     value: the empty state instead of a blank chart. */
  function chart(container, spec) {
    const lines = [{ label: spec.title, points: spec.points || [] }, ...(spec.extra || [])];
    const xs = (spec.points || []).map((p) => p[0]);
    const hasData = spec.samples !== 0 && lines.some((line) => line.points.some((p) => p[1] !== null && p[1] !== undefined));
    const old = charts[spec.key];
    if (old) { old.destroy(); delete charts[spec.key]; }
    const head = el("div", { class: "console-chart-head" },
      el("span", { class: "console-chart-title", text: spec.heading || spec.title }),
      spec.now !== undefined ? el("span", { class: "console-chart-now", text: fmt(spec.now, spec.unit) }) : null);
    const body = el("div", { class: "console-chart-body" });
    const foot = spec.api ? el("div", { class: "console-chart-source" },
      "Source: ", el("a", { href: spec.api, text: "GET " + spec.api.split("?")[0] })) : null;
    container.replaceChildren(head, body, ...(foot ? [foot] : []));
    container.dataset.points = String(xs.length);
    if (!hasData) {
      const empty = spec.empty || {};
      emptyState(body, empty.message || "No data in this window yet.", empty.curl);
      return null;
    }
    const fg = cssVar("--body-quiet-color", "#666");
    const grid = cssVar("--hairline-color", "#e5e5e5");
    const series = [{
      label: "Time",
      value: (u, v) => (v === null || v === undefined ? "–" : `${utc(v)} (${local(v)})`),
    }];
    lines.forEach((line, i) => {
      const color = line.color || COLORS[((spec.colorOffset || 0) + i) % COLORS.length];
      series.push({
        label: line.label,
        stroke: color,
        width: 1.5,
        fill: lines.length === 1 ? color + "1f" : undefined,
        // Sparse data (gaps between readings) draws its points: a lone reading is no line.
        points: { show: sparse(line.points), size: 4 },
        value: (u, v) => fmt(v, spec.unit),
      });
    });
    const data = [xs, ...lines.map((line) => line.points.map((p) => p[1]))];
    const opts = {
      width: Math.max(body.clientWidth || container.clientWidth, 200),
      height: spec.height || 150,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      series,
      // One point alone would give the axis no span (and ticks at 1970): a minute around it.
      scales: { x: { time: true, range: (u, lo, hi) => (lo === hi ? [lo - 60, hi + 60] : [lo, hi]) }, y: spec.unit === "%" ? { range: (u, lo, hi) => [0, Math.max(100, hi || 0)] } : {} },
      axes: [
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, values: timeTicks,
          incrs: TIME_STEPS, space: 56 },
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 48,
          values: (u, vals) => vals.map((v) => short(v, spec.unit)) },
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    const plot = new uPlot(opts, data, body);
    charts[spec.key] = plot;
    // When the page showed its first chart, for the speed bench (ms since navigation).
    if (window.consoleFirstChartMs === undefined) window.consoleFirstChartMs = performance.now();
    return plot;
  }

  function sparse(points) {
    let isolated = 0;
    for (let i = 0; i < points.length; i++) {
      const here = points[i][1] !== null;
      const before = i > 0 && points[i - 1][1] !== null;
      const after = i + 1 < points.length && points[i + 1][1] !== null;
      if (here && !before && !after) isolated++;
    }
    return points.length < 3 || isolated > 0;
  }

  // The time axis in UTC, 24-hour: the date at midnight, else hours and minutes.
  function timeTicks(u, splits) {
    const seconds = u.scales.x.max - u.scales.x.min < 600; // a few minutes: seconds too
    return splits.map((s) => {
      const d = new Date(s * 1000);
      const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
      if (seconds) return `${hm}:${pad(d.getUTCSeconds())}`;
      if (!d.getUTCHours() && !d.getUTCMinutes()) return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
      return hm;
    });
  }
  // Tick steps in seconds: whole seconds at least (the feed pushes every few seconds).
  const TIME_STEPS = [1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const plot of Object.values(charts)) {
        const body = plot.root.parentElement;
        if (body) plot.setSize({ width: Math.max(body.clientWidth, 200), height: plot.height });
      }
    }, 100);
  });

  // --- data
  /* A GET of `url` with the session's cookie. A 429 (the session's reads running at
     once are capped, API_READS_PER_KEY) is waited out as its Retry-After says, a few
     times, so a page asking several reads together still draws them all. */
  async function request(url, attempts = 6) {
    for (let attempt = 1; ; attempt++) {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.status !== 429 || attempt >= attempts) return response;
      const wait = Number(response.headers.get("Retry-After")) || 1;
      await new Promise((resolve) => setTimeout(resolve, wait * 1000 * (0.5 + Math.random())));
    }
  }

  async function json(url) {
    const response = await request(url);
    if (response.redirected && response.url.includes("/login/")) {
      location.reload(); // the session ended: the admin's login form
      throw new Error("signed out");
    }
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  /* The live feed (DASHBOARD_STATS) through the staff session's cookie; the WebSocket
     lives on `wsPort` of this host, or on this origin's /ws/analytics/ when the page came
     on the default port (behind the proxy). Until it is open, and whenever it is not,
     `pollUrl` is read every `pollSeconds`. */
  function live({ wsPort, pollUrl, pollSeconds, onData, onStatus }) {
    let timer = null;
    let socket = null;
    let retry = 2;

    function poll() {
      json(pollUrl).then((data) => onData(data, "poll")).catch(() => onStatus("error", "The console cannot reach the server; retrying."));
    }
    function startPolling(why) {
      onStatus("poll", `${why} Updating every ${pollSeconds} s instead.`);
      if (timer === null) { poll(); timer = setInterval(poll, pollSeconds * 1000); }
    }
    function stopPolling() {
      if (timer !== null) { clearInterval(timer); timer = null; }
    }
    function connect() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const where = location.port ? `${location.hostname}:${wsPort}` : location.host;
      try {
        socket = new WebSocket(`${proto}//${where}/ws/analytics/`);
      } catch (e) {
        startPolling("The live feed cannot be opened.");
        return;
      }
      socket.onopen = () => { retry = 2; };
      socket.onmessage = (event) => {
        let message;
        try { message = JSON.parse(event.data); } catch (e) { return; }
        if (message.type !== "DASHBOARD_STATS") return;
        stopPolling();
        onStatus("live", "Live: the feed pushes these figures as they change.");
        onData(message.data, "feed");
      };
      socket.onclose = (event) => {
        socket = null;
        if (event.code === 4403) { // refused: this session may not watch; do not retry
          startPolling("The live feed refused this session.");
          return;
        }
        startPolling("The live feed is not reachable.");
        setTimeout(connect, retry * 1000);
        retry = Math.min(retry * 2, 60);
      };
    }
    if (wsPort) connect();
    else startPolling("The live feed is off (WS_PORT=0).");
  }

  window.Console = { fmt, utc, local, when, el, emptyState, chart, charts, request, json, live };
})();
