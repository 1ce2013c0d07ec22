"""How the metric points derived from AI usage (and request logs) are written: built by
trusted code, they skip the schema (`trusted`), are stored before the usage's own
statement (`derive_first`), and must land exactly as validated points would, once each,
whatever is retried."""

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import time_machine
from django.db import OperationalError
from django.db.models import Sum

from apps.ai.derive import STEP_DURATION, STEP_TOKENS_IN, SUCCESS_RATE, usage_metrics
from apps.ai.models import AiQuestion, AiUsage, AiUsageHour, ModelPrice
from apps.ingest import outbox
from apps.ingest.models import OutboxBatch
from apps.ingest.outbox import _trusted_rows
from apps.ingest.registry import get_kind
from apps.ingest.validation import validate_items
from apps.metrics.models import DirtyMinute, MetricPoint
from tests.helpers import drain_outbox, iso, post_json

pytestmark = pytest.mark.django_db

LOG = "/api/v1/analytics/log-ai-usage"
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
ASSISTANT = "7d3c1c8e-6a49-4f43-8d0c-2b5f2f9d1a01"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def stored_rows(kind_name: str, items: list[dict]) -> list[dict]:
    """The rows of `items` as the outbox holds them (validated, then JSON)."""
    kind = get_kind(kind_name)
    outcome = validate_items(items, resolve_kind=lambda _: kind, request=None)
    assert not outcome.rejected, outcome.rejected
    return orjson.loads(orjson.dumps(outcome.accepted[kind_name]))


def without_received_at(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "received_at"} for row in rows]


def assert_trusted_as_validated(points: list[dict]) -> int:
    """The metric kind's trusted rows are the rows its schema makes; the same refused."""
    metric = get_kind("metric")
    validated = validate_items(points, resolve_kind=lambda _: metric, request=None)
    rows, refused = _trusted_rows(metric, points)
    assert without_received_at(rows) == without_received_at(validated.accepted.get("metric", []))
    assert [r["index"] for r in refused] == [r["index"] for r in validated.rejected]
    return len(refused)


def test_trusted_ai_points_are_the_points_validation_makes(settings):
    settings.ANALYTICS_RETENTION_BY_KIND = {"metric": 2}  # AI usage kept longer than points
    ModelPrice.objects.create(
        model="gpt-*", input_per_million=2.5, output_per_million=10, cached_input_per_million=1
    )
    ModelPrice.objects.create(
        model="gpt-4o",
        input_per_million=5,
        output_per_million=15,
        valid_from=NOW - timedelta(hours=2),
    )
    base = {"feature": "chat", "model": "gpt-4o", "assistant_id": ASSISTANT, "user_id": "ann"}
    items = [
        {**base, "response_time_ms": 812.5, "ttft_ms": 90, "tokens_in": 1200, "tokens_out": 300,
         "cached_tokens": 200, "generation_ms": 1500, "success": False},
        {**base, "timestamp": iso(NOW - timedelta(hours=5)), "tokens_in": 10},  # older price
        {**base, "model": "gpt-4o-mini", "assistant_id": None, "tokens_out": 1,
         "generation_ms": 3},  # one token: a speed, no gap
        {**base, "steps": [{"name": "retrieve", "duration_ms": 20.5, "tokens_in": 30},
                           {"name": "call?sig=abcdef0123456789", "tokens_out": 7},
                           {"name": "generate", "duration_ms": None}]},
        {**base, "user_id": "u" * 255},  # too long for a label: its cost point is refused
        {**base, "user_id": "Bearer abcdefghijklmnopqrstuvwxyz0123456789"},  # redacted label
        {**base, "tokens_out": 2_000_000_000, "generation_ms": 1e-300},  # not finite
        {**base, "feature": "https://bob:hunter2@example.com/x", "model": "llama"},
        {**base, "timestamp": iso(NOW - timedelta(days=3))},  # older than the metric retention
        {**base, "timestamp": iso(NOW + timedelta(minutes=30)), "model": ""},
    ]  # fmt: skip
    points = usage_metrics(stored_rows("ai_usage", items))["metric"]

    assert len(points) > 30
    assert assert_trusted_as_validated(points) > 3  # long label, infinite speed, too old


def test_trusted_request_log_points_are_the_points_validation_makes():
    items = [
        {"service": "api", "endpoint": "/a?token=abcdef0123456789abcdef", "method": "GET",
         "status_code": 200, "response_time_ms": 12.5},
        {"service": "password=hunter2", "endpoint": "/devices/7", "route": "/devices/<id>",
         "method": "POST", "status_code": 500, "response_time_ms": 0},
        {"endpoint": "/" + "x" * 450, "method": "GET", "status_code": 404,
         "response_time_ms": 1},
    ]  # fmt: skip
    rows = stored_rows("request_log", items)
    assert assert_trusted_as_validated(get_kind("request_log").derive(rows)["metric"]) == 0


