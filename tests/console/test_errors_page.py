"""The console's Errors page: counts over time by category and by severity (each line the
error-trends API's series), the latest errors with their context, resolve and reopen from
the page (the admin's services), filters in the URL, empty states and permissions."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.windows import parse_interval
from apps.errors import selectors
from apps.errors.models import ErrorLog
from tests.browser import fetch
from tests.helpers import drain_outbox, grant, iso, post_json

PAGE = "/admin/console/errors/"
TRENDS = "/api/v1/metrics/error-trends"

# (category, severity, minutes ago)
SEEDED = [
    ("api", "error", 5),
    ("api", "critical", 70),
    ("api", "error", 130),
    ("database", "critical", 200),
    ("database", "warning", 400),
    ("frontend", "warning", 20),
    ("frontend", "info", 600),
]


def seed(ingest_client) -> None:
    now = timezone.now()
    items = [
        {
            "category": category,
            "severity": severity,
            "error_message": f"{category} failed ({i})",
            "endpoint": f"/api/{category}/{i}",
            "user_id": f"user_{i}",
            "context": {"attempt": i, "region": "eu"},
            "timestamp": iso(now - timedelta(minutes=minutes)),
        }
        for i, (category, severity, minutes) in enumerate(SEEDED)
    ]
    response = post_json(ingest_client, "/api/v1/analytics/error", items)
    assert response.status_code == 202, response.content
    drain_outbox()
    assert ErrorLog.objects.count() == len(SEEDED)


def lines_of(page, key: str) -> list[dict]:
    """Each drawn line: its label, its values and the JSON link under the chart."""
    return page.evaluate(
        """key => {
          const plot = Console.charts[key];
          return plot.series.slice(1).map((s, i) => ({
            label: s.label, xs: plot.data[0], ys: plot.data[i + 1],
            json: document.querySelector(
              `#chart-${key} [data-line="${s.label}"] a[data-format=json]`).href,
          }));
        }""",
        key,
    )


# --- selectors (the severity filter and the latest errors the page lists)


@pytest.mark.django_db
def test_trends_and_latest_errors_filter_by_severity(ingest_client, read_client):
    seed(ingest_client)

    answer = read_client.get(TRENDS, {"hours": 24, "severity": "critical"}).json()
    latest = selectors.latest_errors(hours=24, severity="warning")

    assert answer["total_errors"] == 2 and answer["severity"] == "critical"
    assert answer["by_category"]["api"] == 1 and answer["by_category"]["database"] == 1
    assert [e["category"] for e in latest] == ["frontend", "database"]  # newest first
    assert latest[0]["context"] == {"attempt": 5, "region": "eu"}
    assert read_client.get(TRENDS, {"severity": "nope"}).status_code == 400


@pytest.mark.django_db
def test_the_breakdown_is_the_trend_apis_answers(ingest_client):
    seed(ingest_client)
    now = timezone.now()
    interval = parse_interval("15m")

    for category in ("api", None):
        breakdown = selectors.error_breakdown(
            hours=24, interval=interval, category=category, now=now
        )
        overall = selectors.error_trends(hours=24, category=category, now=now)
        for key in ("total_errors", "unresolved_count", "by_category", "by_severity"):
            assert breakdown[key] == overall[key], (category, key)
        for field in ("category", "severity"):
            for value, series in breakdown["series"][field].items():
                one = selectors.error_trends(
                    hours=24, interval=interval, now=now, **{"category": category, field: value}
                )
                assert series == one["series"], (category, field, value)
    grouped = selectors.error_breakdown(hours=24, interval=interval, category="api", now=now)
    assert set(grouped["series"]["severity"]) == {"error", "critical"}  # values with errors


# --- the page in Chromium


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_the_charts_hold_the_trend_apis_series(browser, browser_superuser, ingest_client):
    seed(ingest_client)
    page = browser.page(user=browser_superuser)

    page.goto(browser.url(PAGE + "?window=24h"))
    page.wait_for_selector("#chart-by_category .uplot")
    page.wait_for_selector("#chart-by_severity .uplot")

    by_category = lines_of(page, "by_category")
    assert [line["label"] for line in by_category] == ["api", "database", "frontend"]
    for line in by_category + lines_of(page, "by_severity"):
        answer = fetch(page, line["json"])
        series = answer["series"]
        assert len(line["xs"]) == len(series) == 25, line["label"]  # 24 h of 1 h buckets + now's
        assert line["ys"] == [b["count"] for b in series], line["label"]
        assert sum(line["ys"]) == answer["total_errors"] > 0
    assert [line["label"] for line in lines_of(page, "by_severity")] == [
        "critical", "error", "warning", "info",
    ]  # fmt: skip
    assert page.text_content("#total-errors") == "7"
    assert page.text_content("#unresolved-count") == "7"
    # Downloads: the same request as CSV.
    csv_link = page.get_attribute("#trends-csv", "href")
    assert "format=csv" in csv_link and "interval=1h" in csv_link
    csv = page.evaluate(f"fetch({csv_link!r}).then(r => r.text())")
    assert csv.splitlines()[0].startswith("period_hours") or "series.start" in csv.splitlines()[0]
    # Hover: UTC and local time in the legend.
    box = page.locator("#chart-by_category .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)
    legend = page.text_content("#chart-by_category .u-legend")
    assert "UTC (" in legend and " local)" in legend, legend
    # The latest errors, expandable to their context.
    rows = page.locator(".error-row")
    assert rows.count() == 7
    first = rows.first
    first.locator("summary").click()
    context = first.locator(".error-context").text_content()
    assert "/api/api/0" in context and "user_0" in context and "region: eu" in context
    print(f"first chart {page.evaluate('window.consoleFirstChartMs'):.0f} ms after navigation")
    browser.shoot(page, "console-errors")


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_filters_live_in_the_url(browser, browser_superuser, ingest_client):
    seed(ingest_client)
    page = browser.page(user=browser_superuser)
    page.goto(browser.url(PAGE))
    page.wait_for_selector("#chart-by_category .uplot")

    page.select_option("select[name=category]", "database")
    page.click("#error-filters button[type=submit]")
    page.wait_for_selector("#chart-by_category .uplot")

    assert "category=database" in page.url
    assert [line["label"] for line in lines_of(page, "by_category")] == ["database"]
    assert [line["label"] for line in lines_of(page, "by_severity")] == ["critical", "warning"]
    for line in lines_of(page, "by_severity"):
        assert "category=database" in line["json"]
        assert line["ys"] == [b["count"] for b in fetch(page, line["json"])["series"]]
    assert page.locator(".error-row").count() == 2
    assert page.text_content("#total-errors") == "2"


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_resolve_then_reopen_from_the_page(browser, browser_superuser, ingest_client):
    seed(ingest_client)
    newest = ErrorLog.objects.order_by("-timestamp").first()
    page = browser.page(user=browser_superuser)
    page.goto(browser.url(PAGE + "?category=api"))
    row = f"#error-{newest.pk}"
    page.click(f"{row} summary")

    page.fill(f"{row} input[name=notes]", "provider fixed")
    page.click(f'{row} [data-action="resolve"]')

    page.wait_for_selector(f"{row}.is-resolved")
    assert "category=api" in page.url  # back to the same filters
    assert page.text_content(f'{row} [data-field="status"]') == "resolved"
    page.click(f"{row} summary")
    assert "by oncall" in page.text_content(f'{row} [data-field="resolution"]')
    assert "provider fixed" in page.text_content(f'{row} [data-field="resolution"]')
    assert page.text_content("#unresolved-count") == "2"
    api = fetch(page, TRENDS + "?hours=24&category=api")
    assert api["unresolved_count"] == 2 and api["total_errors"] == 3
    newest.refresh_from_db()
    assert newest.resolved and newest.resolved_by == "oncall"
    browser.shoot(page, "console-errors-resolved")

    page.click(f'{row} [data-action="reopen"]')

    page.wait_for_selector(f"{row}:not(.is-resolved)")
    assert page.text_content(f'{row} [data-field="status"]') == "open"
    assert page.text_content("#unresolved-count") == "3"
    assert fetch(page, TRENDS + "?hours=24&category=api")["unresolved_count"] == 3
    newest.refresh_from_db()
    assert not newest.resolved and newest.resolved_by == "" and newest.resolved_at is None


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_an_empty_errors_page_says_what_to_send(browser, browser_superuser):
    page = browser.page(user=browser_superuser)

    page.goto(browser.url(PAGE))

    page.wait_for_selector("#chart-by_category .console-empty")
    assert page.locator(".uplot").count() == 0  # no blank chart
    assert page.text_content("#chart-by_severity").count("No error in this window") == 1
    for where in ("#chart-by_category", "#errors-empty"):
        text = page.text_content(where)
        assert 'curl -H "X-API-Key: $INGEST_KEY"' in text, where
        assert browser.url("/api/v1/analytics/error") in text, where
    browser.shoot(page, "console-errors-empty")


# --- permissions (test client)


@pytest.mark.django_db
def test_staff_without_the_view_permission_get_403_and_no_nav_entry(staff_user):
    client = Client()
    client.force_login(staff_user)

    assert client.get(PAGE).status_code == 403
    assert 'href="/admin/console/errors/"' not in client.get("/admin/console/").content.decode()

    grant(staff_user, "errors.view_errorlog")
    assert client.get(PAGE).status_code == 200
    assert 'href="/admin/console/errors/"' in client.get("/admin/console/").content.decode()
    assert 'id="issues-link"' not in client.get(PAGE).content.decode()
    grant(staff_user, "errors.view_issue")  # the link to triage the errors as issues
    assert 'href="/admin/errors/issue/" id="issues-link"' in client.get(PAGE).content.decode()


@pytest.mark.django_db
def test_resolving_needs_the_change_permission(staff_user, ingest_client):
    seed(ingest_client)
    error = ErrorLog.objects.first()
    grant(staff_user, "errors.view_errorlog")
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)

    page = client.get(PAGE).content.decode()
    assert 'data-action="resolve"' not in page  # no button without errors.change_errorlog
    token = client.get(PAGE).cookies.get("csrftoken") or client.cookies.get("csrftoken")
    headers = {"HTTP_X_CSRFTOKEN": token.value} if token else {}
    refused = client.post(f"{PAGE}{error.pk}/resolve", {"next": PAGE}, **headers)
    assert refused.status_code == 403
    error.refresh_from_db()
    assert not error.resolved

    grant(staff_user, "errors.change_errorlog")
    client.force_login(staff_user)  # permissions are cached on the user
    page = client.get(PAGE).content.decode()
    assert 'data-action="resolve"' in page
    assert client.post(f"{PAGE}{error.pk}/resolve", {"next": PAGE}).status_code == 403  # CSRF
    error.refresh_from_db()
    assert not error.resolved
