import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.alerts import notifications
from apps.alerts.models import AlertChannel, AlertIncident, AlertRule, Delivery
from tests.helpers import drain_outbox, iso, post_json

RULES = "/api/v1/analytics/alerts/rules"
CHANNELS = "/api/v1/analytics/alerts/channels"
SILENCES = "/api/v1/analytics/alerts/silences"
INCIDENTS = "/api/v1/analytics/alerts/incidents"
RECORD = "/api/v1/analytics/metrics/record"


@pytest.fixture
def admin_client(admin_api_client) -> APIClient:
    return admin_api_client  # this package's tests call it by the shorter name


@pytest.fixture
def allow_private_webhooks(settings):
    settings.ALERTS_ALLOW_PRIVATE_WEBHOOKS = True


def record_points(client, name: str, values_at: list[tuple[float, object]], tags=None) -> None:
    """Record (value, datetime) points of a gauge through the API and store them."""
    items = [
        {"metric_name": name, "value": value, "timestamp": iso(at), "tags": tags or {}}
        for value, at in values_at
    ]
    response = post_json(client, RECORD, items)
    assert response.status_code == 202, response.content
    drain_outbox()


def rule_body(**overrides) -> dict:
    return {
        "name": "cpu high",
        "metric_name": "system.cpu_percent",
        "condition_operator": "gt",
        "threshold": 90,
        "severity": "critical",
        "description": "CPU is pegged",
        "duration_seconds": 0,
        **overrides,
    }


def firing_delivery(url: str, *, secret: str = "") -> Delivery:
    """A firing incident's webhook notification to `url`, made as the evaluator makes it."""
    channel = AlertChannel.objects.create(name="ops", type="webhook", target=url, secret=secret)
    rule = AlertRule.objects.create(
        name="cpu", metric_name="system.cpu_percent", condition_operator="gt", threshold=90
    )
    incident = AlertIncident.objects.create(
        rule=rule,
        rule_name=rule.name,
        severity="critical",
        metric_value=97,
        threshold=90,
        condition_operator="gt",
        triggered_at=timezone.now(),
    )
    with transaction.atomic():
        [delivery] = notifications.make_deliveries(incident, rule, [channel], event="firing")
    return delivery
