"""deploy/nginx in front of the web process, both as shipped (ports, certificate and
upstream address aside), with the settings of deploy/production.env.example.

nginx must be installed (`make test` installs it as root); outside CI the test is skipped
without it.
"""

import gzip
import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import uuid
from pathlib import Path

import orjson
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from apps.keys.services import api_key_create
from bench.stack.deploy import nginx_config, production_env
from tests.live import ROOT, Stack, free_port, port_open, wait_until

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
if NGINX is None and os.environ.get("CI") == "true":
    pytest.fail("nginx is not installed; `make test` should have installed it", pytrace=False)

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        NGINX is None, reason="nginx is not installed (`make test` installs it as root)"
    ),
]
DEPLOY = ROOT / "deploy" / "nginx"
TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate


class ProductionStack(Stack):
    """The web process with the production env file's settings (TLS behind nginx)."""

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        own = {"DATABASE_URL", "REDIS_URL", "PORT"}
        env.update({k: v for k, v in production_env().items() if k not in own})
        return env


def render(
    tmp: Path, http_port: int, https_port: int, web_port: int | list[int], live_port: int
) -> Path:
    """The shipped config on these local ports (a list of web ports: one upstream server
    line each, as for several web hosts); returns nginx.conf."""
    web_ports = web_port if isinstance(web_port, list) else [web_port]
    return nginx_config(
        tmp,
        f"127.0.0.1:{http_port}",
        f"127.0.0.1:{https_port}",
        [f"127.0.0.1:{port}" for port in web_ports],
        f"127.0.0.1:{live_port}",
    )


