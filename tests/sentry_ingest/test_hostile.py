"""Whatever a client sends to the Sentry endpoints, the answer is a 2xx or a 4xx, never a
5xx, and always JSON: generated envelopes, events of any shape, bytes cut anywhere, item
lengths that lie, compression bombs, tunnels' dsn of any shape. (The Sentry endpoints are
not in the OpenAPI document the schemathesis run reads, so this is their fuzzing.)"""

import gzip
import json
import os
import zlib

import brotli
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from apps.keys import authentication

from .helpers import (
    ENVELOPE,
    STORE,
    envelope,
    event_envelope,
    exception_event,
    new_event_id,
    post_envelope,
)

pytestmark = pytest.mark.django_db

FIELDS = [
    "event_id",
    "timestamp",
    "level",
    "platform",
    "message",
    "logentry",
    "exception",
    "stacktrace",
    "threads",
    "tags",
    "user",
    "request",
    "release",
    "environment",
    "fingerprint",
    "contexts",
    "extra",
    "breadcrumbs",
    "sdk",
    "transaction",
    "type",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS[:12]) | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
events = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)
ACCEPTABLE = {200, 400}
FUZZ = settings(
    # FUZZ_EXAMPLES=400 explores further, as for tests/core/test_fuzz.py.
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def client() -> APIClient:
    """One client for all of a test's examples: a new one loads every middleware again."""
    return APIClient()


@pytest.fixture(autouse=True)
def _no_rate_limits():
    from apps.keys.throttling import KeyRateThrottle

    rates = KeyRateThrottle.THROTTLE_RATES
    KeyRateThrottle.THROTTLE_RATES = {"ingest": "1000000/min", "read": "1000000/min"}
    authentication._valid_keys.clear()
    yield
    KeyRateThrottle.THROTTLE_RATES = rates


@FUZZ
@given(event=events)
def test_an_event_of_any_shape_is_stored_or_refused_by_name(ingest_key, client, event):
    response = post_envelope(
        envelope(({"type": "event"}, orjson.dumps(event))), key=ingest_key, client=client
    )
    assert response.status_code in ACCEPTABLE, response.content
    assert response.json()


@FUZZ
@given(event=events)
def test_the_store_endpoint_takes_any_shape_too(ingest_key, client, event):
    response = post_envelope(orjson.dumps(event), key=ingest_key, client=client, path=STORE)
    assert response.status_code in ACCEPTABLE, response.content


@FUZZ
@given(data=st.data())
def test_an_envelope_cut_or_spliced_anywhere_is_never_a_5xx(ingest_key, client, data):
    body = event_envelope(exception_event()) + envelope(({"type": "session"}, {"sid": "s"}))
    start = data.draw(st.integers(0, len(body)))
    end = data.draw(st.integers(start, len(body)))
    insert = data.draw(st.binary(max_size=8))
    mutated = body[:start] + insert + body[end:]
    response = post_envelope(mutated, key=ingest_key, client=client)
    assert response.status_code in ACCEPTABLE, response.content


@FUZZ
@given(headers=st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=4), max_size=4))
def test_item_headers_of_any_shape_are_never_a_5xx(ingest_key, client, headers):
    body = b"{}\n" + b"".join(orjson.dumps(h) + b"\n{}\n" for h in headers)
    response = post_envelope(body, key=ingest_key, client=client)
    assert response.status_code in ACCEPTABLE, response.content


def assert_clear_answer(response, acceptable=ACCEPTABLE) -> None:
    """A status in `acceptable`, and always JSON: Sentry's `{"id": ...}` or the API's
    `{"error", "detail"}`."""
    assert response.status_code in acceptable, response.content
    body = orjson.loads(response.content)
    if response.status_code >= 400:
        assert body["error"] and body["detail"], body
    else:
        assert "id" in body


