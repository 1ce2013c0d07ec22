"""The AI usage page in headless Chromium: seeded through the public write API and the
ingest task body, every chart checked against the answer of the source it names."""

from collections import defaultdict
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.browser import fetch
from tests.helpers import drain_outbox, grant, iso, post_json

PAGE = "/admin/console/ai/"
LOG = "/api/v1/analytics/log-ai-usage"
ALICE = "7d3c1c8e-6a49-4f43-8d0c-2b5f2f9d1a01"
BOB = "0f9a4e2b-3c1d-4e5f-8a7b-6c5d4e3f2a10"
QUESTIONS = ["How do I reset my password?", "hey, how do i RESET my password", "What is a quiz?"]


def seed(ingest_client, admin_api_client) -> None:
    now = timezone.now()
    prices = [
        {"model": "gpt-4o", "input_per_million": 2.5, "output_per_million": 10},
        {"model": "claude-*", "input_per_million": 3, "output_per_million": 15},
    ]
    for price in prices:
        response = post_json(admin_api_client, "/api/v1/analytics/ai/prices", price)
        assert response.status_code == 201, response.content
    assistants = [
        {"assistant_id": ALICE, "assistant_name": "Tutor"},
        {"assistant_id": BOB, "assistant_name": "Grader"},
    ]
    usage = [
        {
            "feature": ("chat", "quiz", "voice")[i % 3],
            "model": ("gpt-4o", "claude-3-haiku", "llama-3")[i % 3 if i % 4 else 0],
            **assistants[i % 2],
            "tokens_in": 1000 + 100 * i,
            "tokens_out": 200 + 10 * i,
            "ttft_ms": 200 + 15 * i,
            "generation_ms": 1000 + 50 * i,
            "response_time_ms": 1500 + 40 * i,
            "success": i % 7 != 3,
            "cache_hit": i % 3 == 0,
            "question": QUESTIONS[i % 3],
            "user_id": f"u{i % 5}",
            "timestamp": iso(now - timedelta(hours=9 * i + 1)),
        }
        for i in range(24)  # 9 days, two of them outside a 7-day window
    ]
    response = post_json(ingest_client, LOG, usage)
    assert response.status_code == 202 and not response.json()["rejected"], response.content
    documents = [
        {"document_id": f"doc-{i}", "title": f"Doc {i}", "updated_at": iso(now - timedelta(days=d))}
        for i, d in enumerate((1, 5, 45, 120))
    ]
    response = post_json(ingest_client, "/api/v1/analytics/ai/documents", documents)
    assert response.status_code == 200, response.content
    drain_outbox()


def drawn(page, key: str) -> dict:
    """The chart's lines as uPlot holds them: label -> values (and the x values)."""
    return page.evaluate(
        f"""(() => {{ const u = Console.charts[{key!r}];
            const out = {{x: u.data[0]}};
            u.series.slice(1).forEach((s, i) => out[s.label] = u.data[i + 1]);
            return out; }})()"""
    )


