"""Statistics and time series from rollups plus raw edges: exact count/sum/min/max,
percentiles within 1%.

A window is covered by the coarsest buckets that fit inside it (days, then
hours, then minutes) and raw points for the sub-minute edges. Minutes with
points newer than their rollup (dirty) and everything after them are read
raw; so are parked minutes (RollupFailure), and the hours and days holding
them are never used. The read runs in one REPEATABLE READ snapshot, so
answers are exact whatever the roller is doing.

`group_by=<tag>` reads the per-series rollups (one row per label set and
bucket) of every matching series and merges them per value of that tag.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
import psycopg
from django.db import DataError, connection, transaction
from django.db.models import Aggregate, CharField, Count
from django.utils import timezone

from apps.core import windows
from apps.core.windows import Interval, filled, floor, parse_interval, window_start
from apps.requestlog.selectors import request_summary

from .exact import exact_limit, exact_percentiles
from .models import MetricSeries, MetricTagKey
from .retention import Kept, retained
from .rollup_blocks import PACKED, ROLLUP_BLOCKS, merged_params, merged_sql, unpacked_sql
from .rollups import DIRTY, FAILED, ROLLUP, SERIES
from .sketch import key_sql, merge_sketches, quantiles, unnest_sql
from .sources import packed_spans, points_relation, reads_packed

UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
# Time series intervals: apps.core.windows (grammar, alignment, bucket count, fill).
DEFAULT_INTERVAL = "1h"

DEFAULT_HOURS = 24
MAX_HOURS = 720
MAX_BUCKETS = windows.MAX_BUCKETS  # 1m over 7 days, the largest the old 168 h bound allowed
MAX_GROUPED_BUCKETS = 1_000  # per group: 100 groups x 1000 buckets per answer at most
MAX_GROUPS = 100
MAX_PARKED = 200  # parked minutes read one by one; past this, raw from the first one


class NotComputableError(Exception):
    """The points of the window cannot be aggregated (e.g. a sum overflows a float)."""


def _ceil(moment: datetime, res: str) -> datetime:
    floored = floor(moment, res)
    return floored if floored == moment else floored + UNITS[res]


@dataclass
class Cover:
    rollups: list[tuple[str, datetime, datetime]]
    raw: list[tuple[datetime, datetime]]


def cover(
    start: datetime,
    end: datetime,
    *,
    levels: tuple[str, ...] = ("d", "h", "m"),
    kept: Kept | None = None,
) -> Cover:
    """Split [start, end) into whole buckets, coarsest first, and raw leftovers.

    With `kept` (tiered retention), a level is used only where its buckets are kept:
    hours from the first day starting at or after their cutoff, minutes from the first
    hour at or after theirs (retention puts the cutoffs there: `rollup_cutoff`). A raw
    leftover older than the raw points' cutoff becomes the whole bucket holding it at the
    finest level kept there: such a window widens to whole hours (or days), what is kept
    (docs: "Tiered retention")."""
    if kept is None:
        return _cover(start, end, levels)
    result = Cover(rollups=[], raw=[])
    hours_from, minutes_from = _ceil(kept.h, "d"), _ceil(kept.m, "h")
    regions = (
        (start, min(end, hours_from), tuple(r for r in levels if r == "d")),
        (max(start, hours_from), min(end, minutes_from), tuple(r for r in levels if r != "m")),
        (max(start, minutes_from), end, levels),
    )
    for lo, hi, kept_levels in regions:
        if lo >= hi:
            continue
        part = _cover(lo, hi, kept_levels)
        result.rollups += part.rollups
        for a, b in part.raw:
            if a >= kept.raw or not kept_levels:
                result.raw.append((a, b))
            else:  # its points are gone: the finest bucket kept there holds it
                res = kept_levels[-1]
                result.rollups.append((res, floor(a, res), _ceil(b, res)))
    return result


def _cover(start: datetime, end: datetime, levels: tuple[str, ...]) -> Cover:
    result = Cover(rollups=[], raw=[])

    def split(lo: datetime, hi: datetime, remaining: tuple[str, ...]) -> None:
        if lo >= hi:
            return
        if not remaining:
            result.raw.append((lo, hi))
            return
        res, finer = remaining[0], remaining[1:]
        a, b = _ceil(lo, res), floor(hi, res)
        if a < b:
            result.rollups.append((res, a, b))
            split(lo, a, finer)
            split(b, hi, finer)
        else:
            split(lo, hi, finer)

    split(start, end, levels)
    return result


def plan(
    start: datetime,
    end: datetime,
    *,
    dirty_from: datetime | None = None,
    parked: Sequence[datetime] = (),
    levels: tuple[str, ...] = ("d", "h", "m"),
    kept: Kept | None = None,
) -> Cover:
    """What to read from rollups and what raw: everything from the first dirty minute
    on is raw, and each parked minute is raw with rollups only on either side of it.
    `kept`: what tiered retention keeps (see cover)."""
    rolled_end = max(start, min(end, dirty_from)) if dirty_from else end
    minute = UNITS["m"]
    parked = sorted(p for p in parked if p + minute > start and p < rolled_end)
    if len(parked) > MAX_PARKED:
        rolled_end, parked = max(start, parked[0]), []
    result = Cover(rollups=[], raw=[])
    lo = start
    for moment in parked:
        if moment > lo:
            part = cover(lo, moment, levels=levels, kept=kept)
            result.rollups += part.rollups
            result.raw += part.raw
        hi = min(moment + minute, rolled_end)
        result.raw.append((max(lo, moment), hi))
        lo = hi
    part = cover(lo, rolled_end, levels=levels, kept=kept)
    result.rollups += part.rollups
    result.raw += part.raw
    if rolled_end < end:
        result.raw.append((rolled_end, end))
    result.raw = _merged(result.raw)
    return result


def _merged(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(r for r in ranges if r[0] < r[1]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


@dataclass(frozen=True)
class Window:
    """[start, end): the last `hours` before now, or an explicit from/to."""

    start: datetime
    end: datetime
    hours: int | None = None

    @classmethod
    def of(
        cls,
        *,
        hours: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        now: datetime | None = None,
    ) -> "Window":
        if since is not None and until is not None:
            return cls(start=since, end=until)
        end = now or timezone.now()
        hours = DEFAULT_HOURS if hours is None else hours
        return cls(start=window_start(hours, now=end), end=end, hours=hours)

    def fields(self) -> dict:
        """The answer's window fields; an ?hours= answer keeps its old shape."""
        if self.hours is not None:
            return {"period_hours": self.hours, "since": self.start}
        length = (self.end - self.start).total_seconds() / 3600
        hours = int(length) if length.is_integer() else length
        return {"period_hours": hours, "since": self.start, "until": self.end}


