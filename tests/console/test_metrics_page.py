"""The metric explorer, as on-call staff use it: points recorded through the public ingest
path, the page opened on a query in its URL, its chart and table checked against the
API answers they come from; the URL following every change (reload, back), names
completed as one types, "Alert on this" filling the admin's rule form."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from apps.metrics.rollups import rollup_pending
from tests.helpers import drain_outbox, grant, iso, post_json

EXPLORER = "/admin/console/metrics/"
RECORD = "/api/v1/analytics/metrics/record"
METRIC = "checkout.duration_ms"
HOSTS = {"eu": ("web-1", "web-2"), "us": ("web-3",)}


def record(client, items) -> None:
    """Through the ingest path, as tests/metrics/test_api.py records."""
    response = post_json(client, RECORD, items)
    assert response.status_code == 202, response.json()
    drain_outbox()
    rollup_pending()


def seed(ingest_client) -> None:
    now = timezone.now()
    points = []
    for i in range(150):  # every 2 minutes over the last 5 hours
        for region, hosts in HOSTS.items():
            for host in hosts:
                points.append(
                    {
                        "metric_name": METRIC,
                        "metric_type": "timer",
                        "unit": "ms",
                        "value": 100
                        + 2 * i
                        + (i % 7) * 9
                        + (50 if region == "us" else 0)
                        + len(host),
                        "tags": {"region": region, "host": host},
                        "timestamp": iso(now - timedelta(minutes=2 * i + 1)),
                    }
                )
    points.append({"metric_name": "checkout.items", "metric_type": "gauge", "value": 3, "tags": {}})
    record(ingest_client, points)


def wait_ready(page, state: str = "ready") -> None:
    page.wait_for_selector(f'#mx-result[data-state="{state}"][aria-busy="false"]')


def chart(page) -> dict:
    """What the chart holds: its series' labels and its columns (x first)."""
    return page.evaluate(
        "({labels: Console.charts.explorer.series.slice(1).map(s => s.label),"
        " data: Console.charts.explorer.data})"
    )


def api(page, url: str) -> dict:
    return page.evaluate(f"fetch({url!r}).then(r => r.json())")


def query(page) -> dict:
    return parse_qs(urlsplit(page.url).query)


def check_against_the_api(page) -> tuple[dict, dict]:
    """The chart holds the time-series answer's buckets (a line per group plus the total,
    the same values); the table holds the statistics answer's figures."""
    series = api(page, page.get_attribute("#mx-chart .console-chart-source a", "href"))
    stats = api(page, page.get_attribute("#mx-stats .console-chart-source a", "href"))
    drawn = chart(page)
    groups = series.get("groups", [])
    assert len(drawn["labels"]) == len(groups) + 1
    assert drawn["labels"][1:] == [g["value"] for g in groups]
    assert len(drawn["data"][0]) == len(series["buckets"]) > 0
    assert drawn["data"][1] == [b["value"] for b in series["buckets"]]
    for column, group in zip(drawn["data"][2:], groups, strict=True):
        assert column == [b["value"] for b in group["buckets"]]
    rows = page.eval_on_selector_all(
        "#mx-stats tbody tr",
        "rows => rows.map(r => Object.fromEntries([...r.querySelectorAll('td')]"
        ".map(td => [td.dataset.field, td.dataset.value])))",
    )
    expected = [stats, *stats.get("groups", [])]
    assert len(rows) == len(expected)
    for row, figures in zip(rows, expected, strict=True):
        for field in ("count", "avg", "min", "max", "p50", "p95", "p99"):
            assert row[field] != "" and float(row[field]) == pytest.approx(figures[field]), field
    return series, stats


# --- access and the rule form, with the test client


@pytest.mark.django_db
def test_staff_without_the_metrics_permission_get_403_and_no_nav_entry(staff_user):
    client = Client()
    client.force_login(staff_user)

    refused = client.get(EXPLORER)
    assert refused.status_code == 403
    assert "You do not have permission to view Metrics" in refused.content.decode()
    assert f'href="{EXPLORER}"' not in client.get("/admin/console/").content.decode()

    grant(staff_user, "metrics.view_metricpoint")
    page = client.get(EXPLORER).content.decode()
    assert f'href="{EXPLORER}" aria-current="page">Metrics' in page
    assert 'id="mx-alert"' not in page  # no rule form to open without alerts.add_alertrule


