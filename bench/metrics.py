"""Metrics benchmark: bulk load, rollups, reads from rollups vs raw percentile_cont, record POST.

1. Load. Recreates the `analytics_bench_metrics` database, migrates it, and COPYs
   --points metric points (default 10M) spread over the 30 days ending now into
   metrics_metricevent: 20 metrics, 3-5 label sets each, lognormal latencies,
   gauges (some negative), counters (many zeros). Rows are generated in Python,
   minute by minute in time order, as COPY text (see `generate`), by
   --load-workers processes (default 2) each COPYing its share of the days over
   its own connection, one COPY per day; the table keeps all its indexes.
   PostgreSQL, not Python, is the bottleneck (~14 us/row with the 4 indexes vs
   ~5 us/row to generate), so COPY from Python is kept rather than
   INSERT ... SELECT generate_series. metrics_metricseries gets the label sets.
   Then VACUUM ANALYZE (visibility map for index-only scans, planner statistics).
2. Rollups. apps.metrics.rollups.rollup_range day by day over the whole load
   (time per statement: minutes, hours, days), then once more over whole days
   holding ~1M points (re-roll = upsert path).
3. Reads, in-process through apps.metrics.selectors (warm cache, --repeat runs,
   p50/p99, without Django's debug cursor), each against the same answer computed
   from raw points with percentile_cont, at a `now` that is not minute-aligned so
   raw edges are read. Every answer is verified: count/sum/min/max/avg exact,
   percentiles within 1% of the exact order statistic they stand for; a group_by
   read group by group, against raw points grouped by tags->>'<tag>'.
   --explain prints EXPLAIN (ANALYZE, BUFFERS) of every query a read runs.
4. POST /api/v1/analytics/metrics/record, one metric per request, against gunicorn
   (2 workers, the project's gunicorn config) on the bench database; a request after
   the server closed the connection includes a (loopback) TCP connect, and the
   summary says which way the server went.

    DEBUG=true .venv/bin/python bench/metrics.py [--points 10000000] [--skip-load]

The database is dropped and recreated unless --skip-load. Exits non-zero (after
printing FAIL) when a read disagrees with the raw answer, or a POST is not 202.
"""

import argparse
import gc
import http.client
import io
import math
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import psycopg
from common import BenchError, free_port, health_ok, log_tail, pct, purge_queues, with_dbname

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PYTHON = str(BIN / "python") if (BIN / "python").exists() else sys.executable
GUNICORN = str(BIN / "gunicorn")
RECORD_PATH = "/api/v1/analytics/metrics/record"
HEALTH_PATH = "/api/v1/analytics/health"
DAYS = 30
EVENTS = "metrics_metricevent"
COPY_SQL = (
    f"COPY {EVENTS} (event_id, timestamp, received_at, metric_name, metric_type, value, unit, "
    "tags, tags_hash, source) FROM STDIN"
)
BENCH_METRIC = "http.server.duration"  # the busiest metric: worst case for raw reads
BENCH_TAGS = {"endpoint": "/api/v1/orders"}  # 2 of its 5 label sets (GET and POST)
SOURCE = "bench"
QS = (0.5, 0.95, 0.99)


# --- helpers ------------------------------------------------------------------


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def base_env(args) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        DEBUG="true",
        DATABASE_URL=args.db_url,
        REDIS_URL=args.redis_url,
        ANALYTICS_ENABLED="false",
        THROTTLE_RATE_INGEST="1000000/min",
        DJANGO_SETTINGS_MODULE="analytics_project.settings",
        PYTHONUNBUFFERED="1",
    )
    env.pop("CELERY_BROKER_URL", None)
    return env


