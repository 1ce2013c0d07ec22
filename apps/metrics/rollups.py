"""Rolling metric points into minute, hour and day buckets, all in SQL.

A minute is re-rolled from its raw points; an hour from its minutes; a day
from its hours. Each re-roll recomputes the whole bucket and upserts it, so
rolling is idempotent and a late point only needs its minute marked dirty.

One bad minute never stops the others: a batch that fails is retried per
metric and then in halves, inside savepoints, down to single minutes; a
minute that fails on its own is parked in RollupFailure (logged, counted in
/metrics, retried from the admin) and everything else rolls.
"""

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from itertools import groupby
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.core.db import AdvisoryLock, connection_lost
from apps.core.windows import floor

from .models import DirtyMinute, MetricSeries, RollupFailure
from .retention import RESOLUTIONS, raw_retention_days, rollup_cutoff
from .rollup_blocks import PACKED, ROLLUP, ROLLUP_BLOCKS, blocks_unpack
from .sketch import key_sql, unnest_sql
from .sources import packed_spans, points_relation, reads_packed

logger = logging.getLogger(__name__)

DIRTY = DirtyMinute._meta.db_table
FAILED = RollupFailure._meta.db_table
SERIES = MetricSeries._meta.db_table

_UPSERT = (
    "ON CONFLICT (metric_name, resolution, bucket_start, tags_hash) DO UPDATE SET "
    "count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max, "
    "sketch_keys = EXCLUDED.sketch_keys, sketch_counts = EXCLUDED.sketch_counts"
)
_COLUMNS = (
    "resolution, metric_name, tags_hash, bucket_start, count, sum, min, max, "
    "sketch_keys, sketch_counts"
)

# Buckets to (re)build, as (metric_name, b): from explicit lists or a time range.
_FROM_LISTS = "SELECT DISTINCT * FROM unnest(%s::text[], %s::timestamptz[]) AS d(metric_name, b)"


def _points_of_pairs(names: list[str], span: str = "1 minute", *, packed: bool = False) -> str:
    """Points of the listed (metric, bucket of `span`) pairs (`names`: their metrics): one
    index range scan per pair (and, if `packed`, one of the blocks of its hours)."""
    bounds = [("date_trunc('hour', d.b)", f"d.b + interval '{span}'")] if packed else []
    return f"""
d AS ({_FROM_LISTS}),
pts AS (
    SELECT d.metric_name, e.tags_hash, d.b, e.value, {key_sql("e.value")} AS k
    FROM d CROSS JOIN LATERAL (
        -- OFFSET 0 keeps this a per-pair index scan: flattened into a join, the
        -- planner may merge-join on metric_name alone and compare every point.
        SELECT p.tags_hash, p.value FROM {points_relation(names, packed=bounds)} p
        WHERE p.metric_name = d.metric_name
          AND p."timestamp" >= d.b AND p."timestamp" < d.b + interval '{span}'
        OFFSET 0
    ) e
)"""


def _points_of_range(unit: str, names: list[str], start: datetime, end: datetime) -> str:
    """Every point of `names` in a time range (its parameters; `start` and `end` are its
    bounds), grouped straight into `unit` buckets (backfill)."""
    return f"""
pts AS (
    SELECT metric_name, tags_hash, date_trunc('{unit}', "timestamp") AS b, value,
           {key_sql("value")} AS k
    FROM {points_relation(names, packed=packed_spans([(start, end)]))} p
    WHERE metric_name = ANY(%s) AND "timestamp" >= %s AND "timestamp" < %s
)"""


def _minutes_sql(points: str, *, target: str = "m", upsert: bool = True) -> str:
    return f"""
WITH {points},
keyed AS (
    SELECT metric_name, CASE WHEN GROUPING(tags_hash) = 1 THEN 0 ELSE tags_hash END AS tags_hash,
           b, k, count(*) AS c, sum(value) AS s, min(value) AS mn, max(value) AS mx
    FROM pts GROUP BY GROUPING SETS ((metric_name, tags_hash, b, k), (metric_name, b, k))
)
INSERT INTO {ROLLUP} ({_COLUMNS})
SELECT '{target}', metric_name, tags_hash, b, sum(c)::bigint, sum(s), min(mn), max(mx),
       array_agg(k ORDER BY k), array_agg(c ORDER BY k)
FROM keyed GROUP BY metric_name, b, tags_hash
{_UPSERT if upsert else ""}
"""


