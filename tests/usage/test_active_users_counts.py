"""Active users counted from the days each user was seen (a running sum of stretches)
answer exactly what the former query, which joined every day to every user-day of its
30-day window, answered on the same data."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.ai.models import AiUsage
from apps.events.models import Event, UserActivity
from apps.usage import selectors

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


def former_active_users(*, days: int, now: datetime) -> dict:
    """The previous implementation, kept here as the reference answer."""
    last = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first = last - timedelta(days=days - 1)
    sql, params = selectors._buckets(first - timedelta(days=29), now, "day")
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH seen AS (SELECT DISTINCT user_id, "
            f"bucket_start AT TIME ZONE 'UTC' AS day FROM ({sql}) u) "
            "SELECT d.day, "
            "COUNT(DISTINCT seen.user_id) FILTER (WHERE seen.day = d.day), "
            "COUNT(DISTINCT seen.user_id) FILTER (WHERE seen.day > d.day - interval '7 days'), "
            "COUNT(DISTINCT seen.user_id) "
            "FROM generate_series(%s::timestamptz, %s::timestamptz, interval '1 day') AS d(day) "
            "LEFT JOIN seen ON seen.day <= d.day AND seen.day > d.day - interval '30 days' "
            "GROUP BY d.day ORDER BY d.day",
            [*params, first, last],
        )
        series = [
            {"date": day.date(), "dau": dau, "wau": wau, "mau": mau}
            for day, dau, wau, mau in cursor.fetchall()
        ]
    latest = series[-1]
    return {"dau": latest["dau"], "wau": latest["wau"], "mau": latest["mau"], "series": series}


@pytest.fixture
def seeded() -> None:
    """300 users seen at random over 200 days in events, activity and AI usage, some at
    the very edges of days, some after `NOW` (not counted), some anonymous."""
    rng = random.Random(18)
    received = timezone.now()
    start = NOW - timedelta(days=200)

    def moment() -> datetime:
        if rng.random() < 0.1:  # midnight exactly, or the microsecond before it
            day = start + timedelta(days=rng.randrange(201))
            day = day.replace(hour=0, minute=0, second=0, microsecond=0)
            return day - timedelta(microseconds=rng.choice([0, 1]))
        return start + timedelta(seconds=rng.uniform(0, 201 * 86400))

    def user() -> str:
        return "" if rng.random() < 0.03 else f"user-{int(rng.paretovariate(1.2)) % 300}"

    Event.objects.bulk_create(
        Event(event_type="login", user_id=user(), timestamp=moment(), received_at=received)
        for _ in range(3000)
    )
    UserActivity.objects.bulk_create(
        UserActivity(
            activity_type="click", user_id=user(), timestamp=moment(), received_at=received
        )
        for _ in range(1000)
    )
    AiUsage.objects.bulk_create(
        AiUsage(feature="chat", user_id=user(), timestamp=moment(), received_at=received)
        for _ in range(1000)
    )


@pytest.mark.parametrize("days", [1, 7, 45, 365])
def test_active_users_answer_what_the_former_scan_answered(seeded, days):
    assert selectors.active_users(days=days, now=NOW) == former_active_users(days=days, now=NOW)


def test_active_users_of_a_window_with_no_one_seen_are_zeros(db):
    answer = selectors.active_users(days=3, now=NOW)

    assert answer == former_active_users(days=3, now=NOW)
    assert [(d["dau"], d["wau"], d["mau"]) for d in answer["series"]] == [(0, 0, 0)] * 3
