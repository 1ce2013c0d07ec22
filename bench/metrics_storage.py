"""The metrics bench's part 5: what the points take on disk, before and after the daily
task packs the points and minute rollups of the days before today into blocks
(apps.metrics.packing, at the reads' clock), and how long packing takes. Bytes a point:
each part's total size (heap, TOAST and indexes of every partition) over the points
stored, rows and packed alike.

Packing deletes the days' minute rows; their space in the rollups' table is free for
the next days' rows (VACUUM), not given back. A deployment packing every night holds
about a day of minute rows, so the steady state is measured after `VACUUM FULL` of the
rollups (which rewrites the table with its live rows only)."""

import time

import time_machine
from metrics_data import BLOCKS, EVENTS
from metrics_reads import reads_clock

PARTS = (
    (
        "points as rows",
        f"SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('{EVENTS}')",
    ),
    (
        "packed blocks",
        f"SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('{BLOCKS}')",
    ),
    ("rollups", "SELECT pg_total_relation_size('metrics_metricrollup')"),
    ("packed minutes", "SELECT pg_total_relation_size('metrics_minuteblock')"),
    ("series", "SELECT pg_total_relation_size('metrics_metricseries')"),
)


def sizes() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        result = {}
        for label, sql in PARTS:
            cursor.execute(sql)
            result[label] = int(cursor.fetchone()[0] or 0)
        return result


def stored_points() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM {EVENTS}) + "
            f"(SELECT coalesce(sum(count), 0) FROM {BLOCKS})"
        )
        return cursor.fetchone()[0]


def print_sizes(label: str, parts: dict[str, int], points: int) -> None:
    total = sum(parts.values())
    each = ", ".join(
        f"{name} {size / 2**20:,.0f} MiB ({size / points:,.1f} B)" for name, size in parts.items()
    )
    print(f"storage {label}: {total / 2**20:,.0f} MiB, {total / points:,.1f} bytes a point; {each}")


def bench_storage(args, end) -> dict:
    from django.db import connection

    from apps.metrics.packing import minutes_pack, points_pack

    points = stored_points()
    before = sizes()
    print_sizes("before packing", before, points)
    with time_machine.travel(reads_clock(end), tick=True):
        t0 = time.perf_counter()
        packed = points_pack()
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        minutes = minutes_pack()
        minute_seconds = time.perf_counter() - t0
    moved = sum(packed.values())
    after = sizes()
    print(
        f"storage: packed {moved:,} points of {len(packed)} days in {seconds:.1f} s "
        f"({moved / seconds if seconds else 0:,.0f} points/s, VACUUM and REINDEX included), "
        f"{minutes:,} minute rollups in {minute_seconds:.1f} s (VACUUM included)"
    )
    print_sizes("after packing", after, points)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM FULL metrics_metricrollup")
    steady = sizes()
    print_sizes("steady state (rollups without the packed rows' space)", steady, points)
    return {
        "points": points,
        "before": before,
        "after": after,
        "steady": steady,
        "packed": moved,
        "days": len(packed),
        "seconds": seconds,
        "minutes": minutes,
        "minute_seconds": minute_seconds,
    }
