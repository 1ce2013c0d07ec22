"""The Sentry endpoints through HTTP, with real keys: what an SDK sends lands as errors."""

import base64
import zlib

import brotli
import orjson
import pytest
from rest_framework.test import APIClient

from apps.errors.models import ErrorLog
from apps.ingest.counters import counts
from apps.ingest.selectors import ingest_counts
from apps.keys.throttling import KeyRateThrottle
from tests.helpers import drain_outbox

from .helpers import (
    ENVELOPE,
    STORE,
    envelope,
    event_envelope,
    exception_event,
    new_event_id,
    post_envelope,
    sentry_auth,
)

pytestmark = pytest.mark.django_db


def only_error() -> ErrorLog:
    drain_outbox()
    return ErrorLog.objects.get()


def test_an_envelope_event_becomes_an_error(ingest_key):
    event = exception_event()

    response = post_envelope(event_envelope(event), key=ingest_key)

    assert response.status_code == 200
    assert response.json()["id"] == event["event_id"]
    error = only_error()
    assert error.event_id.hex == event["event_id"]
    assert error.error_message == "ZeroDivisionError: division by zero"
    assert error.error_code == "ZeroDivisionError"
    assert (error.category, error.severity, error.user_id) == ("api", "error", "u-17")
    assert error.stack_trace.splitlines() == [
        "Traceback (most recent call last):",
        '  File "app/views.py", line 12, in checkout',
        "    total = price(cart)",
        '  File "app/pricing.py", line 40, in price',
        "    return amount / count",
        "ZeroDivisionError: division by zero",
    ]
    context = error.context
    assert context["source"] == "sentry"
    assert context["tags"] == {"region": "eu", "project_id": "42"}
    assert (context["release"], context["environment"]) == ("shop@1.4.2", "production")
    assert context["user"]["ip_address"] == "203.0.113.0"  # anonymized
    frames = context["exception"][0]["frames"]
    assert [f["function"] for f in frames] == ["checkout", "price"]  # oldest first, as sent


def test_the_store_endpoint_takes_one_event_json(ingest_key):
    event = exception_event(level="warning")

    response = APIClient().post(
        STORE,
        orjson.dumps(event),
        content_type="application/json",
        HTTP_X_SENTRY_AUTH=sentry_auth(ingest_key),
    )

    assert response.status_code == 200
    assert response.json()["id"] == event["event_id"]
    assert only_error().severity == "warning"


def test_old_sdks_base64_deflated_store_body_is_read(ingest_key):
    event = exception_event()
    body = base64.b64encode(zlib.compress(orjson.dumps(event)))

    response = APIClient().generic(
        "POST",
        STORE,
        body,
        content_type="application/octet-stream",
        HTTP_X_SENTRY_AUTH=sentry_auth(ingest_key),
    )

    assert response.status_code == 200
    assert only_error().error_code == "ZeroDivisionError"


def test_a_message_event_is_an_error_with_its_message(ingest_key):
    event = {"event_id": new_event_id(), "message": "disk almost full", "level": "info"}

    assert post_envelope(event_envelope(event), key=ingest_key).status_code == 200

    error = only_error()
    assert (error.error_message, error.severity, error.stack_trace) == (
        "disk almost full",
        "info",
        "",
    )


def test_gzip_and_brotli_bodies_are_read(ingest_key):
    first, second = exception_event(), exception_event()
    assert post_envelope(event_envelope(first), key=ingest_key, gzip_body=True).status_code == 200
    response = post_envelope(
        brotli.compress(event_envelope(second)), key=ingest_key, HTTP_CONTENT_ENCODING="br"
    )
    assert response.status_code == 200
    drain_outbox()
    assert {e.hex for e in ErrorLog.objects.values_list("event_id", flat=True)} == {
        first["event_id"],
        second["event_id"],
    }


def test_items_without_length_are_read_to_the_newline(ingest_key):
    event = exception_event()
    body = envelope(({"type": "event"}, event), ({"type": "session"}, {"sid": "x"}), length=False)

    response = post_envelope(body, key=ingest_key)

    assert response.status_code == 200
    assert response.json()["dropped"] == 1
    assert only_error().event_id.hex == event["event_id"]


