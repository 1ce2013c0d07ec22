"""Errors from every source grouped into issues as they are stored."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.errors import selectors, services
from apps.errors.models import ErrorLog, Issue
from tests.helpers import drain_outbox, post_json
from tests.issues.helpers import PY_TRACE, error, only_issue, ship
from tests.otlp.payloads import log_record, logs_request
from tests.otlp.payloads import post as otlp_post
from tests.sentry_ingest.helpers import event_envelope, exception_event, post_envelope

pytestmark = pytest.mark.django_db


def test_the_same_bug_with_different_ids_is_one_issue(ingest_client):
    ship(
        ingest_client,
        [
            error(
                f"KeyError: 'order-{n}' for user {n}@example.com at 0x7f{n}a0",
                stack_trace=PY_TRACE.format(line=10 + n, key=f"order-{n}"),
                user_id=f"u{n % 2}",
            )
            for n in range(5)
        ],
    )
    issue = only_issue()
    assert issue.event_count == 5
    assert issue.users_affected == 2
    assert issue.title.startswith("KeyError: 'order-0'")
    assert issue.culprit == "load_order in orders.py"  # the top in-app frame
    assert set(ErrorLog.objects.values_list("fingerprint", flat=True)) == {issue.fingerprint}


def test_different_frames_are_two_issues(ingest_client):
    trace = PY_TRACE.format(line=1, key="k")
    ship(
        ingest_client,
        [
            error("KeyError: 'k'", stack_trace=trace),
            error("KeyError: 'k'", stack_trace=trace.replace("load_order", "load_refund")),
        ],
    )
    assert Issue.objects.count() == 2


def test_a_retried_batch_counts_once(ingest_client):
    items = [error(user_id="ann"), error(user_id="bob"), error(user_id="ann")]
    ship(ingest_client, items)
    ship(ingest_client, items)  # the client retried: same event_ids
    ship(ingest_client, [*items, error(user_id="cy")])  # and again, with one new

    issue = only_issue()
    assert (issue.event_count, issue.users_affected) == (4, 3)
    assert ErrorLog.objects.count() == 4
    assert [a.kind for a in selectors.issue_timeline(issue)] == ["first_seen"]


def test_counts_first_and_last_seen_worst_severity_and_releases(ingest_client):
    now = datetime.now(UTC)
    ship(
        ingest_client,
        [
            error(timestamp=(now - timedelta(hours=3)).isoformat(), context={"release": "1.0"}),
            error(timestamp=(now - timedelta(hours=1)).isoformat(), severity="critical"),
            error(timestamp=now.isoformat(), severity="warning", context={"release": "1.2"}),
        ],
    )
    ship(ingest_client, [error(timestamp=(now - timedelta(hours=5)).isoformat())])
    issue = only_issue()
    assert issue.event_count == 4
    assert issue.first_seen == now - timedelta(hours=5)
    assert issue.last_seen == now
    assert issue.severity == "critical"
    assert (issue.first_release, issue.last_release) == ("1.0", "1.2")
    assert issue.title == "Order 1234 not found" and issue.status == "unresolved"


def test_a_resolved_issue_reopens_as_a_regression_on_a_new_event(ingest_client):
    ship(ingest_client, [error(), error()])
    issue = only_issue()
    services.issues_resolve(issues=Issue.objects.all(), actor="oncall", note="fixed in 1.3")
    issue.refresh_from_db()
    assert (issue.status, issue.resolved_by) == ("resolved", "oncall")
    assert not ErrorLog.objects.filter(resolved=False).exists()  # its events resolved too

    ship(ingest_client, [error(user_id="ann")])

    issue.refresh_from_db()
    assert (issue.status, issue.regressions, issue.event_count) == ("unresolved", 1, 3)
    assert (issue.resolved_at, issue.resolved_by) == (None, "")  # the timeline keeps who
    timeline = list(selectors.issue_timeline(issue))
    assert [(a.kind, a.actor) for a in timeline] == [
        ("first_seen", ""),
        ("resolved", "oncall"),
        ("regressed", ""),
    ]
    assert timeline[1].note == "fixed in 1.3"
    new = ErrorLog.objects.get(user_id="ann")
    assert timeline[2].event_id == new.event_id and not new.resolved
    assert ErrorLog.objects.filter(resolved=True).count() == 2  # the old ones stay resolved

    ship(ingest_client, [error()])  # a second new event is no second regression
    issue.refresh_from_db()
    assert issue.regressions == 1 and len(selectors.issue_timeline(issue)) == 3


def test_an_ignored_issue_stays_ignored(ingest_client):
    ship(ingest_client, [error()])
    services.issues_ignore(issues=Issue.objects.all(), actor="oncall")
    ship(ingest_client, [error(), error()])
    issue = only_issue()
    assert (issue.status, issue.event_count, issue.regressions) == ("ignored", 3, 0)
    assert [a.kind for a in selectors.issue_timeline(issue)] == ["first_seen", "ignored"]

    services.issues_unresolve(issues=Issue.objects.all(), actor="oncall")
    issue.refresh_from_db()
    assert issue.status == "unresolved"
    assert selectors.issue_timeline(issue).last().kind == "unresolved"


def test_a_sentry_event_and_an_otlp_error_log_of_one_bug_are_one_issue(ingest_client, ingest_key):
    response = post_envelope(event_envelope(exception_event()), key=ingest_key)
    assert response.status_code == 200, response.content
    drain_outbox()  # stored first: the issue's title and culprit are the Sentry event's
    stack = (
        "Traceback (most recent call last):\n"
        '  File "/srv/shop/app/views.py", line 12, in checkout\n'
        "    total = price(cart)\n"
        '  File "/srv/shop/app/pricing.py", line 40, in price\n'
        "    return amount / count\n"
        "ZeroDivisionError: division by zero"
    )
    record = log_record(
        "checkout failed",
        exception__type="ZeroDivisionError",
        exception__message="division by zero",
        exception__stacktrace=stack,
        user__id="u-99",
    )
    assert otlp_post(ingest_client, "/otlp/v1/logs", logs_request(record)).status_code == 200
    drain_outbox()

    assert ErrorLog.objects.count() == 2
    issue = only_issue()
    assert (issue.event_count, issue.users_affected) == (2, 2)
    assert issue.title == "ZeroDivisionError: division by zero"
    assert issue.culprit == "price in pricing.py"
    assert issue.first_release == "shop@1.4.2"


def test_a_sentry_fingerprint_groups_what_it_names(ingest_key):
    for value in ("card declined", "insufficient funds"):
        event = exception_event(fingerprint=["payments", "stripe"])
        event["exception"]["values"][0]["value"] = value
        assert post_envelope(event_envelope(event), key=ingest_key).status_code == 200
    event = exception_event()  # the default fingerprint: another issue
    assert post_envelope(event_envelope(event), key=ingest_key).status_code == 200
    drain_outbox()
    assert sorted(Issue.objects.values_list("event_count", flat=True)) == [1, 2]


def test_errors_of_the_mixed_batch_endpoint_are_grouped_too(ingest_client):
    items = [{"kind": "error", **error()} for _ in range(2)]
    assert post_json(ingest_client, "/api/v1/analytics/batch", items).status_code == 202
    drain_outbox()
    assert only_issue().event_count == 2