def tls_raw(port: int, data: bytes) -> tuple[int, dict, bytes]:
    """Bytes as they are, over TLS; the answer up to the server closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
        with TLS.wrap_socket(plain, server_hostname="localhost") as sock:
            sock.sendall(data)
            answer = b""
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except (ssl.SSLError, ConnectionResetError):
                pass
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {n.strip().lower(): v.strip() for n, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def request(conn_class, port: int, method: str, path: str, body=None, headers=None):
    kwargs = {"context": TLS} if conn_class is http.client.HTTPSConnection else {}
    conn = conn_class("127.0.0.1", port, timeout=10, **kwargs)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def json_error(status: int, headers: dict, body: bytes) -> tuple[int, str]:
    assert headers["content-type"] == "application/json", body[:200]
    error = orjson.loads(body)
    assert set(error) == {"error", "detail"}
    return status, error["error"]


def start_nginx(stack: Stack, conf: Path, https_port: int) -> None:
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(conf.parent), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
    stack.spawn("nginx", [NGINX, "-p", str(conf.parent), "-c", str(conf)])
    wait_until(lambda: port_open(https_port), timeout=15, what="nginx")


def test_nginx_in_front_buffers_redirects_and_answers_errors_in_json(tmp_path):
    stack = ProductionStack(tmp_path)
    http_port, https_port = free_port(), free_port()
    try:
        stack.start_redis()
        stack.start_web(workers=1)
        live_port = stack.start_live()
        conf = render(tmp_path / "nginx", http_port, https_port, stack.web_port, live_port)
        start_nginx(stack, conf, https_port)
        key = api_key_create(name="edge", scope="ingest")[1]
        https, plain = http.client.HTTPSConnection, http.client.HTTPConnection

        # Probes: health over plain HTTP on the host; everything else moves to https.
        status, _, body = request(plain, http_port, "GET", "/api/v1/analytics/health")
        assert (status, orjson.loads(body)["services"]["database"]) == (200, True)
        status, headers, _ = request(plain, http_port, "GET", "/api/docs/")
        assert status == 301
        assert headers["location"].startswith("https://")

        # Over https the service sees https (no redirect loop) and says so with HSTS.
        status, headers, _ = request(https, https_port, "GET", "/api/docs/")
        assert status == 200
        assert "max-age=31536000" in headers["strict-transport-security"]
        status, headers, body = request(
            https,
            https_port,
            "POST",
            "/api/v1/analytics/job-outcome",
            orjson.dumps({"job_type": "sync", "status": "success"}),
            {"Content-Type": "application/json", "X-API-Key": key, "X-Request-ID": "edge-1"},
        )
        assert (status, headers["x-request-id"]) == (202, "edge-1")
        status, headers, body = request(
            https, https_port, "GET", "/api/schema/?format=json", None, {"Accept-Encoding": "gzip"}
        )
        assert (status, headers.get("content-encoding")) == (200, "gzip")
        assert orjson.loads(gzip.decompress(body))["openapi"]
        assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])  # made by nginx

        # The live feed: upgraded to the live process, the key in the query string.
        read_key = api_key_create(name="watcher", scope="read")[1]
        feed = f"wss://127.0.0.1:{https_port}/ws/analytics/?key={read_key}"
        with connect(feed, ssl=TLS, open_timeout=10) as ws:
            first = orjson.loads(ws.recv(timeout=15))
        assert first["type"] in ("ADVANCED_ANALYTICS_STATS", "DASHBOARD_STATS")
        with pytest.raises(InvalidStatus) as refused:
            connect(f"wss://127.0.0.1:{https_port}/ws/analytics/", ssl=TLS, open_timeout=10)
        assert refused.value.response.status_code == 403

        # What nginx refuses itself, in the API's error shape.
        long_uri = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
        big_header = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n"
        too_large = (
            f"POST /api/v1/analytics/job-outcome HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Length: {1024 * 1024 + 1}\r\n\r\n"
        ).encode()
        assert json_error(*tls_raw(https_port, b"GARBAGE\r\n\r\n")) == (400, "bad_request")
        assert json_error(*tls_raw(https_port, long_uri)) == (414, "uri_too_long")
        assert json_error(*tls_raw(https_port, big_header)) == (
            431,
            "request_header_fields_too_large",
        )
        assert json_error(*tls_raw(https_port, too_large)) == (413, "payload_too_large")

        stack.stop("web")
        status, headers, body = request(https, https_port, "GET", "/api/v1/analytics/health")
        assert json_error(status, headers, body) == (502, "bad_gateway")
        assert headers["retry-after"] == "5"
    finally:
        stack.close()


def test_two_web_hosts_behind_nginx_one_killed(tmp_path):
    """Two web hosts (one database, one Redis) behind the shipped config, one upstream
    line each: both serve; one killed with kill -9, reads keep answering (nginx tries
    the other), a write is answered 202 or, when it was already on its way to the dead
    host, 502 (what a client retries), and every item is stored exactly once."""
    from apps.jobs.models import JobOutcome

    first = ProductionStack(tmp_path / "a")
    second = ProductionStack(tmp_path / "b")
    http_port, https_port = free_port(), free_port()
    # A write answered 202 just before the kill may not have reached the broker yet (the
    # web tells it from a background thread): beat's sweeper re-queues it, here soon.
    sweeper = {"INGEST_OUTBOX_STALE_SECONDS": "3", "INGEST_OUTBOX_SWEEP_SECONDS": "1"}
    try:
        first.overrides.update(sweeper)
        second.overrides.update(sweeper)
        first.start_redis()
        second.redis_url = first.redis_url
        first.start_web(workers=1)
        second.start_web(workers=1)
        first.start_worker()
        first.manage_ok("setup_schedules")  # beat's schedule, the sweeper's 1 s with it
        first.start_beat()
        ports = [first.web_port, second.web_port]
        start_nginx(
            first, render(tmp_path / "nginx", http_port, https_port, ports, free_port()), https_port
        )
        key = api_key_create(name="edge", scope="ingest")[1]
        headers = {"Content-Type": "application/json", "X-API-Key": key}
        https, plain = http.client.HTTPSConnection, http.client.HTTPConnection
        sent, retried = [], 0

        def post(n: int) -> None:
            nonlocal retried
            item = {"event_id": str(uuid.uuid4()), "job_type": f"sync-{n}", "status": "success"}
            body = orjson.dumps(item)
            status = request(
                https, https_port, "POST", "/api/v1/analytics/job-outcome", body, headers
            )[0]
            if status == 502:  # it reached the dead host: a client sends it again
                retried += 1
                status = request(
                    https, https_port, "POST", "/api/v1/analytics/job-outcome", body, headers
                )[0]
            assert status == 202
            sent.append(item["event_id"])

        for n in range(20):
            post(n)
        assert all("job-outcome" in stack.log("web", 200_000) for stack in (first, second))

        second.kill("web")
        for n in range(20, 60):
            post(n)
            status, _, _ = request(plain, http_port, "GET", "/api/v1/analytics/health")
            assert status == 200  # answered by the live host, never a 502
        assert retried <= 2, retried  # at most the writes on their way when it died
        print(f"writes answered 502 and sent again after the kill: {retried}")

        wait_until(
            lambda: JobOutcome.objects.filter(event_id__in=sent).count() == 60,
            timeout=60,
            what="every accepted item stored",
        )
        # None twice (beat's own jobs are recorded beside them).
        assert JobOutcome.objects.filter(job_type__startswith="sync-").count() == 60
    finally:
        second.close()
        first.close()
