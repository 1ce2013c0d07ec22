"""Trending questions, topic diversity, cache, features, pipeline steps and /advanced,
against hand-computed answers."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.ingest.buffer import buffer
from apps.metrics.tasks import rollup_pending
from tests.helpers import drain_outbox, iso, post_json

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
LOG = "/api/v1/analytics/log-ai-usage"
ALICE = "7d3c1c8e-6a49-4f43-8d0c-2b5f2f9d1a01"
BOB = "0f9a4e2b-3c1d-4e5f-8a7b-6c5d4e3f2a10"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def ship(client, items: list[dict]) -> None:
    for item in items:
        item.setdefault("feature", "chat")
        item.setdefault("timestamp", iso(NOW - timedelta(minutes=10)))
    response = post_json(client, LOG, items)
    assert response.status_code == 202 and not response.json()["rejected"], response.content
    drain_outbox()
    buffer.flush()
    drain_outbox()


def asked(text: str, assistant: str = ALICE, minutes_ago: int = 10) -> dict:
    return {
        "question": text,
        "assistant_id": assistant,
        "timestamp": iso(NOW - timedelta(minutes=minutes_ago)),
    }


def test_trending_groups_wordings_and_ranks_by_frequency(ingest_client, read_client):
    ship(
        ingest_client,
        [
            asked("How do I reset my password?"),
            asked("how do i reset my password", minutes_ago=5),
            asked("HOW DO I RESET MY PASSWORD!!"),
            asked("Hey, how do I reset my password?"),
            asked("What are your opening hours?"),
            asked("what are your opening hours", minutes_ago=1),
            asked("Where is my order?", assistant=BOB),
        ],
    )

    topics = read_client.get("/api/v1/analytics/trending").json()

    assert [(t["topic"], t["frequency"], t["variation_count"]) for t in topics] == [
        ("how do i reset my password", 4, 4),
        ("what are your opening hours", 2, 2),
        ("where is my order", 1, 1),
    ]
    assert topics[0]["last_asked"] == iso(NOW - timedelta(minutes=5)).replace("+00:00", "Z")
    assert topics[1]["canonical_text"] in (
        "What are your opening hours?",
        "what are your opening hours",
    )
    mine = read_client.get("/api/v1/analytics/trending", {"assistant_id": BOB, "limit": 5}).json()
    assert [t["canonical_text"] for t in mine] == ["Where is my order?"]
    assert len(read_client.get("/api/v1/analytics/trending", {"limit": 1}).json()) == 1
    for bad in ({"limit": 0}, {"limit": 51}, {"assistant_id": "x"}, {"limit": ""}):
        response = read_client.get("/api/v1/analytics/trending", bad)
        assert response.status_code == 400 and set(response.json()["fields"]) == set(bad)


def test_the_canonical_text_is_the_most_asked_wording(ingest_client, read_client):
    ship(
        ingest_client, [asked("Reset password?"), asked("reset password"), asked("reset password")]
    )
    (topic,) = read_client.get("/api/v1/analytics/trending").json()
    assert (topic["canonical_text"], topic["frequency"], topic["variation_count"]) == (
        "reset password",
        3,
        2,
    )


def test_advanced_answers_every_block_with_hand_computed_values(ingest_client, read_client):
    steps = [
        {"name": "retrieve", "duration_ms": 100, "tokens_in": 10, "tokens_out": 0},
        {"name": "generate", "duration_ms": 900, "tokens_in": 500, "tokens_out": 200},
    ]
    ship(
        ingest_client,
        [
            {**asked("a"), "ttft_ms": 100, "cache_hit": True, "steps": steps, "tokens_in": 10},
            {**asked("a"), "ttft_ms": 200, "cache_hit": False, "steps": steps[:1]},
            {**asked("b"), "ttft_ms": 300, "cache_hit": True},
            {**asked("c"), "ttft_ms": 400},  # says nothing about the cache
            {**asked("b", minutes_ago=60 * 30), "cache_hit": False},  # 30 h ago
        ],
    )
    rollup_pending.apply()

    answer = read_client.get("/api/v1/analytics/advanced").json()

    assert set(answer) == {
        "ttft", "step_breakdown", "cache_metrics", "trending_topics", "topic_diversity",
        "costs", "freshness", "generated_at",
    }  # fmt: skip
    assert answer["ttft"]["p50"] == 250.0  # 100, 200, 300, 400: linear between ranks
    cache = answer["cache_metrics"]
    assert (cache["hit_rate"], cache["total_requests"], cache["cache_hits"]) == (66.67, 3, 2)
    assert (cache["cache_misses"], cache["period_hours"]) == (1, 24)
    steps_by_name = {s["step_name"]: s for s in answer["step_breakdown"]}
    assert [s["step_name"] for s in answer["step_breakdown"]] == ["generate", "retrieve"]
    assert steps_by_name["retrieve"]["step_count"] == 2
    assert steps_by_name["retrieve"]["avg_duration"] == pytest.approx(100)
    assert steps_by_name["generate"]["avg_tokens"] == {"input": 500.0, "output": 200.0}
    # Topics a: 2, b: 2, c: 1 (all time) -> 1 - (0.16 + 0.16 + 0.04)
    assert answer["topic_diversity"] == {
        "diversity_score": 0.64, "total_topics": 3, "dominant_topic_share": 0.4,
    }  # fmt: skip
    # a and b: asked twice each, last 10 minutes ago; then by name.
    assert [t["topic"] for t in answer["trending_topics"]] == ["a", "b", "c"]
    assert answer["costs"][0]["input_tokens"] == 10
    assert [f["doc_count"] for f in answer["freshness"]] == [0, 0, 0]
    assert answer["generated_at"] == "2026-11-20T12:30:00Z"

    wider = read_client.get("/api/v1/analytics/advanced", {"cache_hours": 48}).json()
    assert wider["cache_metrics"]["total_requests"] == 4


@pytest.mark.parametrize(
    "params",
    [
        {"ttft_hours": 0}, {"ttft_hours": 169}, {"step_days": 91}, {"cache_hours": 200},
        {"cost_hours": "x"}, {"trending_limit": 51}, {"assistant_id": "not-a-uuid"},
        {"step_days": ""},
    ],
)  # fmt: skip
def test_advanced_bounds_name_the_parameter(read_client, params):
    response = read_client.get("/api/v1/analytics/advanced", params)
    assert response.status_code == 400
    assert set(response.json()["fields"]) == set(params)


def test_advanced_without_data_answers_zeros_and_empty_lists(read_client):
    answer = read_client.get("/api/v1/analytics/advanced", {"assistant_id": ALICE}).json()
    assert answer["ttft"] == {"p50": 0.0, "p95": 0.0, "p99": 0.0, "period_hours": 24}
    assert answer["step_breakdown"] == answer["trending_topics"] == answer["costs"] == []
    assert answer["topic_diversity"]["total_topics"] == 0
    assert answer["cache_metrics"]["hit_rate"] == 0.0


def test_ai_features_per_feature(ingest_client, read_client):
    ship(
        ingest_client,
        [
            {"feature": "grammar", "response_time_ms": 100, "cache_hit": True},
            {"feature": "grammar", "response_time_ms": 300, "success": False, "cache_hit": False},
            {"feature": "grammar", "cache_hit": True},
            {"feature": "quiz", "response_time_ms": 50},
            {"feature": "quiz", "timestamp": iso(NOW - timedelta(hours=3, minutes=5))},
        ],
    )
    features = read_client.get("/api/v1/analytics/ai-features").json()
    fields = ("feature", "requests", "success_rate", "avg_response_time_ms", "cache_hit_rate")
    assert [tuple(f[name] for name in fields) for f in features] == [
        ("grammar", 3, 66.67, 200.0, 66.67),
        ("quiz", 2, 100.0, 50.0, 0.0),
    ]
    recent = read_client.get("/api/v1/analytics/ai-features", {"hours": 1}).json()
    assert [(f["feature"], f["requests"]) for f in recent] == [("grammar", 3), ("quiz", 1)]
    assert read_client.get("/api/v1/analytics/ai-features", {"hours": 169}).status_code == 400