def _buckets_of_pairs(*, source: str, span: str) -> str:
    """Finer buckets inside the listed (metric, coarse bucket) pairs."""
    return f"""
d AS ({_FROM_LISTS}),
src AS (
    SELECT d.metric_name, r.tags_hash, d.b, r.count, r.sum, r.min, r.max,
           r.sketch_keys, r.sketch_counts
    FROM d CROSS JOIN LATERAL (
        SELECT x.tags_hash, x.count, x.sum, x.min, x.max, x.sketch_keys, x.sketch_counts
        FROM {ROLLUP} x
        WHERE x.metric_name = d.metric_name AND x.resolution = '{source}'
          AND x.bucket_start >= d.b AND x.bucket_start < d.b + interval '{span}'
        OFFSET 0
    ) r
)"""


def _buckets_of_range(*, source: str, unit: str) -> str:
    """Finer buckets of a time range, grouped into their coarse bucket (backfill)."""
    return f"""
src AS (
    SELECT metric_name, tags_hash, date_trunc('{unit}', bucket_start) AS b, count, sum, min,
           max, sketch_keys, sketch_counts
    FROM {ROLLUP}
    WHERE metric_name = ANY(%s) AND resolution = '{source}'
      AND bucket_start >= %s AND bucket_start < %s
)"""


def _derived_sql(source_rows: str, *, target: str, upsert: bool = True) -> str:
    return f"""
WITH {source_rows},
stats AS (
    SELECT metric_name, tags_hash, b, sum(count)::bigint AS c, sum(sum) AS s,
           min(min) AS mn, max(max) AS mx
    FROM src GROUP BY metric_name, tags_hash, b
),
keyed AS (
    SELECT metric_name, tags_hash, b, k, sum(c)::bigint AS c
    FROM (SELECT metric_name, tags_hash, b, {unnest_sql("sketch_keys", "sketch_counts")}
          FROM src) u
    GROUP BY metric_name, tags_hash, b, k
),
sketches AS (
    SELECT metric_name, tags_hash, b, array_agg(k ORDER BY k) AS ks, array_agg(c ORDER BY k) AS cs
    FROM keyed GROUP BY metric_name, b, tags_hash
)
INSERT INTO {ROLLUP} ({_COLUMNS})
SELECT '{target}', s.metric_name, s.tags_hash, s.b, s.c, s.s, s.mn, s.mx, k.ks, k.cs
FROM stats s JOIN sketches k USING (metric_name, tags_hash, b)
{_UPSERT if upsert else ""}
"""


def _rebuild(cursor, pairs: list[tuple[str, datetime]]) -> None:
    """Re-roll these (metric, minute) buckets and the hours and days holding them. An
    hour whose minutes are past their retention is rolled from its points instead (a
    late point, accepted while raw points are kept)."""
    names = [p[0] for p in pairs]
    packed = reads_packed(min(p[1] for p in pairs))
    if packed:  # packed minutes and hours become rows again, to be upserted as ever
        for res, span in PACKED.items():
            blocks = {(n, floor(m, span)) for n, m in pairs if reads_packed(m, res)}
            blocks_unpack(cursor, res, sorted(blocks))
    cursor.execute(
        _minutes_sql(_points_of_pairs(names, packed=packed)), [names, [p[1] for p in pairs]]
    )
    hours = sorted({(n, m.replace(minute=0, second=0, microsecond=0)) for n, m in pairs})
    minutes_kept = rollup_cutoff("m", now=timezone.now())
    old = [h for h in hours if h[1] < minutes_kept]
    recent = [h for h in hours if h[1] >= minutes_kept]
    if recent:
        cursor.execute(
            _derived_sql(_buckets_of_pairs(source="m", span="1 hour"), target="h"),
            [[h[0] for h in recent], [h[1] for h in recent]],
        )
    if old:
        old_names = [h[0] for h in old]
        cursor.execute(
            _minutes_sql(_points_of_pairs(old_names, span="1 hour", packed=packed), target="h"),
            [old_names, [h[1] for h in old]],
        )
    days = sorted({(n, h.replace(hour=0)) for n, h in hours})
    cursor.execute(
        _derived_sql(_buckets_of_pairs(source="h", span="1 day"), target="d"),
        [[d[0] for d in days], [d[1] for d in days]],
    )


ROLLER_LOCK = AdvisoryLock.METRICS_ROLLER

Unit = TypeVar("Unit")
Pair = tuple[str, datetime]


def _message(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]


