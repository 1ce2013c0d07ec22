"""Uptime benchmark: the uptime reads over many services' checks, and the status page.

A fresh `analytics_bench_uptime` database gets --services HTTP services monitored for 90
days, each with a check every --interval s over the checks' retention (31 days: 44,640
checks a service at 60 s; 4.5 million for 100 services, written by one INSERT ... SELECT
generate_series) and a downtime every few days over the 90. Then, in this process, each
read is timed --repeat times (p50/p99, ms):

- `uptime_days` (90 daily bars) and `uptime_windows` (24 h / 7 d / 30 d) of every service,
  as the console's service list asks them (goal: under 100 ms p50 for 100 services);
- `service_uptime` of one service (its page: bars, windows, downtimes, 30-day SLA);
- `response_time_series` of one service over 30 days per hour;
- the public status page with --public services marked public, rendered (not cached).

Then what the checks' weekly partitions cost those reads: the same checks copied into
one plain table of the same columns and indexes, the two swapped in by name, --rounds
rounds alternating partitioned and plain, each read's p50 per round printed side by side.

    DEBUG=true .venv/bin/python bench/uptime.py [--services 100] [--public 10] [--rounds 3]

Exits non-zero (after FAIL) when a goal is missed or an answer is not as seeded.
"""

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from common import bench_main, fresh_stores, on_fresh_stack, pct, setup_django

RESULTS: dict[str, tuple[float, float]] = {}


def _runs(repeat: int, call) -> tuple[object, list[float]]:
    """The last answer of `repeat` calls, and each call's milliseconds."""
    answer, times = None, []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - start) * 1000)
    return answer, times


def timed(label: str, repeat: int, call) -> object:
    answer, times = _runs(repeat, call)
    RESULTS[label] = (pct(times, 50), pct(times, 99))
    print(f"{label}: p50 {RESULTS[label][0]:.1f} ms, p99 {RESULTS[label][1]:.1f} ms", flush=True)
    return answer


def seed(args) -> datetime:
    from django.db import connection

    from apps.monitoring.models import Downtime, HealthCheck, MonitoredService
    from apps.monitoring.services import service_create

    now = datetime.now(UTC)
    start = now - timedelta(days=90)
    for n in range(args.services):  # as the API and the admin make them (ping digest, rule)
        service_create(
            data={
                "name": f"service-{n:03d}",
                "check_type": "http",
                "target": f"http://10.0.{n // 250}.{n % 250}:8080/health",
                "public": n < args.public,
            },
            actor="bench",
        )
    MonitoredService.objects.update(
        created_at=start,
        status="healthy",
        last_checked_at=now,
        next_check_at=now + timedelta(days=365),  # nothing checks them here
    )
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {HealthCheck._meta.db_table}
                (service_id, status, response_time_ms, error, consecutive_failures,
                 checked_at, ping)
            SELECT s.id, 'healthy', 50 + random() * 100, '', 0, t, false
            FROM {MonitoredService._meta.db_table} s
            CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz,
                                       make_interval(secs => %s)) t
            """,
            [now - timedelta(days=31), now, args.interval],
        )
        checks = cursor.rowcount
        # As autovacuum leaves an insert-only table: visibility map set (index-only scans).
        cursor.execute(f"VACUUM ANALYZE {HealthCheck._meta.db_table}")
    rng = random.Random(7)
    downtimes = []
    for service in MonitoredService.objects.all():
        at = start + timedelta(hours=rng.uniform(0, 72))
        while at < now - timedelta(hours=2):
            minutes = rng.choice([1, 3, 10, 45, 240])
            downtimes.append(
                Downtime(service=service, started_at=at, ended_at=at + timedelta(minutes=minutes))
            )
            at += timedelta(hours=rng.uniform(24, 120))
    Downtime.objects.bulk_create(downtimes)
    print(
        f"setup: {args.services} services, {checks:,} checks, {len(downtimes)} downtimes "
        f"in {time.perf_counter() - began:.1f} s",
        flush=True,
    )
    return now


def compare_plain(args, reads: dict) -> None:
    """Each read's p50 per round, the checks partitioned by week and then in one plain
    table (the same rows, columns and indexes), rounds alternated."""
    from django.db import connection

    from apps.monitoring.models import HealthCheck

    table = HealthCheck._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE hc_plain (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)")
        cursor.execute(f"INSERT INTO hc_plain SELECT * FROM {table}")
        cursor.execute("VACUUM ANALYZE hc_plain")

    def swap(first: str, second: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} RENAME TO {first}")
            cursor.execute(f"ALTER TABLE {second} RENAME TO {table}")

    p50s: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for shape in ("partitioned", "plain"):
            if shape == "plain":
                swap("hc_partitioned", "hc_plain")
            try:
                for label, call in reads.items():
                    _runs(3, call)  # warm
                    times = _runs(args.repeat, call)[1]
                    p50s.setdefault((label, shape), []).append(pct(times, 50))
            finally:
                if shape == "plain":
                    swap("hc_plain", "hc_partitioned")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE hc_plain")
    for label in reads:
        rounds = {
            shape: ", ".join(f"{x:.1f}" for x in p50s[(label, shape)])
            for shape in ("partitioned", "plain")
        }
        print(
            f"{label}: p50 by round, checks partitioned by week {rounds['partitioned']} ms, "
            f"in one table {rounds['plain']} ms",
            flush=True,
        )


def run(args) -> list[str]:
    def body(stack) -> list[str]:
        setup_django(args)
        from django.template.loader import render_to_string

        from apps.monitoring import selectors
        from apps.monitoring.models import MonitoredService
        from apps.status.selectors import status_page

        seed(args)
        services = list(MonitoredService.objects.all())
        one = services[0]
        reads = {
            f"uptime_days, {len(services)} services x 90 days": lambda: selectors.uptime_days(
                services=list(MonitoredService.objects.all())
            ),
            f"uptime_windows, {len(services)} services": lambda: selectors.uptime_windows(
                services=list(MonitoredService.objects.all())
            ),
            "service_uptime, one service": lambda: selectors.service_uptime(service=one),
            "response_time_series, one service, 30 days per hour": lambda: (
                selectors.response_time_series(
                    service=one,
                    since=datetime.now(UTC) - timedelta(days=30),
                    interval_seconds=3600,
                )
            ),
            f"status page, {args.public} public services (rendered, not cached)": lambda: (
                render_to_string("status/page.html", {"page": status_page()})
            ),
        }
        answers = [timed(label, args.repeat, call) for label, call in reads.items()]
        days, series = answers[0], answers[3]
        if args.rounds:
            compare_plain(args, reads)
        problems = []
        if any(len(bars) != 90 for bars in days.values()):
            problems.append("a service has not 90 days")
        if any(day.no_data for bars in days.values() for day in bars[-30:]):
            problems.append("a day of the last 30, all checked, shows no data")
        if not 719 <= len(series) <= 721:
            problems.append(f"{len(series)} hourly buckets over 30 days")
        p50 = RESULTS[f"uptime_days, {len(services)} services x 90 days"][0]
        if p50 > args.goal_ms:
            problems.append(f"uptime_days p50 {p50:.0f} ms > {args.goal_ms} ms")
        return problems

    return on_fresh_stack(args, body)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--public", type=int, default=10)
    parser.add_argument("--interval", type=int, default=60, help="seconds between checks")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--goal-ms", type=float, default=100.0, help="uptime_days p50")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds against one plain table (0: none)"
    )
    fresh_stores(parser, "analytics_bench_uptime", 9)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(lambda: run(args), ok="the uptime reads are within their goal.")


if __name__ == "__main__":
    sys.exit(main())
