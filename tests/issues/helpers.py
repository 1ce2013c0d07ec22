"""Errors shipped through the REST ingest and stored as the worker stores them."""

import threading
import uuid
from datetime import UTC, datetime

from django.db import connection, transaction

from apps.errors.models import Issue
from apps.ingest.models import OutboxBatch
from apps.ingest.outbox import outbox_process
from tests.helpers import drain_outbox, post_json

INGEST = "/api/v1/analytics/error"
ISSUES = "/api/v1/analytics/issues"

PY_TRACE = """Traceback (most recent call last):
  File "/srv/app/shop/views.py", line {line}, in checkout
    order = load_order(request, order_id)
  File "/srv/app/shop/orders.py", line 88, in load_order
    return Order.get(order_id)
  File "/usr/lib/python3.12/site-packages/orm/query.py", line 12, in get
    raise KeyError(key)
KeyError: '{key}'"""


def error(message: str = "Order 1234 not found", **extra) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "category": "api",
        "severity": "error",
        "error_message": message,
        "timestamp": datetime.now(UTC).isoformat(),
        **extra,
    }


def ship(client, items: list[dict]) -> None:
    response = post_json(client, INGEST, items)
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == len(items), response.content
    drain_outbox()


def only_issue() -> Issue:
    [issue] = Issue.objects.all()
    return issue


def queue(client, items: list[dict]) -> int:
    """Ship `items` in one request; the id of the outbox batch it became (not stored)."""
    before = set(OutboxBatch.objects.values_list("pk", flat=True))
    assert post_json(client, INGEST, items).status_code == 202
    [new] = set(OutboxBatch.objects.values_list("pk", flat=True)) - before
    return new


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def store_at_once(a: int, b: int) -> bool:
    """Outbox batches `a` and `b` stored by two connections at once, `a`'s transaction
    held open until `b`'s statement waits on its rows (or ~10 s passed); raises what
    either raised; whether `b` was seen waiting on `a`."""
    a_stored, go_on = threading.Event(), threading.Event()
    errors: list[Exception] = []

    def hold_a():
        try:
            with transaction.atomic():
                outbox_process(outbox_id=a)
                a_stored.set()
                go_on.wait(timeout=30)  # commit only once b waits on a's rows
        except Exception as exc:
            errors.append(exc)
        finally:
            a_stored.set()
            connection.close()

    def run_b():
        try:
            a_stored.wait(timeout=30)
            outbox_process(outbox_id=b)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=hold_a), threading.Thread(target=run_b)]
    for thread in threads:
        thread.start()
    a_stored.wait(timeout=30)
    blocked = False
    for _ in range(500):  # b's statement reaches a's rows and waits: up to ~10 s
        blocked = waiting_on_a_lock()
        if blocked:
            break
        threading.Event().wait(0.02)
    go_on.set()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return blocked
