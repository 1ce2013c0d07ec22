"""Metric points packed into blocks once their hour has been over two hours: one row per
metric, label set and hour, the points' times and values as two arrays compressed with
lz4 (PointBlock). As rows, a day of 1.1M points takes ~300 bytes a point with its
indexes (a row costs 28 bytes before its first column); packed, ~15.

Minute rollups are packed the same way an hour at a time, hour rollups once their day
is over (`rollups_pack`, apps.metrics.rollup_blocks).

Beat's hourly `points_pack` moves every point of the hours over (`packed_before`) from
the points' partitions into blocks: one statement a partition (DELETE ... RETURNING
feeding the INSERT), so a read sees each point once, as a row before and in a block
after. Then the partition is vacuumed: today's freed space takes the next hours' rows,
so today's partition holds two to three hours of rows all day; an emptied day's file goes
back to the system and its indexes are rebuilt. A point that comes later for a packed
hour is stored as a row and packed the next hour into its label set's block of that hour.

Reads take both (apps.metrics.sources.points_relation with `packed`): rollups, raw
edges and exact percentiles answer as before. The metric points admin lists the rows
not packed yet, the packed point blocks admin the blocks (read-only). Blocks are
partitioned by day like the points and dropped with them.
"""

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.core.windows import floor
from apps.ingest.partitions import (
    partition_bounds,
    partition_reindex,
    partitions_expired_drop,
    time_table,
)
from apps.ingest.retention import RetentionTarget, expired_purge, retention_cutoff

from .models import PointBlock
from .rollup_blocks import PACKED, ROLLUP, pack_sql
from .rollups import ROLLER_LOCK, SERIES, metric_names
from .sources import BLOCKS, POINTS, packed_before

TABLE = "metric_block"  # its registered name (apps.ingest.partitions.time_table_register)


def _points_pack_sql(partition: str, *, merge: bool) -> str:
    """A partition's points from a time to a time (parameters) moved into blocks, one a
    metric, label set and hour; the points moved. With `merge` (a third and a fourth
    parameter: the span's hours packed before, where late points may come), the blocks
    packed before for the same label sets and hours are merged in: one block each stays."""
    points, earlier = "moved", ""
    if merge:
        earlier = f"""
, earlier AS (
    DELETE FROM {BLOCKS} b USING (
        SELECT DISTINCT metric_name, metric_type, tags_hash, date_trunc('hour', "timestamp") AS h
        FROM moved WHERE date_trunc('hour', "timestamp") = ANY(%s::timestamptz[])
    ) k
    WHERE b.hour = ANY(%s::timestamptz[])  -- again, for the planner: only their partitions
      AND b.hour = k.h AND b.metric_name = k.metric_name AND b.metric_type = k.metric_type
      AND b.tags_hash = k.tags_hash
    RETURNING b.metric_name, b.metric_type, b.tags_hash, b.times, b.vals
), points AS (
    SELECT * FROM moved
    UNION ALL
    SELECT e.metric_name, e.metric_type, e.tags_hash, u.t, u.v
    FROM earlier e CROSS JOIN LATERAL unnest(e.times, e.vals) AS u(t, v)
)"""  # noqa: S608 - table names only
        points = "points"
    return f"""
WITH moved AS (
    DELETE FROM {partition} WHERE "timestamp" >= %s AND "timestamp" < %s
    RETURNING metric_name, metric_type, tags_hash, "timestamp", value
){earlier}, blocks AS (
    INSERT INTO {BLOCKS} (metric_name, metric_type, tags_hash, hour, count, times, vals)
    SELECT metric_name, metric_type, tags_hash, date_trunc('hour', "timestamp") AS h, count(*),
           array_agg("timestamp" ORDER BY "timestamp"), array_agg(value ORDER BY "timestamp")
    FROM {points} GROUP BY metric_name, metric_type, tags_hash, h
    RETURNING count
)
SELECT count(*) FROM moved
"""  # noqa: S608 - table names only


def _spans(now: datetime) -> list[tuple[str, datetime, datetime, bool]]:
    """(partition, from, to, whether the partition is over) of each span to pack: every
    partition up to the hour over SETTLED (`packed_before`), and each day of the legacy
    partition (points from before partitioning) still kept."""
    until = packed_before(now, "points")
    spans = []
    for name, lower, upper in partition_bounds(POINTS):
        over = upper <= until
        if lower is not None:
            if lower < until:
                spans.append((name, lower, min(upper, until), over))
            continue
        day = floor(retention_cutoff("metric", now=now), "d")
        while day < min(upper, until):
            spans.append((name, day, min(day + timedelta(days=1), upper, until), over))
            day += timedelta(days=1)
    return spans


