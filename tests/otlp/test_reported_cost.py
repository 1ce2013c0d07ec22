"""GenAI spans: a provider-reported cost lands in the cost reads beside the price table's
estimate; a span that counts only its total tokens keeps that total, unpriced."""

from decimal import Decimal

import pytest

from apps.ai.models import AiUsage, ModelPrice
from tests.helpers import drain_outbox
from tests.otlp.payloads import now_ns, post, span, traces_request

pytestmark = pytest.mark.django_db

URL = "/otlp/v1/traces"
COSTS = "/api/v1/analytics/costs"
CLIENT = 3


def genai_span(span_id: str, minutes_ago: float = 5, **attrs):
    return span(
        "chat gpt-4o",
        span_id=span_id,
        kind=CLIENT,
        start=now_ns(minutes_ago),
        gen_ai__operation__name="chat",
        gen_ai__provider__name="openai",
        gen_ai__request__model="gpt-4o",
        **attrs,
    )


def cost_row(read_client) -> dict:
    response = read_client.get(COSTS, {"hours": 24})
    assert response.status_code == 200, response.content
    (row,) = response.json()
    return row


@pytest.fixture
def priced():
    ModelPrice.objects.create(
        model="gpt-4o*", input_per_million=Decimal("2.5"), output_per_million=Decimal("10")
    )


def test_a_span_s_reported_cost_is_answered_beside_the_estimate(priced, ingest_client, read_client):
    tokens = {"gen_ai__usage__input_tokens": 1000, "gen_ai__usage__output_tokens": 200}
    spans = [
        genai_span("eee19b7ec3c1b174", gen_ai__usage__cost=0.0123, **tokens),
        # Two hours back: a whole hour, read from the hourly sums.
        genai_span("eee19b7ec3c1b175", minutes_ago=120, gen_ai__usage__cost=0.0077, **tokens),
        genai_span("eee19b7ec3c1b176", **tokens),  # no cost reported
        genai_span("eee19b7ec3c1b177", gen_ai__usage__cost=-1.0, **tokens),  # not a cost
    ]

    post(ingest_client, URL, traces_request(*spans))
    drain_outbox()
    post(ingest_client, URL, traces_request(*spans))  # the exporter retried: stored once
    drain_outbox()

    row = cost_row(read_client)
    assert row["requests"] == 4
    assert row["estimated_cost_usd"] == pytest.approx(4 * (1000 * 2.5 + 200 * 10) / 1e6)
    assert row["reported_cost_usd"] == pytest.approx(0.02)
    assert row["reported_requests"] == 2
    # Still in the metadata, where readers found it before.
    costs = sorted(u.metadata.get("provider_cost_usd", 0) for u in AiUsage.objects.all())
    assert costs == [-1.0, 0, 0.0077, 0.0123]


@pytest.mark.parametrize(
    "name", ["gen_ai__usage__total_tokens", "llm__usage__total_tokens"], ids=["gen_ai", "llm"]
)
def test_a_span_with_only_a_total_keeps_it_unpriced(priced, ingest_client, read_client, name):
    post(ingest_client, URL, traces_request(genai_span("eee19b7ec3c1b174", **{name: 1500})))
    drain_outbox()

    usage = AiUsage.objects.get()
    assert (usage.tokens_in, usage.tokens_out) == (0, 0)
    assert usage.metadata["total_tokens"] == 1500
    row = cost_row(read_client)
    assert (row["estimated_cost_usd"], row["unpriced_tokens"], row["total_tokens"]) == (0, 0, 0)


def test_a_total_beside_input_and_output_counts_is_not_kept(priced, ingest_client):
    counted = genai_span(
        "eee19b7ec3c1b174",
        gen_ai__usage__input_tokens=10,
        gen_ai__usage__total_tokens=15,
    )
    post(ingest_client, URL, traces_request(counted))
    drain_outbox()

    usage = AiUsage.objects.get()
    assert (usage.tokens_in, usage.tokens_out) == (10, 0)
    assert "total_tokens" not in usage.metadata
