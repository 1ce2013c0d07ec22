"""The metrics bench's part 3: reads through apps.metrics.selectors, timed, each against
the same answer from raw points with percentile_cont and checked (metrics_verify);
--explain prints EXPLAIN (ANALYZE, BUFFERS) of every query a read runs."""

import gc
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import orjson
import time_machine
from common import pct
from metrics_data import BENCH_METRIC, BENCH_TAGS, DAYS, RAW_POINTS
from metrics_verify import ReadCase, verify


def times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"


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
        ReadCase(  # ~1,900 points: exact from raw points (METRICS_EXACT_PERCENTILE_POINTS)
            "statistics 1 h",
            None,
            lambda: metric_statistics(name=name, hours=1, now=now),
            where,
            [name, now - timedelta(hours=1), now],
        ),
        ReadCase(
            "time series 1 h, 1m, p95",
            None,
            lambda: metric_time_series(name=name, hours=1, interval="1m", agg="p95", now=now),
            where,
            [name, now - timedelta(hours=1), now],
            step="1 minute",
            agg="p95",
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
        # Any whole-minute interval (issue 18): whole hours read hour rollups, others minutes.
        ReadCase(
            "time series 30 d, 6h, avg",
            None,
            lambda: metric_time_series(name=name, hours=h30, interval="6h", agg="avg", now=now),
            where,
            last30,
            step="6 hours",
        ),
        ReadCase(
            "time series 30 d, 1h, avg, fill=zero",
            None,
            lambda: metric_time_series(
                name=name, hours=h30, interval="1h", agg="avg", fill="zero", now=now
            ),
            where,
            last30,
            step="1 hour",
        ),
        ReadCase(
            "time series 7 d, 15m, avg",
            None,
            lambda: metric_time_series(name=name, hours=7 * 24, interval="15m", agg="avg", now=now),
            where,
            [name, now - timedelta(days=7), now],
            step="15 minutes",
        ),
        ReadCase(
            "time series 30 d, 90m, avg",
            None,
            lambda: metric_time_series(name=name, hours=h30, interval="90m", agg="avg", now=now),
            where,
            last30,
            step="90 minutes",
        ),
        ReadCase(
            "time series 24 h, 7m, avg",
            None,
            lambda: metric_time_series(name=name, hours=h24, interval="7m", agg="avg", now=now),
            where,
            last24,
            step="7 minutes",
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


def reads_clock(end: datetime) -> datetime:
    """The reads' `now`: not minute-aligned, and with points after it: both raw edges are
    read."""
    return end - timedelta(minutes=3) + timedelta(seconds=37, microseconds=123457)


def bench_reads(args, end: datetime) -> list[dict]:
    from django.db import connection

    now = reads_clock(end)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tags_hash FROM metrics_metricseries WHERE metric_name = %s AND tags @> %s",
            [BENCH_METRIC, orjson.dumps(BENCH_TAGS).decode()],
        )
        hashes = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT count(*) FROM {RAW_POINTS} WHERE metric_name = %s", [BENCH_METRIC])
        (bench_points,) = cursor.fetchone()
    print(
        f"reads: metric {BENCH_METRIC!r} ({bench_points:,} points, 5 label sets), now = "
        f"{now.isoformat()}; warm cache; selector x{args.repeat} (or 15 s, >= 10 runs), "
        f"raw SQL x{args.raw_repeat} (or 8 s, >= 3 runs)"
    )
    # The clock at `now`: what tiered retention keeps (apps.metrics.retention) is then what
    # it keeps just after the load, also for a database loaded hours before (--skip-load).
    with time_machine.travel(now, tick=True):
        return _timed_reads(args, now, hashes)


def _timed_reads(args, now: datetime, hashes: list[int]) -> list[dict]:
    from django.db import connection

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
