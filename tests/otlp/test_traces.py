"""POST /otlp/v1/traces: GenAI spans become AI usage, HTTP server spans request logs."""

from decimal import Decimal

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from apps.ai.models import AiUsage, ModelPrice
from apps.metrics.models import MetricPoint
from apps.metrics.rollups import rollup_pending
from apps.requestlog.models import APIRequestLog as RequestLog
from tests.helpers import drain_outbox
from tests.otlp.payloads import JSON, now_ns, otlp_json, post, span, traces_request

pytestmark = pytest.mark.django_db

URL = "/otlp/v1/traces"
CLIENT, SERVER = 3, 2


def answer(response) -> trace_service_pb2.ExportTraceServiceResponse:
    message = trace_service_pb2.ExportTraceServiceResponse()
    message.ParseFromString(response.content)
    return message


def chat_span(**attrs):
    """A chat call as OpenLIT / OpenLLMetry record it (current attribute names)."""
    return span(
        "chat gpt-4o",
        kind=CLIENT,
        ms=1200.0,
        gen_ai__operation__name="chat",
        gen_ai__provider__name="openai",
        gen_ai__request__model="gpt-4o",
        gen_ai__response__model="gpt-4o-2024-08-06",
        gen_ai__usage__input_tokens=1000,
        gen_ai__usage__output_tokens=200,
        gen_ai__usage__cache_read__input_tokens=400,
        gen_ai__server__time_to_first_token=0.3,
        **({"gen_ai__usage__cost": 0.0123, "user__id": "u-7", "session__id": "s-1"} | attrs),
    )