def manage(args, *cmd: str) -> str:
    try:
        done = subprocess.run(
            [PYTHON, "manage.py", *cmd],
            cwd=ROOT,
            env=base_env(args),
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"manage.py {' '.join(cmd)} took more than 300 s") from None
    if done.returncode != 0:
        raise BenchError(
            f"manage.py {' '.join(cmd)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout


# --- the data -------------------------------------------------------------------


def _clamp(low: float, high: float, draw: Callable[[], float]) -> Callable[[], float]:
    return lambda: min(high, max(low, draw()))


@dataclass
class MetricSpec:
    name: str
    metric_type: str
    unit: str
    label_sets: list[dict[str, str]]
    weight: float
    make_draw: Callable[[random.Random], Callable[[], float | int]]


def metric_specs() -> list[MetricSpec]:
    """20 metrics; `make_draw(rng)` returns a zero-argument sampler of one value."""
    endpoints = [
        {"endpoint": "/api/v1/orders", "method": "GET"},
        {"endpoint": "/api/v1/orders", "method": "POST"},
        {"endpoint": "/api/v1/users", "method": "GET"},
        {"endpoint": "/api/v1/search", "method": "GET"},
        {"endpoint": "/api/v1/login", "method": "POST"},
    ]
    regions = [{"region": r} for r in ("eu-west-1", "us-east-1", "ap-south-1", "sa-east-1")]
    hosts = [{"host": f"web-{i}"} for i in range(1, 5)]
    queues = [{"queue": q} for q in ("ingest", "default", "alerts")]

    def lognormal(mu: float, sigma: float):
        return lambda rng: lambda f=rng.lognormvariate: f(mu, sigma)

    def bimodal(rng: random.Random):
        rand, logn = rng.random, rng.lognormvariate
        return lambda: logn(2.0, 0.3) if rand() < 0.9 else logn(6.0, 0.5)

    return [
        MetricSpec("http.server.duration", "timer", "ms", endpoints, 3, lognormal(3.5, 0.9)),
        MetricSpec(
            "http.client.duration",
            "timer",
            "ms",
            [{"service": s} for s in ("billing", "auth", "geo", "mail")],
            1,
            lognormal(4.2, 1.1),
        ),
        MetricSpec(
            "db.query.duration",
            "timer",
            "ms",
            [
                {"table": t, "op": o}
                for t, o in (("orders", "select"), ("orders", "insert"), ("users", "select"))
            ]
            + [{"table": "events", "op": "insert"}, {"table": "events", "op": "select"}],
            1.5,
            lognormal(1.0, 1.3),
        ),
        MetricSpec(
            "cache.get.duration",
            "timer",
            "ms",
            [{"cache": c} for c in ("redis", "local", "cdn")],
            1,
            lognormal(-1.5, 0.6),
        ),
        MetricSpec("queue.wait_time", "timer", "s", queues, 1, lognormal(0.0, 1.5)),
        MetricSpec(
            "job.duration",
            "histogram",
            "s",
            [{"job_type": j} for j in ("restart", "firmware", "config", "logs", "reboot")],
            1,
            lognormal(3.0, 0.7),
        ),
        MetricSpec(
            "http.payload.size",
            "histogram",
            "bytes",
            endpoints[:4],
            1,
            lognormal(8.0, 1.8),
        ),
        MetricSpec(
            "cpu.usage",
            "gauge",
            "percent",
            hosts,
            1,
            lambda rng: _clamp(0.0, 100.0, lambda f=rng.gauss: f(45.0, 20.0)),
        ),
        MetricSpec(
            "memory.used",
            "gauge",
            "bytes",
            hosts,
            1,
            lambda rng: lambda f=rng.gauss: abs(f(6e9, 1e9)),
        ),
        MetricSpec(
            "disk.free",
            "gauge",
            "bytes",
            hosts[:3],
            0.5,
            lambda rng: lambda f=rng.uniform: f(1e10, 5e11),
        ),
        MetricSpec(
            "temperature",
            "gauge",
            "celsius",
            regions,
            1,
            lambda rng: lambda f=rng.gauss: f(5.0, 12.0),  # about a third below zero
        ),
        MetricSpec(
            "queue.depth",
            "gauge",
            "count",
            queues,
            1,
            lambda rng: lambda f=rng.expovariate: int(f(1 / 40)),
        ),
        MetricSpec(
            "connections.active",
            "gauge",
            "count",
            regions[:3],
            1,
            lambda rng: lambda f=rng.gauss: max(0, int(f(120.0, 30.0))),
        ),
        MetricSpec(
            "http.requests",
            "counter",
            "count",
            endpoints,
            2,
            lambda rng: lambda f=rng.randint: f(0, 50),
        ),
        MetricSpec(
            "http.errors",
            "counter",
            "count",
            [{"status": s} for s in ("500", "502", "503")],
            1,
            lambda rng: lambda f=rng.expovariate: int(f(0.5)),  # mostly 0 and 1
        ),
        MetricSpec(
            "events.processed",
            "counter",
            "count",
            regions,
            1,
            lambda rng: lambda f=rng.randint: f(1, 1000),
        ),
        MetricSpec(
            "bytes.sent",
            "counter",
            "bytes",
            regions[:3],
            1,
            lambda rng: lambda f=rng.lognormvariate: int(f(10.0, 1.0)),
        ),
        MetricSpec(
            "login.attempts",
            "counter",
            "count",
            [{"result": r} for r in ("success", "failure", "locked")],
            0.5,
            lambda rng: lambda f=rng.randint: f(0, 5),
        ),
        MetricSpec(
            "battery.level",
            "gauge",
            "percent",
            [{"device_model": m} for m in ("a1", "a2", "b1", "c3", "x9")],
            1,
            lambda rng: lambda f=rng.uniform: f(0.0, 100.0),
        ),
        MetricSpec("p2p.latency", "timer", "ms", regions, 1, bimodal),
    ]


@dataclass
class Series:
    spec: MetricSpec
    tags: dict[str, str]
    tags_hash: int
    prefix: str  # COPY text between received_at and value
    suffix: str  # COPY text after value, newline included
    draw: Callable[[], float | int]


def build_series(rng: random.Random) -> list[Series]:
    from apps.metrics.schemas import tags_hash

    series = []
    for spec in metric_specs():
        draw = spec.make_draw(rng)
        for tags in spec.label_sets:
            tags_json = orjson.dumps(tags).decode()
            assert "\\" not in tags_json and "\t" not in tags_json  # COPY text needs no escapes
            series.append(
                Series(
                    spec=spec,
                    tags=tags,
                    tags_hash=tags_hash(tags),
                    prefix=f"\t{spec.name}\t{spec.metric_type}\t",
                    suffix=f"\t{spec.unit}\t{tags_json}\t{tags_hash(tags)}\t{SOURCE}\n",
                    draw=draw,
                )
            )
    return series


def generate(
    series: list[Series], rng: random.Random, points: int, start: datetime, minutes: int
) -> Iterator[tuple[datetime, int, bytes]]:
    """COPY text, one chunk per minute: (minute, rows, bytes), in time order.

    Each point goes to a series drawn by weight (a metric's weight split over its
    label sets), at a uniform random microsecond of its minute. event_id is a
    per-run random prefix plus a counter: unique, and appended at the right end of
    the unique index like time-ordered (v7) UUIDs. received_at = timestamp.
    """
    weights = [s.spec.weight / len(s.spec.label_sets) for s in series]
    cum = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    head = str(uuid.UUID(int=rng.getrandbits(128), version=4))[:24]  # 'xxxxxxxx-xxxx-4xxx-yxxx-'
    per_minute = points / minutes
    carry = 0.0
    n = 0
    rand, choices = rng.random, rng.choices
    for m in range(minutes):
        moment = start + timedelta(minutes=m)
        carry += per_minute
        k = int(carry + 1e-9) if m < minutes - 1 else points - n
        carry -= k
        if k <= 0:
            continue
        stamp = moment.strftime("%Y-%m-%d %H:%M:")
        lines = []
        for s in choices(series, cum_weights=cum, k=k):
            t = f"{stamp}{rand() * 59.999999:09.6f}+00"
            lines.append(f"{head}{n:012x}\t{t}\t{t}{s.prefix}{s.draw()!r}{s.suffix}")
            n += 1
        yield moment, k, "".join(lines).encode()


# --- setup and load -----------------------------------------------------------------


def recreate_database(args) -> float:
    name = urlsplit(args.db_url).path.lstrip("/")
    if "bench" not in name or '"' in name:
        raise BenchError(f"refusing to drop {name!r}: the bench database's name must say bench")
    t0 = time.perf_counter()
    with psycopg.connect(
        with_dbname(args.db_url, "postgres"), autocommit=True, connect_timeout=5
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    manage(args, "migrate", "--noinput")
    elapsed = time.perf_counter() - t0
    print(f"setup: database {name!r} recreated and migrated in {elapsed:.1f} s")
    return elapsed


def configure_django(args) -> None:
    os.environ.update(base_env(args))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    # DEBUG=true only spares a SECRET_KEY; timings run without the debug cursor
    # (query logging), as in production. --explain captures queries explicitly.
    settings.DEBUG = False


def copy_points(
    db_url: str, seed: int, points: int, start: datetime, minutes: int, progress
) -> tuple[int, int, float]:
    """Generate and COPY `points` over `minutes` from `start`: one COPY (transaction) per
    calendar day. Returns (rows, bytes, seconds spent generating in Python)."""
    rng = random.Random(seed)
    series = build_series(rng)
    chunks = generate(series, rng, points, start, minutes)
    rows = nbytes = 0
    gen_seconds = 0.0
    pending = True
    with psycopg.connect(db_url, autocommit=True) as conn, conn.cursor() as cur:
        while pending:
            day_rows = 0
            with cur.copy(COPY_SQL) as copy:
                buf: list[bytes] = []
                size = 0
                day_end = None
                while True:
                    g0 = time.perf_counter()
                    item = next(chunks, None)
                    gen_seconds += time.perf_counter() - g0
                    if item is None:
                        pending = False
                        break
                    moment, k, data = item
                    buf.append(data)
                    size += len(data)
                    day_rows += k
                    if size >= 1 << 20:
                        copy.write(b"".join(buf))
                        nbytes += size
                        buf, size = [], 0
                    day_end = day_end or floor_day(moment) + timedelta(days=1)
                    if moment + timedelta(minutes=1) >= day_end:
                        break
                if buf:
                    copy.write(b"".join(buf))
                    nbytes += size
            rows += day_rows
            with progress.get_lock():
                progress.value += day_rows
    return rows, nbytes, gen_seconds


def _load_worker(queue, *job) -> None:
    try:
        queue.put(("ok", copy_points(*job)))
    except BaseException as exc:  # reported by the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def load(args) -> dict:
    """COPY --points rows from --load-workers processes, each over its own share of the days."""
    import multiprocessing

    from django.db import connections

    end = floor_minute(datetime.now(UTC))
    start = end - timedelta(days=DAYS)
    minutes = DAYS * 24 * 60
    series = build_series(random.Random(args.seed))
    with psycopg.connect(args.db_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO metrics_metricseries (metric_name, tags_hash, tags, metric_type, unit,"
            " first_seen) VALUES (%s, %s, %s::jsonb, %s, %s, %s) "
            "ON CONFLICT (metric_name, tags_hash) DO NOTHING",
            [
                (
                    s.spec.name,
                    s.tags_hash,
                    orjson.dumps(s.tags).decode(),
                    s.spec.metric_type,
                    s.spec.unit,
                    start,
                )
                for s in series
            ],
        )
    connections.close_all()  # nothing open across fork
    ctx = multiprocessing.get_context("fork")
    progress = ctx.Value("q", 0)
    queue = ctx.Queue()
    workers = max(1, min(args.load_workers, DAYS))
    procs = []
    t0 = time.perf_counter()
    assigned = 0
    for w in range(workers):
        m0, m1 = minutes * w // workers, minutes * (w + 1) // workers
        share = args.points * m1 // minutes - assigned
        assigned += share
        job = (args.db_url, args.seed * 1000 + w, share, start + timedelta(minutes=m0), m1 - m0)
        proc = ctx.Process(target=_load_worker, args=(queue, *job, progress), daemon=True)
        proc.start()
        procs.append(proc)
    results, errors = [], []
    try:
        while len(results) + len(errors) < workers:
            try:
                status, value = queue.get(timeout=15)
            except Exception:  # queue.Empty: print progress, check the workers are alive
                done = progress.value
                elapsed = time.perf_counter() - t0
                print(f"load: {done:,} rows in {elapsed:.0f} s ({done / elapsed:,.0f} rows/s)")
                if not any(p.is_alive() for p in procs) and queue.empty():
                    errors.append("a load worker died without a report")
                continue
            (results if status == "ok" else errors).append(value)
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
    if errors:
        raise BenchError("load failed: " + "; ".join(errors))
    copy_seconds = time.perf_counter() - t0
    rows = sum(r[0] for r in results)
    nbytes = sum(r[1] for r in results)
    gen_seconds = sum(r[2] for r in results)
    with psycopg.connect(args.db_url, autocommit=True) as conn:
        (size_pretty,) = conn.execute(
            f"SELECT pg_size_pretty(pg_total_relation_size('{EVENTS}'))"
        ).fetchone()
        t1 = time.perf_counter()
        conn.execute(f"VACUUM (ANALYZE) {EVENTS}")
        conn.execute("VACUUM (ANALYZE) metrics_metricseries")
        vacuum_seconds = time.perf_counter() - t1
    result = {
        "rows": rows,
        "seconds": copy_seconds,
        "rate": rows / copy_seconds,
        "gen_seconds": gen_seconds,
        "workers": workers,
        "mib": nbytes / 2**20,
        "vacuum_seconds": vacuum_seconds,
        "size": size_pretty,
        "start": start,
        "end": end,
    }
    print(
        f"load: {rows:,} rows COPYed (text format, {result['mib']:,.0f} MiB, {workers} "
        f"process(es) x 1 connection) in {copy_seconds:.1f} s -> {result['rate']:,.0f} rows/s; "
        f"Python generation took {gen_seconds:.1f} CPU-s of it"
    )
    print(f"load: VACUUM (ANALYZE) {vacuum_seconds:.1f} s; {EVENTS} is {size_pretty} with indexes")
    return result


def loaded_range(args) -> tuple[datetime, datetime, int]:
    with psycopg.connect(args.db_url) as conn:
        lo, hi, count = conn.execute(
            f"SELECT min(timestamp), max(timestamp), count(*) FROM {EVENTS}"
        ).fetchone()
    if not count:
        raise BenchError("--skip-load: the bench database holds no metric points")
    return floor_minute(lo), floor_minute(hi) + timedelta(minutes=1), count


# --- rollups ------------------------------------------------------------------------


def bench_rollups(args, start: datetime, end: datetime) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.metrics.rollups import rollup_range

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE metrics_metricrollup, metrics_dirtyminute")
        cursor.execute(
            f"SELECT date_trunc('day', timestamp) AS d, count(*) FROM {EVENTS} GROUP BY d"
        )
        per_day = dict(cursor.fetchall())
    days = []
    day = floor_day(start)
    while day < end:
        days.append(day)
        day += timedelta(days=1)
    timings = []
    steps = [0.0, 0.0, 0.0]  # statement times: minutes from points, hours, days
    t0 = time.perf_counter()
    for day in days:
        d0 = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            rollup_range(start=day, end=min(day + timedelta(days=1), end))
        timings.append((day, per_day.get(day, 0), time.perf_counter() - d0))
        big = [float(q["time"]) for q in captured.captured_queries if "INSERT" in q["sql"]]
        for i, seconds in enumerate(big[:3]):
            steps[i] += seconds
    total = time.perf_counter() - t0
    points = sum(n for _, n, _ in timings)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT resolution, count(*) FROM metrics_metricrollup GROUP BY 1 ORDER BY 1"
        )
        rollup_rows = dict(cursor.fetchall())
    print(
        f"rollups: {len(days)} days, {points:,} points rolled up in {total:.1f} s -> "
        f"{points / total:,.0f} points/s; rows: "
        + ", ".join(f"{res} {n:,}" for res, n in sorted(rollup_rows.items()))
    )
    print(
        f"rollups: by statement: minutes from points {steps[0]:.1f} s, hours from points "
        f"{steps[1]:.1f} s, days from hours {steps[2]:.1f} s"
    )
    full = [t for t in timings if t[1] and t[0] >= start and t[0] + timedelta(days=1) <= end]
    if full:
        secs = [t[2] for t in full]
        print(
            f"rollups: a full day ({statistics.median([t[1] for t in full]):,.0f} points): "
            f"median {statistics.median(secs):.2f} s, max {max(secs):.2f} s"
        )
    # First-pass time of the first whole days that hold >= 1M points, scaled to 1M.
    first_pass = None
    acc_n, acc_s = 0, 0.0
    for _, n, s in full:
        acc_n += n
        acc_s += s
        if acc_n >= 1_000_000:
            break
    if acc_n:
        first_pass = acc_s * 1_000_000 / acc_n
        print(
            f"rollups: first pass, whole days holding {acc_n:,} points took {acc_s:.2f} s "
            f"-> {first_pass:.2f} s per 1M points"
        )
    # Dedicated run: one rollup_range over whole days holding about 1M points (re-roll).
    slice_result = None
    if full:
        per = statistics.median([t[1] for t in full])
        ndays = max(1, min(len(full), round(1_000_000 / per)))
        lo = full[len(full) // 2 - ndays // 2][0] if len(full) > ndays else full[0][0]
        hi = lo + timedelta(days=ndays)
        n = sum(per_day.get(lo + timedelta(days=i), 0) for i in range(ndays))
        s0 = time.perf_counter()
        rollup_range(start=lo, end=hi)
        secs = time.perf_counter() - s0
        slice_result = {"points": n, "seconds": secs, "per_million": secs * 1_000_000 / n}
        print(
            f"rollups: one rollup_range over {ndays} day(s) ({lo:%m-%d}..{hi:%m-%d}, {n:,} "
            f"points, re-roll over existing rollups): {secs:.2f} s -> "
            f"{slice_result['per_million']:.2f} s per 1M points"
        )
        # The operator's command: the same days, two at a time (one per core).
        from django.core.management import call_command

        s0 = time.perf_counter()
        call_command(
            "backfill_rollups",
            since=lo.isoformat(),
            until=hi.isoformat(),
            jobs=2,
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
        secs = time.perf_counter() - s0
        slice_result["parallel_per_million"] = secs * 1_000_000 / n
        print(
            f"rollups: backfill_rollups --jobs 2 over the same days: {secs:.2f} s -> "
            f"{slice_result['parallel_per_million']:.2f} s per 1M points"
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) metrics_metricrollup")
    return {
        "points": points,
        "seconds": total,
        "rate": points / total,
        "first_pass_per_million": first_pass,
        "slice": slice_result,
        "rows": rollup_rows,
        "steps": steps,
    }


# --- reads ---------------------------------------------------------------------------


@dataclass
class ReadCase:
    label: str
    goal_ms: float | None
    call: Callable[[], dict]
    where: str  # raw points of the window, for the raw and the verifying SQL
    params: list
    step: str | None = None  # a series' bucket width (SQL interval); None for statistics
    agg: str = "avg"
    group_by: str | None = None  # a tag: raw answers GROUP BY tags->>tag, as the old systems did

    def bucket(self) -> str:
        return f"date_bin(interval '{self.step}', \"timestamp\", timestamptz '2000-01-01')"

    @property
    def raw_sql(self) -> str:
        """The same answer straight from raw points, as one would without rollups.

        With group_by, every row starts with the group's value (rows ordered by it).
        """
        group = f"tags->>'{self.group_by}'" if self.group_by else ""
        select = f"{group} AS g, " if group else ""
        if self.step is None:
            return (
                f"SELECT {select}count(*), avg(value), min(value), max(value), sum(value), "
                "percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY value) "
                f"FROM {EVENTS} WHERE {self.where}" + (" GROUP BY g ORDER BY g" if group else "")
            )
        value = "avg(value)"
        if self.agg != "avg":
            value = f"percentile_cont({int(self.agg[1:]) / 100}) WITHIN GROUP (ORDER BY value)"
        by = "g, b" if group else "b"
        return (
            f"SELECT {select}{self.bucket()} AS b, count(*), {value} FROM {EVENTS} "
            f"WHERE {self.where} GROUP BY {by} ORDER BY {by}"
        )

    def of_group(self, value: str | None) -> "ReadCase":
        """The same read narrowed to one group, for the verifying SQL."""
        return ReadCase(
            self.label,
            self.goal_ms,
            self.call,
            f"{self.where} AND tags->>'{self.group_by}' IS NOT DISTINCT FROM %s",
            [*self.params, value],
            self.step,
            self.agg,
        )


def times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"


def rel(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def sketch_error(value: float, exact: float) -> float:
    """Relative distance to the order statistic the sketch answers for (guarantee: 1%)."""
    if abs(value - exact) <= 1e-9:  # the sketch's zero bucket holds |v| < 1e-9
        return 0.0
    return abs(value - exact) / abs(exact)


def verify(case: ReadCase, res: dict, rows: list, cursor) -> str:
    """Compare a selector answer with the raw answer; raises BenchError on a mismatch.

    count/sum/min/max/avg must be exact (sum and avg to 1e-9: float addition order).
    Percentiles are checked against the exact order statistic at 0-based rank
    floor(q * (n - 1)), the one the sketch walk stands for (percentile_disc with a
    fraction inside that rank), which the DDSketch must be within 1% of.
    percentile_cont interpolates between neighbours, so it is only reported.
    """
    if case.group_by:
        return verify_groups(case, res, rows, cursor)
    from apps.metrics.sketch import RELATIVE_ACCURACY

    limit = RELATIVE_ACCURACY * (1 + 1e-9)
    if case.step is None:
        count, avg, low, high, total, conts = rows[0]
        if res["count"] != count:
            raise BenchError(f"count {res['count']} != raw {count}")
        if res["min"] != low or res["max"] != high:
            raise BenchError(f"min/max {res['min']}/{res['max']} != raw {low}/{high}")
        if rel(res["sum"], total) > 1e-9 or rel(res["avg"], avg) > 1e-9:
            raise BenchError(f"sum/avg {res['sum']}/{res['avg']} != raw {total}/{avg}")
        fractions = [(math.floor(q * (count - 1)) + 0.5) / count for q in QS]
        cursor.execute(
            "SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY value) "
            f"FROM {EVENTS} WHERE {case.where}",
            [fractions, *case.params],
        )
        exact = cursor.fetchone()[0]
        answers = [res[f"p{int(q * 100)}"] for q in QS]
        errors = [sketch_error(v, x) for v, x in zip(answers, exact, strict=True)]
        if max(errors) > limit:
            raise BenchError(f"percentiles {answers} vs exact order statistics {exact}")
        cont = max(rel(v, c) for v, c in zip(answers, conts, strict=True))
        return (
            f"count {count:,}; count/sum/min/max exact; p50/p95/p99 within {max(errors):.2%} "
            f"of the exact order statistic ({cont:.2%} of percentile_cont)"
        )
    buckets = res["buckets"]
    if len(buckets) != len(rows):
        raise BenchError(f"{len(buckets)} buckets != raw {len(rows)}")
    for bucket, (b, count, _) in zip(buckets, rows, strict=True):
        if bucket["start"] != b or bucket["count"] != count:
            raise BenchError(f"bucket {bucket} != raw {rows[buckets.index(bucket)]}")
    conts = [rel(bucket["value"], row[2]) for bucket, row in zip(buckets, rows, strict=True)]
    if case.agg == "avg":
        if max(conts) > 1e-9:
            raise BenchError(f"avg off by up to {max(conts):.2e}")
        return f"{len(buckets)} buckets; starts, counts and avg exact"
    q = int(case.agg[1:]) / 100
    cursor.execute(
        f"WITH pts AS (SELECT {case.bucket()} AS b, value FROM {EVENTS} WHERE {case.where}), "
        "n AS (SELECT b, count(*) AS n FROM pts GROUP BY b) "
        "SELECT b, percentile_disc((floor(%s * (n - 1)) + 0.5) / n) WITHIN GROUP (ORDER BY value) "
        "FROM pts JOIN n USING (b) GROUP BY b, n ORDER BY b",
        [*case.params, q],
    )
    exact = cursor.fetchall()
    errors = [
        sketch_error(bucket["value"], x) for bucket, (_, x) in zip(buckets, exact, strict=True)
    ]
    if max(errors) > limit:
        worst = errors.index(max(errors))
        raise BenchError(f"bucket {buckets[worst]} vs exact order statistic {exact[worst]}")
    return (
        f"{len(buckets)} buckets; starts and counts exact; {case.agg} within {max(errors):.2%} "
        f"of the exact order statistic (median {statistics.median(conts):.2%}, max "
        f"{max(conts):.2%} of percentile_cont)"
    )


def verify_groups(case: ReadCase, res: dict, rows: list, cursor) -> str:
    """Each group of a group_by answer against the raw rows of its value, as `verify` does."""
    raw: dict[str | None, list] = {}
    for row in rows:
        raw.setdefault(row[0], []).append(row[1:])
    groups = {g["value"]: g for g in res["groups"]}
    if set(groups) != set(raw) or res["groups_truncated"]:
        raise BenchError(f"groups {sorted(groups, key=str)} != raw {sorted(raw, key=str)}")
    notes = []
    for value, group_rows in raw.items():
        answer = groups[value] if case.step is None else {"buckets": groups[value]["buckets"]}
        try:
            notes.append(verify(case.of_group(value), answer, group_rows, cursor))
        except BenchError as exc:
            raise BenchError(f"group {value!r}: {exc}") from None
    return f"{len(raw)} groups ({case.group_by}), each: " + notes[0].split("; ", 1)[1]


def read_cases(now: datetime, hashes: list[int]) -> list[ReadCase]:
    from apps.metrics.selectors import metric_statistics, metric_time_series

    name = BENCH_METRIC
    where = 'metric_name = %s AND "timestamp" >= %s AND "timestamp" < %s'
    h30, h24 = DAYS * 24, 24
    last30 = [name, now - timedelta(hours=h30), now]
    last24 = [name, now - timedelta(hours=h24), now]
    return [
        ReadCase(
            "statistics 30 d",
            50,
            lambda: metric_statistics(name=name, hours=h30, now=now),
            where,
            last30,
        ),
        ReadCase(
            "statistics 24 h",
            20,
            lambda: metric_statistics(name=name, hours=h24, now=now),
            where,
            last24,
        ),
        ReadCase(
            f"statistics 30 d, tag endpoint={BENCH_TAGS['endpoint']}",
            None,
            lambda: metric_statistics(name=name, hours=h30, tags=BENCH_TAGS, now=now),
            where + " AND tags_hash = ANY(%s)",
            [*last30, hashes],
        ),
        ReadCase(
            "time series 30 d, 1h, avg",
            50,
            lambda: metric_time_series(name=name, hours=h30, interval="1h", agg="avg", now=now),
            where,
            last30,
            step="1 hour",
        ),
        ReadCase(
            "time series 30 d, 1h, p95",
            None,
            lambda: metric_time_series(name=name, hours=h30, interval="1h", agg="p95", now=now),
            where,
            last30,
            step="1 hour",
            agg="p95",
        ),
        ReadCase(
            "statistics 30 d, group_by endpoint",
            None,
            lambda: metric_statistics(name=name, hours=h30, group_by="endpoint", now=now),
            where,
            last30,
            group_by="endpoint",
        ),
        ReadCase(
            "time series 720 h, 1h, avg, group_by endpoint",
            None,
            lambda: metric_time_series(
                name=name, hours=h30, interval="1h", agg="avg", group_by="endpoint", now=now
            ),
            where,
            last30,
            step="1 hour",
            group_by="endpoint",
        ),
        ReadCase(
            "time series 24 h, 5m, avg",
            None,
            lambda: metric_time_series(name=name, hours=h24, interval="5m", agg="avg", now=now),
            where,
            last24,
            step="5 minutes",
        ),
    ]


def timed(
    fn: Callable[[], object], repeat: int, *, warmup: int, budget: float, least: int
) -> tuple[list[float], object]:
    """Milliseconds of `repeat` runs after `warmup`; stops early once `budget` seconds are
    spent and at least `least` runs are done (slow reads would otherwise take minutes)."""
    result = None
    for _ in range(warmup):
        result = fn()
    samples: list[float] = []
    gc.collect()
    gc.disable()
    try:
        deadline = time.perf_counter() + budget
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = fn()
            samples.append((time.perf_counter() - t0) * 1000)
            if len(samples) >= least and time.perf_counter() > deadline:
                break
    finally:
        gc.enable()
    return samples, result


def explain(label: str, fn: Callable[[], dict]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every SELECT the selector ran (captured, then re-run)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    print(f"\n--- EXPLAIN (ANALYZE, BUFFERS) for {label} ---")
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            print(f"-- {query['time']} s as run: {sql[:300]}{'...' if len(sql) > 300 else ''}")
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            for (line,) in cursor.fetchall():
                print(f"   {line}")


def bench_reads(args, end: datetime) -> list[dict]:
    from django.db import connection

    # Not minute-aligned, and with points after it: both raw edges are read.
    now = end - timedelta(minutes=3) + timedelta(seconds=37, microseconds=123457)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tags_hash FROM metrics_metricseries WHERE metric_name = %s AND tags @> %s",
            [BENCH_METRIC, orjson.dumps(BENCH_TAGS).decode()],
        )
        hashes = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT count(*) FROM {EVENTS} WHERE metric_name = %s", [BENCH_METRIC])
        (bench_points,) = cursor.fetchone()
    print(
        f"reads: metric {BENCH_METRIC!r} ({bench_points:,} points, 5 label sets), now = "
        f"{now.isoformat()}; warm cache; selector x{args.repeat} (or 15 s, >= 10 runs), "
        f"raw SQL x{args.raw_repeat} (or 8 s, >= 3 runs)"
    )
    results = []
    for case in read_cases(now, hashes):
        samples, res = timed(case.call, args.repeat, warmup=3, budget=15, least=10)

        def raw(case=case):
            with connection.cursor() as cursor:
                cursor.execute(case.raw_sql, case.params)
                return cursor.fetchall()

        raw_samples, rows = timed(raw, args.raw_repeat, warmup=1, budget=8, least=3)
        with connection.cursor() as cursor:
            note = verify(case, res, rows, cursor)
        row = {
            "label": case.label,
            "goal": case.goal_ms,
            "p50": pct(samples, 50),
            "p99": pct(samples, 99),
            "raw_p50": pct(raw_samples, 50),
            "ratio": pct(raw_samples, 50) / pct(samples, 50),
            "note": note,
            "runs": len(samples),
            "raw_runs": len(raw_samples),
        }
        results.append(row)
        goal = f" (goal < {case.goal_ms:.0f} ms)" if case.goal_ms else ""
        print(
            f"  {case.label:<32} p50 {row['p50']:7.2f} ms  p99 {row['p99']:7.2f} ms{goal}; "
            f"raw percentile_cont p50 {row['raw_p50']:8.1f} ms = {times(row['ratio'])}"
        )
        print(f"  {'':<32} {note} [{row['runs']} / {row['raw_runs']} runs]")
        if args.explain:
            explain(case.label, case.call)
            with connection.cursor() as cursor:
                print(f"\n--- EXPLAIN (ANALYZE, BUFFERS) raw: {case.label} ---")
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + case.raw_sql, case.params)
                for (line,) in cursor.fetchall():
                    print(f"   {line}")
            print()
    return results


# --- the record POST -------------------------------------------------------------------


class Gunicorn:
    """gunicorn in its own process group; stop() sends SIGTERM, then SIGKILL, to the group."""

    def __init__(self, args):
        self.args = args
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="bench-metrics-", suffix=".log", delete=False)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                GUNICORN,
                "analytics_project.wsgi:application",
                "--config",
                "python:analytics_project.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
            ],
            cwd=ROOT,
            env=base_env(self.args),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.proc.returncode}\n{self.tail()}")
            if health_ok(self.port, HEALTH_PATH):
                return
            if time.monotonic() > deadline:
                raise BenchError(f"gunicorn not healthy in {timeout:.0f} s\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, lines: int = 30) -> str:
        return log_tail(self.log, "gunicorn", lines)

    def stop(self) -> None:
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
                # The master is gone; make sure no worker of the group outlives it.
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
            break
        self.log.close()


def bench_post(args) -> dict:
    import psutil

    out = manage(args, "create_api_key", "bench-metrics", "--scope", "ingest")
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if not lines:
        raise BenchError("create_api_key printed no key")
    key = lines[-1]
    with psycopg.connect(args.db_url, autocommit=True) as db:
        db.execute("DELETE FROM ingest_outboxbatch WHERE kind = 'metric'")
    server = Gunicorn(args)
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    rng = random.Random(7)
    endpoints = metric_specs()[0].label_sets
    try:
        server.start()
        server.wait_healthy()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        latencies: list[float] = []
        connects: list[float] = []
        closed = 0
        total = args.posts + 100
        for i in range(total):
            body = orjson.dumps(
                {
                    "metric_name": BENCH_METRIC,
                    "value": round(rng.lognormvariate(3.5, 0.9), 3),
                    "metric_type": "timer",
                    "unit": "ms",
                    "tags": endpoints[i % len(endpoints)],
                }
            )
            t0 = time.perf_counter()
            if conn.sock is None:
                conn.connect()
                connect_ms = (time.perf_counter() - t0) * 1000
            else:
                connect_ms = 0.0
            conn.request("POST", RECORD_PATH, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            elapsed = (time.perf_counter() - t0) * 1000
            if resp.status != 202:
                raise BenchError(f"POST {i}: HTTP {resp.status}: {data[:300]!r}")
            if resp.will_close:
                closed += 1  # http.client reconnects on the next request
            if i == 99:  # the first 100 warm both workers up
                busy_before = psutil.cpu_times()
            if i >= 100:
                latencies.append(elapsed)
                connects.append(connect_ms)
        busy_after = psutil.cpu_times()
        conn.close()
        with psycopg.connect(args.db_url) as db:
            (items,) = db.execute(
                "SELECT coalesce(sum(item_count), 0) FROM ingest_outboxbatch WHERE kind = 'metric'"
            ).fetchone()
        if items != total:
            raise BenchError(f"{items} metric items in the outbox after {total} accepted POSTs")
    except BenchError as exc:
        raise BenchError(f"{exc}\n{server.tail()}") from None
    finally:
        server.stop()
        purge_queues(args.redis_url)
    Path(server.log.name).unlink(missing_ok=True)
    spent = sum(busy_after) - sum(busy_before)
    idle = (busy_after.idle + busy_after.iowait) - (busy_before.idle + busy_before.iowait)
    result = {
        "posts": len(latencies),
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
        "max": max(latencies),
        "connect_p50": pct(connects, 50),
        "connect_p99": pct(connects, 99),
        "reconnects": closed,
        "busy": 1 - idle / spent if spent else float("nan"),
    }
    print(
        f"record: {result['posts']} sequential POSTs (after 100 warm-up): p50 "
        f"{result['p50']:.2f} ms, p99 {result['p99']:.2f} ms, max {result['max']:.2f} ms"
    )
    print(
        f"record: the server closed the connection after {closed} of {total} responses "
        f"(each close costs the next POST a loopback connect: p50 "
        f"{result['connect_p50']:.2f} ms, p99 {result['connect_p99']:.2f} ms); machine "
        f"{result['busy']:.0%} busy meanwhile"
    )
    return result


# --- summary -------------------------------------------------------------------------------


def print_summary(args, load_result, rollup, reads, post) -> None:
    import psutil

    cores = psutil.cpu_count() or 1
    print()
    print(
        f"Summary ({cores} cores, Python {platform.python_version()}, PostgreSQL "
        f"{args.pg_version}, {time.strftime('%Y-%m-%d')}; metric {BENCH_METRIC!r} "
        f"with {args.bench_points:,} of {args.total_points:,} points):"
    )
    print()
    print("| Figure | Goal | Measured | Raw percentile_cont / rollups |")
    print("|---|---|---|---|")
    if load_result:
        print(
            f"| Load: COPY {load_result['rows']:,} points (text format, generated in Python, "
            f"{load_result['workers']} processes) | - | "
            f"{load_result['rate']:,.0f} rows/s ({load_result['seconds']:.0f} s; "
            f"VACUUM ANALYZE {load_result['vacuum_seconds']:.0f} s) | - |"
        )
    if rollup:
        print(
            f"| Rollups, all {rollup['points']:,} points, day by day (minutes / hours / days "
            f"statements) | - | {rollup['seconds']:.1f} s ({rollup['rate']:,.0f} points/s; "
            f"{rollup['steps'][0]:.0f} / {rollup['steps'][1]:.0f} / {rollup['steps'][2]:.0f} s) "
            "| - |"
        )
        if rollup["first_pass_per_million"] is not None:
            print(
                f"| Rollup of 1M points (first pass, whole days) | < 10 s | "
                f"{rollup['first_pass_per_million']:.1f} s | - |"
            )
        if rollup["slice"]:
            s = rollup["slice"]
            print(
                f"| Rollup of 1M points (one rollup_range, re-roll of {s['points']:,}) | < 10 s | "
                f"{s['per_million']:.1f} s | - |"
            )
            if "parallel_per_million" in s:
                print(
                    f"| Rollup of 1M points (`backfill_rollups --jobs 2`, re-roll) | < 10 s | "
                    f"{s['parallel_per_million']:.1f} s | - |"
                )
    for row in reads:
        goal = f"< {row['goal']:.0f} ms p50" if row["goal"] else "-"
        print(
            f"| {row['label']} | {goal} | {row['p50']:.1f} ms p50, {row['p99']:.1f} ms p99 | "
            f"{times(row['ratio'])} ({row['raw_p50']:,.1f} ms) |"
        )
    if post:
        # What the server did, not what it was once configured to do.
        reuse = "new connection each" if post["reconnects"] else "one kept-alive connection"
        print(
            f"| POST metrics/record, 1 metric, sequential, {reuse} (2 gunicorn workers) | "
            f"< 10 ms p99 | {post['p50']:.1f} ms p50, {post['p99']:.1f} ms p99 | - |"
        )


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=10_000_000, help="metric points to load")
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded database")
    parser.add_argument("--skip-rollups", action="store_true", help="with --skip-load only")
    parser.add_argument("--repeat", type=int, default=100, help="timed runs per selector read")
    parser.add_argument("--raw-repeat", type=int, default=None, help="default repeat/10, >= 3")
    parser.add_argument("--posts", type=int, default=2000, help="timed record POSTs")
    parser.add_argument("--skip-post", action="store_true")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE every read")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--load-workers", type=int, default=2, help="processes generating and COPYing points"
    )
    parser.add_argument(
        "--db-url",
        default="postgres://postgres@127.0.0.1:5432/analytics_bench_metrics",
        help="dropped and recreated unless --skip-load!",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args(argv)
    if args.points < 1 or args.repeat < 1 or args.posts < 1:
        parser.error("need --points, --repeat, --posts >= 1")
    if args.skip_rollups and not args.skip_load:
        parser.error("--skip-rollups needs --skip-load (a fresh load has no rollups)")
    if args.raw_repeat is None:
        args.raw_repeat = max(3, args.repeat // 10)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    started = time.perf_counter()
    load_result = rollup = post = None
    reads: list[dict] = []
    failures = []
    try:
        if not args.skip_load:
            recreate_database(args)
        configure_django(args)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            args.pg_version = cursor.fetchone()[0].split()[0]
        if args.skip_load:
            start, end, count = loaded_range(args)
            print(f"load: skipped; reusing {count:,} points from {start:%Y-%m-%d %H:%M} UTC")
        else:
            load_result = load(args)
            start, end = load_result["start"], load_result["end"]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {EVENTS}")
            args.total_points = cursor.fetchone()[0]
            cursor.execute(f"SELECT count(*) FROM {EVENTS} WHERE metric_name = %s", [BENCH_METRIC])
            args.bench_points = cursor.fetchone()[0]
        if not args.skip_rollups:
            rollup = bench_rollups(args, start, end)
        try:
            reads = bench_reads(args, end)
        except BenchError as exc:
            failures.append(f"reads: {exc}")
            print(f"FAIL reads: {exc}")
        from django.db import connections

        connections.close_all()
        if not args.skip_post:
            try:
                post = bench_post(args)
            except BenchError as exc:
                failures.append(f"record: {exc}")
                print(f"FAIL record: {exc}")
    except BenchError as exc:
        failures.append(str(exc))
        print(f"FAIL: {exc}")
    if hasattr(args, "total_points"):
        print_summary(args, load_result, rollup, reads, post)
    print(f"\n(whole bench: {time.perf_counter() - started:.0f} s)")
    if failures:
        print(f"\nFAIL ({len(failures)} check(s) failed, see above)")
        return 1
    print("\nOK: every read matched the raw answer; every POST (if run) answered 202.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
