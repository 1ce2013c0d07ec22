"""PostHog's capture endpoints, in the shapes posthog-python and posthog-js send."""

import base64
import gzip
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.events.models import Event, UserActivity
from apps.events.schemas import SNAKE_CASE
from apps.posthog_capture.services import event_type_for
from tests.helpers import ago, drain_outbox, new_id

pytestmark = pytest.mark.django_db
API = "/api/v1/analytics"


def post(client, path, body, *, content_type="application/json", **extra):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.generic("POST", path, data, content_type=content_type, **extra)


def python_batch(key, *events):
    """What posthog-python's consumer posts to /batch/."""
    return {"api_key": key, "batch": list(events), "sent_at": datetime.now(UTC).isoformat()}


def event(name="memory_posted", distinct_id="user-1", **fields):
    properties = fields.pop("properties", {"$lib": "posthog-python", "$lib_version": "7.91.1"})
    return {
        "event": name,
        "distinct_id": distinct_id,
        "properties": properties,
        "timestamp": fields.pop("timestamp", ago(seconds=5)),
        "uuid": fields.pop("uuid", new_id()),
        **fields,
    }


def js_event(token, name="$pageview", distinct_id="anon-1", **properties):
    """An event as posthog-js builds it: the token and distinct_id in the properties."""
    return {
        "uuid": new_id(),
        "event": name,
        "properties": {
            "token": token,
            "distinct_id": distinct_id,
            "$session_id": "sess-1",
            "$lib": "web",
            "$current_url": "https://app.example.com/feed?tab=new",
            **properties,
        },
        "timestamp": ago(seconds=2),
    }


def test_a_posthog_python_batch_is_stored_as_events(client, ingest_key):
    sent = event(properties={"$lib": "posthog-python", "plan": "pro"})
    response = post(client, "/batch/", python_batch(ingest_key, sent))

    assert response.status_code == 200
    assert response.json() == {"status": 1, "accepted": 1, "duplicates": 0, "rejected": []}
    drain_outbox()
    row = Event.objects.get()
    assert (row.event_type, row.user_id, str(row.event_id)) == (
        "memory_posted",
        "user-1",
        sent["uuid"],
    )
    assert row.metadata == {"$lib": "posthog-python", "plan": "pro"}
    assert abs(row.timestamp - datetime.fromisoformat(sent["timestamp"])) < timedelta(seconds=2)


def test_a_gzip_batch_is_read(client, ingest_key):
    body = gzip.compress(orjson.dumps(python_batch(ingest_key, event(), event())))
    response = post(client, "/batch/", body, HTTP_CONTENT_ENCODING="gzip")

    assert response.json()["accepted"] == 2


@pytest.mark.parametrize("path", ["/e/?compression=gzip-js&ver=1.200.0", "/i/v0/e/", "/e"])
def test_posthog_js_gzip_bodies_are_read_with_or_without_the_query(client, ingest_key, path):
    body = gzip.compress(orjson.dumps([js_event(ingest_key), js_event(ingest_key)]))
    response = post(client, path, body, content_type="text/plain")

    assert response.status_code == 200
    assert response.json()["accepted"] == 2


