"""Product usage, across what clients send: events, user activity and AI usage, each
asked of the app that stores it. Which event types mean a scenario started or was
completed, a quiz taken or a grammar check is configuration (USAGE_* settings)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.ai.selectors import conversation_count, user_request_counts
from apps.core.aggregates import rounded
from apps.core.db import union_all
from apps.events.selectors import (
    event_type_count,
    scenario_count,
    scenario_popularity,
    user_activity_counts,
    user_emails,
    user_event_counts,
)

ACTIVE_HOURS = 24


def _window(days: int | None) -> datetime | None:
    return None if days is None else timezone.now() - timedelta(days=days)


def _per_user(since: datetime | None) -> tuple[str, list]:
    """Every app's (user_id, n, last) rows, one UNION ALL."""
    return union_all(
        [
            user_event_counts(since=since),
            user_activity_counts(since=since),
            user_request_counts(since=since),
        ]
    )


def user_count(*, since: datetime | None = None) -> int:
    """Different users seen anywhere (events, activity, AI usage) since `since`."""
    sql, params = _per_user(since)
    with connection.cursor() as cursor:
        # The subquery is Django's own SQL; every value is a parameter.
        cursor.execute(f"SELECT COUNT(DISTINCT user_id) FROM ({sql}) per_user", params)  # noqa: S608
        return cursor.fetchone()[0]


def top_users(*, limit: int, days: int | None = None) -> list[dict]:
    """The most active users: events, activity and AI requests added up, ties broken by
    the most recent; with the email their latest event or activity gave."""
    sql, params = _per_user(_window(days))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT user_id, SUM(n)::bigint, MAX(last) FROM ({sql}) per_user "  # noqa: S608
            "GROUP BY user_id ORDER BY 2 DESC, 3 DESC, 1 LIMIT %s",
            [*params, limit],
        )
        rows = cursor.fetchall()
    emails = user_emails([user_id for user_id, _n, _last in rows])
    return [
        {"user_id": user_id, "email": emails.get(user_id), "activity_count": n, "last_active": last}
        for user_id, n, last in rows
    ]


def popular_scenarios(*, limit: int, days: int | None = None) -> list[dict]:
    rows = scenario_popularity(
        started=settings.USAGE_SCENARIO_STARTED_EVENTS,
        completed=settings.USAGE_SCENARIO_COMPLETED_EVENTS,
        limit=limit,
        since=_window(days),
    )
    for row in rows:  # completions of runs started before the window may exceed the starts
        rate = 100 * row["completion_count"] / row["start_count"]
        row["completion_rate"] = rounded(min(rate, 100.0), 1)
    return rows


def usage_summary() -> dict:
    """The overview's `usage` block."""
    day_ago = timezone.now() - timedelta(hours=ACTIVE_HOURS)
    return {
        "total_users": user_count(),
        "active_users_24h": user_count(since=day_ago),
        "total_scenarios": scenario_count(started=settings.USAGE_SCENARIO_STARTED_EVENTS),
        "active_conversations": conversation_count(since=day_ago),
        "total_quizzes_taken": event_type_count(settings.USAGE_QUIZ_EVENTS),
        "total_grammar_checks": event_type_count(settings.USAGE_GRAMMAR_CHECK_EVENTS),
    }
