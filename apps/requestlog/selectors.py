from datetime import UTC, datetime

from django.db import connection
from django.db.models import Avg, Count, Max, Min, Q
from django.db.models.functions import TruncHour

from apps.core.aggregates import Percentile, ratio, rounded
from apps.core.windows import window_start
from apps.metrics.sketch import key_sql

from .models import APIRequestLog


def api_performance(*, hours: int, endpoint: str | None = None, limit: int = 200) -> dict:
    """Per-endpoint request count, response times (avg/min/max/p95) and error rate."""
    since = window_start(hours)
    logs = APIRequestLog.objects.filter(timestamp__gte=since)
    if endpoint:
        logs = logs.filter(endpoint=endpoint)
    stats = dict(
        request_count=Count("id"),
        avg_response_time_ms=Avg("response_time_ms"),
        min_response_time_ms=Min("response_time_ms"),
        max_response_time_ms=Max("response_time_ms"),
        p95_response_time_ms=Percentile("response_time_ms", 0.95),
        error_count=Count("id", filter=Q(status_code__gte=400)),
        server_error_count=Count("id", filter=Q(status_code__gte=500)),
    )
    total = logs.aggregate(**stats)
    rows = logs.values("endpoint").annotate(**stats).order_by("-request_count")[:limit]
    return {
        "period_hours": hours,
        "since": since,
        "endpoint": endpoint,
        "total_requests": total["request_count"],
        **_shape(total, with_counts=False),
        "endpoints": [{"endpoint": row["endpoint"], **_shape(row)} for row in rows],
    }


def _shape(row: dict, *, with_counts: bool = True) -> dict:
    shaped = {
        "avg_response_time_ms": rounded(row["avg_response_time_ms"]),
        "min_response_time_ms": rounded(row["min_response_time_ms"]),
        "max_response_time_ms": rounded(row["max_response_time_ms"]),
        "p95_response_time_ms": rounded(row["p95_response_time_ms"]),
        "error_count": row["error_count"],
        "server_error_count": row["server_error_count"],
        "error_rate": ratio(row["error_count"], row["request_count"]),
    }
    if with_counts:
        shaped = {"request_count": row["request_count"], **shaped}
    return shaped


def request_summary(*, since: datetime, hours: int) -> dict:
    """All requests since `since`: count, throughput, response times, error rates, and the
    ten endpoints slowest at p95."""
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
    return {
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
    }


def request_period_figures(*, since: datetime, until: datetime) -> dict:
    """Request logs of [since, until), in one indexed range read: `api_calls`,
    `avg_response_time_ms`, `error_rate` and `server_error_rate` (shares >= 400, >= 500)
    and `throughput_per_minute`."""
    row = APIRequestLog.objects.filter(timestamp__gte=since, timestamp__lt=until).aggregate(
        total=Count("id"),
        avg=Avg("response_time_ms"),
        errors=Count("id", filter=Q(status_code__gte=400)),
        server_errors=Count("id", filter=Q(status_code__gte=500)),
    )
    minutes = (until - since).total_seconds() / 60
    return {
        "api_calls": row["total"],
        "avg_response_time_ms": rounded(row["avg"]),
        "error_rate": ratio(row["errors"], row["total"]),
        "server_error_rate": ratio(row["server_errors"], row["total"]),
        "throughput_per_minute": round(row["total"] / minutes, 3) if minutes else 0.0,
    }


def request_sketches(*, since: datetime, until: datetime) -> list[dict]:
    """Request logs of [since, until) per endpoint, in the shape a rollup keeps and merges:
    `endpoint`, `requests`, `ms_sum`, `errors` (>= 400), `server_errors` (>= 500), `min_ms`,
    `max_ms`, and the response times' DDSketch (apps.metrics.sketch: `keys` ascending and
    their `counts`), binned in PostgreSQL with the metrics rollups' very arithmetic."""
    logs = APIRequestLog.objects.filter(timestamp__gte=since, timestamp__lt=until)
    sql, params = logs.values("endpoint", "response_time_ms", "status_code").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT endpoint, SUM(n)::bigint, SUM(s), SUM(e)::bigint, SUM(se)::bigint, MIN(lo), "  # noqa: S608
            "MAX(hi), array_agg(k ORDER BY k), array_agg(n ORDER BY k) FROM ("
            f"SELECT endpoint, {key_sql('response_time_ms')} AS k, COUNT(*) AS n, "
            "SUM(response_time_ms) AS s, COUNT(*) FILTER (WHERE status_code >= 400) AS e, "
            "COUNT(*) FILTER (WHERE status_code >= 500) AS se, MIN(response_time_ms) AS lo, "
            f"MAX(response_time_ms) AS hi FROM ({sql}) r GROUP BY 1, 2) b GROUP BY endpoint",
            params,
        )
        names = ("endpoint", "requests", "ms_sum", "errors", "server_errors", "min_ms", "max_ms")
        return [
            {**dict(zip(names, row[:7], strict=True)), "keys": row[7], "counts": row[8]}
            for row in cursor.fetchall()
        ]


def hours_received(*, since: datetime, before: datetime) -> set[datetime]:
    """The hours (UTC) of the timestamps before `before` of the request logs received
    from `since` on: where items arriving late landed (a rollup re-reads them)."""
    late = APIRequestLog.objects.filter(received_at__gte=since, timestamp__lt=before)
    return set(
        late.annotate(hour=TruncHour("timestamp", tzinfo=UTC))
        .order_by()
        .values_list("hour", flat=True)
        .distinct()
    )
