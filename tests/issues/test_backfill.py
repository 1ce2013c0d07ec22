"""`manage.py group_errors`: errors stored before issues existed, grouped in batches."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from apps.errors.models import ErrorLog, Issue
from tests.issues.helpers import PY_TRACE, error, ship

pytestmark = pytest.mark.django_db


def old_error(message: str, minutes: int, user: str = "", **extra) -> ErrorLog:
    at = datetime.now(UTC) - timedelta(minutes=minutes)
    return ErrorLog.objects.create(
        category="api", error_message=message, timestamp=at, received_at=at, user_id=user, **extra
    )


def group(*args) -> str:
    out = StringIO()
    call_command("group_errors", *args, stdout=out)
    return out.getvalue()


def test_old_errors_are_grouped_as_ingest_groups_them_and_a_rerun_changes_nothing(
    ingest_client,
):
    for n in range(5):
        old_error(f"Order {n} not found", minutes=60 - n, user=f"u{n % 2}")
    old_error("KeyError: 'x'", minutes=30, stack_trace=PY_TRACE.format(line=1, key="x"))
    assert set(ErrorLog.objects.values_list("fingerprint", flat=True)) == {""}

    assert "6 error(s) grouped" in group("--batch", "2")

    order = Issue.objects.get(title="Order 0 not found")
    assert (order.event_count, order.users_affected) == (5, 2)
    assert order.first_seen == ErrorLog.objects.order_by("timestamp").first().timestamp
    assert Issue.objects.get(title="KeyError: 'x'").culprit == "load_order in orders.py"
    assert "0 error(s) grouped" in group()
    assert Issue.objects.get(pk=order.pk).event_count == 5

    ship(ingest_client, [error("Order 77 not found", user_id="u1")])  # the same issue
    order.refresh_from_db()
    assert (order.event_count, order.users_affected) == (6, 2)


def test_a_bad_batch_size_is_refused():
    err = StringIO()
    call_command("group_errors", "--batch", "0", stdout=StringIO(), stderr=err)
    assert "--batch" in err.getvalue()
