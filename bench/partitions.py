"""Retention by partitions: a day of metric points dropped against the same volume deleted.

Reuses the database `make bench-metrics` loads (10M points over 30 days, a partition a
day: run that first). In one run, on the two oldest days holding points:

1. the first is dropped by the daily purge's own function (`partitions_expired_drop`,
   its rows counted first), at a `now` that puts exactly that day a day past the
   retention cutoff;
2. the next is deleted the way retention worked before partitions, by
   `expired_purge` in batches of PURGE_BATCH_SIZE from that day's partition, and the
   VACUUM it leaves behind is timed.

Prints seconds, rows and the dead rows left; then times 30-day statistics of the
bench's metric once more over the remaining partitions.

    DEBUG=true .venv/bin/python bench/partitions.py

Destroys those two days' points (re-run `make bench-metrics` for a full set). Exits
non-zero (after FAIL) when a day still holds rows after its purge.
"""

import argparse
import statistics
import sys
import time
from datetime import timedelta

from common import BenchError, bench_main
from metrics_load import BENCH_METRIC, configure_django, loaded_range


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db-url",
        default="postgres://postgres@127.0.0.1:5432/analytics_bench_metrics",
        help="the metrics bench's database (two of its days are purged)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--repeat", type=int, default=50, help="timed statistics reads")
    return parser.parse_args(argv)


def run(args) -> list[str]:
    lo, hi, points = loaded_range(args)
    configure_django(args)
    from django.conf import settings
    from django.db import connection

    from apps.ingest.partitions import DAY, partitions_expired_drop, period_start
    from apps.ingest.registry import get_kind
    from apps.ingest.retention import RetentionTarget, expired_purge, retention_days
    from apps.metrics.models import MetricPoint
    from apps.metrics.selectors import metric_statistics

    table = MetricPoint._meta.db_table
    kind = get_kind("metric")
    first = period_start(DAY, lo) + timedelta(days=1)  # the first whole day loaded
    second = first + timedelta(days=1)
    names = [f"{table}_{day:%Y_%b_%d}".lower() for day in (first, second)]
    problems = []
    print(f"data: {points:,} points, {lo:%Y-%m-%d %H:%M} to {hi:%Y-%m-%d %H:%M}")

    def rows_in(name: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(name)}")
            return cursor.fetchone()[0]

    def dead_in(name: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.execute(
                "SELECT coalesce(n_dead_tup, 0) FROM pg_stat_user_tables WHERE relname = %s",
                [name],
            )
            found = cursor.fetchone()
            return found[0] if found else 0

    # Whatever is older than the first day goes first (empty partitions), untimed.
    days = retention_days("metric")
    partitions_expired_drop(
        kind=kind, now=first + timedelta(days=days + 1, hours=1), batch=lambda table: 0
    )

    held = rows_in(names[0])
    started = time.perf_counter()
    dropped = partitions_expired_drop(
        kind=kind, now=first + timedelta(days=days + 2, hours=1), batch=lambda table: 0
    )
    dropping = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NULL", [names[0]])
        gone = cursor.fetchone()[0]
    print(
        f"drop: {dropped:,} rows ({held:,} held) gone with their day's partition in "
        f"{dropping * 1000:.0f} ms (counting them included), nothing left to vacuum"
    )
    if not gone:
        problems.append(f"{names[0]} still exists after the drop")

    target = RetentionTarget("metric", "metric", MetricPoint, "timestamp")
    held = rows_in(names[1])
    started = time.perf_counter()
    deleted = expired_purge(target=target, cutoff=second + timedelta(days=1), table=names[1])
    deleting = time.perf_counter() - started
    dead = dead_in(names[1])
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {connection.ops.quote_name(names[1])}")
    vacuum = time.perf_counter() - started
    print(
        f"delete: {deleted:,} of {held:,} rows in {deleting:.2f} s "
        f"(batches of {settings.PURGE_BATCH_SIZE:,}), {dead:,} dead rows left; "
        f"VACUUM after it {vacuum:.2f} s"
    )
    if rows_in(names[1]):
        problems.append(f"{names[1]} still holds rows after the batched delete")

    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        metric_statistics(name=BENCH_METRIC, hours=24 * 30)
        timings.append((time.perf_counter() - started) * 1000)
    print(
        f"read: statistics over 30 days, p50 {statistics.median(timings):.1f} ms "
        f"over {args.repeat} runs"
    )
    return problems


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return bench_main(lambda: run(args), ok="both days purged; reads answered")
    except BenchError as exc:
        print(f"FAIL {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