Labels = tuple[str, list] | None


def _labels(name: str, tags: dict[str, str]) -> Labels:
    """SQL selecting the tags_hash of every label set matching the tags, and its
    parameters; None means 'all series' (no filter). The hashes stay in PostgreSQL: a
    tag matching 50,000 label sets once cost ~0.1 s of the web process's GIL to fetch
    and send back."""
    if not tags:
        return None
    return (
        f"SELECT tags_hash FROM {SERIES} WHERE metric_name = %s AND tags @> %s::jsonb",
        [name, orjson.dumps(tags).decode()],
    )


def _pending(cursor, name: str, start: datetime, end: datetime) -> tuple[datetime | None, list]:
    """The metric's first dirty minute, and its parked minutes touching [start, end)."""
    cursor.execute(
        f"SELECT (SELECT min(bucket_start) FROM {DIRTY} WHERE metric_name = %s), "
        f"ARRAY(SELECT bucket_start FROM {FAILED} WHERE metric_name = %s "
        "AND bucket_start > %s AND bucket_start < %s ORDER BY 1 LIMIT %s)",
        [name, name, start - UNITS["m"], end, MAX_PARKED + 1],
    )
    dirty_from, parked = cursor.fetchone()
    return dirty_from, parked or []


_NOTHING = (
    "SELECT NULL::timestamptz AS t, 0::bigint AS count, 0::float8 AS sum, NULL::float8 AS min, "
    "NULL::float8 AS max, NULL::int[] AS ks, NULL::bigint[] AS cs"
)


def _rolled(t: str, h: str) -> str:
    """A rollup row's columns as `_sources` gives them, its time (`t`, SQL) first."""
    return f"{t} AS t, count, sum, min, max, sketch_keys AS ks, sketch_counts AS cs{h}"


