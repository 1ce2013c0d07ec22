"""Errors: ingest (with secrets scrubbed) and GET /api/v1/metrics/error-trends."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from apps.errors.models import ErrorCategory, ErrorLog, Severity
from tests.helpers import ago, drain_outbox, iso, post_json

INGEST_URL = "/api/v1/analytics/error"
URL = "/api/v1/metrics/error-trends"
NOW = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def ship(client, body, accepted: int) -> None:
    response = post_json(client, INGEST_URL, body)
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == accepted
    drain_outbox()


def error(category: str, severity: str, message: str, at: datetime, **extra) -> dict:
    return {
        "category": category,
        "severity": severity,
        "error_message": message,
        "timestamp": iso(at),
        **extra,
    }


def test_seed_frontend_error_is_stored_with_stack_trace_and_context(ingest_client):
    ship(
        ingest_client,
        {
            "category": "frontend",
            "severity": "error",
            "error_message": "Cannot read properties of undefined (reading 'map')",
            "stack_trace": (
                "TypeError: Cannot read properties of undefined\n    at List (app.js:10:5)"
            ),
            "context": {"url": "https://fleet.example/devices", "user_agent": "Mozilla/5.0"},
        },
        accepted=1,
    )
    row = ErrorLog.objects.get()
    assert row.category == "frontend"
    assert row.severity == "error"
    assert row.error_message == "Cannot read properties of undefined (reading 'map')"
    assert row.stack_trace.endswith("at List (app.js:10:5)")
    assert row.context == {"url": "https://fleet.example/devices", "user_agent": "Mozilla/5.0"}
    assert row.resolved is False
    assert row.resolved_by == ""
    assert row.resolved_at is None


def test_secrets_in_context_and_stack_trace_are_redacted(ingest_client):
    ship(
        ingest_client,
        {
            "category": "frontend",
            "error_message": "login failed password=hunter2",
            "stack_trace": (
                "Error: fetch failed\n"
                "    at call (https://fleet.example/api?token=abc123&page=2)\n"
                "    Authorization: Bearer sk-live-9999"
            ),
            "context": {
                "url": "https://fleet.example/login",
                "password": "x",
                "nested": {"api_key": "y", "ok": 1},
                "attempts": [{"auth_token": "z", "n": 2}],
            },
        },
        accepted=1,
    )
    row = ErrorLog.objects.get()
    assert row.context == {
        "url": "https://fleet.example/login",
        "password": "[redacted]",
        "nested": {"api_key": "[redacted]", "ok": 1},
        "attempts": [{"auth_token": "[redacted]", "n": 2}],
    }
    assert "abc123" not in row.stack_trace
    assert "token=[redacted]&page=2" in row.stack_trace
    assert "sk-live-9999" not in row.stack_trace
    assert "Error: fetch failed" in row.stack_trace
    assert row.error_message == "login failed password=[redacted]"


def test_invalid_category_on_ingest_is_rejected_naming_the_field(ingest_client):
    response = post_json(ingest_client, INGEST_URL, {"category": "cosmic", "error_message": "x"})
    assert response.status_code == 400
    rejected = response.json()["rejected"]
    assert rejected[0]["index"] == 0
    assert "category" in rejected[0]["errors"]


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def shipped(frozen, ingest_client):
    at = NOW.replace
    ship(
        ingest_client,
        [
            error("frontend", "error", "A", at(hour=12, minute=10)),
            error("api", "critical", "B", at(hour=10, minute=5), error_code="E-B"),
            error("database", "warning", "C", at(hour=10, minute=45)),
            error("validation", "info", "D", at(hour=9, minute=40)),
            error("api", "error", "E", at(hour=9, minute=10)),  # before a 3 h window
            error("external_service", "error", "F", NOW - timedelta(hours=30)),
        ],
        accepted=6,
    )


def hour_str(hour: int) -> str:
    return f"2025-06-01T{hour:02d}:00:00Z"


def test_counts_by_category_and_severity_in_the_window(shipped, read_client):
    response = read_client.get(URL, {"hours": 3})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["period_hours"] == 3
    assert body["total_errors"] == 4
    assert body["by_category"] == {
        "api": 1,
        "database": 1,
        "external_service": 0,
        "validation": 1,
        "frontend": 1,
    }
    assert body["by_severity"] == {"critical": 1, "error": 1, "warning": 1, "info": 1}
    assert set(body["by_category"]) == set(ErrorCategory.values)
    assert set(body["by_severity"]) == set(Severity.values)


def test_counts_per_category_and_severity_pair(shipped, read_client):
    body = read_client.get(URL, {"hours": 6}).json()

    matrix = body["by_category_severity"]
    assert set(matrix) == set(ErrorCategory.values)
    assert all(set(row) == set(Severity.values) for row in matrix.values())
    assert matrix["api"] == {"critical": 1, "error": 1, "warning": 0, "info": 0}
    assert matrix["frontend"]["error"] == matrix["database"]["warning"] == 1
    assert sum(sum(row.values()) for row in matrix.values()) == body["total_errors"] == 5


def test_hourly_series_has_hours_plus_one_buckets_with_counts_in_the_right_hour(
    shipped, read_client
):
    body = read_client.get(URL, {"hours": 3}).json()
    # since = 09:30 -> buckets 09, 10, 11 (empty), 12
    assert body["since"] == "2025-06-01T09:30:00Z"
    assert body["hourly"] == [
        {"hour": hour_str(9), "count": 1},
        {"hour": hour_str(10), "count": 2},
        {"hour": hour_str(11), "count": 0},
        {"hour": hour_str(12), "count": 1},
    ]


def test_hourly_series_for_a_day_is_25_buckets_summing_to_the_total(shipped, read_client):
    body = read_client.get(URL, {"hours": 24}).json()
    hourly = body["hourly"]
    assert len(hourly) == 25
    assert hourly[0]["hour"] == "2025-05-31T12:00:00Z"
    assert hourly[-1]["hour"] == hour_str(12)
    counts = {h["hour"]: h["count"] for h in hourly}
    assert counts[hour_str(9)] == 2  # D at 09:40 and E at 09:10
    assert counts[hour_str(10)] == 2
    assert counts[hour_str(12)] == 1
    assert sum(counts.values()) == body["total_errors"] == 5
    assert sum(1 for h in hourly if h["count"] == 0) == 22
    # Hours are consecutive.
    stamps = [datetime.fromisoformat(h["hour"].replace("Z", "+00:00")) for h in hourly]
    assert all(b - a == timedelta(hours=1) for a, b in zip(stamps, stamps[1:], strict=False))


def test_unresolved_count_drops_when_an_error_is_resolved(shipped, read_client):
    assert read_client.get(URL, {"hours": 3}).json()["unresolved_count"] == 4
    ErrorLog.objects.filter(error_code="E-B").update(resolved=True, resolved_by="oncall")
    body = read_client.get(URL, {"hours": 3}).json()
    assert body["unresolved_count"] == 3
    assert body["total_errors"] == 4


def test_category_filter_limits_counts_and_series(shipped, read_client):
    body = read_client.get(URL, {"hours": 24, "category": "api"}).json()
    assert body["category"] == "api"
    assert body["total_errors"] == 2
    assert body["by_category"]["api"] == 2
    assert sum(body["by_category"].values()) == 2
    assert body["by_severity"] == {"critical": 1, "error": 1, "warning": 0, "info": 0}
    counts = {h["hour"]: h["count"] for h in body["hourly"]}
    assert counts[hour_str(9)] == 1
    assert counts[hour_str(10)] == 1
    assert counts[hour_str(12)] == 0
    assert body["unresolved_count"] == 2


def test_wider_window_includes_older_errors(shipped, read_client):
    body = read_client.get(URL, {"hours": 48}).json()
    assert body["total_errors"] == 6
    assert body["by_category"]["external_service"] == 1
    assert len(body["hourly"]) == 49


def test_invalid_category_is_a_400_naming_category(read_client):
    response = read_client.get(URL, {"category": "cosmic"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert "category" in body["fields"]


def test_empty_category_is_a_400_not_every_category(shipped, read_client):
    response = read_client.get(f"{URL}?category=")
    assert response.status_code == 400
    assert response.json()["fields"] == {"category": ["May not be empty."]}


@pytest.mark.parametrize("hours", ["0", "169", "abc"])
def test_hours_out_of_bounds_is_a_400_naming_hours(read_client, hours):
    response = read_client.get(URL, {"hours": hours})
    assert response.status_code == 400
    assert "hours" in response.json()["fields"]


def test_hours_168_is_accepted_with_169_buckets(read_client):
    response = read_client.get(URL, {"hours": 168})
    assert response.status_code == 200
    assert len(response.json()["hourly"]) == 169


def test_error_posted_now_lands_in_the_current_hour_bucket(ingest_client, read_client):
    item = {"category": "api", "error_message": "now", "timestamp": ago(seconds=1)}
    ship(ingest_client, item, accepted=1)
    body = read_client.get(URL, {"hours": 2}).json()
    assert len(body["hourly"]) == 3
    assert body["hourly"][-1]["count"] + body["hourly"][-2]["count"] == 1
    assert body["total_errors"] == 1


def test_error_trends_needs_read_access(ingest_client):
    assert APIClient().get(URL).status_code == 401
    assert ingest_client.get(URL).status_code == 403
