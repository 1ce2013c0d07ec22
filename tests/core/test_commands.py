"""Management commands (purge, schedules, keys) and the public surface: health, schema, docs."""

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLResolver, get_resolver
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.test import APIClient

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


# --- purge_analytics -------------------------------------------------------


def test_purge_dry_run_prints_per_kind_counts_and_deletes_nothing(aged_rows):
    make_rows("error", days_ago=120, count=2)
    out, _ = run("purge_analytics", "--dry-run")
    lines = {line.split(":")[0]: line for line in out.strip().splitlines()}
    # One line per registered kind (the seed's five, and any added since).
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
    settings.PURGE_BATCH_SIZE = 2
    make_rows("request_log", days_ago=95, count=4)  # 5 expired request logs in all
    with CaptureQueriesContext(connection) as ctx:
        run("purge_analytics")
    assert counts() == dict.fromkeys(KIND_MODELS, 1)
    deletes = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith("DELETE FROM requestlog_apirequestlog")
    ]
    # Bounded: 2 + 2 + 1 rows, one statement each.
    assert len(deletes) == 3
    assert all("LIMIT 2" in sql for sql in deletes)


def test_purge_task_applies_retention_too(aged_rows):
    from apps.core.tasks import purge_expired

    purge_expired.apply()
    # The run records its own outcome (a fresh job_outcome row) on top of the survivor.
    JobOutcome.objects.filter(job_type="core.purge_expired").delete()
    assert counts() == dict.fromkeys(KIND_MODELS, 1)


# --- setup_schedules -------------------------------------------------------


def managed_tasks() -> list[tuple]:
    return list(
        PeriodicTask.objects.filter(name__startswith="analytics:")
        .order_by("name")
        .values_list("id", "name", "task", "enabled", "interval_id", "crontab_id")
    )


def test_setup_schedules_creates_one_task_per_entry(settings):
    out, _ = run("setup_schedules")
    assert f"{len(settings.PERIODIC_TASKS)} created" in out
    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__startswith="analytics:")}
    assert set(tasks) == {f"analytics:{name}" for name in settings.PERIODIC_TASKS}
    sweep = tasks["analytics:sweep-outbox"]
    assert sweep.task == "ingest.sweep_outbox"
    assert sweep.interval.every == 30
    assert sweep.interval.period == IntervalSchedule.SECONDS
    assert sweep.crontab is None
    purge = tasks["analytics:purge-analytics"]
    assert purge.task == "core.purge_expired"
    assert (purge.crontab.minute, purge.crontab.hour) == ("30", "3")
    assert purge.interval is None


def test_setup_schedules_twice_is_idempotent():
    run("setup_schedules")
    first = managed_tasks()
    out, _ = run("setup_schedules")
    assert "0 created, 0 updated, 0 removed" in out
    assert managed_tasks() == first
    assert IntervalSchedule.objects.filter(every=30).count() == 1


def test_setup_schedules_removes_a_task_dropped_from_settings_and_keeps_foreign_ones(settings):
    run("setup_schedules")
    foreign = PeriodicTask.objects.create(
        name="someone-elses-job",
        task="other.job",
        interval=IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES),
    )
    settings.PERIODIC_TASKS = {
        k: v for k, v in settings.PERIODIC_TASKS.items() if k != "purge-analytics"
    }
    out, _ = run("setup_schedules")
    assert "1 removed" in out
    names = [t[1] for t in managed_tasks()]
    assert names == sorted(f"analytics:{name}" for name in settings.PERIODIC_TASKS)
    assert "analytics:purge-analytics" not in names
    assert PeriodicTask.objects.filter(pk=foreign.pk).exists()


def test_setup_schedules_updates_a_changed_interval(settings):
    run("setup_schedules")
    settings.PERIODIC_TASKS = {
        **settings.PERIODIC_TASKS,
        "sweep-outbox": {"task": "ingest.sweep_outbox", "every_seconds": 45},
    }
    out, _ = run("setup_schedules")
    assert "0 created, 1 updated, 0 removed" in out
    assert PeriodicTask.objects.get(name="analytics:sweep-outbox").interval.every == 45


# --- create_api_key --------------------------------------------------------


def test_create_api_key_prints_the_key_alone_on_the_last_line_and_it_reads(db):
    out, err = run("create_api_key", "dashboards", "--scope", "read")
    key = out.strip().splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9]+\.[A-Za-z0-9]+", key)
    assert key.split(".")[0] in err  # the prefix is named, the key itself is not
    assert key not in err
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/metrics/api-performance").status_code == 200


