"""The releases an issue was seen in: kept as errors are stored, filtered on (API and
admin), listed on its page, filled for errors stored before."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.errors.models import ErrorLog, Issue
from apps.ingest import outbox
from tests.issues.helpers import ISSUES, error, only_issue, queue, ship, store_at_once

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:errors_issue_changelist")


def at(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def in_release(release: str, hours: float, message: str = "Order 1234 not found") -> dict:
    return error(message, timestamp=at(hours), context={"release": release})


# One bug seen in 1.0, then 1.1 (twice), then 1.2, and once without a release; another
# bug seen only in 2.0.
def three_releases() -> list[dict]:
    return [
        in_release("1.0", 4),
        in_release("1.1", 3),
        in_release("1.1", 2.5),
        in_release("1.2", 2),
        error(timestamp=at(1)),
        in_release("2.0", 1, message="Disk full"),
    ]


def titles(client, query: str) -> list[str]:
    response = client.get(f"{ISSUES}?{query}")
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["results"]]


def releases(client, issue: Issue) -> list[tuple[str, int]]:
    answer = client.get(f"{ISSUES}/{issue.pk}").json()
    return [(r["release"], r["events"]) for r in answer["releases"]]


def test_an_issue_is_found_by_every_release_it_was_seen_in(ingest_client, read_client):
    ship(ingest_client, three_releases())
    order = Issue.objects.get(title="Order 1234 not found")
    assert (order.first_release, order.last_release) == ("1.0", "1.2")
    for release in ("1.0", "1.1", "1.2"):  # 1.1: neither its first nor its last
        assert titles(read_client, f"release={release}") == ["Order 1234 not found"]
    assert titles(read_client, "release=2.0") == ["Disk full"]
    assert titles(read_client, "release=9.9") == []
    assert titles(read_client, "release=1.1&status=unresolved") == ["Order 1234 not found"]


def test_the_detail_lists_its_releases_last_seen_first(ingest_client, read_client):
    ship(ingest_client, three_releases())
    order = Issue.objects.get(title="Order 1234 not found")
    answer = read_client.get(f"{ISSUES}/{order.pk}").json()
    assert [(r["release"], r["events"]) for r in answer["releases"]] == [
        ("1.2", 1),
        ("1.1", 2),
        ("1.0", 1),
    ]
    assert answer["releases_truncated"] is False
    one_one = answer["releases"][1]
    stored = ErrorLog.objects.filter(release="1.1").order_by("timestamp")
    assert datetime.fromisoformat(one_one["first_seen"]) == stored.first().timestamp
    assert datetime.fromisoformat(one_one["last_seen"]) == stored.last().timestamp
    # The events without a release are in none; the issue counts them all.
    assert answer["event_count"] == 5 and sum(r["events"] for r in answer["releases"]) == 4


def test_later_batches_add_to_a_release_and_a_retried_batch_adds_nothing(
    ingest_client, read_client
):
    items = [in_release("1.0", 3), in_release("1.1", 2)]
    ship(ingest_client, items)
    ship(ingest_client, items)  # the client retried: same event_ids
    order = only_issue()
    assert order.event_count == 2
    assert releases(read_client, order) == [("1.1", 1), ("1.0", 1)]

    ship(ingest_client, [in_release("1.0", 1)])  # 1.0 again, now its newest
    assert releases(read_client, order) == [("1.0", 2), ("1.1", 1)]


def test_the_detail_lists_at_most_50_releases_and_says_so(ingest_client, read_client):
    ship(ingest_client, [in_release(f"3.{n}", hours=60 - n) for n in range(51)])
    answer = read_client.get(f"{ISSUES}/{only_issue().pk}").json()
    assert len(answer["releases"]) == 50 and answer["releases_truncated"] is True
    assert answer["releases"][0]["release"] == "3.50"  # the oldest, 3.0, left out
    assert "3.0" not in {r["release"] for r in answer["releases"]}
    assert titles(read_client, "release=3.0") == ["Order 1234 not found"]


def test_the_releases_are_in_the_openapi_schema(read_client):
    schema = read_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    detail = schema["components"]["schemas"]["IssueDetailOut"]["properties"]
    assert {"releases", "releases_truncated"} <= set(detail)
    release = schema["components"]["schemas"]["IssueReleaseOut"]["properties"]
    assert {"release", "first_seen", "last_seen", "events"} <= set(release)


def test_the_backfill_fills_the_releases_of_errors_stored_before(ingest_client, read_client):
    for release, hours in (("1.0", 4), ("1.1", 3), ("1.1", 2), ("1.2", 1)):
        moment = datetime.now(UTC) - timedelta(hours=hours)
        ErrorLog.objects.create(
            category="api",
            error_message="Order 1234 not found",
            timestamp=moment,
            received_at=moment,
            context={"release": release},
        )
    call_command("group_errors", "--batch", "3", stdout=StringIO())
    order = only_issue()
    assert releases(read_client, order) == [("1.2", 1), ("1.1", 2), ("1.0", 1)]
    assert titles(read_client, "release=1.1") == ["Order 1234 not found"]

    call_command("group_errors", stdout=StringIO())  # a rerun changes nothing
    ship(ingest_client, [in_release("1.1", 0.5)])  # nor does ingest count them again
    assert releases(read_client, order) == [("1.1", 3), ("1.2", 1), ("1.0", 1)]


def test_the_admin_release_filter_finds_an_issue_by_any_of_its_releases(triager, ingest_client):
    ship(ingest_client, three_releases())
    page = triager.get(CHANGELIST).content.decode()
    for release in ("1.0", "1.1", "1.2", "2.0"):
        assert f"?release={release}" in page  # offered
    for release, shown, hidden in [
        ("1.1", "Order 1234", "Disk full"),
        ("1.0", "Order 1234", "Disk full"),
        ("2.0", "Disk full", "Order 1234"),
    ]:
        text = triager.get(f"{CHANGELIST}?release={release}").content.decode()
        assert shown in text and hidden not in text
        assert "1 result" in text
    text = triager.get(f"{CHANGELIST}?release=9.9").content.decode()
    assert "Order 1234" not in text and "Disk full" not in text


def test_the_admin_issue_page_lists_its_releases(triager, ingest_client):
    ship(ingest_client, three_releases())
    order = Issue.objects.get(title="Order 1234 not found")
    text = triager.get(reverse("admin:errors_issue_change", args=[order.pk])).content.decode()
    assert 'class="issue-releases"' in text
    listed = text[text.index('class="issue-releases"') :]
    assert listed.index("1.2: 1 event(s)") < listed.index("1.1: 2 event(s)")
    assert listed.index("1.1: 2 event(s)") < listed.index("1.0: 1 event(s)")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_batches_count_every_release_event_once(
    ingest_client, read_client, monkeypatch
):
    monkeypatch.setattr(outbox, "COALESCE_BATCHES", 0)  # each task its own batch
    # Both batches meet both issues and both releases, in opposite orders.
    first = [in_release(r, 2, message=m) for m in ("boom", "Disk full") for r in ("1.0", "1.1")]
    second = [in_release(r, 1, message=m) for m in ("Disk full", "boom") for r in ("1.1", "1.0")]
    a, b = queue(ingest_client, first), queue(ingest_client, second)
    blocked = store_at_once(a, b)
    assert blocked, "the second batch never waited on the first"
    for issue in Issue.objects.all():
        assert issue.event_count == 4
        assert sorted(releases(read_client, issue)) == [("1.0", 2), ("1.1", 2)]
