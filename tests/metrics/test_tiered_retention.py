"""Tiered retention: raw points 90 days, minute rollups 30 days, hour rollups 2 years,
day rollups 5 years (each a setting); windows older than the raw points answer from
what is kept, widened to its whole buckets, and a late point re-rolls its hour from the
points when the hour's minutes are gone."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from apps.ingest.retention import retention_purge
from apps.metrics.models import MetricRollup
from apps.metrics.retention import retained
from apps.metrics.rollups import rollup_pending, rollup_range
from apps.metrics.selectors import cover
from tests.helpers import drain_outbox, iso, post_json

pytestmark = pytest.mark.django_db

RECORD = "/api/v1/analytics/metrics/record"
STATS = "/api/v1/analytics/metrics/api.latency/statistics"
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
HOUR = T0 - timedelta(hours=3)  # 09:00-10:00: the hour the points fall in


def record(client, values: list[tuple[timedelta, float]]) -> None:
    body = [
        {"metric_name": "api.latency", "metric_type": "timer", "value": value,
         "tags": {"endpoint": "/a"}, "timestamp": iso(HOUR + offset)}
        for offset, value in values
    ]  # fmt: skip
    response = post_json(client, RECORD, body)
    assert response.status_code == 202, response.json()
    assert response.json()["accepted"] == len(values)
    drain_outbox()
    rollup_pending()


def stats(client, since: datetime, until: datetime) -> dict:
    response = client.get(STATS, {"from": iso(since), "to": iso(until)})
    assert response.status_code == 200, response.json()
    return response.json()


def kept_resolutions() -> set[str]:
    return set(MetricRollup.objects.values_list("resolution", flat=True))


# 09:10, 09:20 ... 09:50 (five points, 10 to 50 ms), and one on the next day.
POINTS = [(timedelta(minutes=10 * i), 10.0 * i) for i in range(1, 6)]


def test_each_level_is_kept_as_long_as_its_setting_and_old_windows_answer(
    ingest_client, read_client
):
    with time_machine.travel(T0, tick=False) as clock:
        record(ingest_client, POINTS)
        # The window 09:15-09:45 holds 3 points (20, 30, 40).
        window = (HOUR + timedelta(minutes=15), HOUR + timedelta(minutes=45))
        assert (stats(read_client, *window)["count"], stats(read_client, *window)["sum"]) == (
            3,
            90,
        )

        clock.move_to(T0 + timedelta(days=40))  # minutes gone; points kept (90 days)
        retention_purge()
        assert kept_resolutions() == {"h", "d"}
        inside = stats(read_client, *window)
        assert (inside["count"], inside["sum"], inside["min"], inside["max"]) == (3, 90, 20, 40)

        clock.move_to(T0 + timedelta(days=100))  # points gone: the hour answers
        retention_purge()
        assert kept_resolutions() == {"h", "d"}
        widened = stats(read_client, *window)
        assert (widened["count"], widened["sum"], widened["min"], widened["max"]) == (
            5,
            150,
            10,
            50,
        )
        assert widened["p50"] == pytest.approx(30, rel=0.01)
        # A backfill over those days leaves them: their points are gone.
        rollup_range(start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
        assert stats(read_client, *window)["count"] == 5

        clock.move_to(T0 + timedelta(days=800))  # hours gone: the day answers
        retention_purge()
        assert kept_resolutions() == {"d"}
        assert stats(read_client, *window)["count"] == 5
        assert stats(read_client, T0 - timedelta(days=2), T0 + timedelta(days=1))["sum"] == 150

        clock.move_to(T0 + timedelta(days=1900))  # past every level
        retention_purge()
        assert kept_resolutions() == set()


def test_a_late_point_rolls_its_hour_from_the_points_when_its_minutes_are_gone(
    ingest_client, read_client
):
    with time_machine.travel(T0, tick=False) as clock:
        record(ingest_client, POINTS)
        clock.move_to(T0 + timedelta(days=40))
        retention_purge()  # the hour's minutes go; its points stay 90 days
        record(ingest_client, [(timedelta(minutes=55), 60.0)])  # 40 days late

        hour = MetricRollup.objects.get(resolution="h", bucket_start=HOUR, tags_hash=0)
        assert (hour.count, hour.sum) == (6, 210)
        day = MetricRollup.objects.get(resolution="d", tags_hash=0)
        assert (day.count, day.sum) == (6, 210)
        whole = stats(read_client, HOUR, HOUR + timedelta(hours=1))
        assert (whole["count"], whole["sum"]) == (6, 210)


def test_hours_kept_shorter_than_the_points_stop_start_up(settings):
    settings.METRICS_ROLLUP_RETENTION_DAYS = {"m": 30, "h": 60, "d": 1825}
    with pytest.raises(SystemCheckError, match="METRICS_HOUR_ROLLUP_RETENTION_DAYS"):
        call_command("check")


def test_a_window_reaching_back_as_far_as_the_minutes_reads_its_first_hour_from_them(
    ingest_client, read_client
):
    """Minute rollups are kept from the start of the hour holding their cutoff, so a
    30-day window (the widest statistics take) reads its partial first hour from minute
    rollups, not from that hour's raw points (~3,900 of them at 100M points)."""
    with time_machine.travel(T0, tick=False) as clock:
        record(ingest_client, POINTS)  # 09:10 ... 09:50
        # 30 days on, the 30-day window starts at 09:05 of that day: inside the hour.
        now = HOUR + timedelta(days=30, minutes=5)
        clock.move_to(now)
        retention_purge()
        minutes = MetricRollup.objects.filter(resolution="m", tags_hash=0)
        assert sorted(m.bucket_start for m in minutes) == [HOUR + o for o, _ in POINTS]

        kept = retained("api.latency")
        assert (kept.m, kept.h) == (HOUR, (now - timedelta(days=730)).replace(hour=0, minute=0))
        start = now - timedelta(days=30)
        planned = cover(start, now, kept=kept)
        assert planned.raw == []  # whole minutes at both ends
        assert ("m", start, HOUR + timedelta(hours=1)) in planned.rollups

        answer = stats(read_client, start, now)
        assert (answer["count"], answer["sum"], answer["min"], answer["max"]) == (5, 150, 10, 50)

        clock.move_to(now + timedelta(hours=1))  # the hour is wholly past the cutoff
        retention_purge()
        assert not MetricRollup.objects.filter(resolution="m").exists()