def _sources(
    name: str,
    cover_: Cover,
    labels: Labels,
    *,
    per_series: bool = False,
    only: list[int] | None = None,
    summed: bool = False,
    merged: bool = False,
) -> tuple[str, list]:
    """SQL selecting (t, count, sum, min, max, ks, cs[, h]) rows covering the window.

    `labels` None reads the all-series rows (tags_hash 0), else those label sets'
    rows; `per_series` reads every label set's rows (`only` those label sets), each
    with its label set as `h`, for a join with a Groups CTE. `summed` (per series only)
    adds them up per label set in each source instead: (h, count, sum, min, max) rows,
    what a ranking needs (a 50,000-value tag's ~200,000 rows then join its label sets
    as ~50,000: 1.5x faster, and estimated right by the planner). `merged` (or `summed`):
    the reader adds every row up (statistics), so packed buckets come added up a block
    and a piece of the window a row, `t` null (`merged_sql`)."""
    assert per_series or not summed
    h = ", tags_hash AS h" if per_series else ""
    parts, params = [], []
    if per_series and only is not None:
        rollup_filter = "tags_hash = ANY(%s::bigint[])"
        raw_filter, filter_params = f" AND {rollup_filter}", [only]
    elif per_series:
        rollup_filter, raw_filter, filter_params = "tags_hash <> 0", "", []
    elif labels is None:
        rollup_filter, raw_filter, filter_params = "tags_hash = 0", "", []
    else:
        rollup_filter = f"tags_hash IN ({labels[0]})"
        raw_filter, filter_params = f" AND {rollup_filter}", labels[1]
    if summed:
        rolled = "tags_hash AS h, sum(count)::bigint AS count, sum(sum) AS sum, min(min) AS min, "
        rolled += "max(max) AS max"
        raw = "tags_hash AS h, count(*)::bigint AS count, sum(value) AS sum, min(value) AS min, "
        raw += "max(value) AS max"
        by_series = " GROUP BY tags_hash"
    else:
        rolled = _rolled("bucket_start", h)
        raw = (
            f'"timestamp" AS t, 1::bigint AS count, value AS sum, value AS min, value AS max, '
            f"ARRAY[{key_sql('value')}] AS ks, ARRAY[1::bigint] AS cs{h}"
        )
        by_series = ""
    if cover_.rollups:
        ranges = " OR ".join(
            "(resolution = %s AND bucket_start >= %s AND bucket_start < %s)" for _ in cover_.rollups
        )
        parts.append(
            f"SELECT {rolled} FROM {ROLLUP} "
            f"WHERE metric_name = %s AND {rollup_filter} AND ({ranges}){by_series}"
        )
        params += [name, *filter_params]
        for piece in cover_.rollups:
            params += list(piece)
    # Minutes of the hours before the last full one and hours of the days before today
    # may be packed (apps.metrics.rollup_blocks, sources.reads_packed).
    packed = [p for p in cover_.rollups if p[0] in PACKED and reads_packed(p[1], p[0])]
    if packed and (merged or summed):
        columns = rolled if summed else _rolled("NULL::timestamptz", h)
        where = f"b.metric_name = %s AND {rollup_filter}"
        parts.append(f"SELECT {columns} FROM ({merged_sql(where, sketch=not summed)}) r{by_series}")
        params += [*merged_params(packed), name, *filter_params]
    elif packed:
        starts = " OR ".join(
            "(b.resolution = %s AND b.block_start >= %s AND b.block_start < %s)" for _ in packed
        )
        ranges = " OR ".join(
            "(resolution = %s AND bucket_start >= %s AND bucket_start < %s)" for _ in packed
        )
        blocks = unpacked_sql(ROLLUP_BLOCKS, f"b.metric_name = %s AND ({starts})")
        parts.append(
            f"SELECT {rolled} FROM ({blocks}) r WHERE {rollup_filter} AND ({ranges}){by_series}"
        )
        params.append(name)
        for res, lo, hi in packed:
            params += [res, floor(lo, PACKED[res]), hi]
        params += filter_params
        for piece in packed:
            params += list(piece)
    if cover_.raw:
        ranges = " OR ".join('("timestamp" >= %s AND "timestamp" < %s)' for _ in cover_.raw)
        spans = packed_spans(cover_.raw)
        blocks = rollup_filter if spans and raw_filter else ""
        parts.append(
            f"SELECT {raw} FROM {points_relation([name], packed=spans, blocks=blocks)} p "
            f"WHERE metric_name = %s{raw_filter} AND ({ranges}){by_series}"
        )
        params += [*(filter_params if blocks else []), name, *filter_params]
        for lo, hi in cover_.raw:
            params += [lo, hi]
    if not parts:  # an empty window reads nothing
        if summed:
            return "SELECT NULL::bigint AS h, 0::bigint AS count, 0::float8 AS sum, " + (
                "NULL::float8 AS min, NULL::float8 AS max WHERE false"
            ), []
        return _NOTHING + (", NULL::bigint AS h" if per_series else "") + " WHERE false", []
    return " UNION ALL ".join(parts), params


def _read_plan(cursor, name: str, window: Window, levels: tuple[str, ...]) -> Cover:
    dirty_from, parked = _pending(cursor, name, window.start, window.end)
    return plan(
        window.start,
        window.end,
        dirty_from=dirty_from,
        parked=parked,
        levels=levels,
        kept=retained(name),
    )


@contextmanager
def _snapshot() -> Iterator:
    """One REPEATABLE READ transaction, so dirty marks, rollups and raw rows agree.

    Inside an outer transaction (tests, ATOMIC_REQUESTS) the outer one is used as is.
    """
    outer = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if not outer:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield cursor


@contextmanager
def _read(name: str) -> Iterator:
    """The snapshot, with a failed aggregate (a float sum overflowing) as NotComputableError."""
    try:
        with _snapshot() as cursor:
            yield cursor
    except (DataError, psycopg.DataError) as exc:
        reason = (str(exc).strip().splitlines() or ["data error"])[0]
        raise NotComputableError(
            f"{name!r} over this window cannot be aggregated ({reason}). Its points hold "
            "values that cannot be added up; choose a window without them, and see the "
            "metric's rollup failures in the admin."
        ) from exc


def _fetch_binary(sql: str, params: list) -> list[tuple]:
    """Rows in PostgreSQL's binary format, on the current transaction.

    Django's cursors bind client-side and read text; int arrays parse ~3x faster
    in binary, which is most of the cost of a percentile time series.
    """
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()


QS = (0.5, 0.95, 0.99)
EMPTY = {
    "count": 0,
    "avg": None,
    "min": None,
    "max": None,
    "sum": 0.0,
    **{f"p{int(q * 100)}": None for q in QS},
}


def _exact_fields(values: Sequence[float]) -> dict:
    """p50/p95/p99 fields of exact percentiles (in QS order)."""
    return {f"p{int(q * 100)}": v for q, v in zip(QS, values, strict=True)}


def _summary(count: int, total: float, low: float, high: float, keys, counts) -> dict:
    if not count:
        return dict(EMPTY)
    qs = quantiles(keys, counts, QS, low=low, high=high) if keys else dict.fromkeys(QS)
    return {
        "count": count,
        "avg": total / count,
        "min": low,
        "max": high,
        "sum": total,
        **{f"p{int(q * 100)}": qs[q] for q in QS},
    }