def test_create_api_key_defaults_to_an_ingest_key_that_cannot_read(db):
    out, _ = run("create_api_key", "frontend")
    key = out.strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    assert client.get("/api/v1/metrics/api-performance").status_code == 403
    response = client.generic(
        "POST",
        "/api/v1/analytics/user-activity",
        b'{"activity_type": "click"}',
        content_type="application/json",
    )
    assert response.status_code == 202


# --- public surface --------------------------------------------------------


def test_health_is_public_json_with_status_ok(db):
    response = APIClient().get("/api/v1/analytics/health")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


EXPECTED_PATHS = {
    "/api/v1/analytics/health",
    "/api/v1/analytics/user-activity",
    "/api/v1/analytics/error",
    "/api/v1/analytics/device-state-change",
    "/api/v1/analytics/job-outcome",
    "/api/v1/analytics/requests",
    "/api/v1/analytics/batch",
    "/api/v1/metrics/api-performance",
    "/api/v1/metrics/job-outcomes",
    "/api/v1/metrics/error-trends",
    "/api/v1/metrics/device-state-history/{device_id}",
}


@pytest.fixture
def openapi(db) -> dict:
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


NOT_API_ROUTES = ("admin/", "api/schema/", "api/docs/")


def api_paths_from_urlconf() -> set[str]:
    """Every route in the URLconf but the admin and the schema/docs pages themselves,
    with <conv:name> written as {name}."""

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            else:
                yield route

    return {
        "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        for route in walk(get_resolver().url_patterns, "")
        if not route.startswith(NOT_API_ROUTES)
    }


def test_schema_lists_every_endpoint_path(openapi):
    assert openapi["openapi"].startswith("3.")
    in_urlconf = api_paths_from_urlconf()
    assert EXPECTED_PATHS <= in_urlconf  # the seed's endpoints are all routed
    assert set(openapi["paths"]) == in_urlconf


def test_schema_documents_methods_per_path(openapi):
    paths = openapi["paths"]
    for path in EXPECTED_PATHS:
        expected = "get" if "/metrics/" in path or path.endswith("/health") else "post"
        assert expected in paths[path], path


def param(openapi: dict, path: str, name: str) -> dict:
    params = openapi["paths"][path]["get"]["parameters"]
    return next(p for p in params if p["name"] == name)


def bounds_documented(parameter: dict, low: int, high: int) -> bool:
    """As machine-readable minimum/maximum, or at least in the description."""
    schema = parameter["schema"]
    if schema.get("minimum") == low and schema.get("maximum") == high:
        return True
    return f"{low}-{high}" in parameter.get("description", "")


def test_schema_documents_hours_bounds(openapi):
    hours = param(openapi, "/api/v1/metrics/api-performance", "hours")
    assert hours["in"] == "query"
    assert hours["schema"]["type"] == "integer"
    assert bounds_documented(hours, 1, 168)
    device_hours = param(openapi, "/api/v1/metrics/device-state-history/{device_id}", "hours")
    assert bounds_documented(device_hours, 1, 720)
    assert not bounds_documented(device_hours, 1, 168)
    device_id = param(openapi, "/api/v1/metrics/device-state-history/{device_id}", "device_id")
    assert device_id["in"] == "path"
    assert device_id["required"] is True


def test_schema_is_also_served_as_json(db):
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert set(response.json()["paths"]) == api_paths_from_urlconf()


def test_schema_declares_the_api_key_security_scheme(openapi):
    schemes = openapi.get("components", {}).get("securitySchemes", {})
    assert any(
        s.get("scheme") == "bearer" or (s.get("type") == "apiKey" and s.get("name") == "X-API-Key")
        for s in schemes.values()
    )


def test_schema_documents_the_metrics_response_bodies(openapi):
    for path in EXPECTED_PATHS:
        if "/metrics/" in path:
            ok = openapi["paths"][path]["get"]["responses"]["200"]
            assert "content" in ok, path


def test_docs_page_is_html(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"swagger" in response.content.lower()


@pytest.mark.parametrize("path", ["/api/nope", "/api/v1/metrics/nothing-here", "/api/v2/"])
def test_unknown_api_url_is_a_json_404(db, path):
    response = APIClient().get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "not_found"
