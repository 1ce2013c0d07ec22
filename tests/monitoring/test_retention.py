"""Health checks are kept MONITORING_CHECK_RETENTION_DAYS, purged by the daily purge in
bounded batches; the SLA's uptime, from the downtimes, outlives them."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from apps.ingest.tasks import purge_expired
from apps.monitoring import checks, services
from apps.monitoring.models import Downtime, HealthCheck, MonitoredService
from apps.monitoring.selectors import sla_report

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def history() -> MonitoredService:
    """Checked every hour for 40 days from T0, down for the 3 hours from day 2, 10:00."""
    with time_machine.travel(T0, tick=False):
        service = MonitoredService.objects.create(
            name="api", check_type="http", target="http://api/"
        )
    down_from = T0 + timedelta(days=2, hours=10)
    for hour in range(40 * 24):
        at = T0 + timedelta(hours=hour)
        failed = down_from <= at < down_from + timedelta(hours=3)
        result = checks.Result("unhealthy" if failed else "healthy", 20.0, "x" if failed else "")
        services.check_record(service.pk, result, at=at)
    service.refresh_from_db()
    return service


def test_the_daily_purge_keeps_the_retention_days_and_the_sla_uptime(settings):
    settings.MONITORING_CHECK_RETENTION_DAYS = 31
    settings.PURGE_BATCH_SIZE = 50  # many bounded batches, not one statement
    service = history()
    assert settings.PERIODIC_TASKS["purge-analytics"]["task"] == purge_expired.name
    now = T0 + timedelta(days=40)
    with time_machine.travel(now, tick=False):
        before = sla_report(service, since=T0, until=T0 + timedelta(days=5))

        purge_expired.apply()  # beat's "purge-analytics" entry: the task, no arguments

        oldest = HealthCheck.objects.order_by("checked_at").first().checked_at
        after = sla_report(service, since=T0, until=T0 + timedelta(days=5))

    assert oldest == now - timedelta(days=31)
    assert HealthCheck.objects.count() == 31 * 24
    assert Downtime.objects.count() == 1
    # The uptime of a window whose checks are gone is still the downtimes' answer.
    assert after["status"] == "ok"
    assert (
        after["uptime_percentage"]
        == before["uptime_percentage"]
        == round(100 * (1 - 3 / (5 * 24)), 4)
    )
    assert after["avg_response_time_ms"] is None  # the response times went with the checks


def test_the_default_retention_covers_the_default_sla_window():
    from apps.monitoring.api import DEFAULT_SLA_HOURS

    assert settings.MONITORING_CHECK_RETENTION_DAYS * 24 > DEFAULT_SLA_HOURS
