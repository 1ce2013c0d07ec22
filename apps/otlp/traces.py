"""ExportTraceServiceRequest -> AI usage records and request logs; other spans dropped.

- A span with GenAI semantic-convention attributes (`gen_ai.operation.name`,
  `gen_ai.request.model`, `gen_ai.provider.name` / formerly `gen_ai.system`) is one AI
  usage record, unless its parent in the same export is one too: then it is a step of
  that record. Every child span of a GenAI span in the same export is one of its steps.
  A provider-reported cost (`gen_ai.usage.cost`, as OpenLIT records it) is the record's
  `reported_cost_usd` (the cost reads answer it beside the price table's estimate; also
  kept in its metadata as `provider_cost_usd`) and is also one metric point
  `gen_ai.usage.cost` (counter, USD, tagged `service.name`, `model`, `feature`,
  `provider`, `user_id`), so statistics and alert rules can sum what the providers billed.
  A span that counts only its total tokens keeps that total in the record's metadata
  (`total_tokens`): its input/output split is unknown, so it is not priced.
- A server span (kind SERVER) with an HTTP status code is one request log.
- Any other span is counted (ingest counter `otlp_span:dropped`, /metrics) and dropped.
"""

import ipaddress
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry.proto.trace.v1 import trace_pb2

from apps.ingest.fields import MAX_ABS_NUMBER
from apps.metrics.schemas import MAX_TAG_VALUE

from .attributes import attributes, service_name
from .converted import ByKind
from .metrics import event_id, timestamp
from .protocol import hex_id

SERVER = trace_pb2.Span.SPAN_KIND_SERVER
STATUS_ERROR = trace_pb2.Status.STATUS_CODE_ERROR
GENAI_MARKERS = (
    "gen_ai.operation.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.provider.name",
    "gen_ai.system",
)
# Current name first, then the older ones instrumentations still write.
INPUT_TOKENS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.usage.prompt_tokens",
    "llm.token_count.prompt",
)
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.usage.completion_tokens",
    "llm.token_count.completion",
)
CACHED_TOKENS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.usage.cache_read_input_tokens",
)
# Seconds from the request to the first token, as OpenLIT records it (newer name first).
TTFT_SECONDS = ("gen_ai.server.time_to_first_token", "gen_ai.server.ttft")
# The moment of the first token, as Langfuse reads it (ISO 8601 or Unix nanoseconds).
COMPLETION_START = ("langfuse.observation.completion_start_time", "gen_ai.completion_start_time")
# Else the first streamed chunk's span event, as OpenLLMetry records each chunk
# (`gen_ai.content.completion.chunk`; `llm.content.completion.chunk` in older versions).
CHUNK_EVENT_SUFFIX = "completion.chunk"
# Who asked: `user.id`, else the OpenAI request's `user` (OpenLLMetry's `gen_ai.user`,
# formerly `llm.user`) or Traceloop's association properties, else Langfuse's.
USER_ID = (
    "user.id",
    "enduser.id",
    "gen_ai.user",
    "llm.user",
    "traceloop.association.properties.user_id",
    "langfuse.user.id",
)
SESSION_ID = (
    "session.id",
    "gen_ai.conversation.id",
    "traceloop.association.properties.session_id",
    "langfuse.session.id",
)
# Instrumentations that count only the sum (no input/output split).
TOTAL_TOKENS = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens")
PROVIDER_COST = "gen_ai.usage.cost"


@dataclass
class Span:
    index: int
    span: object  # trace_pb2.Span
    attrs: dict
    resource: dict

    @property
    def duration_ms(self) -> float | None:
        start, end = self.span.start_time_unix_nano, self.span.end_time_unix_nano
        return (end - start) / 1e6 if start and end >= start else None

    @property
    def is_genai(self) -> bool:
        return any(self.attrs.get(name) not in (None, "") for name in GENAI_MARKERS)

    @property
    def origin_name(self) -> str:
        """How a refusal of its item names it."""
        return f"span {self.span.name!r}"

    @property
    def key(self) -> tuple[bytes, bytes]:
        return (self.span.trace_id, self.span.span_id)


@dataclass
class Converted(ByKind):
    steps: int = 0  # GenAI spans folded into their parent's record


