"""AnalyticsMiddleware: requests to this service become APIRequestLog rows via the buffer.

These run with transaction=True: the buffer's background flusher writes through
its own database connection, which must see (and be seen by) committed data.
"""

import time
import uuid

import orjson
import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.test import APIClient

from apps.ingest.buffer import IngestBuffer
from apps.requestlog import middleware
from apps.requestlog.middleware import AnalyticsMiddleware
from apps.requestlog.models import APIRequestLog
from tests.helpers import drain_outbox, post_json

PERF_URL = "/api/v1/metrics/api-performance"

pytestmark = pytest.mark.django_db(transaction=True)


def rid() -> str:
    return f"test-{uuid.uuid4().hex}"


def wait_for_logs(*request_ids: str, timeout: float = 5.0) -> dict[str, APIRequestLog]:
    """Flush the buffer, drain the outbox, and return the rows for these request ids.

    The background flusher may have taken the rows a moment before us; poll briefly.
    """
    deadline = time.monotonic() + timeout
    while True:
        middleware.buffer.flush()
        drain_outbox()
        rows = {r.request_id: r for r in APIRequestLog.objects.filter(request_id__in=request_ids)}
        if len(rows) == len(request_ids) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


@pytest.fixture
def logging_on(settings):
    settings.ANALYTICS_ENABLED = True


def key_prefix(plain_key: str) -> str:
    return plain_key.partition(".")[0]


def test_read_request_is_logged_with_request_id_anonymized_ip_and_key_prefix(logging_on, read_key):
    client = APIClient()  # created after the switch: its handler loads the middleware now
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    response = client.get(
        PERF_URL, {"hours": 3}, REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT="probe/1.0"
    )
    assert response.status_code == 200
    request_id = response["X-Request-ID"]
    assert request_id

    row = wait_for_logs(request_id)[request_id]
    assert row.endpoint == PERF_URL
    assert row.method == "GET"
    assert row.status_code == 200
    assert row.response_time_ms > 0
    assert row.client_ip == "203.0.113.0"
    assert row.api_key_prefix == key_prefix(read_key)
    assert row.api_key_prefix  # not empty
    assert row.user_agent == "probe/1.0"
    assert row.service == "self"
    assert row.user_id == ""
    assert row.response_size == len(response.content)