def points_pack(*, now: datetime | None = None) -> dict[str, int]:
    """Pack the points of every hour over (SETTLED) still stored as rows, a partition's
    in one statement (a legacy partition's a day a statement), then give each partition's
    freed space back; {partition: points packed} of those that had any. Beat's hourly
    task."""
    packed: dict[str, int] = {}
    over: dict[str, bool] = {}
    try:
        for name, start, end, ended in _spans(now or timezone.now()):
            over[name] = ended
            if points := _pack_span(name, start, end):
                packed[name] = packed.get(name, 0) + points
    finally:  # each once, after all its days (the legacy partition has many)
        for name in packed:
            _reclaim(name, ended=over[name])
    return packed


def _pack_span(partition: str, start: datetime, end: datetime) -> int:
    """The points of `partition` from `start` to `end` packed; how many."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT EXISTS (SELECT 1 FROM {quote(partition)} WHERE "timestamp" >= %s '  # noqa: S608
            'AND "timestamp" < %s)',
            [start, end],
        )
        if not cursor.fetchone()[0]:
            return 0
    with transaction.atomic(), connection.cursor() as cursor:
        # Arrays of a few hundred points or more are compressed: lz4 is faster than the
        # default pglz and as small on these arrays.
        cursor.execute("SET LOCAL default_toast_compression = 'lz4'")
        cursor.execute(
            f"SELECT array_agg(DISTINCT hour) FROM {BLOCKS} WHERE hour >= %s AND hour < %s",  # noqa: S608
            [start, end],
        )
        hours = cursor.fetchone()[0]
        sql = _points_pack_sql(quote(partition), merge=bool(hours))
        cursor.execute(sql, [start, end, hours, hours] if hours else [start, end])
        return cursor.fetchone()[0]


def rollups_pack(*, now: datetime | None = None) -> dict[str, int]:
    """Pack the minute rollups of every hour and the hour rollups of every day over
    (`packed_before`), a metric at a time, holding the roller's lock
    (apps.metrics.rollup_blocks), then vacuum the rollups (the space goes to the next
    hours' rows). Returns the buckets packed by resolution. Beat's hourly task."""
    now = now or timezone.now()
    packed = dict.fromkeys(PACKED, 0)
    for name in metric_names():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLER_LOCK])
            cursor.execute("SET LOCAL default_toast_compression = 'lz4'")
            for res in PACKED:
                cursor.execute(pack_sql(res), [name, packed_before(now, res)])
                packed[res] += cursor.fetchone()[0]
    if any(packed.values()) and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {ROLLUP}")
    return packed


def _reclaim(partition: str, *, ended: bool) -> None:
    """Give a partition's packed rows' space back: VACUUM marks it free, for the rows
    coming in (today's partition), and truncates the file of an emptied one (every page
    empty), whose indexes are then rebuilt (their pages are only marked free). VACUUM
    cannot run inside a transaction (a test's)."""
    if not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {connection.ops.quote_name(partition)}")
    if ended:
        partition_reindex(partition)


def blocks_unpack() -> int:
    """Every packed point back into a row (a migration's way back past the blocks): the
    tags and unit from its series, a new event_id, its time as arrival time. Returns
    how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {POINTS} (event_id, timestamp, received_at, metric_name, "  # noqa: S608
            "metric_type, value, unit, tags, tags_hash, source) "
            "SELECT gen_random_uuid(), u.t, u.t, b.metric_name, b.metric_type, u.v, "
            "coalesce(s.unit, ''), coalesce(s.tags, '{}'), b.tags_hash, '' "
            f"FROM {BLOCKS} b LEFT JOIN {SERIES} s "
            "ON s.metric_name = b.metric_name AND s.tags_hash = b.tags_hash "
            "CROSS JOIN LATERAL unnest(b.times, b.vals) AS u(t, v)"
        )
        return cursor.rowcount


def blocks_purge(*, now: datetime) -> dict[str, tuple[int, datetime]]:
    """The blocks' part of the daily purge: their days go when the points' days go (the
    metric kind's retention); those in the default partition in batches."""
    cutoff = retention_cutoff("metric", now=now)
    target = RetentionTarget(TABLE, TABLE, PointBlock, "hour")
    blocks = partitions_expired_drop(
        table=time_table(TABLE),
        now=now,
        batch=lambda name: expired_purge(target=target, cutoff=cutoff, table=name),
    )
    return {"metric:blocks": (blocks, cutoff)}