# Up to this many label sets in the kept groups, a grouped read lists them in its scan.
MAX_KEPT_SETS = 10_000


class Groups:
    """The label sets matching the tags, grouped by the value of one tag, in SQL.

    Only the groups an answer keeps (at most MAX_GROUPS) reach Python; a tag with
    50,000 values keeps its label sets in PostgreSQL (fetching, sorting and numbering
    them here held the web process's GIL for ~0.4 s a read). A kept group is known by
    its number, its position in `values`: SQL groups by the number, not the text
    (sorting ~20k (group, sketch key) rows by a collated text column cost 3x the read).
    """

    def __init__(self, name: str, tags: dict[str, str], key: str) -> None:
        self.key = key
        self.where = "s.metric_name = %s" + (" AND s.tags @> %s::jsonb" if tags else "")
        self.where_params: list = [name] + ([orjson.dumps(tags).decode()] if tags else [])
        self.values: list[str | None] = []

    def by_value(self) -> tuple[str, list]:
        """CTE `g(h, v)`: every matching label set and its value of the tag (or null)."""
        return (
            f"g AS (SELECT s.tags_hash AS h, s.tags ->> %s AS v FROM {SERIES} s "
            f"WHERE {self.where})",
            [self.key, *self.where_params],
        )

    def distinct_values(self, cursor, limit: int) -> list[str | None]:
        """At most `limit` of the values, in value order (null last)."""
        sql, params = self.by_value()
        cursor.execute(
            f'WITH {sql} SELECT DISTINCT v COLLATE "C" AS v FROM g ORDER BY 1 NULLS LAST LIMIT %s',
            [*params, limit],
        )
        return [row[0] for row in cursor.fetchall()]

    def numbered(self, *, every: bool = False) -> tuple[str, list]:
        """CTE `g(h, i)`: the label sets of the kept groups, `i` their number; `every`
        keeps the other label sets too, numbered -1 (an answer's totals count them)."""
        null = self.values.index(None) if None in self.values else -1
        kept = "" if every else " WHERE n.i >= 0"
        return (
            "g AS (SELECT n.h, n.i FROM (SELECT s.tags_hash AS h, "
            "(CASE WHEN s.tags ->> %s IS NULL THEN %s ELSE coalesce(k.i - 1, -1) END)::int AS i "
            f"FROM {SERIES} s LEFT JOIN unnest(%s::text[]) WITH ORDINALITY AS k(v, i) "
            f"ON k.v = s.tags ->> %s WHERE {self.where}) n{kept})",
            [self.key, null, self.values, self.key] + self.where_params,
        )

    def kept_sets(self, cursor) -> tuple[tuple[str, list], list[int]] | None:
        """The kept groups' label sets as a `g(h, i)` CTE of literal arrays, and their
        hashes, for a read to filter its rollup rows by in the index (not by joining
        every label set's rows); None when there are too many to list."""
        sql, params = self.numbered()
        cursor.execute(f"WITH {sql} SELECT h, i FROM g LIMIT %s", [*params, MAX_KEPT_SETS + 1])
        rows = cursor.fetchall()
        if len(rows) > MAX_KEPT_SETS:
            return None
        hashes = [h for h, _ in rows]
        cte = "g AS (SELECT * FROM unnest(%s::bigint[], %s::int[]) AS g(h, i))"
        return (cte, [hashes, [i for _, i in rows]]), hashes

    def ranked(self, cursor, sql: str, params: list) -> tuple[list[tuple], int, tuple]:
        """The biggest MAX_GROUPS groups of the per-series sums `sql` selects (`_sources`
        with `summed`), by count then value (null last), as (number, count, sum, min,
        max) rows; also how many groups have points, and (count, sum, min, max) over all
        of them. Numbers the kept groups in that order."""
        groups, group_params = self.by_value()
        cursor.execute(
            f"WITH {groups}, src AS ({sql}), per AS (SELECT g.v, sum(src.count)::bigint AS c, "
            "sum(src.sum) AS s, min(src.min) AS lo, max(src.max) AS hi "
            "FROM src JOIN g ON g.h = src.h GROUP BY g.v) "
            "SELECT v, c, s, lo, hi, count(*) OVER (), (sum(c) OVER ())::bigint, "
            "sum(s) OVER (), min(lo) OVER (), max(hi) OVER () FROM per "
            'ORDER BY c DESC, v COLLATE "C" NULLS LAST LIMIT %s',
            [*group_params, *params, MAX_GROUPS],
        )
        rows = cursor.fetchall()
        self.values = [row[0] for row in rows]
        kept = [(number, *row[1:5]) for number, row in enumerate(rows)]
        if not rows:
            return [], 0, (0, 0.0, None, None)
        return kept, rows[0][5], rows[0][6:10]


def _ranked(rows: list[tuple]) -> list[tuple]:
    """(group number, count, ...) rows: biggest count first, then by number."""
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def _groups_fields(group_by: str, group_count: int, kept: list) -> dict:
    return {
        "group_by": group_by,
        "group_count": group_count,
        "groups_truncated": len(kept) < group_count,
    }


