"""The PostHog endpoints under arbitrary input, in every encoding posthog-js and
posthog-python use (JSON, gzip marked or not, Content-Encoding gzip, base64 forms as
sendBeacon posts them, the pixel GET's `?data=`), with bytes flipped after encoding and
any Accept: the answer is never a 5xx and always JSON, with `error` and `detail` when it
is a 4xx. (These endpoints are not in the OpenAPI document the schemathesis run reads, so
this is their fuzzing.)"""

import base64
import gzip
import os
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_capture import post

pytestmark = pytest.mark.django_db

FUZZ = settings(
    # FUZZ_EXAMPLES=400 explores further, as for tests/core/test_fuzz.py.
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "80")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
FORM = "application/x-www-form-urlencoded"
ENCODINGS = [
    "json",
    "text",
    "gzip-js",
    "gzip-unmarked",
    "content-encoding-gzip",
    "form-base64",
    "form-json",
    "beacon-base64",
    "get-base64",
    "get-urlsafe",
    "get-json",
]
PATHS = ["/e/", "/i/v0/e/", "/batch/", "/capture/", "/flags/?v=2", "/decide/?v=3"]
ACCEPTS = [None, "*/*", "application/json", "image/*", "text/html", "application/x-protobuf"]

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SCALARS = (
    st.none()
    | st.booleans()
    | INT64
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
PROPERTIES = st.dictionaries(
    st.sampled_from(["$ip", "$session_id", "$current_url", "$set", "$lib", "distinct_id",
                     "$elements_chain", "$pathname", "x"]),
    JSON,
    max_size=5,
)  # fmt: skip
EVENT = st.fixed_dictionaries(
    {},
    optional={
        "event": st.sampled_from(["$pageview", "$identify", "signed_up", ""]) | JSON,
        "distinct_id": st.text(max_size=20) | JSON,
        "uuid": st.uuids().map(str) | JSON,
        "timestamp": st.datetimes().map(lambda moment: moment.isoformat()) | JSON,
        "offset": INT64,
        "properties": PROPERTIES | JSON,
    },
)
SHAPES = st.sampled_from(["batch", "list", "single", "python"])
WHERE_KEY = st.sampled_from(["api_key", "token", "properties", "none", "wrong", "not a string"])


def payload(events: list, shape: str, where: str, key: str):
    """Events in one of the SDKs' shapes, the key where an SDK puts it (or nowhere)."""
    events = [dict(e) if isinstance(e, dict) else e for e in events]
    key_value = {"none": None, "wrong": "abcdefgh.abcdefghijklmnopqrstuvwxyz012345"}.get(where, key)
    if where == "not a string":
        key_value = 42
    if where == "properties" and events and isinstance(events[0], dict):
        properties = events[0].get("properties")
        events[0]["properties"] = {
            **(properties if isinstance(properties, dict) else {}),
            "token": key_value,
        }
    top = (
        {}
        if where in ("properties", "none")
        else {"api_key" if where != "token" else "token": key_value}
    )
    if shape == "list":
        return events
    if shape == "single":
        return {**(events[0] if events and isinstance(events[0], dict) else {}), **top}
    return {**top, "batch": events, "sent_at": "2026-12-06T12:00:00Z"}


def request(client, path: str, raw: bytes, encoding: str, accept: str | None):
    """`raw` (the JSON bytes) sent as `encoding` says."""
    extra = {"HTTP_ACCEPT": accept} if accept else {}
    if encoding.startswith("get-"):
        if encoding == "get-json":
            data = raw.decode("utf-8", errors="replace")
        else:
            encoder = base64.urlsafe_b64encode if encoding == "get-urlsafe" else base64.b64encode
            data = encoder(raw).decode()
        return client.get(f"{path.split('?')[0]}?data={quote(data)}", **extra)
    content_type = "application/json" if encoding == "json" else "text/plain"
    body = raw
    if encoding == "gzip-js":
        body = gzip.compress(raw)
        path += ("&" if "?" in path else "?") + "compression=gzip-js"
    elif encoding == "gzip-unmarked":
        body = gzip.compress(raw)
    elif encoding == "content-encoding-gzip":
        body = gzip.compress(raw)
        extra["HTTP_CONTENT_ENCODING"] = "gzip"
        content_type = "application/json"
    elif encoding in ("form-base64", "beacon-base64"):
        body = b"data=" + quote(base64.b64encode(raw).decode()).encode()
        content_type = FORM
        if encoding == "beacon-base64":
            path += ("&" if "?" in path else "?") + "compression=base64"
    elif encoding == "form-json":
        body = b"data=" + quote(raw.decode("utf-8", errors="replace")).encode()
        content_type = FORM
    return post(client, path, body, content_type=content_type, **extra)


def assert_clear_answer(response) -> None:
    assert response.status_code in (200, 400, 401, 403, 405, 413, 415), response.content[:300]
    if response.status_code == 200 and response["Content-Type"] == "image/gif":
        return  # a pixel GET that asked for an image and stored its events
    body = orjson.loads(response.content)
    if response.status_code >= 400:
        assert body["error"] and body["detail"], body
    assert response["Access-Control-Allow-Origin"] == "*"


@FUZZ
@given(
    events=st.lists(EVENT | JSON, max_size=4),
    shape=SHAPES,
    where=WHERE_KEY,
    encoding=st.sampled_from(ENCODINGS),
    path=st.sampled_from(PATHS),
    accept=st.sampled_from(ACCEPTS),
)
def test_payloads_of_any_shape_in_every_encoding_get_a_clear_answer(
    client, ingest_key, settings, events, shape, where, encoding, path, accept
):
    settings.THROTTLE_RATE_AUTH_FAILURES = "1000000/min"
    raw = orjson.dumps(payload(events, shape, where, ingest_key))

    response = request(client, path, raw, encoding, accept)

    assert_clear_answer(response)


@FUZZ
@given(
    encoding=st.sampled_from(ENCODINGS),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 10**6),
    path=st.sampled_from(PATHS[:4]),
)
def test_encoded_bodies_damaged_anywhere_get_a_clear_answer(
    client, ingest_key, settings, encoding, flips, cut, path
):
    """A valid batch, encoded, then bytes flipped and the end cut: broken gzip, base64 and
    URL encoding, and JSON."""
    settings.THROTTLE_RATE_AUTH_FAILURES = "1000000/min"
    event = {"event": "$pageview", "distinct_id": "u-1", "properties": {"$current_url": "/a"}}
    raw = orjson.dumps({"api_key": ingest_key, "batch": [event]})
    # Damage the encoded form: encode through request() into a capturing client.
    sent = {}

    class Capture:
        def generic(self, method, path, data, content_type, **extra):
            sent.update(method=method, path=path, data=data, content_type=content_type, extra=extra)

        def get(self, path, **extra):
            sent.update(method="GET", path=path, extra=extra)

    request(Capture(), path, raw, encoding, None)
    if sent["method"] == "GET":
        base, _, data = sent["path"].partition("?data=")
        data = bytearray(data.encode())
        for position, value in flips:
            data[position % len(data)] = value % 128 or 65  # a URL stays ASCII
        data = bytes(data[: max(1, cut % (len(data) + 1))]).decode()
        response = client.get(f"{base}?data={quote(data, safe='%')}")
    else:
        body = bytearray(sent["data"])
        for position, value in flips:
            body[position % len(body)] = value
        body = bytes(body[: max(1, cut % (len(body) + 1))])
        response = client.generic(
            "POST", sent["path"], body, content_type=sent["content_type"], **sent["extra"]
        )

    assert_clear_answer(response)