def spans(message) -> list[Span]:
    out: list[Span] = []
    for resource_spans in message.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(Span(len(out), span, attributes(span.attributes), resource))
    return out


def convert(all_spans: list[Span]) -> Converted:
    out = Converted()
    by_key = {span.key: span for span in all_spans if span.span.span_id}
    children: dict[tuple[bytes, bytes], list[Span]] = defaultdict(list)
    for span in all_spans:
        if span.span.parent_span_id:
            children[(span.span.trace_id, span.span.parent_span_id)].append(span)
    for span in all_spans:
        parent = by_key.get((span.span.trace_id, span.span.parent_span_id))
        if span.is_genai:
            if parent is not None and parent.is_genai:
                out.steps += 1  # a step of its parent's record
                continue
            usage = ai_usage(span, children.get(span.key, []))
            out.add("ai_usage", span.index, span.origin_name, usage)
            cost = provider_cost(usage)
            if cost is not None:
                out.add("metric", span.index, span.origin_name, cost)
        elif span.span.kind == SERVER and _status_code(span.attrs) is not None:
            out.add("request_log", span.index, span.origin_name, request_log(span))
        elif parent is None or not parent.is_genai:
            out.dropped += 1
    return out


def _first(attrs: dict, names: tuple[str, ...]):
    for name in names:
        value = attrs.get(name)
        if value not in (None, ""):
            return value
    return None


