"""The overview's panels, each read through the selectors of the app that owns the figures
(the ones its JSON API answers with), never from their tables. Each chart carries the
API request that answers the same numbers (`api`), so a chart and an API answer agree.
"""

from datetime import datetime
from urllib.parse import urlencode

from django.utils import timezone

from apps.ai.selectors import assistant_costs
from apps.alerts.models import Severity
from apps.alerts.selectors import open_incident_counts
from apps.live.feeds import DashboardStats
from apps.metrics.selectors import metric_time_series
from apps.monitoring.selectors import health_summary, host_figures
from apps.monitoring.system import INGEST_COUNTERS
from apps.usage.selectors import active_users

WINDOW_HOURS = 24
HOST_INTERVAL = "5m"  # 288 points a day: the per-minute gauges, averaged
TRAFFIC_INTERVAL = "15m"  # 96 points a day
TRAFFIC_MINUTES = 15
HOST_METRICS = (
    ("cpu_percent", "CPU", "%"),
    ("memory_percent", "Memory", "%"),
    ("disk_percent", "Disk /", "%"),
)
REQUEST_COUNT = "api_request_count"
REQUEST_DURATION = "api_request_duration_ms"
AI_HOURS = 24
INGEST_HOURS = 6
INGEST_INTERVAL = "5m"  # 72 points: the per-minute increments, averaged
INGEST_TITLES = {"accepted": "Accepted", "rejected": "Rejected"}


def _api(name: str, **query) -> str:
    """The public time-series request answering the same buckets."""
    params = []
    for key, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            params.append((key, item))
    return f"/api/v1/analytics/metrics/{name}/time-series?{urlencode(params)}"


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _points(buckets: list[dict], scale: float = 1.0) -> list[list]:
    return [
        [_epoch(b["start"]), None if b["value"] is None else b["value"] * scale] for b in buckets
    ]


def _samples(buckets: list[dict]) -> int:
    """Points recorded in the window: 0 draws the empty state, not a line of zeros."""
    return sum(b["count"] for b in buckets)


def host_panel(*, now: datetime | None = None) -> dict:
    """This machine now (as GET /api/v1/analytics/metrics answers) and its system.*
    gauges over the last 24 h, 5-minute averages of this host's series."""
    now = now or timezone.now()
    figures = host_figures()
    charts = []
    for name, label, unit in HOST_METRICS:
        metric = f"system.{name}"
        query = {"hours": WINDOW_HOURS, "interval": HOST_INTERVAL, "agg": "avg", "fill": "null"}
        series = metric_time_series(
            name=metric,
            interval=HOST_INTERVAL,
            agg="avg",
            hours=WINDOW_HOURS,
            tags={"host": figures["host"]},
            fill="null",
            now=now,
        )
        charts.append(
            {
                "key": name,
                "title": label,
                "metric": metric,
                "unit": unit,
                "now": figures[name],
                "api": _api(metric, **query, tag=f"host:{figures['host']}"),
                "samples": _samples(series["buckets"]),
                "points": _points(series["buckets"]),
            }
        )
    return {"host": figures, "charts": charts, "generated_at": now}


def traffic_panel(*, now: datetime | None = None) -> dict:
    """Requests per minute, p95 latency and error rate in 15-minute buckets over 24 h, from
    the metric points every stored request log becomes (api_request_count and
    api_request_duration_ms, see apps.requestlog.derive)."""
    now = now or timezone.now()
    common = {"hours": WINDOW_HOURS, "interval": TRAFFIC_INTERVAL}
    counts = metric_time_series(
        name=REQUEST_COUNT,
        interval=TRAFFIC_INTERVAL,
        agg="sum",
        hours=WINDOW_HOURS,
        group_by="status",
        fill="zero",
        now=now,
    )
    latency = metric_time_series(
        name=REQUEST_DURATION,
        interval=TRAFFIC_INTERVAL,
        agg="p95",
        hours=WINDOW_HOURS,
        fill="null",
        now=now,
    )
    errors: dict[datetime, float] = {}
    for group in counts.get("groups", []):
        if _status_at_least(group["value"], 400):
            for bucket in group["buckets"]:
                errors[bucket["start"]] = errors.get(bucket["start"], 0.0) + (bucket["value"] or 0)
    error_rate = [
        [
            _epoch(b["start"]),
            (100 * errors.get(b["start"], 0.0) / b["value"]) if b["value"] else None,
        ]
        for b in counts["buckets"]
    ]
    count_api = _api(REQUEST_COUNT, **common, agg="sum", group_by="status", fill="zero")
    return {
        "charts": [
            {
                "key": "request_rate",
                "title": "Requests",
                "metric": REQUEST_COUNT,
                "unit": "req/min",
                "api": count_api,
                "samples": _samples(counts["buckets"]),
                "points": _points(counts["buckets"], 1 / TRAFFIC_MINUTES),
            },
            {
                "key": "p95_latency",
                "title": "p95 latency",
                "metric": REQUEST_DURATION,
                "unit": "ms",
                "api": _api(REQUEST_DURATION, **common, agg="p95", fill="null"),
                "samples": _samples(latency["buckets"]),
                "points": _points(latency["buckets"]),
            },
            {
                "key": "error_rate",
                "title": "Errors (status >= 400)",
                "metric": REQUEST_COUNT,
                "unit": "%",
                "api": count_api,
                "samples": _samples(counts["buckets"]),
                "points": error_rate,
            },
        ],
        "generated_at": now,
    }


