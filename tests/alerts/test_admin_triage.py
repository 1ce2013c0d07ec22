"""The on-call screens in a real headless Chromium: list, actions, incident page, rule page.

Screenshots go to the test's tmp_path (look at them when a screen changes).
"""

import pytest
from django.utils import timezone

from apps.alerts.models import AlertIncident, AlertRule, IncidentEvent, Silence

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def page(browser, browser_superuser):
    return browser.page(browser_superuser, viewport={"width": 1400, "height": 900})


def incident(name: str, severity: str, value: float, **fields) -> AlertIncident:
    rule = AlertRule.objects.create(
        name=name,
        metric_name="system.cpu_percent",
        condition_operator="gt",
        threshold=90,
        severity=severity,
        state="firing",
    )
    return AlertIncident.objects.create(
        rule=rule,
        rule_name=name,
        severity=severity,
        metric_value=value,
        last_value=value,
        threshold=90,
        condition_operator="gt",
        triggered_at=timezone.now() - timezone.timedelta(minutes=42),
        **fields,
    )


def run_action(page, incident_id: int, label: str) -> None:
    page.check(f"input[name=_selected_action][value='{incident_id}']")
    page.select_option("select[name=action]", label=label)
    page.click("button[name=index]")


def test_triage_from_the_incident_list(page, live_server, tmp_path):
    cpu = incident("cpu high", "critical", 97.5)
    disk = incident("disk full", "warning", 93)
    url = f"{live_server.url}/admin/alerts/alertincident/"

    page.goto(url)
    page.screenshot(path=tmp_path / "incident-list.png", full_page=True)
    assert "Analytics" in page.inner_text("#site-name")
    row = page.locator("#result_list tbody tr", has_text="cpu high")
    assert "CRITICAL" in row.inner_text()
    assert "97.5 > 90" in row.inner_text()
    assert "42" in row.locator(".field-age").inner_text()
    assert page.locator("#changelist-filter").is_visible()

    run_action(page, cpu.pk, "Acknowledge")
    assert "1 incident(s) acknowledged." in page.inner_text(".messagelist")
    cpu.refresh_from_db()
    assert (cpu.status, cpu.acknowledged_by) == ("acknowledged", "user:oncall")

    run_action(page, disk.pk, "Silence 4 h")
    assert "silenced for 4h" in page.inner_text(".messagelist")
    disk.refresh_from_db()
    assert disk.status == "silenced"
    [silence] = Silence.objects.all()
    assert silence.matchers == {"rule_name": "disk full"} and silence.created_by == "user:oncall"

    page.fill("#searchbar", "disk")
    with page.expect_navigation():
        page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "disk full" in rows.inner_text()

    page.goto(url)
    run_action(page, cpu.pk, "Resolve")
    cpu.refresh_from_db()
    assert (cpu.status, cpu.resolved_by) == ("resolved", "user:oncall")
    page.goto(url)  # the unresolved come first, whatever their age
    newer = incident("newer but resolved", "info", 95, status="resolved")
    page.reload()
    names = page.locator("#result_list tbody tr .field-rule_name").all_inner_texts()
    assert names.index("disk full") < names.index(newer.rule_name)
    page.goto(f"{url}?status__exact=resolved")
    run_action(page, cpu.pk, "Acknowledge")  # resolved: refused, said so
    assert "cannot be acknowledged" in page.inner_text(".messagelist")
    page.screenshot(path=tmp_path / "incident-refused.png", full_page=True)


def test_incident_page_shows_timeline_and_delivery_log(page, live_server, tmp_path):
    cpu = incident("cpu high", "critical", 97.5)
    IncidentEvent.objects.create(
        incident=cpu, kind="fired", at=cpu.triggered_at, actor="system", detail="value 97.5"
    )

    page.goto(f"{live_server.url}/admin/alerts/alertincident/{cpu.pk}/change/")
    page.screenshot(path=tmp_path / "incident-page.png", full_page=True)

    timeline = page.locator("#timeline-group").inner_text()
    assert "fired" in timeline and "value 97.5" in timeline
    assert page.locator("#deliveries-group").is_visible()


def test_rule_page_evaluates_now(page, live_server, tmp_path):
    rule = AlertRule.objects.create(
        name="queue deep", metric_name="never.recorded", condition_operator="gt", threshold=1
    )

    page.goto(f"{live_server.url}/admin/alerts/alertrule/{rule.pk}/change/")
    page.click("text=Evaluate now")
    page.wait_for_selector(".messagelist")
    page.screenshot(path=tmp_path / "rule-page.png", full_page=True)

    assert "deep: value no data, state inactive" in page.inner_text(".messagelist")
    rule.refresh_from_db()
    assert rule.last_evaluated_at is not None