@pytest.mark.django_db
def test_the_rule_form_takes_its_tags_from_the_link(admin_client):
    form = admin_client.get(
        "/admin/alerts/alertrule/add/?metric_name=checkout.duration_ms&aggregation=p95"
        '&tags={"region": "eu"}&window_seconds=300'
    ).content.decode()

    textarea = re.search(r'<textarea name="tags"[^>]*>(.*?)</textarea>', form, re.S).group(1)
    assert textarea.strip() == "{&quot;region&quot;: &quot;eu&quot;}"
    assert 'name="window_seconds" value="300"' in form
    bad = admin_client.get('/admin/alerts/alertrule/add/?tags=["x"]').content.decode()
    assert re.search(r'<textarea name="tags"[^>]*>\s*\{\}\s*</textarea>', bad)


# --- in Chromium


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_the_chart_and_table_hold_the_api_answers_and_the_url_holds_the_query(
    browser, browser_superuser, ingest_client
):
    seed(ingest_client)
    page = browser.page(user=browser_superuser)
    shared = f"{EXPLORER}?metric={METRIC}&agg=p95&group_by=region&window=6h"

    page.goto(browser.url(shared))

    wait_ready(page)
    series, stats = check_against_the_api(page)
    assert [g["value"] for g in series["groups"]] == ["eu", "us"]
    assert series["interval"] == "2m"  # auto: 6 h in 180 points
    assert page.input_value("#mx-metric") == METRIC
    assert page.input_value("#mx-group") == "region"
    assert page.input_value("#mx-agg") == "p95"
    assert "timer" in page.text_content("#mx-metric-meta")
    assert page.text_content('#mx-stats tr[data-group="eu"] td[data-field="count"]') == "300"
    assert "p95 (ms)" in page.text_content("#mx-stats thead")  # figures with their unit
    assert "p95 per 2m, last 6h (ms)" in page.text_content("#mx-chart .console-chart-title")
    # Hovering shows the bucket's UTC time and the viewer's local time.
    box = page.locator("#mx-chart .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 4, box["y"] + box["height"] / 2)
    legend = page.text_content("#mx-chart .u-legend")
    assert "UTC (" in legend and " local)" in legend
    print(f"first chart {page.evaluate('window.consoleFirstChartMs'):.0f} ms after navigation")
    # The data behind the chart and the table, as CSV and JSON.
    csv = page.get_attribute("#mx-series-csv", "href")
    assert csv.endswith("&format=csv") and "group_by=region" in csv and "agg=p95" in csv
    body = page.evaluate(f"fetch({csv!r}).then(r => r.text())")
    assert body.splitlines()[0].startswith(("start", "metric_name", "group")), body[:200]
    stats_json = api(page, page.get_attribute("#mx-stats-json", "href"))
    assert stats_json["count"] == stats["count"] == 450
    browser.shoot(page, "console-metrics-grouped")

    # Changing group_by: a new URL, a new chart (one line per host plus the total).
    page.select_option("#mx-group", "host")
    page.wait_for_function("new URLSearchParams(location.search).get('group_by') === 'host'")
    wait_ready(page)
    assert query(page)["group_by"] == ["host"]
    check_against_the_api(page)
    assert chart(page)["labels"][1:] == ["web-1", "web-2", "web-3"]

    # A tag filter, from the tag's values as one types.
    page.select_option("#mx-tag-key", "region")
    page.fill("#mx-tag-value", "u")
    page.click('#mx-tag-options [data-value="us"]')
    page.wait_for_function("location.search.includes('tag=region%3Aus')")
    wait_ready(page)
    check_against_the_api(page)
    assert chart(page)["labels"][1:] == ["web-3"]
    assert page.text_content("#mx-tags").startswith("region:us")

    # A reload draws the same view.
    page.reload()
    wait_ready(page)
    assert query(page)["tag"] == ["region:us"] and query(page)["group_by"] == ["host"]
    assert chart(page)["labels"][1:] == ["web-3"]

    # "Alert on this": the admin's rule form, filled in from the chart.
    page.click("#mx-alert")
    page.wait_for_selector("#id_metric_name")
    assert urlsplit(page.url).path == "/admin/alerts/alertrule/add/"
    assert page.input_value("#id_metric_name") == METRIC
    assert page.input_value("#id_aggregation") == "p95"
    assert page.input_value("#id_window_seconds") == "120"  # one point of the chart: 2m
    assert page.input_value("#id_tags") == '{"region": "us"}'
    browser.shoot(page, "console-metrics-alert-form")

    # Back: the explorer as it was, then the views before it.
    page.go_back()
    wait_ready(page)
    assert chart(page)["labels"][1:] == ["web-3"]
    page.go_back()
    page.wait_for_function("!location.search.includes('tag=')")
    wait_ready(page)
    assert chart(page)["labels"][1:] == ["web-1", "web-2", "web-3"]
    page.go_back()
    page.wait_for_function("new URLSearchParams(location.search).get('group_by') === 'region'")
    wait_ready(page)
    assert chart(page)["labels"][1:] == ["eu", "us"]
    assert page.input_value("#mx-group") == "region"


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_names_complete_as_one_types_and_refusals_read_plainly(
    browser, browser_superuser, ingest_client
):
    seed(ingest_client)
    page = browser.page(user=browser_superuser)
    page.goto(browser.url(EXPLORER))
    wait_ready(page, "choose")
    browser.shoot(page, "console-metrics-choose")

    page.click("#mx-metric")
    page.keyboard.type("durat")
    # The list follows what is typed: checkout.items does not contain "durat".
    page.wait_for_function(
        "[...document.querySelectorAll('#mx-metric-options [role=option]')]"
        f".map(o => o.dataset.value).join() === {METRIC!r}"
    )
    assert "timer" in page.text_content("#mx-metric-options")
    page.click(f'#mx-metric-options [data-value="{METRIC}"]')

    page.wait_for_function(f"new URLSearchParams(location.search).get('metric') === {METRIC!r}")
    wait_ready(page)
    assert query(page)["window"] == ["24h"]
    series, _ = check_against_the_api(page)
    assert series["interval"] == "5m"  # auto: 24 h in 288 points

    # 90 days is past the API's `hours` bound: asked as from/to, in 12-hour buckets.
    page.select_option("#mx-window", "90d")
    page.wait_for_function("location.search.includes('window=90d')")
    wait_ready(page)
    source = page.get_attribute("#mx-chart .console-chart-source a", "href")
    assert "from=" in source and "to=" in source and "interval=12h" in source
    check_against_the_api(page)
    # From/to (UTC), starting as the window shown.
    page.select_option("#mx-window", "custom")
    page.fill("#mx-from", (timezone.now() - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    page.click("#mx-range-apply")
    page.wait_for_function("location.search.includes('from=')")
    wait_ready(page)
    assert query(page)["from"][0].endswith(":00Z") and "window" not in query(page)
    series, _ = check_against_the_api(page)
    assert series["interval"] == "1m"  # auto: 3 h in 180 points

    # An interval the API refuses for the window (too many buckets per group) is not
    # offered; given in a URL anyway, the API's 400 is shown in its own words.
    browser.allow_errors(r"status of 400")
    page.goto(browser.url(f"{EXPLORER}?metric={METRIC}&group_by=host&interval=1m&window=30d"))
    wait_ready(page, "error")
    message = page.text_content("#mx-error")
    assert message.startswith("The API refused this query (400): interval: This window and")
    assert "at most 1000 are answered" in message
    offered = page.eval_on_selector_all(
        "#mx-interval option", "o => o.filter(n => !n.disabled).map(n => n.value)"
    )
    assert offered == ["", "1m", "1h", "2h", "3h", "6h", "12h", "1d", "1w"]  # 1m: the URL's
    browser.shoot(page, "console-metrics-refused")


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_an_empty_window_says_what_to_send(browser, browser_superuser, ingest_client):
    seed(ingest_client)
    page = browser.page(user=browser_superuser)

    page.goto(browser.url(f"{EXPLORER}?metric=checkout.items&tag=host:web-9&window=1h"))

    wait_ready(page, "empty")
    text = page.text_content("#mx-chart")
    assert "No point of checkout.items matches these tags" in text
    assert 'curl -H "X-API-Key: $INGEST_KEY"' in text and "/api/v1/analytics/metrics/record" in text
    assert '"tags":{"host":"web-9"}' in text
    assert page.locator("#mx-chart .uplot").count() == 0
    browser.shoot(page, "console-metrics-empty")


def test_reads_refused_while_the_sessions_slots_are_held_are_retried(
    browser, browser_superuser, ingest_client, settings
):
    """The explorer asks its series and statistics at once; with the session's read
    slots (API_READS_PER_KEY) held elsewhere they get 429s, and the page waits them out
    (Retry-After) instead of drawing nothing."""
    from apps.core import readcost

    seed(ingest_client)
    settings.API_READ_KEY_WAIT_MS = 50  # refused at once while the slots are held
    ident = f"user:{browser_superuser.pk}"
    held = [readcost.key_slot_take(ident) for _ in range(settings.API_READS_PER_KEY)]
    browser.allow_errors("429")  # the refused reads, as the browser logs them
    page = browser.page(user=browser_superuser)
    refused = []
    page.on("response", lambda r: r.status == 429 and refused.append(r.url))

    page.goto(browser.url(f"{EXPLORER}?metric={METRIC}&group_by=region&window=6h"))
    page.wait_for_function("() => document.querySelectorAll('#mx-chart').length", timeout=5000)
    page.wait_for_timeout(1200)  # the page has met the 429s by now
    for slot in held:
        readcost.key_slot_give(slot)

    wait_ready(page)
    assert refused, "the reads were not refused: the test held no slot"
    check_against_the_api(page)
