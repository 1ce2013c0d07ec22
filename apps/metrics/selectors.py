"""Statistics and time series from rollups plus raw edges: exact count/sum/min/max,
percentiles within 1%.

A window is covered by the coarsest buckets that fit inside it (days, then
hours, then minutes) and raw points for the sub-minute edges. Minutes with
points newer than their rollup (dirty) and everything after them are read
raw, and the read runs in one REPEATABLE READ snapshot, so answers are exact
whatever the roller is doing.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
import psycopg
from django.db import connection, transaction
from django.utils import timezone

from apps.core.query import window_start

from .rollups import DIRTY, POINTS, ROLLUP
from .sketch import key_sql, merge_sketches, quantiles

UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
INTERVALS = {"1m": "m", "5m": "m", "1h": "h", "1d": "d"}
INTERVAL_SQL = {"1m": "1 minute", "5m": "5 minutes", "1h": "1 hour", "1d": "1 day"}


def _floor(moment: datetime, res: str) -> datetime:
    if res == "m":
        return moment.replace(second=0, microsecond=0)
    if res == "h":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil(moment: datetime, res: str) -> datetime:
    floored = _floor(moment, res)
    return floored if floored == moment else floored + UNITS[res]


@dataclass
class Cover:
    rollups: list[tuple[str, datetime, datetime]]
    raw: list[tuple[datetime, datetime]]


def cover(start: datetime, end: datetime, *, levels: tuple[str, ...] = ("d", "h", "m")) -> Cover:
    """Split [start, end) into whole buckets, coarsest first, and raw leftovers."""
    result = Cover(rollups=[], raw=[])

    def split(lo: datetime, hi: datetime, remaining: tuple[str, ...]) -> None:
        if lo >= hi:
            return
        if not remaining:
            result.raw.append((lo, hi))
            return
        res, finer = remaining[0], remaining[1:]
        a, b = _ceil(lo, res), _floor(hi, res)
        if a < b:
            result.rollups.append((res, a, b))
            split(lo, a, finer)
            split(b, hi, finer)
        else:
            split(lo, hi, finer)

    split(start, end, levels)
    return result


def _series_hashes(cursor, name: str, tags: dict[str, str]) -> list[int] | None:
    """The label sets matching every tag; None means 'all series' (no filter)."""
    if not tags:
        return None
    cursor.execute(
        "SELECT tags_hash FROM metrics_metricseries WHERE metric_name = %s AND tags @> %s::jsonb",
        [name, orjson.dumps(tags).decode()],
    )
    return [row[0] for row in cursor.fetchall()]


def _sources(name: str, start: datetime, end: datetime, hashes, dirty_from, levels):
    """SQL selecting (t, count, sum, min, max, keys, counts) rows covering the window."""
    rolled_end = min(end, dirty_from) if dirty_from else end
    plan = cover(start, max(start, rolled_end), levels=levels)
    raw = list(plan.raw)
    if rolled_end < end:
        raw.append((max(start, rolled_end), end))
    parts, params = [], []
    if plan.rollups:
        ranges = " OR ".join(
            "(resolution = %s AND bucket_start >= %s AND bucket_start < %s)" for _ in plan.rollups
        )
        parts.append(
            f"SELECT bucket_start AS t, count, sum, min, max, sketch_keys AS ks, "
            f"sketch_counts AS cs FROM {ROLLUP} "
            f"WHERE metric_name = %s AND tags_hash = ANY(%s) AND ({ranges})"
        )
        params += [name, hashes if hashes is not None else [0]]
        for piece in plan.rollups:
            params += list(piece)
    if raw:
        ranges = " OR ".join('("timestamp" >= %s AND "timestamp" < %s)' for _ in raw)
        tag_filter = " AND tags_hash = ANY(%s)" if hashes is not None else ""
        parts.append(
            f'SELECT "timestamp" AS t, 1::bigint AS count, value AS sum, value AS min, '
            f"value AS max, ARRAY[{key_sql('value')}] AS ks, ARRAY[1::bigint] AS cs "
            f"FROM {POINTS} "
            f"WHERE metric_name = %s{tag_filter} AND ({ranges})"
        )
        params.append(name)
        if hashes is not None:
            params.append(hashes)
        for lo, hi in raw:
            params += [lo, hi]
    return " UNION ALL ".join(parts), params


@contextmanager
def _snapshot():
    """One REPEATABLE READ transaction, so dirty marks, rollups and raw rows agree.

    Inside an outer transaction (tests, ATOMIC_REQUESTS) the outer one is used as is.
    """
    outer = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if not outer:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield cursor


def _fetch_binary(sql: str, params: list) -> list[tuple]:
    """Rows in PostgreSQL's binary format, on the current transaction.

    Django's cursors bind client-side and read text; int arrays parse ~3x faster
    in binary, which is most of the cost of a percentile time series.
    """
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()


def _dirty_from(cursor, name: str) -> datetime | None:
    cursor.execute(f"SELECT min(bucket_start) FROM {DIRTY} WHERE metric_name = %s", [name])
    return cursor.fetchone()[0]


QS = (0.5, 0.95, 0.99)


def metric_statistics(
    *, name: str, hours: int, tags: dict[str, str] | None = None, now: datetime | None = None
) -> dict:
    """count, avg, min, max, sum, p50, p95, p99 of a metric over the last `hours`."""
    end = now or timezone.now()
    start = window_start(hours, now=end)
    body = {"metric_name": name, "period_hours": hours, "tags": tags or {}, "since": start}
    empty = {"count": 0, "avg": None, "min": None, "max": None, "sum": 0.0}
    with _snapshot() as cursor:
        hashes = _series_hashes(cursor, name, tags or {})
        if hashes == []:
            return {**body, **empty, **{f"p{int(q * 100)}": None for q in QS}}
        sql, params = _sources(name, start, end, hashes, _dirty_from(cursor, name), ("d", "h", "m"))
        cursor.execute(
            f"WITH src AS ({sql}) SELECT sum(count)::bigint, sum(sum), min(min), max(max) FROM src",
            params,
        )
        count, total, low, high = cursor.fetchone()
        if not count:
            return {**body, **empty, **{f"p{int(q * 100)}": None for q in QS}}
        cursor.execute(
            f"WITH src AS ({sql}) SELECT u.k, sum(u.c)::bigint FROM src, unnest(src.ks, src.cs) "
            f"AS u(k, c) GROUP BY u.k ORDER BY u.k",
            params,
        )
        rows = cursor.fetchall()
    qs = quantiles([r[0] for r in rows], [r[1] for r in rows], QS, low=low, high=high)
    return {
        **body,
        "count": count,
        "avg": total / count,
        "min": low,
        "max": high,
        "sum": total,
        **{f"p{int(q * 100)}": qs[q] for q in QS},
    }


AGGREGATES = ("avg", "sum", "min", "max", "count", "p50", "p95", "p99")


def metric_time_series(
    *,
    name: str,
    hours: int,
    interval: str,
    agg: str,
    tags: dict[str, str] | None = None,
    now: datetime | None = None,
) -> dict:
    """Buckets aligned to `interval`, each with its start, count and the aggregate's value."""
    end = now or timezone.now()
    start = window_start(hours, now=end)
    step = INTERVAL_SQL[interval]
    coarsest = INTERVALS[interval]
    levels = tuple(r for r in ("d", "h", "m") if UNITS[r] <= UNITS[coarsest])
    body = {
        "metric_name": name,
        "period_hours": hours,
        "interval": interval,
        "agg": agg,
        "tags": tags or {},
        "since": start,
        "buckets": [],
    }
    with _snapshot() as cursor:
        hashes = _series_hashes(cursor, name, tags or {})
        if hashes == []:
            return body
        sql, params = _sources(name, start, end, hashes, _dirty_from(cursor, name), levels)
        bucket = f"date_bin(interval '{step}', src.t, timestamptz '2000-01-01')"
        cursor.execute(
            f"WITH src AS ({sql}) SELECT {bucket} AS b, sum(count)::bigint, sum(sum), min(min), "
            f"max(max) FROM src GROUP BY b ORDER BY b",
            params,
        )
        stats = cursor.fetchall()
        sketches: dict[datetime, tuple[list, list]] = {}
        if agg.startswith("p"):
            # Sketch arrays come back whole and merge here: most output buckets are
            # one rollup row, and unnesting them all in SQL cost ~100x more.
            parts: dict[datetime, list[tuple[list, list]]] = {}
            for b, keys, counts in _fetch_binary(
                f"WITH src AS ({sql}) SELECT {bucket} AS b, ks, cs FROM src", params
            ):
                parts.setdefault(b, []).append((keys, counts))
            sketches = {b: merge_sketches(p) for b, p in parts.items()}
    q = int(agg[1:]) / 100 if agg.startswith("p") else None
    for b, count, total, low, high in stats:
        if agg == "avg":
            value = total / count
        elif agg == "sum":
            value = total
        elif agg == "min":
            value = low
        elif agg == "max":
            value = high
        elif agg == "count":
            value = count
        else:
            keys, counts = sketches[b]
            value = quantiles(keys, counts, [q], low=low, high=high)[q]
        body["buckets"].append({"start": b, "count": count, "value": value})
    return body


