"""The alerting API as its clients use it: access, validation, who changed what."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.test import APIClient

from apps.alerts import services
from apps.alerts.models import AlertIncident, AlertRule, ConfigChange, IncidentStatus
from tests.alerts.conftest import CHANNELS, INCIDENTS, RULES, SILENCES, rule_body
from tests.helpers import post_json

pytestmark = pytest.mark.django_db


def test_admin_key_creates_a_rule_with_the_replaced_body_and_defaults(admin_client):
    response = post_json(admin_client, RULES, rule_body())

    assert response.status_code == 201, response.content
    rule = response.json()
    assert rule["id"] > 0
    assert {k: rule[k] for k in rule_body()} == rule_body()
    assert rule["aggregation"] == "avg" and rule["window_seconds"] == 300
    assert rule["repeat_interval_seconds"] == 4 * 3600 and rule["no_data"] == "keep_state"
    assert rule["state"] == "inactive" and rule["trigger_count"] == 0
    assert rule["created_by"] == rule["updated_by"] == "key:oncall-bot"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"condition_operator": "above"}, "condition_operator"),
        ({"aggregation": "median"}, "aggregation"),
        ({"duration_seconds": -1}, "duration_seconds"),
        ({"window_seconds": 0}, "window_seconds"),
        ({"window_seconds": -60}, "window_seconds"),
        ({"severity": "fatal"}, "severity"),
        ({"channels": ["nowhere"]}, "channels"),
        ({"threshold": "NaN"}, "threshold"),
        ({"threshold": 1e300}, "threshold"),
        ({"tags": {"bad tag": "x"}}, "tags"),
        ({"resolve_threshold": 95}, "resolve_threshold"),  # above a gt threshold: no hysteresis
        ({"treshold": 5}, "treshold"),
        ({"state": "firing"}, "state"),
    ],
)
def test_bad_rule_input_is_a_400_naming_the_field(admin_client, change, field):
    response = post_json(admin_client, RULES, rule_body(**change))

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not AlertRule.objects.exists()


def test_duplicate_rule_name_is_a_400(admin_client):
    post_json(admin_client, RULES, rule_body())
    response = post_json(admin_client, RULES, rule_body(threshold=50))
    assert response.status_code == 400
    assert "name" in response.json()["fields"]


def test_unknown_metric_is_allowed(admin_client):
    response = post_json(admin_client, RULES, rule_body(metric_name="not.recorded.yet"))
    assert response.status_code == 201


def test_get_patch_delete_a_rule(admin_client, read_client):
    rule = post_json(admin_client, RULES, rule_body()).json()
    url = f"{RULES}/{rule['id']}"

    assert read_client.get(url).json()["name"] == "cpu high"
    assert [r["name"] for r in read_client.get(RULES).json()] == ["cpu high"]
    changed = admin_client.patch(url, {"threshold": 95, "enabled": False}, format="json")
    assert changed.status_code == 200
    assert (changed.json()["threshold"], changed.json()["enabled"]) == (95, False)
    assert admin_client.delete(url).status_code == 204
    assert admin_client.get(url).status_code == 404


def test_access_by_credential(read_client, ingest_client, admin_client):
    assert APIClient().get(RULES).status_code == 401
    assert ingest_client.get(RULES).status_code == 403
    assert read_client.get(RULES).status_code == 200
    assert post_json(read_client, RULES, rule_body()).status_code == 403
    assert post_json(ingest_client, RULES, rule_body()).status_code == 403
    assert post_json(admin_client, RULES, rule_body()).status_code == 201


def test_staff_needs_the_model_permission_to_change(staff_user):
    client = APIClient()
    client.force_login(staff_user)
    assert client.get(RULES).status_code == 200
    assert post_json(client, RULES, rule_body()).status_code == 403

    staff_user.user_permissions.add(Permission.objects.get(codename="change_alertrule"))
    client.force_login(type(staff_user).objects.get(pk=staff_user.pk))
    response = post_json(client, RULES, rule_body())
    assert response.status_code == 201
    assert response.json()["created_by"] == "user:oncall"
    url = f"{RULES}/{response.json()['id']}"
    assert client.delete(url).status_code == 403  # deleting is its own permission
    staff_user.user_permissions.add(Permission.objects.get(codename="delete_alertrule"))
    client.force_login(type(staff_user).objects.get(pk=staff_user.pk))
    assert client.delete(url).status_code == 204


def test_ids_beyond_any_row_are_404_not_500(admin_client):
    assert admin_client.get(f"{RULES}/99999999999999999999999").status_code == 404
    assert admin_client.get(f"{INCIDENTS}/9223372036854775808").status_code == 404


def test_channel_secret_is_write_only_and_private_targets_refused(admin_client, settings):
    settings.ALERTS_ALLOW_PRIVATE_WEBHOOKS = False
    refused = post_json(
        admin_client,
        CHANNELS,
        {"name": "ops", "type": "webhook", "target": "http://127.0.0.1:9/hook"},
    )
    assert refused.status_code == 400
    assert "target" in refused.json()["fields"]

    mail = post_json(
        admin_client,
        CHANNELS,
        {"name": "ops-mail", "type": "email", "target": "oncall@example.com", "secret": "s3"},
    )
    assert mail.status_code == 201
    assert "secret" not in mail.json() and mail.json()["has_secret"] is True
    bad_mail = post_json(
        admin_client, CHANNELS, {"name": "m2", "type": "email", "target": "not-an-address"}
    )
    assert bad_mail.status_code == 400


def test_rules_name_channels_and_unknown_ones_are_refused(admin_client):
    post_json(
        admin_client, CHANNELS, {"name": "ops-mail", "type": "email", "target": "a@example.com"}
    )
    rule = post_json(admin_client, RULES, rule_body(channels=["ops-mail"])).json()
    assert rule["channels"] == ["ops-mail"]


def open_incident(name: str = "cpu high") -> AlertIncident:
    rule = AlertRule.objects.create(
        name=name, metric_name="m", condition_operator="gt", threshold=1, state="firing"
    )
    return AlertIncident.objects.create(
        rule=rule,
        rule_name=rule.name,
        severity="critical",
        metric_value=5,
        threshold=1,
        condition_operator="gt",
        triggered_at=timezone.now(),
    )


def test_incident_triage_records_who_and_refuses_nonsense(admin_client, read_client):
    incident = open_incident()
    url = f"{INCIDENTS}/{incident.pk}"

    assert [i["id"] for i in read_client.get(INCIDENTS).json()["results"]] == [incident.pk]
    acked = post_json(admin_client, f"{url}/acknowledge", {})
    assert acked.status_code == 200
    assert (acked.json()["status"], acked.json()["acknowledged_by"]) == (
        "acknowledged",
        "key:oncall-bot",
    )
    resolved = post_json(admin_client, f"{url}/resolve", {"note": "restarted the box"})
    assert resolved.status_code == 200
    body = resolved.json()
    assert (body["status"], body["resolution_notes"]) == ("resolved", "restarted the box")
    assert [e["kind"] for e in body["timeline"]] == ["acknowledged", "resolved"]
    assert body["timeline"][1]["actor"] == "key:oncall-bot"

    again = post_json(admin_client, f"{url}/acknowledge", {})
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    assert post_json(read_client, f"{url}/resolve", {}).status_code == 403
    assert post_json(admin_client, f"{INCIDENTS}/999999/acknowledge", {}).status_code == 404
    # Resolved incidents leave the default list and show with ?status=resolved.
    assert read_client.get(INCIDENTS).json()["results"] == []
    assert len(read_client.get(f"{INCIDENTS}?status=resolved").json()["results"]) == 1


@pytest.mark.parametrize(
    "query",
    ["status=bogus", "severity=loud", "rule=abc", "since=yesterday", "status=", "rule=0"],
)
def test_bad_incident_filters_are_400(read_client, query):
    response = read_client.get(f"{INCIDENTS}?{query}")
    assert response.status_code == 400
    assert response.json()["fields"]


def test_incident_filters(read_client):
    a = open_incident("a")
    b = open_incident("b")
    AlertIncident.objects.filter(pk=b.pk).update(severity="info")

    def ids(query: str) -> list[int]:
        return [i["id"] for i in read_client.get(f"{INCIDENTS}?{query}").json()["results"]]

    assert ids("severity=info") == [b.pk]
    assert ids(f"rule={a.rule_id}") == [a.pk]
    assert sorted(ids("status=open,acknowledged")) == sorted([a.pk, b.pk])
    future = (timezone.now() + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"since={future}") == []


def test_silences_create_list_and_expire(admin_client, read_client):
    ends = (timezone.now() + timedelta(hours=2)).isoformat()
    created = post_json(
        admin_client,
        SILENCES,
        {"matchers": {"rule_name": "cpu high"}, "ends_at": ends, "comment": "maintenance"},
    )
    assert created.status_code == 201, created.content
    silence = created.json()
    assert silence["active"] is True and silence["created_by"] == "key:oncall-bot"
    assert [s["id"] for s in read_client.get(SILENCES).json()] == [silence["id"]]

    expired = admin_client.delete(f"{SILENCES}/{silence['id']}")
    assert expired.status_code == 200 and expired.json()["active"] is False
    assert read_client.get(SILENCES).json() == []
    assert len(read_client.get(f"{SILENCES}?include_expired=true").json()) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"matchers": {"colour": "red"}, "ends_at": "2030-01-01T00:00:00Z"},
        {"matchers": {}, "ends_at": "2030-01-01T00:00:00Z"},
        {"matchers": {"severity": "loud"}, "ends_at": "2030-01-01T00:00:00Z"},
        {"matchers": {"rule_name": "x"}, "ends_at": "2000-01-01T00:00:00Z"},
        {"matchers": {"rule_name": "x"}},
    ],
)
def test_bad_silences_are_400(admin_client, body):
    assert post_json(admin_client, SILENCES, body).status_code == 400


def test_a_manual_resolve_lets_a_still_firing_rule_open_a_new_linked_incident():
    incident = open_incident()
    services.incident_resolve(incident_id=incident.pk, actor="user:amy")
    rule = AlertRule.objects.get(pk=incident.rule_id)
    assert rule.state == "inactive"
    assert AlertIncident.objects.get(pk=incident.pk).status == IncidentStatus.RESOLVED


def test_prometheus_exposes_alerting_figures(read_client):
    open_incident("a")
    acked = open_incident("b")
    AlertIncident.objects.filter(pk=acked.pk).update(status="acknowledged", severity="warning")

    text = read_client.get("/metrics").content.decode()

    assert 'analytics_alert_incidents{severity="critical",status="open"} 1.0' in text
    assert 'analytics_alert_incidents{severity="warning",status="acknowledged"} 1.0' in text
    assert 'analytics_alert_incidents{severity="info",status="silenced"} 0.0' in text
    assert 'analytics_alert_rules{state="firing"} 2.0' in text
    assert 'analytics_alert_deliveries{status="pending"} 0.0' in text


def test_every_configuration_change_is_in_the_trail(admin_client, read_client):
    channel = post_json(
        admin_client,
        CHANNELS,
        {"name": "ops-mail", "type": "email", "target": "a@example.com", "secret": "hush"},
    ).json()
    rule = post_json(admin_client, RULES, rule_body(channels=["ops-mail"])).json()
    admin_client.patch(f"{RULES}/{rule['id']}", {"threshold": 95}, format="json")
    ends = (timezone.now() + timedelta(hours=1)).isoformat()
    silence = post_json(
        admin_client, SILENCES, {"matchers": {"severity": "info"}, "ends_at": ends}
    ).json()
    admin_client.delete(f"{SILENCES}/{silence['id']}")
    admin_client.delete(f"{RULES}/{rule['id']}")
    admin_client.delete(f"{CHANNELS}/{channel['id']}")

    changes = read_client.get("/api/v1/analytics/alerts/changes").json()["results"]

    trail = [(c["action"], c["object_type"], c["object_name"]) for c in reversed(changes)]
    assert trail == [
        ("created", "channel", "ops-mail"),
        ("created", "rule", "cpu high"),
        ("changed", "rule", "cpu high"),
        ("created", "silence", f"#{silence['id']}"),
        ("expired", "silence", f"#{silence['id']}"),
        ("deleted", "rule", "cpu high"),
        ("deleted", "channel", "ops-mail"),
    ]
    assert {c["actor"] for c in changes} == {"key:oncall-bot"}
    assert changes[-1]["changes"]["secret"] == "(set)"  # never the secret itself
    assert changes[-2]["changes"]["channels"] == ["ops-mail"]
    assert changes[-3]["changes"] == {"threshold": 95.0}
    rule_only = read_client.get(
        f"/api/v1/analytics/alerts/changes?object_type=rule&object_id={rule['id']}"
    ).json()["results"]
    assert [c["action"] for c in rule_only] == ["deleted", "changed", "created"]
    assert read_client.get("/api/v1/analytics/alerts/changes?object_type=x").status_code == 400


def test_admin_changes_are_in_the_trail_too(django_user_model):
    from django.test import Client

    root = django_user_model.objects.create_superuser(username="root", password="pw-root-123")
    client = Client()
    client.force_login(root)
    response = client.post(
        "/admin/alerts/alertchannel/add/",
        {"name": "pager", "type": "email", "target": "p@example.com", "secret": ""},
    )
    assert response.status_code == 302
    [change] = ConfigChange.objects.all()
    assert (change.actor, change.action, change.object_name) == ("user:root", "created", "pager")


def test_the_admin_form_refuses_a_private_webhook_target(django_user_model, settings):
    from django.test import Client

    settings.ALERTS_ALLOW_PRIVATE_WEBHOOKS = False
    root = django_user_model.objects.create_superuser(username="root", password="pw-root-123")
    client = Client()
    client.force_login(root)
    response = client.post(
        "/admin/alerts/alertchannel/add/",
        {"name": "meta", "type": "webhook", "target": "http://169.254.169.254/latest"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "link-local" in response.content.decode() or "169.254" in response.content.decode()
    assert not ConfigChange.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"name": "x", "metric_name": "m", "condition_operator": "gt", "threshold": NaN}',
        b"\xff\xfe",
    ],
)
def test_bodies_nested_too_deep_or_not_json_are_400_not_500(admin_client, body):
    response = admin_client.generic("POST", RULES, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid" or "parse" in response.json()["detail"]


@pytest.mark.parametrize("cursor", ["bz0xJnA9eHl6", "cD1ub3QtYS1kYXRl", "%00", "not-base64"])
def test_crafted_cursors_are_404(read_client, cursor):
    for path in (INCIDENTS, "/api/v1/analytics/alerts/changes"):
        response = read_client.get(f"{path}?cursor={cursor}")
        assert response.status_code in (400, 404), (path, cursor)
        assert response["Content-Type"] == "application/json"
