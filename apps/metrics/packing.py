"""Metric points packed into blocks once their day is over: one row per metric, label
set and hour, the points' times and values as two arrays compressed with lz4
(PointBlock). As rows, a day of 1.1M points takes ~300 bytes a point with its indexes
(a row costs 28 bytes before its first column); packed, ~15.

The daily `points_pack` moves every point of the days before today from the points'
partitions into blocks: one statement a day (DELETE ... RETURNING feeding the INSERT),
so a read sees each point once, as a row before and in a block after. Then the emptied
partition is vacuumed (its file goes back to the system) and its indexes rebuilt. A
point that comes later for a packed day is stored as a row and packed the next day.

Reads take both (apps.metrics.sources.points_relation with `packed`): rollups, raw
edges and exact percentiles answer as before. The metric points admin lists the rows
not packed yet. Blocks are partitioned by day like the points and dropped with them.
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
from .sources import BLOCKS, POINTS

TABLE = "metric_block"  # its registered name (apps.ingest.partitions.time_table_register)

_PACK = f"""
WITH moved AS (
    DELETE FROM {{partition}} WHERE "timestamp" >= %s AND "timestamp" < %s
    RETURNING metric_name, metric_type, tags_hash, "timestamp", value
), blocks AS (
    INSERT INTO {BLOCKS} (metric_name, metric_type, tags_hash, hour, count, times, vals)
    SELECT metric_name, metric_type, tags_hash, date_trunc('hour', "timestamp") AS h, count(*),
           array_agg("timestamp" ORDER BY "timestamp"), array_agg(value ORDER BY "timestamp")
    FROM moved GROUP BY metric_name, metric_type, tags_hash, h
    RETURNING count
)
SELECT coalesce(sum(count), 0) FROM blocks
"""  # noqa: S608 - table names only


# A day is packed once it has been over this long: the last minutes' points are in and
# rolled, and /metrics' windows (15 minutes at most) never reach a packed day.
SETTLED = timedelta(hours=1)


def _days(now: datetime) -> list[tuple[str, datetime, datetime]]:
    """(partition, from, to) of each day to pack: every day's partition that ended at
    least SETTLED ago, and each day of the legacy partition (points from before
    partitioning) still kept."""
    today = floor(now - SETTLED, "d")
    spans = []
    for name, lower, upper in partition_bounds(POINTS):
        if lower is not None:
            if upper <= today:
                spans.append((name, lower, upper))
            continue
        day = floor(retention_cutoff("metric", now=now), "d")
        while day < min(upper, today):
            spans.append((name, day, day + timedelta(days=1)))
            day += timedelta(days=1)
    return spans


def points_pack(*, now: datetime | None = None) -> dict[str, int]:
    """Pack the points of every day over (SETTLED) still stored as rows, a day's in one
    statement; {partition: points packed} of those that had any. Beat's daily task."""
    now = now or timezone.now()
    quote = connection.ops.quote_name
    packed: dict[str, int] = {}
    for name, start, end in _days(now):
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT EXISTS (SELECT 1 FROM {quote(name)} WHERE "timestamp" >= %s '  # noqa: S608
                'AND "timestamp" < %s)',
                [start, end],
            )
            if not cursor.fetchone()[0]:
                continue
        with transaction.atomic(), connection.cursor() as cursor:
            # Arrays of a few hundred points or more are compressed: lz4 is faster than
            # the default pglz and as small on these arrays.
            cursor.execute("SET LOCAL default_toast_compression = 'lz4'")
            cursor.execute(_PACK.format(partition=quote(name)), [start, end])
            packed[name] = cursor.fetchone()[0]
        _reclaim(name)
    return packed


def _reclaim(partition: str) -> None:
    """Give an emptied partition's space back: VACUUM truncates its file (every page is
    empty), and its indexes are rebuilt (their pages are only marked free). VACUUM cannot
    run inside a transaction (a test's)."""
    if not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {connection.ops.quote_name(partition)}")
    partition_reindex(partition)


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
