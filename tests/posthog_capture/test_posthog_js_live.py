"""posthog-js itself (its browser bundle) in Chromium, `api_host` this service: it loads
its remote config (`/array/<key>/config.js`), captures a page view and an event, and
nothing it asks for is a 404, a 405 or any console error (the `browser` fixture fails the
test on one), and its events land.

It needs the posthog-js npm package: POSTHOG_JS names its `dist/array.full.js`
(`npm install posthog-js` in a scratch folder). Skipped without it.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from apps.events.models import Event, UserActivity
from apps.keys.services import api_key_create
from tests.helpers import drain_outbox

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

BUNDLE = Path(os.environ.get("POSTHOG_JS") or "/nonexistent")

INIT = """
([api, key, distinctId]) => new Promise((resolve) => {
  posthog.init(key, {
    api_host: api,
    person_profiles: "always",
    disable_session_recording: true,
    opt_out_useragent_filter: true,  // headless Chromium's user agent reads as a bot
    loaded: (ph) => {
      ph.identify(distinctId);
      ph.capture("memory_posted", {source: "browser"});
      resolve(ph.config.token);
    },
  });
})
"""


@pytest.mark.skipif(not BUNDLE.is_file(), reason="POSTHOG_JS names no posthog-js bundle")
def test_posthog_js_starts_and_captures_with_no_error(browser, live_server):
    key = api_key_create(name="frontend", scope="ingest")[1]
    page = browser.page()
    asked: list[tuple[int, str]] = []
    page.on("response", lambda r: asked.append((r.status, urlsplit(r.url).path)))
    page.goto(browser.url("/api/v1/analytics/health"))  # the page's origin
    site = urlsplit(live_server.url)
    other_host = "127.0.0.1" if site.hostname == "localhost" else "localhost"
    api = f"http://{other_host}:{site.port}"
    page.add_script_tag(content=BUNDLE.read_text())

    with page.expect_response(lambda r: "/config" in r.url) as config:
        token = page.evaluate(INIT, [api, key, "browser-7"])
    page.evaluate("() => { posthog.capture('$pageleave'); posthog.capture('signed_up'); }")
    # posthog-js sends its queue every few seconds: wait inside Playwright calls (its route
    # filter, tests/browser.py, passes requests on only while one waits), bounded.
    wanted = {"memory_posted", "signed_up", "pageleave"}
    for _ in range(40):
        page.wait_for_timeout(500)
        drain_outbox()
        if wanted <= set(Event.objects.values_list("event_type", flat=True)):
            break

    assert token == key
    assert config.value.status == 200
    paths = [path for _, path in asked]
    assert f"/array/{key}/config.js" in paths or f"/array/{key}/config" in paths
    assert [(status, path) for status, path in asked if status >= 400] == []
    landed = set(Event.objects.filter(user_id="browser-7").values_list("event_type", flat=True))
    assert landed == {"identify", "memory_posted", "signed_up", "pageleave"}
    assert UserActivity.objects.get(user_id="browser-7").activity_type == "page_view"
