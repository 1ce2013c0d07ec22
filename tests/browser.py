"""Pages in a real headless Chromium (Debian's, driven by Playwright), as users see them.

The `browser` fixture (tests/conftest.py) gives a Browser on the live server:
- `browser.page(user=...)` signs in through the admin's login form (None: anonymous);
- every console error, uncaught page error and request to a host other than 127.0.0.1
  or localhost is recorded, and the test fails on any at teardown (`allow_errors`
  lets a test that expects a refused request say so);
- `browser.shoot(page, name)` writes full-page screenshots at 1280 px and at phone
  width into SCREENSHOTS (default .screenshots/ in the checkout; look at them).

A test using it is a live test: mark it `live`, `django_db(transaction=True)` and a
timeout.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from django.db import connections
from playwright.sync_api import Browser as PlaywrightBrowser
from playwright.sync_api import Page, sync_playwright

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling Google's hosts.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get("TEST_SCREENSHOTS", Path(__file__).resolve().parent.parent / ".screenshots")
)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
PASSWORD = "pw-browser-123"


class Browser:
    def __init__(self, browser: PlaywrightBrowser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def allow_errors(self, pattern: str) -> None:
        """Console errors matching `pattern` are expected (a refused request the test makes)."""
        self.allowed.append(re.compile(pattern))

    def page(self, user=None, *, viewport: dict | None = None) -> Page:
        """A new page (its own cookies), signed in as `user` (its password must be PASSWORD)."""
        context = self.browser.new_context(viewport=viewport or DESKTOP)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda msg: msg.type == "error" and self._error(msg.text))
        page.on("pageerror", lambda exc: self._error(f"page error: {exc}"))
        context.route("**/*", self._only_local)
        if user is not None:
            page.goto(self.url("/admin/login/"))
            page.fill("#id_username", user.get_username())
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_selector("#site-name")
        return page

    def shoot(self, page: Page, name: str) -> list[Path]:
        """Full-page screenshots of the page's URL at desktop and phone width."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        paths = []
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            page.wait_for_timeout(150)  # charts redraw on resize
            path = SCREENSHOTS / f"{name}-{label}.png"
            page.screenshot(path=path, full_page=True)
            paths.append(path)
        page.set_viewport_size(DESKTOP)
        return paths

    def _error(self, text: str) -> None:
        if not any(p.search(text) for p in self.allowed):
            self.errors.append(text)

    def _only_local(self, route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            self.errors.append(f"request left 127.0.0.1: {route.request.url}")
            route.abort()


def fetch(page: Page, url: str):
    """`url` fetched by the page (its cookies), as JSON."""
    return page.evaluate(f"fetch({url!r}).then(r => r.json())")


def fetch_text(page: Page, url: str) -> str:
    return page.evaluate(f"fetch({url!r}).then(r => r.text())")


@contextmanager
def open_browser(base_url: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield Browser(chromium, base_url)
        finally:
            chromium.close()
            # ORM calls made while Playwright's loop runs get a connection of their own
            # (asgiref's context); closed here, or it outlives the test database.
            connections.close_all()
