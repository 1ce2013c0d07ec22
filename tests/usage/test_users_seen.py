"""users_seen: the users of a window in events, activity and AI usage, as the rollup of
the insights dashboard remembers them."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.ai.models import AiUsage
from apps.events.models import Event, UserActivity
from apps.usage.selectors import user_period_counts, users_seen

pytestmark = pytest.mark.django_db

T = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_the_users_of_a_window_from_every_app():
    at = {"received_at": T}
    Event.objects.create(event_type="login", user_id="ann", timestamp=T, **at)
    Event.objects.create(event_type="login", user_id="", timestamp=T, **at)  # anonymous
    Event.objects.create(event_type="login", user_id="old", timestamp=T - timedelta(hours=1), **at)
    UserActivity.objects.create(user_id="bob", activity_type="click", timestamp=T, **at)
    AiUsage.objects.create(feature="chat", user_id="cy", timestamp=T + timedelta(minutes=59), **at)
    AiUsage.objects.create(feature="chat", user_id="late", timestamp=T + timedelta(hours=1), **at)
    window = {"since": T, "until": T + timedelta(hours=1)}

    assert users_seen(**window) == {"ann", "bob", "cy"}
    assert len(users_seen(**window)) == user_period_counts(**window)["active"]
    assert users_seen(since=T + timedelta(hours=2), until=T + timedelta(hours=3)) == set()