def test_post_is_logged_with_method_status_and_request_size(logging_on, ingest_key):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=ingest_key)
    body = orjson.dumps({"category": "api", "error_message": "boom"})
    response = post_json(client, "/api/v1/analytics/error", body, REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 202
    request_id = response["X-Request-ID"]

    row = wait_for_logs(request_id)[request_id]
    assert row.method == "POST"
    assert row.endpoint == "/api/v1/analytics/error"
    assert row.status_code == 202
    assert row.request_size == len(body)
    assert row.client_ip == "198.51.100.0"
    assert row.api_key_prefix == key_prefix(ingest_key)


def test_refused_request_is_logged_with_its_status(logging_on):
    client = APIClient()
    response = client.get(PERF_URL)
    assert response.status_code == 401
    request_id = response["X-Request-ID"]
    row = wait_for_logs(request_id)[request_id]
    assert row.status_code == 401
    assert row.api_key_prefix == ""


def test_staff_session_request_is_logged_with_user_id(logging_on, staff_user):
    client = APIClient()
    client.force_login(staff_user)
    response = client.get(PERF_URL)
    assert response.status_code == 200
    request_id = response["X-Request-ID"]
    row = wait_for_logs(request_id)[request_id]
    assert row.user_id == str(staff_user.pk)


def test_incoming_request_id_is_echoed_back_and_logged(logging_on, read_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    incoming = rid()
    response = client.get(PERF_URL, HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] == incoming
    row = wait_for_logs(incoming)[incoming]
    assert row.endpoint == PERF_URL


def test_generated_request_ids_differ_per_request(logging_on, read_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    first = client.get(PERF_URL)["X-Request-ID"]
    second = client.get(PERF_URL)["X-Request-ID"]
    assert first != second
    assert set(wait_for_logs(first, second)) == {first, second}


def test_health_and_schema_are_not_logged(logging_on, read_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    health_id, schema_id, sentinel_id = rid(), rid(), rid()
    health = client.get("/api/v1/analytics/health", HTTP_X_REQUEST_ID=health_id)
    schema = client.get("/api/schema/", HTTP_X_REQUEST_ID=schema_id)
    assert health.status_code == 200
    assert schema.status_code == 200
    # Skipped paths still get the request id header.
    assert health["X-Request-ID"] == health_id
    assert schema["X-Request-ID"] == schema_id
    # A logged request after them: once it is in the table, they would be too.
    assert client.get(PERF_URL, HTTP_X_REQUEST_ID=sentinel_id).status_code == 200

    rows = wait_for_logs(sentinel_id)
    assert sentinel_id in rows
    assert not APIRequestLog.objects.filter(request_id__in=[health_id, schema_id]).exists()
    assert not APIRequestLog.objects.filter(endpoint__startswith="/api/schema").exists()
    assert not APIRequestLog.objects.filter(endpoint="/api/v1/analytics/health").exists()


def test_nothing_is_logged_when_analytics_is_disabled(settings, read_key):
    settings.ANALYTICS_ENABLED = False
    off = APIClient()
    off.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    off_id = rid()
    response = off.get(PERF_URL, HTTP_X_REQUEST_ID=off_id)
    assert response.status_code == 200
    assert response["X-Request-ID"] == off_id

    settings.ANALYTICS_ENABLED = True
    on = APIClient()
    on.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    sentinel_id = rid()
    on.get(PERF_URL, HTTP_X_REQUEST_ID=sentinel_id)
    # The disabled client keeps the middleware it was built with.
    off.get(PERF_URL, HTTP_X_REQUEST_ID=off_id)

    assert sentinel_id in wait_for_logs(sentinel_id)
    assert not APIRequestLog.objects.filter(request_id=off_id).exists()


def _ok(request):
    return HttpResponse(b"ok")


def test_enable_logging_false_logs_nothing_even_when_analytics_is_enabled(logging_on):
    factory = RequestFactory()
    off_id, on_id = rid(), rid()

    quiet = AnalyticsMiddleware(_ok, enable_logging=False)
    response = quiet(factory.get("/api/v1/anything", HTTP_X_REQUEST_ID=off_id))
    assert response.status_code == 200
    assert response["X-Request-ID"] == off_id

    loud = AnalyticsMiddleware(_ok)
    loud(factory.get("/api/v1/anything", HTTP_X_REQUEST_ID=on_id))

    rows = wait_for_logs(on_id)
    assert on_id in rows
    assert rows[on_id].endpoint == "/api/v1/anything"
    assert rows[on_id].client_ip == "127.0.0.0"  # RequestFactory's REMOTE_ADDR, anonymized
    assert not APIRequestLog.objects.filter(request_id=off_id).exists()


def test_enable_logging_true_overrides_the_disabled_setting(settings):
    settings.ANALYTICS_ENABLED = False
    request_id = rid()
    AnalyticsMiddleware(_ok, enable_logging=True)(
        RequestFactory().post(
            "/api/v1/x", data=b"{}", content_type="application/json", HTTP_X_REQUEST_ID=request_id
        )
    )
    rows = wait_for_logs(request_id)
    assert rows[request_id].method == "POST"
    assert rows[request_id].request_size == 2


def test_request_succeeds_when_the_buffer_add_raises(logging_on, read_key, monkeypatch):
    def broken_add(*args, **kwargs):
        raise RuntimeError("buffer is broken")

    monkeypatch.setattr(middleware.buffer, "add", broken_add)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    request_id = rid()
    response = client.get(PERF_URL, {"hours": 2}, HTTP_X_REQUEST_ID=request_id)
    assert response.status_code == 200
    assert response.json()["period_hours"] == 2
    assert response["X-Request-ID"] == request_id
    middleware.buffer.flush()
    drain_outbox()
    assert not APIRequestLog.objects.filter(request_id=request_id).exists()


@pytest.fixture
def private_buffer(monkeypatch):
    """A buffer of the real class that only flushes when told (no background thread)."""
    fresh = IngestBuffer(flush_seconds=3600)
    fresh.flusher.thread.adopt()  # "already started": add() will not spawn a flusher
    monkeypatch.setattr(middleware, "buffer", fresh)
    return fresh


def test_a_url_with_a_nul_byte_does_not_lose_the_other_request_logs(
    logging_on, read_key, private_buffer
):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    good_id = rid()
    assert client.get(PERF_URL, HTTP_X_REQUEST_ID=good_id).status_code == 200
    assert client.get("/api/v1/x%00y", HTTP_X_REQUEST_ID=rid()).status_code == 404
    assert private_buffer.flush() == 2  # one flush, as the background thread would do
    drain_outbox()
    # Flushed together with the bad one, the good request must still be logged.
    assert APIRequestLog.objects.filter(request_id=good_id).exists()


def test_a_huge_declared_content_length_is_clamped_and_never_parks_a_batch(logging_on):
    from apps.ingest.models import OutboxBatch

    client = APIClient()  # no key: anyone on the internet can send this
    response = client.get(PERF_URL, CONTENT_LENGTH="3000000000", HTTP_USER_AGENT="x" * 5000)
    request_id = response["X-Request-ID"]

    row = wait_for_logs(request_id)[request_id]
    assert row.status_code == 401
    assert row.request_size == 2_147_483_647
    assert len(row.user_agent) == 500
    assert not OutboxBatch.objects.filter(failed_at__isnull=False).exists()


def test_a_request_log_names_the_route_that_served_it(logging_on, read_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    response = client.get("/api/v1/metrics/device-state-history/dev-42")
    request_id = response["X-Request-ID"]

    row = wait_for_logs(request_id)[request_id]
    assert row.endpoint == "/api/v1/metrics/device-state-history/dev-42"
    assert row.route == "/api/v1/metrics/device-state-history/<str:device_id>"


def test_behind_a_trusted_proxy_the_ip_the_proxy_added_is_logged(logging_on, settings, read_key):
    settings.TRUST_X_FORWARDED_FOR = True
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    # The client wrote the first entry itself; the proxy appended the address it saw.
    response = client.get(PERF_URL, HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.77")

    row = wait_for_logs(response["X-Request-ID"])[response["X-Request-ID"]]
    assert row.client_ip == "203.0.113.0"
