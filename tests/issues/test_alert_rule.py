"""The built-in rule on new and regressed issues: installed off; on, it opens an incident."""

from io import StringIO

import pytest
from django.core.management import call_command

from apps.alerts.models import AlertIncident, AlertRule
from apps.alerts.tasks import evaluate
from apps.errors import services
from apps.errors.derive import ISSUES_OPENED
from apps.errors.models import Issue
from apps.metrics.models import MetricPoint
from tests.issues.helpers import error, ship

pytestmark = pytest.mark.django_db
RULE = "New or regressed error issue"


def install() -> AlertRule:
    call_command("install_alert_rules", stdout=StringIO())
    return AlertRule.objects.get(name=RULE)


def test_the_rule_is_installed_disabled_and_fires_nothing(ingest_client):
    rule = install()
    assert (rule.builtin, rule.enabled, rule.metric_name) == (True, False, ISSUES_OPENED)
    ship(ingest_client, [error()])
    evaluate()  # the task beat sends
    assert not AlertIncident.objects.exists()


def test_each_new_issue_and_regression_is_one_point_once(ingest_client):
    items = [error(), error(), error("Disk full")]
    ship(ingest_client, items)
    ship(ingest_client, items)  # retried: no new point
    points = MetricPoint.objects.filter(metric_name=ISSUES_OPENED)
    assert sorted(p.tags["kind"] for p in points) == ["new", "new"]

    services.issues_resolve(issues=Issue.objects.filter(title="Disk full"), actor="oncall")
    ship(ingest_client, [error("Disk full")])
    ship(ingest_client, [error("Disk full")])  # unresolved already: no second regression
    assert sorted(p.tags["kind"] for p in points.all()) == ["new", "new", "regression"]
    assert {p.value for p in points.all()} == {1}


def test_enabled_it_opens_an_incident_on_a_new_issue(ingest_client):
    rule = install()
    rule.enabled = True
    rule.save()
    evaluate()
    assert not AlertIncident.objects.exists()

    ship(ingest_client, [error()])
    evaluate()  # as beat runs it

    incident = AlertIncident.objects.get()
    assert (incident.rule_id, incident.status, incident.metric_value) == (rule.pk, "open", 1)
