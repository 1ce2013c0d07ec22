"""The overview in headless Chromium, as on-call staff see it: seeded through the public
write API, charts checked against the API answers they come from, and the live figures
moving without a reload, through the real WebSocket feed and through the polling
fallback."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.alerts.models import AlertIncident
from apps.console import views
from apps.monitoring.system import host_name
from tests.helpers import drain_outbox, grant, iso, post_json
from tests.live import Stack, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

OVERVIEW = "/admin/console/"


def seed(ingest_client, admin_api_client) -> None:
    now = timezone.now()
    host = host_name()
    readings = [
        {"metric_name": f"system.{name}", "value": value + i, "labels": {"host": host},
         "timestamp": iso(now - timedelta(minutes=37 * i + 1))}
        for i in range(12)
        for name, value in (("cpu_percent", 20), ("memory_percent", 55), ("disk_percent", 70))
    ]  # fmt: skip
    assert post_json(ingest_client, "/api/v1/analytics/metrics/record", readings).status_code == 202
    requests = [
        {"service": "web", "endpoint": "/api/items", "method": "GET",
         "status_code": 500 if i % 5 == 0 else 200, "response_time_ms": 20 + 3 * i,
         "timestamp": iso(now - timedelta(minutes=50 * i + 2))}
        for i in range(20)
    ]  # fmt: skip
    assert post_json(ingest_client, "/api/v1/analytics/requests", requests).status_code == 202
    usage = [
        {"feature": "chat", "model": "gpt-4o", "assistant_name": "helper", "tokens_in": 1000,
         "tokens_out": 200, "ttft_ms": 300, "user_id": f"u{i}", "timestamp": iso(now)}
        for i in range(3)
    ]  # fmt: skip
    assert post_json(ingest_client, "/api/v1/analytics/log-ai-usage", usage).status_code == 202
    drain_outbox()
    drain_outbox()  # request logs become metric points in a second pass
    service = {"name": "api", "check_type": "http", "target": "http://127.0.0.1:9/health"}
    created = post_json(admin_api_client, "/api/v1/analytics/monitoring/services", service)
    assert created.status_code == 201, created.content
    AlertIncident.objects.create(
        rule_name="cpu high", severity="critical", threshold=90, condition_operator="gt",
        metric_value=97, triggered_at=now,
    )  # fmt: skip


def chart_points(page, key: str) -> int:
    return page.evaluate(f"Console.charts[{key!r}].data[0].length")


def api_buckets(page, key: str) -> list:
    """The buckets the chart's own source link answers (the public API, staff session)."""
    api = page.get_attribute(f"#chart-{key} .console-chart-source a", "href")
    return page.evaluate(f"fetch({api!r}).then(r => r.json())")


