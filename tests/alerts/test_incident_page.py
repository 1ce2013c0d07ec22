"""The incident page and list as on-call staff use them, in headless Chromium: the rule's
metric drawn around the incident from points recorded through the ingest path, the
triage buttons, and the list refreshing itself. Screenshots: .screenshots/incident-*."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from apps.alerts import selectors
from apps.alerts.admin import AlertIncidentAdmin
from apps.alerts.models import AlertIncident, AlertRule, IncidentEvent, Silence
from apps.metrics.rollups import rollup_pending
from tests.helpers import drain_outbox, iso, post_json


def live(test):
    """A test in Chromium on the live server (tests/browser.py)."""
    marks = (pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120))
    for mark in marks:
        test = mark(test)
    return test


RECORD = "/api/v1/analytics/metrics/record"
INCIDENTS = "/admin/alerts/alertincident/"


def record(client, items) -> None:
    """Points through the ingest API, stored and rolled up as the workers would."""
    response = post_json(client, RECORD, items)
    assert response.status_code == 202, response.content
    drain_outbox()
    rollup_pending()


def cpu_readings(client, now, *, host: str = "web-1", minutes: int = 60) -> None:
    """One reading a minute: 40 % until 30 minutes ago, then 97 %; another host at 5 %."""
    items = [
        {
            "metric_name": "system.cpu_percent",
            "value": 97.0 if m < 30 else 40.0 + m % 3,
            "tags": {"host": host},
            "timestamp": iso(now - timedelta(minutes=m, seconds=20)),
        }
        for m in range(minutes)
    ]
    items += [
        {
            "metric_name": "system.cpu_percent",
            "value": 5.0,
            "tags": {"host": "other"},
            "timestamp": iso(now - timedelta(minutes=m, seconds=20)),
        }
        for m in range(0, minutes, 5)
    ]
    record(client, items)


def firing(name: str = "cpu high", *, metric: str = "system.cpu_percent", ago=30, **rule):
    """A rule and its open incident, fired `ago` minutes ago, with its fired line."""
    fields = {
        "metric_name": metric,
        "tags": {"host": "web-1"},
        "aggregation": "avg",
        "condition_operator": "gt",
        "threshold": 90,
        "resolve_threshold": 80,
        "duration_seconds": 300,
        "window_seconds": 300,
        "severity": "critical",
        "state": "firing",
        **rule,
    }
    rule = AlertRule.objects.create(name=name, **fields)
    at = timezone.now() - timedelta(minutes=ago)
    incident = AlertIncident.objects.create(
        rule=rule,
        rule_name=name,
        severity=rule.severity,
        metric_value=97.0,
        last_value=97.0,
        threshold=rule.threshold,
        condition_operator=rule.condition_operator,
        triggered_at=at,
    )
    IncidentEvent.objects.create(
        incident=incident, kind="fired", at=at, actor="system", detail="avg = 97.0 (gt 90)"
    )
    return incident


def page_of(incident) -> str:
    return f"{INCIDENTS}{incident.pk}/change/"


@pytest.fixture
def page(browser, browser_superuser):
    return browser.page(browser_superuser)


@pytest.fixture
def superuser_client(client, browser_superuser):
    """A superuser's admin session (this package's `admin_client` is an API key's)."""
    client.force_login(browser_superuser)
    return client


# --- the chart ------------------------------------------------------------------------


