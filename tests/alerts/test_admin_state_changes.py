"""State changes in the admin are POSTs with the CSRF token, never GETs.

`GET /admin/alerts/alertrule/<id>/evaluate/` used to evaluate the rule: a cross-site
link or image, sent with nothing but the staff member's session cookie, opened an
incident and queued its notification.
"""

import re

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from apps.alerts import services
from apps.alerts.models import AlertIncident, AlertRule, IncidentEvent

pytestmark = pytest.mark.django_db

# The URLs every ModelAdmin has (Django's own views guard their state changes).
STANDARD = ("_changelist", "_add", "_change", "_delete", "_history", "_autocomplete")


@pytest.fixture
def browser(django_user_model) -> Client:
    """A signed-in superuser's browser, with CSRF checked as in production."""
    user = django_user_model.objects.create_superuser(username="oncall", password="pw-1-oncall")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


@pytest.fixture
def firing_rule() -> AlertRule:
    """A rule that opens an incident when evaluated: no data counts as the condition."""
    return services.rule_create(
        data={
            "name": "queue deep",
            "metric_name": "never.recorded",
            "condition_operator": "gt",
            "threshold": 1,
            "no_data": "alert",
        },
        actor="key:setup",
    )


def evaluate_url(rule: AlertRule) -> str:
    return reverse("admin:alerts_alertrule_evaluate", args=[rule.pk])


def assert_not_evaluated(rule: AlertRule) -> None:
    rule.refresh_from_db()
    assert rule.last_evaluated_at is None and rule.state == "inactive"
    assert not AlertIncident.objects.exists() and not IncidentEvent.objects.exists()


def test_a_cross_site_get_of_evaluate_now_changes_nothing(browser, firing_rule):
    response = browser.get(evaluate_url(firing_rule))

    assert response.status_code == 405
    assert_not_evaluated(firing_rule)


def test_evaluate_now_posted_without_the_csrf_token_is_refused(browser, firing_rule):
    response = browser.post(evaluate_url(firing_rule))

    assert response.status_code == 403
    assert_not_evaluated(firing_rule)


def test_the_rule_pages_evaluate_now_button_posts_with_its_token(browser, firing_rule):
    page = browser.get(reverse("admin:alerts_alertrule_change", args=[firing_rule.pk]))
    html = page.content.decode()
    form = re.search(
        r'<form method="post" action="(?P<action>[^"]+/evaluate/)">\s*'
        r'<input type="hidden" name="csrfmiddlewaretoken" value="(?P<token>[^"]+)"',
        html,
    )
    assert form, "the rule page has no POST form for Evaluate now"

    response = browser.post(form["action"], {"csrfmiddlewaretoken": form["token"]}, follow=True)

    assert response.status_code == 200
    assert "deep: value no data, state firing" in response.content.decode()
    firing_rule.refresh_from_db()
    assert firing_rule.last_evaluated_at is not None
    assert AlertIncident.objects.filter(rule=firing_rule, status="open").count() == 1


def custom_admin_urls(pk: int) -> list[str]:
    """Every URL a ModelAdmin adds beside Django's own, with `pk` for its arguments."""
    urls = []
    for model_admin in admin.site._registry.values():
        for pattern in model_admin.get_urls():
            if pattern.name is None or pattern.name.endswith(STANDARD):
                continue
            kwargs = dict.fromkeys(pattern.pattern.converters, pk)
            urls.append(reverse(f"admin:{pattern.name}", kwargs=kwargs))
    return urls


def test_no_custom_admin_url_changes_state_on_a_get(browser, firing_rule):
    urls = custom_admin_urls(firing_rule.pk)
    assert evaluate_url(firing_rule) in urls

    for url in urls:
        response = browser.get(url)
        # A 405, a page that asks to confirm with a POST form, or a read (JSON).
        assert (
            response.status_code == 405
            or (response.status_code == 200 and 'method="post"' in response.content.decode())
            or response.get("Content-Type", "").startswith("application/json")
        ), url
    assert not AlertIncident.objects.exists()