def isolate(
    run: Callable[[list[Unit]], None],
    units: list[Unit],
    split: Callable[[list[Unit]], list[list[Unit]]],
) -> list[tuple[Unit, str]]:
    """Run `units` in a savepoint; on a database error split them and retry each part.

    Returns the units that failed on their own, with the error. A lost
    connection is raised, never parked: nothing about the data is known then.
    """
    try:
        with transaction.atomic():
            run(units)
        return []
    except DatabaseError as exc:
        if connection_lost():
            raise
        if len(units) == 1:
            return [(units[0], _message(exc))]
        return [failure for part in split(units) for failure in isolate(run, part, split)]


def _split_pairs(pairs: list[Pair]) -> list[list[Pair]]:
    """Per metric first (one metric's bad minute spares the others), then in halves."""
    metrics = [list(group) for _, group in groupby(pairs, key=lambda p: p[0])]
    if len(metrics) > 1:
        return metrics
    middle = len(pairs) // 2
    return [pairs[:middle], pairs[middle:]]


def _park(cursor, failures: Sequence[tuple[Pair, str]]) -> None:
    cursor.execute(
        f"INSERT INTO {FAILED} (metric_name, bucket_start, error, failed_at, attempts) "
        "SELECT n, b, e, now(), 1 FROM unnest(%s::text[], %s::timestamptz[], %s::text[]) "
        "AS f(n, b, e) ON CONFLICT (metric_name, bucket_start) DO UPDATE SET "
        f"error = EXCLUDED.error, failed_at = EXCLUDED.failed_at, attempts = {FAILED}.attempts + 1",
        [[p[0] for p, _ in failures], [p[1] for p, _ in failures], [e for _, e in failures]],
    )
    for metric, group in groupby(failures, key=lambda f: f[0][0]):
        parked = list(group)
        logger.error(
            "rollup of metric %r failed for %d minute(s) from %s; parked in RollupFailure "
            "(retry from the admin): %s",
            metric,
            len(parked),
            parked[0][0][1].isoformat(),
            parked[0][1],
        )


def _unpark(cursor, pairs: list[Pair]) -> None:
    cursor.execute(
        f"DELETE FROM {FAILED} f USING unnest(%s::text[], %s::timestamptz[]) AS d(n, b) "
        "WHERE f.metric_name = d.n AND f.bucket_start = d.b",
        [[p[0] for p in pairs], [p[1] for p in pairs]],
    )


def rollup_pending(*, batch: int = 20_000, max_batches: int = 50) -> int:
    """Re-roll every dirty minute (and its hour and day). Returns minutes re-rolled.

    Marks are claimed and buckets rebuilt in one transaction, so a crash
    leaves the marks in place for the next run. A minute that cannot be
    rolled is parked (its mark consumed), so it is not retried every run.
    """
    rolled = 0
    for _ in range(max_batches):
        with transaction.atomic(), connection.cursor() as cursor:
            # Exclusive: backfills (shared holders) rebuild whole days meanwhile.
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [ROLLER_LOCK])
            if not cursor.fetchone()[0]:
                return rolled
            cursor.execute(
                f"DELETE FROM {DIRTY} WHERE id IN (SELECT id FROM {DIRTY} ORDER BY id LIMIT %s) "
                "RETURNING metric_name, bucket_start",
                [batch],
            )
            claimed = cursor.fetchall()
            if not claimed:
                return rolled
            pairs = sorted(set(claimed))
            failures = isolate(lambda units: _rebuild(cursor, units), pairs, _split_pairs)
            if failures:
                _park(cursor, failures)
            failed = {pair for pair, _ in failures}
            _unpark(cursor, [p for p in pairs if p not in failed])
            rolled += len(pairs) - len(failed)
        if len(claimed) < batch:
            return rolled
    return rolled


