"""The admin's forms write through the same services as the API: a staff user with the
model permissions gets the same rules (restart, resolve on delete, target check, trail)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from apps.alerts import services
from apps.alerts.models import AlertChannel, AlertIncident, AlertRule, Silence

pytestmark = pytest.mark.django_db

ADMIN = "/admin/alerts"
CHANGES = "/api/v1/analytics/alerts/changes"


@pytest.fixture
def oncall(django_user_model) -> Client:
    """A staff user (not a superuser) with add/change/delete/view on the alert models."""
    user = django_user_model.objects.create_user(
        username="oncall", password="pw-oncall-123", is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="alerts",
            content_type__model__in=["alertrule", "alertchannel", "silence"],
        )
    )
    client = Client()
    client.force_login(user)
    return client


def rule_form(rule: AlertRule, **changes) -> dict:
    """The rule's change form as the admin shows it, with `changes` typed in."""
    form = {
        "name": rule.name,
        "description": rule.description,
        "metric_name": rule.metric_name,
        "tags": "{}",
        "aggregation": rule.aggregation,
        "condition_operator": rule.condition_operator,
        "threshold": rule.threshold,
        "resolve_threshold": "",
        "severity": rule.severity,
        "duration_seconds": rule.duration_seconds,
        "window_seconds": rule.window_seconds,
        "repeat_interval_seconds": rule.repeat_interval_seconds,
        "no_data": rule.no_data,
        "channels": list(rule.channels.values_list("pk", flat=True)) if rule.pk else [],
        "enabled": "on",
        **changes,
    }
    return {key: value for key, value in form.items() if value is not None}


def firing_rule(name: str = "cpu high") -> tuple[AlertRule, AlertIncident]:
    rule = services.rule_create(
        data={
            "name": name,
            "metric_name": "system.cpu_percent",
            "condition_operator": "gt",
            "threshold": 90,
        },
        actor="key:setup",
    )
    AlertRule.objects.filter(pk=rule.pk).update(state="firing")
    incident = AlertIncident.objects.create(
        rule=rule,
        rule_name=rule.name,
        severity="warning",
        metric_value=97,
        threshold=90,
        condition_operator="gt",
        triggered_at=timezone.now(),
    )
    return rule, incident


def trail(read_client) -> list[tuple[str, str, str, str]]:
    changes = read_client.get(f"{CHANGES}?page_size=100").json()["results"]
    return [
        (c["actor"], c["action"], c["object_type"], c["object_name"]) for c in reversed(changes)
    ]


def test_a_rule_added_in_the_admin_is_made_by_the_service(oncall, read_client):
    channel = services.channel_create(
        data={"name": "ops", "type": "email", "target": "ops@example.com"}, actor="key:setup"
    )
    form = rule_form(
        AlertRule(name="queue deep", metric_name="queue.depth", condition_operator="gt"),
        threshold=100,
        channels=[channel.pk],
    )

    response = oncall.post(f"{ADMIN}/alertrule/add/", form)

    assert response.status_code == 302, response.content.decode()[-2000:]
    rule = AlertRule.objects.get(name="queue deep")
    assert (rule.created_by, rule.updated_by) == ("user:oncall", "user:oncall")
    assert list(rule.channels.values_list("name", flat=True)) == ["ops"]
    [change] = read_client.get(f"{CHANGES}?object_type=rule").json()["results"]
    assert (change["actor"], change["action"]) == ("user:oncall", "created")
    assert change["changes"]["channels"] == ["ops"] and change["changes"]["threshold"] == 100


