"""From another origin in Chromium, as posthog-js posts: gzip through CompressionStream as
text/plain (no preflight), JSON (a preflight first), and a base64 form by sendBeacon at
unload. The browser must let the page read each answer (CORS), and the events land."""

import uuid
from urllib.parse import urlsplit

import pytest

from apps.events.models import Event, UserActivity
from apps.ingest.models import OutboxBatch
from apps.keys.services import api_key_create
from tests.helpers import drain_outbox

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

SEND = """
async ([api, key, ids]) => {
  const event = (name, id) => ({
    uuid: id, event: name, timestamp: new Date().toISOString(),
    properties: {token: key, distinct_id: "browser-1", $current_url: location.href,
                 $session_id: "s-1", $lib: "web"},
  });
  const gzip = async (text) => new Response(
    new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
  const answers = [];
  let response = await fetch(api + "/e/?compression=gzip-js", {
    method: "POST", headers: {"Content-Type": "text/plain"},
    body: await gzip(JSON.stringify([event("$pageview", ids[0])])),
  });
  answers.push([response.status, await response.json()]);
  response = await fetch(api + "/i/v0/e/", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({api_key: key, batch: [event("memory_posted", ids[1])]}),
  });
  answers.push([response.status, await response.json()]);
  response = await fetch(api + "/flags/?v=2", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({token: key, distinct_id: "browser-1"}),
  });
  answers.push([response.status, await response.json()]);
  const form = "data=" + encodeURIComponent(btoa(JSON.stringify([event("$pageleave", ids[2])])));
  answers.push(navigator.sendBeacon(api + "/e/?compression=base64",
    new Blob([form], {type: "application/x-www-form-urlencoded"})));
  return answers;
}
"""


def test_posthog_js_requests_from_another_origin(browser, live_server):
    key = api_key_create(name="frontend", scope="ingest")[1]
    page = browser.page()
    page.goto(browser.url("/api/v1/analytics/health"))  # the page's origin
    site = urlsplit(live_server.url)
    other_host = "127.0.0.1" if site.hostname == "localhost" else "localhost"
    api = f"http://{other_host}:{site.port}"
    ids = [str(uuid.uuid4()) for _ in range(3)]

    # Playwright's sync API runs the browser's requests through the route filter
    # (tests/browser.py) only while a Playwright call is waiting: wait for the beacon's
    # answer inside one, or it can sit unsent while this thread sleeps.
    with page.expect_response(lambda r: "compression=base64" in r.url) as beacon:
        gzipped, preflighted, flags, beaconed = page.evaluate(SEND, [api, key, ids])

    assert gzipped == [200, {"status": 1, "accepted": 1, "duplicates": 0, "rejected": []}]
    assert preflighted[0] == 200 and preflighted[1]["accepted"] == 1
    assert flags[0] == 200 and flags[1]["featureFlags"] == {}
    assert beaconed is True
    assert beacon.value.status == 200
    assert OutboxBatch.objects.count() == 3
    drain_outbox()
    assert UserActivity.objects.get().activity_type == "page_view"
    assert sorted(Event.objects.values_list("event_type", flat=True)) == [
        "memory_posted",
        "pageleave",
    ]
