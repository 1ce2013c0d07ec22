"""OTLP JSON exactly as the OpenTelemetry JavaScript SDK's exporters send it (bodies
recorded from them, tests/otlp/recorded/README.md), times moved to the present: every
figure that lands."""

import time
from pathlib import Path

import orjson
import pytest

from apps.ai.models import AiUsage
from apps.errors.models import ErrorLog
from apps.metrics.models import MetricPoint
from apps.metrics.rollups import rollup_pending
from apps.requestlog.models import APIRequestLog
from tests.helpers import drain_outbox
from tests.otlp.payloads import JSON, post

pytestmark = pytest.mark.django_db

RECORDED = Path(__file__).parent / "recorded"
TIME_FIELDS = ("timeUnixNano", "startTimeUnixNano", "endTimeUnixNano", "observedTimeUnixNano")


def _times(value, found: list[int]):
    if isinstance(value, dict):
        for key, item in value.items():
            if key in TIME_FIELDS:
                found.append(int(item))
            else:
                _times(item, found)
    elif isinstance(value, list):
        for item in value:
            _times(item, found)


def _shift(value, by: int):
    if isinstance(value, dict):
        return {
            key: str(int(item) + by) if key in TIME_FIELDS else _shift(item, by)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_shift(item, by) for item in value]
    return value


def send_recorded(client, *names: str) -> list:
    """POST the recorded bodies in order, all moved by one offset so the newest time is a
    minute ago (int64s stay strings, as the exporter wrote them)."""
    bodies = {name: orjson.loads((RECORDED / name).read_bytes()) for name in names}
    found: list[int] = []
    _times(list(bodies.values()), found)
    by = int((time.time() - 60) * 1e9) - max(found)
    responses = []
    for name in names:
        signal = name.removesuffix(".json").split("_")[1]  # js_metrics_1.json: metrics
        path = f"/otlp/v1/{signal}"
        responses.append(post(client, path, orjson.dumps(_shift(bodies[name], by)), JSON))
    return responses


def test_the_javascript_sdk_s_metrics_land(ingest_client, read_client):
    responses = send_recorded(ingest_client, "js_metrics_1.json", "js_metrics_2.json")

    assert [(r.status_code, r.json()) for r in responses] == [(200, {}), (200, {})]
    drain_outbox()
    rollup_pending()
    orders = read_client.get(
        "/api/v1/analytics/metrics/shop.orders/statistics", {"hours": 1, "tag": "region:eu"}
    ).json()
    assert (orders["count"], orders["sum"]) == (2, 4.0)  # 4 counted once, then 0 more
    durations = read_client.get(
        "/api/v1/analytics/metrics/http.client.request.duration/statistics",
        {"hours": 1, "tag": "service.name:web-shop"},
    ).json()
    assert (durations["count"], durations["min"], durations["max"]) == (4, 12.0, 300.0)
    assert durations["sum"] == pytest.approx(447.5)
    active = MetricPoint.objects.filter(metric_name="http.client.active_requests")
    assert sorted(active.values_list("value", flat=True)) == [2.0, 2.0]


def test_the_javascript_sdk_s_spans_land(ingest_client):
    (response,) = send_recorded(ingest_client, "js_traces.json")

    assert (response.status_code, response.json()) == (200, {})
    drain_outbox()
    usage = AiUsage.objects.get()
    assert (usage.feature, usage.model, usage.tokens_in, usage.tokens_out) == (
        "chat",
        "gpt-4o-mini",
        321,
        54,
    )
    assert usage.user_id == "js-user"
    assert [step["name"] for step in usage.steps] == ["execute_tool search"]
    served = APIRequestLog.objects.get()
    assert (served.method, served.route, served.status_code) == ("POST", "/checkout", 502)
    assert served.error_message == "upstream failed"


def test_the_javascript_sdk_s_logs_land(ingest_client):
    (response,) = send_recorded(ingest_client, "js_logs.json")

    assert (response.status_code, response.json()) == (200, {})
    drain_outbox()
    error = ErrorLog.objects.get()  # the INFO record is dropped (the default)
    assert (error.error_code, error.category) == ("TypeError", "api")
    assert error.error_message == "Cannot read properties of undefined (reading 'id')"
    assert error.stack_trace.startswith("TypeError")
    assert error.context["trace_id"] == "60c25a7fe9f561f89cca342bfece7917"
    assert error.context["logger"] == "web-shop.checkout"