def test_editing_what_a_pending_rule_watches_in_the_admin_starts_its_wait_over(oncall, read_client):
    rule, _ = firing_rule()
    AlertRule.objects.filter(pk=rule.pk).update(
        state="pending", pending_since=timezone.now() - timedelta(minutes=4)
    )

    response = oncall.post(
        f"{ADMIN}/alertrule/{rule.pk}/change/", rule_form(rule, metric_name="system.load")
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    rule.refresh_from_db()
    assert (rule.metric_name, rule.state, rule.pending_since) == ("system.load", "inactive", None)
    assert rule.updated_by == "user:oncall"
    [change] = read_client.get(f"{CHANGES}?object_type=rule&object_id={rule.pk}").json()["results"][
        :1
    ]
    assert (change["actor"], change["action"]) == ("user:oncall", "changed")
    assert change["changes"] == {"metric_name": "system.load"}


def test_deleting_a_rule_in_the_admin_resolves_its_open_incident(oncall):
    rule, incident = firing_rule()

    response = oncall.post(f"{ADMIN}/alertrule/{rule.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not AlertRule.objects.filter(pk=rule.pk).exists()
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_by) == ("resolved", "user:oncall")
    assert incident.resolution_notes == "the rule was deleted"
    assert list(incident.timeline.values_list("kind", "actor")) == [("resolved", "user:oncall")]


def test_the_bulk_delete_action_resolves_every_deleted_rules_incident(oncall, read_client):
    pairs = [firing_rule(f"rule {n}") for n in range(3)]

    response = oncall.post(
        f"{ADMIN}/alertrule/",
        {
            "action": "delete_selected",
            "_selected_action": [rule.pk for rule, _ in pairs],
            "post": "yes",
        },
    )

    assert response.status_code == 302
    assert not AlertRule.objects.exists()
    assert set(AlertIncident.objects.values_list("status", "resolved_by")) == {
        ("resolved", "user:oncall")
    }
    deleted = [line for line in trail(read_client) if line[1] == "deleted"]
    assert sorted(deleted) == [("user:oncall", "deleted", "rule", f"rule {n}") for n in range(3)]


def test_a_private_channel_target_is_refused_on_the_admin_form_with_a_message(
    oncall, settings, read_client
):
    settings.ALERTS_ALLOW_PRIVATE_WEBHOOKS = False
    form = {"name": "meta", "type": "webhook", "target": "http://127.0.0.1:9/hook", "secret": ""}

    response = oncall.post(f"{ADMIN}/alertchannel/add/", form)

    assert response.status_code == 200  # the form again, saying why
    assert "loopback address" in response.content.decode()
    assert not AlertChannel.objects.exists()

    channel = services.channel_create(
        data={"name": "mail", "type": "email", "target": "a@example.com"}, actor="key:setup"
    )
    response = oncall.post(f"{ADMIN}/alertchannel/{channel.pk}/change/", {**form, "name": "mail"})
    assert response.status_code == 200
    assert "loopback address" in response.content.decode()
    channel.refresh_from_db()
    assert (channel.type, channel.target) == ("email", "a@example.com")
    assert [line[1] for line in trail(read_client)] == ["created"]


def test_the_services_refuse_a_private_target_whoever_calls_them(settings):
    settings.ALERTS_ALLOW_PRIVATE_WEBHOOKS = False
    with pytest.raises(ValueError, match="loopback"):
        services.channel_create(
            data={"name": "x", "type": "webhook", "target": "http://127.0.0.1/"}, actor="system"
        )
    channel = services.channel_create(
        data={"name": "y", "type": "email", "target": "a@example.com"}, actor="system"
    )
    with pytest.raises(ValueError, match="loopback"):
        services.channel_update(
            channel=channel,
            data={"type": "webhook", "target": "http://[::1]/"},
            actor="system",
        )
    assert AlertChannel.objects.get().target == "a@example.com"


def test_every_admin_change_is_in_the_trail_as_the_staff_user(oncall, read_client):
    add = {"name": "pager", "type": "email", "target": "p@example.com", "secret": "hush"}
    assert oncall.post(f"{ADMIN}/alertchannel/add/", add).status_code == 302
    channel = AlertChannel.objects.get()
    change = {**add, "target": "q@example.com"}
    assert oncall.post(f"{ADMIN}/alertchannel/{channel.pk}/change/", change).status_code == 302
    now = timezone.now()
    silence = {
        "matchers": '{"severity": "info"}',
        "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": now.strftime("%H:%M:%S"),
        "ends_at_0": (now + timedelta(hours=2)).strftime("%Y-%m-%d"),
        "ends_at_1": (now + timedelta(hours=2)).strftime("%H:%M:%S"),
        "comment": "deploy",
    }
    response = oncall.post(f"{ADMIN}/silence/add/", silence)
    assert response.status_code == 302, response.content.decode()[-2000:]
    made = Silence.objects.get()
    assert made.created_by == "user:oncall"
    expire = {"action": "expire", "_selected_action": [made.pk]}
    assert oncall.post(f"{ADMIN}/silence/", expire).status_code == 302
    assert oncall.post(f"{ADMIN}/alertchannel/{channel.pk}/delete/", {"post": "yes"}).status_code
    made.refresh_from_db()
    assert made.ends_at <= timezone.now()  # ended, kept

    assert trail(read_client) == [
        ("user:oncall", "created", "channel", "pager"),
        ("user:oncall", "changed", "channel", "pager"),
        ("user:oncall", "created", "silence", f"#{made.pk}"),
        ("user:oncall", "expired", "silence", f"#{made.pk}"),
        ("user:oncall", "deleted", "channel", "pager"),
    ]
    assert not AlertChannel.objects.exists()


def test_a_disabled_rule_is_not_evaluated_from_the_admin_nor_the_api(oncall, admin_client):
    rule, _ = firing_rule()
    services.rule_update(rule=rule, data={"enabled": False}, actor="key:setup")

    page = oncall.post(f"{ADMIN}/alertrule/{rule.pk}/evaluate/", follow=True)
    answer = admin_client.post(f"/api/v1/analytics/alerts/rules/{rule.pk}/evaluate")

    assert "The rule is disabled" in page.content.decode()
    assert answer.status_code == 409 and "disabled" in answer.json()["detail"]
    rule.refresh_from_db()
    assert rule.last_evaluated_at is None
