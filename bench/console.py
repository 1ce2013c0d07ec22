"""Console speed: how long each staff-console page takes to show its first chart, in
Chromium, over the bench data sets (issue 19, "Speed": 1 s p95 a page).

1. Data. Unless --skip-load, the other benches load their own databases, as they
   always do (their own figures are printed too): bench/metrics.py (--points, default
   10M over 30 days), bench/ai.py (--ai-records, default 1M over 7 days),
   bench/insights.py (a day of 1M events), bench/uptime.py (100 services, 31 days of
   checks a minute), bench/costly_reads.py (150k events over a year, 200k AI records,
   a metric with a 50,000-value tag), bench/console_ops.py (the Errors and Devices
   pages' data set: 1M error logs over 30 days, 300 error types, 1,000 devices with
   200k state changes and 500k metrics points). With --skip-load those databases are
   reused.
2. Per database in turn: migrate, a superuser (manage.py shell); before the overview is
   timed (on every data set), what a running deployment has and the bench data lacks:
   the last 24 h of beat's per-minute task, this host's `system.*` gauges and the
   `ingest.accepted_items` / `ingest.rejected_items` counters, one point a minute
   (synthetic values, recorded through apps.metrics.services and the outbox as beat's
   are, then rolled up; only the minutes after the newest one present: SEED_RECENT);
   and, on every data set, beat's hourly insights run (`manage.py rollup_dashboard`:
   the dashboard's rollup and the users seen per day).
   Then the Procfile's web (gunicorn, 2 processes, as `make run` starts it) and live
   (uvicorn, the overview's feed) on 127.0.0.1; Chromium (Playwright, /usr/bin/chromium
   with tests/browser.py's FLAGS) signs in once through /admin/login/, then opens each
   page of that data set --repeat times, each in a fresh page of the same context (the
   first load runs cold caches: reported apart; the --repeat after it give p50/p95).
3. A load's figure is `window.consoleFirstChartMs`, performance.now() when the page drew
   its first chart (apps/console/static/console/*.js); for a page that sets none, the
   moment a chart element (a uPlot canvas, a row of uptime bars) first appeared, which
   an init script watches for (and the row says so). A page that shows its empty state
   ("send this to fill it") and draws nothing within 10 s is printed as such (the data
   set has nothing for it), not timed; one that shows neither fails. Each row also
   gives, as medians, when the page's HTML was received, its slowest JSON read
   (performance.getEntriesByType('resource')) and when the last JSON read ended, and
   the element the first chart was drawn in.

    DEBUG=true .venv/bin/python bench/console.py [--points 10000000] [--repeat 10]
    DEBUG=true .venv/bin/python bench/console.py --skip-load [--only metrics,ai,ops]

Exits non-zero (after FAIL lines) on console errors, uncaught page errors and pages that
drew nothing; a page over budget is a figure, not a failure.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import psutil
import psycopg
from common import THROTTLE_INGEST, pct
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright
from stack import BIN, ROOT, Stack, StackError

sys.path.insert(0, str(ROOT))
from tests.browser import CHROMIUM, FLAGS

BUDGET_MS = 1000.0
DRAW_TIMEOUT_MS = 10_000
USER = "console-bench"
PASSWORD = "console-bench-password"
PG = "postgres://postgres@127.0.0.1:5432/"


@dataclass
class DataSet:
    name: str
    database: str
    redis_db: int
    load: list[str]  # the bench that loads it (argv after the interpreter)
    note: str = ""


@dataclass
class Result:
    page: str
    dataset: str
    path: str
    times: list[float] = field(default_factory=list)  # warm loads, ms
    first: float | None = None
    empty: bool = False
    errors: list[str] = field(default_factory=list)
    json: dict[str, list[float]] = field(default_factory=dict)  # JSON path -> durations
    json_done: list[float] = field(default_factory=list)  # the last JSON read's end, ms
    html: list[float] = field(default_factory=list)  # the page's HTML fully received, ms
    first_chart: dict[str, int] = field(default_factory=dict)  # the element ids drawn first
    observed: bool = False  # the page set no consoleFirstChartMs: the bench saw the chart


def datasets(args) -> list[DataSet]:
    return [
        DataSet(
            "metrics",
            "analytics_bench_metrics",
            14,
            ["bench/metrics.py", "--points", str(args.points), "--skip-post", "--repeat", "3"],
        ),
        DataSet(
            "ai",
            "analytics_bench_ai",
            10,
            ["bench/ai.py", "--records", str(args.ai_records), "--ingest", "0", "--requests", "3"],
        ),
        DataSet("insights", "analytics_bench_insights", 12, ["bench/insights.py", "--reads", "3"]),
        DataSet(
            "uptime",
            "analytics_bench_uptime",
            9,
            ["bench/uptime.py", "--repeat", "3", "--goal-ms", "1e9"],
        ),
        DataSet(
            "reads",
            "analytics_bench_reads",
            14,
            ["bench/costly_reads.py", "--requests", "2", "--seconds", "3"],
        ),
        DataSet("ops", "analytics_bench_console_ops", 7, ["bench/console_ops.py"]),
    ]


# --- what each data set's pages are ---------------------------------------------------------


def busiest_metric(db_url: str) -> tuple[str, str]:
    """The metric with the most points in the last 7 days (from the hourly rollups, or the
    points when there are none), and its tag with the most values."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT metric_name FROM metrics_metricevent "
            "WHERE timestamp > now() - interval '1 day' "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise StackError(f"{db_url}: no metric points in the last day")
        tag = conn.execute(
            "SELECT k FROM metrics_metricseries, jsonb_object_keys(tags) k "
            "WHERE metric_name = %s GROUP BY k ORDER BY count(DISTINCT tags->>k) DESC LIMIT 1",
            [row[0]],
        ).fetchone()
    return row[0], tag[0] if tag else ""