def metric_statistics(
    *,
    name: str,
    hours: int | None = None,
    tags: dict[str, str] | None = None,
    now: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: str | None = None,
    percentiles: bool = True,
) -> dict:
    """count, avg, min, max, sum, p50, p95, p99 of a metric over the last `hours` (or
    since..until); with `group_by`, the same per value of that tag too. Without
    `percentiles` the p-fields are None and the sketch is not read (half the work)."""
    window = Window.of(hours=hours, since=since, until=until, now=now)
    body = {"metric_name": name, **window.fields(), "tags": tags or {}}
    with _read(name) as cursor:
        if group_by is not None:
            grouped = _grouped_statistics(cursor, name, window, tags or {}, group_by, percentiles)
            return {**body, **grouped}
        labels = _labels(name, tags or {})
        sql, params = _sources(
            name, _read_plan(cursor, name, window, ("d", "h", "m")), labels, merged=True
        )
        if not percentiles:
            cursor.execute(f"WITH src AS ({sql}) SELECT {_TOTALS} FROM src", params)
            count, total, low, high = cursor.fetchone()
            return {**body, **_summary(count, total, low, high, (), ())}
        # The totals and the merged sketch in one statement, the sources read once; the
        # sketch only past the points answered exactly from raw.
        limit = exact_limit()
        cursor.execute(_totals_and_sketch_sql(sql), [*params, limit])
        (_, count, total, low, high), *sketch = cursor.fetchall()
        if not count:
            return {**body, **EMPTY}
        exact = exact_percentiles(
            cursor,
            name=name,
            start=window.start,
            end=window.end,
            qs=QS,
            expected={(None, None): count},
            labels=labels,
        )
        if exact is not None:  # few points: exact from raw, not the sketch
            summary = _summary(count, total, low, high, (), ())
            return {**body, **summary, **_exact_fields(exact[(None, None)])}
        if count <= limit:  # their raw points are not all kept: the sketch after all
            cursor.execute(_merged_sketch_sql(sql), params)
            sketch = cursor.fetchall()
    keys, counts = [r[0] for r in sketch], [r[1] for r in sketch]
    return {**body, **_summary(count, total, low, high, keys, counts)}


_TOTALS = "sum(count)::bigint AS n, sum(sum) AS s, min(min) AS lo, max(max) AS hi"


def _merge_sql(columns: str = "", where: str = "true") -> str:
    """The sketches of the rows of a CTE `src` that `where` keeps, added up: (k, c[,
    `columns`]) rows, one a key."""
    return (
        f"SELECT k, sum(c)::bigint{columns} FROM (SELECT {unnest_sql('src.ks', 'src.cs')} "
        f"FROM src WHERE {where}) u GROUP BY k"
    )


def _merged_sketch_sql(sources: str) -> str:
    """The sketch of every row of `sources` (a `_sources` SELECT) added up: (k, c) rows."""
    return f"WITH src AS ({sources}) {_merge_sql()} ORDER BY k"


def _totals_and_sketch_sql(sources: str) -> str:
    """(null, count, sum, min, max) over every row of `sources`, then, when the count is
    over a limit (the last parameter), its merged sketch: (k, c, null, null, null) rows
    by key. Reading the sources once, not once for the totals and again for the sketch,
    saved ~30% of a 30-day read."""
    return (
        f"WITH src AS MATERIALIZED ({sources}), t AS (SELECT {_TOTALS} FROM src) "
        "SELECT NULL::int AS k, t.* FROM t "
        f"UNION ALL ({_merge_sql(', NULL, NULL, NULL', '(SELECT t.n FROM t) > %s')}) "
        "ORDER BY k NULLS FIRST"
    )


def _grouped_statistics(
    cursor, name: str, window: Window, tags: dict[str, str], group_by: str, percentiles: bool
) -> dict:
    groups = Groups(name, tags, group_by)
    cover_ = _read_plan(cursor, name, window, ("d", "h", "m"))
    sums, sums_params = _sources(name, cover_, None, per_series=True, summed=True)
    kept, group_count, (count, total, low, high) = groups.ranked(cursor, sums, sums_params)
    sql, params = _sources(name, cover_, None, per_series=True, merged=True)
    if not kept:
        return {**EMPTY, **_groups_fields(group_by, 0, []), "groups": []}
    exact = None
    if percentiles:
        expected = {(number, None): n for number, n, *_ in kept}
        expected[(None, None)] = count
        exact = exact_percentiles(
            cursor,
            name=name,
            start=window.start,
            end=window.end,
            qs=QS,
            expected=expected,
            groups=groups.numbered(every=True),
            filtered=bool(tags),
        )
    if not percentiles or exact is not None:  # few points: exact from raw, not the sketches
        none = [None] * len(QS)
        totals = _summary(count, total, low, high, (), ())
        listed = [
            {
                "value": groups.values[number],
                **_summary(n, s, lo, hi, (), ()),
                **_exact_fields(exact[(number, None)] if exact else none),
            }
            for number, n, s, lo, hi in kept
        ]
        totals.update(_exact_fields(exact[(None, None)] if exact else none))
        return {**totals, **_groups_fields(group_by, group_count, kept), "groups": listed}
    # Merged here, as a time series does: grouping ~60k (group, key) rows in SQL
    # sorted them (on disk past work_mem), 5x slower than this.
    parts: dict[int, list[tuple[list, list]]] = {}
    numbered, numbered_params = groups.numbered()
    for number, keys, counts in _fetch_binary(
        f"WITH {numbered}, src AS ({sql}) "
        "SELECT g.i, src.ks, src.cs FROM src JOIN g ON g.h = src.h",
        numbered_params + params,
    ):
        parts.setdefault(number, []).append((keys, counts))
    sketches = {number: merge_sketches(p) for number, p in parts.items()}
    if len(kept) == group_count:
        total_keys, total_counts = merge_sketches(list(sketches.values()))
    else:  # the groups left out count in the totals too
        sql, params = _sources(name, cover_, _labels(name, tags), merged=True)
        cursor.execute(_merged_sketch_sql(sql), params)
        rows = cursor.fetchall()
        total_keys, total_counts = [r[0] for r in rows], [r[1] for r in rows]
    totals = _summary(count, total, low, high, total_keys, total_counts)
    listed = [
        {"value": groups.values[number], **_summary(n, s, lo, hi, *sketches[number])}
        for number, n, s, lo, hi in kept
    ]
    return {**totals, **_groups_fields(group_by, group_count, kept), "groups": listed}


