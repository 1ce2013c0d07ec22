"""Rollups packed once the bucket of their block is over (RollupBlock), as the points are
(apps.metrics.packing): the minutes of an hour of a label set a row, and the hours of a
day a row. At the bench's density a minute row costs ~200 bytes and ~90 of index, more
than the points it sums, and packed with lz4 ~50; an hour row ~1,200 (its sketch's
~100 buckets), packed ~380: a day's sketches have most keys in common, which lz4 finds.
Day rollups stay rows: one a day a label set, what counters and long windows read.

A block's buckets are either packed or rows, never both (a unique constraint on the
blocks, and the roller's lock around every move): the hourly pack moves a metric's
minute rows of the hours over and hour rows of the days over (`packed_before`) into
blocks, and a re-roll of a minute in a packed hour (a late point, a retried failure)
first moves its hour's minutes and its day's hours, where packed, back into rows
(`blocks_unpack`), so the re-roll upserts rows as it always did and the next pack packs
them again. Backfills delete a day's blocks with its rollups; the purge
deletes the blocks past each resolution's retention.

Reads take packed buckets with the rows. A time series takes them a bucket a row
(`unpacked_sql`): each block's sketch arrays are decompressed once and sliced per bucket
(sliced straight from the stored value, each minute decompressed the hour's arrays
again, 7x slower over 30 days). A read adding up the whole window (statistics) takes
them a block and a piece of the window a row (`merged_sql`): one slice each.
"""

from datetime import datetime

from apps.core.windows import floor

from .models import MetricRollup, RollupBlock

ROLLUP = MetricRollup._meta.db_table
ROLLUP_BLOCKS = RollupBlock._meta.db_table
# The resolutions packed, and the coarser bucket a block of each holds.
PACKED = {"m": "h", "h": "d"}
_UNITS = {"m": "minute", "h": "hour", "d": "day"}

_COLUMNS = "metric_name, tags_hash, bucket_start, count, sum, min, max, sketch_keys, sketch_counts"
_STEP = "CASE b.resolution WHEN 'm' THEN interval '1 minute' ELSE interval '1 hour' END"


def unpacked_sql(source: str, where: str = "true") -> str:
    """(resolution, metric_name, tags_hash, bucket_start, count, sum, min, max,
    sketch_keys, sketch_counts): the buckets packed in the blocks of `source` (a table or
    CTE with RollupBlock's columns, as `b`) that `where` (SQL over `b`) selects."""
    return f"""SELECT b.resolution, b.metric_name, b.tags_hash,
       b.block_start + m.n * {_STEP} AS bucket_start, m.count, m.sum, m.min, m.max,
       d.keys[coalesce(d.ends[m.i - 1], 0) + 1 : m.e] AS sketch_keys,
       d.key_counts[coalesce(d.ends[m.i - 1], 0) + 1 : m.e] AS sketch_counts
FROM {source} b
CROSS JOIN LATERAL (
    -- Decompressed once a block: OFFSET 0 keeps them values, not expressions per bucket.
    SELECT b.keys || '{{}}'::int[] AS keys, b.key_counts || '{{}}'::bigint[] AS key_counts,
           b.ends || '{{}}'::int[] AS ends OFFSET 0
) d
CROSS JOIN LATERAL unnest(b.offsets, b.counts, b.sums, b.mins, b.maxs, b.ends)
    WITH ORDINALITY AS m(n, count, sum, min, max, e, i)
WHERE {where}"""  # noqa: S608 - table names and code's SQL only


def merged_sql(where: str = "true", *, sketch: bool = True) -> str:
    """(metric_name, tags_hash, count, sum, min, max[, sketch_keys, sketch_counts]): the
    packed buckets lying in pieces of the window, added up a block and a piece, of the
    blocks that `where` (SQL over `b`, its parameters last) selects. Parameters first: the
    pieces as arrays of their resolutions, their first blocks' starts, their starts and
    their ends (disjoint, whole buckets).

    A piece holds a run of a block's buckets, whose sketches are one slice of the block's
    arrays: what a read merging the whole window needs, without a row and a slice per
    bucket (`unpacked_sql`), and without decompressing the arrays when `sketch` is false.
    """
    sketches = (
        ", b.keys[coalesce(b.ends[s.i - 1], 0) + 1 : b.ends[s.j]] AS sketch_keys"
        ", b.key_counts[coalesce(b.ends[s.i - 1], 0) + 1 : b.ends[s.j]] AS sketch_counts"
        if sketch
        else ""
    )
    return f"""SELECT b.metric_name, b.tags_hash, s.count, s.sum, s.min, s.max{sketches}
FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[])
    AS p(res, first, lo, hi)
JOIN {ROLLUP_BLOCKS} b
    ON b.resolution = p.res AND b.block_start >= p.first AND b.block_start < p.hi
CROSS JOIN LATERAL (
    SELECT sum(m.count)::bigint AS count, sum(m.sum) AS sum, min(m.min) AS min,
           max(m.max) AS max, min(m.i)::int AS i, max(m.i)::int AS j
    FROM unnest(b.offsets, b.counts, b.sums, b.mins, b.maxs) WITH ORDINALITY
        AS m(n, count, sum, min, max, i)
    WHERE b.block_start + m.n * {_STEP} >= p.lo AND b.block_start + m.n * {_STEP} < p.hi
) s
WHERE s.i IS NOT NULL AND {where}"""  # noqa: S608 - table names and code's SQL only


