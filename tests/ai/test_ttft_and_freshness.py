"""Time to first token against the exact percentile; knowledge freshness; documents."""

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.ai.models import KnowledgeDocument
from apps.metrics.tasks import rollup_pending
from tests.helpers import drain_outbox, iso, post_json

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
TTFT = "/api/v1/analytics/ttft"
FRESHNESS = "/api/v1/analytics/freshness"
DOCUMENTS = "/api/v1/analytics/ai/documents"
ALICE = "7d3c1c8e-6a49-4f43-8d0c-2b5f2f9d1a01"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def percentile(values: list[float], q: float) -> float:
    """The one definition: linear between the closest ranks (percentile_cont)."""
    ordered = sorted(values)
    position = q / 100 * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def test_ttft_percentiles_are_the_exact_answer(ingest_client, read_client):
    rng = random.Random(3)
    ttfts = [rng.lognormvariate(5.5, 0.8) for _ in range(2000)]
    items = [
        {
            "feature": "chat",
            "ttft_ms": value,
            "timestamp": iso(NOW - timedelta(minutes=rng.randint(1, 60 * 20))),
        }
        for value in ttfts
    ]
    for start in range(0, len(items), 1000):
        assert (
            post_json(
                ingest_client, "/api/v1/analytics/log-ai-usage", items[start : start + 1000]
            ).status_code
            == 202
        )
    drain_outbox()
    from apps.ingest.buffer import buffer

    buffer.flush()
    drain_outbox()
    rollup_pending.apply()
    outside = {"feature": "chat", "ttft_ms": 10**6, "timestamp": iso(NOW - timedelta(hours=30))}
    post_json(ingest_client, "/api/v1/analytics/log-ai-usage", outside)
    drain_outbox()

    answer = read_client.get(TTFT, {"hours": 24}).json()

    assert answer["period_hours"] == 24
    for q in (50, 95, 99):  # 2,000 values: exact from raw points, not the sketch
        exact = percentile(ttfts, q)
        assert answer[f"p{q}"] == pytest.approx(exact, rel=1e-9), q


def test_ttft_without_data_is_zeros_and_bounds_are_400(read_client):
    assert read_client.get(TTFT).json() == {"p50": 0.0, "p95": 0.0, "p99": 0.0, "period_hours": 24}
    for hours in ("0", "169", "1.5"):
        assert read_client.get(TTFT, {"hours": hours}).status_code == 400


def test_freshness_categories_and_their_edges(ingest_client, read_client):
    ages = [0, 29.9, 30, 60, 90, 90.1, 400]  # days
    documents = [
        {
            "document_id": f"doc-{i}",
            "updated_at": iso(NOW - timedelta(days=age)),
            "assistant_id": ALICE if i < 3 else None,
        }
        for i, age in enumerate(ages)
    ]
    response = post_json(ingest_client, DOCUMENTS, documents)
    assert response.status_code == 200 and response.json() == {"created": 7, "updated": 0}

    answer = read_client.get(FRESHNESS).json()
    assert answer == [
        {"freshness_category": "Fresh (<30d)", "doc_count": 2, "percentage": 28.57},
        {"freshness_category": "Aging (30-90d)", "doc_count": 3, "percentage": 42.86},
        {"freshness_category": "Stale (>90d)", "doc_count": 2, "percentage": 28.57},
    ]
    mine = read_client.get(FRESHNESS, {"assistant_id": ALICE}).json()
    assert [c["doc_count"] for c in mine] == [2, 1, 0]
    assert read_client.get(FRESHNESS, {"assistant_id": "nope"}).status_code == 400


def test_documents_upsert_by_id_and_refuse_bad_input(ingest_client, read_client):
    doc = {
        "document_id": "handbook",
        "title": "Handbook",
        "updated_at": iso(NOW - timedelta(days=100)),
    }
    assert post_json(ingest_client, DOCUMENTS, doc).json() == {"created": 1, "updated": 0}
    newer = {**doc, "updated_at": iso(NOW)}
    assert post_json(ingest_client, DOCUMENTS, newer).json() == {"created": 0, "updated": 1}
    stored = KnowledgeDocument.objects.get()
    assert stored.updated_at == NOW and stored.title == "Handbook"

    bad = post_json(ingest_client, DOCUMENTS, {"document_id": "x", "updated_at": "yesterday"})
    assert bad.status_code == 400 and "updated_at" in str(bad.json()["fields"])
    assert post_json(ingest_client, DOCUMENTS, []).status_code == 400
    assert post_json(read_client, DOCUMENTS, doc).status_code == 403
    empty = read_client.get(FRESHNESS).json()
    assert [c["doc_count"] for c in empty] == [1, 0, 0]
