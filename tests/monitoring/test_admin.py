"""The admin writes monitored services through the same services as the API: a service
made there gets its alert rule, a deleted one takes its rule along, a built-in check
cannot be deleted (a message, not a 500)."""

import pytest

from apps.alerts.models import AlertIncident, AlertRule, ConfigChange
from apps.monitoring import checks, services
from apps.monitoring.models import MonitoredService
from tests.monitoring.admin_form import ADMIN
from tests.monitoring.admin_form import service_form as form

pytestmark = pytest.mark.django_db


def builtin_service() -> MonitoredService:
    return services.service_create(
        data={"name": "database", "check_type": "custom", "target": "database", "builtin": True},
        actor="system",
    )


def test_a_service_added_in_the_admin_gets_its_rule_and_follows_edits(oncall):
    added = oncall.post(f"{ADMIN}/add/", form())
    assert added.status_code == 302, added.content.decode()[:2000]
    service = MonitoredService.objects.get(name="api")
    assert service.created_by == "user:oncall"
    rule = AlertRule.objects.get(name="Service api is down")
    assert (rule.tags, rule.threshold, rule.created_by) == ({"service": "api"}, 4.0, "user:oncall")

    changed = oncall.post(f"{ADMIN}/{service.pk}/change/", form(name="web", failure_threshold=2))
    assert changed.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.tags, rule.threshold) == (
        "Service web is down",
        {"service": "web"},
        2.0,
    )
    assert ConfigChange.objects.filter(object_id=rule.pk, actor="user:oncall").count() == 3


def test_deleting_in_the_admin_removes_the_rule_and_resolves_its_incident(oncall):
    service = services.service_create(
        data={"name": "api", "check_type": "http", "target": "http://127.0.0.1:9/"},
        actor="user:oncall",
    )
    down = checks.Result("unhealthy", None, "refused")
    for _ in range(3):
        services.check_record(service.pk, down, at=service.created_at)
    incident = AlertIncident.objects.get(rule_name="Service api is down")

    deleted = oncall.post(f"{ADMIN}/{service.pk}/delete/", {"post": "yes"})

    assert deleted.status_code == 302
    assert not MonitoredService.objects.filter(name="api").exists()
    assert not AlertRule.objects.filter(name="Service api is down").exists()
    incident.refresh_from_db()
    assert (incident.status, incident.resolution_notes) == ("resolved", "the rule was deleted")


def test_a_builtin_check_cannot_be_deleted_in_the_admin(oncall):
    database = builtin_service()

    page = oncall.get(f"{ADMIN}/{database.pk}/delete/", follow=True)
    posted = oncall.post(f"{ADMIN}/{database.pk}/delete/", {"post": "yes"}, follow=True)

    for response in (page, posted):
        assert response.status_code == 200
        assert "A built-in check cannot be deleted" in response.content.decode()
    assert MonitoredService.objects.filter(pk=database.pk).exists()
    assert AlertRule.objects.filter(name="Service database is down").exists()


def test_bulk_delete_goes_through_the_services_and_refuses_builtin_checks(oncall):
    database = builtin_service()
    api = services.service_create(
        data={"name": "api", "check_type": "tcp", "target": "127.0.0.1:9"}, actor="system"
    )
    action = {"action": "delete_selected", "post": "yes"}

    refused = oncall.post(
        f"{ADMIN}/", {**action, "_selected_action": [database.pk, api.pk]}, follow=True
    )
    assert "cannot be deleted; set enabled to false. (database)" in refused.content.decode()
    assert MonitoredService.objects.count() == 2

    done = oncall.post(f"{ADMIN}/", {**action, "_selected_action": [api.pk]}, follow=True)
    assert done.status_code == 200
    assert list(MonitoredService.objects.values_list("name", flat=True)) == ["database"]
    assert not AlertRule.objects.filter(name="Service api is down").exists()


def test_the_admin_refuses_what_the_api_refuses(oncall):
    refused = oncall.post(f"{ADMIN}/add/", form(target="ftp://x/", timeout_seconds=60))
    assert refused.status_code == 200  # the form again, with the errors
    assert "An http:// or https:// URL." in refused.content.decode()
    assert not MonitoredService.objects.exists() and not AlertRule.objects.exists()
