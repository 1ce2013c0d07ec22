"""Rolling metric points into minute, hour and day buckets, all in SQL.

A minute is re-rolled from its raw points; an hour from its minutes; a day
from its hours. Each re-roll recomputes the whole bucket and upserts it, so
rolling is idempotent and a late point only needs its minute marked dirty.
"""

from datetime import datetime, timedelta

from django.db import connection, transaction

from .sketch import key_sql

ROLLUP = "metrics_metricrollup"
POINTS = "metrics_metricevent"
DIRTY = "metrics_dirtyminute"

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


# Points of the listed (metric, minute) pairs: one index range scan per pair.
_POINTS_OF_PAIRS = f"""
d AS ({_FROM_LISTS}),
pts AS (
    SELECT d.metric_name, e.tags_hash, d.b, e.value, {key_sql("e.value")} AS k
    FROM d CROSS JOIN LATERAL (
        -- OFFSET 0 keeps this a per-pair index scan: flattened into a join, the
        -- planner may merge-join on metric_name alone and compare every point.
        SELECT p.tags_hash, p.value FROM {POINTS} p
        WHERE p.metric_name = d.metric_name
          AND p."timestamp" >= d.b AND p."timestamp" < d.b + interval '1 minute'
        OFFSET 0
    ) e
)"""


def _points_of_range(unit: str) -> str:
    """Every point of a time range, grouped straight into `unit` buckets (backfill)."""
    return f"""
pts AS (
    SELECT metric_name, tags_hash, date_trunc('{unit}', "timestamp") AS b, value,
           {key_sql("value")} AS k
    FROM {POINTS}
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
    SELECT metric_name, tags_hash, b, u.k, sum(u.c)::bigint AS c
    FROM src, unnest(src.sketch_keys, src.sketch_counts) AS u(k, c)
    GROUP BY metric_name, tags_hash, b, u.k
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
    """Re-roll these (metric, minute) buckets and the hours and days holding them."""
    names = [p[0] for p in pairs]
    cursor.execute(_minutes_sql(_POINTS_OF_PAIRS), [names, [p[1] for p in pairs]])
    hours = sorted({(n, m.replace(minute=0, second=0, microsecond=0)) for n, m in pairs})
    cursor.execute(
        _derived_sql(_buckets_of_pairs(source="m", span="1 hour"), target="h"),
        [[h[0] for h in hours], [h[1] for h in hours]],
    )
    days = sorted({(n, h.replace(hour=0)) for n, h in hours})
    cursor.execute(
        _derived_sql(_buckets_of_pairs(source="h", span="1 day"), target="d"),
        [[d[0] for d in days], [d[1] for d in days]],
    )


ROLLER_LOCK = 724_311_001  # pg advisory lock: one roller at a time


def rollup_pending(*, batch: int = 20_000, max_batches: int = 50) -> int:
    """Re-roll every dirty minute (and its hour and day). Returns minutes re-rolled.

    Marks are claimed and buckets rebuilt in one transaction, so a crash
    leaves the marks in place for the next run.
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
            _rebuild(cursor, pairs)
            rolled += len(pairs)
        if len(claimed) < batch:
            return rolled
    return rolled


def rollup_range(*, start: datetime, end: datetime, metrics: list[str] | None = None) -> None:
    """Rebuild every bucket of the whole UTC days between start and end from raw points.

    Per day: the day's buckets are deleted, minutes and hours are grouped
    straight from the points (no per-bucket lookups, no upserts), and the day
    from its hours. Every statement names its metrics, so it walks the
    (metric, time) indexes, and backfills of different metrics or days may
    run in parallel; the incremental roller waits for them.
    """
    names = metrics if metrics is not None else metric_names()
    if not names:
        return
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        _rebuild_day(day, names)
        day += timedelta(days=1)


def metric_names() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT metric_name FROM metrics_metricseries ORDER BY 1")
        return [row[0] for row in cursor.fetchall()]


def _rebuild_day(day: datetime, names: list[str]) -> None:
    end = day + timedelta(days=1)
    window = [names, day, end]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [ROLLER_LOCK])
        cursor.execute(
            f"DELETE FROM {ROLLUP} WHERE metric_name = ANY(%s) AND resolution = ANY(%s) "
            "AND bucket_start >= %s AND bucket_start < %s",
            [names, ["m", "h", "d"], day, end],
        )
        cursor.execute(_minutes_sql(_points_of_range("minute"), upsert=False), window)
        cursor.execute(_minutes_sql(_points_of_range("hour"), target="h", upsert=False), window)
        cursor.execute(
            _derived_sql(_buckets_of_range(source="h", unit="day"), target="d", upsert=False),
            window,
        )
