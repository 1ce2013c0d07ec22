"""Deliveries, their attempts and the timelines of long-resolved incidents do not grow
without bound: the daily purge deletes them past ALERTS_RETENTION_DAYS, in batches."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from apps.alerts import notifications, services
from apps.alerts.models import (
    AlertChannel,
    AlertIncident,
    AlertRule,
    Delivery,
    DeliveryAttempt,
    IncidentEvent,
)
from apps.alerts.tasks import sweep_deliveries
from apps.ingest.tasks import purge_expired
from tests.alerts.receiver import Receiver

pytestmark = pytest.mark.django_db

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=200)


@pytest.fixture
def hook(allow_private_webhooks):
    with Receiver() as receiver:
        yield receiver


def notified_incident(name: str, channel: AlertChannel, hook: Receiver) -> AlertIncident:
    """An incident whose firing notification took two attempts (one failed)."""
    hook.script(500, 200)
    rule = AlertRule.objects.create(
        name=name, metric_name="system.cpu_percent", condition_operator="gt", threshold=90
    )
    incident = AlertIncident.objects.create(
        rule=rule,
        rule_name=name,
        severity="critical",
        metric_value=97,
        threshold=90,
        condition_operator="gt",
        triggered_at=datetime.now(UTC),
    )
    with transaction.atomic():
        [delivery] = notifications.make_deliveries(incident, rule, [channel], event="firing")
    notifications.delivery_send(str(delivery.pk))
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=30), tick=False):
        notifications.delivery_send(str(delivery.pk))
    return incident


def test_history_of_incidents_resolved_past_retention_is_purged_in_batches(hook, settings):
    settings.ALERTS_RETENTION_DAYS = 90
    settings.ALERTS_DELIVERY_BACKOFF_SECONDS = 10
    with time_machine.travel(T0, tick=False) as clock:
        channel = AlertChannel.objects.create(name="ops", type="webhook", target=hook.url)
        old = [notified_incident(f"old {n}", channel, hook) for n in range(3)]
        for incident in old:
            services.incident_resolve(incident_id=incident.pk, actor="user:a")
        notified_incident("still open", channel, hook)
        services.channel_test(channel=channel, actor="user:a")  # no incident
        clock.shift(timedelta(days=80))
        recent = notified_incident("recent", channel, hook)
        services.incident_resolve(incident_id=recent.pk, actor="user:a")

        clock.shift(timedelta(days=20))  # old ones resolved 100 days ago, recent 20
        deleted = services.history_purge(batch_size=2)

    assert deleted == {"deliveries": 4, "delivery_attempts": 7, "incident_events": 9}
    assert set(AlertIncident.objects.values_list("rule_name", flat=True)) == {
        "old 0",
        "old 1",
        "old 2",
        "still open",
        "recent",
    }  # the incidents themselves stay
    kept = {d.incident.rule_name for d in Delivery.objects.select_related("incident")}
    assert kept == {"still open", "recent"}
    assert DeliveryAttempt.objects.count() == 4
    assert set(IncidentEvent.objects.values_list("incident__rule_name", flat=True)) == {
        "still open",
        "recent",
    }


def test_the_daily_purge_as_beat_sends_it_purges_alert_history(hook, settings):
    settings.ALERTS_RETENTION_DAYS = 30
    with time_machine.travel(T0, tick=False) as clock:
        channel = AlertChannel.objects.create(name="ops", type="webhook", target=hook.url)
        incident = notified_incident("old", channel, hook)
        services.incident_resolve(incident_id=incident.pk, actor="user:a")
        clock.shift(timedelta(days=31))

        purge_expired.apply()  # beat's "purge-analytics" entry: the task, no arguments
        sweep_deliveries.apply()  # and the sweeper finds nothing left to send

    assert not Delivery.objects.exists() and not DeliveryAttempt.objects.exists()
    assert not IncidentEvent.objects.exists()
    assert AlertIncident.objects.get().status == "resolved"
