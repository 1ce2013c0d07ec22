"""Committed outbox rows are stored by drain tasks (apps.ingest.outbox): a commit queues a
drain unless one is queued already (the doorbell), so under load one task and one statement
store many requests' rows; a drain that takes a full share queues the next one; a lost drain
holds rows back until its doorbell expires, or until the sweeper queues another."""

import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import time_machine
from django.conf import settings as conf
from django.db import connection

from apps.core.redis import get_redis
from apps.ingest import outbox
from apps.ingest.models import OutboxBatch
from apps.ingest.registry import get_kind
from apps.ingest.validation import validate_items
from apps.jobs.models import JobOutcome
from tests.helpers import new_id, post_json

JOBS = "/api/v1/analytics/job-outcome"

pytestmark = pytest.mark.django_db


@pytest.fixture
def ingest_queue(settings):
    """The run's own `ingest` queue, empty; emptied again after (no worker serves it)."""
    settings.INGEST_PUBLISH_IN_BACKGROUND = False  # rung at commit, in the test
    name = f"{conf.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix']}ingest"
    client = get_redis()
    client.delete(name, outbox.doorbell_key())
    yield name
    client.delete(name, outbox.doorbell_key())


def queued_drains(queue: str) -> int:
    messages = get_redis().lrange(queue, 0, -1)
    return sum(b'"task": "ingest.drain_outbox"' in message for message in messages)


def post_jobs(client, capture, count: int) -> None:
    with capture(execute=True):
        items = [{"event_id": new_id(), "job_type": "sync", "status": "success"}] * count
        assert post_json(client, JOBS, items).status_code == 202


def test_many_requests_while_a_drain_is_queued_are_stored_by_that_one_drain(
    ingest_client, ingest_queue, django_capture_on_commit_callbacks
):
    for _ in range(3):
        post_jobs(ingest_client, django_capture_on_commit_callbacks, 1)
    assert OutboxBatch.objects.count() == 3
    assert queued_drains(ingest_queue) == 1  # the first request's; the others found it queued

    assert outbox.outbox_drain() == 3

    assert JobOutcome.objects.count() == 3
    assert not OutboxBatch.objects.exists()
    # The drain cleared the doorbell: the next request queues a drain of its own.
    post_jobs(ingest_client, django_capture_on_commit_callbacks, 1)
    assert queued_drains(ingest_queue) == 2


