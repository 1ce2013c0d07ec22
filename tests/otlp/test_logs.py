"""POST /otlp/v1/logs: error records become errors; the rest events or nothing."""

import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from apps.errors.models import ErrorLog
from apps.events.models import Event
from tests.helpers import drain_outbox
from tests.otlp.payloads import JSON, log_record, logs_request, now_ns, otlp_json, post

pytestmark = pytest.mark.django_db

URL = "/otlp/v1/logs"
TRACE, SPAN = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
STACK = 'Traceback (most recent call last):\n  File "pay.py", line 3\nZeroDivisionError: x'


def answer(response) -> logs_service_pb2.ExportLogsServiceResponse:
    message = logs_service_pb2.ExportLogsServiceResponse()
    message.ParseFromString(response.content)
    return message


def test_an_error_record_becomes_an_error_with_its_stack_and_ids(ingest_client, read_client):
    record = log_record(
        "payment failed",
        trace=TRACE,
        span_id=SPAN,
        exception__type="ZeroDivisionError",
        exception__message="division by zero",
        exception__stacktrace=STACK,
        order_id="o-9",
        password="hunter2",
    )

    response = post(ingest_client, URL, logs_request(record))

    assert response.status_code == 200
    assert not answer(response).HasField("partial_success")
    drain_outbox()
    error = ErrorLog.objects.get()
    assert (error.error_message, error.error_code) == ("division by zero", "ZeroDivisionError")
    assert (error.severity, error.category) == ("error", "api")
    assert error.stack_trace == STACK
    assert error.context["trace_id"] == TRACE and error.context["span_id"] == SPAN
    assert error.context["service"] == "api" and error.context["logger"] == "app.payments"
    assert error.context["body"] == "payment failed"
    assert error.context["attributes"]["order_id"] == "o-9"
    assert "hunter2" not in str(error.context)
    trends = read_client.get("/api/v1/metrics/error-trends", {"hours": 24}).json()
    assert (trends["total_errors"], trends["by_category"]["api"]) == (1, 1)


def test_fatal_is_critical_and_a_warning_with_an_exception_is_an_error_row(ingest_client):
    fatal = log_record("disk gone", severity=21, text="FATAL")
    warning = log_record("retrying", severity=13, text="WARN", exception__type="Timeout")

    post(ingest_client, URL, logs_request(fatal, warning))

    drain_outbox()
    severities = dict(ErrorLog.objects.values_list("error_message", "severity"))
    assert severities == {"disk gone": "critical", "retrying": "warning"}


def test_records_below_error_are_dropped_by_default(ingest_client):
    response = post(ingest_client, URL, logs_request(log_record("hello", severity=9, text="INFO")))

    assert response.status_code == 200
    assert not answer(response).HasField("partial_success")
    drain_outbox()
    assert (ErrorLog.objects.count(), Event.objects.count()) == (0, 0)


def test_records_below_error_become_events_when_the_setting_says_so(ingest_client, settings):
    settings.OTLP_LOGS_BELOW_ERROR = "events"
    info = log_record("cart opened", severity=9, text="INFO", trace=TRACE, user__id="u-1")

    post(ingest_client, URL, logs_request(info))

    drain_outbox()
    event = Event.objects.get()
    assert (event.event_type, event.user_id) == ("otel_log", "u-1")
    assert event.metadata["body"] == "cart opened"
    assert event.metadata["trace_id"] == TRACE


def test_json_logs_and_a_retry_store_one_error(ingest_client):
    body = otlp_json(logs_request(log_record("boom", trace=TRACE, span_id=SPAN)))

    assert post(ingest_client, URL, body, JSON).status_code == 200
    assert post(ingest_client, URL, body, JSON).json() == {}

    drain_outbox()
    assert ErrorLog.objects.get().context["span_id"] == SPAN


def test_refused_records_are_counted(ingest_client):
    old = log_record("ancient", at=now_ns(60 * 24 * 400))

    response = post(ingest_client, URL, logs_request(old, log_record("fresh")))

    partial = answer(response).partial_success
    assert partial.rejected_log_records == 1
    assert "timestamp" in partial.error_message
