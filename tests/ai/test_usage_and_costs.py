"""AI usage: ingest through the pipeline, hourly sums, prices and what usage cost."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.ai.models import AiUsage, AiUsageHour, ModelPrice
from apps.metrics.rollups import rollup_pending
from tests.helpers import drain_outbox, iso, post_json

pytestmark = pytest.mark.django_db

LOG = "/api/v1/analytics/log-ai-usage"
PRICES = "/api/v1/analytics/ai/prices"
COSTS = "/api/v1/analytics/costs"
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
ALICE = "7d3c1c8e-6a49-4f43-8d0c-2b5f2f9d1a01"
BOB = "0f9a4e2b-3c1d-4e5f-8a7b-6c5d4e3f2a10"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def usage(**fields) -> dict:
    return {"feature": "chat", "model": "gpt-4o", "timestamp": iso(NOW), **fields}


def ship(client, items) -> dict:
    response = post_json(client, LOG, items)
    assert response.status_code == 202, response.content
    drain_outbox()
    return response.json()


def test_one_usage_is_stored_with_its_hour_and_metric_points(ingest_client, read_client):
    ship(
        ingest_client,
        usage(
            assistant_id=ALICE,
            assistant_name="Alice",
            response_time_ms=1200,
            ttft_ms=300,
            tokens_in=1000,
            cached_tokens=400,
            tokens_out=200,
            cache_hit=True,
            steps=[{"name": "retrieve", "duration_ms": 80, "tokens_in": 10}],
            question="Hey, how do I RESET my password??",
        ),
    )

    row = AiUsage.objects.get()
    assert (row.feature, str(row.assistant_id), row.tokens_in, row.cached_tokens) == (
        "chat",
        ALICE,
        1000,
        400,
    )
    assert row.steps == [
        {"name": "retrieve", "duration_ms": 80.0, "tokens_in": 10, "tokens_out": 0}
    ]
    assert row.question_key == "how do i reset my password"
    hour = AiUsageHour.objects.get()
    assert hour.hour == NOW.replace(minute=0)
    assert (hour.requests, hour.successes, hour.tokens_in, hour.cache_hits) == (1, 1, 1000, 1)
    rollup_pending()
    names = read_client.get("/api/v1/analytics/metrics/names", {"search": "ai."}).json()
    assert {row["name"] for row in names["metrics"]} == {
        "ai.success_rate",
        "ai.response_time_ms",
        "ai.ttft_ms",
        "ai.step_duration_ms",
        "ai.step_tokens_in",
        "ai.step_tokens_out",
    }


def test_a_retried_item_is_stored_and_summed_once(ingest_client):
    item = usage(event_id=str(uuid.uuid4()), tokens_in=50)
    ship(ingest_client, [item])
    ship(ingest_client, {"batch": [item, usage(tokens_in=7)]})

    assert AiUsage.objects.count() == 2
    hour = AiUsageHour.objects.get()
    assert (hour.requests, hour.tokens_in) == (2, 57)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tokens_in": -1}, "tokens_in"),
        ({"response_time_ms": "fast"}, "response_time_ms"),
        ({"ttft_ms": True}, "ttft_ms"),
        ({"assistant_id": "not-a-uuid"}, "assistant_id"),
        ({"feature": ""}, "feature"),
        ({"steps": [{"duration_ms": 5}]}, "steps"),
        ({"tokens_in": 5, "cached_tokens": 6}, "cached_tokens"),
    ],
)
def test_bad_figures_are_refused_per_item_naming_the_field(ingest_client, fields, field):
    response = post_json(ingest_client, LOG, [usage(), usage(**fields)])
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]
    assert field in str(body["rejected"][0]["errors"])


def test_prices_need_an_admin_key_and_are_unique_per_start(
    admin_api_client, read_client, ingest_client
):
    price = {"model": "gpt-4o*", "input_per_million": "2.5", "output_per_million": 10}
    created = post_json(admin_api_client, PRICES, price)
    assert created.status_code == 201, created.content
    assert created.json()["valid_from"] is None and created.json()["created_by"]
    assert post_json(admin_api_client, PRICES, price).status_code == 409
    assert post_json(read_client, PRICES, price).status_code == 403
    assert read_client.get(PRICES).json()[0]["model"] == "gpt-4o*"
    assert ingest_client.get(PRICES).status_code == 403
    bad = post_json(admin_api_client, PRICES, {**price, "input_per_million": -1})
    assert bad.status_code == 400 and "input_per_million" in bad.json()["fields"]


def test_costs_use_the_price_valid_at_the_time_including_a_change_mid_period(
    admin_api_client, ingest_client, read_client
):
    change = NOW - timedelta(hours=3, minutes=20)  # 09:10, inside an hour
    prices = [
        {"model": "gpt-4o*", "input_per_million": 2, "output_per_million": 8},
        {"model": "gpt-4o", "input_per_million": 4, "output_per_million": 16,
         "cached_input_per_million": 1, "valid_from": iso(change)},
    ]  # fmt: skip
    for price in prices:
        assert post_json(admin_api_client, PRICES, price).status_code == 201
    a, b = (
        {"assistant_id": ALICE, "assistant_name": "Alice"},
        {"assistant_id": BOB, "assistant_name": "Bob"},
    )

    def at(delta: timedelta) -> str:
        return iso(NOW - delta)

    minutes = lambda n: timedelta(minutes=n)  # noqa: E731
    ship(
        ingest_client,
        [
            # Before the change: the glob's price (the exact one is not valid yet).
            usage(**a, timestamp=iso(change - minutes(5)), tokens_in=10**6),
            usage(**a, timestamp=at(timedelta(hours=20)), tokens_out=500_000),
            # After: the exact name's price, cached input at its own price.
            usage(**a, timestamp=iso(change + minutes(5)), tokens_in=10**6,
                  cached_tokens=500_000, tokens_out=100_000),
            usage(**b, model="gpt-4o-mini", timestamp=at(minutes(1)), tokens_in=2 * 10**6),
            usage(**b, model="llama-3", timestamp=at(minutes(2)), tokens_in=300, tokens_out=30),
            usage(**b, timestamp=at(timedelta(hours=30)), tokens_in=10**9),  # outside 24 h
        ],
    )  # fmt: skip

    costs = read_client.get(COSTS, {"hours": 24}).json()

    alice = 1.0 * 2 + 0.5 * 8 + (0.5 * 4 + 0.5 * 1 + 0.1 * 16)  # 2 + 4 + 4.1
    bob = 2.0 * 2  # the glob price; llama-3 has none
    assert [(c["assistant_name"], c["estimated_cost_usd"]) for c in costs] == [
        ("Alice", pytest.approx(alice)),  # dearest first
        ("Bob", pytest.approx(bob)),
    ]
    alice_row = costs[0]
    assert (alice_row["input_tokens"], alice_row["output_tokens"]) == (2_000_000, 600_000)
    assert alice_row["total_tokens"] == 2_600_000 and alice_row["cached_tokens"] == 500_000
    assert costs[1]["unpriced_tokens"] == 330 and costs[1]["requests"] == 2


def test_a_price_entered_later_prices_usage_already_stored(
    admin_api_client, ingest_client, read_client
):
    ship(ingest_client, usage(tokens_in=1_000_000, timestamp=iso(NOW - timedelta(hours=5))))
    assert read_client.get(COSTS).json()[0]["estimated_cost_usd"] == 0
    price = {"model": "gpt-4o", "input_per_million": 3, "output_per_million": 9}
    post_json(admin_api_client, PRICES, price)
    assert read_client.get(COSTS).json()[0]["estimated_cost_usd"] == pytest.approx(3.0)


def test_costs_bounds(read_client):
    for hours in ("0", "169", "x", ""):
        response = read_client.get(COSTS, {"hours": hours})
        assert response.status_code == 400 and "hours" in response.json()["fields"]
    assert read_client.get(COSTS).json() == []


def test_staff_add_a_price_in_the_admin_as_themselves(client, django_user_model):
    staff = django_user_model.objects.create_superuser("ana", "ana@example.com", "pw")
    client.force_login(staff)
    form = {"model": "claude-*", "input_per_million": "3", "output_per_million": "15"}
    response = client.post("/admin/ai/modelprice/add/", form)
    assert response.status_code == 302, response.content[:2000]
    price = ModelPrice.objects.get()
    assert (price.model, price.created_by, price.valid_from) == ("claude-*", "user:ana", None)
    again = client.post("/admin/ai/modelprice/add/", form)
    assert again.status_code == 200 and ModelPrice.objects.count() == 1  # the form says why


def test_a_window_without_a_whole_hour_reads_only_its_own_rows(
    admin_api_client, ingest_client, read_client
):
    post_json(
        admin_api_client, PRICES, {"model": "*", "input_per_million": 1, "output_per_million": 1}
    )
    ship(
        ingest_client,
        [
            usage(tokens_in=10**6, timestamp=iso(NOW - timedelta(minutes=20))),
            usage(tokens_in=5 * 10**6, timestamp=iso(NOW - timedelta(minutes=70))),
        ],
    )
    one_hour = read_client.get(COSTS, {"hours": 1}).json()
    assert [(c["input_tokens"], c["estimated_cost_usd"]) for c in one_hour] == [(10**6, 1.0)]
    two_hours = read_client.get(COSTS, {"hours": 2}).json()
    assert two_hours[0]["input_tokens"] == 6 * 10**6
