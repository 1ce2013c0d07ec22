"""The console's Uptime pages: the services' list (status, 24 h / 7 d / 30 d, compact
daily bars) and a service's page (90 daily bars, no data in grey, the response-time
chart holding the API's points, downtimes with durations, the SLA as the SLA report
gives it, a heartbeat's pings); seeded through the monitoring services (check_record,
heartbeat_ping); the empty state; 403 without the permission."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.monitoring import checks, selectors, services
from apps.monitoring.models import HealthStatus, MonitoredService
from tests.browser import fetch, fetch_text
from tests.helpers import grant

LIST = "/admin/console/uptime/"
API = "/api/v1/analytics/monitoring/"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _record(service, at: datetime, *, ok: bool = True, ms: float | None = 100.0) -> None:
    result = (
        checks.Result(HealthStatus.HEALTHY, ms)
        if ok
        else checks.Result(HealthStatus.UNHEALTHY, ms, "connection refused")
    )
    services.check_record(service.pk, result, at=at)


def _service(name: str, created: datetime, **fields) -> MonitoredService:
    service = services.service_create(
        data={"name": name, "check_type": "http", "target": "http://127.0.0.1:9/", **fields},
        actor="test",
    )
    MonitoredService.objects.filter(pk=service.pk).update(created_at=created)
    service.refresh_from_db()
    return service


@pytest.fixture
def seeded(db) -> dict:
    """ "api": 10 days of checks (a day without any: no data), a 6 h downtime 3 days ago and
    a 10 min one within the last day; "db": down since 2 h ago (ongoing); a heartbeat with
    four pings. Returns the selectors' answers the pages must show."""
    now = timezone.now().replace(second=0, microsecond=0)
    today = now.replace(hour=0, minute=0)
    api = _service("api", today - 10 * DAY, public=True, interval_seconds=600)
    silent = today - 5 * DAY
    down_day = today - 3 * DAY
    at = api.created_at
    while at < now - 24 * HOUR:  # every 6 h, none on the silent day
        if not silent <= at < silent + DAY:
            _record(api, at, ok=at != down_day + 6 * HOUR)
        at += 6 * HOUR
    at, i = now - 23 * HOUR, 0
    while at < now:  # every 10 min over the last day: the chart's points
        _record(api, at, ok=at != now - 5 * HOUR, ms=80.0 + (i % 7) * 15)
        at += timedelta(minutes=10)
        i += 1

    db_ = _service(
        "db", today - 2 * DAY, check_type="tcp", target="127.0.0.1:9", interval_seconds=600
    )
    at = db_.created_at
    while at < now:
        _record(db_, at, ok=at < now - 2 * HOUR, ms=5.0)
        at += HOUR if at < now - 3 * HOUR else timedelta(minutes=10)

    beat = services.service_create(
        data={"name": "nightly-backup", "check_type": "heartbeat", "interval_seconds": 3600},
        actor="test",
    )
    MonitoredService.objects.filter(pk=beat.pk).update(created_at=now - 4 * HOUR)
    beat.refresh_from_db()
    pings = [now - 3 * HOUR, now - 2 * HOUR, now - HOUR, now - timedelta(minutes=10)]
    for moment in pings:
        services.heartbeat_ping(token=beat.ping_token, now=moment)

    everyone = list(MonitoredService.objects.order_by("name"))
    return {
        "api": api,
        "db": db_,
        "beat": beat,
        "days": selectors.uptime_days(services=everyone),
        "silent": silent.date().isoformat(),
        "down_day": down_day.date().isoformat(),
    }


def level(uptime: float | None) -> str:
    if uptime is None:
        return "none"
    return (
        "up" if uptime >= 100 else "dip" if uptime >= 99 else "partial" if uptime >= 95 else "down"
    )


# --- the seed, as the selectors see it


def test_the_seed_gives_no_data_a_down_day_and_an_ongoing_downtime(seeded):
    days = {d.date.isoformat(): d for d in seeded["days"][seeded["api"].pk]}
    assert days[seeded["silent"]].no_data
    assert days[seeded["down_day"]].uptime_percentage == 75.0
    ongoing = selectors.service_downtimes(service=seeded["db"], since=timezone.now() - DAY)
    assert [o.ongoing for o in ongoing] == [True]
    assert len(selectors.heartbeat_pings(service=seeded["beat"])) == 4


