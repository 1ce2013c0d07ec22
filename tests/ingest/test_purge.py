"""Retention: `purge_analytics` and the daily purge task delete only what has expired, per kind."""

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.devices.models import DeviceStateHistory
from apps.errors.models import ErrorLog
from apps.events.models import UserActivity
from apps.ingest.registry import all_kinds
from apps.jobs.models import JobOutcome
from apps.requestlog.models import APIRequestLog

pytestmark = pytest.mark.django_db

KIND_MODELS = {
    "request_log": (
        APIRequestLog,
        {"endpoint": "/api/x", "method": "GET", "status_code": 200, "response_time_ms": 1.0},
    ),
    "user_activity": (UserActivity, {"activity_type": "page_view"}),
    "error": (ErrorLog, {"category": "api", "error_message": "boom"}),
    "device_state": (DeviceStateHistory, {"device_id": "device-123", "new_state": "online"}),
    "job_outcome": (JobOutcome, {"job_type": "device_restart", "status": "success"}),
}


def make_rows(kind: str, *, days_ago: float, count: int = 1) -> None:
    model, fields = KIND_MODELS[kind]
    at = datetime.now(UTC) - timedelta(days=days_ago)
    model.objects.bulk_create([model(timestamp=at, received_at=at, **fields) for _ in range(count)])


@pytest.fixture
def aged_rows(settings):
    settings.ANALYTICS_RETENTION_BY_KIND = {
        **settings.ANALYTICS_RETENTION_BY_KIND,
        **dict.fromkeys(KIND_MODELS, 90),
    }
    for kind in KIND_MODELS:
        make_rows(kind, days_ago=100)
        make_rows(kind, days_ago=10)


def counts() -> dict[str, int]:
    return {kind: model.objects.count() for kind, (model, _) in KIND_MODELS.items()}


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_purge_dry_run_prints_per_kind_counts_and_deletes_nothing(aged_rows):
    make_rows("error", days_ago=120, count=2)
    out, _ = run("purge_analytics", "--dry-run")
    named = {line.split(": ")[0]: line for line in out.strip().splitlines()}
    # One line per registered kind (the original five, and any added since), then one per
    # table kept as long as a kind's rows (`<kind>:<table>`).
    lines = {name: line for name, line in named.items() if ":" not in name}
    assert {name.split(":")[0] for name in named} == set(lines)
    assert set(lines) == {kind.name for kind in all_kinds()}
    assert set(KIND_MODELS) <= set(lines)
    for kind in KIND_MODELS:
        expected = 3 if kind == "error" else 1
        assert re.search(rf"^{kind}: would delete {expected} rows older than ", lines[kind])
    assert counts() == {k: (4 if k == "error" else 2) for k in KIND_MODELS}


def test_purge_deletes_only_rows_older_than_the_retention(aged_rows):
    out, _ = run("purge_analytics")
    assert counts() == dict.fromkeys(KIND_MODELS, 1)
    for kind, (model, _) in KIND_MODELS.items():
        survivor = model.objects.get()
        age = datetime.now(UTC) - survivor.timestamp
        assert timedelta(days=9) < age < timedelta(days=11), kind
        assert f"{kind}: deleted 1 rows" in out


def test_purge_uses_the_retention_of_each_kind_from_settings(aged_rows, settings):
    settings.ANALYTICS_RETENTION_BY_KIND = {
        **settings.ANALYTICS_RETENTION_BY_KIND,
        **dict.fromkeys(KIND_MODELS, 90),
        "error": 5,
    }
    run("purge_analytics")
    assert counts() == dict.fromkeys(KIND_MODELS, 1) | {"error": 0}


def test_purge_with_longer_retention_keeps_everything(aged_rows, settings):
    settings.ANALYTICS_RETENTION_BY_KIND = {
        **settings.ANALYTICS_RETENTION_BY_KIND,
        **dict.fromkeys(KIND_MODELS, 365),
    }
    out, _ = run("purge_analytics")
    assert counts() == dict.fromkeys(KIND_MODELS, 2)
    assert "request_log: deleted 0 rows" in out


def test_purge_in_small_batches_still_deletes_every_expired_row(aged_rows, settings):
    """Rows of a partition holding more than one period (here the one from before the
    table's first day, which 93 days of retention keep partly inside the window) go in
    batches; whole periods are dropped."""
    settings.PURGE_BATCH_SIZE = 2
    settings.ANALYTICS_RETENTION_BY_KIND = {
        **settings.ANALYTICS_RETENTION_BY_KIND,
        "request_log": 93,
    }
    make_rows("request_log", days_ago=95, count=4)  # 5 expired request logs in all
    with CaptureQueriesContext(connection) as ctx:
        run("purge_analytics")
    assert counts() == dict.fromkeys(KIND_MODELS, 1)
    deletes = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith("DELETE FROM requestlog_apirequestlog_legacy")
    ]
    # Bounded: 2 + 2 + 1 rows, one statement each.
    assert len(deletes) == 3
    assert all("LIMIT 2" in sql for sql in deletes)


def test_purge_task_applies_retention_too(aged_rows):
    from apps.ingest.tasks import purge_expired

    purge_expired.apply()
    # The run records its own outcome (a fresh job_outcome row) on top of the survivor.
    JobOutcome.objects.filter(job_type="ingest.purge_expired").delete()
    assert counts() == dict.fromkeys(KIND_MODELS, 1)


def test_purge_analytics_also_purges_the_tables_other_apps_keep(settings):
    # Health checks and the alerting history are no record kind: their apps register a
    # purge that the command and the daily task run after the kinds' tables.
    from apps.monitoring.models import HealthCheck, MonitoredService

    settings.MONITORING_CHECK_RETENTION_DAYS = 31
    service = MonitoredService.objects.create(name="api", check_type="http", target="http://x/")
    old = datetime.now(UTC) - timedelta(days=40)
    HealthCheck.objects.create(service=service, status="healthy", checked_at=old)
    HealthCheck.objects.create(service=service, status="healthy", checked_at=datetime.now(UTC))
    with connection.cursor() as cursor:  # the test's transaction: a week can then be dropped
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    out, _ = run("purge_analytics")

    assert re.search(r"^monitoring:healthcheck: deleted 1 rows older than ", out, re.M)
    assert re.search(r"^alerts:deliveries: deleted 0 rows older than ", out, re.M)
    assert HealthCheck.objects.count() == 1
