"""Two batches of one issue stored at the same time: counts exact, no deadlock."""

import threading

import pytest
from django.db import connection

from apps.errors.models import ErrorLog, Issue
from apps.ingest import outbox
from apps.ingest.models import OutboxBatch
from apps.ingest.outbox import outbox_process
from tests.helpers import post_json
from tests.issues.helpers import INGEST, error, queue, store_at_once


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_batches_count_every_event_and_user_once(ingest_client, monkeypatch):
    # Each task its own batch (a small one would take the other along: one statement).
    monkeypatch.setattr(outbox, "COALESCE_BATCHES", 0)
    # Two issues in both batches, so each batch meets rows the other holds.
    trace = 'Traceback (most recent call last):\n  File "a.py", line 1, in {}\nE: x'
    first = [
        error(f"boom {n}", user_id=user, stack_trace=trace.format(f))
        for n, user in enumerate(["ann", "bob", "ann"])
        for f in ("f", "g")
    ]
    second = [
        error(f"boom {n}", user_id=user, stack_trace=trace.format(f))
        for n, user in enumerate(["bob", "cy"])
        for f in ("g", "f")
    ]
    a, b = queue(ingest_client, first), queue(ingest_client, second)
    blocked = store_at_once(a, b)
    assert blocked, "the second batch never waited on the first"
    assert ErrorLog.objects.count() == 10
    assert sorted(i.event_count for i in Issue.objects.all()) == [5, 5]
    assert sorted(i.users_affected for i in Issue.objects.all()) == [3, 3]
    assert not OutboxBatch.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_processed_twice_at_once_counts_once(ingest_client):
    items = [error(user_id=u) for u in ("ann", "bob", "ann")]
    assert post_json(ingest_client, INGEST, items).status_code == 202
    assert post_json(ingest_client, INGEST, items).status_code == 202  # a client retry
    ids = list(OutboxBatch.objects.values_list("pk", flat=True))
    start = threading.Barrier(len(ids))
    errors: list[Exception] = []

    def run(outbox_id: int):
        try:
            start.wait(timeout=10)
            outbox_process(outbox_id=outbox_id)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(pk,)) for pk in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    issue = Issue.objects.get()
    assert (issue.event_count, issue.users_affected) == (3, 2)
