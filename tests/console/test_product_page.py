"""The Product page in headless Chromium, as a product person sees it: events seeded
through the public ingest path, every part checked against the public API answer it links
to (the DAU/WAU/MAU chart's points, the retention heat map's cells), top users leading to
a user's page with their latest events; the empty page saying what to send; 403 for staff
without the page's permission."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from tests.helpers import drain_outbox, grant, iso, post_json

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

PRODUCT = "/admin/console/product/"


def _event(event_type: str, user_id: str, at: datetime, **metadata) -> dict:
    return {
        "event_type": event_type,
        "user_id": user_id,
        "timestamp": iso(at),
        "metadata": metadata,
    }


def seed(ingest_client, admin_api_client) -> None:
    """Users first seen over the last three weeks, some coming back; a few busier than
    the rest; scenarios started and completed; yesterday tracked (insights)."""
    now = datetime.now(UTC)
    yesterday = (now - timedelta(days=1)).replace(hour=12, minute=0)
    events = []
    for i in range(6):  # three weeks ago, three of them back last week, one this week
        events.append(_event("user_logged_in", f"cohort-{i}", now - timedelta(days=20)))
        if i < 3:
            events.append(_event("user_logged_in", f"cohort-{i}", now - timedelta(days=8)))
        if i == 0:
            events.append(_event("page_view", f"cohort-{i}", now - timedelta(minutes=5)))
    for n in range(7):  # alice is the busiest, seen yesterday
        seen = _event("page_view", "alice", yesterday - timedelta(minutes=n), page=f"/p/{n}")
        events.append({**seen, "session_id": "s1"})
    events.append(
        _event("user_logged_in", "alice", now - timedelta(seconds=30), email="alice@example.com")
    )
    for n in range(2):  # and the day before
        events.append(_event("page_view", "alice", yesterday - timedelta(days=1, minutes=n)))
    for n in range(3):
        events.append(_event("page_view", "bob", now - timedelta(minutes=n + 1)))
    for user, done in (("alice", True), ("bob", True), ("cohort-0", False)):
        common = {"scenario_id": "job-interview", "scenario_name": "Job interview"}
        events.append(_event("scenario_started", user, now - timedelta(minutes=3), **common))
        if done:
            events.append(_event("scenario_completed", user, now - timedelta(minutes=2), **common))
    accepted = post_json(ingest_client, "/api/v1/analytics/events", events)
    assert accepted.status_code == 202, accepted.content
    activity = [
        {"activity_type": "page_view", "user_id": "alice", "session_id": "s1",
         "page_url": f"/p/{n}", "timestamp": iso(yesterday + timedelta(minutes=n))}
        for n in range(4)
    ]  # fmt: skip
    accepted = post_json(ingest_client, "/api/v1/analytics/user-activity", activity)
    assert accepted.status_code == 202, accepted.content
    drain_outbox()
    for day in (yesterday - timedelta(days=1), yesterday):
        track = {"period_type": "day", "period_start": iso(day)}
        tracked = post_json(admin_api_client, "/api/v1/analytics/batch-track", track)
        assert tracked.status_code == 200, tracked.content
        assert tracked.json()["users_tracked"] >= 1


def api(page, url: str):
    """The public API's answer, read with the page's own staff session."""
    return page.evaluate(
        f"fetch({url!r}, {{headers: {{Accept: 'application/json'}}}}).then(r => r.json())"
    )


def source_of(page, selector: str) -> str:
    return page.get_attribute(selector, "href")


def downloads_answer(page, links: list[str]) -> None:
    """Each CSV and JSON link answers its format (the page's staff session)."""
    answers = page.evaluate(
        """links => Promise.all(links.map(url => fetch(url).then(async r =>
            [url, r.status, r.headers.get('content-type'), (await r.text()).length])))""",
        links,
    )
    for url, status, content_type, size in answers:
        assert status == 200 and size > 0, (url, status)
        assert ("csv" if url.endswith("csv") else "json") in content_type, (url, content_type)


def test_the_product_page_draws_what_the_api_answers(
    browser, browser_superuser, ingest_client, admin_api_client
):
    seed(ingest_client, admin_api_client)
    page = browser.page(user=browser_superuser)

    page.goto(browser.url(PRODUCT + "?days=30&weeks=4"))
    page.wait_for_selector("#chart-active .uplot")
    page.wait_for_selector("#retention-table")
    page.wait_for_selector('[data-part="top-users"] table')
    page.wait_for_selector('[data-part="scenarios"] table')
    page.wait_for_selector("#chart-platform_users .uplot")

    # The DAU/WAU/MAU chart holds the points of GET users/active?days=30, one a day.
    active_api = source_of(page, "#chart-active .console-chart-source a")
    assert active_api == "/api/v1/analytics/users/active?days=30"
    answer = api(page, active_api)
    drawn = page.evaluate("Console.charts.active.data")
    assert len(drawn[0]) == len(answer["series"]) == 30
    assert drawn[0] == [
        datetime.fromisoformat(d["date"]).replace(tzinfo=UTC).timestamp() for d in answer["series"]
    ]
    assert drawn[1] == [d["dau"] for d in answer["series"]]
    assert drawn[2] == [d["wau"] for d in answer["series"]]
    assert drawn[3] == [d["mau"] for d in answer["series"]]
    assert answer["dau"] >= 1
    assert page.text_content('[data-field="dau"]') == f"{answer['dau']} users"
    assert page.text_content('[data-field="mau"]') == f"{answer['mau']} users"

    # The heat map's cells are the retention API's numbers.
    retention = api(page, "/api/v1/analytics/users/retention?weeks=4")
    assert source_of(page, '[data-downloads="retention"] a[data-format="json"]') == (
        "/api/v1/analytics/users/retention?weeks=4&format=json"
    )
    rows = page.eval_on_selector_all(
        "#retention-table tbody tr",
        """rows => rows.map(r => {
            const cells = [...r.querySelectorAll('td[data-week]')];
            return {
                cohort: r.dataset.cohort,
                size: Number(r.querySelector('[data-size]').dataset.size),
                retained: cells.map(td => Number(td.dataset.retained)),
                shares: cells.map(td => Number(td.dataset.share)),
                texts: cells.map(td => td.querySelector('.heat-share').textContent),
                colours: cells.map(td => td.style.backgroundColor),
            };
        })""",
    )
    assert [r["cohort"] for r in rows] == [c["cohort_start"] for c in retention["cohorts"]]
    assert [r["size"] for r in rows] == [c["size"] for c in retention["cohorts"]]
    assert [r["retained"] for r in rows] == [c["retained"] for c in retention["cohorts"]]
    assert [r["shares"] for r in rows] == [c["retention"] for c in retention["cohorts"]]
    assert sum(c["size"] for c in retention["cohorts"]) == 8
    three_weeks = next(r for r in rows if r["size"] == 6)  # the cohort-* users
    assert three_weeks["texts"][0] == "100.0 %"
    assert "50.0 %" in three_weeks["texts"]  # 3 of 6 back a week later
    # A fuller share is a deeper colour.
    alpha = [float(c.rsplit(",", 1)[1].rstrip(")")) for c in three_weeks["colours"] if c]
    assert alpha[0] == max(alpha) and min(alpha) < alpha[0]

    # Top users: the API's order, each leading to the user's page.
    top = api(page, "/api/v1/analytics/top-users?limit=10&days=30")
    listed = page.eval_on_selector_all(
        '[data-part="top-users"] tbody tr', "rows => rows.map(r => r.dataset.user)"
    )
    assert listed == [u["user_id"] for u in top] and listed[0] == "alice"
    assert "alice@example.com" in page.text_content('[data-user="alice"]')

    # Scenarios with their completion rate; platform trends from the tracked day.
    assert "66.7 %" in page.text_content('[data-scenario="job-interview"]')
    dashboard = api(page, "/api/v1/analytics/dashboard?days=30")
    assert page.evaluate("Console.charts.platform_users.data[0].length") == len(dashboard["trends"])
    assert page.evaluate("Console.charts.platform_users.data[1]") == [
        t["total_users"] for t in dashboard["trends"]
    ]
    users_total = dashboard["current_metrics"]["users"]["total"]
    assert page.text_content('[data-field="users.total"]') == str(users_total)

    # Every part links to its data as CSV and JSON.
    links = page.eval_on_selector_all(
        ".product-downloads a", "links => links.map(a => a.getAttribute('href'))"
    )
    assert "/api/v1/analytics/top-users?limit=10&days=30&format=csv" in links
    assert "/api/v1/analytics/users/active?days=30&format=csv" in links
    assert len(links) == 10
    downloads_answer(page, links)

    # Hovering the chart shows the day in UTC and local time.
    box = page.locator("#chart-active .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)
    legend = page.text_content("#chart-active .u-legend")
    assert "UTC (" in legend and " local)" in legend and " users" in legend, legend
    print(f"first chart {page.evaluate('window.consoleFirstChartMs'):.0f} ms after navigation")
    browser.shoot(page, "console-product")

    # The window is in the URL.
    page.select_option('select[name="days"]', "7")
    page.wait_for_url("**/product/?days=7&weeks=4")
    page.wait_for_selector("#chart-active .uplot")
    assert page.evaluate("Console.charts.active.data[0].length") == 7

    # The busiest user's page: tracked periods and latest events.
    page.click('[data-user="alice"] a')
    page.wait_for_url("**/admin/console/product/users/alice/")
    page.wait_for_selector('[data-part="events"] table')
    events = api(page, "/api/v1/analytics/events?user_id=alice&page_size=50")["results"]
    shown = page.eval_on_selector_all(
        '[data-part="events"] tbody tr', "rows => rows.map(r => r.dataset.event)"
    )
    assert shown == [e["event_id"] for e in events] and len(shown) == 12
    assert "user_logged_in" in page.text_content('[data-part="events"] tbody tr')
    periods = api(page, "/api/v1/analytics/user/alice/trends?period_type=day&periods=30")
    figures = [(p["sessions"], p["page_views"], p["actions"]) for p in periods]
    assert figures == [(0, 0, 2), (1, 4, 7)]
    page.wait_for_selector("#chart-user_periods .uplot")
    drawn = page.evaluate("Console.charts.user_periods.data")
    assert drawn[0] == [datetime.fromisoformat(p["period_start"]).timestamp() for p in periods]
    assert list(zip(*drawn[1:], strict=True)) == figures
    assert page.locator('[data-part="periods"] tbody tr').count() == 2
    links = page.eval_on_selector_all(
        ".product-downloads a", "links => links.map(a => a.getAttribute('href'))"
    )
    assert "/api/v1/analytics/events?user_id=alice&page_size=50&format=csv" in links
    assert len(links) == 4
    downloads_answer(page, links)
    browser.shoot(page, "console-product-user")


def test_an_empty_product_page_says_what_to_send(browser, browser_superuser):
    page = browser.page(user=browser_superuser)
    page.goto(browser.url(PRODUCT))

    page.wait_for_selector("#chart-active .console-empty")
    page.wait_for_selector('[data-part="retention"] .console-empty')
    page.wait_for_selector('[data-charts="platform"] .console-empty')
    text = page.text_content("#part-active")
    assert "No user seen" in text
    assert 'curl -H "X-API-Key: $INGEST_KEY"' in text
    assert browser.url("/api/v1/analytics/events") in text
    assert page.locator("#part-active .uplot").count() == 0  # no blank chart
    assert "No user seen in the last 30 days" in page.text_content("#part-top-users")
    assert "scenario_started" in page.text_content("#part-scenarios")
    assert "/api/v1/analytics/batch-track" in page.text_content("#part-platform")
    browser.shoot(page, "console-product-empty")

    page.goto(browser.url(PRODUCT + "users/nobody/"))
    page.wait_for_selector('[data-part="events"] .console-empty')
    assert '"user_id":"nobody"' in page.text_content("#part-events")
    assert "No day of this user has been tracked" in page.text_content("#part-periods")
    browser.shoot(page, "console-product-user-empty")


def test_staff_without_the_permission_get_403_and_no_nav_entry(browser, django_user_model):
    from tests.browser import PASSWORD

    staff = django_user_model.objects.create_user("support", password=PASSWORD, is_staff=True)
    page = browser.page(user=staff)
    browser.allow_errors("status of 403")

    refused = page.goto(browser.url(PRODUCT))
    assert refused.status == 403
    assert "You do not have permission to view Product" in page.text_content("#content")
    assert "Product" not in page.text_content(".console-nav")
    client = Client()
    client.force_login(staff)
    assert client.get(PRODUCT + "users/alice/").status_code == 403
    for source in ("active", "retention", "top-users", "scenarios", "platform"):
        assert client.get(f"/admin/console/data/product/{source}.json").status_code == 403
    assert client.get("/admin/console/data/product/user.json?user_id=a").status_code == 403

    grant(staff, "insights.view_useranalytics")
    page.goto(browser.url(PRODUCT))
    page.wait_for_selector("#chart-active .console-empty")
    assert "Product" in page.text_content(".console-nav")
    assert client.get("/admin/console/data/product/active.json").status_code == 200
    assert client.get("/admin/console/data/product/nothing.json").status_code == 404
    # Any user id, slashes and spaces too, has its page and its data.
    assert client.get(PRODUCT + "users/team%2Fa%20b/").status_code == 200
    found = client.get("/admin/console/data/product/user.json?user_id=team%2Fa%20b").json()
    assert found["user_id"] == "team/a b"
    assert found["periods"]["api"] == (
        "/api/v1/analytics/user/team%2Fa%20b/trends?period_type=day&periods=30"
    )
