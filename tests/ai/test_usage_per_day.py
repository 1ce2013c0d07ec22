"""AI usage per UTC day: what the console's cost, request and cache charts read."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.ai.selectors import assistant_costs, usage_per_day
from tests.helpers import drain_outbox, iso, post_json

pytestmark = pytest.mark.django_db

LOG = "/api/v1/analytics/log-ai-usage"
PRICES = "/api/v1/analytics/ai/prices"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a whole hour: 156 h back is a midnight
MIDNIGHT = datetime(2026, 11, 20, tzinfo=UTC)
ALICE = "7d3c1c8e-6a49-4f43-8d0c-2b5f2f9d1a01"
BOB = "0f9a4e2b-3c1d-4e5f-8a7b-6c5d4e3f2a10"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def usage(at: datetime, **fields) -> dict:
    return {"feature": "chat", "model": "gpt-4o", "timestamp": iso(at), **fields}


def ship(client, items) -> None:
    response = post_json(client, LOG, items)
    assert response.status_code == 202, response.content
    assert not response.json()["rejected"], response.content
    drain_outbox()


def price(client, **fields) -> None:
    assert post_json(client, PRICES, fields).status_code == 201


def test_each_day_holds_its_own_usage_and_the_window_starts_at_a_midnight(ingest_client):
    alice = {"assistant_id": ALICE, "assistant_name": "Alice"}
    ship(
        ingest_client,
        [
            usage(MIDNIGHT - timedelta(minutes=30), tokens_in=10, cache_hit=True, **alice),
            usage(MIDNIGHT + timedelta(minutes=30), tokens_in=20, cache_hit=False, **alice),
            usage(MIDNIGHT + timedelta(minutes=40), tokens_in=5, success=False, **alice),
            usage(MIDNIGHT + timedelta(hours=3), feature="quiz", model="mini", tokens_in=7),
            # before the first of the 7 days: not in the window
            usage(MIDNIGHT - timedelta(days=6, minutes=1), tokens_in=1000),
        ],
    )

    rows = usage_per_day(days=7)

    by = {(r["day"], r["feature"], r["model"]): r for r in rows}
    assert set(by) == {
        (MIDNIGHT - timedelta(days=1), "chat", "gpt-4o"),
        (MIDNIGHT, "chat", "gpt-4o"),
        (MIDNIGHT, "quiz", "mini"),
    }
    today = by[(MIDNIGHT, "chat", "gpt-4o")]
    assert (today["requests"], today["successes"], today["tokens_in"]) == (2, 1, 25)
    assert (today["cache_known"], today["cache_hits"]) == (1, 0)
    assert str(today["assistant_id"]) == ALICE and today["assistant_name"] == "Alice"
    yesterday = by[(MIDNIGHT - timedelta(days=1), "chat", "gpt-4o")]
    assert (yesterday["requests"], yesterday["cache_hits"]) == (1, 1)
    assert by[(MIDNIGHT, "quiz", "mini")]["assistant_id"] is None
    assert sum(r["requests"] for r in usage_per_day(days=1)) == 3  # today alone


def test_the_current_hour_is_counted_from_the_usage_rows(ingest_client):
    with time_machine.travel(NOW + timedelta(minutes=30), tick=False):
        ship(ingest_client, [usage(NOW + timedelta(minutes=10), tokens_in=3)])
        rows = usage_per_day(days=7)

    assert [(r["day"], r["requests"], r["tokens_in"]) for r in rows] == [(MIDNIGHT, 1, 3)]


def test_daily_costs_add_up_to_the_costs_answer_with_a_price_change_inside_an_hour(
    ingest_client, admin_api_client
):
    change = MIDNIGHT - timedelta(days=2, hours=14, minutes=-20)  # 10:20, two days ago
    price(admin_api_client, model="gpt-4o*", input_per_million=2, output_per_million=8)
    price(
        admin_api_client,
        model="gpt-4o",
        input_per_million=4,
        output_per_million=16,
        cached_input_per_million=1,
        valid_from=iso(change),
    )
    alice = {"assistant_id": ALICE, "assistant_name": "Alice"}
    bob = {"assistant_id": BOB, "assistant_name": "Bob"}
    tokens = {"tokens_in": 1_000_000, "tokens_out": 100_000, "cached_tokens": 200_000}
    ship(
        ingest_client,
        [
            usage(change - timedelta(minutes=10), **tokens, **alice),  # old price: 2.8
            usage(change + timedelta(minutes=10), **tokens, **alice),  # new price: 5.0
            # whole hours of that day, before and after the change: one at each price
            usage(change - timedelta(hours=2), **tokens, **alice),
            usage(change + timedelta(hours=3), **tokens, **alice),
            usage(MIDNIGHT - timedelta(days=5, hours=3), model="gpt-4o-mini", **tokens, **bob),
            usage(MIDNIGHT + timedelta(hours=2), model="llama", **tokens, **bob),  # no price
        ],
    )

    rows = usage_per_day(days=7)

    day = change.replace(hour=0, minute=0)
    alice_day = [r for r in rows if r["assistant_name"] == "Alice"]
    assert [(r["day"], r["estimated_cost_usd"]) for r in alice_day] == [(day, 15.6)]
    unpriced = [r for r in rows if r["model"] == "llama"]
    assert unpriced[0]["estimated_cost_usd"] == 0 and unpriced[0]["unpriced_tokens"] == 1_100_000
    # The 7 days end now and start 156 h back: the /costs window of hours=156.
    costs = assistant_costs(hours=156)
    for answer in costs:
        mine = [r for r in rows if r["assistant_name"] == answer["assistant_name"]]
        assert sum(r["estimated_cost_usd"] for r in mine) == pytest.approx(
            answer["estimated_cost_usd"], abs=1e-6
        )
        assert sum(r["requests"] for r in mine) == answer["requests"]
        assert sum(r["unpriced_tokens"] for r in mine) == answer["unpriced_tokens"]
    assert {a["assistant_name"] for a in costs} == {"Alice", "Bob"}
