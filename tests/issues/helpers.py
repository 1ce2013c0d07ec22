"""Errors shipped through the REST ingest and stored as the worker stores them."""

import uuid
from datetime import UTC, datetime

from apps.errors.models import Issue
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