def _status_at_least(status: str | None, floor: int) -> bool:
    try:
        return int(status or "") >= floor
    except ValueError:
        return False


def ingest_panel(*, now: datetime | None = None) -> dict:
    """Items accepted and rejected per second over the last 6 h, from the per-minute
    counters beat records (apps.monitoring.system.INGEST_COUNTERS): each 5-minute bucket's
    average increment / 60, so a partly recorded bucket is not read low. The overview
    draws them at once and appends the live feed's rates after."""
    now = now or timezone.now()
    query = {"hours": INGEST_HOURS, "interval": INGEST_INTERVAL, "agg": "avg", "fill": "null"}
    charts = []
    for outcome, metric in INGEST_COUNTERS.items():
        series = metric_time_series(
            name=metric,
            interval=INGEST_INTERVAL,
            agg="avg",
            hours=INGEST_HOURS,
            fill="null",
            now=now,
        )
        charts.append(
            {
                "key": outcome,
                "title": INGEST_TITLES[outcome],
                "metric": metric,
                "unit": "items/s",
                "api": _api(metric, **query),
                "samples": _samples(series["buckets"]),
                "points": _points(series["buckets"], 1 / 60),
            }
        )
    return {"hours": INGEST_HOURS, "interval": INGEST_INTERVAL, "charts": charts}


def incidents_panel() -> dict:
    """Unresolved incidents per severity, every severity listed (0 when none)."""
    counts = open_incident_counts()
    by_severity = {severity: counts.get(severity, 0) for severity in reversed(Severity.values)}
    return {"open": sum(by_severity.values()), "by_severity": by_severity}


def services_panel() -> dict:
    """Every enabled monitored service's last status (GET .../monitoring/health)."""
    return health_summary()


def ai_panel(*, now: datetime | None = None) -> dict:
    """AI requests and estimated cost over the last 24 h (GET .../costs?hours=24)."""
    costs = assistant_costs(hours=AI_HOURS, now=now)
    return {
        "hours": AI_HOURS,
        "requests": sum(row["requests"] for row in costs),
        "cost_usd": round(sum(row["estimated_cost_usd"] for row in costs), 6),
        "unpriced_tokens": sum(row["unpriced_tokens"] for row in costs),
        "assistants": costs[:5],
    }


def users_panel(*, now: datetime | None = None) -> dict:
    """Users seen today (UTC day), this week and month (GET .../users/active?days=1)."""
    found = active_users(days=1, now=now)
    return {"dau": found["dau"], "wau": found["wau"], "mau": found["mau"]}


# One reader of the cumulative ingest counts per process: its rates are over the span
# since the previous poll, as the feed's are since its previous push.
_dashboard_stats = DashboardStats()


def live_panel() -> dict:
    """What the live feed pushes as DASHBOARD_STATS, computed the same way: the console's
    answer when the WebSocket cannot be reached."""
    return _dashboard_stats()


PANEL_READERS = {
    "live": live_panel,
    "ingest": ingest_panel,
    "host": host_panel,
    "traffic": traffic_panel,
    "incidents": incidents_panel,
    "services": services_panel,
    "ai": ai_panel,
    "users": users_panel,
}


def panel(key: str) -> dict:
    return PANEL_READERS[key]()