def _count(attrs: dict, names: tuple[str, ...]) -> int | None:
    value = _first(attrs, names)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _text(value, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def _ttft_ms(span: Span) -> float | None:
    seconds = _first(span.attrs, TTFT_SECONDS)
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0:
        return float(seconds) * 1000
    start = _first(span.attrs, COMPLETION_START)
    first_token_ns = None
    if isinstance(start, int) and not isinstance(start, bool):
        first_token_ns = start
    elif isinstance(start, str):
        try:
            moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        first_token_ns = int(moment.timestamp() * 1e9)
    if first_token_ns is None:
        first_token_ns = next(
            (e.time_unix_nano for e in span.span.events if e.name.endswith(CHUNK_EVENT_SUFFIX)),
            None,
        )
    if first_token_ns is None or first_token_ns < span.span.start_time_unix_nano:
        return None
    return (first_token_ns - span.span.start_time_unix_nano) / 1e6


def _step(child: Span) -> dict:
    step: dict = {"name": child.span.name[:100] or "span"}
    if child.duration_ms is not None:
        step["duration_ms"] = child.duration_ms
    tokens_in = _count(child.attrs, INPUT_TOKENS)
    tokens_out = _count(child.attrs, OUTPUT_TOKENS)
    if tokens_in is not None:
        step["tokens_in"] = tokens_in
    if tokens_out is not None:
        step["tokens_out"] = tokens_out
    return step


def ai_usage(span: Span, children: list[Span]) -> dict:
    """One AI usage item from a GenAI span (and its child spans as steps)."""
    attrs, data = span.attrs, span.span
    steps = [_step(child) for child in sorted(children, key=lambda c: c.span.start_time_unix_nano)]
    tokens_in = _count(attrs, INPUT_TOKENS)
    tokens_out = _count(attrs, OUTPUT_TOKENS)
    only_total = None
    if tokens_in is None and tokens_out is None:
        only_total = _count(attrs, TOTAL_TOKENS)
        if steps:  # an agent: its calls' tokens
            tokens_in = sum(step.get("tokens_in", 0) for step in steps)
            tokens_out = sum(step.get("tokens_out", 0) for step in steps)
    tokens_in, tokens_out = tokens_in or 0, tokens_out or 0
    cached = _count(attrs, CACHED_TOKENS) or 0
    # Providers that count cache reads apart from the input (Anthropic): the input here
    # includes them, as the usage records count it.
    if cached > tokens_in:
        tokens_in += cached
    failed = data.status.code == STATUS_ERROR
    metadata = {
        "trace_id": hex_id(data.trace_id),
        "span_id": hex_id(data.span_id),
        "service": service_name(span.resource),
        "span_name": data.name,
    }
    provider = _first(attrs, ("gen_ai.provider.name", "gen_ai.system"))
    if provider is not None:
        metadata["provider"] = _text(provider, 100)
    if only_total is not None:
        # Which of them were input and which output is unknown: kept, not priced.
        metadata["total_tokens"] = only_total
    cost = attrs.get(PROVIDER_COST)
    reported = None
    if isinstance(cost, int | float) and not isinstance(cost, bool) and math.isfinite(cost):
        metadata["provider_cost_usd"] = float(cost)  # as before the column: kept for readers
        if 0 <= cost <= MAX_ABS_NUMBER:  # else the schema would refuse the whole record
            reported = float(cost)
    item = {
        "event_id": event_id("span", metadata["trace_id"], metadata["span_id"]),
        # OpenLLMetry before gen_ai.operation.name: `llm.request.type` (chat, completion ...).
        "feature": _text(
            _first(attrs, ("gen_ai.operation.name", "llm.request.type")) or data.name or "genai",
            100,
        ),
        "model": _text(_first(attrs, ("gen_ai.response.model", "gen_ai.request.model")), 200),
        "user_id": _text(_first(attrs, USER_ID), 255),
        "conversation_id": _text(_first(attrs, SESSION_ID), 255),
        "success": not failed,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cached_tokens": cached,
        "reported_cost_usd": reported,
        "steps": steps[:50],
        "metadata": metadata,
    }
    if failed:
        item["error"] = data.status.message or _text(attrs.get("error.type"), 1000) or "error"
    if span.duration_ms is not None:
        item["response_time_ms"] = span.duration_ms
        ttft = _ttft_ms(span)
        if ttft is not None and ttft <= span.duration_ms:
            item["ttft_ms"] = ttft
            item["generation_ms"] = span.duration_ms - ttft
    when = timestamp(data.start_time_unix_nano)
    if when is not None:
        item["timestamp"] = when
    return item


def provider_cost(usage: dict) -> dict | None:
    """The metric point of a usage record's provider-reported cost, if it has one."""
    metadata = usage["metadata"]
    cost = metadata.get("provider_cost_usd")
    if cost is None or cost < 0:
        return None
    tags = {
        "service.name": metadata["service"],
        "model": usage["model"],
        "feature": usage["feature"],
        "provider": metadata.get("provider", ""),
        "user_id": usage["user_id"],
    }
    item = {
        "event_id": event_id("span-cost", metadata["trace_id"], metadata["span_id"]),
        "metric_name": PROVIDER_COST,
        "metric_type": "counter",
        "value": cost,
        "unit": "USD",
        "tags": {name: value[:MAX_TAG_VALUE] for name, value in tags.items() if value},
        "source": "otlp",
    }
    if "timestamp" in usage:
        item["timestamp"] = usage["timestamp"]
    return item


def _status_code(attrs: dict) -> int | None:
    value = _first(attrs, ("http.response.status_code", "http.status_code"))
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def request_log(span: Span) -> dict:
    """One request log from an HTTP server span."""
    attrs, data = span.attrs, span.span
    route = _text(attrs.get("http.route"), 500)
    endpoint = _text(_first(attrs, ("url.path", "http.target")), 500).split("?")[0] or route
    method = _text(_first(attrs, ("http.request.method", "http.method")), 10).upper()
    item = {
        "event_id": event_id("span", hex_id(data.trace_id), hex_id(data.span_id)),
        "service": _text(service_name(span.resource), 100),
        "endpoint": endpoint or data.name[:500] or "/",
        "route": route,
        "method": method,  # one the schema does not know (_OTHER) is refused, saying so
        "status_code": _status_code(attrs),
        "response_time_ms": span.duration_ms or 0.0,
        "user_agent": _text(_first(attrs, ("user_agent.original", "http.user_agent")), 500),
        "request_id": hex_id(data.trace_id)[:64],
        "user_id": _text(_first(attrs, ("user.id", "enduser.id")), 255),
    }
    client = _first(attrs, ("client.address", "http.client_ip"))
    try:
        item["client_ip"] = str(ipaddress.ip_address(str(client)))
    except ValueError:
        pass  # absent, or a host name / socket path: no address to keep
    if data.status.code == STATUS_ERROR and data.status.message:
        item["error_message"] = data.status.message
    when = timestamp(data.start_time_unix_nano)
    if when is not None:
        item["timestamp"] = when
    return item
