"""The metrics bench's part 1: a fresh database, and --points points COPYed into it.

Each of --load-workers processes (forked) generates its share of the days with
metrics_data.generate and COPYs it over its own connection, one COPY per day; the
parent prints progress, then runs VACUUM ANALYZE.
"""

import random
import time
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from common import BenchError, setup_django
from metrics_data import (
    BENCH_METRIC,
    EVENTS,
    RAW_POINTS,
    build_series,
    floor_day,
    floor_minute,
    generate,
)
from stack import Stack, recreate_database

COPY_SQL = (
    f"COPY {EVENTS} (event_id, timestamp, received_at, metric_name, metric_type, value, unit, "
    "tags, tags_hash, source) FROM STDIN"
)


def setup_database(args, stack: Stack) -> float:
    """Drop, create and migrate the bench database; returns the seconds it took."""
    t0 = time.perf_counter()
    name = recreate_database(args.db_url)
    stack.manage_ok("migrate", "--noinput", timeout=300)
    elapsed = time.perf_counter() - t0
    print(f"setup: database {name!r} recreated and migrated in {elapsed:.1f} s")
    return elapsed


def configure_django(args) -> None:
    setup_django(args)
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
    start = end - timedelta(days=args.days)
    minutes = args.days * 24 * 60
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
        # Their tag keys, as the pipeline's statement writes them (apps.metrics.schemas).
        from apps.metrics.schemas import AFTER_INSERT

        cur.execute(
            "WITH derived_0 AS (SELECT metric_name, tags FROM metrics_metricseries) "
            + AFTER_INSERT[2]
        )
    connections.close_all()  # nothing open across fork
    ctx = multiprocessing.get_context("fork")
    progress = ctx.Value("q", 0)
    queue = ctx.Queue()
    workers = max(1, min(args.load_workers, args.days))
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
        # Partitioned by day: the table's size is its partitions'.
        (size_pretty,) = conn.execute(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) "
            f"FROM pg_partition_tree('{EVENTS}')"
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
        # The loaded metric's range: other points may have come since (the console bench
        # records beat's last minutes of host metrics into this database).
        lo, hi, count = conn.execute(
            "SELECT min(timestamp) FILTER (WHERE metric_name = %s), "
            f"max(timestamp) FILTER (WHERE metric_name = %s), count(*) FROM {RAW_POINTS}",
            [BENCH_METRIC, BENCH_METRIC],
        ).fetchone()
    if lo is None:
        raise BenchError(f"--skip-load: the bench database holds no {BENCH_METRIC} points")
    return floor_minute(lo), floor_minute(hi) + timedelta(minutes=1), count