def test_a_payload_with_newlines_is_read_by_its_length(ingest_key):
    event = exception_event()
    pretty = orjson.dumps(event, option=orjson.OPT_INDENT_2)  # newlines inside the payload
    body = envelope(
        ({"type": "attachment", "filename": "a.txt"}, b"line 1\nline 2\n"),
        ({"type": "event"}, pretty),
    )

    response = post_envelope(body, key=ingest_key)

    assert response.status_code == 200
    assert only_error().event_id.hex == event["event_id"]


def test_other_item_types_are_accepted_dropped_and_counted(ingest_key):
    event = exception_event()
    body = envelope(
        ({"type": "event"}, event),
        ({"type": "transaction"}, {"type": "transaction", "spans": []}),
        ({"type": "session"}, {"sid": "s", "status": "ok"}),
        ({"type": "sessions"}, {"aggregates": []}),
        ({"type": "attachment"}, b"\x00\x01binary"),
        ({"type": "something_new"}, {"a": 1}),
        (
            {"type": "client_report"},
            {
                "discarded_events": [
                    {"reason": "queue_overflow", "category": "error", "quantity": 3},
                    {"reason": "sample_rate", "category": "transaction", "quantity": 2},
                ]
            },
        ),
    )

    response = post_envelope(body, key=ingest_key)

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert response.json()["dropped"] == 5
    counts.push()
    counted = ingest_counts()
    for label in ("transaction", "session", "sessions", "attachment", "other"):
        assert counted[(f"sentry_{label}", "dropped")] == 1
    assert counted[("sentry_client_report", "received")] == 1
    assert counted[("sentry_client_report", "sdk_discarded")] == 5
    assert counted[("error", "accepted")] == 1
    drain_outbox()
    assert ErrorLog.objects.count() == 1


def test_dropped_items_show_in_the_prometheus_exposition(ingest_key, read_client):
    body = envelope(({"type": "session"}, {"sid": "s"}), ({"type": "session"}, {"sid": "t"}))
    assert post_envelope(body, key=ingest_key).status_code == 200
    counts.push()

    text = read_client.get("/metrics").content.decode()

    assert 'analytics_ingest_items_total{kind="sentry_session",outcome="dropped"} 2.0' in text


def test_an_envelope_of_sessions_only_is_200_and_stores_nothing(ingest_key):
    body = envelope(({"type": "session"}, {"sid": "s"}))

    response = post_envelope(body, key=ingest_key)

    assert response.status_code == 200
    assert response.json()["id"] is None
    drain_outbox()
    assert not ErrorLog.objects.exists()


def test_several_events_in_one_envelope_are_each_stored(ingest_key):
    events = [exception_event() for _ in range(3)]
    body = envelope(*[({"type": "event"}, event) for event in events])

    response = post_envelope(body, key=ingest_key)

    assert (response.status_code, response.json()["accepted"]) == (200, 3)
    drain_outbox()
    assert ErrorLog.objects.count() == 3


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\n\n",
        b"not json\n",
        b"[1, 2]\n",
        b"{}\nnot json\n{}\n",
        b'{}\n{"length": 2}\n{}\n',  # no type
        b'{}\n{"type": "event", "length": 100}\n{}\n',  # shorter than its length
        b'{}\n{"type": "event", "length": -1}\n{}\n',
        b'{}\n{"type": "event", "length": "2"}\n{}\n',
        b'{}\n{"type": "event", "length": 2}\n{}xx\n',  # no newline after the payload
        b'{}\n{"type": "event"}\nnot json\n',
        b'{}\n{"type": "event"}\n[]\n',
        b'{}\n{"type": "event"}',  # a header without its payload
        b"\xff\xfe\n",
    ],
)
def test_a_malformed_envelope_is_400_never_500(ingest_key, body):
    response = post_envelope(body, key=ingest_key)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert not ErrorLog.objects.exists()