def first_of(db_url: str, sql: str) -> str | None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql).fetchone()
    return None if row is None else str(row[0])


def pages_of(ds: DataSet, db_url: str) -> list[tuple[str, str]]:
    """(page label, path) for this data set."""
    pages = [("overview", "/admin/console/")]

    def explorer() -> list[tuple[str, str]]:
        metric, tag = busiest_metric(db_url)
        out = []
        for window in ("24h", "7d"):
            query = {"metric": metric, "agg": "avg", "window": window}
            if tag:
                query["group_by"] = tag
            out.append(
                (
                    f"metrics {metric} by {tag or '-'} {window}",
                    "/admin/console/metrics/?" + urlencode(query),
                )
            )
        return out

    ai = [(f"ai days={d}", f"/admin/console/ai/?days={d}") for d in (7, 30, 90)]
    product = [("product days=30", "/admin/console/product/?days=30")]
    if ds.name == "metrics":
        pages += explorer()
    elif ds.name == "ops":
        # The device list is a table (no chart): its devices' pages are timed.
        pages += [
            ("errors 24h", "/admin/console/errors/"),
            ("errors 7d", "/admin/console/errors/?window=7d"),
        ]
        device = first_of(  # the busiest device
            db_url,
            "SELECT device_id FROM devices_devicestatehistory GROUP BY 1 "
            "ORDER BY count(*) DESC LIMIT 1",
        )
        if device:
            pages.append(("device 24h", f"/admin/console/devices/{device}/"))
            pages.append(("device 7d", f"/admin/console/devices/{device}/?window=7d"))
    elif ds.name == "ai":
        pages += ai
    elif ds.name == "insights":
        pages += product
    elif ds.name == "uptime":
        pages.append(("uptime list", "/admin/console/uptime/"))
        service = first_of(db_url, "SELECT min(id) FROM monitoring_monitoredservice")
        if service and service != "None":
            pages.append(("uptime service", f"/admin/console/uptime/{service}/"))
    elif ds.name == "reads":
        pages += explorer() + ai + product
    return pages


# --- the browser ---------------------------------------------------------------------------

# Before any page script: fetches in flight counted, and the moment a chart element
# (a uPlot canvas, a row of uptime bars) first appears, for pages that set no
# consoleFirstChartMs of their own.
WATCH = """(() => {
  window.__benchInflight = 0;
  window.__benchLastFetch = 0;
  const fetch0 = window.fetch;
  window.fetch = function (...a) {
    window.__benchInflight++;
    const done = () => { window.__benchInflight--; window.__benchLastFetch = performance.now(); };
    return fetch0.apply(this, a).then((r) => { done(); return r; }, (e) => { done(); throw e; });
  };
  new MutationObserver(() => {
    const chart = document.querySelector('.uplot, .uptime-bars');
    if (window.__benchChart === undefined && chart) {
      window.__benchChart = performance.now();
      window.__benchChartId = (chart.closest('[id]') || {}).id || '?';
    }
  }).observe(document, {childList: true, subtree: true});
})();"""
# A chart (the page's own mark first), or an empty state once nothing is in flight.
READ_DRAWN = """() => {
  if (window.consoleFirstChartMs !== undefined) return {chart: window.consoleFirstChartMs};
  if (window.__benchChart !== undefined) return {chart: window.__benchChart, observed: true};
  if (document.readyState === 'complete' && window.__benchInflight === 0 &&
      performance.now() - window.__benchLastFetch > 300 && document.querySelector('.console-empty'))
    return {empty: performance.now()};
  return null;
}"""
READ_CHART = """() => window.consoleFirstChartMs !== undefined
  ? {chart: window.consoleFirstChartMs}
  : window.__benchChart !== undefined ? {chart: window.__benchChart, observed: true} : null"""
