"""A rule's whole life against a real HTTP receiver and the locmem mail outbox.

Time is moved with time-machine; notifications are sent by the task's body, as the
worker would (`send_due`), so every step is deterministic.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from apps.alerts import evaluation, notifications
from apps.alerts.models import AlertIncident, AlertRule, Delivery
from tests.alerts.conftest import CHANNELS, INCIDENTS, RULES, SILENCES, record_points, rule_body
from tests.alerts.receiver import Receiver
from tests.helpers import post_json

pytestmark = pytest.mark.django_db

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
SECRET = "webhook-s3cret"


def send_due() -> int:
    """Run the delivery task's body for every due delivery, as the worker would."""
    due = notifications.deliveries_due()
    for delivery_id in due:
        notifications.delivery_send(delivery_id)
    return len(due)


@pytest.fixture
def hook(allow_private_webhooks):
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def setup_rule(admin_client, hook, **overrides) -> dict:
    for channel in (
        {"name": "ops-hook", "type": "webhook", "target": hook.url, "secret": SECRET},
        {"name": "ops-mail", "type": "email", "target": "oncall@example.com"},
    ):
        assert post_json(admin_client, CHANNELS, channel).status_code == 201
    defaults = {
        "duration_seconds": 300,
        "window_seconds": 60,
        "repeat_interval_seconds": 3600,
        "resolve_threshold": 80,
        "channels": ["ops-hook", "ops-mail"],
    }
    body = rule_body(**{**defaults, **overrides})
    response = post_json(admin_client, RULES, body)
    assert response.status_code == 201, response.content
    return response.json()


def at(clock, seconds: int, ingest_client, value: float | None):
    """Move to T0 + seconds, record `value` (if any) just before, evaluate every rule."""
    clock.move_to(T0 + timedelta(seconds=seconds))
    if value is not None:
        now = T0 + timedelta(seconds=seconds)
        record_points(ingest_client, "system.cpu_percent", [(value, now - timedelta(seconds=5))])
    [result] = evaluation.rules_evaluate()
    return result


def events_received(hook) -> list[str]:
    return [request.json()["event"] for request in hook.requests]


def test_pending_firing_repeat_acknowledge_hysteresis_resolve(
    clock, hook, admin_client, ingest_client
):
    rule = setup_rule(admin_client, hook)

    assert at(clock, 0, ingest_client, 95).state == "pending"
    assert at(clock, 120, ingest_client, 96).state == "pending"
    assert not AlertIncident.objects.exists() and send_due() == 0

    fired = at(clock, 300, ingest_client, 97)
    assert (fired.state, fired.action) == ("firing", "fire")
    assert send_due() == 2
    [request] = hook.requests
    document = request.json()
    assert request.headers["X-Analytics-Delivery"] == document["delivery_id"]
    assert request.verify_signature(SECRET)
    assert document["version"] == "1" and document["event"] == "firing"
    assert document["incident"]["metric_value"] == 97 and document["incident"]["status"] == "open"
    assert document["rule"] == {
        "id": rule["id"],
        "name": "cpu high",
        "metric_name": "system.cpu_percent",
        "tags": {},
        "aggregation": "avg",
        "window_seconds": 60,
        "condition_operator": "gt",
        "threshold": 90.0,
        "severity": "critical",
    }
    [email] = mail.outbox
    assert email.to == ["oncall@example.com"] and "[FIRING] cpu high" in email.subject

    at(clock, 600, ingest_client, 98)  # still firing, repeat not due: nothing
    assert send_due() == 0 and len(hook.requests) == 1
    at(clock, 300 + 3600, ingest_client, 99)  # repeat interval passed
    assert send_due() == 2 and events_received(hook) == ["firing", "repeat"]

    incident = AlertIncident.objects.get()
    acked = post_json(admin_client, f"{INCIDENTS}/{incident.pk}/acknowledge", {})
    assert acked.json()["status"] == "acknowledged"
    at(clock, 300 + 2 * 3600 + 60, ingest_client, 99)  # acknowledged: no more repeats
    assert send_due() == 0

    assert at(clock, 8000, ingest_client, 85).state == "firing"  # above resolve threshold 80
    resolved = at(clock, 8100, ingest_client, 70)
    assert (resolved.state, resolved.action) == ("inactive", "resolve")
    assert send_due() == 2
    assert events_received(hook) == ["firing", "repeat", "resolved"]
    assert hook.requests[-1].json()["incident"]["auto_resolved"] is True

    detail = admin_client.get(f"{INCIDENTS}/{incident.pk}").json()
    assert detail["status"] == "resolved" and detail["auto_resolved"] is True
    kinds = [event["kind"] for event in detail["timeline"]]
    assert kinds[0] == "fired" and kinds.index("acknowledged") < kinds.index("resolved")
    assert kinds[-2:] == ["notified", "notified"]  # the resolved notifications went out
    assert kinds.count("notified") == 6  # 3 notifications x 2 channels
    assert {d["status"] for d in detail["deliveries"]} == {"delivered"}
    assert AlertRule.objects.get().trigger_count == 1


