"""Triage in the admin: the issues list, its bulk actions, an issue's page."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse

from apps.errors.models import ErrorLog, Issue
from tests.issues.helpers import PY_TRACE, error, ship

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:errors_issue_changelist")


@pytest.fixture
def issues(ingest_client) -> list[Issue]:
    ship(
        ingest_client,
        [
            error(stack_trace=PY_TRACE.format(line=1, key="k"), context={"release": "1.0"}),
            error(stack_trace=PY_TRACE.format(line=2, key="j")),
            error("Disk full", category="database", severity="critical"),
        ],
    )
    return list(Issue.objects.order_by("-last_seen"))


def test_the_issues_list_shows_the_24h_count_and_filters(triager, issues):
    page = triager.get(CHANGELIST)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Order 1234 not found" in text and "Disk full" in text
    assert 'class="field-count_24h">2<' in text
    for query, shown, hidden in [
        ("status__exact=unresolved", "Disk full", None),
        ("category__exact=database", "Disk full", "Order 1234"),
        ("severity__exact=error", "Order 1234", "Disk full"),
        ("release=1.0", "Order 1234", "Disk full"),
    ]:
        text = triager.get(f"{CHANGELIST}?{query}").content.decode()
        assert shown in text
        if hidden:
            assert hidden not in text


@pytest.mark.parametrize(("action", "status"), [("resolve", "resolved"), ("ignore", "ignored")])
def test_bulk_actions_call_the_services(triager, issues, action, status):
    ids = [str(i.pk) for i in issues]
    response = triager.post(CHANGELIST, {"action": action, ACTION_CHECKBOX_NAME: ids})
    assert response.status_code == 302
    assert set(Issue.objects.values_list("status", flat=True)) == {status}
    assert all(i.activities.filter(kind=status, actor="oncall").exists() for i in issues)
    assert ErrorLog.objects.filter(resolved=True).count() == (3 if status == "resolved" else 0)

    triager.post(CHANGELIST, {"action": "unresolve", ACTION_CHECKBOX_NAME: ids})
    assert set(Issue.objects.values_list("status", flat=True)) == {"unresolved"}


def test_without_the_change_permission_there_is_no_action(client, django_user_model, issues):
    viewer = django_user_model.objects.create_user(username="v", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_issue"))
    client.force_login(viewer)
    assert b'value="resolve"' not in client.get(CHANGELIST).content
    client.post(CHANGELIST, {"action": "resolve", ACTION_CHECKBOX_NAME: [issues[0].pk]})
    assert not Issue.objects.filter(status="resolved").exists()


def test_an_issue_page_shows_its_stack_trace_chart_timeline_and_events_link(triager, issues):
    issue = Issue.objects.get(title="Order 1234 not found")
    page = triager.get(reverse("admin:errors_issue_change", args=[issue.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Traceback (most recent call last)" in text and "load_order" in text
    assert '<svg class="issue-chart"' in text and "<rect" in text
    assert "first seen" in text
    events = reverse("admin:errors_errorlog_changelist") + f"?fingerprint={issue.fingerprint}"
    assert events in text
    listed = triager.get(events)
    assert listed.status_code == 200
    assert listed.content.decode().count('class="field-short_message"') == 2