@FUZZ
@given(
    raw=st.binary(max_size=300), encoding=st.sampled_from(ENCODINGS), path=st.sampled_from(PATHS)
)
def test_random_bytes_in_every_encoding_get_a_clear_4xx(client, raw, encoding, path):
    response = request(client, path, raw, encoding, None)
    assert_clear_answer(response)
    assert response.status_code >= 400


@pytest.mark.parametrize("encoding", ["gzip-js", "gzip-unmarked", "content-encoding-gzip"])
def test_a_gzip_bomb_within_the_body_limit_is_a_413(client, ingest_key, settings, encoding):
    """A few KiB of gzip inflating past the body limit (whitespace inside valid JSON)."""
    limit = settings.INGEST_MAX_BODY_BYTES
    raw = b'{"api_key": "' + ingest_key.encode() + b'", "batch": [' + b" " * (limit * 8) + b"]}"

    response = request(client, "/e/", raw, encoding, None)

    assert len(gzip.compress(raw)) < limit // 50
    assert response.status_code == 413
    assert_clear_answer(response)


@FUZZ
@given(token=st.text(max_size=60), script=st.booleans())
def test_a_remote_config_for_any_token_is_a_200_or_a_json_400(client, token, script):
    response = client.get(f"/array/{quote(token, safe='')}/config{'.js' if script else ''}")

    if response.status_code == 200:
        assert response["Content-Type"].startswith(
            "application/javascript" if script else "application/json"
        )
    else:
        assert response.status_code in (400, 404), response.content[:200]
        assert orjson.loads(response.content)["error"]
