"""Reads of the tracked periods, and the configuration of what events mean."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from apps.alerts.selectors import open_incident_counts
from apps.events.selectors import event_figures, metadata_value_counts
from apps.monitoring.selectors import health_summary
from apps.requestlog.selectors import request_summary
from apps.usage.selectors import user_period_counts

from . import figures
from .models import AgentAnalytics, EventMeaning, Meaning, PlatformMetrics, UserAnalytics
from .periods import PeriodType


def event_types() -> dict[str, tuple[str, ...]]:
    """Each meaning's event types: the admin's override, else INSIGHTS_EVENT_TYPES."""
    types = {m: tuple(settings.INSIGHTS_EVENT_TYPES.get(m, [m])) for m in Meaning.values}
    for meaning, overridden in EventMeaning.objects.values_list("meaning", "event_types"):
        types[meaning] = tuple(overridden)
    return types


def _periods(rows: QuerySet, period_type: str, periods: int) -> list:
    """The latest `periods` rows of that type, oldest first."""
    latest = rows.filter(period_type=period_type).order_by("-period_start")[:periods]
    return list(reversed(latest))


def user_periods(*, user_id: str, period_type: str, periods: int = 1) -> list[UserAnalytics]:
    return _periods(UserAnalytics.objects.filter(user_id=user_id), period_type, periods)


def agent_periods(*, agent_id: str, period_type: str, periods: int = 1) -> list[AgentAnalytics]:
    return _periods(AgentAnalytics.objects.filter(agent_id=agent_id), period_type, periods)


def platform_periods(*, period_type: str, periods: int) -> list[PlatformMetrics]:
    return _periods(PlatformMetrics.objects.all(), period_type, periods)


def user_known(user_id: str) -> bool:
    return UserAnalytics.objects.filter(user_id=user_id).exists()


def agent_known(agent_id: str) -> bool:
    return AgentAnalytics.objects.filter(agent_id=agent_id).exists()


def dashboard(*, days: int, now: datetime | None = None) -> dict:
    """The platform now and over the last `days` days, each part asked of its owner:
    users, agents, contracts and money (live), the tracked daily rows, the API's
    performance, and health and open incidents."""
    now = now or timezone.now()
    window = {"since": now - timedelta(days=days), "until": now}
    types = event_types()
    users = user_period_counts(**window)
    agents = metadata_value_counts(key="agent_id", **window)
    inside = event_figures(**window, figures=figures.dashboard_window_figures(types))
    totals = event_figures(since=None, until=now, figures=figures.contract_totals(types))
    incidents = open_incident_counts()
    return {
        "current_metrics": {
            "users": {k: users[k] for k in ("total", "active", "new")},
            "agents": agents,
            "contracts": {
                "total": totals["created"],
                "active": max(totals["created"] - totals["closed"], 0),
                "completed": inside["completed"],
            },
            "financial": {
                "revenue": inside["revenue"] or 0.0,
                "platform_fees": inside["platform_fees"] or 0.0,
            },
        },
        "trends": list(
            PlatformMetrics.objects.filter(
                period_type=PeriodType.DAY, period_start__gte=window["since"]
            ).order_by("period_start")
        ),
        "performance": request_summary(since=window["since"], hours=days * 24),
        "monitoring": {
            "health": health_summary(),
            "open_incidents": sum(incidents.values()),
            "open_incidents_by_severity": incidents,
        },
        "days": days,
        "generated_at": now,
    }
