"""How the metric points derived from request logs are written: built by trusted code,
they skip the schema (`trusted`) and must land exactly as validated points would. (AI
usage derives none: its ai.* metrics read its rows, tests/ai/test_metric_sources.py.)"""

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import time_machine

from apps.ingest.outbox import _trusted_rows
from apps.ingest.registry import get_kind
from apps.ingest.validation import validate_items
from tests.helpers import iso

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


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