READ_HTML = "() => performance.getEntriesByType('navigation')[0].responseEnd"
READ_JSON = """() => performance.getEntriesByType('resource')
  .filter((e) => e.initiatorType === 'fetch' || e.initiatorType === 'xmlhttprequest')
  .map((e) => ({name: e.name, duration: e.duration, end: e.responseEnd}))"""


def sign_in(context, base: str) -> None:
    page = context.new_page()
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    if "/admin/login/" in page.url:
        raise StackError(f"signing in as {USER} failed: still on {page.url}")
    page.close()


def one_load(context, base: str, result: Result) -> float | None:
    """Open the page in a fresh tab; the first-chart time in ms (None: empty or failed)."""
    page = context.new_page()
    problems: list[str] = []
    # A 429 is the session's read cap (API_READS_PER_KEY): the page waits it out and
    # retries (Console.request), so only a page that then draws nothing fails.
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and "status of 429" not in m.text
            and problems.append(f"console: {m.text}")
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def off_machine(request) -> None:
        host = urlsplit(request.url).hostname
        if host not in (None, "127.0.0.1", "localhost") and not request.url.startswith("data:"):
            problems.append(f"request off the machine: {request.url}")

    page.on("request", off_machine)
    value = None
    try:
        answer = page.goto(base + result.path)
        if answer is None or answer.status != 200:
            problems.append(f"answered {answer.status if answer else 'nothing'}")
        else:
            handle = page.wait_for_function(READ_DRAWN, timeout=DRAW_TIMEOUT_MS, polling=20)
            drawn = handle.json_value()
            if os.environ.get("CONSOLE_BENCH_VERBOSE"):
                print(f"    {result.path}: {drawn}", flush=True)
            if "empty" in drawn:  # settled on its empty state: still, a chart may follow
                try:
                    later = page.wait_for_function(
                        READ_CHART, timeout=max(1, DRAW_TIMEOUT_MS - drawn["empty"]), polling=50
                    )
                    drawn = later.json_value()
                except PlaywrightTimeout:
                    pass
                if os.environ.get("CONSOLE_BENCH_VERBOSE"):
                    print(f"    then: {drawn}", flush=True)
            if "chart" in drawn:
                value = float(drawn["chart"])
                result.observed = result.observed or bool(drawn.get("observed"))
            else:
                result.empty = True
            page.wait_for_load_state("networkidle", timeout=DRAW_TIMEOUT_MS)
            entries = page.evaluate(READ_JSON)
            for entry in entries:
                path = urlsplit(entry["name"]).path
                result.json.setdefault(path, []).append(entry["duration"])
            if entries:
                result.json_done.append(max(e["end"] for e in entries))
            result.html.append(page.evaluate(READ_HTML))
            if value is not None:
                result.first_chart[page.evaluate("() => window.__benchChartId || '?'")] = 1
    except Exception as exc:  # Playwright's TimeoutError and the like
        problems.append(f"no chart within {DRAW_TIMEOUT_MS / 1000:g} s ({type(exc).__name__})")
    finally:
        page.close()
    for problem in problems:
        if problem not in result.errors:
            result.errors.append(problem)
    return value


def measure(ds: DataSet, stack: Stack, pages: list[tuple[str, str]], repeat: int) -> list:

    base = f"http://127.0.0.1:{stack.web_port}"
    results = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(WATCH)
            sign_in(context, base)
            for label, path in pages:
                result = Result(label, ds.name, path)
                for n in range(repeat + 1):
                    value = one_load(context, base, result)
                    if value is None:
                        continue
                    if n == 0:
                        result.first = value
                    else:
                        result.times.append(value)
                print(f"  {row(result)}", flush=True)
                results.append(result)
            context.close()
        finally:
            browser.close()
    return results