def downloads(page, key: str) -> list[str]:
    return page.eval_on_selector_all(
        f"#chart-{key} .ai-downloads a", "nodes => nodes.map(n => n.getAttribute('href'))"
    )


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_the_ai_page_draws_every_chart_from_its_sources(
    browser, browser_superuser, ingest_client, admin_api_client
):
    days = 30
    seed(ingest_client, admin_api_client)
    page = browser.page(user=browser_superuser)

    page.goto(browser.url(f"{PAGE}?days={days}"))
    for key in ("cost_by_model", "cost_by_assistant", "requests_by_feature", "ttft"):
        page.wait_for_selector(f"#chart-{key} .uplot")
    page.wait_for_selector("[data-topic]")
    assert page.get_attribute('.ai-window a[aria-current="true"]', "data-days") == str(days)

    # Cost per day by model and by assistant: the lines hold the per-day source's rows.
    csv, json_url = downloads(page, "cost_by_model")
    assert "format=csv" in csv and "format=json" in json_url and f"days={days}" in json_url
    rows = fetch(page, json_url)["rows"]
    assert rows
    for key, name in (("cost_by_model", "model"), ("cost_by_assistant", "assistant_name")):
        chart = drawn(page, key)
        assert len(chart["x"]) == days
        expected: dict = defaultdict(float)
        for row in rows:
            expected[row[name]] += row["estimated_cost_usd"]
        lines = {label: sum(values) for label, values in chart.items() if label != "x"}
        assert set(lines) == set(expected), key
        for label, total in expected.items():
            assert lines[label] == pytest.approx(total, abs=1e-6), (key, label)
        day = {p: i for i, p in enumerate(chart["x"])}
        per_day: dict = defaultdict(float)
        for row in rows:
            start = timezone.datetime.fromisoformat(row["day"].replace("Z", "+00:00"))
            per_day[(row[name], day[start.timestamp()])] += row["estimated_cost_usd"]
        for (label, i), cost in per_day.items():
            assert chart[label][i] == pytest.approx(cost, abs=1e-6), (key, label, i)
    assert "llama-3" in drawn(page, "cost_by_model")  # an unpriced model costs 0, and says so
    assert "not in the cost" in page.text_content('[data-field="unpriced"]')
    total = sum(row["estimated_cost_usd"] for row in rows)
    assert page.text_content('[data-total="cost_usd"]') == f"${total:.{4 if total < 1 else 2}f}"
    assert page.text_content('[data-total="requests"]') == str(sum(r["requests"] for r in rows))

    # Requests per feature per day add up to the rows too.
    features = drawn(page, "requests_by_feature")
    for feature in ("chat", "quiz", "voice"):
        assert sum(features[feature]) == sum(r["requests"] for r in rows if r["feature"] == feature)

    # TTFT p50 and p95, tokens per second: exactly the metric time series they name.
    ttft = drawn(page, "ttft")
    p50, p50_json, p95, p95_json = downloads(page, "ttft")
    assert [b["value"] for b in fetch(page, p50_json)["buckets"]] == ttft["p50"]
    assert [b["value"] for b in fetch(page, p95_json)["buckets"]] == ttft["p95"]
    assert len([v for v in ttft["p50"] if v is not None]) >= 5
    speed = drawn(page, "tokens_per_second")
    answer = fetch(page, downloads(page, "tokens_per_second")[1])["buckets"]
    assert [b["value"] for b in answer] == speed["Average"]

    # The per-feature table is the /ai-features answer of its window (the API's 168 h).
    api = page.get_attribute("#part-features [data-source] a", "href")
    assert "hours=168" in api
    answer = fetch(page, api)
    shown = page.eval_on_selector_all("[data-feature]", "rows => rows.map(r => r.dataset.feature)")
    assert shown == [f["feature"] for f in answer] and len(shown) == 3

    # Trending questions: two wordings of one question count together.
    topics = fetch(page, "/api/v1/analytics/trending?limit=10")
    shown = page.eval_on_selector_all("[data-topic]", "rows => rows.map(r => r.dataset.topic)")
    assert shown == [t["topic"] for t in topics] and len(shown) == 2
    assert "How do I reset my password?" in page.text_content("#part-trending")
    # Knowledge freshness: 2 fresh, 1 aging, 1 stale.
    cells = page.eval_on_selector_all(
        "[data-category]", "rows => rows.map(r => r.children[1].textContent)"
    )
    assert cells == ["2", "1", "1"]

    # Downloads answer CSV.
    csv_text = page.evaluate(f"fetch({csv!r}).then(r => r.text())")
    assert csv_text.splitlines()[0].startswith("day,assistant_id,assistant_name,model,feature")
    assert len(csv_text.splitlines()) == len(rows) + 1
    # Hover: UTC and the viewer's local time.
    page.locator("#chart-ttft .u-over").scroll_into_view_if_needed()
    box = page.locator("#chart-ttft .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)
    legend = page.text_content("#chart-ttft .u-legend")
    assert "UTC (" in legend and " local)" in legend, legend
    # Each chart fits its column (drawn after every chart of its row has its place).
    overflow = page.evaluate(
        """Object.entries(Console.charts).filter(([k, u]) =>
             u.root.getBoundingClientRect().right >
             document.getElementById('chart-' + k).getBoundingClientRect().right + 1)
           .map(([k]) => k)"""
    )
    assert overflow == []
    print(f"first chart {page.evaluate('window.consoleFirstChartMs'):.0f} ms after navigation")
    browser.shoot(page, "console-ai")

    # Another window from the selector: 7 days, 7 points, fewer requests.
    page.click('.ai-window a[data-days="7"]')
    page.wait_for_selector('.ai-window a[data-days="7"][aria-current="true"]')
    page.wait_for_selector("#chart-cost_by_model .uplot")
    assert page.url.endswith("?days=7")
    assert len(drawn(page, "cost_by_model")["x"]) == 7
    week = fetch(page, downloads(page, "cost_by_model")[1])["rows"]
    assert sum(r["requests"] for r in week) < sum(r["requests"] for r in rows)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_an_empty_ai_page_says_what_to_send(browser, browser_superuser):
    page = browser.page(user=browser_superuser)

    page.goto(browser.url(PAGE))

    page.wait_for_selector("#ai-empty .console-empty")
    text = page.text_content("#ai-empty")
    assert "No AI usage recorded in the last 7 days" in text
    assert 'curl -H "X-API-Key: $INGEST_KEY"' in text
    assert f"{browser.url(LOG)}" in text, text
    assert page.locator(".uplot").count() == 0  # no blank chart
    assert "No question recorded yet" in page.text_content("#part-trending")
    assert "/api/v1/analytics/ai/documents" in page.text_content("#part-freshness")
    assert page.text_content('[data-total="requests"]') == "0"
    browser.shoot(page, "console-ai-empty")


@pytest.mark.django_db
def test_staff_without_the_ai_permission_get_403_and_no_nav_entry(staff_user):
    client = Client()
    client.force_login(staff_user)

    refused = client.get(PAGE)
    assert refused.status_code == 403
    assert "You do not have permission to view AI" in refused.content.decode()
    for source in ("/admin/console/data/ai/page.json", "/admin/console/data/ai/daily"):
        assert client.get(source).status_code == 403
    assert f'href="{PAGE}"' not in client.get("/admin/console/").content.decode()

    grant(staff_user, "ai.view_aiusage")
    client.force_login(type(staff_user).objects.get(pk=staff_user.pk))
    assert client.get(PAGE).status_code == 200
    assert f'href="{PAGE}"' in client.get("/admin/console/").content.decode()
    assert client.get("/admin/console/data/ai/page.json?days=30").json()["days"] == 30
    assert client.get("/admin/console/data/ai/daily?days=91").status_code == 400


@pytest.mark.django_db
def test_beyond_five_models_the_rest_are_one_other_line_and_the_cost_is_kept(
    ingest_client, admin_api_client
):
    from apps.console.ai import page_data

    price = {"model": "m*", "input_per_million": 1, "output_per_million": 1}
    assert post_json(admin_api_client, "/api/v1/analytics/ai/prices", price).status_code == 201
    now = timezone.now()
    usage = [
        {"feature": "chat", "model": f"m{i}", "tokens_in": 1000 * (i + 1), "timestamp": iso(now)}
        for i in range(8)
    ]
    response = post_json(ingest_client, LOG, usage)
    assert response.status_code == 202 and not response.json()["rejected"], response.content
    drain_outbox()

    data = page_data(days=7)

    chart = next(c for c in data["charts"] if c["key"] == "cost_by_model")
    labels = [line["label"] for line in chart["series"]]
    assert labels == ["m7", "m6", "m5", "m4", "m3", "Other (3)"]  # dearest first
    assert sum(line["values"][-1] for line in chart["series"]) == pytest.approx(0.036)
    assert chart["series"][-1]["values"][-1] == pytest.approx(0.006)  # m0 + m1 + m2
    assert data["totals"]["cost_usd"] == pytest.approx(0.036)


@pytest.mark.django_db
def test_the_daily_csv_has_the_same_columns_with_usage_or_without(ingest_client, admin_client):
    daily = "/admin/console/data/ai/daily?days=7&format=csv"
    empty = admin_client.get(daily).content.decode().splitlines()
    at = iso(timezone.now())
    usage = {"feature": "chat", "model": "m", "reported_cost_usd": 0.25, "timestamp": at}
    assert post_json(ingest_client, LOG, [usage]).status_code == 202
    drain_outbox()

    lines = admin_client.get(daily).content.decode().splitlines()

    assert empty == [lines[0]] and len(lines) == 2
    row = dict(zip(lines[0].split(","), lines[1].split(","), strict=True))
    assert (row["reported_cost_usd"], row["reported_requests"]) == ("0.25", "1")
