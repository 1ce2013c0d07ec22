"""The live feed with the real processes: uvicorn as the Procfile starts it, a private
Redis, the test database, and a real WebSocket client."""

import itertools
import os
import re
import signal
import time

import orjson
import pytest
import redis
from django.test import Client
from django.utils import timezone
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from apps.alerts.models import AlertIncident
from apps.keys.models import APIKey
from tests.helpers import drain_outbox, iso, post_json
from tests.live import Stack, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ADVANCED, DASHBOARD = "ADVANCED_ANALYTICS_STATS", "DASHBOARD_STATS"


def url(port: int, query: str = "") -> str:
    return f"ws://127.0.0.1:{port}/ws/analytics/{query}"


def watch(port: int, *, key: str | None = None, query: str = "", **headers) -> ClientConnection:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return connect(url(port, query), additional_headers=headers, open_timeout=5)


def messages(ws: ClientConnection, seconds: float) -> list[dict]:
    """Every message within `seconds`, each with the time it arrived."""
    found, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            text = ws.recv(timeout=left)
        except TimeoutError:
            break
        found.append({**orjson.loads(text), "at": time.monotonic(), "text": text})
    return found


def close_code(ws: ClientConnection, seconds: float) -> int:
    """The code the server closed with, reading past the pushes still buffered."""
    end = time.monotonic() + seconds
    with pytest.raises(ConnectionClosed) as closed:
        while time.monotonic() < end:
            ws.recv(timeout=max(end - time.monotonic(), 0.01))
    return closed.value.rcvd.code


def of(kind: str, found: list[dict]) -> list[dict]:
    return [message for message in found if message["type"] == kind]


def refused(port: int, **kwargs) -> int:
    """The HTTP status the handshake was answered with; fails if it was accepted."""
    with pytest.raises(InvalidStatus) as refusal:
        watch(port, **kwargs).close()
    return refusal.value.response.status_code


@pytest.fixture
def stack(tmp_path, monkeypatch):
    stack = Stack(tmp_path)

    def every(advanced: float, dashboard: float) -> None:
        monkeypatch.setitem(os.environ, "ANALYTICS_BROADCAST_SECONDS", str(advanced))
        monkeypatch.setitem(os.environ, "LIVE_DASHBOARD_SECONDS", str(dashboard))

    stack.every = every
    try:
        stack.start_redis()
        yield stack
    finally:
        stack.close()


def test_a_read_key_gets_pushes_of_both_kinds_with_what_was_recorded(
    stack, ingest_client, read_key
):
    now = timezone.now()
    usage = [
        {"feature": "chat", "model": "m", "ttft_ms": 100 + i, "cache_hit": i % 2 == 0,
         "timestamp": iso(now)}
        for i in range(4)
    ]  # fmt: skip
    assert post_json(ingest_client, "/api/v1/analytics/log-ai-usage", usage).status_code == 202
    drain_outbox()
    AlertIncident.objects.create(
        rule_name="errors", severity="critical", threshold=1, condition_operator="gt",
        metric_value=2, triggered_at=now,
    )  # fmt: skip
    stack.every(advanced=1, dashboard=1)
    port = stack.start_live()

    with watch(port, key=read_key) as ws:
        found = messages(ws, 4.5)

    advanced, dashboard = of(ADVANCED, found), of(DASHBOARD, found)
    assert len(advanced) >= 2 and len(dashboard) >= 2, [m["type"] for m in found]
    data = advanced[-1]["data"]
    assert set(data) == {
        "ttft", "step_breakdown", "cache_metrics", "trending_topics", "topic_diversity",
        "costs", "freshness", "generated_at",
    }  # fmt: skip
    assert data["cache_metrics"]["total_requests"] == 4
    assert data["cache_metrics"]["hit_rate"] == 50.0
    stats = dashboard[-1]["data"]
    assert stats["open_incidents"] == 1
    assert stats["open_incidents_by_severity"] == {"critical": 1}
    assert stats["health"]["services"]["database"] is True
    assert stats["health"]["status"] in ("healthy", "degraded")  # no worker in this stack
    assert stats["ingest_rate"] is None or stats["ingest_rate"] >= 0


def test_a_new_client_gets_the_latest_of_each_at_once(stack, read_key):
    stack.every(advanced=60, dashboard=60)  # no second push during the test
    port = stack.start_live()
    with watch(port, key=read_key) as first:
        pushed = messages(first, 3)
    assert sorted(m["type"] for m in pushed) == [ADVANCED, DASHBOARD]

    # A browser cannot set headers: the key in the query string does as well.
    with watch(port, query=f"?key={read_key}") as late:
        started = time.monotonic()
        caught_up = messages(late, 2)
    assert [m["text"] for m in caught_up] == [m["text"] for m in pushed]
    assert all(m["at"] - started < 1 for m in caught_up)


def holder(stack) -> str | None:
    """The name of the process holding the broadcaster lock (its token names its pid)."""
    token = redis.Redis.from_url(stack.redis_url).get(stack.redis_key("live", "broadcaster"))
    if token is None:
        return None
    pid = int(token.decode().rsplit(":", 2)[1])
    return next(name for name, proc in stack.procs.items() if proc.pid == pid)