def test_hysteresis_keeps_one_incident_while_the_value_wobbles(
    clock, hook, admin_client, ingest_client
):
    setup_rule(admin_client, hook, duration_seconds=0)
    for step, value in enumerate([95, 89, 91, 85, 92, 81, 93]):
        at(clock, step * 60, ingest_client, value)
    send_due()
    assert AlertIncident.objects.count() == 1
    assert events_received(hook) == ["firing"]


def test_silence_suppresses_then_expires_and_a_refire_links_the_previous_incident(
    clock, hook, admin_client, ingest_client
):
    setup_rule(admin_client, hook, duration_seconds=0)
    at(clock, 0, ingest_client, 95)
    send_due()
    first = AlertIncident.objects.get()
    at(clock, 60, ingest_client, 50)  # resolved
    send_due()
    ends = (T0 + timedelta(seconds=60 + 1800)).isoformat()
    silence = post_json(
        admin_client, SILENCES, {"matchers": {"rule_name": "cpu high"}, "ends_at": ends}
    )
    assert silence.status_code == 201

    at(clock, 120, ingest_client, 97)  # fires again, silenced
    assert send_due() == 0
    second = AlertIncident.objects.exclude(pk=first.pk).get()
    assert second.status == "silenced" and second.previous_id == first.pk
    assert events_received(hook) == ["firing", "resolved"]

    at(clock, 60 + 1800 + 60, ingest_client, 97)  # the silence is over, still firing
    assert send_due() == 2
    assert events_received(hook) == ["firing", "resolved", "firing"]
    second.refresh_from_db()
    assert second.status == "open"
    kinds = list(second.timeline.values_list("kind", flat=True))
    assert kinds[:2] == ["refired", "silenced"] and "unsilenced" in kinds


def test_failed_deliveries_retry_with_backoff_and_the_same_delivery_id(
    clock, hook, admin_client, ingest_client, settings
):
    settings.ALERTS_DELIVERY_BACKOFF_SECONDS = 10
    hook.script(500, 503, 200)
    setup_rule(admin_client, hook, duration_seconds=0)
    AlertRule.objects.get().channels.remove(*AlertRule.objects.get().channels.filter(type="email"))
    at(clock, 0, ingest_client, 95)

    assert send_due() == 1  # fails: 500
    assert send_due() == 0  # not due for 10 s
    clock.shift(10)
    assert send_due() == 1  # fails: 503, next in 20 s
    clock.shift(19)
    assert send_due() == 0
    clock.shift(1)
    assert send_due() == 1  # delivered

    ids = {request.headers["X-Analytics-Delivery"] for request in hook.requests}
    bodies = {request.body for request in hook.requests}
    assert len(hook.requests) == 3 and len(ids) == 1 and len(bodies) == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [a.status_code for a in delivery.attempt_log.all()] == [500, 503, 200]


def test_a_delivery_gives_up_after_the_last_attempt(
    clock, hook, admin_client, ingest_client, settings
):
    settings.ALERTS_DELIVERY_MAX_ATTEMPTS = 2
    hook.script(500)
    setup_rule(admin_client, hook, duration_seconds=0)
    at(clock, 0, ingest_client, 95)
    send_due()
    clock.shift(3600)
    send_due()
    delivery = Delivery.objects.get(channel_name="ops-hook")
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    kinds = list(delivery.incident.timeline.values_list("kind", flat=True))
    assert kinds.count("notification_failed") == 2


def test_channel_test_notification_is_sent_now(hook, admin_client):
    channel = post_json(
        admin_client,
        CHANNELS,
        {"name": "ops-hook", "type": "webhook", "target": hook.url, "secret": SECRET},
    ).json()

    response = post_json(admin_client, f"{CHANNELS}/{channel['id']}/test", {})

    assert response.status_code == 200
    assert response.json()["status"] == "delivered"
    [request] = hook.requests
    assert request.json()["event"] == "test" and request.verify_signature(SECRET)


def test_no_data_on_an_unknown_metric_never_fires(clock, hook, admin_client):
    setup_rule(admin_client, hook, duration_seconds=0, metric_name="not.recorded")
    clock.move_to(T0)
    [result] = evaluation.rules_evaluate()
    assert (result.value, result.state) == (None, "inactive")
