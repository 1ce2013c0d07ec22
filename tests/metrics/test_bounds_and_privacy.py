"""What a metric point may hold: values within +/-1e18, counters never negative, no secrets."""

import uuid

import pytest
from django.db import IntegrityError, transaction

from apps.ingest.fields import MAX_ABS_NUMBER
from apps.ingest.outbox import records_insert
from apps.ingest.privacy import REDACTED
from apps.metrics.models import MetricPoint, MetricSeries
from apps.metrics.rollups import rollup_pending
from tests.helpers import ago, drain_outbox, post_json

pytestmark = pytest.mark.django_db

RECORD = "/api/v1/analytics/metrics/record"
BASE = "/api/v1/analytics/metrics"


def rejected_fields(body: dict) -> dict[int, set[str]]:
    return {r["index"]: set(r["errors"]) for r in body["rejected"]}


def test_values_beyond_1e18_and_negative_counters_are_per_item_errors(ingest_client):
    body = post_json(
        ingest_client,
        RECORD,
        [
            {"metric_name": "m", "value": MAX_ABS_NUMBER},
            {"metric_name": "m", "value": -MAX_ABS_NUMBER},
            {"metric_name": "m", "value": 1.0000001e18},
            {"metric_name": "m", "value": -1.7e308},
            {"metric_name": "m", "value": 1e300, "metric_type": "histogram"},
            {"metric_name": "hits", "value": -1, "metric_type": "counter"},
            {"metric_name": "hits", "value": 0, "metric_type": "counter"},
            {"metric_name": "temp", "value": -12.5, "metric_type": "gauge"},
        ],
    ).json()

    assert body["accepted"] == 4
    assert rejected_fields(body) == {2: {"value"}, 3: {"value"}, 4: {"value"}, 5: {"value"}}
    assert "negative" in str(body["rejected"][3]["errors"]["value"])


def test_the_database_refuses_a_value_out_of_range_too():
    row = {
        "event_id": str(uuid.uuid4()),
        "timestamp": ago(minutes=1),
        "received_at": ago(minutes=1),
        "metric_name": "m",
        "metric_type": "gauge",
        "value": 2e18,
        "unit": "",
        "tags": {},
        "tags_hash": 1,
        "source": "",
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        records_insert(kind_name="metric", rows=[row])


def test_values_at_the_bounds_roll_up_and_read_exactly(ingest_client, read_client):
    values = [MAX_ABS_NUMBER, MAX_ABS_NUMBER, -MAX_ABS_NUMBER, MAX_ABS_NUMBER, 1.0]
    points = [
        {"metric_name": "big", "value": v, "timestamp": ago(minutes=5 + i % 2)}
        for i, v in enumerate(values)
    ]
    assert post_json(ingest_client, RECORD, points).json()["accepted"] == 5
    drain_outbox()
    rollup_pending()

    stats = read_client.get(f"{BASE}/big/statistics", {"hours": 1}).json()
    series = read_client.get(
        f"{BASE}/big/time-series", {"hours": 1, "interval": "1h", "agg": "sum"}
    ).json()

    assert (stats["count"], stats["min"], stats["max"]) == (5, -MAX_ABS_NUMBER, MAX_ABS_NUMBER)
    assert stats["sum"] == pytest.approx(2e18 + 1.0, rel=1e-12)
    assert stats["p50"] == pytest.approx(MAX_ABS_NUMBER, rel=0.01)
    assert sum(b["value"] for b in series["buckets"]) == pytest.approx(2e18, rel=1e-12)


def test_secret_tags_and_credentials_are_redacted_before_storage(ingest_client, read_client):
    points = [
        {
            "metric_name": "login.duration",
            "value": v,
            "tags": {
                "endpoint": "/login",
                "token": secret,
                "api_key": f"k-{secret}",
                "upstream": f"postgres://app:{secret}@db.internal/app",
            },
            "source": f"https://deploy:{secret}@ci.example.com/job",
            "timestamp": ago(minutes=3),
        }
        for v, secret in ((10.0, "hunter2-aaa"), (30.0, "hunter2-bbb"))
    ]
    assert post_json(ingest_client, RECORD, points).json()["accepted"] == 2
    drain_outbox()
    rollup_pending()

    stored = list(MetricPoint.objects.values_list("tags", "source"))
    text = repr(stored) + repr(list(MetricSeries.objects.values_list("tags", flat=True)))
    assert "hunter2" not in text
    tags, source = stored[0]
    assert tags["token"] == REDACTED and tags["api_key"] == REDACTED
    assert tags["upstream"] == f"postgres://app:{REDACTED}@db.internal/app"
    assert tags["endpoint"] == "/login"
    assert source == f"https://deploy:{REDACTED}@ci.example.com/job"
    # Different secrets no longer make different series: one label set, one group.
    assert MetricSeries.objects.count() == 1
    grouped = read_client.get(
        f"{BASE}/login.duration/statistics", {"hours": 1, "group_by": "token"}
    ).json()
    assert [(g["value"], g["count"]) for g in grouped["groups"]] == [(REDACTED, 2)]


def test_a_redacted_source_still_fits_its_column(ingest_client):
    source = "x://u:" + "p" * 2 + "@h" + "/" * 90  # 100 characters, longer once redacted
    assert len(source) == 100
    body = post_json(
        ingest_client, RECORD, {"metric_name": "m", "value": 1, "source": source}
    ).json()
    assert body["accepted"] == 1
    drain_outbox()
    assert MetricPoint.objects.get().source.startswith(f"x://u:{REDACTED}@h")


def test_names_and_tag_names_are_matched_whole_and_true_is_not_a_value(ingest_client):
    body = post_json(
        ingest_client,
        RECORD,
        [
            {"metric_name": "cpu\n", "value": 1},
            {"metric_name": "cpu", "value": 1, "tags": {"env\n": "prod"}},
            {"metric_name": "cpu", "value": True},
            {"metric_name": "cpu", "value": 1, "tags": {"env": "prod"}},
        ],
    ).json()

    assert rejected_fields(body) == {0: {"metric_name"}, 1: {"tags"}, 2: {"value"}}
    assert body["accepted"] == 1


def test_points_already_stored_are_counted_as_duplicates(ingest_client, read_client):
    items = [{"event_id": str(uuid.uuid4()), "metric_name": "m", "value": i} for i in range(4)]
    post_json(ingest_client, RECORD, items)
    drain_outbox()

    post_json(ingest_client, RECORD, items)
    drain_outbox()

    assert MetricPoint.objects.count() == 4
    text = read_client.get("/metrics").content.decode()
    assert 'analytics_ingest_items_total{kind="metric",outcome="duplicate"} 4.0' in text