@live
def test_the_chart_draws_the_rule_metric_with_its_thresholds_and_moments(
    browser, page, ingest_client
):
    now = timezone.now()
    cpu_readings(ingest_client, now)
    incident = firing()

    page.goto(browser.url(page_of(incident)))
    page.wait_for_selector("#incident-chart .uplot")

    answer = page.evaluate(
        "fetch(document.getElementById('incident-chart').dataset.src).then(r => r.json())"
    )
    drawn = page.evaluate("Console.charts.incident.data")
    labels = page.evaluate("Console.charts.incident.series.map(s => s.label)")
    # The series: as many points as the JSON answer, with its values; only host web-1.
    assert len(drawn[0]) == len(answer["points"]) > 40
    assert drawn[0] == [p[0] for p in answer["points"]]
    assert drawn[1] == [p[1] for p in answer["points"]]
    assert max(v for v in drawn[1] if v is not None) == pytest.approx(97.0)
    assert min(v for v in drawn[1] if v is not None) >= 40.0  # host "other" is filtered out
    # The threshold and the resolve threshold as horizontal lines.
    assert labels[2] == "threshold (> 90.0 %)" and set(drawn[2]) == {90}
    assert labels[3] == "resolves past 80.0 %" and set(drawn[3]) == {80}
    # The same buckets as the public metrics API answers for that query.
    public = page.evaluate(f"fetch({answer['api']!r}).then(r => r.json())")
    assert [b["value"] for b in public["buckets"]] == drawn[1]
    # The moments: pending (the rule's 5 min wait) and firing, listed and drawn.
    marks = page.locator("#incident-marks li").all_inner_texts()
    assert marks[0].startswith("pending") and marks[1].startswith("firing"), marks
    assert "UTC" in marks[1] and "by system" in marks[1]
    assert answer["interval"] == "1m" and answer["unit"] == "%"
    # Hovering shows UTC and the viewer's local time, the value with its unit.
    box = page.locator("#incident-chart .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    legend = page.text_content("#incident-chart .u-legend")
    assert "UTC (" in legend and " local)" in legend and " %" in legend, legend
    browser.shoot(page, "incident-page")


@live
def test_a_metric_with_no_point_shows_a_sentence_and_what_to_send(browser, page):
    incident = firing("queue deep", metric="queue.depth", tags={}, resolve_threshold=None)

    page.goto(browser.url(page_of(incident)))
    page.wait_for_selector("#incident-chart .console-empty")

    text = page.text_content("#incident-chart")
    assert "No point of queue.depth between" in text
    assert 'curl -H "X-API-Key: $INGEST_KEY"' in text and '"metric_name": "queue.depth"' in text
    assert page.locator("#incident-chart .uplot").count() == 0  # never a blank chart
    browser.shoot(page, "incident-page-empty")


@pytest.mark.django_db
def test_an_incident_whose_rule_was_deleted_says_why_there_is_no_chart(superuser_client):
    incident = firing()
    incident.rule.delete()

    answer = superuser_client.get(f"{INCIDENTS}{incident.pk}/chart/").json()

    assert answer["available"] is False
    assert "rule of this incident was deleted" in answer["reason"]
    assert [m["label"] for m in answer["marks"]] == ["firing"]


@pytest.mark.django_db
def test_a_long_incident_is_drawn_in_100_to_300_points():
    incident = firing(ago=3 * 24 * 60)  # open for 3 days

    answer = selectors.incident_chart(incident=incident)

    assert 100 <= len(answer["points"]) <= 301
    assert answer["interval"] == "15m"


@pytest.mark.django_db
def test_a_rate_rule_is_drawn_per_second_and_a_count_per_rule_window(ingest_client):
    now = timezone.now()
    items = [
        {"metric_name": "jobs.done", "value": 6, "timestamp": iso(now - timedelta(minutes=m))}
        for m in range(1, 20)
    ]
    record(ingest_client, items)
    rate = firing("jobs rate", metric="jobs.done", tags={}, aggregation="rate", ago=5)
    count = firing("jobs count", metric="jobs.done", tags={}, aggregation="count", ago=5)

    per_second = selectors.incident_chart(incident=rate)
    per_window = selectors.incident_chart(incident=count)

    # One point of 6 a minute: 0.1 per second; one point a minute is 5 per 300 s window.
    assert per_second["interval"] == "1m" and per_second["unit"] == "/s"
    rates = [p[1] for p in per_second["points"] if p[1] is not None]
    assert len(rates) >= 15 and rates == pytest.approx([0.1] * len(rates))
    assert {p[1] for p in per_window["points"] if p[1] is not None} == {5}
    assert "x 5" in per_window["note"]


@pytest.mark.django_db
def test_a_rule_the_health_checks_evaluate_says_so_under_its_chart():
    incident = firing("services down", metric="health.services_down", tags={}, threshold=1)

    answer = selectors.incident_chart(incident=incident)

    assert answer["available"] and answer["measured_elsewhere"] is True
    assert answer["metric_name"] == "health.services_down"


# --- the buttons ----------------------------------------------------------------------


@live
def test_acknowledge_then_silence_from_the_page_show_in_the_timeline(browser, page):
    incident = firing()

    page.goto(browser.url(page_of(incident)))
    with page.expect_navigation():
        page.click("#incident-acknowledge")

    assert f"Incident #{incident.pk} acknowledged." in page.inner_text(".messagelist")
    timeline = page.locator("#timeline-group").inner_text()
    assert "acknowledged" in timeline and "user:oncall" in timeline
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == ("acknowledged", "user:oncall")
    assert page.locator("#incident-acknowledge").count() == 0  # done: not offered again
    page.wait_for_selector("#incident-marks li[data-kind=acknowledged]")

    with page.expect_navigation():
        page.click("#incident-actions button[value='4h']")

    assert "silenced for 4h" in page.inner_text(".messagelist")
    [silence] = Silence.objects.all()
    assert silence.matchers == {"rule_name": "cpu high"} and silence.created_by == "user:oncall"
    assert (
        timedelta(hours=3, minutes=59) < silence.ends_at - silence.starts_at <= timedelta(hours=4)
    )
    assert f"silence #{silence.pk}" in page.locator("#timeline-group").inner_text()
    browser.shoot(page, "incident-page-acknowledged")


@live
def test_resolve_with_a_note_from_the_page(browser, page):
    incident = firing()

    page.goto(browser.url(page_of(incident)))
    page.fill("#incident-note", "restarted the worker")
    with page.expect_navigation():
        page.click("#incident-resolve")

    assert f"Incident #{incident.pk} resolved." in page.inner_text(".messagelist")
    assert "restarted the worker" in page.locator("#timeline-group").inner_text()
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_by) == ("resolved", "user:oncall")
    assert incident.resolution_notes == "restarted the worker"
    assert page.locator("#incident-actions").count() == 0  # resolved: nothing left to do
    page.wait_for_selector("#incident-marks li[data-kind=resolved]")
    browser.shoot(page, "incident-page-resolved")