def performance_summary(*, hours: int) -> dict:
    """API response times, error rate and throughput from the request log, plus metric volume."""
    from django.db.models import Avg, Count, Q

    from apps.core.query import Percentile, ratio, rounded
    from apps.requestlog.models import APIRequestLog

    since = window_start(hours)
    logs = APIRequestLog.objects.filter(timestamp__gte=since)
    api = logs.aggregate(
        total=Count("id"),
        avg=Avg("response_time_ms"),
        p50=Percentile("response_time_ms", 0.5),
        p95=Percentile("response_time_ms", 0.95),
        p99=Percentile("response_time_ms", 0.99),
        errors=Count("id", filter=Q(status_code__gte=400)),
        server_errors=Count("id", filter=Q(status_code__gte=500)),
    )
    slowest = (
        logs.values("endpoint")
        .annotate(n=Count("id"), p95=Percentile("response_time_ms", 0.95))
        .order_by("-p95")[:10]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT metric_name, sum(count)::bigint FROM {ROLLUP} "
            "WHERE resolution = 'h' AND tags_hash = 0 AND bucket_start >= %s "
            "GROUP BY metric_name ORDER BY 2 DESC LIMIT 50",
            [since.replace(minute=0, second=0, microsecond=0)],
        )
        volume = cursor.fetchall()
    return {
        "period_hours": hours,
        "since": since,
        "api": {
            "total_requests": api["total"],
            "requests_per_minute": round(api["total"] / (hours * 60), 3),
            "avg_response_time_ms": rounded(api["avg"]),
            "p50_response_time_ms": rounded(api["p50"]),
            "p95_response_time_ms": rounded(api["p95"]),
            "p99_response_time_ms": rounded(api["p99"]),
            "error_rate": ratio(api["errors"], api["total"]),
            "server_error_rate": ratio(api["server_errors"], api["total"]),
            "slowest_endpoints": [
                {
                    "endpoint": row["endpoint"],
                    "request_count": row["n"],
                    "p95_response_time_ms": rounded(row["p95"]),
                }
                for row in slowest
            ],
        },
        "metrics": [{"metric_name": name, "count": count} for name, count in volume],
    }
