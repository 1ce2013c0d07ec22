"""The public status page in Chromium, signed out, at desktop and phone width."""

import pytest

from tests.status.seed import SECRETS, seed

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


@pytest.fixture
def seeded():
    # Before the browser starts: ORM calls made while Playwright's loop runs in this
    # thread open a second connection, left open at the end of the run.
    return seed()


def test_the_status_page_in_a_browser_shows_only_public_services(seeded, browser):
    page = browser.page()  # anonymous: no session

    response = page.goto(browser.url("/status/"))

    assert response.status == 200
    services = page.locator(".service h2").all_inner_texts()
    assert services == ["Public API", "Website"]
    text, html = page.locator("body").inner_text(), page.content()
    for secret in SECRETS:
        assert secret not in text and secret not in html, secret
    assert page.locator(".service").nth(1).locator(".bars .bar").count() == 90
    website = page.locator(".service").nth(1)
    half = website.locator(f'.bar[title^="{seeded.half_day:%Y-%m-%d}"]')
    assert half.get_attribute("title").startswith(f"{seeded.half_day:%Y-%m-%d}: 50.00 % up")
    assert "bar-down" in half.get_attribute("class")
    assert page.locator(".state-outage").inner_text() == "Outage"
    assert page.locator(".incident h3").inner_text().startswith("Public API is unavailable")
    # Nothing is wider than the phone's screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    visible = page.locator(".service").nth(0).locator(".bars .bar:visible").count()
    assert visible == 30
    browser.shoot(page, "status")


def test_the_empty_status_page_in_a_browser(browser):
    page = browser.page()
    page.goto(browser.url("/status/"))
    assert "No service is shown here yet." in page.locator("main").inner_text()
    browser.shoot(page, "status-empty")
