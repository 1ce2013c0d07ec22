"""Triage as on-call staff meet it, in Chromium: the issues list, an issue's page (its
stack trace, its events per hour drawn, its timeline), then a bulk resolve from the list
and a regression after it."""

import pytest

from apps.errors.models import Issue
from tests.issues.helpers import PY_TRACE, error, ship

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_triage_an_issue_from_the_list_to_its_page_and_back(
    browser, browser_superuser, ingest_client
):
    ship(
        ingest_client,
        [
            error("Order 1234 not found", stack_trace=PY_TRACE.format(line=40, key="1234")),
            error("Order 98 not found", stack_trace=PY_TRACE.format(line=41, key="98"),
                  user_id="u-1"),
            error("Disk full", category="database", severity="critical"),
        ],
    )  # fmt: skip
    orders = Issue.objects.get(title__startswith="Order")
    page = browser.page(user=browser_superuser)

    page.goto(browser.url("/admin/errors/issue/"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    page.click(f"#result_list a[href$='/{orders.pk}/change/']")
    page.wait_for_selector("svg.issue-chart")
    assert "load_order" in page.text_content("pre.issue-stack")
    assert page.locator("svg.issue-chart rect").count() >= 1
    assert "First seen" in page.text_content("body") or "first seen" in page.text_content("body")
    assert page.locator("a.deletelink").count() == 0  # resolved or ignored, never deleted
    browser.shoot(page, "issue-page")

    page.goto(browser.url("/admin/errors/issue/"))
    page.check(f"#result_list input[value='{orders.pk}']")
    page.select_option("select[name=action]", "resolve")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert "1 issue(s) resolved" in page.text_content(".messagelist")
    orders.refresh_from_db()
    assert (orders.status, orders.event_count, orders.users_affected) == ("resolved", 2, 1)

    ship(ingest_client, [error("Order 7 not found", stack_trace=PY_TRACE.format(line=9, key="7"))])
    orders.refresh_from_db()
    assert (orders.status, orders.event_count, orders.regressions) == ("unresolved", 3, 1)
    page.goto(browser.url(f"/admin/errors/issue/{orders.pk}/change/"))
    assert "egress" in page.text_content("body").lower()  # the timeline's "Regressed"
    browser.shoot(page, "issue-page-regressed")
