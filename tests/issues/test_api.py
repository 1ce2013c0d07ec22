"""GET /api/v1/analytics/issues (and one, and its events), POST .../issues/bulk."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.errors.models import ErrorLog, Issue
from tests.helpers import post_json
from tests.issues.helpers import ISSUES, PY_TRACE, error, ship

pytestmark = pytest.mark.django_db
BULK = f"{ISSUES}/bulk"


@pytest.fixture
def three_issues(ingest_client) -> dict[str, Issue]:
    now = datetime.now(UTC)
    ship(
        ingest_client,
        [
            error(
                "Order 1 not found",
                user_id="ann",
                timestamp=(now - timedelta(hours=30)).isoformat(),
            ),
            error("Order 2 not found", user_id="bob", context={"release": "2.0"}),
            error(
                "Disk full",
                category="database",
                severity="critical",
                timestamp=(now - timedelta(hours=2)).isoformat(),
            ),
            error(
                "Slow page",
                category="frontend",
                severity="warning",
                timestamp=(now - timedelta(hours=1)).isoformat(),
            ),
        ],
    )
    return {i.title.split()[0]: i for i in Issue.objects.all()}


def test_issues_are_listed_by_last_seen_with_the_24h_count(read_client, three_issues):
    answer = read_client.get(ISSUES).json()
    rows = answer["results"]
    assert [r["title"] for r in rows] == ["Order 1 not found", "Slow page", "Disk full"]
    order = rows[0]
    assert (order["event_count"], order["count_24h"], order["users_affected"]) == (2, 1, 2)
    assert order["status"] == "unresolved" and order["last_release"] == "2.0"
    assert order["events_url"] == f"{ISSUES}/{order['id']}/events"


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("status=unresolved", ["Order", "Slow", "Disk"]),
        ("status=resolved", []),
        ("category=database,frontend", ["Slow", "Disk"]),
        ("category=database&category=frontend", ["Slow", "Disk"]),
        ("severity=critical", ["Disk"]),
        ("release=2.0", ["Order"]),
        ("release=9.9", []),
    ],
)
def test_issues_are_filtered(read_client, three_issues, query, titles):
    rows = read_client.get(f"{ISSUES}?{query}").json()["results"]
    assert [r["title"].split()[0] for r in rows] == titles


@pytest.mark.parametrize(
    "query",
    [
        "status=open",
        "status=",
        "category=nope",
        "severity=loud",
        "release=",
        "release=" + "r" * 201,
        "page_size=0",
        "page_size=1001",
        "cursor=bogus",
        "status=" + ",".join(["resolved"] * 4),
        "release=%00",
        "page_size=1.5",
        "page_size=99999999999999999999999",
        "cursor=cD0yMDI2LTEzLTQwVDk5Ojk5Ojk5JnI9MQ==",  # p=2026-13-40T99:99:99&r=1
        "status=resolved%00",
    ],
)
def test_bad_list_parameters_are_a_clear_4xx(read_client, three_issues, query):
    response = read_client.get(f"{ISSUES}?{query}")
    assert response.status_code in (400, 404), response.content
    assert response["Content-Type"].startswith("application/json")


def test_pages_follow_the_cursor(read_client, three_issues):
    first = read_client.get(f"{ISSUES}?page_size=2").json()
    second = read_client.get(first["next"]).json()
    titles = [r["title"] for r in first["results"] + second["results"]]
    assert len(titles) == 3 and len(set(titles)) == 3


def test_the_list_takes_the_same_queries_for_any_page(read_client, ingest_client, three_issues):
    with CaptureQueriesContext(connection) as three:
        assert len(read_client.get(ISSUES).json()["results"]) == 3
    ship(ingest_client, [error(f"Other {n}", error_code=f"E{n}") for n in range(6)])
    with CaptureQueriesContext(connection) as nine:
        assert len(read_client.get(ISSUES).json()["results"]) == 9
    assert len(nine) == len(three)


def test_one_issue_has_its_timeline_sample_event_and_hourly_counts(read_client, ingest_client):
    ship(ingest_client, [error(stack_trace=PY_TRACE.format(line=1, key="k"), user_id="ann")])
    issue = Issue.objects.get()
    answer = read_client.get(f"{ISSUES}/{issue.pk}").json()
    assert [t["kind"] for t in answer["timeline"]] == ["first_seen"]
    assert answer["sample_event"]["stack_trace"].startswith("Traceback")
    assert answer["sample_event"]["event_id"] == str(ErrorLog.objects.get().event_id)
    assert sum(b["count"] for b in answer["hourly"]) == 1 and len(answer["hourly"]) >= 24
    assert answer["count_24h"] == 1


def test_an_issues_events_are_paginated_newest_first(read_client, ingest_client):
    now = datetime.now(UTC)
    ship(
        ingest_client, [error(timestamp=(now - timedelta(minutes=m)).isoformat()) for m in range(5)]
    )
    ship(ingest_client, [error("Something else")])
    issue = Issue.objects.get(title="Order 1234 not found")
    url = read_client.get(f"{ISSUES}/{issue.pk}").json()["events_url"]
    first = read_client.get(f"{url}?page_size=3").json()
    rest = read_client.get(first["next"]).json()
    stamps = [e["timestamp"] for e in first["results"] + rest["results"]]
    assert len(stamps) == 5 and stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize("query", ["page_size=0", "page_size=1001", "page_size=", "cursor=x"])
def test_bad_event_page_parameters_are_a_clear_4xx(read_client, three_issues, query):
    url = f"{ISSUES}/{three_issues['Order'].pk}/events?{query}"
    response = read_client.get(url)
    assert response.status_code in (400, 404), response.content
    assert response["Content-Type"].startswith("application/json")


def test_unknown_issues_are_404(read_client):
    for path in (f"{ISSUES}/999", f"{ISSUES}/999/events", f"{ISSUES}/{2**70}"):
        assert read_client.get(path).status_code == 404


def test_bulk_resolve_ignore_unresolve(admin_api_client, three_issues):
    ids = [three_issues["Order"].pk, three_issues["Disk"].pk]
    answer = post_json(admin_api_client, BULK, {"ids": ids, "action": "resolve", "note": "ok"})
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"action": "resolve", "requested": 2, "changed": 2}
    again = post_json(admin_api_client, BULK, {"ids": ids, "action": "resolve"}).json()
    assert again["changed"] == 0
    assert set(Issue.objects.filter(status="resolved").values_list("pk", flat=True)) == set(ids)
    assert ErrorLog.objects.filter(resolved=True).count() == 3

    post_json(admin_api_client, BULK, {"ids": [three_issues["Slow"].pk], "action": "ignore"})
    assert Issue.objects.get(pk=three_issues["Slow"].pk).status == "ignored"
    post_json(admin_api_client, BULK, {"ids": ids, "action": "unresolve"})
    assert not Issue.objects.filter(status="resolved").exists()
    assert not ErrorLog.objects.filter(resolved=True).exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": [], "action": "resolve"},
        {"ids": [1], "action": "delete"},
        {"ids": ["x"], "action": "resolve"},
        {"ids": [0], "action": "resolve"},
        b'{"ids": [18446744073709551616], "action": "resolve"}',
        {"ids": list(range(1, 1002)), "action": "resolve"},
        {"ids": [1], "action": "resolve", "extra": 1},
        {"ids": [1], "action": "resolve", "note": "n" * 5001},
        [1, 2],
    ],
)
def test_bad_bulk_bodies_are_400(admin_api_client, body):
    response = post_json(admin_api_client, BULK, body)
    assert response.status_code == 400, response.content


def test_reads_need_a_read_key_and_writes_an_admin_key_or_staff_permission(
    client, read_client, ingest_client, staff_client, staff_user, three_issues
):
    body = {"ids": [three_issues["Order"].pk], "action": "resolve"}
    assert client.get(ISSUES).status_code in (401, 403)
    assert ingest_client.get(ISSUES).status_code == 403
    assert post_json(read_client, BULK, body).status_code == 403
    assert post_json(staff_client, BULK, body).status_code == 403  # staff, no permission
    from django.contrib.auth.models import Permission

    staff_user.user_permissions.add(Permission.objects.get(codename="change_issue"))
    assert post_json(staff_client, BULK, body).status_code == 200
    assert Issue.objects.get(pk=body["ids"][0]).resolved_by == f"user:{staff_user.username}"


def test_the_issue_endpoints_are_in_the_openapi_schema(read_client):
    schema = read_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/analytics/issues",
        "/api/v1/analytics/issues/bulk",
        "/api/v1/analytics/issues/{id}",
        "/api/v1/analytics/issues/{id}/events",
    ):
        assert path in paths, sorted(p for p in paths if "issue" in p)
    names = {p["name"] for p in paths["/api/v1/analytics/issues"]["get"]["parameters"]}
    assert {"status", "category", "severity", "release", "cursor", "page_size"} <= names
