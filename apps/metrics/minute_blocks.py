"""Minute rollups packed an hour a row once their day is over (MinuteBlock), as the
points are (apps.metrics.packing): at the bench's density a minute row costs ~200 bytes
and ~90 of index, more than the points it sums; packed with lz4, ~50.

An hour of a label set is either packed or rows, never both (a unique constraint on
the blocks, and the roller's lock around every move): the daily pack moves a metric's
minute rows of the days before today into blocks, and a re-roll of a minute in a packed
hour (a late point, a retried failure) first moves that hour back into rows
(`minutes_unpack`), so the re-roll upserts rows as it always did and the next pack
packs the hour again. Backfills delete a day's blocks with its rollups; the purge
deletes the blocks of hours past the minute rollups' retention.

Reads take packed minutes with the rows (`unpacked_sql`). Each block's sketch arrays
are decompressed once and sliced per minute: sliced straight from the stored value,
each minute decompressed the hour's arrays again (7x slower over 30 days).
"""

from datetime import datetime

from .models import MetricRollup, MinuteBlock

ROLLUP = MetricRollup._meta.db_table
MINUTE_BLOCKS = MinuteBlock._meta.db_table

_COLUMNS = "metric_name, tags_hash, bucket_start, count, sum, min, max, sketch_keys, sketch_counts"


def unpacked_sql(source: str, where: str = "true") -> str:
    """(metric_name, tags_hash, bucket_start, count, sum, min, max, sketch_keys,
    sketch_counts): the minutes packed in the blocks of `source` (a table or CTE with
    MinuteBlock's columns, as `b`) that `where` (SQL over `b`) selects."""
    return f"""SELECT b.metric_name, b.tags_hash,
       b.hour + m.minute * interval '1 minute' AS bucket_start, m.count, m.sum, m.min, m.max,
       d.keys[coalesce(d.ends[m.i - 1], 0) + 1 : m.e] AS sketch_keys,
       d.key_counts[coalesce(d.ends[m.i - 1], 0) + 1 : m.e] AS sketch_counts
FROM {source} b
CROSS JOIN LATERAL (
    -- Decompressed once a block: OFFSET 0 keeps them values, not expressions per minute.
    SELECT b.keys || '{{}}'::int[] AS keys, b.key_counts || '{{}}'::bigint[] AS key_counts,
           b.ends || '{{}}'::int[] AS ends OFFSET 0
) d
CROSS JOIN LATERAL unnest(b.minutes, b.counts, b.sums, b.mins, b.maxs, b.ends)
    WITH ORDINALITY AS m(minute, count, sum, min, max, e, i)
WHERE {where}"""  # noqa: S608 - table names and code's SQL only


# One metric's minute rows before a moment, moved into blocks; the minutes packed.
MINUTES_PACK = f"""
WITH moved AS (
    DELETE FROM {ROLLUP} WHERE metric_name = %s AND resolution = 'm' AND bucket_start < %s
    RETURNING {_COLUMNS}
), m AS (
    SELECT *, date_trunc('hour', bucket_start) AS h,
           (extract(epoch FROM bucket_start - date_trunc('hour', bucket_start)) / 60)::smallint
               AS minute,
           sum(cardinality(sketch_keys)) OVER (
               PARTITION BY tags_hash, date_trunc('hour', bucket_start) ORDER BY bucket_start
           )::int AS e
    FROM moved
), scalars AS (
    SELECT metric_name, tags_hash, h,
           array_agg(minute ORDER BY bucket_start) AS minutes,
           array_agg(count ORDER BY bucket_start) AS counts,
           array_agg(sum ORDER BY bucket_start) AS sums,
           array_agg(min ORDER BY bucket_start) AS mins,
           array_agg(max ORDER BY bucket_start) AS maxs,
           array_agg(e ORDER BY bucket_start) AS ends
    FROM m GROUP BY metric_name, tags_hash, h
), sketches AS (
    SELECT m.tags_hash, m.h, array_agg(u.k ORDER BY m.bucket_start, u.o) AS keys,
           array_agg(u.c ORDER BY m.bucket_start, u.o) AS key_counts
    FROM m CROSS JOIN LATERAL unnest(m.sketch_keys, m.sketch_counts) WITH ORDINALITY AS u(k, c, o)
    GROUP BY m.tags_hash, m.h
), packed AS (
    INSERT INTO {MINUTE_BLOCKS} (metric_name, tags_hash, hour, minutes, counts, sums, mins,
                                 maxs, ends, keys, key_counts)
    SELECT s.metric_name, s.tags_hash, s.h, s.minutes, s.counts, s.sums, s.mins, s.maxs,
           s.ends, coalesce(k.keys, '{{}}'), coalesce(k.key_counts, '{{}}')
    FROM scalars s LEFT JOIN sketches k USING (tags_hash, h)
    RETURNING cardinality(minutes) AS n
)
SELECT coalesce(sum(n), 0) FROM packed
"""  # noqa: S608 - table names only


def minutes_unpack(cursor, hours: list[tuple[str, datetime]]) -> None:
    """Turn the packed minutes of these (metric, hour)s, every label set's, back into
    rows (before they are re-rolled). The caller holds the roller's lock."""
    if not hours:
        return
    cursor.execute(
        f"WITH moved AS (DELETE FROM {MINUTE_BLOCKS} b "  # noqa: S608
        "USING unnest(%s::text[], %s::timestamptz[]) AS d(n, h) "
        "WHERE b.metric_name = d.n AND b.hour = d.h RETURNING b.*) "
        f"INSERT INTO {ROLLUP} (resolution, {_COLUMNS}) "
        f"SELECT 'm', u.* FROM ({unpacked_sql('moved')}) u",
        [[name for name, _ in hours], [hour for _, hour in hours]],
    )


def minutes_unpack_all(cursor) -> None:
    """Every packed minute back into a row (a migration's way back past the blocks)."""
    cursor.execute(
        f"INSERT INTO {ROLLUP} (resolution, {_COLUMNS}) "  # noqa: S608
        f"SELECT 'm', u.* FROM ({unpacked_sql(MINUTE_BLOCKS)}) u"
    )