AGGREGATES = ("avg", "sum", "min", "max", "count", "p50", "p95", "p99")


def _bucket_value(agg: str, count: int, total: float, low: float, high: float, sketch) -> float:
    if agg == "avg":
        return total / count
    if agg == "sum":
        return total
    if agg == "min":
        return low
    if agg == "max":
        return high
    if agg == "count":
        return count
    q = int(agg[1:]) / 100
    keys, counts = sketch
    return quantiles(keys, counts, [q], low=low, high=high)[q]


BucketRows = tuple[list[tuple], dict[tuple, tuple[list, list]]]


def _bucket_rows(
    cursor, sql: str, params: list, bucket: str, agg: str, groups: tuple[str, list] | None = None
) -> BucketRows:
    """(group number or None, bucket start, count, sum, min, max) rows, and for a
    percentile the merged sketch of each (group, bucket); `groups` is a `g(h, i)` CTE
    (Groups.numbered()) for per-series rows."""
    if groups is None:
        group, source, ctes = "NULL::int", "src", (f"src AS ({sql})", params)
    else:
        group, source = "g.i", "src JOIN g ON g.h = src.h"
        ctes = (f"{groups[0]}, src AS ({sql})", groups[1] + params)
    stats = _fetch_binary(
        f"WITH {ctes[0]} SELECT {group} AS v, {bucket} AS b, sum(src.count)::bigint, "
        f"sum(src.sum), min(src.min), max(src.max) FROM {source} GROUP BY v, b ORDER BY v, b",
        ctes[1],
    )
    sketches: dict[tuple, tuple[list, list]] = {}
    if agg.startswith("p"):
        # Sketch arrays come back whole and merge here: most output buckets are
        # one rollup row, and unnesting them all in SQL cost ~100x more.
        parts: dict[tuple, list[tuple[list, list]]] = {}
        for v, b, keys, counts in _fetch_binary(
            f"WITH {ctes[0]} SELECT {group} AS v, {bucket} AS b, src.ks, src.cs FROM {source}",
            ctes[1],
        ):
            parts.setdefault((v, b), []).append((keys, counts))
        sketches = {vb: merge_sketches(p) for vb, p in parts.items()}
    return stats, sketches


def _merged_groups(rows: list[tuple], sketches: dict) -> BucketRows:
    """The groups' bucket rows added up into one series (every group is in `rows`)."""
    totals: dict[datetime, list] = {}
    parts: dict[datetime, list] = {}
    for v, b, count, total, low, high in rows:
        acc = totals.get(b)
        if acc is None:
            totals[b] = [None, b, count, total, low, high]
        else:
            acc[2] += count
            acc[3] += total
            acc[4], acc[5] = min(acc[4], low), max(acc[5], high)
        if sketches:
            parts.setdefault(b, []).append(sketches[(v, b)])
    merged = {(None, b): merge_sketches(p) for b, p in parts.items()}
    return [tuple(totals[b]) for b in sorted(totals)], merged


def _as_buckets(rows: list[tuple], sketches: dict, agg: str) -> dict[int | None, list[dict]]:
    """{start, count, value} per bucket, per group number."""
    result: dict[int | None, list[dict]] = {}
    for v, b, count, total, low, high in rows:
        value = _bucket_value(agg, count, total, low, high, sketches.get((v, b)))
        result.setdefault(v, []).append({"start": b, "count": count, "value": value})
    return result


def _exact_series(
    cursor,
    name: str,
    window: Window,
    agg: str,
    bucket: str,
    rows: list[tuple],
    *,
    labels: Labels = None,
    groups: Groups | None = None,
    filtered: bool = False,
) -> dict[tuple, float] | None:
    """A percentile series' bucket values (group number or None, bucket start) exact from
    raw points when the window holds few of them; None: keep the sketches' values."""
    if not agg.startswith("p") or not rows:
        return None
    q = int(agg[1:]) / 100
    exact = exact_percentiles(
        cursor,
        name=name,
        start=window.start,
        end=window.end,
        qs=[q],
        expected={(v, b): count for v, b, count, *_ in rows},
        labels=None if groups is not None else labels,
        groups=groups.numbered(every=True) if groups is not None else None,
        bucket=bucket,
        filtered=filtered,
    )
    return None if exact is None else {key: values[0] for key, values in exact.items()}


