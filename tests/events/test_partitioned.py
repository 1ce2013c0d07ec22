"""Product events and user activity partitioned by day, as metric points are
(tests/ingest/test_partitions.py has the mechanism's own tests): populated tables of the
release before converted in place, what clients read unchanged, retries stored once
whatever day they land on, through the API as clients send them."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from apps.events.models import Event, UserActivity
from apps.ingest.partitions import legacy_partition, partition_bounds
from tests.helpers import drain_outbox, partitions_holding, relkind

EVENTS = "/api/v1/analytics/events"
ACTIVITY = "/api/v1/analytics/user-activity"


def send(client, path: str, items: list[dict]) -> None:
    answer = client.post(path, {"batch": items}, format="json")
    assert answer.status_code == 202, answer.content
    drain_outbox()


def listed(client) -> list[tuple]:
    answer = client.get(f"{EVENTS}?page_size=500")
    assert answer.status_code == 200, answer.content
    results = answer.json()["results"]
    return sorted((e["event_id"], e["event_type"], e["timestamp"]) for e in results)


@pytest.mark.django_db(transaction=True)
def test_populated_tables_become_partitioned_with_every_row_read_as_before(
    ingest_client, read_client
):
    call_command("migrate", "events", "0004", verbosity=0)
    now = datetime.now(UTC)
    try:
        assert relkind(Event._meta.db_table) == relkind(UserActivity._meta.db_table) == "r"
        events = [
            {
                "event_id": str(uuid.uuid4()),
                "event_type": f"type_{n % 3}",
                "timestamp": (now - timedelta(days=n % 5, minutes=n)).isoformat(),
                "user_id": f"u{n % 7}",
            }
            for n in range(150)
        ]
        activity = [
            {
                "event_id": str(uuid.uuid4()),
                "activity_type": "click",
                "timestamp": (now - timedelta(days=n % 4)).isoformat(),
                "user_id": f"u{n}",
            }
            for n in range(100)
        ]
        send(ingest_client, EVENTS, events)  # stored by the release before's table
        send(ingest_client, ACTIVITY, activity)
        before = listed(read_client)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT max(id) FROM {Event._meta.db_table}")
            highest = cursor.fetchone()[0]
    finally:
        call_command("migrate", "events", verbosity=0)

    for model in (Event, UserActivity):
        table = model._meta.db_table
        assert relkind(table) == "p"
        legacy, upper = legacy_partition(table)
        assert upper > now + timedelta(days=1)
        names = {name for name, _, _ in partition_bounds(table)}
        for days in range(2, 7):  # the days ahead exist
            assert f"{table}_{(now + timedelta(days=days)):%Y_%b_%d}".lower() in names
    assert (Event.objects.count(), UserActivity.objects.count()) == (150, 100)
    assert listed(read_client) == before
    assert partitions_holding(Event._meta.db_table, events[0]["event_id"]) == [
        legacy_partition("events_event")[0]
    ]

    # Each item sent again two days later, stamped then: none stored twice.
    later = now + timedelta(days=2)
    new = {"event_id": str(uuid.uuid4()), "event_type": "signup", "timestamp": later.isoformat()}
    with time_machine.travel(later, tick=False):
        stamp = {"timestamp": later.isoformat()}
        send(ingest_client, EVENTS, [{**e, **stamp} for e in events])
        send(ingest_client, ACTIVITY, [{**a, **stamp} for a in activity])
        assert (Event.objects.count(), UserActivity.objects.count()) == (150, 100)
        # A new event goes to its day's partition, with an id after the old ones.
        send(ingest_client, EVENTS, [new])
    assert Event.objects.get(event_id=new["event_id"]).id > highest
    day = f"{Event._meta.db_table}_{later:%Y_%b_%d}".lower()
    assert partitions_holding(Event._meta.db_table, new["event_id"]) == [day]


@pytest.mark.django_db
def test_a_retry_without_a_timestamp_a_day_later_is_stored_once(ingest_client):
    """The client sent no timestamp, so each send is stamped when it arrives: the retry,
    a day later, lands in another day's partition, and is still recognised."""
    event = {"event_id": str(uuid.uuid4()), "event_type": "memory_posted", "user_id": "ann"}
    click = {"event_id": str(uuid.uuid4()), "activity_type": "click", "user_id": "ann"}
    now = datetime.now(UTC)
    send(ingest_client, EVENTS, [event])
    send(ingest_client, ACTIVITY, [click])
    with time_machine.travel(now + timedelta(days=1), tick=False):
        send(ingest_client, EVENTS, [event, {**event, "event_id": str(uuid.uuid4())}])
        send(ingest_client, ACTIVITY, [click])
    stored = Event.objects.filter(event_type="memory_posted").order_by("timestamp")
    assert [e.timestamp.date() for e in stored] == [now.date(), (now + timedelta(days=1)).date()]
    assert Event.objects.filter(event_id=event["event_id"]).count() == 1
    assert UserActivity.objects.filter(event_id=click["event_id"]).count() == 1


@pytest.mark.django_db
def test_a_new_install_has_a_partition_for_every_day_of_the_window_and_ahead():
    today = datetime.now(UTC).date()
    for model in (Event, UserActivity):
        days = sorted(lower for _, lower, _ in partition_bounds(model._meta.db_table) if lower)
        assert days[0].date() <= today - timedelta(days=90)  # ANALYTICS_RETENTION_DAYS
        assert days[-1].date() >= today + timedelta(days=6)  # PARTITIONS_AHEAD_DAYS
        assert all(b - a == timedelta(days=1) for a, b in zip(days, days[1:], strict=False))
