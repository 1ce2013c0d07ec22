"""An outage becomes an incident when the check that reaches the threshold is stored, and
the first good check resolves it, whatever the interval; run as beat runs the checks
(the `monitoring.run_checks` task body) against a real target on 127.0.0.1."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.alerts.builtin import builtin_rules_install
from apps.alerts.evaluation import rules_evaluate
from apps.alerts.models import AlertChannel, AlertIncident, AlertRule, Delivery, Silence
from apps.monitoring.tasks import run_checks
from tests.alerts.receiver import Receiver
from tests.helpers import post_json

pytestmark = pytest.mark.django_db

SERVICES = "/api/v1/analytics/monitoring/services"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def monitor(client, target, **fields) -> AlertRule:
    body = {"name": "api", "check_type": "http", "target": target.url, "timeout_seconds": 2}
    created = post_json(client, SERVICES, {**body, **fields})
    assert created.status_code == 201, created.content
    return AlertRule.objects.get(name="Service api is down")


def beat_runs_checks(clock, seconds: float) -> None:
    """What beat does every 5 s: the task body, at T0 + seconds."""
    clock.move_to(T0 + timedelta(seconds=seconds))
    run_checks()


def open_incidents(rule: AlertRule):
    return AlertIncident.objects.filter(rule=rule).exclude(status="resolved")


def test_checked_every_5_s_with_threshold_2_the_second_failure_opens_the_incident(
    admin_api_client,
):
    with Receiver(500) as target, time_machine.travel(T0, tick=False) as clock:
        rule = monitor(admin_api_client, target, interval_seconds=5, failure_threshold=2)
        hook = AlertChannel.objects.create(name="ops", type="webhook", target=target.url)
        rule.channels.set([hook])

        beat_runs_checks(clock, 0)
        assert not open_incidents(rule).exists()  # one failure of two allowed
        beat_runs_checks(clock, 5)
        [incident] = open_incidents(rule)  # the second failure opens it, at once
        assert incident.triggered_at == T0 + timedelta(seconds=5)
        assert incident.metric_value == 2 and incident.severity == "critical"
        fired = incident.timeline.get(kind="fired").detail
        assert "2 failed checks in a row of api" in fired and "HTTP 500" in fired
        assert list(Delivery.objects.values_list("channel_name", "event")) == [("ops", "firing")]

        # 150 s more of failures and the alert cycles in between: still that one incident.
        for second in range(10, 160, 5):
            beat_runs_checks(clock, second)
            if second % 60 == 0:
                clock.shift(1)
                rules_evaluate()
        assert list(open_incidents(rule)) == [incident]
        assert AlertIncident.objects.count() == 1


def test_checked_every_60_s_the_first_good_check_resolves_the_incident(admin_api_client):
    with Receiver(500, 500, 500, 200) as target, time_machine.travel(T0, tick=False) as clock:
        rule = monitor(admin_api_client, target, interval_seconds=60, failure_threshold=3)
        for second in (0, 60, 120):
            beat_runs_checks(clock, second)
        [incident] = open_incidents(rule)
        assert incident.triggered_at == T0 + timedelta(seconds=120)

        beat_runs_checks(clock, 180)  # it answers again
        incident.refresh_from_db()
        assert (incident.status, incident.auto_resolved) == ("resolved", True)
        assert incident.resolved_at == T0 + timedelta(seconds=180)

        # The alert cycle a second later, with the failures still in its window, neither
        # re-opens it nor touches the rule.
        clock.shift(1)
        evaluated = {e.rule_name for e in rules_evaluate()}
        assert "Service api is down" not in evaluated
        assert not open_incidents(rule).exists()
        rule.refresh_from_db()
        assert rule.state == "inactive"


def test_the_rule_edited_in_the_alerting_decides_enabled_severity_and_silences(
    admin_api_client,
):
    with Receiver(500) as target, time_machine.travel(T0, tick=False) as clock:
        rule = monitor(admin_api_client, target, interval_seconds=5, failure_threshold=1)
        rule.enabled = False
        rule.save()
        beat_runs_checks(clock, 0)
        assert not AlertIncident.objects.exists()  # disabled in the alerting: nothing opens

        rule.enabled, rule.severity = True, "warning"
        rule.save()
        rule.channels.set([AlertChannel.objects.create(name="ops", type="webhook", target="x")])
        Silence.objects.create(
            matchers={"rule_name": rule.name},
            starts_at=T0,
            ends_at=T0 + timedelta(hours=1),
            comment="maintenance",
        )
        beat_runs_checks(clock, 5)
        incident = open_incidents(rule).get()
        assert (incident.severity, incident.status) == ("warning", "silenced")
        assert not Delivery.objects.exists()  # silenced: nobody is paged


def test_one_failure_of_a_service_allowing_three_is_not_a_service_down(admin_api_client):
    builtin_rules_install()
    down_rule = AlertRule.objects.get(name="A monitored service is down")
    with Receiver(500, 500, 500, 200) as target, time_machine.travel(T0, tick=False) as clock:
        monitor(admin_api_client, target, interval_seconds=10, failure_threshold=3)

        beat_runs_checks(clock, 0)
        clock.shift(1)
        rules_evaluate()
        assert not open_incidents(down_rule).exists()
        beat_runs_checks(clock, 10)
        assert not open_incidents(down_rule).exists()

        beat_runs_checks(clock, 20)  # the third failure: now it is down
        [incident] = open_incidents(down_rule)
        assert incident.metric_value == 1
        fired = incident.timeline.get(kind="fired").detail
        assert "down: api (3 failed checks: ValueError: HTTP 500, expected 200)" in fired

        beat_runs_checks(clock, 30)
        incident.refresh_from_db()
        assert incident.status == "resolved"
        assert incident.resolved_at == T0 + timedelta(seconds=30)


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


def test_disabling_a_service_that_is_down_resolves_its_incident(admin_api_client):
    # No check will run for it any more, so no good check would ever resolve it.
    with Receiver(500) as target, time_machine.travel(T0, tick=False) as clock:
        rule = monitor(admin_api_client, target, interval_seconds=5, failure_threshold=1)
        beat_runs_checks(clock, 0)
        [incident] = open_incidents(rule)
        [service] = admin_api_client.get(SERVICES).json()
        disabled = admin_api_client.patch(
            f"{SERVICES}/{service['id']}", {"enabled": False}, format="json"
        )
        assert disabled.status_code == 200
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert "api was disabled" in incident.timeline.get(kind="resolved").detail