def test_a_base64_form_body_is_read(client, ingest_key):
    data = base64.b64encode(orjson.dumps([js_event(ingest_key, "clicked café")])).decode()
    body = f"data={quote(data, safe='')}".encode()
    response = post(
        client, "/e/?compression=base64", body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    drain_outbox()
    row = Event.objects.get()
    assert row.event_type == "clicked_caf"
    assert row.metadata["$event"] == "clicked café"


def test_the_newest_posthog_js_body_carries_the_key_at_the_top(client, ingest_key):
    sent = js_event(ingest_key, "signed up")
    del sent["properties"]["token"]
    body = {"api_key": ingest_key, "batch": [sent], "sent_at": datetime.now(UTC).isoformat()}

    assert post(client, "/i/v0/e/", body, content_type="text/plain").json()["accepted"] == 1


def test_a_single_event_to_capture(client, ingest_key):
    body = {"api_key": ingest_key, **event("Order Completed", properties={"total": 12})}
    assert post(client, "/capture/", body).status_code == 200
    drain_outbox()
    row = Event.objects.get()
    assert (row.event_type, row.metadata) == (
        "order_completed",
        {"total": 12, "$event": "Order Completed"},
    )


def test_page_views_become_user_activity_and_other_names_snake_case(client, ingest_key):
    events = [
        js_event(ingest_key, "$pageview"),
        js_event(ingest_key, "$autocapture", **{"$event_type": "click", "$elements": [
            {"tag_name": "button", "attr__id": "save"}]}),
        js_event(ingest_key, "$identify", **{"$anon_distinct_id": "anon-0"}),
        js_event(ingest_key, "memoryPosted"),
    ]  # fmt: skip
    events[2]["$set"] = {"email": "ada@example.com"}
    assert post(client, "/e/", events).json()["accepted"] == 4
    drain_outbox()

    views = UserActivity.objects.order_by("activity_type")
    assert [(v.activity_type, v.user_id, v.session_id) for v in views] == [
        ("click", "anon-1", "sess-1"),
        ("page_view", "anon-1", "sess-1"),
    ]
    assert views[0].element_id == "save"
    assert views[1].page_url == "https://app.example.com/feed?tab=new"
    assert views[1].extra_data["$lib"] == "web"
    identify, posted = Event.objects.order_by("event_type")
    assert (identify.event_type, posted.event_type) == ("identify", "memory_posted")
    assert identify.metadata["$event"] == "$identify"
    assert identify.metadata["$set"] == {"email": "ada@example.com"}
    assert identify.metadata["email"] == "ada@example.com"
    assert "token" not in identify.metadata and "distinct_id" not in identify.metadata


def test_ip_is_anonymised_and_secrets_scrubbed(client, ingest_key):
    sent = js_event(ingest_key, "login", **{"$ip": "203.0.113.77", "password": "hunter2"})
    post(client, "/e/", [sent])
    drain_outbox()
    metadata = Event.objects.get().metadata
    assert metadata["$ip"] == "203.0.113.0"
    assert metadata["password"] == "[redacted]"


def test_the_same_uuid_twice_is_stored_once(client, ingest_key):
    sent = event()
    for _ in range(2):
        assert post(client, "/batch/", python_batch(ingest_key, sent)).status_code == 200
        drain_outbox()
    same_request = post(client, "/batch/", python_batch(ingest_key, sent, sent)).json()
    drain_outbox()

    assert same_request["duplicates"] == 1
    assert Event.objects.count() == 1


def test_client_clock_skew_is_corrected_by_sent_at(client, ingest_key):
    # The client's clock is an hour behind: its "now" is the server's now.
    late = datetime.now(UTC) - timedelta(hours=1)
    sent = event(timestamp=(late - timedelta(minutes=1)).isoformat())
    body = {"api_key": ingest_key, "batch": [sent], "sent_at": late.isoformat()}
    post(client, "/batch/", body)
    drain_outbox()
    happened = datetime.now(UTC) - timedelta(minutes=1)
    assert abs(Event.objects.get().timestamp - happened) < timedelta(seconds=10)


def test_an_offset_places_the_event_before_now(client, ingest_key):
    sent = js_event(ingest_key, "queued")
    del sent["timestamp"]
    sent["offset"] = 120_000
    post(client, "/e/", [sent])
    drain_outbox()
    happened = datetime.now(UTC) - timedelta(minutes=2)
    assert abs(Event.objects.get().timestamp - happened) < timedelta(seconds=10)


def test_distinct_ids_count_as_active_users(client, ingest_key, read_client):
    events = [js_event(ingest_key, "$pageview", f"anon-{i}") for i in range(3)]
    events.append(js_event(ingest_key, "memory_posted", "anon-0"))
    post(client, "/e/", events)
    drain_outbox()

    active = read_client.get(f"{API}/users/active?days=1").json()
    assert active["dau"] == 3
    top = read_client.get(f"{API}/top-users?limit=1").json()
    assert top[0]["user_id"] == "anon-0"
    assert top[0]["activity_count"] == 2
    listed = read_client.get(f"{API}/events?event_type=memory_posted").json()
    assert [e["user_id"] for e in listed["results"]] == ["anon-0"]


def test_invalid_events_are_listed_by_index_under_the_names_sent(client, ingest_key):
    body = python_batch(
        ingest_key,
        event(),
        event(distinct_id=None),
        event(uuid="not-a-uuid"),
        "not an event",
        event(timestamp=ago(days=400)),
        {**event(), "event": ""},
        event(distinct_id="x" * 300),
        {**event(), "api_key": "another-key"},
    )
    response = post(client, "/batch/", body)

    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 1
    errors = {entry["index"]: sorted(entry["errors"]) for entry in answer["rejected"]}
    assert errors == {
        1: ["distinct_id"],
        2: ["uuid"],
        3: ["item"],
        4: ["timestamp"],
        5: ["event"],
        6: ["distinct_id"],
        7: ["token"],
    }


def test_a_batch_of_only_invalid_events_is_a_400(client, ingest_key):
    response = post(client, "/batch/", python_batch(ingest_key, event(uuid="nope")))
    assert response.status_code == 400
    answer = response.json()
    assert (answer["error"], answer["accepted"]) == ("invalid", 0)
    assert [(e["index"], list(e["errors"])) for e in answer["rejected"]] == [(0, ["uuid"])]


@given(name=st.text(min_size=1, max_size=300))
def test_every_event_name_becomes_a_valid_event_type(name):
    event_type = event_type_for(name)
    assert SNAKE_CASE.fullmatch(event_type)
    assert len(event_type) <= 100


@pytest.mark.parametrize(
    ("name", "event_type"),
    [
        ("$pageleave", "pageleave"),
        ("Signed Up", "signed_up"),
        ("memoryPosted", "memory_posted"),
        ("404 page", "e_404_page"),
        ("注册", "event"),
        ("x" * 250, "x" * 100),
    ],
)
def test_event_names_as_documented(name, event_type):
    assert event_type_for(name) == event_type
