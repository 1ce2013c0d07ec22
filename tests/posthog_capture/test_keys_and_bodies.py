"""The project key, bad bodies, CORS and the flags endpoints: a clear 4xx, never a 5xx."""

import base64
import gzip

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.events.models import Event
from apps.ingest.models import OutboxBatch
from tests.helpers import drain_outbox, new_id

from .test_capture import event, js_event, post, python_batch

pytestmark = pytest.mark.django_db


def test_a_missing_key_is_a_401_saying_where_it_goes(client):
    response = post(client, "/batch/", {"batch": [event()]})
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert "api_key" in response.json()["detail"]
    assert not OutboxBatch.objects.exists()


def test_an_unknown_key_is_a_401(client):
    response = post(client, "/batch/", python_batch("abcdefgh.0123456789abcdef", event()))
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_a_read_key_may_not_write(client, read_key):
    response = post(client, "/e/", [js_event(read_key)])
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert not OutboxBatch.objects.exists()


def test_a_header_key_works_too(client, ingest_key):
    response = post(client, "/capture/", event(), HTTP_X_API_KEY=ingest_key)
    assert response.status_code == 200


def test_too_many_unknown_keys_from_one_address_is_a_429(client, settings):
    settings.THROTTLE_RATE_AUTH_FAILURES = "2/min"
    statuses = [post(client, "/e/", [js_event(f"abcdefgh.{i:016d}")]).status_code for i in range(3)]
    assert statuses == [401, 401, 429]
    response = post(client, "/e/", [js_event("abcdefgh.9999999999999999")])
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("body", "extra", "status"),
    [
        (b"{not json", {}, 400),
        (b"", {}, 400),
        (b"42", {}, 400),
        (b'{"batch": {"event": "x"}}', {}, 400),
        (b'{"batch": []}', {}, 400),
        (b"\x1f\x8b\x08\x00 not gzip at all", {}, 400),
        (b"data=%%%", {"content_type": "application/x-www-form-urlencoded"}, 400),
        (b"data=not*base64!", {"content_type": "application/x-www-form-urlencoded"}, 400),
        (b"other=1", {"content_type": "application/x-www-form-urlencoded"}, 400),
        (b"data=\xff\xfe", {"content_type": "application/x-www-form-urlencoded"}, 400),
        (b"<xml/>", {"content_type": "application/xml"}, 415),
        (b"{}", {"HTTP_CONTENT_ENCODING": "zstd"}, 415),
        (b"data=abc&compression=lz64", {"content_type": "application/x-www-form-urlencoded"}, 415),
    ],
)
def test_bad_bodies_are_4xx(client, body, extra, status):
    response = post(client, "/e/", body, **extra)
    assert response.status_code == status
    assert response.json()["error"] in ("invalid", "unsupported_media_type")


def test_a_body_over_the_limit_is_413(client, ingest_key, settings):
    settings.INGEST_MAX_BODY_BYTES = 4096
    big = python_batch(ingest_key, event(properties={"text": "x" * 5000}))
    assert post(client, "/batch/", big).status_code == 413
    bomb = gzip.compress(orjson.dumps(big))
    assert post(client, "/e/", bomb, content_type="text/plain").status_code == 413


def test_too_many_events_is_413(client, ingest_key, settings):
    settings.INGEST_MAX_ITEMS = 3
    response = post(client, "/batch/", python_batch(ingest_key, *[event() for _ in range(4)]))
    assert response.status_code == 413


def test_a_preflight_is_answered_without_a_key(client):
    response = client.options(
        "/i/v0/e/",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, x-custom",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Headers"] == "content-type, x-custom"


def test_every_answer_carries_cors_headers_errors_too(client, ingest_key):
    ok = post(client, "/e/", [js_event(ingest_key)], HTTP_ORIGIN="https://app.example.com")
    refused = post(client, "/e/", [js_event("nope")], HTTP_ORIGIN="https://app.example.com")
    assert (ok.status_code, refused.status_code) == (200, 401)
    assert ok["Access-Control-Allow-Origin"] == refused["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["/decide/?v=3", "/flags/?v=2", "/flags"])
def test_flags_are_answered_with_none(client, ingest_key, path):
    body = {"token": ingest_key, "distinct_id": "anon-1", "groups": {}}
    response = post(client, path, body)
    assert response.status_code == 200
    answer = response.json()
    assert (answer["flags"], answer["featureFlags"], answer["featureFlagPayloads"]) == ({}, {}, {})
    assert answer["errorsWhileComputingFlags"] is False
    assert response["Access-Control-Allow-Origin"] == "*"


def test_flags_read_the_form_body_older_posthog_js_sends(client, ingest_key):
    data = base64.b64encode(orjson.dumps({"token": ingest_key, "distinct_id": "a"})).decode()
    form = "application/x-www-form-urlencoded"
    response = post(client, "/decide/", f"data={data}".encode(), content_type=form)
    assert response.status_code == 200


def test_flags_need_a_key(client):
    assert post(client, "/flags/?v=2", {"distinct_id": "a"}).status_code == 401


def test_a_get_without_data_is_a_400_and_flags_take_no_get(client):
    response = client.get("/batch/")
    assert (response.status_code, response.json()["error"]) == (400, "invalid")
    assert "?data=" in response.json()["detail"]
    assert client.get("/flags/").status_code == 405


INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
JSON = st.recursive(
    st.none() | st.booleans() | INT64 | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = {
    "event": st.text(max_size=30) | JSON,
    "distinct_id": st.text(max_size=30) | JSON,
    "uuid": st.uuids().map(str) | JSON,
    "timestamp": st.datetimes().map(lambda moment: moment.isoformat()) | JSON,
    "offset": INT64 | JSON,
    "properties": st.dictionaries(st.sampled_from(["$ip", "$session_id", "$current_url",
        "$elements", "$set", "token", "$event_type", "x"]), JSON, max_size=5) | JSON,
    "$set": JSON,
    "sent_at": JSON,
}  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    events=st.lists(st.fixed_dictionaries({}, optional=FIELDS) | JSON, max_size=4),
    top=st.fixed_dictionaries({}, optional={"sent_at": JSON, "token": JSON}),
    path=st.sampled_from(["/batch/", "/e/?compression=gzip-js", "/flags/"]),
)
def test_no_body_gives_a_server_error(client, ingest_key, events, top, path):
    body = {**top, "api_key": ingest_key, "batch": events}
    raw = orjson.dumps(body)
    if "gzip" in path:
        raw = gzip.compress(raw)
    response = post(client, path, raw, content_type="text/plain")
    assert response.status_code in (200, 400, 413)
    assert response.json()


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=200), form=st.booleans())
def test_no_bytes_give_a_server_error(client, raw, form):
    content_type = "application/x-www-form-urlencoded" if form else "text/plain"
    response = post(client, "/e/", raw, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]


def test_accepted_events_land_after_refused_ones(client, ingest_key):
    body = python_batch(ingest_key, "junk", event(uuid=new_id()))
    assert post(client, "/batch/", body).json()["rejected"][0]["index"] == 0
    drain_outbox()
    assert Event.objects.count() == 1
