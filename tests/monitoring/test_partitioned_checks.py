"""Health checks partitioned by week of `checked_at`, like the ingested kinds
(tests/ingest/test_partitions.py has the mechanism's own tests): the table of the release
before, populated through the ping URL, converted in place with every check kept and its
service's foreign key; the daily purge drops whole weeks, and a week partly inside the
retention window keeps its checks."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from apps.ingest.partitions import legacy_partition, partition_bounds, week_of
from apps.monitoring.models import HealthCheck, MonitoredService
from apps.monitoring.selectors import sla_report
from tests.helpers import post_json, relkind

SERVICES = "/api/v1/analytics/monitoring/services"
TABLE = HealthCheck._meta.db_table


def checks() -> list[dict]:
    return list(HealthCheck.objects.order_by("id").values())


def partition_of(check_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [check_id])
        return cursor.fetchone()[0]


def ping(path: str, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        assert APIClient().post(path).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_populated_checks_table_becomes_partitioned_with_every_check_kept(admin_api_client):
    now = datetime.now(UTC)
    call_command("migrate", "monitoring", "0007", verbosity=0)
    try:
        assert relkind(TABLE) == "r"
        with time_machine.travel(now - timedelta(days=2), tick=False):
            created = post_json(
                admin_api_client,
                SERVICES,
                {"name": "nightly", "check_type": "heartbeat", "interval_seconds": 3600},
            ).json()
        path = created["ping_url"].removeprefix("http://testserver")
        for hours in range(30, 0, -1):
            ping(path, now - timedelta(hours=hours))
        before = checks()
    finally:
        call_command("migrate", "monitoring", verbosity=0)

    assert relkind(TABLE) == "p"
    assert len(before) == 30
    assert checks() == before  # every check, every column, the same ids
    legacy, upper = legacy_partition(TABLE)
    assert upper > now + timedelta(days=1)
    assert {partition_of(check["id"]) for check in before} == {legacy}

    service = MonitoredService.objects.get(pk=created["id"])
    # The service's foreign key is the partitioned table's, so every partition's.
    with pytest.raises(IntegrityError), transaction.atomic():
        HealthCheck.objects.create(service_id=service.pk + 1000, status="healthy", checked_at=now)

    # Eight days on, after beat's maintain: a ping goes to its week, after the old ids.
    later = now + timedelta(days=8)
    with time_machine.travel(later, tick=False):
        call_command("maintain_partitions", verbosity=0)
    ping(path, later)
    newest = checks()[-1]
    assert newest["id"] > before[-1]["id"]
    assert partition_of(newest["id"]) == f"{TABLE}_{later:%Y_week_%W}"
    with time_machine.travel(later, tick=False):
        report = sla_report(
            service, since=now - timedelta(days=1), until=later + timedelta(hours=1)
        )
    assert (report["status"], report["uptime_percentage"]) == ("ok", 100.0)

    response = admin_api_client.delete(f"{SERVICES}/{service.pk}")
    assert response.status_code == 204, response.content
    assert not HealthCheck.objects.exists()  # its checks, in every partition, went with it


@pytest.mark.django_db
def test_a_new_install_has_every_week_of_the_checks_retention_and_a_week_ahead(settings):
    today = datetime.now(UTC).date()
    starts = sorted(lower.date() for _, lower, _ in partition_bounds(TABLE) if lower)
    assert all(b - a == timedelta(days=7) for a, b in zip(starts, starts[1:], strict=False))
    assert all(start.weekday() == 0 for start in starts)  # weeks from Monday
    assert starts[0] <= today - timedelta(days=settings.MONITORING_CHECK_RETENTION_DAYS)
    assert starts[-1] + timedelta(days=7) >= today + timedelta(days=7)  # PARTITIONS_AHEAD_DAYS
    assert len(starts) <= 8


@pytest.mark.django_db
def test_the_daily_purge_drops_whole_weeks_and_keeps_the_week_partly_inside(settings):
    """Checks kept 31 days, on a Thursday at noon: the cutoff is a Monday noon; the week
    before it ended only 12 hours before the cutoff, so it keeps its checks (older than
    31 days) until the next run past a whole day; the week before that goes whole."""
    from apps.ingest.tasks import purge_expired

    settings.MONITORING_CHECK_RETENTION_DAYS = 31
    today = datetime.now(UTC)
    now = datetime.combine(week_of(today), datetime.min.time(), UTC) + timedelta(days=3, hours=12)
    service = MonitoredService.objects.create(name="api", check_type="http", target="http://x/")
    ages = [40, 33, 29]  # the week before last, the week before the cutoff's, inside
    with time_machine.travel(now, tick=False):
        call_command("maintain_partitions", verbosity=0)
        made = [
            HealthCheck.objects.create(
                service=service, status="healthy", checked_at=now - timedelta(days=age)
            )
            for age in ages
        ]
        kept_week = partition_of(made[1].pk)
        with connection.cursor() as cursor:  # the test's transaction: check the keys now
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        purge_expired.apply()  # beat's "purge-analytics": the task, no arguments
    assert sorted((now - c.checked_at).days for c in HealthCheck.objects.all()) == [29, 33]
    assert kept_week == f"{TABLE}_{now - timedelta(days=33):%Y_week_%W}"  # its own week
    assert kept_week in {name for name, _, _ in partition_bounds(TABLE)}
