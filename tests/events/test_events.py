import pytest

from apps import analytics
from apps.events.models import Event
from apps.ingest.buffer import buffer
from apps.metrics.models import MetricPoint
from tests.helpers import ago, drain_outbox, new_id, post_json

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/analytics/events"
SEED_EVENT = {
    "event_id": "660e8400-e29b-41d4-a716-446655440001",
    "event_type": "memory_posted",
    "timestamp": None,
    "user_id": "550e8400-e29b-41d4-a716-446655440002",
    "family_unit_id": "660e8400-e29b-41d4-a716-446655440003",
    "session_id": "770e8400-e29b-41d4-a716-446655440004",
    "metadata": {"memory_id": "880e8400", "title": "Family Vacation", "media_count": 3},
}


def seed_event(**extra) -> dict:
    return {**SEED_EVENT, "timestamp": ago(minutes=5), **extra}


def test_seed_event_is_stored_with_its_fields(ingest_client):
    assert post_json(ingest_client, EVENTS, seed_event()).json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [],
    }
    drain_outbox()

    event = Event.objects.get()
    assert str(event.event_id) == SEED_EVENT["event_id"]
    assert event.family_unit_id == SEED_EVENT["family_unit_id"]
    assert event.metadata["media_count"] == 3
    assert event.created_at is not None


@pytest.mark.parametrize(
    "bad", ["MemoryPosted", "memory-posted", "1st_event", "", "a" * 101, "memory_posted\n"]
)
def test_event_type_must_be_snake_case(ingest_client, bad):
    body = post_json(ingest_client, EVENTS, seed_event(event_type=bad)).json()

    assert body["accepted"] == 0
    assert "event_type" in body["rejected"][0]["errors"]


def test_events_are_listed_by_type_user_group_and_time(ingest_client, read_client):
    post_json(
        ingest_client,
        EVENTS,
        [
            seed_event(event_id=new_id(), event_type="memory_posted", timestamp=ago(hours=1)),
            seed_event(event_id=new_id(), event_type="feed_viewed", timestamp=ago(hours=2)),
            seed_event(event_id=new_id(), user_id="someone-else", timestamp=ago(hours=3)),
            seed_event(event_id=new_id(), family_unit_id="other-family", timestamp=ago(days=3)),
        ],
    )
    drain_outbox()

    def types(**params):
        response = read_client.get(EVENTS, params)
        assert response.status_code == 200
        return [e["event_type"] + "@" + e["user_id"][:4] for e in response.json()["results"]]

    assert len(types()) == 4
    assert types(event_type="feed_viewed") == ["feed_viewed@550e"]
    assert types(user_id="someone-else") == ["memory_posted@some"]
    assert len(types(family_unit_id=SEED_EVENT["family_unit_id"])) == 3
    assert len(types(since=ago(hours=2, minutes=30))) == 2
    assert len(types(until=ago(days=1))) == 1


def test_event_list_is_paginated_without_extra_queries(
    ingest_client, read_client, django_assert_max_num_queries
):
    post_json(ingest_client, EVENTS, [seed_event(event_id=new_id()) for _ in range(25)])
    drain_outbox()

    # key lookup, page, nothing per row; and the read's transaction with its statement
    # timeout (apps/core/readcost.py): a savepoint here, set, reset, release
    with django_assert_max_num_queries(3 + 4):
        first = read_client.get(EVENTS, {"page_size": 10}).json()
    second = read_client.get(first["next"]).json()

    assert len(first["results"]) == len(second["results"]) == 10
    assert not {e["id"] for e in first["results"]} & {e["id"] for e in second["results"]}


@pytest.mark.parametrize(
    "query",
    [
        "event_type=",
        "user_id=",
        "since=",
        "until=",
        "cursor=",
        "page_size=",
        "page_size=0",
        "page_size=1001",
        "page_size=ten",
        "page_size=true",
    ],
)
def test_an_empty_or_invalid_filter_is_a_400_naming_it(ingest_client, read_client, query):
    post_json(ingest_client, EVENTS, seed_event())
    drain_outbox()

    response = read_client.get(f"{EVENTS}?{query}")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [query.split("=")[0]]


def test_page_size_bounds_are_accepted(ingest_client, read_client):
    post_json(ingest_client, EVENTS, [seed_event(event_id=new_id()) for _ in range(3)])
    drain_outbox()

    assert len(read_client.get(EVENTS, {"page_size": 1}).json()["results"]) == 1
    assert len(read_client.get(EVENTS, {"page_size": 1000}).json()["results"]) == 3


def test_reading_events_needs_read_access_and_writing_needs_ingest(ingest_client, read_client):
    assert ingest_client.get(EVENTS).status_code == 403
    assert post_json(read_client, EVENTS, seed_event()).status_code == 403
    assert read_client.get(EVENTS, {"since": "not a date"}).status_code == 400


def test_in_process_api_never_raises_and_records_through_the_pipeline():
    buffer.take()  # start from an empty buffer
    assert analytics.emit_event("memory_posted", user_id=42, metadata={"password": "x"})
    assert analytics.increment_counter("api_request_count", labels={"endpoint": "/x"})
    assert analytics.record_gauge("active_users", 150)
    assert analytics.record_timer("api_request_duration_ms", 12.5)
    assert analytics.record_metric("memory_size_bytes", 2048, "histogram")
    assert analytics.emit_event("Not Snake") is False  # invalid: logged, not raised
    assert analytics.record_gauge("bad name!", 1) is False

    from apps.ingest.outbox import outbox_write

    outbox_write(batches=buffer.take())
    drain_outbox()

    event = Event.objects.get()
    assert (event.user_id, event.metadata) == ("42", {"password": "[redacted]"})
    assert sorted(MetricPoint.objects.values_list("metric_type", flat=True)) == [
        "counter",
        "gauge",
        "histogram",
        "timer",
    ]