def rollup_retry(pairs: list[Pair]) -> int:
    """Mark parked minutes dirty again: the roller retries them on its next run, unparks
    those that roll and counts one more attempt on those that still fail."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {DIRTY} (metric_name, bucket_start) "
            f"SELECT f.metric_name, f.bucket_start FROM {FAILED} f "
            "JOIN unnest(%s::text[], %s::timestamptz[]) AS p(n, b) "
            "ON f.metric_name = p.n AND f.bucket_start = p.b",
            [[p[0] for p in pairs], [p[1] for p in pairs]],
        )
        return cursor.rowcount


def rollup_range(*, start: datetime, end: datetime, metrics: list[str] | None = None) -> None:
    """Rebuild every bucket of the whole UTC days between start and end from raw points.

    Per day: the day's buckets are deleted, minutes and hours are grouped
    straight from the points (no per-bucket lookups, no upserts), and the day
    from its hours. Every statement names its metrics, so it walks the
    (metric, time) indexes, and backfills of different metrics or days may
    run in parallel; the incremental roller waits for them.

    A day some of whose points are past their retention is left as it is for that
    metric: rebuilt from what is left, its kept hour and day rollups would shrink.
    """
    names = metrics if metrics is not None else metric_names()
    if not names:
        return
    now = timezone.now()
    raw_from = {name: now - timedelta(days=raw_retention_days(name)) for name in names}
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        whole = [name for name in names if day >= raw_from[name]]
        if whole:
            _rebuild_day(day, whole)
        day += timedelta(days=1)


def metric_names() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT metric_name FROM {SERIES} ORDER BY 1")
        return [row[0] for row in cursor.fetchall()]


def _rebuild_day(day: datetime, names: list[str]) -> None:
    end = day + timedelta(days=1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [ROLLER_LOCK])
        failures = isolate(
            lambda group: _rebuild_day_sql(cursor, day, end, group),
            names,
            lambda group: [[name] for name in group],
        )
        failed = [name for name, _ in failures]
        # A day rebuilt whole from its points holds no failure any more.
        cursor.execute(
            f"DELETE FROM {FAILED} WHERE metric_name = ANY(%s) AND bucket_start >= %s "
            "AND bucket_start < %s",
            [[n for n in names if n not in failed], day, end],
        )
        if failures:
            # Handed to the incremental roller, which narrows each failure down to
            # its minute and parks only that; the metric's old rollups stay meanwhile.
            logger.warning(
                "backfill of %s for %s failed (%s); its minutes are marked dirty",
                failed,
                day.date(),
                failures[0][1],
            )
            cursor.execute(
                f"INSERT INTO {DIRTY} (metric_name, bucket_start) "
                f"SELECT DISTINCT metric_name, date_trunc('minute', \"timestamp\") "
                f"FROM {points_relation(failed, packed=packed_spans([(day, end)]))} p "
                'WHERE metric_name = ANY(%s) AND "timestamp" >= %s AND "timestamp" < %s',
                [failed, day, end],
            )


def _rebuild_day_sql(cursor, day: datetime, end: datetime, names: list[str]) -> None:
    window = [names, day, end]
    cursor.execute(
        f"DELETE FROM {ROLLUP} WHERE metric_name = ANY(%s) AND resolution = ANY(%s) "
        "AND bucket_start >= %s AND bucket_start < %s",
        [names, ["m", "h", "d"], day, end],
    )
    cursor.execute(  # the minutes' blocks start on the day's hours, the hours' on the day
        f"DELETE FROM {ROLLUP_BLOCKS} WHERE metric_name = ANY(%s) AND block_start >= %s "
        "AND block_start < %s",
        window,
    )
    for unit, target in (("minute", "m"), ("hour", "h")):
        points = _points_of_range(unit, names, day, end)
        cursor.execute(_minutes_sql(points, target=target, upsert=False), window)
    cursor.execute(
        _derived_sql(_buckets_of_range(source="h", unit="day"), target="d", upsert=False),
        window,
    )


def rollups_purge(*, now: datetime) -> dict[str, tuple[int, datetime]]:
    """Delete each resolution's rollups older than its retention (apps.metrics.retention),
    metric by metric (the rollups' unique index is by metric, resolution and time), in
    bounded batches."""
    names = metric_names()
    result = {}
    size = settings.PURGE_BATCH_SIZE
    for res in RESOLUTIONS:
        cutoff = rollup_cutoff(res, now=now)
        total = 0
        for name in names:
            while True:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        f"DELETE FROM {ROLLUP} WHERE id IN (SELECT id FROM {ROLLUP} "
                        "WHERE metric_name = %s AND resolution = %s AND bucket_start < %s "
                        "LIMIT %s)",
                        [name, res, cutoff, size],
                    )
                    deleted = cursor.rowcount
                total += deleted
                if deleted < size:
                    break
            if res in PACKED:  # and the packed ones (2,400 minute blocks a day at 100 label sets)
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"DELETE FROM {ROLLUP_BLOCKS} WHERE metric_name = %s AND resolution = %s "
                        "AND block_start < %s RETURNING cardinality(offsets)",
                        [name, res, cutoff],
                    )
                    total += sum(n for (n,) in cursor.fetchall())
        result[f"metric:rollups:{res}"] = (total, cutoff)
    return result