@pytest.mark.django_db
def test_a_get_on_an_action_url_changes_nothing(superuser_client):
    incident = firing()

    for action in ("acknowledge", "resolve", "silence"):
        response = superuser_client.get(f"{INCIDENTS}{incident.pk}/{action}/?duration=1h")
        assert response.status_code == 405, action

    incident.refresh_from_db()
    assert incident.status == "open" and not Silence.objects.exists()
    assert list(incident.timeline.values_list("kind", flat=True)) == ["fired"]


@pytest.mark.django_db
def test_a_post_without_the_csrf_token_is_refused(browser_superuser):
    from django.test import Client

    incident = firing()
    client = Client(enforce_csrf_checks=True)
    client.force_login(browser_superuser)

    response = client.post(f"{INCIDENTS}{incident.pk}/acknowledge/")

    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == "open"


@pytest.mark.django_db
def test_staff_who_may_only_view_see_no_buttons_and_are_refused(client, django_user_model):
    viewer = django_user_model.objects.create_user(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_alertincident"))
    incident = firing()
    client.force_login(viewer)

    page = client.get(page_of(incident))
    assert page.status_code == 200
    assert b'id="incident-chart"' in page.content
    assert b"incident-actions" not in page.content
    assert b">Acknowledge</button>" not in page.content and b">Resolve</button>" not in page.content
    assert client.get(f"{INCIDENTS}{incident.pk}/chart/").status_code == 200
    for action, body in (("acknowledge", {}), ("resolve", {"note": "x"}), ("silence", {})):
        assert client.post(f"{INCIDENTS}{incident.pk}/{action}/", body).status_code == 403
    assert client.post(f"{INCIDENTS}{incident.pk}/silence/", {"duration": "1h"}).status_code == 403

    incident.refresh_from_db()
    assert incident.status == "open" and not Silence.objects.exists()


@pytest.mark.django_db
def test_staff_who_may_not_view_incidents_get_no_chart(client, django_user_model):
    other = django_user_model.objects.create_user(username="other", is_staff=True)
    incident = firing()
    client.force_login(other)

    assert client.get(f"{INCIDENTS}{incident.pk}/chart/").status_code == 403


# --- the list -------------------------------------------------------------------------


@live
def test_the_list_shows_a_new_incident_without_a_reload_unless_a_row_is_ticked(
    browser, page, monkeypatch
):
    monkeypatch.setattr(AlertIncidentAdmin, "list_refresh_seconds", 1)
    first = firing("cpu high")
    page.goto(browser.url(INCIDENTS))
    page.evaluate("window.notReloaded = true")

    firing("disk full", metric="system.disk_percent")
    page.wait_for_selector("#result_list tr:has-text('disk full')", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True  # swapped in place, not reloaded
    assert "Updated" in page.inner_text("#incident-list-refresh")

    # A ticked row holds the list still, so an action is never interrupted.
    page.check(f"input[name=_selected_action][value='{first.pk}']")
    firing("memory full", metric="system.memory_percent")
    page.wait_for_timeout(2_500)
    assert page.locator("#result_list tr:has-text('memory full')").count() == 0
    assert page.is_checked(f"input[name=_selected_action][value='{first.pk}']")
    page.uncheck(f"input[name=_selected_action][value='{first.pk}']")
    page.wait_for_selector("#result_list tr:has-text('memory full')", timeout=10_000)

    # The swapped-in rows still run actions.
    page.check(f"input[name=_selected_action][value='{first.pk}']")
    assert "1 of 3 selected" in page.inner_text(".action-counter")
    page.select_option("select[name=action]", label="Acknowledge")
    with page.expect_navigation():
        page.click("button[name=index]")
    assert "1 incident(s) acknowledged." in page.inner_text(".messagelist")
    browser.shoot(page, "incident-list")


@pytest.mark.django_db
def test_the_lists_own_refresh_leaves_a_message_to_the_page_it_was_meant_for(superuser_client):
    incident = firing()
    superuser_client.post(f"{INCIDENTS}{incident.pk}/acknowledge/")  # queues the message
    said = f"Incident #{incident.pk} acknowledged.".encode()

    refreshed = superuser_client.get(INCIDENTS, HTTP_X_INCIDENT_LIST_REFRESH="1")

    assert refreshed.status_code == 200 and said not in refreshed.content
    assert said in superuser_client.get(page_of(incident)).content
