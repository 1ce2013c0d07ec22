"""Migration 0002 on a table that already holds points out of range."""

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction

from apps.ingest import registry
from apps.ingest.outbox import records_insert
from apps.metrics.models import DirtyMinute, MetricRollup
from apps.metrics.rollups import _rebuild, rollup_pending
from apps.metrics.schemas import tags_hash
from apps.metrics.selectors import metric_statistics

# Ten minutes into the last full hour: the minute after it is in the same hour
# (and day) whatever the time the test runs at, 50-110 minutes ago (the test runs at
# a clock an hour past it: an hour may turn between collecting the tests and running
# this one, which put the minute among those packed, in blocks the release of 0001
# did not have).
MINUTE = datetime.now(UTC).replace(minute=10, second=0, microsecond=0) - timedelta(hours=1)


def row(value: float, seconds: int) -> dict:
    moment = (MINUTE + timedelta(seconds=seconds)).isoformat()
    return {
        "event_id": str(uuid.uuid4()),
        "timestamp": moment,
        "received_at": moment,
        "metric_name": "legacy",
        "metric_type": "gauge",
        "value": value,
        "unit": "",
        "tags": {},
        "tags_hash": tags_hash({}),
        "source": "",
    }


@pytest.fixture
def clock():
    with time_machine.travel(MINUTE + timedelta(hours=1), tick=True):
        yield


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clock")
def test_migration_deletes_points_out_of_range_and_rebuilds_their_buckets(monkeypatch):
    # Inserted as the release of 0001 did: its statement wrote no tag keys (0004).
    metric = registry.get_kind("metric")
    monkeypatch.setitem(
        registry._kinds, "metric", dataclasses.replace(metric, after_insert=metric.after_insert[:2])
    )
    call_command("migrate", "metrics", "0001", verbosity=0)
    try:
        # What an older release stored: in range, beyond 1e18, NaN, infinity.
        rows = [row(5.0, 1), row(3e18, 2), row(0.0, 3), row(0.0, 4)]
        records_insert(kind_name="metric", rows=rows)
        records_insert(kind_name="metric", rows=[row(7.0, 70)])  # the next minute
        with transaction.atomic(), connection.cursor() as cursor:
            _rebuild(cursor, [("legacy", MINUTE), ("legacy", MINUTE + timedelta(minutes=1))])
            for value, stored in (("NaN", rows[2]), ("-Infinity", rows[3])):  # JSON has neither
                cursor.execute(
                    "UPDATE metrics_metricevent SET value = %s::float8 WHERE event_id = %s",
                    [value, stored["event_id"]],
                )
        DirtyMinute.objects.all().delete()
    finally:
        call_command("migrate", "metrics", verbosity=0)

    assert set(DirtyMinute.objects.values_list("bucket_start", flat=True)) == {MINUTE}
    # The stale buckets are gone until the roller rebuilds them from what remains.
    assert not MetricRollup.objects.filter(resolution="h").exists()
    rollup_pending()
    stats = metric_statistics(name="legacy", hours=2)
    assert (stats["count"], stats["sum"], stats["max"]) == (2, 12.0, 7.0)
    hour = MetricRollup.objects.get(resolution="h", tags_hash=0)
    assert (hour.count, hour.sum) == (2, 12.0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'metric_value_range'"
        )
        assert cursor.fetchone() == (True,)
