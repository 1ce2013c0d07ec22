import pytest

from apps.metrics.models import DirtyMinute, MetricPoint, MetricRollup, MetricSeries
from apps.metrics.rollups import rollup_pending
from tests.helpers import ago, drain_outbox, post_json

pytestmark = pytest.mark.django_db

RECORD = "/api/v1/analytics/metrics/record"


def point(value, **extra):
    return {
        "metric_name": "api.response_time",
        "value": value,
        "metric_type": "timer",
        "unit": "ms",
        "tags": {"endpoint": "/api/agents", "method": "GET"},
        **extra,
    }


def test_seed_body_is_recorded_with_its_series_and_dirty_minute(ingest_client):
    response = post_json(ingest_client, RECORD, point(125.5))

    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, [])
    drain_outbox()
    stored = MetricPoint.objects.get()
    assert (stored.metric_name, stored.value, stored.unit) == ("api.response_time", 125.5, "ms")
    assert MetricSeries.objects.get().tags == {"endpoint": "/api/agents", "method": "GET"}
    assert DirtyMinute.objects.count() == 1


def test_statistics_match_the_seed_shape(ingest_client, read_client):
    values = [50.0, 120.0, 125.5, 200.0, 500.0]
    post_json(ingest_client, RECORD, [point(v, timestamp=ago(minutes=30)) for v in values])
    drain_outbox()
    rollup_pending()
    assert MetricRollup.objects.filter(resolution="m").exists()
    assert not DirtyMinute.objects.exists()

    body = read_client.get("/api/v1/analytics/metrics/api.response_time/statistics?hours=24").json()

    assert body["count"] == 5
    assert body["min"] == 50.0 and body["max"] == 500.0
    assert body["sum"] == pytest.approx(sum(values))
    assert body["avg"] == pytest.approx(sum(values) / 5)
    assert body["p50"] == pytest.approx(125.5, rel=0.01)
