"""Notifications with real processes: a Celery worker killed while it is sending.

At least once: the delivery stays claimed, the sweeper frees the claim once it is older
than the send timeout plus a margin and hands it to the next worker,
and the receiver gets the same bytes under the same delivery id again.
"""

import http.client
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import time_machine
from django.utils import timezone

from apps.alerts import notifications
from apps.alerts.models import AlertChannel, AlertRule, Delivery
from apps.alerts.tasks import deliver
from apps.keys.services import api_key_create
from tests.alerts.conftest import firing_delivery, record_points
from tests.alerts.receiver import Receiver, Reply
from tests.live import Stack, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture
def stack(tmp_path, monkeypatch):
    monkeypatch.setenv("ALERTS_ALLOW_PRIVATE_WEBHOOKS", "true")
    stack = Stack(tmp_path)
    yield stack
    stack.close()


def hand_to_worker(stack: Stack, delivery_ids: list[str]) -> None:
    """What the task queue gets from on_commit or the sweeper, on the stack's broker."""
    with stack.broker() as broker:
        for delivery_id in delivery_ids:
            deliver.apply_async((delivery_id,), connection=broker, retry=False)


def test_a_worker_killed_mid_send_delivers_later_with_the_same_delivery_id(stack):
    with Receiver(Reply(200, delay=60), 200) as hook:
        stack.start_redis()
        stack.start_worker()
        delivery = firing_delivery(hook.url, secret="s3")
        hand_to_worker(stack, [str(delivery.pk)])

        hook.wait(1, timeout=60)  # the worker is inside the request, with its claim
        stack.kill("worker")
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("sending", 0)

        stack.start_worker("worker2")
        assert notifications.deliveries_due() == []  # the claim may still be a live worker's
        # The sweeper frees a claim once it is older than the send timeout plus a margin.
        later = timezone.now() + notifications.claim_timeout() + timedelta(seconds=1)
        with time_machine.travel(later, tick=False):
            assert notifications.deliveries_reclaim() == 1
        hand_to_worker(stack, notifications.deliveries_due())  # the sweeper's turn
        wait_until(
            lambda: Delivery.objects.get(pk=delivery.pk).status == "delivered",
            timeout=60,
            what="delivery by the second worker",
        )

        first, second = hook.requests
        assert first.body == second.body
        assert (
            first.headers["X-Analytics-Delivery"]
            == second.headers["X-Analytics-Delivery"]
            == str(delivery.pk)
        )
        assert second.verify_signature("s3")
        delivery.refresh_from_db()
        assert delivery.attempts == 1  # the killed attempt left no trace but the resend
        assert list(delivery.incident.timeline.values_list("kind", flat=True)) == ["notified"]


def test_a_dead_broker_delays_a_notification_and_never_loses_or_doubles_it(stack, ingest_client):
    with Receiver() as hook:
        stack.start_redis()
        stack.start_web()
        key = api_key_create(name="oncall", scope="admin")[1]
        record_points(
            ingest_client, "queue.depth", [(500, datetime.now(UTC) - timedelta(seconds=20))]
        )
        channel = AlertChannel.objects.create(name="ops", type="webhook", target=hook.url)
        rule = AlertRule.objects.create(
            name="queue deep", metric_name="queue.depth", condition_operator="gt", threshold=100
        )
        rule.channels.add(channel)

        stack.stop_redis()
        conn = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=30)
        conn.request(
            "POST", f"/api/v1/analytics/alerts/rules/{rule.pk}/evaluate", b"", {"X-API-Key": key}
        )
        response = conn.getresponse()
        body = orjson.loads(response.read())
        assert response.status == 200, body
        assert body["state"] == "firing" and body["incident_id"]
        [delivery] = Delivery.objects.all()
        assert delivery.status == "pending"  # in the database, not yet on any queue

        stack.start_redis()
        stack.start_worker()
        hand_to_worker(stack, notifications.deliveries_due())  # the sweeper's turn
        wait_until(
            lambda: Delivery.objects.get(pk=delivery.pk).status == "delivered",
            timeout=60,
            what="delivery once the broker is back",
        )
        hand_to_worker(stack, [str(delivery.pk)])  # a late duplicate message changes nothing
        wait_until(
            lambda: stack.log("worker", chars=100_000).count("alerts.deliver[") >= 4,
            timeout=30,
            what="the duplicate message to be consumed",
        )
        assert len(hook.requests) == 1
