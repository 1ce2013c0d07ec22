"""What one API read may cost (apps/core/readcost.py): a read stuck in the database is
stopped by the statement timeout and answered in JSON, writes keep no timeout, and one
key cannot run more than API_READS_PER_KEY reads at once.

A read is made slow for real: another connection holds a lock on the table it reads,
so its query waits in PostgreSQL exactly as behind a long scan."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.core import readcost
from apps.events.models import Event
from apps.ingest.models import OutboxBatch
from apps.keys.models import APIKey
from apps.keys.services import api_key_create
from tests.helpers import ago, post_json

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

ACTIVE = "/api/v1/analytics/users/active?days=365"
HEALTH = "/api/v1/analytics/health"


@contextmanager
def table_locked(model, *, release_after: float | None = None) -> Iterator[None]:
    """Another connection holds an ACCESS EXCLUSIVE lock on the model's table: every
    statement reading or writing it waits. `release_after`: let go after that many s
    from a thread, while the block's body is still waiting."""
    db = connection.settings_dict
    params = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "dbname": db["NAME"]}
    if db["PASSWORD"]:
        params["password"] = db["PASSWORD"]
    with psycopg.connect(connect_timeout=3, **params) as other:
        other.execute(f'LOCK TABLE "{model._meta.db_table}" IN ACCESS EXCLUSIVE MODE')
        timer = None
        if release_after is not None:
            timer = threading.Timer(release_after, other.rollback)
            timer.start()
        try:
            yield
        finally:
            if timer is not None:
                timer.join()
            else:
                other.rollback()


def statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


def test_a_read_stuck_in_the_database_answers_read_too_costly(settings, read_client):
    settings.API_READ_STATEMENT_TIMEOUT_MS = 300
    before = statement_timeout()

    with table_locked(Event):
        started = time.monotonic()
        response = read_client.get(ACTIVE)
        waited = time.monotonic() - started

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "read_too_costly"
    assert "Narrow its window" in body["detail"]
    assert response["Retry-After"]
    assert waited < 10  # stopped by the timeout, not by the lock's release
    # The connection is usable and keeps no timeout for what runs next on it.
    assert statement_timeout() == before
    assert read_client.get(ACTIVE).status_code == 200


def test_a_write_waiting_longer_than_the_read_timeout_still_succeeds(settings, ingest_client):
    settings.API_READ_STATEMENT_TIMEOUT_MS = 100
    item = {"event_type": "login", "user_id": "u1", "timestamp": ago(minutes=1)}

    with table_locked(OutboxBatch, release_after=1.0):
        response = post_json(ingest_client, "/api/v1/analytics/events", [item])

    assert response.status_code == 202, response.content


def test_a_key_with_all_its_reads_running_gets_429_until_one_answers(settings, read_client):
    settings.API_READS_PER_KEY = 2
    settings.API_READ_KEY_WAIT_MS = 200
    key = APIKey.objects.get()
    held = [readcost.key_slot_take(f"key:{key.pk}") for _ in range(2)]  # two reads running

    refused = read_client.get(ACTIVE)
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=api_key_create(name="second", scope="read")[1])
    other_key = other.get(ACTIVE)
    health = APIClient().get(HEALTH)
    readcost.key_slot_give(held[0])
    after = read_client.get(ACTIVE)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert refused.json()["error"] == "throttled"
    assert "API_READS_PER_KEY" in refused.json()["detail"]
    assert other_key.status_code == 200  # another key is not held back
    assert health.status_code in (200, 503) and "status" in health.json()  # never capped
    assert after.status_code == 200
    # Each answered read gave its slot back: only the one still held remains.
    assert readcost.key_slots_held(f"key:{key.pk}") == 1


def test_a_burst_of_reads_of_one_key_waits_for_a_slot_instead_of_failing(settings, read_client):
    """A dashboard asking several quick reads at once: a read finding its key's slots
    held waits (API_READ_KEY_WAIT_MS) and is answered when one is given back."""
    settings.API_READS_PER_KEY = 1
    settings.API_READ_KEY_WAIT_MS = 5000
    key = APIKey.objects.get()
    held = readcost.key_slot_take(f"key:{key.pk}")  # another read of this key running
    threading.Timer(0.5, readcost.key_slot_give, [held]).start()  # ... answers in 0.5 s

    started = time.monotonic()
    waited_for = read_client.get(ACTIVE)
    waited = time.monotonic() - started

    assert waited_for.status_code == 200, waited_for.content
    assert waited >= 0.4  # it did wait for the slot
    assert readcost.key_slots_held(f"key:{key.pk}") == 0
