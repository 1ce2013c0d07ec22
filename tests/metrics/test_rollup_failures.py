"""One metric that cannot be rolled never stops the others, and every read still answers.

The CHECK constraint keeps values within +/-1e18; these tests drop it (inside
the test's transaction) to store what older releases let through: two finite
points near 1.7e308 whose sum overflows PostgreSQL's float8.
"""

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from apps.ingest.outbox import records_insert
from apps.metrics.models import DirtyMinute, MetricPoint, MetricRollup, RollupFailure
from apps.metrics.rollups import rollup_pending
from apps.metrics.schemas import tags_hash

pytestmark = pytest.mark.django_db

HUGE = 1.7e308
BASE = "/api/v1/analytics/metrics"


def minute_ago(minutes: int) -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=minutes)


def row(name: str, value: float, moment: datetime, metric_type: str = "timer", **tags) -> dict:
    """A stored row as the pipeline writes it, without the schema's checks."""
    return {
        "event_id": str(uuid.uuid4()),
        "timestamp": moment.isoformat(),
        "received_at": moment.isoformat(),
        "metric_name": name,
        "metric_type": metric_type,
        "value": value,
        "unit": "ms",
        "tags": tags,
        "tags_hash": tags_hash(tags),
        "source": "",
    }


def drop_value_check() -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE metrics_metricevent DROP CONSTRAINT metric_value_range")


def samples(response) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


@pytest.fixture
def poisoned():
    """Metric a: two ~1.7e308 points in one minute plus a normal minute; metric b: normal."""
    drop_value_check()
    bad, good = minute_ago(2), minute_ago(4)
    records_insert(
        kind_name="metric",
        rows=[
            row("a", HUGE, bad + timedelta(seconds=5), endpoint="/x"),
            row("a", HUGE, bad + timedelta(seconds=9), endpoint="/x"),
            row("a", 7.0, good + timedelta(seconds=1), endpoint="/x"),
            row("b", 10.0, bad + timedelta(seconds=3), endpoint="/x"),
            row("b", 30.0, bad + timedelta(seconds=7), endpoint="/y"),
            row("b", 20.0, good + timedelta(seconds=2), endpoint="/x"),
        ],
    )
    return bad, good


def test_a_minute_that_overflows_is_parked_and_every_other_rolls(poisoned, caplog):
    bad, good = poisoned

    with caplog.at_level(logging.ERROR, logger="apps.metrics.rollups"):
        rolled = rollup_pending()

    assert rolled == 3  # b's two minutes and a's good one; a's bad minute is parked
    b_minutes = MetricRollup.objects.filter(metric_name="b", resolution="m", tags_hash=0)
    assert {(r.bucket_start, r.count, r.sum) for r in b_minutes} == {
        (bad, 2, 40.0),
        (good, 1, 20.0),
    }
    b_hours = MetricRollup.objects.filter(metric_name="b", resolution="h", tags_hash=0)
    assert sum(r.count for r in b_hours) == 3
    assert MetricRollup.objects.filter(metric_name="a", resolution="m", bucket_start=good).exists()
    failure = RollupFailure.objects.get()
    assert (failure.metric_name, failure.bucket_start, failure.attempts) == ("a", bad, 1)
    assert "out of range" in failure.error
    assert not DirtyMinute.objects.exists()
    assert any("'a'" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)

    # The next run finds nothing to do: the parked minute is not retried in a loop.
    assert rollup_pending() == 0
    assert RollupFailure.objects.get().attempts == 1


def test_reads_answer_json_never_500(poisoned, read_client):
    bad, good = poisoned
    rollup_pending()

    b = read_client.get(f"{BASE}/b/statistics", {"hours": 1})
    assert b.status_code == 200
    assert (b.json()["count"], b.json()["sum"], b.json()["max"]) == (3, 60.0, 30.0)
    grouped = read_client.get(f"{BASE}/b/statistics", {"hours": 1, "group_by": "endpoint"}).json()
    assert {g["value"]: g["count"] for g in grouped["groups"]} == {"/x": 2, "/y": 1}

    a = read_client.get(f"{BASE}/a/statistics", {"hours": 1})
    assert a.status_code == 409
    assert a.json()["error"] == "not_computable"
    assert "'a'" in a.json()["detail"]
    series = read_client.get(f"{BASE}/a/time-series", {"hours": 1, "interval": "1m"})
    assert series.status_code == 409 and series.json()["error"] == "not_computable"

    # A window without the parked minute reads a's rolled minute as usual.
    around = {"from": good.isoformat(), "to": (good + timedelta(minutes=1)).isoformat()}
    a_good = read_client.get(f"{BASE}/a/statistics", around)
    assert a_good.status_code == 200
    assert (a_good.json()["count"], a_good.json()["sum"]) == (1, 7.0)


