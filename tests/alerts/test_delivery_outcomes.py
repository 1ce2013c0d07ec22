"""What becomes of a notification: permanent answers are final, transient ones retried,
and a delivery in flight holds no row lock (it is claimed with a conditional update)."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from apps.alerts import notifications
from apps.alerts.models import AlertChannel, Delivery
from apps.alerts.tasks import sweep_deliveries
from tests.alerts.conftest import INCIDENTS, firing_delivery
from tests.alerts.receiver import Receiver, Reply

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
def hook(allow_private_webhooks):
    with Receiver() as receiver:
        yield receiver


def send_due() -> int:
    """The task's body for every due delivery, as the worker runs it."""
    due = notifications.deliveries_due()
    for delivery_id in due:
        notifications.delivery_send(delivery_id)
    return len(due)


@pytest.mark.django_db
def test_a_delivery_whose_channel_was_deleted_is_given_up_at_once(hook):
    with time_machine.travel(T0, tick=False) as clock:
        delivery = firing_delivery(hook.url)
        AlertChannel.objects.all().delete()
        assert send_due() == 1
        clock.shift(3600)
        assert send_due() == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "the channel was deleted" in delivery.error and not hook.requests


@pytest.mark.django_db
@pytest.mark.parametrize("status", sorted(notifications.PERMANENT_STATUSES))
def test_a_webhook_that_answers_a_permanent_error_is_tried_once_and_given_up(
    hook, admin_client, status
):
    hook.script(Reply(status, body=b"no such hook"))
    with time_machine.travel(T0, tick=False) as clock:
        delivery = firing_delivery(hook.url)
        assert send_due() == 1
        for _ in range(10):  # hours later, nothing is due again
            clock.shift(3600)
            assert send_due() == 0

    assert len(hook.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert f"HTTP {status}: no such hook" in delivery.error
    assert "permanent" in delivery.error
    incident = admin_client.get(f"{INCIDENTS}/{delivery.incident_id}").json()
    [line] = incident["timeline"]
    assert line["kind"] == "notification_failed"
    assert f"HTTP {status}" in line["detail"] and "not retried" in line["detail"]
    [shown] = incident["deliveries"]
    assert shown["status"] == "failed" and shown["error"] == delivery.error
    assert [a["status_code"] for a in shown["attempts"]] == [status]


@pytest.mark.django_db
@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_a_transient_answer_is_retried_until_delivered(hook, settings, status):
    settings.ALERTS_DELIVERY_BACKOFF_SECONDS = 10
    hook.script(status, 200)
    with time_machine.travel(T0, tick=False) as clock:
        delivery = firing_delivery(hook.url)
        assert send_due() == 1
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.error) == ("pending", 1, "")
        clock.shift(10)
        assert send_due() == 1

    assert len(hook.requests) == 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


@pytest.mark.django_db(transaction=True)
def test_a_delivery_in_flight_holds_no_row_lock_and_is_not_sent_twice(hook):
    hook.script(Reply(200, delay=2))
    delivery = firing_delivery(hook.url)
    errors = []

    def worker() -> None:
        try:
            notifications.delivery_send(str(delivery.pk))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=worker)
    first.start()
    try:
        hook.wait(1, timeout=10)  # the request is in flight

        # Another session (the evaluator, an admin, a sweeper) locks and updates the row
        # at once: a lock held across the call would time this out.
        db = connection.settings_dict
        with psycopg.connect(
            host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]
        ) as other:
            other.execute("SET lock_timeout = '500ms'")
            row = other.execute(
                "SELECT status FROM alerts_delivery WHERE id = %s FOR UPDATE", [delivery.pk]
            ).fetchone()
            assert row == ("sending",)
            other.execute(
                "UPDATE alerts_delivery SET created_at = created_at WHERE id = %s", [delivery.pk]
            )
            other.rollback()

        # A second worker with the same delivery (a duplicate message) does nothing.
        assert notifications.delivery_send(str(delivery.pk)) is None
        assert notifications.deliveries_due() == []
    finally:
        first.join(timeout=30)

    assert errors == []
    assert len(hook.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.claimed_at) == ("delivered", 1, None)


@pytest.mark.django_db
def test_a_claim_left_by_a_dead_worker_is_freed_by_the_sweeper_after_timeout_and_margin(hook):
    with time_machine.travel(T0, tick=False) as clock:
        delivery = firing_delivery(hook.url)
        # What a worker killed inside the request leaves: its claim, no outcome.
        Delivery.objects.filter(pk=delivery.pk).update(
            status="sending", claimed_at=timezone.now(), claim_id=uuid.uuid4()
        )
        assert notifications.delivery_send(str(delivery.pk)) is None  # claimed: not sent

        clock.shift(notifications.claim_timeout() - timedelta(seconds=1))
        sweep_deliveries.apply()  # as beat sends it
        assert Delivery.objects.get(pk=delivery.pk).status == "sending"  # maybe still alive

        clock.shift(2)
        sweep_deliveries.apply()
        assert Delivery.objects.get(pk=delivery.pk).status == "pending"
        assert send_due() == 1

    [request] = hook.requests
    assert request.headers["X-Analytics-Delivery"] == str(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
