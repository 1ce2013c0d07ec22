"""Committed outbox rows are stored by drain tasks (apps.ingest.outbox): a commit queues a
drain unless one is queued already (the doorbell), so under load one task and one statement
store many requests' rows; a drain that takes a full share queues the next one; a lost drain
holds rows back until its doorbell expires, or until the sweeper queues another."""

import time

import pytest
from django.conf import settings as conf

from apps.core.redis import get_redis
from apps.ingest import outbox
from apps.ingest.models import OutboxBatch
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