def test_prometheus_reports_the_parked_minute_and_still_answers(poisoned, read_client):
    rollup_pending()

    response = read_client.get("/metrics")

    assert response.status_code == 200
    found = samples(response)
    assert found[("analytics_rollup_failed_minutes", ())] == 1
    assert found[("analytics_rollup_failed_metric_minutes", (("metric", "a"),))] == 1
    # a's 5-minute summary cannot be summed: left out and named, b is still there.
    assert found[("analytics_exposition_skipped_metrics", (("metric", "a"),))] == 1
    assert found[("b_count", (("endpoint", "/x"),))] == 2
    assert ("a_count", (("endpoint", "/x"),)) not in found


def test_admin_lists_parked_minutes_and_retries_them(poisoned, django_user_model):
    from django.test import Client

    bad, _ = poisoned
    rollup_pending()
    admin = django_user_model.objects.create_superuser(username="root", password="pw-root-1")
    client = Client()
    client.force_login(admin)
    url = "/admin/metrics/rollupfailure/"

    listing = client.get(url)
    assert listing.status_code == 200
    assert b"out of range" in listing.content

    failure = RollupFailure.objects.get()
    retry = {"action": "retry", "_selected_action": [failure.pk]}
    assert client.post(url, retry, follow=True).status_code == 200
    assert list(DirtyMinute.objects.values_list("metric_name", "bucket_start")) == [("a", bad)]
    rollup_pending()  # still overflows: parked again, one more attempt counted
    assert RollupFailure.objects.get().attempts == 2
    assert not DirtyMinute.objects.exists()

    # The cause removed, a retry rolls the minute and unparks it.
    MetricPoint.objects.filter(metric_name="a", value=HUGE).delete()
    client.post(url, retry, follow=True)
    rollup_pending()
    assert not RollupFailure.objects.exists()


def test_a_parked_minute_is_read_raw_and_its_hour_and_day_are_not_used(read_client):
    """A parked minute's rollup is stale: reads must take its points, not the rollup."""
    start = minute_ago(90)
    rows = [row("c", float(i + 1), start + timedelta(minutes=i)) for i in range(60)]
    records_insert(kind_name="metric", rows=rows)
    rollup_pending()
    parked = start + timedelta(minutes=30)
    # A late point whose minute then failed to roll: its mark consumed, the minute parked.
    records_insert(kind_name="metric", rows=[row("c", 1000.0, parked + timedelta(seconds=30))])
    DirtyMinute.objects.all().delete()
    RollupFailure.objects.create(
        metric_name="c", bucket_start=parked, error="simulated", failed_at=datetime.now(UTC)
    )

    body = read_client.get(f"{BASE}/c/statistics", {"hours": 3}).json()
    series = read_client.get(
        f"{BASE}/c/time-series", {"hours": 3, "interval": "1d", "agg": "max"}
    ).json()

    assert (body["count"], body["sum"], body["max"]) == (61, sum(range(1, 61)) + 1000.0, 1000.0)
    assert sum(b["count"] for b in series["buckets"]) == 61
    assert max(b["value"] for b in series["buckets"]) == 1000.0


def test_backfill_rebuilds_the_other_metrics_and_hands_the_bad_one_to_the_roller(poisoned):
    from apps.metrics.rollups import rollup_range

    bad, good = poisoned
    DirtyMinute.objects.all().delete()  # as if the points were older than any mark

    rollup_range(start=good, end=bad + timedelta(minutes=5))

    b_days = MetricRollup.objects.filter(metric_name="b", resolution="d", tags_hash=0)
    assert (sum(r.count for r in b_days), sum(r.sum for r in b_days)) == (3, 60.0)
    assert not MetricRollup.objects.filter(metric_name="a").exists()
    marked = set(DirtyMinute.objects.values_list("metric_name", "bucket_start"))
    assert marked == {("a", bad), ("a", good)}
    rollup_pending()  # the roller narrows a's failure down to its one bad minute
    assert list(RollupFailure.objects.values_list("metric_name", "bucket_start")) == [("a", bad)]
    assert MetricRollup.objects.filter(metric_name="a", resolution="m", bucket_start=good).exists()