# --- in Chromium


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_the_list_and_a_service_page_show_the_apis_figures(seeded, browser_superuser, browser):
    api, db_ = seeded["api"], seeded["db"]
    page = browser.page(user=browser_superuser)
    page.goto(browser.url(LIST))

    page.wait_for_selector("#uptime-list")
    rows = page.locator("#uptime-list tbody tr")
    assert [rows.nth(i).get_attribute("data-service") for i in range(rows.count())] == [
        str(api.pk), str(db_.pk), str(seeded["beat"].pk),
    ]  # fmt: skip
    summary = {row["id"]: row for row in fetch(page, page.get_attribute("#uptime-json", "href"))}
    for service in (api, db_):
        row = f'#uptime-list tr[data-service="{service.pk}"]'
        assert page.get_attribute(row, "data-status") == summary[service.pk]["status"]
        for window in ("24h", "7d", "30d"):
            shown = page.get_attribute(f'{row} td[data-window="{window}"]', "data-uptime")
            # An ongoing downtime grows between the page and the JSON read after it:
            # 0.0012 points a second over 24 h, so a few seconds of a busy machine.
            assert float(shown) == pytest.approx(summary[service.pk]["uptime"][window], abs=0.01)
        levels = page.eval_on_selector_all(f"{row} .uptime-bar", "b => b.map(n => n.dataset.level)")
        assert levels == [level(d.uptime_percentage) for d in seeded["days"][service.pk]]
    assert page.get_attribute(f'tr[data-service="{db_.pk}"]', "data-status") == "unhealthy"
    csv_url = page.get_attribute("#uptime-csv", "href")
    content_type = page.evaluate(f"fetch({csv_url!r}).then(r => r.headers.get('content-type'))")
    assert "text/csv" in content_type
    browser.shoot(page, "console-uptime")

    # A service's page: 90 bars as the selector says, grey for the silent day.
    page.click(f'#uptime-list a:text-is("{api.name}")')
    page.wait_for_selector("#uptime-days .uptime-bar")
    assert page.url == browser.url(f"{LIST}{api.pk}/")
    bars = page.eval_on_selector_all(
        "#uptime-days .uptime-bar",
        "b => b.map(n => [n.dataset.date, n.dataset.level, n.dataset.uptime, n.title])",
    )
    expected = seeded["days"][api.pk]
    assert len(bars) == 90
    assert [b[0] for b in bars] == [d.date.isoformat() for d in expected]
    assert [b[1] for b in bars] == [level(d.uptime_percentage) for d in expected]
    by_date = {b[0]: b for b in bars}
    assert by_date[seeded["silent"]][1] == "none" and "no data" in by_date[seeded["silent"]][3]
    assert by_date[seeded["down_day"]][1:3] == ["down", "75"]
    assert "75.00 % up, 1 downtime (6 h 00 min down)" in by_date[seeded["down_day"]][3]
    colours = page.eval_on_selector_all(
        "#uptime-days .uptime-bar", "b => b.map(n => getComputedStyle(n).backgroundColor)"
    )
    assert colours[bars.index(by_date[seeded["silent"]])] == "rgb(213, 217, 222)"  # grey
    assert colours[bars.index(by_date[seeded["down_day"]])] == "rgb(217, 83, 79)"  # red
    uptime = fetch(page, page.get_attribute("#service-uptime-json", "href"))
    shown = [None if b[2] == "" else float(b[2]) for b in bars]
    api_days = [d["uptime_percentage"] for d in uptime["days"]]
    assert shown[:-1] == api_days[:-1]
    assert shown[-1] == pytest.approx(api_days[-1], abs=0.01)  # today so far runs on

    # The response-time chart holds the API's points (avg and p95 per bucket).
    page.wait_for_selector("#chart-response-times .uplot")
    print(f"first chart {page.evaluate('window.consoleFirstChartMs'):.0f} ms after navigation")
    times = fetch(page, page.get_attribute("#response-times-json", "href"))
    drawn = page.evaluate("Console.charts['response-times'].data")
    assert len(times["points"]) == len(drawn[0]) == 138
    assert drawn[1] == [p["avg_ms"] for p in times["points"]]
    assert drawn[2] == [p["p95_ms"] for p in times["points"]]

    # Downtimes, newest first, with their durations (the API's).
    downtimes = page.eval_on_selector_all(
        "#downtime-list tbody tr", "r => r.map(n => [n.dataset.start, Number(n.dataset.seconds)])"
    )
    assert [s for _, s in downtimes] == [d["duration_seconds"] for d in uptime["downtimes"]]
    assert [s for _, s in downtimes] == [600.0, 6 * 3600.0]
    assert "6 h 00 min" in page.text_content("#downtime-list")
    assert "10 min 00 s" in page.text_content("#downtime-list")

    # The SLA, as the SLA report over 30 days gives it.
    sla = fetch(page, page.get_attribute("#sla-json", "href"))
    # Fetched a moment apart: the 30 days end now, so the last digit may move on.
    assert sla["uptime_percentage"] == pytest.approx(uptime["sla"]["uptime_percentage"], abs=1e-3)
    assert float(page.get_attribute("#sla-uptime", "data-value")) == pytest.approx(
        sla["uptime_percentage"], abs=0.01
    )
    assert float(page.get_attribute("#sla-target", "data-value")) == sla["target"] == 99.9
    assert (
        page.get_attribute("#sla-compliant", "data-value")
        == "false"
        == str(sla["compliant"]).lower()
    )
    assert float(page.get_attribute("#sla-budget", "data-value")) == pytest.approx(
        sla["error_budget_remaining_seconds"], abs=5
    )
    assert float(page.get_attribute("#sla-downtime", "data-value")) == sla["downtime_seconds"]
    assert "Budget spent" in page.text_content("#sla-budget-note")
    assert page.get_attribute("#admin-link", "href") == (
        f"/admin/monitoring/monitoredservice/{api.pk}/change/"
    )
    assert page.get_attribute("#status-link", "href") == "/status/"
    csv = fetch_text(page, page.get_attribute("#response-times-csv", "href"))
    assert len(csv.strip().splitlines()) >= 1 + 138
    browser.shoot(page, "console-uptime-service")

    # An ongoing downtime is marked, its duration so far.
    page.goto(browser.url(f"{LIST}{db_.pk}/"))
    page.wait_for_selector("#downtime-list")
    assert page.get_attribute("#downtime-list tbody tr", "data-ongoing") == "true"
    assert "ongoing" in page.text_content("#downtime-list tbody tr")
    assert "so far" in page.text_content("#downtime-list tbody tr")
    assert page.locator("#status-link").count() == 0  # not public
    assert "unhealthy" in page.text_content("#service-status")


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_a_heartbeats_page_lists_its_pings(seeded, browser_superuser, browser):
    beat = seeded["beat"]
    page = browser.page(user=browser_superuser)
    page.goto(browser.url(f"{LIST}{beat.pk}/"))

    page.wait_for_selector("#ping-list")
    answer = fetch(page, page.get_attribute("#pings-json", "href"))
    shown = page.eval_on_selector_all("#ping-list tbody tr", "r => r.map(n => n.dataset.ping)")
    assert shown == answer["pings"] and len(shown) == 4
    assert page.get_attribute('#uptime-windows [data-window="24h"]', "data-uptime") == "100"
    assert "1 h 00 min" in page.text_content("#ping-list")
    # No response time to draw: the empty state says so and points at the pings.
    assert page.locator("#chart-response-times .uplot").count() == 0
    assert "its 4 pings in the last 24 h" in page.text_content("#chart-response-times")
    browser.shoot(page, "console-uptime-heartbeat")


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_no_service_says_how_to_monitor_one(browser_superuser, browser):
    page = browser.page(user=browser_superuser)
    page.goto(browser.url(LIST))

    page.wait_for_selector("#uptime-empty")
    text = page.text_content("#uptime-empty")
    assert browser.url(f"{API}services") in text
    assert 'curl -H "X-API-Key: $ADMIN_KEY"' in text and '"check_type": "http"' in text
    assert page.get_attribute("#uptime-admin-add", "href") == (
        "/admin/monitoring/monitoredservice/add/"
    )
    browser.shoot(page, "console-uptime-empty")


