"""Reads of the tracked periods, and the configuration of what events mean."""

from django.conf import settings
from django.db.models import QuerySet

from .models import AgentAnalytics, EventMeaning, Meaning, PlatformMetrics, UserAnalytics


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