def test_hand_made_points_refused_as_the_schema_refuses_them():
    good = {"event_id": str(uuid.uuid4()), "timestamp": iso(NOW), "metric_name": "x.y"}
    points = [
        {**good, "value": 1},
        {**good, "metric_type": "counter"},  # a counter without value counts 1
        {**good},  # a gauge needs its value
        {**good, "value": True},
        {**good, "value": float("nan")},
        {**good, "value": 2e18},
        {**good, "metric_type": "counter", "value": -1},
        {**good, "metric_type": "bogus", "value": 1},
        {**good, "metric_name": "9bad", "value": 1},
        {**good, "value": 1, "unit": "u" * 33},
        {**good, "value": 1, "tags": {"bad key": "v"}},
        {**good, "value": 1, "tags": {"n": 1, "b": True, "f": 1.0, "api_key": "s3cret"}},
        {**good, "value": 1, "tags": {"n": [1]}},
        {**good, "value": 1, "surprise": 1},
        {**good, "value": 1, "source": "s" * 101},
        {**good, "value": 1, "timestamp": iso(NOW + timedelta(hours=2))},
    ]
    for n, point in enumerate(points):
        point["event_id"] = str(uuid.UUID(int=n + 1))
    assert assert_trusted_as_validated(points) == 13  # all but the first two


def usage_batch() -> list[dict]:
    """Late items (up to 30 hours back), items with steps, all on a few hot hourly rows."""
    items = []
    for i in range(60):
        item = {
            "event_id": str(uuid.UUID(int=1000 + i)),
            "feature": ("chat", "quiz")[i % 2],
            "model": "m",
            "assistant_id": ASSISTANT,
            "tokens_in": i,
            "response_time_ms": 100 + i,
            "question": ("Reset password?", "Opening hours")[i % 2],
            "timestamp": iso(NOW - timedelta(minutes=(i * 37) % (30 * 60))),
        }
        if i % 3 == 0:
            item["steps"] = [
                {"name": "retrieve", "duration_ms": 10 + i, "tokens_in": 5},
                {"name": "generate", "tokens_out": i},
            ]
        items.append(item)
    return items


def assert_counted_once(items: list[dict]) -> None:
    rows = AiUsage.objects.count()
    assert rows == len(items)
    hours = AiUsageHour.objects.aggregate(r=Sum("requests"), t=Sum("tokens_in"), ms=Sum("timed"))
    assert hours == {"r": rows, "t": sum(i["tokens_in"] for i in items), "ms": rows}
    assert sum(AiQuestion.objects.values_list("frequency", flat=True)) == rows
    assert MetricPoint.objects.filter(metric_name=SUCCESS_RATE).count() == rows
    steps = [i for i in items if "steps" in i]
    assert MetricPoint.objects.filter(metric_name=STEP_TOKENS_IN).count() == 2 * len(steps)
    assert MetricPoint.objects.filter(metric_name=STEP_DURATION).count() == len(steps)
    # Each point carries its item's time (late ones too), and its minute is marked dirty.
    times = {datetime.fromisoformat(i["timestamp"]) for i in items}
    assert set(MetricPoint.objects.values_list("timestamp", flat=True)) == times
    dirty = set(DirtyMinute.objects.values_list("bucket_start", flat=True))
    assert {t.replace(second=0, microsecond=0) for t in times} <= dirty
    for item in items:
        hour = datetime.fromisoformat(item["timestamp"]).replace(minute=0, second=0)
        assert AiUsageHour.objects.filter(hour=hour, feature=item["feature"]).exists()


def test_a_batch_sent_again_and_processed_twice_counts_once(ingest_client):
    items = usage_batch()
    for _ in range(2):  # a client retrying the whole batch: a second outbox row
        response = post_json(ingest_client, LOG, items)
        assert response.status_code == 202 and response.json()["accepted"] == len(items)
    first, second = OutboxBatch.objects.order_by("pk").values_list("pk", flat=True)
    assert outbox.outbox_process(outbox_id=first) == len(items)
    assert outbox.outbox_process(outbox_id=first) == 0  # a redelivered task: row gone
    assert outbox.outbox_process(outbox_id=second) == 0  # every item a duplicate

    assert_counted_once(items)


def test_a_failure_after_the_points_rolls_them_back_with_the_usage(ingest_client, monkeypatch):
    """The points are written first, in the same transaction: a failure of the usage's
    statement (a lost connection, a deadlock) undoes them too, and the retry stores all
    of it once."""
    items = usage_batch()
    assert post_json(ingest_client, LOG, items).status_code == 202
    real = outbox._inserted_count

    def lost(cursor, kind):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(outbox, "_inserted_count", lost)
    with pytest.raises(OperationalError):
        drain_outbox()
    assert MetricPoint.objects.count() == 0 and AiUsage.objects.count() == 0
    assert OutboxBatch.objects.count() == 1

    monkeypatch.setattr(outbox, "_inserted_count", real)
    assert drain_outbox() == len(items)
    assert_counted_once(items)
