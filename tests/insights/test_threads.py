"""Tracking with its reads on three connections at once gives what one connection gives."""

import pytest

from apps.insights.models import AgentAnalytics, PlatformMetrics, UserAnalytics

from .test_tracking import at, frozen, recorded, track  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def rows() -> list:
    skip = {"id", "tracked_at"}
    return [
        sorted(
            ({k: v for k, v in row.items() if k not in skip} for row in model.objects.values()),
            key=str,
        )
        for model in (UserAnalytics, AgentAnalytics, PlatformMetrics)
    ]


def test_threads_track_the_same_figures(recorded, admin_api_client, settings):  # noqa: F811
    track(admin_api_client, period_start=at(0))
    alone = rows()

    settings.INSIGHTS_TRACKING_THREADS = 3
    answer = track(admin_api_client, period_start=at(0), force=True).json()

    assert (answer["users_tracked"], answer["agents_tracked"]) == (3, 2)
    assert rows() == alone
    assert PlatformMetrics.objects.get().total_users == 4