def _use_exact(exact: dict[tuple, float] | None, by_group: dict) -> None:
    """Replace bucket values of `_as_buckets` output by their exact ones."""
    for v, buckets in by_group.items() if exact else ():
        for item in buckets:
            item["value"] = exact[(v, item["start"])]


def _series_levels(interval: Interval) -> tuple[str, ...]:
    """The rollups read for a time series: those whose buckets lie whole inside one of
    the interval's (whole days: day, hour and minute rollups; whole hours: hour and
    minute; any other interval: minute rollups), coarsest first."""
    return tuple(r for r in ("d", "h", "m") if interval.whole(UNITS[r]))


def _filler(window: Window, interval: Interval, fill: str, agg: str):
    """The window's buckets, the empty ones as `fill` says (`zero`: count 0 and value 0;
    `null`: count 0 and value null; `none`: left out)."""
    zero = 0 if agg == "count" else 0.0

    def empty(start: datetime, how: str) -> dict:
        return {"start": start, "count": 0, "value": zero if how == "zero" else None}

    def fill_in(buckets: list[dict]) -> list[dict]:
        return filled(
            buckets,
            start=window.start,
            end=window.end,
            interval=interval,
            fill=fill,
            key=lambda b: b["start"],
            empty=empty,
        )

    return fill_in


def metric_time_series(
    *,
    name: str,
    interval: str | Interval,
    agg: str,
    hours: int | None = None,
    tags: dict[str, str] | None = None,
    now: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: str | None = None,
    fill: str = "none",
) -> dict:
    """Buckets of `interval` (apps.core.windows grammar) aligned from Monday 2000-01-03
    00:00 UTC (so 1d at midnight, 1w on ISO Mondays), each with its start, count and
    the aggregate's value; with `group_by`, one bucket list per tag value too. `fill`
    `zero`/`null` also answers the window's empty buckets (see _filler)."""
    if isinstance(interval, str):
        interval = parse_interval(interval)
    window = Window.of(hours=hours, since=since, until=until, now=now)
    levels = _series_levels(interval)
    bucket = interval.date_bin_sql("src.t")
    fill_in = _filler(window, interval, fill, agg)
    body = {
        "metric_name": name,
        **window.fields(),
        "interval": interval.text,
        "agg": agg,
        "tags": tags or {},
        "buckets": [],
    }
    with _read(name) as cursor:
        if group_by is None:
            labels = _labels(name, tags or {})
            sql, params = _sources(name, _read_plan(cursor, name, window, levels), labels)
            rows, sketches = _bucket_rows(cursor, sql, params, bucket, agg)
            by_group = _as_buckets(rows, sketches, agg)
            exact = _exact_series(cursor, name, window, agg, bucket, rows, labels=labels)
            _use_exact(exact, by_group)
            body["buckets"] = fill_in(by_group.get(None, []))
            return body
        groups = Groups(name, tags or {}, group_by)
        dirty_from, parked = _pending(cursor, name, window.start, window.end)
        held = retained(name)
        cover_ = plan(
            window.start, window.end, dirty_from=dirty_from, parked=parked, levels=levels, kept=held
        )
        sql, params = _sources(name, cover_, None, per_series=True)
        values = groups.distinct_values(cursor, MAX_GROUPS + 1)
        if len(values) > MAX_GROUPS:  # only then can groups be left out
            # Ranked over the window as a whole: its coarsest rollups, whatever the interval.
            whole = plan(window.start, window.end, dirty_from=dirty_from, parked=parked, kept=held)
            sums, sums_params = _sources(name, whole, None, per_series=True, summed=True)
            kept, group_count, _ = groups.ranked(cursor, sums, sums_params)
        else:  # numbered in value order, so ranking ties break by value
            groups.values = values
        kept_sets = groups.kept_sets(cursor)
        if kept_sets is None:
            rows, sketches = _bucket_rows(cursor, sql, params, bucket, agg, groups.numbered())
        else:
            only_sql, only_params = _sources(name, cover_, None, per_series=True, only=kept_sets[1])
            rows, sketches = _bucket_rows(cursor, only_sql, only_params, bucket, agg, kept_sets[0])
        if len(values) <= MAX_GROUPS:
            counts: dict[int, int] = {}
            for row in rows:
                counts[row[0]] = counts.get(row[0], 0) + row[2]
            kept = _ranked(list(counts.items()))
            group_count = len(kept)
        if len(kept) == group_count:
            totals = _merged_groups(rows, sketches)
        else:  # the groups left out count in the totals too
            sql, params = _sources(name, cover_, _labels(name, tags or {}))
            totals = _bucket_rows(cursor, sql, params, bucket, agg)
        exact = _exact_series(
            cursor, name, window, agg, bucket, rows + totals[0], groups=groups, filtered=bool(tags)
        )
    body["buckets"] = _as_buckets(*totals, agg).get(None, [])
    grouped = _as_buckets(rows, sketches, agg)
    _use_exact(exact, {None: body["buckets"], **grouped})
    body["buckets"] = fill_in(body["buckets"])
    listed = [
        {"value": groups.values[number], "buckets": fill_in(grouped.get(number, []))}
        for number, *_ in kept
    ]
    return {**body, **_groups_fields(group_by, group_count, kept), "groups": listed}


