"""Hostile and careless clients of the live feed, against uvicorn as the Procfile starts it:
keys in the query string stay out of the log, and a client that floods frames is closed."""

import re
import time
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from websockets.exceptions import ConnectionClosed

from tests.live import wait_until
from tests.live_feed.test_feed_live import DASHBOARD, messages, of, refused, stack, watch

__all__ = ["stack"]  # the fixture, shared with the feed's other live tests

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


def test_keys_sent_in_the_query_string_are_logged_only_by_their_prefix(stack, read_key):
    stack.every(advanced=60, dashboard=60)
    port = stack.start_live()
    prefix, secret = read_key.split(".")
    wrong = "ZZZZZZZZ." + "Q" * 32  # well formed, unknown: refused
    unshaped = "no-dot-" + "W" * 30  # no prefix at all: nothing of it may show

    with watch(port, query=f"?key={read_key}") as ws:
        assert ws.protocol.state.name == "OPEN"
    assert refused(port, query=f"?key={wrong}") == 403
    assert refused(port, query=f"?v=1&key={unshaped}&x=2") == 403
    # Plain HTTP to the live process goes to uvicorn's access log.
    with pytest.raises(HTTPError):
        urlopen(f"http://127.0.0.1:{port}/nowhere/?key={read_key}", timeout=5)
    wait_until(
        lambda: stack.log("live", chars=100_000).count("?key=") >= 3,
        timeout=5,
        what="the handshakes and the request in the log",
    )

    log = stack.log("live", chars=100_000)
    for leaked in (read_key, secret, wrong, "Q" * 32, unshaped, "W" * 30):
        assert leaked not in log, log[-3000:]
    # The lines are still there, with the key's public prefix to tell clients apart.
    assert re.search(rf'"WebSocket /ws/analytics/\?key={prefix}\.\*+" \[accepted\]', log), log
    assert re.search(r'"WebSocket /ws/analytics/\?key=ZZZZZZZZ\.\*+" 403', log), log
    assert re.search(r'"WebSocket /ws/analytics/\?v=1&key=\*+&x=2" 403', log), log
    assert re.search(rf'"GET /nowhere/\?key={prefix}\.\*+ HTTP/1.1" 404', log), log


def test_a_client_flooding_frames_is_closed_while_others_keep_their_pushes(stack, read_key):
    stack.every(advanced=60, dashboard=0.5)
    port = stack.start_live()
    with watch(port, key=read_key) as calm, watch(port, key=read_key) as flood:
        for _ in range(3):  # a few frames (a client library's own pings) are let be
            calm.send('{"type": "ping"}')
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while time.monotonic() - started < 10:
                flood.send("x")
        closed_in = time.monotonic() - started
        messages(calm, 0.5)  # what was pushed during the flood
        after = of(DASHBOARD, messages(calm, 2))

    assert closed_in < 5, closed_in
    assert closed.value.rcvd is not None, "the server did not close the connection"
    assert closed.value.rcvd.code == 1008  # policy violation: do not come back the same way
    assert "no input" in closed.value.rcvd.reason
    assert len(after) >= 2, after  # the calm client, on the same process, is still served
    assert "Traceback" not in stack.log("live", chars=100_000)


def test_a_key_in_a_rest_query_string_is_logged_only_by_its_prefix(stack, read_key):
    # No REST endpoint reads `?key=`, but a careless client may still send one: the
    # web process's access log (the Procfile's gunicorn) shows its prefix only.
    base = stack.start_web(workers=1)
    prefix, secret = read_key.split(".")
    with urlopen(f"{base}/api/v1/analytics/health?key={read_key}", timeout=5) as answer:
        assert answer.status in (200, 503)
    wait_until(
        lambda: "/api/v1/analytics/health?key=" in stack.log("web", chars=100_000),
        timeout=5,
        what="the request in the access log",
    )
    log = stack.log("web", chars=100_000)
    assert secret not in log, log[-3000:]
    assert re.search(rf"GET /api/v1/analytics/health\?key={prefix}\.\*+ HTTP/1.1", log), log