# --- what a running deployment has -----------------------------------------------------------

# Beat's per-minute task records this host's system.* gauges and the ingest counters
# (apps/monitoring/system.py); the bench data sets were loaded without beat. This fills
# the last 24 h of them, one point a minute, through the same recording path
# (apps.metrics.services.record_metric -> the ingest buffer -> the outbox -> the
# worker's outbox_process), then rolls the minutes up as beat's roller would. Only the
# minutes after the newest existing point are filled, so a rerun adds the minutes since.
# The values are synthetic (a daily wave around this machine's figures now).
SEED_RECENT = """
import math, random
from datetime import timedelta
from django.db.models import Max
from django.utils import timezone
from apps.ingest.buffer import buffer
from apps.ingest.outbox import outbox_process, outbox_write
from apps.metrics.models import MetricPoint, MetricType
from apps.metrics.rollups import rollup_pending
from apps.metrics.services import record_metric
from apps.monitoring.system import INGEST_COUNTERS, host_name, system_figures

buffer.flusher.thread.adopt()  # this script flushes, no background thread
host, base = host_name(), system_figures(cpu_interval=None)
now = timezone.now().replace(second=0, microsecond=0)
first = now - timedelta(minutes=24 * 60 - 1)
newest = MetricPoint.objects.filter(
    metric_name="system.cpu_percent", timestamp__gte=first, tags__host=host
).aggregate(t=Max("timestamp"))["t"]
if newest is not None:
    first = newest.replace(second=0, microsecond=0) + timedelta(minutes=1)
rng = random.Random(19)
minutes = 0
at = first
while at <= now:
    wave = math.sin(2 * math.pi * (at.hour * 60 + at.minute) / 1440)
    gauges = {
        "cpu_percent": min(100, max(0, 25 + 15 * wave + rng.uniform(-5, 5))),
        "memory_percent": min(100, max(0, base["memory_percent"] + 3 * wave)),
        "memory_used_gb": base["memory_used_gb"],
        "memory_total_gb": base["memory_total_gb"],
        "disk_percent": base["disk_percent"],
        "uptime_seconds": 86400 + (at - first).total_seconds(),
        "load_1m": max(0, 1 + wave + rng.uniform(-0.3, 0.3)),
    }
    for name, value in gauges.items():
        record_metric(f"system.{name}", value, labels={"host": host}, timestamp=at)
    accepted = round(12000 + 8000 * wave + rng.uniform(-500, 500))
    increments = {"accepted": accepted, "rejected": round(accepted * rng.uniform(0.002, 0.006))}
    for outcome, n in increments.items():
        record_metric(INGEST_COUNTERS[outcome], n, MetricType.COUNTER, timestamp=at)
    minutes += 1
    at += timedelta(minutes=1)
stored = sum(outbox_process(outbox_id=pk) for pk in outbox_write(batches=buffer.take()))
rolled = rollup_pending()
print(f"seeded {minutes} minute(s) of system.* and ingest counters: {stored} points, "
      f"{rolled} minute rollups")
"""


def seed_recent(stack: Stack) -> str:
    """The last 24 h of beat's per-minute metrics on this data set (SEED_RECENT)."""
    out = stack.manage_ok("shell", "-c", SEED_RECENT, timeout=600)
    return out.strip().splitlines()[-1] if out.strip() else "seeded nothing"


# --- the stack --------------------------------------------------------------------------------

SUPERUSER = f"""
from django.contrib.auth import get_user_model
User = get_user_model()
user, _ = User.objects.get_or_create(username={USER!r})
user.is_staff = user.is_superuser = user.is_active = True
user.set_password({PASSWORD!r})
user.save()
"""


