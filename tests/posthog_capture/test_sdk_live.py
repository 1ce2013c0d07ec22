"""The real `posthog` Python package, its `host` this service (gunicorn + a worker), as a
user configures it: its events land and the reads answer with them."""

import http.client
import uuid

import orjson
import pytest
from posthog import Posthog

from apps.events.models import Event, UserActivity
from tests.live import wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def get(port: int, path: str, key: str):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"X-API-Key": key})
        response = conn.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("gzip", [False, True])
def test_the_python_sdk_lands_its_events_and_the_reads_answer(
    live_stack, ingest_key, read_key, gzip
):
    errors = []
    client = Posthog(
        ingest_key,
        host=f"http://127.0.0.1:{live_stack.web_port}",
        gzip=gzip,
        on_error=lambda error, batch: errors.append(error),
        max_retries=0,
    )
    first = str(uuid.uuid4())
    client.capture("memory_posted", distinct_id="ada", properties={"plan": "pro"}, uuid=first)
    client.capture("Order Completed", distinct_id="ada", properties={"total": 12})
    client.capture("$pageview", distinct_id="grace", properties={"$current_url": "/feed"})
    client.set(distinct_id="grace", properties={"email": "grace@example.com"})
    client.capture("memory_posted", distinct_id="ada", uuid=first)  # a retry: stored once
    flags = client.get_all_flags("ada")
    enabled = client.evaluate_flags("ada").is_enabled("new-feed")  # sends $feature_flag_called
    client.flush()
    client.shutdown()

    assert errors == []
    assert (flags or {}) == {}
    assert not enabled
    wait_until(
        lambda: Event.objects.count() >= 4 and UserActivity.objects.exists(),
        timeout=60,
        what="the events stored",
    )

    port, read = live_stack.web_port, read_key
    status, listed = get(port, "/api/v1/analytics/events?user_id=ada", read)
    assert status == 200
    assert sorted(e["event_type"] for e in listed["results"]) == [
        "feature_flag_called",
        "memory_posted",
        "order_completed",
    ]
    posted = next(e for e in listed["results"] if e["event_type"] == "memory_posted")
    assert (posted["event_id"], posted["metadata"]["plan"]) == (first, "pro")
    assert posted["metadata"]["$lib"] == "posthog-python"
    status, active = get(port, "/api/v1/analytics/users/active?days=1", read)
    assert (status, active["dau"]) == (200, 2)
    status, top = get(port, "/api/v1/analytics/top-users?limit=5", read)
    assert {user["user_id"]: user["email"] for user in top} == {
        "ada": None,
        "grace": "grace@example.com",
    }
