"""The metric explorer: one metric's chart (a line per group plus the total) and its
statistics, for the query its URL holds.

The page reads the public API itself with the staff session (`CanRead` accepts a staff
session for reads): the names and tag values for its choices, then the time series and
the statistics. So the chart, the table and the CSV/JSON links are the API's answers,
to the number. This view only hands the page the API's bounds, so the page picks an
interval the API accepts.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from apps.metrics import selectors as metrics
from apps.metrics.retention import longest_kept_days

from .pages import console_page, context, page_named

# The windows offered, in hours (those over the API's `hours` bound are sent as from/to).
WINDOWS = (("1h", 1), ("6h", 6), ("24h", 24), ("7d", 168), ("30d", 720), ("90d", 2160))
# Intervals the page chooses from (auto: the narrowest giving at most TARGET_POINTS).
INTERVALS = ("1m", "2m", "5m", "10m", "15m", "30m", "1h", "2h", "3h", "6h", "12h", "1d", "1w")
TARGET_POINTS = 300


@console_page("metrics")
def explorer(request: HttpRequest) -> HttpResponse:
    config = {
        "api": {
            "names": reverse("metric-names"),
            "series": "/api/v1/analytics/metrics/{name}/time-series",
            "statistics": "/api/v1/analytics/metrics/{name}/statistics",
            "values": "/api/v1/analytics/metrics/{name}/tags/{key}/values",
        },
        "aggregates": list(metrics.AGGREGATES),
        "windows": [{"key": key, "hours": hours} for key, hours in WINDOWS],
        "intervals": list(INTERVALS),
        "target_points": TARGET_POINTS,
        "max_hours": metrics.MAX_HOURS,
        "max_buckets": metrics.MAX_BUCKETS,
        "max_grouped_buckets": metrics.MAX_GROUPED_BUCKETS,
        "retention_days": longest_kept_days(),
        "alert_add": (
            reverse("admin:alerts_alertrule_add")
            if request.user.has_perm("alerts.add_alertrule")
            else None
        ),
    }
    return render(
        request,
        "console/metrics.html",
        context(request, page_named("metrics"), config=config),
    )
