"""The OTLP endpoints under arbitrary input: valid exports with bytes flipped or cut,
random bytes, and JSON made of OTLP's own field names with values of every type. Each
answer is a 200 (the Export*ServiceResponse), a 400 (a google.rpc.Status) or another 4xx,
never a 5xx. (They are not in the OpenAPI document the schemathesis run reads, so this is
their fuzzing.)"""

import gzip
import json
import os
import zlib

import hypothesis
import orjson
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
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


def assert_not_a_server_error(response, *, json_request: bool | None = None) -> None:
    """Never a 5xx; a 400 is a google.rpc.Status (INVALID_ARGUMENT, a message) in the
    request's encoding; any other 4xx the API's JSON error."""
    assert response.status_code < 500, response.content[:500]
    if response.status_code in (200, 400):
        assert response["Content-Type"] in (PROTOBUF, JSON)
    if json_request is not None and response.status_code in (200, 400):
        assert response["Content-Type"] == (JSON if json_request else PROTOBUF)
    if response.status_code == 400:
        status = status_pb2.Status()
        if response["Content-Type"] == JSON:
            json_format.Parse(response.content, status)
        else:
            status.ParseFromString(response.content)
        assert status.code == code_pb2.INVALID_ARGUMENT and status.message
    elif response.status_code != 200:
        error = orjson.loads(response.content)
        assert error["error"] and error["detail"], error


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

    assert_not_a_server_error(response, json_request=False)


@hypothesis.given(endpoint=st.sampled_from(ENDPOINTS), body=st.binary(max_size=400))
@SETTINGS
def test_random_bytes_never_give_a_5xx(ingest_client, endpoint, body):
    for content_type in (PROTOBUF, JSON):
        response = ingest_client.generic("POST", endpoint, body, content_type=content_type)
        assert_not_a_server_error(response, json_request=content_type == JSON)


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

    assert_not_a_server_error(response, json_request=True)


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

    assert_not_a_server_error(response, json_request=True)


def _compressed(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    return body


@hypothesis.given(
    endpoint=st.sampled_from(ENDPOINTS),
    json_body=st.booleans(),
    encoding=st.sampled_from(["gzip", "deflate", "identity", "GZIP", "br", "x-gzip", "gzip, br"]),
    compress=st.sampled_from(["gzip", "deflate", "none"]),
    cut=st.integers(0, 10**6),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3),
    accept=st.sampled_from([None, "*/*", PROTOBUF, JSON, "text/html", "image/*", "x/y;q=0"]),
)
@SETTINGS
def test_compressed_exports_damaged_or_mislabelled_never_give_a_5xx(
    ingest_client, endpoint, json_body, encoding, compress, cut, flips, accept
):
    """The exporters' gzip bodies, labelled with every Content-Encoding, compressed another
    way or not at all, cut and flipped after compressing, under any Accept."""
    body = valid_bodies()[endpoint]
    if json_body:
        from apps.otlp import protocol

        signal = {
            "/otlp/v1/metrics": protocol.METRICS,
            "/otlp/v1/traces": protocol.TRACES,
            "/otlp/v1/logs": protocol.LOGS,
        }[endpoint]
        message = signal.request()
        message.ParseFromString(body)
        body = otlp_json(message)
    data = bytearray(_compressed(body, compress))
    for position, value in flips:
        data[position % len(data)] = value
    data = bytes(data[: max(1, cut % (len(data) + 1))])
    headers = {"HTTP_CONTENT_ENCODING": encoding}
    if accept is not None:
        headers["HTTP_ACCEPT"] = accept

    response = ingest_client.generic(
        "POST", endpoint, data, content_type=JSON if json_body else PROTOBUF, **headers
    )

    assert_not_a_server_error(response, json_request=json_body)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compression_bomb_within_the_body_limit_is_a_413(
    ingest_client, settings, endpoint, content_type, encoding
):
    """A few KiB that inflate past the body limit: refused when the limit is reached (413,
    the API's JSON error), never inflated whole."""
    bomb = _compressed(b"\0" * (settings.INGEST_MAX_BODY_BYTES * 8), encoding)
    assert len(bomb) < settings.INGEST_MAX_BODY_BYTES // 50

    response = ingest_client.generic(
        "POST", endpoint, bomb, content_type=content_type, HTTP_CONTENT_ENCODING=encoding
    )

    assert response.status_code == 413
    assert_not_a_server_error(response)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_gzip_of_gzip_and_a_gzip_with_trailing_junk_are_a_400_status(ingest_client, endpoint):
    body = valid_bodies()[endpoint]
    for data in (gzip.compress(gzip.compress(body)), gzip.compress(body) + b"junk"):
        response = ingest_client.generic(
            "POST", endpoint, data, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip"
        )
        assert_not_a_server_error(response, json_request=False)
