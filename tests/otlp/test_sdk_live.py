"""The real opentelemetry-sdk with its OTLP/HTTP (protobuf) exporters, configured only by
the two lines the README gives (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS),
against a stack started as `make run` starts it: what it exports lands, and the reads
answer with it."""

import http.client
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request

import orjson
import pytest

from apps.ai.models import AiUsage
from apps.errors.models import ErrorLog
from apps.metrics.models import MetricPoint
from apps.metrics.rollups import rollup_pending
from apps.requestlog.models import APIRequestLog
from tests.live import ROOT, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

# A process of its own, as an instrumented application is: the SDK's providers are global.
METRICS_SCRIPT = textwrap.dedent(
    """
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    # The exporter's defaults: protobuf, cumulative temporality, endpoint and headers
    # from the environment.
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("shop.checkout")
    orders = meter.create_counter("shop.orders", unit="{order}")
    duration = meter.create_histogram("http.server.request.duration", unit="ms")
    orders.add(5, {"region": "eu"})
    for value in (12.0, 30.0, 45.5, 80.0, 250.0):
        duration.record(value, {"http.route": "/pay"})
    print("first", provider.force_flush(10_000))
    orders.add(3, {"region": "eu"})
    duration.record(7.5, {"http.route": "/pay"})
    print("second", provider.force_flush(10_000))
    provider.shutdown()
    """
)

# An LLM call as OpenLIT records it (its span attributes, current and older names), with a
# tool call under it; an HTTP server span; a span that is neither; and an exception and an
# info line through Python logging.
TRACES_AND_LOGS_SCRIPT = textwrap.dedent(
    """
    import logging
    import time

    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    tracer = tracer_provider.get_tracer("openlit.otel.tracing")

    with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as span:
        span.set_attributes({
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.total_tokens": 1500,
            "gen_ai.usage.cost": 0.006,
            "gen_ai.server.ttft": 0.05,
            "user.id": "u-42",
            "session.id": "conv-1",
        })
        time.sleep(0.12)
        with tracer.start_as_current_span("execute_tool lookup") as tool:
            tool.set_attribute("gen_ai.tool.name", "lookup")
    with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as span:
        span.set_attributes({
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.prompt_tokens": 100,
            "gen_ai.usage.completion_tokens": 20,
        })
        span.set_status(Status(StatusCode.ERROR, "rate limited"))
    with tracer.start_as_current_span("GET /items/{id}", kind=SpanKind.SERVER) as span:
        span.set_attributes({
            "http.request.method": "GET",
            "http.route": "/items/{id}",
            "url.path": "/items/7",
            "http.response.status_code": 200,
        })
        with tracer.start_as_current_span("SELECT items"):
            pass
    print("traces", tracer_provider.force_flush(10_000))

    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    logging.getLogger().addHandler(LoggingHandler(logger_provider=logger_provider))
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("shop.payments")
    log.info("cart opened")
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("payment failed")
    print("logs", logger_provider.force_flush(10_000))
    tracer_provider.shutdown()
    logger_provider.shutdown()
    """
)


def run_sdk(script: str, port: int, key: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_SERVICE_NAME": "shop",
        # The two lines a user sets (README): the endpoint and the key.
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}/otlp",
        "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={key}",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "Failed to export" not in done.stderr, done.stderr
    return dict(line.split(" ", 1) for line in done.stdout.splitlines())


def get(port: int, path: str, key: str, **query) -> dict:
    url = f"http://127.0.0.1:{port}{path}?{urllib.parse.urlencode(query, doseq=True)}"
    request = urllib.request.Request(url, headers={"X-API-Key": key})
    with urllib.request.urlopen(request, timeout=20) as response:
        return orjson.loads(response.read())


def test_the_sdk_s_metrics_land_and_statistics_answer_with_them(live_stack, ingest_key, read_key):
    printed = run_sdk(METRICS_SCRIPT, live_stack.web_port, ingest_key)

    assert printed == {"first": "True", "second": "True"}
    wait_until(lambda: MetricPoint.objects.count() >= 2 + 6, timeout=60, what="points stored")
    rollup_pending()
    orders = get(
        live_stack.web_port, "/api/v1/analytics/metrics/shop.orders/statistics", read_key, hours=1
    )
    # Cumulative 5, 8, 8 (shutdown exports once more): increments of 5, 3 and 0.
    assert (orders["count"], orders["sum"]) == (3, 8.0)
    assert orders["tags"] == {}
    durations = get(
        live_stack.web_port,
        "/api/v1/analytics/metrics/http.server.request.duration/statistics",
        read_key,
        hours=1,
        tag=["service.name:shop", "http.route:/pay"],
    )
    assert durations["count"] == 6
    assert durations["sum"] == pytest.approx(12.0 + 30.0 + 45.5 + 80.0 + 250.0 + 7.5)
    assert durations["max"] == 250.0  # the first export's max: exact
    point = MetricPoint.objects.filter(metric_name="shop.orders").first()
    assert point.tags["service.name"] == "shop" and point.tags["region"] == "eu"
    assert point.metric_type == "counter"