def test_the_overview_draws_every_panel_from_its_sources(
    browser, browser_superuser, ingest_client, admin_api_client, settings
):
    settings.WS_PORT = 0  # no feed process in this test: the page polls
    seed(ingest_client, admin_api_client)
    page = browser.page(user=browser_superuser)

    page.goto(browser.url(OVERVIEW))
    for key in ("cpu_percent", "memory_percent", "disk_percent", "request_rate", "p95_latency"):
        page.wait_for_selector(f"#chart-{key} .uplot")
    page.wait_for_selector('[data-severity="critical"]')
    page.wait_for_selector("#panel-services td")

    # Each chart holds exactly the points its API answer has, with the same values.
    for key in ("cpu_percent", "request_rate", "p95_latency"):
        answer = api_buckets(page, key)
        assert chart_points(page, key) == len(answer["buckets"]) > 0, key
    # By bucket start, not position: the clock may cross a 5-minute boundary between the
    # page's read and this one, which moves every bucket one place.
    answered = {
        parse_datetime(b["start"]).timestamp(): b["value"]
        for b in api_buckets(page, "cpu_percent")["buckets"]
    }
    drawn = dict(zip(*page.evaluate("Console.charts.cpu_percent.data"), strict=True))
    shared = answered.keys() & drawn.keys()
    assert len(shared) >= len(drawn) - 1
    assert {t: drawn[t] for t in shared} == {t: answered[t] for t in shared}
    assert len([v for v in drawn.values() if v is not None]) == 12
    assert page.text_content('[data-severity="critical"]') == "1"
    assert "api" in page.text_content("#panel-services")
    assert page.text_content('[data-field="ai.requests"]') == "3"
    assert page.text_content('[data-field="users.dau"]') == "3"
    # Numbers carry their units; hovering a chart shows UTC and the viewer's local time.
    assert page.text_content("#chart-cpu_percent .console-chart-now").endswith(" %")
    box = page.locator("#chart-cpu_percent .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)
    legend = page.text_content("#chart-cpu_percent .u-legend")
    assert "UTC (" in legend and " local)" in legend, legend
    page.wait_for_selector('#live-status[data-state="poll"]')
    print(f"first chart {page.evaluate('window.consoleFirstChartMs'):.0f} ms after navigation")
    browser.shoot(page, "console-overview")


def test_an_empty_overview_says_what_to_send(browser, browser_superuser, settings):
    settings.WS_PORT = 0
    page = browser.page(user=browser_superuser)
    page.goto(browser.url("/admin/"))
    browser.shoot(page, "console-admin-home")

    page.click("#console-card a")  # the admin's home leads to the console

    page.wait_for_selector("#panel-traffic .console-empty")
    assert page.url == browser.url(OVERVIEW)
    text = page.text_content("#panel-traffic")
    assert "No request in the last 24 h" in text
    assert 'curl -H "X-API-Key: $INGEST_KEY"' in text, text
    assert "http://127.0.0.1:" in text or "http://localhost:" in text, text
    assert "/api/v1/analytics/requests" in text
    assert "No monitored service yet" in page.text_content("#panel-services")
    assert page.locator("#panel-traffic .uplot").count() == 0  # no blank chart
    assert page.locator("#panel-traffic .console-empty").count() == 1  # said once
    assert "No reading of this machine" in page.text_content("#panel-host")
    browser.shoot(page, "console-overview-empty")


def test_the_overview_follows_the_polled_figures_without_a_reload(
    browser, browser_superuser, settings, monkeypatch
):
    settings.WS_PORT = 0
    monkeypatch.setattr(views, "POLL_SECONDS", 1)
    page = browser.page(user=browser_superuser)
    page.goto(browser.url(OVERVIEW))
    page.wait_for_selector('#live-status[data-state="poll"]')
    wait_until(lambda: page.text_content('[data-live="open_incidents"]') == "0", timeout=10)
    page.evaluate("window.notReloaded = true")

    AlertIncident.objects.create(
        rule_name="disk full", severity="warning", threshold=90, condition_operator="gt",
        metric_value=95, triggered_at=timezone.now(),
    )  # fmt: skip

    wait_until(lambda: page.text_content('[data-live="open_incidents"]') == "1", timeout=10)
    assert page.text_content('[data-severity="warning"]') == "1"
    assert page.evaluate("window.notReloaded") is True


@pytest.fixture
def feed(tmp_path, monkeypatch):
    stack = Stack(tmp_path)
    monkeypatch.setenv("LIVE_DASHBOARD_SECONDS", "0.5")
    monkeypatch.setenv("ANALYTICS_BROADCAST_SECONDS", "30")
    try:
        stack.start_redis()
        yield stack
    finally:
        stack.close()


def test_the_overview_changes_live_as_the_feed_pushes(browser, browser_superuser, settings, feed):
    settings.WS_PORT = feed.start_live()  # the Procfile's live process, on the test database
    page = browser.page(user=browser_superuser)
    page.goto(browser.url(OVERVIEW))
    page.wait_for_selector('#live-status[data-state="live"]')  # the staff session's cookie
    wait_until(lambda: page.text_content('[data-live="open_incidents"]') == "0", timeout=10)
    page.evaluate("window.notReloaded = true")

    AlertIncident.objects.create(
        rule_name="api down", severity="critical", threshold=1, condition_operator="gt",
        metric_value=2, triggered_at=timezone.now(),
    )  # fmt: skip

    wait_until(lambda: page.text_content('[data-live="open_incidents"]') == "1", timeout=10)
    assert page.text_content('[data-severity="critical"]') == "1"
    assert page.evaluate("window.notReloaded") is True
    assert page.get_attribute("#live-status", "data-state") == "live"
    browser.shoot(page, "console-overview-live")


def test_staff_with_one_permission_see_that_panel_alone(browser, django_user_model, settings):
    from tests.browser import PASSWORD

    settings.WS_PORT = 0
    staff = django_user_model.objects.create_user("triage", password=PASSWORD, is_staff=True)
    grant(staff, "alerts.view_alertincident")
    page = browser.page(user=staff)

    page.goto(browser.url(OVERVIEW))

    page.wait_for_selector('[data-severity="critical"]')
    shown = page.eval_on_selector_all("section.console-panel", "nodes => nodes.map(n => n.id)")
    assert shown == ["panel-live", "panel-incidents"]
    # The incident pages are the admin's: listed for this permission too.
    assert page.text_content(".console-nav").split() == ["Overview", "Incidents", "UTC"]
    browser.shoot(page, "console-overview-one-permission")