lengths = (
    st.none()
    | st.integers(-5, 200)
    | st.integers(2**31, 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.booleans()
)
payloads = (
    st.binary(max_size=60)
    | events.map(orjson.dumps)
    | st.sampled_from([b"{", b"[]", b"null", b"{}", b'{"exception": 1}', b"\n\n", b""])
)
header_lines = st.binary(max_size=40) | st.dictionaries(
    st.sampled_from(["event_id", "dsn", "sent_at", "sdk", "trace"]) | st.text(max_size=5),
    json_values,
    max_size=4,
).map(orjson.dumps)


@FUZZ
@given(
    header=header_lines,
    items=st.lists(
        st.tuples(st.sampled_from(["event", "session", "client_report", "attachment", "x"]),
                  lengths, payloads),
        max_size=4,
    ),
    newline_after=st.booleans(),
)  # fmt: skip
def test_envelopes_with_wrong_lengths_and_bad_json_are_a_clear_4xx(
    ingest_key, client, header, items, newline_after
):
    """Item headers whose `length` is wrong (short, long, negative, huge, not a number),
    payloads that are not JSON, header lines that are not objects."""
    body = header.replace(b"\n", b" ") + b"\n"
    for kind, length, payload in items:
        item_header = {"type": kind} if length is None else {"type": kind, "length": length}
        line = json.dumps(item_header).encode()  # lengths past 64 bits too
        body += line + b"\n" + payload + (b"\n" if newline_after else b"")
    response = post_envelope(body, key=ingest_key, client=client)
    assert_clear_answer(response, ACCEPTABLE | {413})


@FUZZ
@given(
    dsn=st.text(max_size=60)
    | st.builds("http://{}@127.0.0.1:8000/{}".format, st.text(max_size=50), st.integers(0, 99))
    | json_values,
    gzipped=st.booleans(),
)
def test_a_tunnel_s_dsn_of_any_shape_is_a_200_or_a_401(ingest_key, client, settings, dsn, gzipped):
    """No key but the envelope header's dsn: whatever it holds, a clear answer (wrong keys
    count against the address's failure budget as any wrong key: lifted here)."""
    settings.THROTTLE_RATE_AUTH_FAILURES = "1000000/min"
    header = {"event_id": new_event_id(), "dsn": dsn}
    body = envelope(({"type": "event"}, exception_event()), header=header)
    response = post_envelope(body, key=None, client=client, gzip_body=gzipped)
    assert_clear_answer(response, {200, 401})


@pytest.mark.parametrize("path", [ENVELOPE, STORE])
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
@pytest.mark.parametrize("with_key", [True, False])
def test_a_compression_bomb_is_a_413(ingest_key, settings, path, encoding, with_key):
    """A few KiB inflating past the body limit, with a key or as a tunnel (the dsn is read
    from the inflated body): 413, never inflated whole."""
    limit = settings.INGEST_MAX_BODY_BYTES
    header = orjson.dumps({"dsn": f"http://{ingest_key}@h/42"}) + b"\n"
    raw = header + b'{"type":"attachment"}\n' + b"\0" * (limit * 8)
    bomb = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "br": brotli.compress,
    }[encoding](raw)
    assert len(bomb) < limit // 50

    response = post_envelope(
        bomb,
        key=ingest_key if with_key else None,
        path=path,
        HTTP_CONTENT_ENCODING=encoding,
    )

    # The store endpoint has no envelope header: without a key, a 401 before the body.
    expected = 401 if path == STORE and not with_key else 413
    assert response.status_code == expected
    assert_clear_answer(response, {expected})


@FUZZ
@given(
    data=st.data(),
    encoding=st.sampled_from(["gzip", "deflate", "br", "identity", "x-zip", "GZIP", ""]),
    accept=st.sampled_from(["*/*", "application/x-protobuf", "text/html", "image/*"]),
)
def test_compressed_envelopes_cut_or_mislabelled_are_never_a_5xx(
    ingest_key, client, data, encoding, accept
):
    body = event_envelope(exception_event())
    compressor = data.draw(st.sampled_from([gzip.compress, zlib.compress, brotli.compress, bytes]))
    packed = compressor(body)
    packed = packed[: 1 + data.draw(st.integers(0, 10**6)) % len(packed)]
    response = post_envelope(
        packed, key=ingest_key, client=client, HTTP_CONTENT_ENCODING=encoding, HTTP_ACCEPT=accept
    )
    assert_clear_answer(response, ACCEPTABLE | {415})