def test_a_genai_span_becomes_an_ai_usage_record(ingest_client):
    response = post(ingest_client, URL, traces_request(chat_span()))

    assert response.status_code == 200
    assert not answer(response).HasField("partial_success")
    drain_outbox()
    usage = AiUsage.objects.get()
    assert (usage.feature, usage.model) == ("chat", "gpt-4o-2024-08-06")
    assert (usage.tokens_in, usage.tokens_out, usage.cached_tokens) == (1000, 200, 400)
    assert (usage.user_id, usage.conversation_id, usage.success) == ("u-7", "s-1", True)
    assert usage.response_time_ms == pytest.approx(1200.0)
    assert usage.ttft_ms == pytest.approx(300.0)
    assert usage.generation_ms == pytest.approx(900.0)
    assert usage.metadata["provider"] == "openai"
    assert usage.metadata["provider_cost_usd"] == 0.0123
    assert usage.metadata["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert usage.metadata["span_id"] == "eee19b7ec3c1b174"


def test_older_attribute_names_are_read_too(ingest_client):
    old = span(
        "openai.chat",
        kind=CLIENT,
        gen_ai__system="openai",
        gen_ai__request__model="gpt-4o-mini",
        gen_ai__usage__prompt_tokens=50,
        gen_ai__usage__completion_tokens=7,
    )

    post(ingest_client, URL, traces_request(old))

    drain_outbox()
    usage = AiUsage.objects.get()
    assert (usage.model, usage.tokens_in, usage.tokens_out) == ("gpt-4o-mini", 50, 7)
    assert usage.feature == "openai.chat"  # no operation name: the span's
    assert usage.metadata["provider"] == "openai"


def test_a_failed_call_is_unsuccessful_with_its_status_message(ingest_client):
    post(ingest_client, URL, traces_request(chat_span(error="rate limited")))

    drain_outbox()
    usage = AiUsage.objects.get()
    assert (usage.success, usage.error) == (False, "rate limited")


def test_child_spans_become_steps_and_an_agent_counts_its_calls_tokens(ingest_client):
    agent = span(
        "invoke_agent tutor",
        span_id="0000000000000001",
        ms=3000.0,
        gen_ai__operation__name="invoke_agent",
        gen_ai__provider__name="openai",
    )
    call = span(
        "chat gpt-4o",
        span_id="0000000000000002",
        parent="0000000000000001",
        ms=800.0,
        gen_ai__operation__name="chat",
        gen_ai__request__model="gpt-4o",
        gen_ai__usage__input_tokens=30,
        gen_ai__usage__output_tokens=10,
    )
    tool = span("execute_tool search", span_id="0000000000000003", parent="0000000000000001")

    post(ingest_client, URL, traces_request(agent, call, tool))

    drain_outbox()
    usage = AiUsage.objects.get()
    assert usage.feature == "invoke_agent"
    assert (usage.tokens_in, usage.tokens_out) == (30, 10)
    assert [step["name"] for step in usage.steps] == ["chat gpt-4o", "execute_tool search"]
    assert usage.steps[0]["tokens_in"] == 30


def test_http_server_spans_become_request_logs_and_others_are_dropped(ingest_client):
    server = span(
        "GET /items/{id}",
        span_id="00000000000000aa",
        kind=SERVER,
        ms=42.0,
        http__request__method="GET",
        http__route="/items/{id}",
        url__path="/items/7",
        http__response__status_code=404,
        client__address="203.0.113.9",
    )
    internal = span("compute", span_id="00000000000000bb", parent="00000000000000aa")

    response = post(ingest_client, URL, traces_request(server, internal, service="shop"))

    assert not answer(response).HasField("partial_success")
    drain_outbox()
    log = RequestLog.objects.get()
    assert (log.service, log.endpoint, log.route, log.method) == (
        "shop",
        "/items/7",
        "/items/{id}",
        "GET",
    )
    assert (log.status_code, log.response_time_ms) == (404, pytest.approx(42.0))
    assert AiUsage.objects.count() == 0


def test_the_same_spans_sent_twice_are_stored_once(ingest_client):
    message = traces_request(chat_span())

    post(ingest_client, URL, message)
    post(ingest_client, URL, message)

    drain_outbox()
    assert AiUsage.objects.count() == 1


def test_otlp_json_with_hex_ids_is_read(ingest_client):
    response = post(ingest_client, URL, otlp_json(traces_request(chat_span())), JSON)

    assert response.status_code == 200
    assert response.json() == {}
    drain_outbox()
    assert AiUsage.objects.get().metadata["span_id"] == "eee19b7ec3c1b174"


def test_bad_hex_ids_in_json_are_a_400(ingest_client):
    body = b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","name":"x"}]}]}]}'

    response = post(ingest_client, URL, body, JSON)

    assert response.status_code == 400
    assert response.json()["code"] == 3


def test_refused_spans_are_counted(ingest_client):
    too_old = span(
        "chat",
        start=now_ns(60 * 24 * 400),
        gen_ai__operation__name="chat",
        gen_ai__request__model="m",
    )

    response = post(ingest_client, URL, traces_request(too_old, chat_span()))

    partial = answer(response).partial_success
    assert partial.rejected_spans == 1
    assert "timestamp" in partial.error_message


def test_costs_and_ttft_answer_with_otlp_usage(ingest_client, read_client):
    ModelPrice.objects.create(
        model="gpt-4o*",
        input_per_million=Decimal("2.5"),
        output_per_million=Decimal("10"),
        cached_input_per_million=Decimal("1.25"),
    )
    spans = [chat_span(), chat_span(span_id="eee19b7ec3c1b175", gen_ai__server__ttft=0.5)]

    post(ingest_client, URL, traces_request(*spans))

    drain_outbox()
    drain_outbox()  # the usage's derived metric points
    rollup_pending()
    costs = read_client.get("/api/v1/analytics/costs", {"hours": 24}).json()
    (row,) = costs if isinstance(costs, list) else costs["results"]
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (2, 2000, 400)
    # 600 uncached at 2.5, 400 cached at 1.25, 200 out at 10 per million, twice.
    assert row["estimated_cost_usd"] == pytest.approx(2 * (600 * 2.5 + 400 * 1.25 + 200 * 10) / 1e6)
    ttft = read_client.get("/api/v1/analytics/ttft", {"hours": 24}).json()
    assert ttft["p50"] == pytest.approx(300.0, rel=0.01)
    assert ttft["p99"] == pytest.approx(300.0, rel=0.01)


def test_a_provider_reported_cost_is_a_metric_point_beside_the_price_table(
    ingest_client, read_client
):
    """OpenLIT's `gen_ai.usage.cost`: kept in the usage's metadata and summed by the
    metric statistics as `gen_ai.usage.cost`, tagged so a rule can watch one user."""
    spans = [chat_span(), chat_span(span_id="eee19b7ec3c1b175", gen_ai__usage__cost=0.0077)]

    response = post(ingest_client, URL, traces_request(*spans))

    assert not answer(response).HasField("partial_success")
    drain_outbox()
    assert sorted(u.metadata["provider_cost_usd"] for u in AiUsage.objects.all()) == [
        0.0077,
        0.0123,
    ]
    rollup_pending()
    stats = read_client.get(
        "/api/v1/analytics/metrics/gen_ai.usage.cost/statistics",
        {"hours": 1, "tag": ["user_id:u-7", "provider:openai", "model:gpt-4o-2024-08-06"]},
    ).json()
    assert (stats["count"], stats["sum"]) == (2, pytest.approx(0.02))
    point = MetricPoint.objects.get(metric_name="gen_ai.usage.cost", value=0.0077)
    assert point.tags == {
        "service.name": "assistant",
        "model": "gpt-4o-2024-08-06",
        "feature": "chat",
        "provider": "openai",
        "user_id": "u-7",
    }
    assert (point.metric_type, point.unit) == ("counter", "USD")
    # Sent again: the same points, stored once.
    post(ingest_client, URL, traces_request(*spans))
    drain_outbox()
    assert MetricPoint.objects.filter(metric_name="gen_ai.usage.cost").count() == 2


def test_no_cost_point_without_a_usable_cost(ingest_client):
    spans = [
        chat_span(gen_ai__usage__cost=-1.0),
        chat_span(span_id="eee19b7ec3c1b175", gen_ai__usage__cost="0.5"),
        chat_span(span_id="eee19b7ec3c1b176", gen_ai__usage__cost=True),
    ]
    post(ingest_client, URL, traces_request(*spans))
    drain_outbox()
    assert AiUsage.objects.count() == 3
    assert not MetricPoint.objects.filter(metric_name="gen_ai.usage.cost").exists()


def test_openllmetry_s_streamed_chunks_give_the_time_to_first_token(ingest_client):
    """OpenLLMetry records no TTFT attribute on the span but an event per streamed chunk
    (`gen_ai.content.completion.chunk`): the first one's time is the first token's; its
    `gen_ai.user` (the OpenAI request's `user`) and Traceloop's association properties
    name the user and the session."""
    start = now_ns(5)
    streamed = span(
        "openai.chat",
        kind=CLIENT,
        start=start,
        ms=400.0,
        gen_ai__operation__name="chat",
        gen_ai__provider__name="openai",
        gen_ai__request__model="gpt-4o",
        gen_ai__is_streaming=True,
        gen_ai__usage__input_tokens=10,
        gen_ai__usage__output_tokens=5,
        gen_ai__user="u-9",
        traceloop__association__properties__session_id="conv-9",
    )
    for ms in (120, 200, 390):
        streamed.events.add(
            name="gen_ai.content.completion.chunk", time_unix_nano=start + ms * 10**6
        )

    post(ingest_client, URL, traces_request(streamed))

    drain_outbox()
    usage = AiUsage.objects.get()
    assert (usage.ttft_ms, usage.generation_ms) == (120.0, 280.0)
    assert (usage.user_id, usage.conversation_id) == ("u-9", "conv-9")


def test_older_openllmetry_spans_name_the_operation_by_llm_request_type(ingest_client):
    older = span(
        "openai.chat",
        kind=CLIENT,
        gen_ai__system="openai",
        gen_ai__request__model="gpt-3.5-turbo",
        llm__request__type="chat",
        gen_ai__usage__prompt_tokens=12,
        gen_ai__usage__completion_tokens=3,
        llm__usage__total_tokens=15,
        llm__user="u-old",
    )
    post(ingest_client, URL, traces_request(older))
    drain_outbox()
    usage = AiUsage.objects.get()
    assert (usage.feature, usage.model, usage.user_id) == ("chat", "gpt-3.5-turbo", "u-old")
    assert (usage.tokens_in, usage.tokens_out, usage.metadata["provider"]) == (12, 3, "openai")
