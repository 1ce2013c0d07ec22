"""Metrics benchmark: bulk load, rollups, reads from rollups vs raw percentile_cont, record POST.

1. Load. Recreates the `analytics_bench_metrics` database, migrates it, and COPYs
   --points metric points (default 10M) spread over the --days (30) days ending now into
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
5. Storage (metrics_storage.py): the bytes a point of the points' rows, the packed
   blocks, the rollups, the packed rollups and the series; then the hourly task packs the
   points and minute rollups of the hours over and the hour rollups of the days over
   (apps.metrics.packing, at the reads' clock), the sizes are taken again (and once more
   with the rollups and points rewritten, the steady state), and part 3's reads run
   again, each checked against the raw answer (rows and blocks alike).
   --skip-pack leaves the points as rows.

    DEBUG=true .venv/bin/python bench/metrics.py [--points 10000000] [--skip-load]

The database is dropped and recreated unless --skip-load. Exits non-zero (after
printing FAIL) when a read disagrees with the raw answer, or a POST is not 202.

This file runs the parts and prints the summary; the parts live beside it:
metrics_data.py (what is generated), metrics_load.py (1), metrics_rollups.py (2),
metrics_reads.py with metrics_verify.py (3), metrics_post.py (4), metrics_storage.py (5).
The processes and databases come from stack/, as for the other benches.
"""

import argparse
import platform
import signal
import sys
import time

import psutil
from common import BenchError, bench_stack
from metrics_data import BENCH_METRIC, DAYS, RAW_POINTS
from metrics_load import configure_django, load, loaded_range, setup_database
from metrics_post import bench_post
from metrics_reads import bench_reads, times
from metrics_rollups import bench_rollups
from metrics_storage import bench_storage

# --- summary -------------------------------------------------------------------------------


def print_reads(reads: list[dict], *, packed: bool = False) -> None:
    after = ", hours over packed" if packed else ""
    for row in reads:
        goal = f"< {row['goal']:.0f} ms p50" if row["goal"] else "-"
        print(
            f"| {row['label']}{after} | {goal} | {row['p50']:.1f} ms p50, {row['p99']:.1f} ms "
            f"p99 | {times(row['ratio'])} ({row['raw_p50']:,.1f} ms) |"
        )


def print_storage(storage: dict) -> None:
    points = storage["points"]
    for when, label in (
        ("before", "before packing the hours over"),
        ("after", "after packing them (the packed rows' space free for reuse)"),
        ("steady", "steady state (the rollups and points rewritten: `VACUUM FULL`)"),
    ):
        parts = storage[when]
        total = sum(parts.values())
        each = ", ".join(f"{name} {size / points:,.1f}" for name, size in parts.items())
        print(
            f"| Storage, {label} | <= 50 B a point | "
            f"{total / points:,.1f} B a point, {total / 2**30:,.2f} GiB ({each}) | - |"
        )
    print(
        f"| Packing {storage['packed']:,} points ({storage['days']} partitions; VACUUM and REINDEX "
        f"included), {storage['rollups']['m']:,} minute and {storage['rollups']['h']:,} hour "
        f"rollups | - | {storage['seconds']:.1f} s "
        f"({storage['packed'] / max(storage['seconds'], 1e-9):,.0f} points/s) and "
        f"{storage['rollup_seconds']:.1f} s | - |"
    )
    points, seconds, rollups, rollup_seconds = storage["next"]
    print(
        f"| Beat's next hourly packing (an hour later: every partition and metric looked "
        f"into) | - | {points:,} points in {seconds:.2f} s, {rollups:,} rollups in "
        f"{rollup_seconds:.2f} s | - |"
    )


def print_summary(args, load_result, rollup, reads, post, storage, packed_reads) -> None:
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
    print_reads(reads)
    if post:
        # What the server did, not what it was once configured to do.
        reuse = "new connection each" if post["reconnects"] else "one kept-alive connection"
        print(
            f"| POST metrics/record, 1 metric, sequential, {reuse} (2 gunicorn workers) | "
            f"< 10 ms p99 | {post['p50']:.1f} ms p50, {post['p99']:.1f} ms p99 | - |"
        )
    if storage:
        print_storage(storage)
    print_reads(packed_reads, packed=True)


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=10_000_000, help="metric points to load")
    parser.add_argument(
        "--days", type=int, default=DAYS, help="over this many days ending now (reads: 30 d)"
    )
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded database")
    parser.add_argument("--skip-rollups", action="store_true", help="with --skip-load only")
    parser.add_argument("--repeat", type=int, default=100, help="timed runs per selector read")
    parser.add_argument("--raw-repeat", type=int, default=None, help="default repeat/10, >= 3")
    parser.add_argument("--posts", type=int, default=2000, help="timed record POSTs")
    parser.add_argument("--skip-post", action="store_true")
    parser.add_argument(
        "--skip-pack", action="store_true", help="leave the points as rows (no part 5)"
    )
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
    load_result = rollup = post = storage = None
    reads: list[dict] = []
    packed_reads: list[dict] = []
    failures = []
    try:
        stack = bench_stack(args)
        if not args.skip_load:
            setup_database(args, stack)
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
            cursor.execute(f"SELECT count(*) FROM {RAW_POINTS}")
            args.total_points = cursor.fetchone()[0]
            cursor.execute(
                f"SELECT count(*) FROM {RAW_POINTS} WHERE metric_name = %s", [BENCH_METRIC]
            )
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
                post = bench_post(args, stack)
            except BenchError as exc:
                failures.append(f"record: {exc}")
                print(f"FAIL record: {exc}")
        if not args.skip_pack:
            storage = bench_storage(args, end)
            try:  # the same reads and checks, the hours over now packed
                packed_reads = bench_reads(args, end)
            except BenchError as exc:
                failures.append(f"reads after packing: {exc}")
                print(f"FAIL reads after packing: {exc}")
    except BenchError as exc:
        failures.append(str(exc))
        print(f"FAIL: {exc}")
    if hasattr(args, "total_points"):
        print_summary(args, load_result, rollup, reads, post, storage, packed_reads)
    print(f"\n(whole bench: {time.perf_counter() - started:.0f} s)")
    if failures:
        print(f"\nFAIL ({len(failures)} check(s) failed, see above)")
        return 1
    print("\nOK: every read matched the raw answer; every POST (if run) answered 202.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
