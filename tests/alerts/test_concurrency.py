"""Evaluators racing each other: one incident, one notification per channel."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.alerts import evaluation
from apps.alerts.models import AlertChannel, AlertIncident, AlertRule, Delivery
from tests.alerts.conftest import record_points


@pytest.mark.django_db(transaction=True)
def test_evaluators_at_the_same_time_open_one_incident_and_notify_once(ingest_client):
    now = datetime.now(UTC)
    record_points(ingest_client, "system.cpu_percent", [(99, now - timedelta(seconds=10))])
    rule = AlertRule.objects.create(
        name="cpu", metric_name="system.cpu_percent", condition_operator="gt", threshold=90
    )
    rule.channels.add(
        AlertChannel.objects.create(name="mail", type="email", target="oncall@example.com")
    )
    start = threading.Barrier(8)
    errors = []

    def evaluate():
        try:
            start.wait(timeout=10)
            evaluation.rule_evaluate(rule.pk)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=evaluate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert AlertIncident.objects.count() == 1
    assert Delivery.objects.filter(event="firing").count() == 1
    assert AlertRule.objects.get().trigger_count == 1


@pytest.mark.django_db
def test_the_database_refuses_a_second_unresolved_incident_for_a_rule():
    rule = AlertRule.objects.create(name="r", metric_name="m", condition_operator="gt", threshold=1)
    fields = {
        "rule": rule,
        "rule_name": "r",
        "severity": "info",
        "threshold": 1,
        "condition_operator": "gt",
        "triggered_at": timezone.now(),
    }
    AlertIncident.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        AlertIncident.objects.create(**fields, status="acknowledged")
    AlertIncident.objects.create(**fields, status="resolved")  # history is unlimited
