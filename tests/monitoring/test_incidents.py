"""An outage becomes an incident through the alerting, and recovery resolves it."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from apps.alerts.evaluation import rules_evaluate
from apps.alerts.models import AlertIncident, AlertRule
from apps.ingest.buffer import buffer
from apps.keys.services import api_key_create
from apps.monitoring.services import checks_run_due
from tests.alerts.receiver import Receiver
from tests.helpers import drain_outbox, post_json

pytestmark = pytest.mark.django_db

SERVICES = "/api/v1/analytics/monitoring/services"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def cycle(clock, seconds: int):
    """At T0 + seconds: check every service, store the figures, evaluate every rule."""
    clock.move_to(T0 + timedelta(seconds=seconds))
    checks_run_due(all_services=True)
    buffer.flush()
    drain_outbox()
    clock.shift(1)  # the evaluator comes after the check (its window ends before now)
    return {e.rule_name: e for e in rules_evaluate()}


def test_failures_reaching_the_threshold_open_an_incident_and_recovery_resolves_it():
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(name="ops", scope="admin")[1])
    with Receiver(500, 500, 500, 200) as target, time_machine.travel(T0, tick=False) as clock:
        created = post_json(
            client,
            SERVICES,
            {
                "name": "api",
                "check_type": "http",
                "target": target.url,
                "interval_seconds": 10,
                "timeout_seconds": 2,
                "failure_threshold": 3,
            },
        )
        assert created.status_code == 201
        rule = AlertRule.objects.get(name="Service api is down")
        assert (rule.metric_name, rule.tags, rule.threshold) == (
            "health.consecutive_failures",
            {"service": "api"},
            3.0,
        )

        assert cycle(clock, 0)["Service api is down"].state == "inactive"  # 1 failure
        assert cycle(clock, 10)["Service api is down"].state == "inactive"  # 2
        fired = cycle(clock, 20)["Service api is down"]  # 3: the threshold
        assert fired.state == "firing"
        incident = AlertIncident.objects.get()
        assert "api" in incident.rule_name and incident.metric_value == 3

        recovered = cycle(clock, 30)["Service api is down"]
        assert recovered.state == "inactive"
        incident.refresh_from_db()
        assert (incident.status, incident.auto_resolved) == ("resolved", True)


def test_the_rule_follows_the_service(admin_api_client):
    client = admin_api_client
    service = post_json(
        client, SERVICES, {"name": "db", "check_type": "tcp", "target": "db:5432"}
    ).json()
    url = f"{SERVICES}/{service['id']}"

    client.patch(url, {"name": "postgres", "failure_threshold": 5}, format="json")
    rule = AlertRule.objects.get(name="Service postgres is down")
    assert (rule.tags, rule.threshold) == ({"service": "postgres"}, 5.0)
    assert not AlertRule.objects.filter(name="Service db is down").exists()

    assert client.delete(url).status_code == 204
    assert not AlertRule.objects.filter(name__startswith="Service postgres").exists()
