"""The metrics bench's part 5: what the points take on disk, before and after the hourly
task packs the points and minute rollups of the hours over and the hour rollups of the
days over into blocks (apps.metrics.packing, at the reads' clock), and how long packing
takes. Bytes a point: each part's total size (heap, TOAST and indexes of every
partition) over the points stored, rows and packed alike.

Packing deletes the packed rows; their space in the rollups' table and in today's
partition is free for the next hours' rows (VACUUM), not given back. A deployment
packing every hour holds two to three hours of those rows, so the steady state is measured
after `VACUUM FULL` of the rollups and the points (which rewrites each table with its
live rows only; the days packed whole are empty already)."""

import time
from datetime import timedelta

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
    ("packed rollups", "SELECT pg_total_relation_size('metrics_rollupblock')"),
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

    from apps.metrics.packing import points_pack, rollups_pack

    points = stored_points()
    before = sizes()
    print_sizes("before packing", before, points)
    with time_machine.travel(reads_clock(end), tick=True):
        t0 = time.perf_counter()
        packed = points_pack()
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        rollups = rollups_pack()
        rollup_seconds = time.perf_counter() - t0
    # Beat's next hourly run, an hour later: one more hour to pack, and a look into every
    # partition and every metric's rollups for rows of the hours before (its clock an
    # hour ahead of the reads': within the packing clock's margin).
    with time_machine.travel(reads_clock(end) + timedelta(hours=1), tick=True):
        t0 = time.perf_counter()
        next_points = sum(points_pack().values())
        next_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        next_rollups = sum(rollups_pack().values())
        next_rollup_seconds = time.perf_counter() - t0
    print(
        f"storage: the next hour's run packed {next_points:,} points in {next_seconds:.2f} s "
        f"and {next_rollups:,} rollups in {next_rollup_seconds:.2f} s"
    )
    moved = sum(packed.values())
    after = sizes()
    print(
        f"storage: packed {moved:,} points of {len(packed)} partitions in {seconds:.1f} s "
        f"({moved / seconds if seconds else 0:,.0f} points/s, VACUUM and REINDEX included), "
        f"{rollups['m']:,} minute and {rollups['h']:,} hour rollups in {rollup_seconds:.1f} s "
        "(VACUUM included)"
    )
    print_sizes("after packing", after, points)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM FULL metrics_metricrollup")
        cursor.execute(f"VACUUM FULL {EVENTS}")
    steady = sizes()
    print_sizes("steady state (rollups and points without the packed rows' space)", steady, points)
    with connection.cursor() as cursor:  # the packed rollups' columns, by resolution
        cursor.execute(
            "SELECT resolution, count(*), sum(cardinality(offsets)), sum(pg_column_size(b.*)) "
            "FROM metrics_rollupblock b GROUP BY 1 ORDER BY 1 DESC"
        )
        for res, blocks, buckets, size in cursor.fetchall():
            print(
                f"storage: packed {res}: {blocks:,} blocks of {buckets:,} rollups, "
                f"{size / buckets:,.1f} bytes a rollup, {size / points:,.1f} bytes a point"
            )
    return {
        "points": points,
        "before": before,
        "after": after,
        "steady": steady,
        "packed": moved,
        "days": len(packed),
        "seconds": seconds,
        "rollups": rollups,
        "rollup_seconds": rollup_seconds,
        "next": (next_points, next_seconds, next_rollups, next_rollup_seconds),
    }
