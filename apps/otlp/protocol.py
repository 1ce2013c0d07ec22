"""OTLP/HTTP on the wire: request bodies in, Export*ServiceResponse and google.rpc.Status out.

Both encodings of the specification: `application/x-protobuf` (the SDKs' default) and
`application/json`, whose OTLP flavour differs from proto3 JSON in one way that matters
to a parser: trace and span ids are hex, not base64. Everything is parsed by the
`opentelemetry-proto` package's generated modules; the body limit, gzip/deflate and
the 413/415 answers are the ingest pipeline's (apps.ingest.body.read_body).
"""

import base64
import binascii
from dataclasses import dataclass

import orjson
from django.http import HttpResponse
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from rest_framework import exceptions

from apps.ingest.body import media_type, read_body

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# `application/protobuf` is what some clients (and the IANA registration) call it.
MEDIA_TYPES = (PROTOBUF, "application/protobuf", JSON)

# The OTLP JSON fields holding ids as hex, in both spellings json_format accepts.
_ID_FIELDS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)


@dataclass(frozen=True)
class Signal:
    """One OTLP signal: its request and response messages and its partial-success field."""

    name: str
    request: type[Message]
    response: type[Message]
    partial_success: type[Message]
    rejected_field: str


METRICS = Signal(
    "metrics",
    metrics_service_pb2.ExportMetricsServiceRequest,
    metrics_service_pb2.ExportMetricsServiceResponse,
    metrics_service_pb2.ExportMetricsPartialSuccess,
    "rejected_data_points",
)
TRACES = Signal(
    "traces",
    trace_service_pb2.ExportTraceServiceRequest,
    trace_service_pb2.ExportTraceServiceResponse,
    trace_service_pb2.ExportTracePartialSuccess,
    "rejected_spans",
)
LOGS = Signal(
    "logs",
    logs_service_pb2.ExportLogsServiceRequest,
    logs_service_pb2.ExportLogsServiceResponse,
    logs_service_pb2.ExportLogsPartialSuccess,
    "rejected_log_records",
)


class UnparsableError(Exception):
    """The body is not an OTLP message of the endpoint's signal: a 400, not retried."""


def is_json(request) -> bool:
    return media_type(request) == JSON


def read_message(request, signal: Signal) -> Message:
    """The request's Export*ServiceRequest. 413/415 as the ingest pipeline answers them
    (DRF exceptions); UnparsableError for a body that is neither valid data nor that message."""
    try:
        body = read_body(request, media_types=MEDIA_TYPES)
    except exceptions.ParseError as exc:  # bad gzip/deflate data
        raise UnparsableError(str(exc.detail)) from None
    message = signal.request()
    if is_json(request):
        _parse_json(body, message)
    else:
        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            name = message.DESCRIPTOR.name
            raise UnparsableError(f"Body is not a protobuf {name}: {exc}") from None
    return message


def _parse_json(body: bytes, message: Message) -> None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UnparsableError(f"Malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UnparsableError(f"Body must be a JSON object ({message.DESCRIPTOR.name}).")
    try:
        json_format.ParseDict(_ids_as_base64(data), message, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        name = message.DESCRIPTOR.name
        raise UnparsableError(f"Body is not an OTLP JSON {name}: {exc}") from None


def _ids_as_base64(value, depth: int = 0):
    """OTLP JSON's hex trace/span ids as the base64 proto3 JSON expects, everywhere."""
    if depth > 64:
        raise UnparsableError("Body is nested too deeply.")
    if isinstance(value, dict):
        return {
            key: _id_base64(item) if key in _ID_FIELDS else _ids_as_base64(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_ids_as_base64(item, depth + 1) for item in value]
    return value


def _id_base64(value):
    if not isinstance(value, str) or not value:
        return value
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise UnparsableError(f"Trace and span ids are hex in OTLP JSON, not {value!r}.") from None
    return base64.b64encode(raw).decode()


def hex_id(raw: bytes) -> str:
    """A trace or span id as OTLP JSON and every tracing UI write it ('' when unset)."""
    return binascii.hexlify(raw).decode() if raw and any(raw) else ""


def _render(message: Message, *, json: bool, status: int) -> HttpResponse:
    if json:
        body = json_format.MessageToJson(message, indent=None).encode()
        return HttpResponse(body, status=status, content_type=JSON)
    return HttpResponse(message.SerializeToString(), status=status, content_type=PROTOBUF)


def export_response(
    signal: Signal, *, rejected: int, error_message: str, json: bool
) -> HttpResponse:
    """200 with the signal's Export*ServiceResponse; partial_success set when something
    was refused (or a warning given), as the specification asks."""
    response = signal.response()
    if rejected or error_message:
        partial = signal.partial_success(error_message=error_message)
        setattr(partial, signal.rejected_field, rejected)
        response.partial_success.CopyFrom(partial)
    return _render(response, json=json, status=200)


def bad_request(detail: str, *, json: bool) -> HttpResponse:
    """400 with a google.rpc.Status in the request's encoding: clients do not retry it."""
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=detail[:1000])
    return _render(status, json=json, status=400)