def test_a_body_that_is_not_gzip_is_400(ingest_key):
    response = post_envelope(b"plain", key=ingest_key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400


def test_a_body_over_the_limit_is_413(ingest_key, settings):
    settings.INGEST_MAX_BODY_BYTES = 4096
    event = exception_event(extra={"blob": "x" * 10_000})

    response = post_envelope(event_envelope(event), key=ingest_key, gzip_body=True)

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_an_event_past_the_item_limit_is_trimmed_not_refused(ingest_key):
    event = exception_event(
        breadcrumbs={"values": [{"message": "x" * 2000} for _ in range(100)]},
        extra={"blob": "y" * 50_000},
    )

    response = post_envelope(event_envelope(event), key=ingest_key)

    assert response.status_code == 200
    error = only_error()
    assert "breadcrumbs" in error.context["trimmed"]
    assert error.error_message == "ZeroDivisionError: division by zero"


def test_the_key_in_the_query_string_is_taken(ingest_key):
    event = exception_event()

    response = post_envelope(
        event_envelope(event), key=None, path=f"{ENVELOPE}?sentry_key={ingest_key}&sentry_version=7"
    )

    assert response.status_code == 200
    assert only_error().event_id.hex == event["event_id"]


def test_browser_sdks_may_post_from_another_site(ingest_key):
    """The browser SDK's preflight is answered without a key, and its answers (an error
    too) carry the CORS headers, or the browser hides them from the SDK."""
    preflight = APIClient().options(
        ENVELOPE,
        HTTP_ORIGIN="http://127.0.0.1:9999",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    stored = post_envelope(
        event_envelope(exception_event()), key=None, path=f"{ENVELOPE}?sentry_key={ingest_key}"
    )
    refused = post_envelope(event_envelope(exception_event()), key=None)

    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Headers"] == "content-type"
    assert (stored.status_code, refused.status_code) == (200, 401)
    for response in (preflight, stored, refused):
        assert response["Access-Control-Allow-Origin"] == "*"


def test_no_key_is_401_and_a_wrong_key_is_401(ingest_key):
    body = event_envelope(exception_event())

    missing = post_envelope(body, key=None)
    wrong = post_envelope(body, key="abcdefgh.abcdefghijklmnopqrstuvwxyz012345")

    assert (missing.status_code, missing.json()["error"]) == (401, "not_authenticated")
    assert missing["WWW-Authenticate"].startswith("Sentry")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "not_authenticated")
    drain_outbox()
    assert not ErrorLog.objects.exists()


def test_a_read_key_is_refused_403(read_key):
    response = post_envelope(event_envelope(exception_event()), key=read_key)

    assert (response.status_code, response.json()["error"]) == (403, "permission_denied")


def test_too_many_wrong_keys_from_one_address_is_429_with_retry_after(settings, ingest_key):
    settings.THROTTLE_RATE_AUTH_FAILURES = "3/min"
    body = event_envelope(exception_event())
    answers = [
        post_envelope(body, key=None, path=f"{ENVELOPE}?sentry_key=abcdefgh.{i:0>32}")
        for i in range(5)
    ]
    assert [a.status_code for a in answers][-1] == 429
    assert int(answers[-1]["Retry-After"]) >= 1


def test_the_same_event_sent_twice_is_stored_once(ingest_key):
    event = exception_event()

    first = post_envelope(event_envelope(event), key=ingest_key)
    again = post_envelope(event_envelope(event), key=ingest_key)
    drain_outbox()

    assert (first.status_code, again.status_code) == (200, 200)
    assert ErrorLog.objects.count() == 1


def test_secrets_in_the_request_and_frame_vars_are_not_stored(ingest_key):
    event = exception_event(
        request={
            "url": "https://shop.example/login?token=QUERYSECRET1&next=/",
            "method": "POST",
            "headers": [["Authorization", "Bearer HEADERSECRET2"], ["Cookie", "sid=COOKIE3"]],
            "query_string": "token=QUERYSECRET1&next=/",
            "data": {"username": "bob", "password": "DATASECRET4"},
            "env": {"REMOTE_ADDR": "198.51.100.23"},
        },
    )
    event["exception"]["values"][0]["stacktrace"]["frames"][1]["vars"] |= {
        "token": "'FRAMESECRET5'",
        "headers": "{'Authorization': 'Bearer FRAMESECRET6'}",
    }
    event["tags"]["api_key"] = "TAGSECRET7"

    assert post_envelope(event_envelope(event), key=ingest_key).status_code == 200

    error = only_error()
    stored = orjson.dumps(
        [error.context, error.endpoint, error.stack_trace, error.error_message]
    ).decode()
    for n, marker in enumerate(
        [
            "QUERYSECRET1",
            "HEADERSECRET2",
            "COOKIE3",
            "DATASECRET4",
            "FRAMESECRET5",
            "FRAMESECRET6",
            "TAGSECRET7",
        ],
        start=1,
    ):
        assert marker not in stored, n
    assert error.context["request"]["data"]["username"] == "bob"
    assert error.context["request"]["env"]["REMOTE_ADDR"] == "198.51.100.0"
    assert error.endpoint.startswith("https://shop.example/login?token=")


def test_an_event_too_old_is_refused_by_name(ingest_key):
    event = exception_event(timestamp=946684800)  # 2000-01-01

    response = post_envelope(event_envelope(event), key=ingest_key)

    assert response.status_code == 400
    assert response.json()["rejected"][0]["errors"] == {
        "timestamp": ["Older than the retention window."]
    }


def test_the_category_tag_and_browser_sdks_choose_the_category(ingest_key):
    tagged = exception_event(tags={"category": "database"})
    browser = exception_event(sdk={"name": "sentry.javascript.browser", "version": "9.0.0"})
    body = envelope(({"type": "event"}, tagged), ({"type": "event"}, browser))

    assert post_envelope(body, key=ingest_key).status_code == 200

    drain_outbox()
    by_id = {e.event_id.hex: e.category for e in ErrorLog.objects.all()}
    assert by_id == {tagged["event_id"]: "database", browser["event_id"]: "frontend"}


def test_wrong_types_everywhere_in_an_event_are_no_500(ingest_key):
    deep: list = [1]
    for _ in range(40):
        deep = [deep]
    event = {
        "event_id": new_event_id(),
        "exception": {"values": [{"type": 3, "value": ["x"], "stacktrace": {"frames": "no"}}]},
        "tags": [["a", 1], "bad", ["b"]],
        "user": "not an object",
        "request": {"headers": "no", "url": 7},
        "breadcrumbs": "none",
        "level": 5,
        "message": {"formatted": None},
        "contexts": [],
        "extra": {"nul": "a\x00b", "deep": deep},
    }

    response = post_envelope(event_envelope(event), key=ingest_key)

    assert response.status_code == 200, response.json()
    error = only_error()
    assert error.error_message == "3: ['x']" or error.error_message.startswith("3")
    assert error.context["tags"] == {"a": "1", "project_id": "42"}


def test_the_path_without_its_final_slash_is_served_too(ingest_key):
    response = post_envelope(
        event_envelope(exception_event()), key=ingest_key, path="/api/42/envelope"
    )
    assert response.status_code == 200


def test_the_authorization_header_of_the_sentry_scheme_is_taken(ingest_key):
    response = APIClient().generic(
        "POST",
        ENVELOPE,
        event_envelope(exception_event()),
        content_type="text/plain;charset=UTF-8",
        HTTP_AUTHORIZATION=sentry_auth(ingest_key),
    )
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/api/abc/envelope/", "/api/42/other/", "/api/-1/store/"])
def test_other_paths_under_api_are_a_json_404(ingest_key, path):
    response = post_envelope(b"{}\n", key=ingest_key, path=path)
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


def test_a_get_is_405_json(ingest_key):
    response = APIClient().get(ENVELOPE, HTTP_X_SENTRY_AUTH=sentry_auth(ingest_key))
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")


def test_the_rest_error_endpoint_is_not_shadowed(ingest_key):
    response = APIClient().post(
        "/api/v1/analytics/error",
        {"category": "api", "error_message": "boom"},
        format="json",
        HTTP_X_API_KEY=ingest_key,
    )
    assert response.status_code == 202


def test_the_ingest_rate_limit_is_429_with_retry_after(ingest_key, monkeypatch):
    monkeypatch.setattr(KeyRateThrottle, "THROTTLE_RATES", {"ingest": "1/min", "read": "1/min"})
    client = APIClient()
    first = post_envelope(event_envelope(exception_event()), key=ingest_key, client=client)
    second = post_envelope(event_envelope(exception_event()), key=ingest_key, client=client)

    assert first.status_code == 200
    assert (second.status_code, second.json()["error"]) == (429, "throttled")
    assert int(second["Retry-After"]) >= 1


def tunnel_envelope(event: dict, dsn) -> bytes:
    """An envelope as the browser SDK builds it with the `tunnel` option: the dsn in its
    header (the application's tunnel forwards it as it is, with no X-Sentry-Auth)."""
    header = {"event_id": event["event_id"], "sent_at": event["timestamp"], "dsn": dsn}
    header["sdk"] = {"name": "sentry.javascript.browser", "version": "10.20.0"}
    return envelope(({"type": "event"}, event), header=header)


def test_a_tunnelled_envelope_is_authenticated_by_its_header_s_dsn(ingest_key):
    event = exception_event()

    response = post_envelope(
        tunnel_envelope(event, f"http://{ingest_key}@127.0.0.1:8000/42"), key=None
    )
    gzipped = post_envelope(
        tunnel_envelope(exception_event(), f"https://{ingest_key}@example.com/42"),
        key=None,
        gzip_body=True,
    )

    assert (response.status_code, response.json()["id"]) == (200, event["event_id"])
    assert gzipped.status_code == 200
    drain_outbox()
    assert ErrorLog.objects.count() == 2
    assert ErrorLog.objects.filter(event_id=event["event_id"]).exists()


@pytest.mark.parametrize(
    "dsn",
    [
        "http://abcdefgh.abcdefghijklmnopqrstuvwxyz012345@127.0.0.1:8000/42",  # unknown key
        "http://127.0.0.1:8000/42",  # no key in it
        "not a url",
        "http://[::1@/42",
        42,
        None,
    ],
)
def test_a_tunnelled_envelope_without_a_valid_dsn_key_is_401(ingest_key, dsn):
    response = post_envelope(tunnel_envelope(exception_event(), dsn), key=None)

    assert (response.status_code, response.json()["error"]) == (401, "not_authenticated")
    drain_outbox()
    assert not ErrorLog.objects.exists()


def test_the_auth_header_wins_over_the_dsn(ingest_key, read_key):
    body = tunnel_envelope(exception_event(), f"http://{ingest_key}@127.0.0.1:8000/42")

    assert post_envelope(body, key=read_key).status_code == 403  # the header's key is taken


def test_a_tunnelled_envelope_s_bad_body_is_a_4xx_before_any_key(ingest_key, settings):
    settings.INGEST_MAX_BODY_BYTES = 1000
    big = tunnel_envelope(exception_event(message="x" * 2000), f"http://{ingest_key}@h/42")

    assert post_envelope(big, key=None).status_code == 413
    not_gzip = post_envelope(b"\x1f\x8b junk", key=None, HTTP_CONTENT_ENCODING="gzip")
    assert not_gzip.status_code == 400
    assert post_envelope(b"not json\n", key=None).status_code == 401


@pytest.mark.parametrize("accept", ["application/x-protobuf", "text/html", "image/*"])
def test_any_accept_header_is_answered_never_a_406(ingest_key, accept):
    response = post_envelope(event_envelope(exception_event()), key=ingest_key, HTTP_ACCEPT=accept)
    assert (response.status_code, response["Content-Type"]) == (200, "application/json")
