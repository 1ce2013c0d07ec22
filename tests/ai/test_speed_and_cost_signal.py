"""Generation speed from generation_ms, and the ai.cost_usd metric an alert rule watches."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.ai.models import AiUsage, ModelPrice
from apps.alerts.evaluation import rule_evaluate
from apps.alerts.models import AlertIncident, AlertRule
from apps.ingest.buffer import buffer
from apps.metrics.tasks import rollup_pending
from tests.helpers import drain_outbox, iso, post_json

pytestmark = pytest.mark.django_db

LOG = "/api/v1/analytics/log-ai-usage"
SPEED = "/api/v1/analytics/generation-speed"
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
ALICE = "7d3c1c8e-6a49-4f43-8d0c-2b5f2f9d1a01"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def ship(client, items: list[dict]) -> None:
    for item in items:
        item.setdefault("feature", "chat")
        item.setdefault("timestamp", iso(NOW - timedelta(minutes=5)))
    response = post_json(client, LOG, items)
    assert response.status_code == 202 and not response.json()["rejected"], response.content
    drain_outbox()
    buffer.flush()
    drain_outbox()
    rollup_pending.apply()


def test_tokens_per_second_and_time_between_tokens_per_model(ingest_client, read_client):
    ship(
        ingest_client,
        [
            # 100 tokens in 2 s: 50 tokens/s, 2000 / 99 ms between two tokens.
            {"model": "big", "tokens_out": 100, "generation_ms": 2000},
            # 201 tokens in 1 s: 201 tokens/s, 5 ms between two tokens.
            {"model": "big", "tokens_out": 201, "generation_ms": 1000, "assistant_id": ALICE},
            {"model": "small", "tokens_out": 1, "generation_ms": 10},  # one token: no gap
            {"model": "small", "tokens_out": 50},  # not timed: not counted
            {"model": "small", "tokens_out": 0, "generation_ms": 5},  # nothing generated
        ],
    )

    response = read_client.get(f"{SPEED}?hours=1")

    assert response.status_code == 200
    big, small = response.json()
    assert big["model"] == "big" and big["requests"] == 2
    assert big["tokens_per_second"]["avg"] == pytest.approx(125.5)
    assert big["time_between_tokens_ms"]["avg"] == pytest.approx((2000 / 99 + 5) / 2)
    assert small["model"] == "small" and small["requests"] == 1
    assert small["tokens_per_second"]["avg"] == pytest.approx(100)
    assert small["time_between_tokens_ms"] == {"avg": None, "p50": None, "p95": None, "p99": None}
    only_alice = read_client.get(f"{SPEED}?hours=1&assistant_id={ALICE}").json()
    assert [(m["model"], m["requests"]) for m in only_alice] == [("big", 1)]
    assert read_client.get(f"{SPEED}?hours=169").status_code == 400
    assert read_client.get(f"{SPEED}?assistant_id=nope").status_code == 400


def test_each_priced_request_records_its_cost_for_alert_rules(ingest_client):
    ModelPrice.objects.create(
        model="gpt-4o*", input_per_million=2.5, output_per_million=10, cached_input_per_million=1
    )
    rule = AlertRule.objects.create(
        name="ann spends too much", metric_name="ai.cost_usd", tags={"user_id": "ann"},
        aggregation="sum", condition_operator="gt", threshold=1.0, window_seconds=3600,
        severity="warning",
    )  # fmt: skip
    # ann: 2 x (200k in, 100k of them cached, 50k out) = 2 x (0.25 + 0.1 + 0.5) = 1.70 USD.
    spend = {"model": "gpt-4o-mini", "user_id": "ann", "tokens_in": 200_000,
             "cached_tokens": 100_000, "tokens_out": 50_000}  # fmt: skip
    ship(
        ingest_client,
        [
            spend,
            dict(spend),
            {"model": "gpt-4o", "user_id": "bob", "tokens_in": 1_000_000},  # 2.50, bob's
            {"model": "llama-local", "user_id": "ann", "tokens_in": 10**6},  # no price: none
        ],
    )

    costs = AiUsage.objects.exclude(estimated_cost_usd=None)  # priced when received
    assert sorted(round(u.estimated_cost_usd, 6) for u in costs) == [0.85, 0.85, 2.5]
    assert {u.user_id for u in costs} == {"ann", "bob"}
    rule_evaluate(rule.pk)
    incident = AlertIncident.objects.get(rule=rule)
    assert incident.metric_value == pytest.approx(1.70)
