"""What the live feed pushes: each feed computes its `data` from other apps' selectors
and renders it through its serializer, the shape its REST twin answers."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import orjson
from django.conf import settings
from django.utils import timezone

from apps.ai.selectors import advanced_analytics
from apps.ai.serializers import AdvancedOut, AdvancedQuery
from apps.alerts.selectors import open_incident_counts
from apps.core.api import validated
from apps.ingest.selectors import items_outcome_totals
from apps.monitoring.selectors import system_health
from apps.requestlog.selectors import request_period_figures

from .serializers import DashboardStatsOut

ADVANCED = "ADVANCED_ANALYTICS_STATS"
DASHBOARD = "DASHBOARD_STATS"
REQUEST_WINDOW_SECONDS = 300


@dataclass(frozen=True)
class Feed:
    type: str
    seconds: float
    compute: Callable[[], dict]  # the message's `data`, already through its serializer

    def message(self) -> str:
        return orjson.dumps({"type": self.type, "data": self.compute()}).decode()


def advanced_stats() -> dict:
    """GET /advanced with every parameter at its default."""
    return AdvancedOut(advanced_analytics(**validated(AdvancedQuery, {}))).data


class DashboardStats:
    """Ingest rate needs two readings of the cumulative counts: this keeps the last one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._previous: tuple[float, dict[str, int]] | None = None

    def _rates(self) -> tuple[float | None, float | None]:
        now, totals = self._clock(), items_outcome_totals()
        previous, self._previous = self._previous, (now, totals)
        if previous is None or now <= previous[0]:
            return None, None
        span = now - previous[0]
        accepted = totals.get("accepted", 0) - previous[1].get("accepted", 0)
        rejected = totals.get("rejected", 0) - previous[1].get("rejected", 0)
        if accepted < 0 or rejected < 0:  # Redis restarted and lost the counts
            return None, None
        return round(accepted / span, 2), round(rejected / span, 2)

    def __call__(self) -> dict:
        ingest_rate, rejected_rate = self._rates()
        incidents = open_incident_counts()
        now = timezone.now()
        requests = request_period_figures(
            since=now - timedelta(seconds=REQUEST_WINDOW_SECONDS), until=now
        )
        return DashboardStatsOut(
            {
                "ingest_rate": ingest_rate,
                "rejected_rate": rejected_rate,
                "requests_per_minute": requests["throughput_per_minute"],
                "error_rate": requests["error_rate"],
                "server_error_rate": requests["server_error_rate"],
                "open_incidents": sum(incidents.values()),
                "open_incidents_by_severity": incidents,
                "health": system_health(),
                "generated_at": now,
            }
        ).data


def default_feeds() -> list[Feed]:
    return [
        Feed(ADVANCED, settings.ANALYTICS_BROADCAST_SECONDS, advanced_stats),
        Feed(DASHBOARD, settings.LIVE_DASHBOARD_SECONDS, DashboardStats()),
    ]