def run_dataset(ds: DataSet, args) -> list[Result]:
    db_url = PG + ds.database
    stack = Stack(
        database_url=db_url,
        redis_url=f"redis://127.0.0.1:6379/{ds.redis_db}",
        throttle_ingest=THROTTLE_INGEST,
    )
    ok = False
    try:
        stack.manage_ok("migrate", "--noinput", timeout=600)
        stack.manage_ok("shell", "-c", SUPERUSER, timeout=120)
        pages = pages_of(ds, db_url)
        if args.pages:
            pages = [p for p in pages if any(w in p[0] for w in args.pages.split(","))]
        if any(label == "overview" for label, _ in pages):
            print(f"{ds.name}: {seed_recent(stack)}", flush=True)
        # Beat's hourly insights run (the dashboard's rollup and the users seen per day,
        # which the product page and the overview's users read): what a running
        # deployment has done before anyone opens a page.
        rolled = stack.manage_ok("rollup_dashboard", timeout=1800).strip().splitlines()
        print(f"{ds.name}: rollup_dashboard: {rolled[-1] if rolled else 'nothing'}", flush=True)
        stack.overrides["WS_PORT"] = str(stack.start_live())
        stack.start_web(workers=2)
        print(f"{ds.name}: {ds.database}, {len(pages)} page(s), web on {stack.web_port}")
        results = measure(ds, stack, pages, args.repeat)
        ok = True
        return results
    finally:
        stack.close()
        if ok:
            stack.discard_logs()
        else:
            print(f"  (logs kept in {stack.logs})")


def load_dataset(ds: DataSet) -> str | None:
    """Run the bench that loads this data set; a note when it exited non-zero (its own
    checks: the data is loaded before them, the pages are measured anyway)."""
    print(f"load {ds.name}: {' '.join(ds.load)}", flush=True)
    done = subprocess.run(
        [str(BIN / "python"), *ds.load], cwd=ROOT, env={**os.environ, "DEBUG": "true"}
    )
    if done.returncode:
        return f"note: {' '.join(ds.load)} exited {done.returncode} (see its FAIL lines above)"
    return None


# --- figures ---------------------------------------------------------------------------------


def row(r: Result) -> str:
    p50 = pct(r.times, 50) if r.times else None
    p95 = pct(r.times, 95) if r.times else None
    if r.empty and not r.times:
        verdict = "no chart: empty state (no data for it)"
    elif p95 is None:
        verdict = "FAIL"
    else:
        verdict = "ok" if p95 <= BUDGET_MS else "over budget"
    slow = f"HTML {statistics.median(r.html):.0f} ms; " if r.html else ""
    if r.json:
        path, durations = max(r.json.items(), key=lambda kv: statistics.median(kv[1]))
        slow += f"`{path}` {statistics.median(durations):.0f} ms"
    if r.json_done:
        slow += f"; all JSON read by {statistics.median(r.json_done):.0f} ms"
    if r.first_chart:
        verdict += f" (first: {', '.join(sorted(r.first_chart))})"
    if r.observed:
        verdict += " (chart seen by the bench: the page sets no consoleFirstChartMs)"

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    return (
        f"| {r.page} | {r.dataset} | {ms(p50)} | {ms(p95)} | {ms(r.first)} | {verdict} | {slow} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=10_000_000, help="metrics bench points")
    parser.add_argument("--ai-records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10, help="warm loads of each page")
    parser.add_argument("--skip-load", action="store_true", help="reuse the bench databases")
    parser.add_argument("--only", help="data sets, comma-separated (metrics,ai,...)")
    parser.add_argument("--pages", help="only pages whose label holds one of these words")
    args = parser.parse_args(argv)
    chosen = [d for d in datasets(args) if not args.only or d.name in args.only.split(",")]
    started = time.perf_counter()
    results: list[Result] = []
    failures: list[str] = []
    notes: list[str] = []
    loads: list[tuple[float, float, float]] = []
    for ds in chosen:
        try:
            if not args.skip_load:
                note = load_dataset(ds)
                if note:
                    notes.append(note)
            loads.append(os.getloadavg())
            results += run_dataset(ds, args)
            loads.append(os.getloadavg())
        except StackError as exc:
            failures.append(f"{ds.name}: {exc}")
    print()
    print(
        f"Console first chart, ms ({psutil.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}"
        f" UTC, {args.repeat} warm loads a page after a first; load average 1 min "
        f"{min(lo[0] for lo in loads or [(0, 0, 0)]):.1f}-"
        f"{max(lo[0] for lo in loads or [(0, 0, 0)]):.1f}; whole bench "
        f"{time.perf_counter() - started:.0f} s):"
    )
    print()
    print(
        "| page | data set | p50 | p95 | first load | 1 s p95 "
        "| HTML received; slowest JSON read (medians) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(row(r))
    for note in notes:
        print(note)
    for r in results:
        for error in r.errors:
            failures.append(f"{r.page} ({r.dataset}, {r.path}): {error}")
    if failures:
        print()
        for failure in failures:
            print(f"FAIL {failure}")
        return 1
    print("\nOK: every page drew its first chart (or its empty state) without a console error.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
