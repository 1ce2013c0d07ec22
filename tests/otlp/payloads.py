"""OTLP request messages for the tests, built with the opentelemetry-proto classes."""

import gzip
import time

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA


def now_ns(minutes_ago: float = 0) -> int:
    return int((time.time() - minutes_ago * 60) * 1e9)


def kv(**attrs) -> list:
    pairs = []
    for key, value in attrs.items():
        key = key.replace("__", ".")
        if isinstance(value, bool):
            any_value = common_pb2.AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = common_pb2.AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = common_pb2.AnyValue(double_value=value)
        else:
            any_value = common_pb2.AnyValue(string_value=value)
        pairs.append(common_pb2.KeyValue(key=key, value=any_value))
    return pairs


def metrics_request(*metrics, service: str = "shop", **resource) -> metrics_service_pb2:
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=resource_pb2.Resource(attributes=kv(service__name=service, **resource)),
                scope_metrics=[metrics_pb2.ScopeMetrics(metrics=list(metrics))],
            )
        ]
    )


def gauge(name: str, *points, unit: str = "") -> metrics_pb2.Metric:
    return metrics_pb2.Metric(name=name, unit=unit, gauge=metrics_pb2.Gauge(data_points=points))


def number(value: float, *, at: int, start: int = 0, **attrs) -> metrics_pb2.NumberDataPoint:
    point = metrics_pb2.NumberDataPoint(
        time_unix_nano=at, start_time_unix_nano=start, attributes=kv(**attrs)
    )
    if isinstance(value, int):
        point.as_int = value
    else:
        point.as_double = value
    return point


def total(
    name: str, *points, temporality=CUMULATIVE, monotonic=True, unit=""
) -> metrics_pb2.Metric:
    return metrics_pb2.Metric(
        name=name,
        unit=unit,
        sum=metrics_pb2.Sum(
            data_points=points, aggregation_temporality=temporality, is_monotonic=monotonic
        ),
    )


def histogram(name: str, *points, temporality=DELTA, unit: str = "ms") -> metrics_pb2.Metric:
    return metrics_pb2.Metric(
        name=name,
        unit=unit,
        histogram=metrics_pb2.Histogram(data_points=points, aggregation_temporality=temporality),
    )


def histogram_point(bounds, counts, *, at, start=0, sum=None, min=None, max=None, **attrs):
    point = metrics_pb2.HistogramDataPoint(
        time_unix_nano=at,
        start_time_unix_nano=start,
        explicit_bounds=bounds,
        bucket_counts=counts,
        count=sum_of(counts),
        attributes=kv(**attrs),
    )
    for field, value in (("sum", sum), ("min", min), ("max", max)):
        if value is not None:
            setattr(point, field, value)
    return point


def sum_of(counts) -> int:
    return int(sum(counts))


def encode(message, content_type: str = PROTOBUF, *, gzipped: bool = False) -> bytes:
    if content_type == JSON:
        body = json_format.MessageToJson(message).encode()
    else:
        body = message.SerializeToString()
    return gzip.compress(body) if gzipped else body


def post(client, path: str, message, content_type: str = PROTOBUF, *, gzipped=False, **extra):
    body = message if isinstance(message, bytes) else encode(message, content_type, gzipped=gzipped)
    if gzipped:
        extra["HTTP_CONTENT_ENCODING"] = "gzip"
    return client.generic("POST", path, body, content_type=content_type, **extra)


def span(
    name: str,
    *,
    trace: str = "5b8efff798038103d269b633813fc60c",
    span_id: str = "eee19b7ec3c1b174",
    parent: str = "",
    kind: int = 1,
    start: int | None = None,
    ms: float = 100.0,
    error: str | None = None,
    **attrs,
) -> trace_pb2.Span:
    start = start or now_ns(5)
    status = trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_OK)
    if error is not None:
        status = trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message=error)
    return trace_pb2.Span(
        trace_id=bytes.fromhex(trace),
        span_id=bytes.fromhex(span_id),
        parent_span_id=bytes.fromhex(parent),
        name=name,
        kind=kind,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(ms * 1e6),
        attributes=kv(**attrs),
        status=status,
    )


def traces_request(*spans, service: str = "assistant") -> trace_service_pb2:
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=kv(service__name=service)),
                scope_spans=[trace_pb2.ScopeSpans(spans=list(spans))],
            )
        ]
    )


def otlp_json(message) -> bytes:
    """OTLP JSON as the JavaScript exporters write it: hex ids, integer enums."""
    import base64

    import orjson

    def hexed(value):
        if isinstance(value, dict):
            return {
                k: base64.b64decode(v).hex()
                if k in ("traceId", "spanId", "parentSpanId")
                else hexed(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [hexed(v) for v in value]
        return value

    data = json_format.MessageToDict(message, use_integers_for_enums=True)
    return orjson.dumps(hexed(data))


def log_record(
    body,
    *,
    severity: int = 17,
    text: str = "ERROR",
    at: int | None = None,
    trace: str = "",
    span_id: str = "",
    **attrs,
):
    record = logs_pb2.LogRecord(
        time_unix_nano=at or now_ns(3),
        severity_number=severity,
        severity_text=text,
        attributes=kv(**attrs),
        trace_id=bytes.fromhex(trace),
        span_id=bytes.fromhex(span_id),
    )
    record.body.string_value = body
    return record


def logs_request(*records, service: str = "api", scope: str = "app.payments"):
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                resource=resource_pb2.Resource(attributes=kv(service__name=service)),
                scope_logs=[
                    logs_pb2.ScopeLogs(
                        scope=common_pb2.InstrumentationScope(name=scope),
                        log_records=list(records),
                    )
                ],
            )
        ]
    )