def performance_summary(*, hours: int) -> dict:
    """API response times, error rate and throughput (from the request log), plus metric volume."""
    since = window_start(hours)
    hour = floor(since, "h")
    hours_sql, params = (
        f"SELECT metric_name, count FROM {ROLLUP} "
        "WHERE resolution = 'h' AND tags_hash = 0 AND bucket_start >= %s",
        [hour],
    )
    if reads_packed(hour, "h"):  # and the hours packed (apps.metrics.rollup_blocks)
        packed = merged_sql("tags_hash = 0", sketch=False)
        hours_sql += f" UNION ALL SELECT metric_name, count FROM ({packed}) u"
        params += merged_params([("h", hour, timezone.now())])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT metric_name, sum(count)::bigint FROM ({hours_sql}) v "
            "GROUP BY metric_name ORDER BY 2 DESC LIMIT 50",
            params,
        )
        volume = cursor.fetchall()
    return {
        "period_hours": hours,
        "since": since,
        "api": request_summary(since=since, hours=hours),
        "metrics": [{"metric_name": name, "count": count} for name, count in volume],
    }


# Figures an alert rule may read: a statistics field, or `rate` (sum per second).
PERCENTILE_AGGREGATIONS = ("p50", "p95", "p99")


def metric_value(
    *, name: str, aggregation: str, since: datetime, until: datetime, tags: dict | None = None
) -> float | None:
    """One figure of a metric over [since, until), for alert rules; None means no data."""
    stats = metric_window_stats(
        name=name,
        tags=tags,
        since=since,
        until=until,
        percentiles=aggregation in PERCENTILE_AGGREGATIONS,
    )
    return value_of(stats, aggregation, (until - since).total_seconds())


def metric_window_stats(
    *, name: str, since: datetime, until: datetime, tags: dict | None = None, percentiles: bool
) -> dict | None:
    """The statistics of a window, or None for a metric never recorded (or no series
    matching the tags): no data whatever the aggregation. Rules watching the same
    window share one call and take their figure with `value_of`."""
    stats = metric_statistics(
        name=name, tags=tags or {}, since=since, until=until, percentiles=percentiles
    )
    if stats["count"] == 0 and not _known(name, tags or {}):
        return None
    return stats


def value_of(stats: dict | None, aggregation: str, seconds: float) -> float | None:
    """A known metric with no point in the window counts 0 (count, sum, rate) but has
    no average, extreme or percentile."""
    if stats is None:
        return None
    if aggregation == "rate":
        return (stats["sum"] or 0.0) / seconds if seconds > 0 else None
    if aggregation in ("count", "sum"):
        return float(stats[aggregation] or 0)
    return stats[aggregation]


def _known(name: str, tags: dict) -> bool:
    sql = f"SELECT 1 FROM {SERIES} WHERE metric_name = %s"
    params: list = [name]
    if tags:
        sql += " AND tags @> %s::jsonb"
        params.append(orjson.dumps(tags).decode())
    with connection.cursor() as cursor:
        cursor.execute(sql + " LIMIT 1", params)
        return cursor.fetchone() is not None


MAX_LISTED = 1000


class Mode(Aggregate):
    """PostgreSQL's mode(): the most common value (ties: the smallest)."""

    function = "mode"
    template = "%(function)s() WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = CharField()


def metric_names(*, search: str = "", limit: int = 100) -> dict:
    """The recorded metrics whose name contains `search` (any case), in name order: each
    with its type and unit (the most common over its series), how many label sets it
    has and its tag keys (for the metric explorer's choices)."""
    series = MetricSeries.objects.all()
    if search:
        series = series.filter(metric_name__icontains=search)
    rows = list(
        series.values("metric_name")
        .annotate(
            series=Count("id"),
            type=Mode("metric_type"),
            unit=Mode("unit"),
        )
        .order_by("metric_name")[: limit + 1]
    )
    listed = rows[:limit]
    keys: dict[str, list[str]] = {}
    for metric, key in (
        MetricTagKey.objects.filter(metric_name__in=[r["metric_name"] for r in listed])
        .order_by("metric_name", "tag_key")
        .values_list("metric_name", "tag_key")
    ):
        keys.setdefault(metric, []).append(key)
    return {
        "metrics": [
            {
                "name": r["metric_name"],
                "type": r["type"],
                "unit": r["unit"],
                "series": r["series"],
                "tag_keys": keys.get(r["metric_name"], []),
            }
            for r in listed
        ],
        "truncated": len(rows) > limit,
    }


def tag_values(*, name: str, key: str, search: str = "", limit: int = 100) -> dict:
    """The values of tag `key` among the metric's label sets, those containing `search`
    (any case): the most used (by label sets) first, then by value."""
    sql = (
        f'SELECT (tags ->> %s) COLLATE "C", count(*) FROM {SERIES} '
        "WHERE metric_name = %s AND tags ->> %s IS NOT NULL"
    )
    params: list = [key, name, key]
    if search:
        sql += " AND strpos(lower(tags ->> %s), lower(%s)) > 0"
        params += [key, search]
    sql += " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit + 1])
        rows = cursor.fetchall()
    return {
        "metric_name": name,
        "tag_key": key,
        "values": [{"value": v, "series": n} for v, n in rows[:limit]],
        "truncated": len(rows) > limit,
    }
