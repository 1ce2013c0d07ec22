"""A provider-reported cost sent with AI usage: answered beside the price table's estimate."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.helpers import drain_outbox, iso, post_json

pytestmark = pytest.mark.django_db

LOG = "/api/v1/analytics/log-ai-usage"
PRICES = "/api/v1/analytics/ai/prices"
COSTS = "/api/v1/analytics/costs"
ADVANCED = "/api/v1/analytics/advanced"
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
ALICE = {"assistant_id": "7d3c1c8e-6a49-4f43-8d0c-2b5f2f9d1a01", "assistant_name": "Alice"}
BOB = {"assistant_id": "0f9a4e2b-3c1d-4e5f-8a7b-6c5d4e3f2a10", "assistant_name": "Bob"}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def usage(ago: timedelta = timedelta(minutes=10), **fields) -> dict:
    return {"feature": "chat", "model": "gpt-4o", "timestamp": iso(NOW - ago), **fields}


def ship(client, items) -> dict:
    response = post_json(client, LOG, items)
    assert response.status_code == 202, response.content
    drain_outbox()
    return response.json()


def costs(client, hours: int = 24) -> dict[str, dict]:
    response = client.get(COSTS, {"hours": hours})
    assert response.status_code == 200, response.content
    return {row["assistant_name"]: row for row in response.json()}


def test_reported_costs_are_answered_beside_the_estimate(
    admin_api_client, ingest_client, read_client
):
    price = {"model": "gpt-4o", "input_per_million": 2, "output_per_million": 8}
    assert post_json(admin_api_client, PRICES, price).status_code == 201
    body = ship(
        ingest_client,
        [
            # A whole hour (read from the hourly sums) and the current one (from the rows).
            usage(timedelta(hours=3), tokens_in=10**6, reported_cost_usd=1.75, **ALICE),
            usage(timedelta(minutes=10), tokens_out=10**6, reported_cost_usd=0.5, **ALICE),
            usage(timedelta(hours=5), tokens_in=10**6, **ALICE),  # reported nothing
            usage(timedelta(hours=2), tokens_in=500_000, reported_cost_usd=0, **BOB),
            usage(timedelta(hours=1), tokens_in=500_000, reported_cost_usd=None, **BOB),
            usage(timedelta(hours=30), reported_cost_usd=99.0, **ALICE),  # outside 24 h
        ],
    )
    assert body["accepted"] == 6 and not body["rejected"]

    found = costs(read_client)

    alice, bob = found["Alice"], found["Bob"]
    assert alice["estimated_cost_usd"] == pytest.approx(2 + 8 + 2)
    assert (alice["reported_cost_usd"], alice["reported_requests"]) == (2.25, 2)
    assert alice["requests"] == 3
    # A reported 0 is a report; null is as if absent.
    assert (bob["reported_cost_usd"], bob["reported_requests"]) == (0.0, 1)
    assert bob["estimated_cost_usd"] == pytest.approx(2.0)
    # The last hour alone: only the current hour's rows.
    recent = costs(read_client, hours=1)
    assert (recent["Alice"]["reported_cost_usd"], recent["Alice"]["reported_requests"]) == (
        0.5,
        1,
    )
    advanced = read_client.get(ADVANCED, {"cost_hours": 24}).json()["costs"]
    by_name = {row["assistant_name"]: row for row in advanced}
    assert (by_name["Alice"]["reported_cost_usd"], by_name["Alice"]["reported_requests"]) == (
        2.25,
        2,
    )


def test_usage_without_reported_costs_answers_zero(ingest_client, read_client):
    ship(ingest_client, [usage(timedelta(hours=2), tokens_in=10, **ALICE), usage(**ALICE)])

    alice = costs(read_client)["Alice"]

    assert (alice["reported_cost_usd"], alice["reported_requests"]) == (0.0, 0)
    assert alice["estimated_cost_usd"] == 0.0  # no price either


def test_a_retried_item_reports_its_cost_once(ingest_client, read_client):
    in_a_whole_hour = usage(timedelta(hours=2), event_id=str(uuid.uuid4()), reported_cost_usd=0.4)
    in_this_hour = usage(event_id=str(uuid.uuid4()), reported_cost_usd=0.1)
    ship(ingest_client, [in_a_whole_hour, in_this_hour])
    body = ship(ingest_client, {"batch": [in_a_whole_hour, in_this_hour]})  # a client retry
    ship(ingest_client, [in_a_whole_hour])

    assert body["accepted"] == 2  # accepted again, stored once
    (row,) = costs(read_client).values()
    assert (row["requests"], row["reported_requests"]) == (2, 2)
    assert row["reported_cost_usd"] == pytest.approx(0.5)


@pytest.mark.parametrize("cost", [-0.01, "NaN", "Infinity", 1e19, True, "cheap"])
def test_a_bad_reported_cost_is_refused_per_item_naming_the_field(ingest_client, read_client, cost):
    body = ship(ingest_client, [usage(reported_cost_usd=0.2), usage(reported_cost_usd=cost)])

    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]
    assert "reported_cost_usd" in str(body["rejected"][0]["errors"])
    (row,) = costs(read_client).values()
    assert (row["requests"], row["reported_cost_usd"], row["reported_requests"]) == (1, 0.2, 1)
