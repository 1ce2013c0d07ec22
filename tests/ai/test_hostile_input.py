"""Odd shapes sent to the AI endpoints: each gets a clear JSON 4xx (or a per-item
refusal), never a 500, and nothing half-stored."""

import json

import pytest

from apps.ai.models import AiUsage, KnowledgeDocument, ModelPrice
from tests.helpers import drain_outbox, post_json

pytestmark = pytest.mark.django_db

LOG = "/api/v1/analytics/log-ai-usage"
PRICES = "/api/v1/analytics/ai/prices"
DOCUMENTS = "/api/v1/analytics/ai/documents"


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"feature": "chat\x00"}, "feature"),
        ({"question": "why\x00?"}, "question"),
        ({"tokens_in": 10**20}, "tokens_in"),
        ({"response_time_ms": 1e308}, "response_time_ms"),
        ({"metadata": nested(50)}, "metadata"),
        ({"steps": [{"name": "s"}] * 51}, "steps"),
        ({"timestamp": "+10000-01-01T00:00:00Z"}, "timestamp"),
        ({"timestamp": "9999-12-31T23:59:59-23:00"}, "timestamp"),
    ],
)
def test_a_bad_item_is_refused_by_name_and_the_good_one_kept(ingest_client, fields, field):
    body = json.dumps([{"feature": "chat"}, {"feature": "chat", **fields}]).encode()  # any int
    response = post_json(ingest_client, LOG, body)
    assert response.status_code == 202, response.content
    rejected = response.json()["rejected"]
    assert [r["index"] for r in rejected] == [1]
    # A NUL byte refuses the whole item, wherever it is (the pipeline's one check).
    assert field in str(rejected[0]["errors"]) or rejected[0]["errors"] == {
        "item": ["Strings may not contain NUL characters."]
    }
    drain_outbox()
    assert AiUsage.objects.count() == 1


PRICE = {"model": "m", "input_per_million": 1, "output_per_million": 1}


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m\x00", "input_per_million": 1, "output_per_million": 1},
        {"model": "m", "input_per_million": 1e30, "output_per_million": 1},
        {"model": "m", "input_per_million": "NaN", "output_per_million": 1},
        {**PRICE, "valid_from": "9999-12-31T23:59:59-23:00"},
        {**PRICE, "extra": 1},
        {"model": "", "input_per_million": 1, "output_per_million": 1},
        [1, 2],
        "text",
    ],
)
def test_bad_prices_are_400(admin_api_client, body):
    response = post_json(admin_api_client, PRICES, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
    assert not ModelPrice.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"document_id": "d\x00", "updated_at": "2026-01-01T00:00:00Z"},
        {"document_id": "d", "updated_at": "9999-12-31T23:59:59-23:00"},
        {"document_id": "d", "updated_at": "2026-01-01T00:00:00Z", "assistant_id": "nope"},
        [{"document_id": "d", "updated_at": "2026-01-01T00:00:00Z"}] * 1001,
        "text",
        [[]],
    ],
)
def test_bad_documents_are_400(ingest_client, body):
    response = post_json(ingest_client, DOCUMENTS, body)
    assert response.status_code == 400, response.content
    assert not KnowledgeDocument.objects.exists()


def test_the_same_document_twice_in_one_request_keeps_the_last(ingest_client):
    doc = {"document_id": "d", "updated_at": "2026-01-01T00:00:00Z"}
    response = post_json(ingest_client, DOCUMENTS, [doc, {**doc, "title": "later"}])
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 1, "updated": 0}
    assert KnowledgeDocument.objects.get().title == "later"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/analytics/trending", {"assistant_id": "\x00"}),
        ("/api/v1/analytics/trending", {"limit": "99999999999999999999"}),
        ("/api/v1/analytics/advanced", {"ttft_hours": "1e3"}),
        ("/api/v1/analytics/costs", {"hours": "-0"}),
        ("/api/v1/analytics/freshness", {"assistant_id": "0" * 10000}),
    ],
)
def test_odd_query_values_are_400(read_client, path, params):
    response = read_client.get(path, params)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
