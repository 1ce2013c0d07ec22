"""The web process as the Procfile starts it, under slow clients and malformed requests.

Under the former 2 sync workers, two clients trickling a byte a second stalled
both workers: health did not answer for 30 s. gunicorn's own error answers
were HTML.
"""

import http.client
import socket
import time

import orjson
import pytest

from apps.keys.services import api_key_create
from bench.stack import HEALTH_PATH, INGEST_PATH, SlowClients, raw_request
from tests.live import Stack, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def stack(tmp_path):
    stack = Stack(tmp_path)
    yield stack
    stack.close()


def get_health(port: int, timeout: float = 1) -> tuple[int, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", HEALTH_PATH)
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        conn.close()


def post_job(port: int, key: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = orjson.dumps({"job_type": "sync", "status": "success", "duration_ms": 5})
        conn.request(
            "POST", INGEST_PATH, body, {"Content-Type": "application/json", "X-API-Key": key}
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_health_and_ingest_answer_while_50_clients_trickle_headers_and_bodies(stack):
    stack.start_redis()
    stack.start_web()
    key = api_key_create(name="slow", scope="ingest")[1]
    for _ in range(4):  # warm both workers up (first requests import and connect)
        assert get_health(stack.web_port, timeout=20)[0] == 200

    with SlowClients(stack.web_port, 50, key) as slow:
        wait_until(lambda: slow.ticks >= 3, timeout=10, what="three bytes from each slow client")
        for _ in range(5):
            status, seconds = get_health(stack.web_port)  # raises after 1 s without an answer
            assert status == 200
            assert seconds < 1
            time.sleep(0.2)
        assert post_job(stack.web_port, key) == 202
        # They were all still connected and trickling: the answers above did not
        # come from a server that had simply dropped them.
        assert slow.still_open() == 50


def test_a_client_too_slow_is_answered_408_in_json(stack, monkeypatch):
    monkeypatch.setenv("WEB_HEADER_TIMEOUT", "1")
    monkeypatch.setenv("WEB_BODY_TIMEOUT", "1")
    stack.start_redis()
    stack.start_web(workers=1)

    for partial in [
        f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a".encode(),
        f"POST {INGEST_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n{{".encode(),
    ]:
        status, headers, body = raw_request(stack.web_port, partial, timeout=10)
        assert status == 408
        assert headers["content-type"] == "application/json"
        assert orjson.loads(body)["error"] == "request_timeout"


def test_requests_gunicorn_refuses_itself_are_answered_in_json(stack):
    stack.start_redis()
    stack.start_web(workers=1)
    many_headers = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    cases = [
        (b"GARBAGE\r\n\r\n", 400, "bad_request"),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + many_headers + b"\r\n",
            431,
            "request_header_fields_too_large",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n",
            431,
            "request_header_fields_too_large",
        ),
        (  # no end of the head in sight, past what any header limit allows
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Filler: v\r\n" * 64000,
            431,
            "request_header_fields_too_large",
        ),
        (
            f"POST {INGEST_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {2 * 1024 * 1024}\r\n\r\n".encode(),
            413,
            "payload_too_large",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            400,
            "bad_request",
        ),
    ]
    for request, expected_status, expected_code in cases:
        status, headers, body = raw_request(stack.web_port, request)
        assert (status, headers.get("content-type")) == (expected_status, "application/json"), (
            request[:60],
            body[:200],
        )
        error = orjson.loads(body)
        assert error["error"] == expected_code
        assert error["detail"]


def test_chunked_pipelined_and_expect_continue_requests_are_served(stack):
    stack.start_redis()
    stack.start_web(workers=1)
    key = api_key_create(name="http", scope="ingest")[1]
    head = f"POST {INGEST_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
    item = orjson.dumps({"job_type": "sync", "status": "success"})

    chunked = (
        f"{head}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(item), item)
    status, _, body = raw_request(stack.web_port, chunked)
    assert (status, orjson.loads(body)["accepted"]) == (202, 1)

    two = f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    two += f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    status, _, rest = raw_request(stack.web_port, two)
    assert status == 200
    assert rest.count(b"HTTP/1.1 200 OK") == 1  # the second answer, after the first's body

    with socket.create_connection(("127.0.0.1", stack.web_port), timeout=10) as sock:
        sock.sendall(
            f"{head}Content-Type: application/json\r\nExpect: 100-continue\r\n"
            f"Content-Length: {len(item)}\r\nConnection: close\r\n\r\n".encode()
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")  # before any body byte
        sock.sendall(item)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert b"HTTP/1.1 202 Accepted" in answer
