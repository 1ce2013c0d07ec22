"""The OTLP endpoints under arbitrary input: valid exports with bytes flipped or cut,
random bytes, and JSON made of OTLP's own field names with values of every type. Each
answer is a 200 (the Export*ServiceResponse), a 400 (a google.rpc.Status) or another 4xx,
never a 5xx. (They are not in the OpenAPI document the schemathesis run reads, so this is
their fuzzing.)"""

import json
import os

import hypothesis
import orjson
import pytest
from hypothesis import strategies as st

from tests.otlp.payloads import (
    JSON,
    PROTOBUF,
    gauge,
    histogram,
    histogram_point,
    log_record,
    logs_request,
    metrics_request,
    now_ns,
    number,
    otlp_json,
    span,
    total,
    traces_request,
)

pytestmark = pytest.mark.django_db

SETTINGS = hypothesis.settings(
    # FUZZ_EXAMPLES=400 explores further, as for tests/core/test_fuzz.py.
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
ENDPOINTS = ("/otlp/v1/metrics", "/otlp/v1/traces", "/otlp/v1/logs")


def valid_bodies() -> dict[str, bytes]:
    at = now_ns(2)
    return {
        "/otlp/v1/metrics": metrics_request(
            gauge("g", number(1.5, at=at, a="b")),
            total("c", number(3, at=at, start=at - 10**9)),
            histogram("h", histogram_point([1, 10], [1, 2, 3], at=at, sum=40.0, min=0.5, max=20.0)),
        ).SerializeToString(),
        "/otlp/v1/traces": traces_request(
            span("chat", gen_ai__operation__name="chat", gen_ai__usage__input_tokens=3),
            span("GET /", span_id="00000000000000aa", kind=2, http__response__status_code=200),
        ).SerializeToString(),
        "/otlp/v1/logs": logs_request(
            log_record("boom", exception__type="E", exception__stacktrace="x")
        ).SerializeToString(),
    }


def assert_not_a_server_error(response) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code in (200, 400):
        assert response["Content-Type"] in (PROTOBUF, JSON)


@hypothesis.given(
    endpoint=st.sampled_from(ENDPOINTS),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 10**6),
)
@SETTINGS
def test_damaged_protobuf_exports_never_give_a_5xx(ingest_client, endpoint, flips, cut):
    body = bytearray(valid_bodies()[endpoint])
    for position, value in flips:
        body[position % len(body)] = value
    body = bytes(body[: max(1, cut % (len(body) + 1))])

    response = ingest_client.generic("POST", endpoint, body, content_type=PROTOBUF)

    assert_not_a_server_error(response)


@hypothesis.given(endpoint=st.sampled_from(ENDPOINTS), body=st.binary(max_size=400))
@SETTINGS
def test_random_bytes_never_give_a_5xx(ingest_client, endpoint, body):
    for content_type in (PROTOBUF, JSON):
        response = ingest_client.generic("POST", endpoint, body, content_type=content_type)
        assert_not_a_server_error(response)


FIELDS = [
    "resourceMetrics", "resourceSpans", "resourceLogs", "resource", "attributes",
    "scopeMetrics", "scopeSpans", "scopeLogs", "metrics", "spans", "logRecords", "name",
    "unit", "gauge", "sum", "histogram", "exponentialHistogram", "summary", "dataPoints",
    "asInt", "asDouble", "timeUnixNano", "startTimeUnixNano", "endTimeUnixNano",
    "aggregationTemporality", "isMonotonic", "bucketCounts", "explicitBounds", "count",
    "min", "max", "scale", "zeroCount", "positive", "negative", "offset", "quantileValues",
    "quantile", "value", "traceId", "spanId", "parentSpanId", "kind", "status", "code",
    "message", "key", "stringValue", "intValue", "doubleValue", "boolValue", "arrayValue",
    "kvlistValue", "values", "body", "severityNumber", "severityText", "flags",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.integers(-(2**70), 2**70).map(str)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["NaN", "Infinity", "-Infinity", "gen_ai.usage.input_tokens", "zz", ""])
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS), children, max_size=5)
    ),
    max_leaves=40,
)


@hypothesis.given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=4),
)
@SETTINGS
def test_otlp_shaped_json_never_gives_a_5xx(ingest_client, endpoint, body):
    response = ingest_client.generic("POST", endpoint, json.dumps(body).encode(), content_type=JSON)

    assert_not_a_server_error(response)


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    else:
        yield path


def _replace(value, path, new):
    if not path:
        return new
    head, *rest = path
    value[head] = _replace(value[head], rest, new)
    return value


@hypothesis.given(
    endpoint=st.sampled_from(ENDPOINTS),
    changes=st.lists(st.tuples(st.integers(0, 10**6), JSON_VALUES), min_size=1, max_size=4),
)
@SETTINGS
def test_valid_json_exports_with_values_replaced_never_give_a_5xx(ingest_client, endpoint, changes):
    from apps.otlp import protocol

    signal = {
        "/otlp/v1/metrics": protocol.METRICS,
        "/otlp/v1/traces": protocol.TRACES,
        "/otlp/v1/logs": protocol.LOGS,
    }[endpoint]
    message = signal.request()
    message.ParseFromString(valid_bodies()[endpoint])
    data = orjson.loads(otlp_json(message))  # hex ids, as OTLP JSON has them
    for where, new in changes:
        paths = list(_leaves(data))
        data = _replace(data, paths[where % len(paths)], new)

    response = ingest_client.generic("POST", endpoint, json.dumps(data).encode(), content_type=JSON)

    assert_not_a_server_error(response)
