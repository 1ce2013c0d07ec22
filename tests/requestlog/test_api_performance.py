"""GET /api/v1/metrics/api-performance: per-endpoint statistics over a bounded window."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from apps.requestlog.models import APIRequestLog
from tests.helpers import ago, drain_outbox, new_id, post_json

URL = "/api/v1/metrics/api-performance"
INGEST_URL = "/api/v1/analytics/requests"

pytestmark = pytest.mark.django_db


def percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (position - lower) * (ordered[upper] - ordered[lower])


def log_line(endpoint: str, ms: float, status: int = 200, method: str = "GET", **extra) -> dict:
    return {
        "service": "fleet-api",
        "endpoint": endpoint,
        "method": method,
        "status_code": status,
        "response_time_ms": ms,
        "event_id": new_id(),
        **extra,
    }


def ship(client, lines: list[dict]) -> None:
    response = post_json(client, INGEST_URL, lines)
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": len(lines), "duplicates": 0, "rejected": []}
    assert drain_outbox() == len(lines)


def by_endpoint(body: dict) -> dict[str, dict]:
    return {row["endpoint"]: row for row in body["endpoints"]}


DEVICES_TIMES = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 1000.0]
DEVICES_STATUSES = [200, 200, 200, 200, 200, 201, 404, 422, 500, 503]
JOBS_TIMES = [5.5, 7.25, 100.0]
JOBS_STATUSES = [200, 200, 200]


@pytest.fixture
def shipped(ingest_client):
    lines = [
        log_line("/api/devices", ms, status, timestamp=ago(minutes=5 + i))
        for i, (ms, status) in enumerate(zip(DEVICES_TIMES, DEVICES_STATUSES, strict=True))
    ]
    lines += [
        log_line("/api/jobs", ms, status, method="POST", timestamp=ago(hours=2, minutes=i))
        for i, (ms, status) in enumerate(zip(JOBS_TIMES, JOBS_STATUSES, strict=True))
    ]
    # Outside a 24 h window (but inside retention): must not count.
    lines += [
        log_line("/api/devices", 99999.0, 500, timestamp=ago(hours=30)),
        log_line("/api/old-only", 1.0, 200, timestamp=ago(hours=25)),
    ]
    ship(ingest_client, lines)
    return lines


def test_per_endpoint_counts_and_response_times_match_independent_computation(shipped, read_client):
    response = read_client.get(URL, {"hours": 24})
    assert response.status_code == 200, response.content
    body = response.json()
    rows = by_endpoint(body)
    assert set(rows) == {"/api/devices", "/api/jobs"}

    devices = rows["/api/devices"]
    assert devices["request_count"] == 10
    assert devices["avg_response_time_ms"] == pytest.approx(
        round(sum(DEVICES_TIMES) / len(DEVICES_TIMES), 2)
    )
    assert devices["min_response_time_ms"] == 10.0
    assert devices["max_response_time_ms"] == 1000.0
    # 0.95 * 9 = 8.55 -> 90 + 0.55 * (1000 - 90) = 590.5
    assert devices["p95_response_time_ms"] == pytest.approx(
        round(percentile_cont(DEVICES_TIMES, 0.95), 2)
    )
    assert devices["p95_response_time_ms"] == pytest.approx(590.5)

    jobs = rows["/api/jobs"]
    assert jobs["request_count"] == 3
    assert jobs["avg_response_time_ms"] == pytest.approx(round(sum(JOBS_TIMES) / 3, 2))
    assert jobs["min_response_time_ms"] == 5.5
    assert jobs["max_response_time_ms"] == 100.0
    assert jobs["p95_response_time_ms"] == pytest.approx(
        round(percentile_cont(JOBS_TIMES, 0.95), 2)
    )
    # Busiest endpoint first.
    assert [row["endpoint"] for row in body["endpoints"]] == ["/api/devices", "/api/jobs"]


def test_error_count_and_rate_count_4xx_and_5xx(shipped, read_client):
    body = read_client.get(URL, {"hours": 24}).json()
    rows = by_endpoint(body)
    devices = rows["/api/devices"]
    expected_errors = sum(1 for s in DEVICES_STATUSES if s >= 400)
    assert expected_errors == 4
    assert devices["error_count"] == expected_errors
    assert devices["server_error_count"] == sum(1 for s in DEVICES_STATUSES if s >= 500)
    assert devices["error_rate"] == pytest.approx(round(expected_errors / 10, 4))
    assert rows["/api/jobs"]["error_count"] == 0
    assert rows["/api/jobs"]["error_rate"] == 0.0


def test_totals_cover_every_endpoint_in_the_window(shipped, read_client):
    body = read_client.get(URL, {"hours": 24}).json()
    all_times = DEVICES_TIMES + JOBS_TIMES
    assert body["period_hours"] == 24
    assert body["total_requests"] == 13
    assert body["avg_response_time_ms"] == pytest.approx(round(sum(all_times) / 13, 2))
    assert body["min_response_time_ms"] == 5.5
    assert body["max_response_time_ms"] == 1000.0
    assert body["p95_response_time_ms"] == pytest.approx(round(percentile_cont(all_times, 0.95), 2))
    assert body["error_count"] == 4
    assert body["error_rate"] == pytest.approx(round(4 / 13, 4))


def test_requests_outside_the_window_are_excluded_and_a_wider_window_includes_them(
    shipped, read_client
):
    narrow = by_endpoint(read_client.get(URL, {"hours": 1}).json())
    assert set(narrow) == {"/api/devices"}  # /api/jobs lines are 2 h old
    assert narrow["/api/devices"]["request_count"] == 10

    day = by_endpoint(read_client.get(URL, {"hours": 24}).json())
    assert "/api/old-only" not in day
    assert day["/api/devices"]["max_response_time_ms"] == 1000.0

    wide = by_endpoint(read_client.get(URL, {"hours": 48}).json())
    assert wide["/api/old-only"]["request_count"] == 1
    assert wide["/api/devices"]["request_count"] == 11
    assert wide["/api/devices"]["max_response_time_ms"] == 99999.0


def test_p95_ignores_requests_outside_the_window(read_client):
    now = datetime.now(UTC)
    inside = [1.0, 2.0, 3.0, 4.0]
    for ms in inside:
        make_log("/api/p95", ms, timestamp=now - timedelta(minutes=30))
    make_log("/api/p95", 50_000.0, timestamp=now - timedelta(hours=3))
    body = read_client.get(URL, {"hours": 2}).json()
    row = by_endpoint(body)["/api/p95"]
    assert row["request_count"] == 4
    assert row["p95_response_time_ms"] == pytest.approx(round(percentile_cont(inside, 0.95), 2))
    assert row["max_response_time_ms"] == 4.0


def make_log(endpoint: str, ms: float, *, timestamp: datetime, status: int = 200):
    return APIRequestLog.objects.create(
        endpoint=endpoint,
        method="GET",
        status_code=status,
        response_time_ms=ms,
        timestamp=timestamp,
        received_at=timestamp,
    )


def test_endpoint_filter_returns_only_that_endpoint(shipped, read_client):
    body = read_client.get(URL, {"hours": 24, "endpoint": "/api/jobs"}).json()
    assert body["endpoint"] == "/api/jobs"
    assert [row["endpoint"] for row in body["endpoints"]] == ["/api/jobs"]
    assert body["total_requests"] == 3
    assert body["max_response_time_ms"] == 100.0
    assert body["endpoints"][0]["request_count"] == 3


def test_endpoint_filter_with_unknown_endpoint_returns_empty_stats(shipped, read_client):
    body = read_client.get(URL, {"hours": 24, "endpoint": "/nowhere"}).json()
    assert body["total_requests"] == 0
    assert body["endpoints"] == []
    assert body["avg_response_time_ms"] is None
    assert body["p95_response_time_ms"] is None
    assert body["error_rate"] == 0.0


def test_empty_endpoint_filter_is_a_400_not_every_endpoint(shipped, read_client):
    response = read_client.get(f"{URL}?endpoint=")
    assert response.status_code == 400
    assert response.json()["fields"] == {"endpoint": ["May not be empty."]}


def test_empty_window_returns_zero_requests(read_client):
    response = read_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["period_hours"] == 24  # the default
    assert body["total_requests"] == 0
    assert body["endpoints"] == []


@pytest.mark.parametrize("hours", ["0", "169", "abc", "-1", "1.5"])
def test_hours_out_of_bounds_or_not_an_integer_is_a_400_naming_hours(read_client, hours):
    response = read_client.get(URL, {"hours": hours})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert "hours" in body["fields"]


@pytest.mark.parametrize("hours", [1, 168])
def test_hours_at_the_bounds_is_accepted(read_client, hours):
    response = read_client.get(URL, {"hours": hours})
    assert response.status_code == 200
    assert response.json()["period_hours"] == hours


def test_since_is_hours_before_now(read_client):
    before = datetime.now(UTC)
    body = read_client.get(URL, {"hours": 5}).json()
    after = datetime.now(UTC)
    since = datetime.fromisoformat(body["since"].replace("Z", "+00:00"))
    assert before - timedelta(hours=5, seconds=1) <= since <= after - timedelta(hours=5)


def test_no_credentials_is_401(db):
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_ingest_key_may_not_read_403(ingest_client):
    response = ingest_client.get(URL)
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_read_key_may_read(read_client):
    assert read_client.get(URL).status_code == 200


def test_staff_session_may_read(staff_client):
    assert staff_client.get(URL).status_code == 200


def test_non_staff_session_is_403(outsider):
    client = APIClient()
    client.force_login(outsider)
    response = client.get(URL)
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