# --- sources and permissions


@pytest.mark.django_db
def test_the_pages_sources_answer_what_the_api_does(seeded, admin_client):
    api = seeded["api"]
    listed = admin_client.get(f"{LIST}data/services.json").json()
    summary = admin_client.get(f"{API}uptime").json()
    assert [s["id"] for s in listed["services"]] == [s["id"] for s in summary]
    for mine, theirs in zip(listed["services"], summary, strict=True):
        assert mine["status"] == theirs["status"]
        assert mine["uptime"] == pytest.approx(theirs["uptime"], abs=1e-3)
    assert listed["first_day"] == (datetime.now(UTC).date() - 89 * DAY).isoformat()

    one = admin_client.get(f"{LIST}{api.pk}/data.json?window=7d").json()
    theirs = admin_client.get(f"{API}services/{api.pk}/uptime").json()
    assert one["uptime"]["days"][:-1] == theirs["days"][:-1]
    # Today so far runs on between the two reads.
    mine_today, their_today = one["uptime"]["days"][-1], theirs["days"][-1]
    assert mine_today["downtime_seconds"] == their_today["downtime_seconds"]
    assert mine_today["uptime_percentage"] == pytest.approx(
        their_today["uptime_percentage"], abs=1e-3
    )
    assert one["uptime"]["downtimes"] == theirs["downtimes"]
    times = admin_client.get(f"{API}services/{api.pk}/response-times?hours=168").json()
    assert one["response_times"]["interval_seconds"] == times["interval_seconds"]
    assert sum(p["checks"] for p in one["response_times"]["points"]) == sum(
        p["checks"] for p in times["points"]
    )
    assert one["pings"] is None
    assert admin_client.get(f"{LIST}999999/").status_code == 404
    assert admin_client.get(f"{LIST}{10**20}/data.json").status_code == 404


@pytest.mark.django_db
def test_staff_without_the_permission_get_403(seeded, staff_user):
    client = Client()
    client.force_login(staff_user)
    pk = seeded["api"].pk
    paths = [LIST, f"{LIST}data/services.json", f"{LIST}{pk}/", f"{LIST}{pk}/data.json"]

    assert [client.get(path).status_code for path in paths] == [403] * 4
    assert f'href="{LIST}"' not in client.get("/admin/console/").content.decode()

    grant(staff_user, "monitoring.view_monitoredservice")
    assert [client.get(path).status_code for path in paths] == [200] * 4
    assert f'href="{LIST}"' in client.get("/admin/console/").content.decode()