def test_the_sdk_s_spans_and_logs_land_and_the_ai_reads_answer_with_them(
    live_stack, ingest_key, read_key
):
    printed = run_sdk(TRACES_AND_LOGS_SCRIPT, live_stack.web_port, ingest_key)

    assert printed == {"traces": "True", "logs": "True"}
    wait_until(
        lambda: AiUsage.objects.count() == 2 and ErrorLog.objects.exists(),
        timeout=60,
        what="usage and errors stored",
    )
    wait_until(lambda: APIRequestLog.objects.exists(), timeout=30, what="request log stored")
    call = AiUsage.objects.get(success=True)
    assert (call.feature, call.model) == ("chat", "gpt-4o-2024-08-06")
    assert (call.tokens_in, call.tokens_out) == (1200, 300)
    assert (call.user_id, call.conversation_id) == ("u-42", "conv-1")
    assert call.ttft_ms == pytest.approx(50.0)
    assert call.response_time_ms >= 120
    assert [step["name"] for step in call.steps] == ["execute_tool lookup"]
    assert call.metadata["provider"] == "openai"
    assert call.metadata["provider_cost_usd"] == 0.006
    failed = AiUsage.objects.get(success=False)
    assert (failed.tokens_in, failed.tokens_out, failed.error) == (100, 20, "rate limited")
    served = APIRequestLog.objects.get()
    assert (served.service, served.route, served.status_code) == ("shop", "/items/{id}", 200)
    error = ErrorLog.objects.get()
    assert (error.error_code, error.error_message) == ("ZeroDivisionError", "division by zero")
    assert "ZeroDivisionError" in error.stack_trace
    assert error.context["body"] == "payment failed"
    assert error.context["logger"] == "shop.payments"

    wait_until(
        lambda: (
            AiUsage.objects.exclude(ttft_ms=None).exists()
            and MetricPoint.objects.filter(metric_name="gen_ai.usage.cost").exists()
        ),
        timeout=30,
        what="the usage and its provider-reported cost point",
    )
    rollup_pending()
    ttft = get(live_stack.web_port, "/api/v1/analytics/ttft", read_key, hours=1)
    assert ttft["p50"] == pytest.approx(50.0, rel=0.01)
    costs = get(live_stack.web_port, "/api/v1/analytics/costs", read_key, hours=1)
    rows = costs if isinstance(costs, list) else costs["results"]
    assert sum(row["requests"] for row in rows) == 2
    assert sum(row["input_tokens"] for row in rows) == 1300
    # OpenLIT's provider-reported cost, beside the price table's (none here).
    billed = get(
        live_stack.web_port,
        "/api/v1/analytics/metrics/gen_ai.usage.cost/statistics",
        read_key,
        hours=1,
        tag=["user_id:u-42", "provider:openai"],
    )
    assert (billed["count"], billed["sum"]) == (1, 0.006)


def test_chunked_json_as_the_javascript_exporters_send_it_is_read(live_stack, ingest_key):
    """The JavaScript exporters send their JSON with Transfer-Encoding: chunked."""
    from tests.otlp.test_javascript_payloads import RECORDED, _shift, _times

    body = orjson.loads((RECORDED / "js_logs.json").read_bytes())
    found: list[int] = []
    _times(body, found)
    data = orjson.dumps(_shift(body, int((time.time() - 60) * 1e9) - max(found)))
    conn = http.client.HTTPConnection("127.0.0.1", live_stack.web_port, timeout=30)
    try:
        chunks = [data[i : i + 200] for i in range(0, len(data), 200)]
        headers = {"Content-Type": "application/json", "x-api-key": ingest_key}
        conn.request(
            "POST", "/otlp/v1/logs", body=iter(chunks), headers=headers, encode_chunked=True
        )
        response = conn.getresponse()
        assert (response.status, orjson.loads(response.read())) == (200, {})
    finally:
        conn.close()
    error = wait_until(lambda: ErrorLog.objects.first(), timeout=30, what="error stored")
    assert error.error_code == "TypeError"
