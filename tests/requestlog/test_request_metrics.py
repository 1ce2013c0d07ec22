"""Every stored request log is also two metric points: api_request_count and
api_request_duration_ms, tagged service, endpoint (the route when known), method, status."""

import pytest

from apps.metrics.models import MetricPoint
from tests.helpers import ago, drain_outbox, new_id, post_json

pytestmark = pytest.mark.django_db

URL = "/api/v1/analytics/requests"


def log(**extra) -> dict:
    return {
        "service": "billing",
        "endpoint": "/invoices/17",
        "route": "/invoices/{id}",
        "method": "GET",
        "status_code": 200,
        "response_time_ms": 12.5,
        "timestamp": ago(minutes=5),
        **extra,
    }


def points(name: str) -> list[MetricPoint]:
    return list(MetricPoint.objects.filter(metric_name=name).order_by("value"))


def test_a_shipped_request_log_becomes_a_count_and_a_duration_point(ingest_client):
    post_json(ingest_client, URL, [log(), log(response_time_ms=40, status_code=503)])
    drain_outbox()

    counts = points("api_request_count")
    durations = points("api_request_duration_ms")
    assert [(p.value, p.metric_type) for p in counts] == [(1, "counter"), (1, "counter")]
    assert [(p.value, p.unit) for p in durations] == [(12.5, "ms"), (40, "ms")]
    assert durations[1].tags == {
        "service": "billing",
        "endpoint": "/invoices/{id}",
        "method": "GET",
        "status": "503",
    }


def test_statistics_answer_for_request_metrics_by_endpoint(ingest_client, read_client):
    post_json(
        ingest_client,
        URL,
        [log(response_time_ms=ms) for ms in (10, 20, 30)] + [log(route="/other")],
    )
    drain_outbox()

    stats = read_client.get(
        "/api/v1/analytics/metrics/api_request_duration_ms/statistics",
        {"hours": 1, "tag": "endpoint:/invoices/{id}"},
    ).json()

    assert (stats["count"], stats["min"], stats["max"], stats["avg"]) == (3, 10, 30, 20)


def test_a_retried_batch_derives_its_points_once(ingest_client):
    items = [log(event_id=new_id()) for _ in range(2)]
    post_json(ingest_client, URL, items)
    post_json(ingest_client, URL, items)
    drain_outbox()

    assert MetricPoint.objects.filter(metric_name="api_request_count").count() == 2
