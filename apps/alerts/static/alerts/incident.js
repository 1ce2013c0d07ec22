/* The incident page's chart: the rule's metric around the incident (the admin's chart view,
   which reads the same time series as the metrics API), drawn by the console's chart
   helper (Console.chart: UTC axis, local time on hover, units, empty states). On top of
   it: the threshold and resolve threshold as horizontal lines, and the pending, firing,
   acknowledged, silenced and resolved moments as labelled vertical lines. */
(function () {
  "use strict";
  const C = window.Console;
  const box = document.getElementById("incident-chart");
  if (!box || !C) return;
  const noteBox = document.getElementById("incident-chart-note");
  const marksBox = document.getElementById("incident-marks");

  const MARK_COLORS = {
    pending: "#b45309",
    firing: "#b91c1c",
    acknowledged: "#2f7ab9",
    silenced: "#7c3aed",
    unsilenced: "#7c3aed",
    resolved: "#15803d",
  };
  const THRESHOLD = "#b91c1c";
  const RESOLVE = "#15803d";

  function curl(data) {
    const tags = JSON.stringify(data.tags || {});
    return `curl -H "X-API-Key: $INGEST_KEY" -H 'Content-Type: application/json' \\\n  ${location.origin}/api/v1/analytics/metrics/record \\\n  -d '{"metric_name": "${data.metric_name}", "value": 42, "tags": ${tags}}'`;
  }

  function listMarks(marks) {
    marksBox.replaceChildren(...marks.map((mark) => {
      const at = C.when(mark.at);
      const who = mark.actor ? ` by ${mark.actor}` : "";
      return C.el("li", { "data-kind": mark.kind },
        C.el("span", { class: "incident-swatch", style: `background:${MARK_COLORS[mark.label] || "#666"}` }),
        C.el("strong", { text: mark.label }), " ",
        C.el("time", { datetime: mark.at, title: at.title, text: at.text }),
        who, mark.detail ? C.el("span", { class: "incident-mark-detail", text: ` — ${mark.detail}` }) : null);
    }));
  }

  // Vertical lines with their labels, drawn after each redraw (resizes included).
  function drawMarks(marks) {
    return (u) => {
      const ctx = u.ctx;
      const { left, top, width, height } = u.bbox;
      const px = window.devicePixelRatio || 1;
      const background = getComputedStyle(document.documentElement).getPropertyValue("--body-bg").trim() || "#fff";
      ctx.save();
      ctx.font = `${11 * px}px sans-serif`;
      ctx.textBaseline = "top";
      marks.forEach((mark, i) => {
        const x = Math.round(u.valToPos(mark.t, "x", true));
        if (x < left - 1 || x > left + width + 1) return;
        const color = MARK_COLORS[mark.label] || "#666";
        ctx.strokeStyle = color;
        ctx.lineWidth = 1.5 * px;
        ctx.setLineDash([4 * px, 3 * px]);
        ctx.beginPath();
        ctx.moveTo(x, top);
        ctx.lineTo(x, top + height);
        ctx.stroke();
        // Labels of close moments go on different rows, and flip left near the right edge.
        const right = x > left + width * 0.75;
        const y = top + (2 + (i % 3) * 14) * px;
        const textWidth = ctx.measureText(mark.label).width;
        const textX = x + (right ? -4 : 4) * px;
        ctx.fillStyle = background; // readable over the series and the other lines
        ctx.fillRect(right ? textX - textWidth - 2 * px : textX - 2 * px, y - px, textWidth + 4 * px, 13 * px);
        ctx.textAlign = right ? "right" : "left";
        ctx.fillStyle = color;
        ctx.fillText(mark.label, textX, y);
      });
      ctx.restore();
    };
  }

  function draw(data) {
    window.IncidentChart = { data };
    listMarks(data.marks || []);
    if (!data.available) {
      C.emptyState(box, data.reason);
      return;
    }
    const fmt = (v) => C.fmt(v, data.unit);
    const extra = [{
      label: `threshold (${data.operator} ${fmt(data.threshold)})`,
      color: THRESHOLD,
      points: data.points.map((p) => [p[0], data.threshold]),
    }];
    if (data.resolve_threshold !== null && data.resolve_threshold !== undefined) {
      extra.push({
        label: `resolves past ${fmt(data.resolve_threshold)}`,
        color: RESOLVE,
        points: data.points.map((p) => [p[0], data.resolve_threshold]),
      });
    }
    const since = C.utc(Date.parse(data.since) / 1000);
    const until = C.utc(Date.parse(data.until) / 1000);
    const plot = C.chart(box, {
      key: "incident",
      title: data.label,
      heading: `${data.label}, ${data.interval} buckets`,
      unit: data.unit,
      points: data.points,
      extra,
      samples: data.samples,
      height: 260,
      api: data.api,
      empty: {
        message: `No point of ${data.metric_name}${Object.keys(data.tags).length ? " " + JSON.stringify(data.tags) : ""} between ${since} and ${until}, so there is nothing to draw. The rule reads the points clients send; send one like this:`,
        curl: curl(data),
      },
    });
    const notes = [data.note];
    if (data.measured_elsewhere) {
      notes.push("this rule is evaluated by the health checks as each is stored, not from a metric window; the chart shows the figure they record");
    }
    if (!plot) return; // the empty state says why
    noteBox.textContent = notes.join("; ") + ".";
    window.IncidentChart.plot = plot;
    // The threshold lines dashed (uPlot reads each series' dash as it draws).
    for (let i = 2; i < plot.series.length; i++) plot.series[i].dash = [6, 4];
    const marks = (data.marks || []).map((m) => ({ ...m, t: Date.parse(m.at) / 1000 }));
    plot.hooks.draw = (plot.hooks.draw || []).concat([drawMarks(marks)]);
    // The whole window, to its end: a moment after the last bucket's start stays in view.
    plot.setScale("x", { min: Date.parse(data.since) / 1000, max: Date.parse(data.until) / 1000 });
  }

  C.json(box.dataset.src).then(draw).catch((error) => {
    box.replaceChildren(C.el("p", { class: "console-error", text: `The chart could not be read (${error.message}); reload the page to try again.` }));
  });
})();