def merged_params(pieces: list[tuple[str, datetime, datetime]]) -> list:
    """`merged_sql`'s first parameters: these (resolution, start, end) pieces."""
    return [
        [res for res, _, _ in pieces],
        [floor(lo, PACKED[res]) for res, lo, _ in pieces],
        [lo for _, lo, _ in pieces],
        [hi for _, _, hi in pieces],
    ]


def pack_sql(res: str) -> str:
    """One metric's rows of resolution `res` before a moment (parameters: the metric, the
    moment), moved into blocks; the buckets packed."""
    span, step = _UNITS[PACKED[res]], _UNITS[res]
    block = f"date_trunc('{span}', bucket_start, 'UTC')"
    return f"""
WITH moved AS (
    DELETE FROM {ROLLUP} WHERE metric_name = %s AND resolution = '{res}' AND bucket_start < %s
    RETURNING {_COLUMNS}
), m AS (
    SELECT *, {block} AS s,
           (extract(epoch FROM bucket_start - {block}) / extract(epoch FROM interval '1 {step}'))
               ::smallint AS n,
           sum(cardinality(sketch_keys)) OVER (
               PARTITION BY tags_hash, {block} ORDER BY bucket_start
           )::int AS e
    FROM moved
), scalars AS (
    SELECT metric_name, tags_hash, s,
           array_agg(n ORDER BY bucket_start) AS offsets,
           array_agg(count ORDER BY bucket_start) AS counts,
           array_agg(sum ORDER BY bucket_start) AS sums,
           array_agg(min ORDER BY bucket_start) AS mins,
           array_agg(max ORDER BY bucket_start) AS maxs,
           array_agg(e ORDER BY bucket_start) AS ends
    FROM m GROUP BY metric_name, tags_hash, s
), sketches AS (
    SELECT m.tags_hash, m.s, array_agg(u.k ORDER BY m.bucket_start, u.o) AS keys,
           array_agg(u.c ORDER BY m.bucket_start, u.o) AS key_counts
    FROM m CROSS JOIN LATERAL unnest(m.sketch_keys, m.sketch_counts) WITH ORDINALITY AS u(k, c, o)
    GROUP BY m.tags_hash, m.s
), packed AS (
    INSERT INTO {ROLLUP_BLOCKS} (resolution, metric_name, tags_hash, block_start, offsets,
                                 counts, sums, mins, maxs, ends, keys, key_counts)
    SELECT '{res}', s.metric_name, s.tags_hash, s.s, s.offsets, s.counts, s.sums, s.mins,
           s.maxs, s.ends, coalesce(k.keys, '{{}}'), coalesce(k.key_counts, '{{}}')
    FROM scalars s LEFT JOIN sketches k USING (tags_hash, s)
    RETURNING cardinality(offsets) AS n
)
SELECT coalesce(sum(n), 0) FROM packed
"""  # noqa: S608 - table names and code's constants only


def blocks_unpack(cursor, res: str, blocks: list[tuple[str, datetime]]) -> None:
    """Turn the packed buckets of resolution `res` in these (metric, block start)s, every
    label set's, back into rows (before they are re-rolled). The caller holds the
    roller's lock."""
    if not blocks:
        return
    cursor.execute(
        f"WITH moved AS (DELETE FROM {ROLLUP_BLOCKS} b "  # noqa: S608
        "USING unnest(%s::text[], %s::timestamptz[]) AS d(n, s) "
        "WHERE b.metric_name = d.n AND b.resolution = %s AND b.block_start = d.s "
        f"RETURNING b.*) INSERT INTO {ROLLUP} (resolution, {_COLUMNS}) "
        f"SELECT u.* FROM ({unpacked_sql('moved')}) u",
        [[name for name, _ in blocks], [start for _, start in blocks], res],
    )


def blocks_unpack_all(cursor) -> None:
    """Every packed bucket back into a row (a migration's way back past the blocks)."""
    cursor.execute(
        f"INSERT INTO {ROLLUP} (resolution, {_COLUMNS}) "  # noqa: S608
        f"SELECT u.* FROM ({unpacked_sql(ROLLUP_BLOCKS)}) u"
    )