def test_two_processes_have_one_broadcaster_and_a_killed_one_is_replaced(stack, read_key):
    stack.every(advanced=0.5, dashboard=0.5)
    ports = {"live-a": stack.start_live("live-a"), "live-b": stack.start_live("live-b")}
    with watch(ports["live-a"], key=read_key) as a, watch(ports["live-b"], key=read_key) as b:
        on_a, on_b = messages(a, 4), messages(b, 0.5)  # b's arrived meanwhile, buffered
    pushes = of(DASHBOARD, on_a)[1:]  # the first: the latest, sent on connecting
    # One broadcaster: a push about every 0.5 s, never two close together.
    assert 5 <= len(pushes) <= 9, len(pushes)
    gaps = [later["at"] - earlier["at"] for earlier, later in itertools.pairwise(pushes)]
    assert min(gaps) > 0.3, gaps
    # Clients of either process get the same pushes.
    seen_by_b = {m["text"] for m in of(DASHBOARD, on_b)}
    assert len({m["text"] for m in pushes} - seen_by_b) <= 1

    leader = holder(stack)
    follower = "live-b" if leader == "live-a" else "live-a"
    stack.kill(leader)  # kill -9: no goodbye; its lock expires after 3 x 0.5 s
    with watch(ports[follower], key=read_key) as survivor:
        after = of(DASHBOARD, messages(survivor, 4))
    assert len(after) >= 3, "the other process did not take over"
    assert holder(stack) == follower


def test_a_stopped_process_closes_its_clients_and_hands_over_at_once(stack, monkeypatch, read_key):
    monkeypatch.setitem(os.environ, "LOG_LEVEL", "INFO")
    stack.every(advanced=5, dashboard=5)  # the lock would expire only after 15 s
    ports = {"live-a": stack.start_live("live-a"), "live-b": stack.start_live("live-b")}
    wait_until(lambda: holder(stack), timeout=10, what="a broadcaster")
    leader = holder(stack)
    follower = "live-b" if leader == "live-a" else "live-a"
    with watch(ports[leader], key=read_key) as on_leader:
        with watch(ports[follower], key=read_key) as on_follower:
            messages(on_follower, 1)  # the latest of each, already pushed
            started = time.monotonic()
            stack.stop(leader, sig=signal.SIGTERM)
            stopped_in = time.monotonic() - started
            after = messages(on_follower, 3)
        assert close_code(on_leader, 2) == 1012  # "service restart": come back later
    assert stopped_in < 10
    assert sorted(m["type"] for m in after) == [ADVANCED, DASHBOARD]  # pushed at once
    assert holder(stack) == follower
    log = stack.log(leader, chars=100_000)
    assert re.search(r"live broadcaster \S+ stopped", log), log[-2000:]
    assert "Traceback" not in log and "was destroyed but it is pending" not in log


def test_handshakes_without_a_read_credential_are_refused(
    stack, read_key, ingest_key, admin_key, staff_user, outsider
):
    stack.every(advanced=60, dashboard=60)
    port = stack.start_live()
    assert refused(port) == 403
    assert refused(port, key=ingest_key) == 403
    assert refused(port, key="not-a-key") == 403
    assert refused(port, query="?key=AAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB") == 403
    with pytest.raises(InvalidStatus):
        connect(f"ws://127.0.0.1:{port}/ws/elsewhere/", open_timeout=5)
    with watch(port, key=admin_key) as ws:
        assert ws.protocol.state.name == "OPEN"

    staff, other = Client(), Client()
    staff.force_login(staff_user)
    other.force_login(outsider)
    cookie = f"sessionid={staff.cookies['sessionid'].value}"
    with watch(port, Cookie=cookie, Origin="http://127.0.0.1:8000") as ws:
        assert ws.protocol.state.name == "OPEN"
    # A page of another site must not ride on the staff member's cookie.
    assert refused(port, Cookie=cookie, Origin="https://evil.example") == 403
    # What a client can garble is refused too, never an error.
    assert refused(port, Cookie=cookie, Origin="http://[") == 403
    assert refused(port, Cookie="sessionid=" + "x" * 3000) == 403
    assert refused(port, query="?key=%00" + "A" * 5000) == 403
    assert refused(port, Cookie=f"sessionid={other.cookies['sessionid'].value}") == 403
    staff.logout()
    assert refused(port, Cookie=cookie) == 403
    assert "Traceback" not in stack.log("live", chars=100_000)


def test_a_revoked_key_loses_the_feed(stack, monkeypatch, read_key):
    monkeypatch.setitem(os.environ, "LIVE_RECHECK_SECONDS", "1")
    stack.every(advanced=0.5, dashboard=0.5)
    port = stack.start_live()
    with watch(port, key=read_key) as ws:
        assert of(DASHBOARD, messages(ws, 1.5))
        APIKey.objects.filter(pk=APIKey.objects.get_from_key(read_key).pk).update(revoked=True)
        # Within the key cache's 5 s and a recheck.
        assert close_code(ws, 15) == 4403