def test_a_drain_that_takes_a_full_share_queues_the_next_one(
    ingest_client, ingest_queue, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(outbox, "DRAIN_BATCHES", 2)
    for _ in range(5):
        post_jobs(ingest_client, django_capture_on_commit_callbacks, 1)
    assert queued_drains(ingest_queue) == 1

    stored = [outbox.outbox_drain() for _ in range(3)]

    assert stored == [2, 2, 1]
    # The two full drains each queued the next; the last one, with one row, did not.
    assert queued_drains(ingest_queue) == 3
    assert JobOutcome.objects.count() == 5


def test_a_lost_drain_holds_rows_back_until_its_doorbell_expires_or_the_sweeper_runs(
    ingest_client, ingest_queue, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(outbox, "DOORBELL_SECONDS", 1)
    post_jobs(ingest_client, django_capture_on_commit_callbacks, 1)
    get_redis().delete(ingest_queue)  # the broker lost the drain

    post_jobs(ingest_client, django_capture_on_commit_callbacks, 1)
    assert queued_drains(ingest_queue) == 0  # the doorbell says one is queued

    assert outbox.outbox_sweep(stale_seconds=0) == 2
    assert queued_drains(ingest_queue) == 1  # whatever the doorbell says

    time.sleep(1.2)  # the lost drain's doorbell expired: a commit queues one again
    post_jobs(ingest_client, django_capture_on_commit_callbacks, 1)
    assert queued_drains(ingest_queue) == 2
    assert outbox.outbox_drain() == 3


def test_rows_of_several_kinds_are_drained_each_kind_in_its_statement(
    ingest_client, ingest_queue, django_capture_on_commit_callbacks
):
    from apps.events.models import Event

    with django_capture_on_commit_callbacks(execute=True):
        batch = [
            {"kind": "job_outcome", "job_type": "sync", "status": "failed"},
            {"kind": "event", "event_type": "signup", "user_id": "u1"},
            {"kind": "job_outcome", "job_type": "sync", "status": "success"},
        ]
        assert post_json(ingest_client, "/api/v1/analytics/batch", batch).status_code == 202

    assert outbox.outbox_drain() == 3
    assert JobOutcome.objects.count() == 2 and Event.objects.count() == 1


def test_rows_no_drain_can_store_are_parked_and_stop_no_drain_after(
    ingest_client, ingest_queue, django_capture_on_commit_callbacks
):
    # A row of a kind this release does not know (written by another release), first.
    gone = OutboxBatch.objects.create(kind="gone_kind", payload="[{}]", item_count=1)
    post_jobs(ingest_client, django_capture_on_commit_callbacks, 2)

    assert outbox.outbox_drain() == 1  # the job outcome stored (a batch of one item, twice)

    assert JobOutcome.objects.count() == 1
    gone.refresh_from_db()
    assert gone.failed_at is not None and "gone_kind" in gone.last_error
    post_jobs(ingest_client, django_capture_on_commit_callbacks, 1)
    assert outbox.outbox_drain() == 1  # the parked row is not taken again
    assert list(OutboxBatch.objects.values_list("pk", flat=True)) == [gone.pk]


def test_an_item_sent_again_before_the_first_was_drained_is_stored_once_the_first_wins(
    ingest_client, ingest_queue, django_capture_on_commit_callbacks
):
    # A client retried before a drain ran: both requests wait in the outbox, and one
    # drain takes them together (its first try sees the event_id twice and is undone).
    retried = new_id()
    with django_capture_on_commit_callbacks(execute=True):
        for job_id, extra in (("first", new_id()), ("retry", new_id())):
            items = [
                {"event_id": retried, "job_type": "sync", "status": "success", "job_id": job_id},
                {"event_id": extra, "job_type": "sync", "status": "success"},
                {"job_type": "sync", "status": "failed"},  # no event_id: the server makes one
            ]
            assert post_json(ingest_client, JOBS, items).status_code == 202
    assert OutboxBatch.objects.count() == 2

    assert outbox.outbox_drain() == 5

    assert JobOutcome.objects.get(event_id=retried).job_id == "first"
    assert JobOutcome.objects.count() == 5
    assert not OutboxBatch.objects.exists()


def test_each_item_is_stored_with_the_times_it_was_accepted_with(
    ingest_client, ingest_queue, django_capture_on_commit_callbacks
):
    # An outbox row holds its request's received_at once; its items are written without
    # it, and without their timestamp when the client sent none. The drain puts them back.
    sent_at = datetime.now(UTC) - timedelta(minutes=5)
    items = [
        {"job_type": "sync", "status": "success", "job_id": "no-time"},
        {"job_type": "sync", "status": "success", "job_id": "timed", "timestamp": sent_at},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        assert post_json(ingest_client, JOBS, items).status_code == 202
    received_at = OutboxBatch.objects.get().received_at

    assert outbox.outbox_drain() == 2

    stored = {job.job_id: job for job in JobOutcome.objects.all()}
    assert stored["no-time"].received_at == stored["timed"].received_at == received_at
    assert stored["no-time"].timestamp == received_at
    assert stored["timed"].timestamp == sent_at


def test_rows_written_before_the_outbox_kept_received_at_once_are_stored_as_written(
    ingest_queue,
):
    # An upgrade finds rows in the outbox whose items each carry both times.
    at = datetime.now(UTC) - timedelta(minutes=3)
    items = [
        {
            "event_id": new_id(),
            "timestamp": (at - timedelta(seconds=i)).isoformat(),
            "received_at": at.isoformat(),
            "job_id": f"old-{i}",
            "job_type": "sync",
            "status": "success",
            "error_code": "",
            "error_message": "",
            "retry_count": 0,
            "initiated_by": "",
            "device_id": "",
            "extra_data": {},
        }
        for i in range(2)
    ]
    OutboxBatch.objects.create(
        kind="job_outcome", payload=orjson.dumps(items).decode(), item_count=2
    )

    assert outbox.outbox_drain() == 2

    for i in range(2):
        job = JobOutcome.objects.get(job_id=f"old-{i}")
        assert (job.timestamp, job.received_at) == (at - timedelta(seconds=i), at)


def test_a_buffer_of_rows_received_at_different_times_keeps_each_rows_times(ingest_queue):
    # The service's own records (its request log) are buffered, each validated when it
    # happened, and written together.
    first = datetime.now(UTC) - timedelta(seconds=30)
    kind = get_kind("job_outcome")
    rows = []
    for i in range(3):
        item = {"job_type": "sync", "status": "success", "job_id": f"b{i}"}
        if i == 1:
            item["timestamp"] = first.isoformat()
        with time_machine.travel(first + timedelta(seconds=i), tick=False):
            rows += validate_items([item], resolve_kind=lambda _: kind, request=None).accepted[
                kind.name
            ]
    outbox.outbox_write(batches={"job_outcome": rows})

    assert outbox.outbox_drain() == 3

    for i in range(3):
        job = JobOutcome.objects.get(job_id=f"b{i}")
        assert job.received_at == first + timedelta(seconds=i)
        assert job.timestamp == (first + timedelta(seconds=i) if i != 1 else first)


def retried_at() -> datetime:
    """`outbox_retry`'s now(): the test's transaction's start."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def accepted_batch(client, capture, prefix: str) -> OutboxBatch:
    """The outbox row of two job outcomes sent without a timestamp, `<prefix>0` and 1."""
    items = [{"job_type": "sync", "status": "success", "job_id": f"{prefix}{i}"} for i in (0, 1)]
    with capture(execute=True):
        assert post_json(client, JOBS, items).status_code == 202
    return OutboxBatch.objects.get()


def test_a_parked_row_queued_again_keeps_its_items_timestamps_and_is_received_anew(
    ingest_client, ingest_queue, django_capture_on_commit_callbacks
):
    batch = accepted_batch(ingest_client, django_capture_on_commit_callbacks, "p")
    # Parked as a drain parks a row it cannot store; the cause then fixed.
    OutboxBatch.objects.filter(pk=batch.pk).update(failed_at=datetime.now(UTC))

    assert outbox.outbox_retry(ids=[batch.pk]) == 1
    assert outbox.outbox_drain() == 2

    for job in JobOutcome.objects.all():
        assert (job.timestamp, job.received_at) == (batch.received_at, retried_at())


def test_a_row_the_database_refuses_is_parked_with_its_times_and_stored_with_them_later(
    ingest_client, ingest_queue, django_capture_on_commit_callbacks
):
    batch = accepted_batch(ingest_client, django_capture_on_commit_callbacks, "r")
    rows = orjson.loads(batch.payload)
    rows[1]["status"] = None  # passed validation, refused by the database
    OutboxBatch.objects.filter(pk=batch.pk).update(payload=orjson.dumps(rows).decode())

    assert outbox.outbox_drain() == 1
    parked = OutboxBatch.objects.get()
    fixed = [{**row, "status": "success"} for row in orjson.loads(parked.payload)]
    OutboxBatch.objects.filter(pk=parked.pk).update(payload=orjson.dumps(fixed).decode())
    assert outbox.outbox_retry(ids=[parked.pk]) == 1
    assert outbox.outbox_drain() == 1

    first, later = JobOutcome.objects.get(job_id="r0"), JobOutcome.objects.get(job_id="r1")
    assert later.timestamp == first.timestamp == first.received_at == batch.received_at
    assert later.received_at == retried_at()


def test_rows_a_worker_of_the_release_before_set_aside_are_stored_when_queued_again(
    ingest_queue,
):
    # That worker could not store items written without their times, and set them aside
    # row by row, as it sets aside what the database refuses: without received_at.
    parked_at = datetime.now(UTC) - timedelta(minutes=2)
    kind = get_kind("job_outcome")
    item = {"event_id": new_id(), "job_type": "sync", "status": "success", "job_id": "up"}
    rows = validate_items([item], resolve_kind=lambda _: kind, request=None).accepted[kind.name]
    payload, _ = outbox.outbox_payload(rows)
    parked = OutboxBatch.objects.create(kind=kind.name, payload=payload, item_count=1)
    OutboxBatch.objects.filter(pk=parked.pk).update(
        created_at=parked_at, failed_at=parked_at, last_error="null value in column"
    )

    assert outbox.outbox_retry(ids=[parked.pk]) == 1
    assert outbox.outbox_drain() == 1

    job = JobOutcome.objects.get(job_id="up")
    assert (job.timestamp, job.received_at) == (parked_at, retried_at())
