"""Every check has a total deadline: at it the check is over, its socket closed and no
thread of it left behind, whatever the target does (here: headers, then a byte a second).

The targets are real servers on 127.0.0.1; what the server sees (when its connection was
closed, and by whom) is what a target on the network would see.
"""

import select
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.monitoring import checks, services
from apps.monitoring.models import HealthCheck, MonitoredService
from tests.alerts.receiver import Receiver

pytestmark = pytest.mark.django_db

DRIP_FOR = 20.0  # seconds the server drips before giving up itself
MARGIN = 1.0  # seconds past the deadline the server may wait to see the close


class DripServer:
    """Answers every connection with a 200's headers (a long Content-Length), then one
    byte of body a second, until the client closes the connection (recorded with the
    time) or DRIP_FOR passes (the server closes it itself)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/health"
        self.accepted_at: list[float] = []
        self.closed_by_client_at: list[float] = []
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="drip-acceptor", daemon=True)

    def __enter__(self) -> "DripServer":
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self.listener.close()
        self._acceptor.join(5)
        for thread in self._threads:
            thread.join(5)

    @property
    def threads(self) -> set[threading.Thread]:
        return {self._acceptor, *self._threads}

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.accepted_at.append(time.monotonic())
            thread = threading.Thread(target=self._drip, args=(conn,), name="drip", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)  # the request
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            until = time.monotonic() + DRIP_FOR
            while time.monotonic() < until and not self._stop.is_set():
                readable, _, _ = select.select([conn], [], [], 1.0)
                try:
                    if readable and conn.recv(1) == b"":
                        self.closed_by_client_at.append(time.monotonic())
                        return
                    conn.sendall(b"x")
                except OSError:  # reset or broken pipe: the client is gone
                    self.closed_by_client_at.append(time.monotonic())
                    return
            self.closed_by_server += 1


def service(name: str, target: str, timeout: float = 1.5, check_type: str = "http"):
    return MonitoredService.objects.create(
        name=name, check_type=check_type, target=target, timeout_seconds=timeout
    )


def lingering(before: set[threading.Thread], ignore: set[threading.Thread]) -> list[str]:
    """Names of threads started since `before` (other than `ignore`) still alive, after
    giving them a moment to finish."""
    deadline = time.monotonic() + 2
    while True:
        left = [t for t in threading.enumerate() if t not in before and t not in ignore]
        if not left or time.monotonic() > deadline:
            return [t.name for t in left]
        time.sleep(0.05)


def test_a_slow_drip_http_target_is_cut_at_the_deadline_socket_and_thread_gone():
    svc = service("drip", "", timeout=1.5)
    before = set(threading.enumerate())
    with DripServer() as server:
        svc.target = server.url
        started = time.monotonic()
        result = checks.run(svc, timezone.now())
        returned = time.monotonic()

        assert (result.status, result.error) == ("unhealthy", "timed out")
        # The server saw the connection closed by the check, at its deadline.
        deadline = started + svc.timeout_seconds
        for _ in range(int((MARGIN + 1) * 20)):
            if server.closed_by_client_at or server.closed_by_server:
                break
            time.sleep(0.05)
        assert server.closed_by_server == 0
        [closed_at] = server.closed_by_client_at
        assert closed_at <= deadline + MARGIN
        assert returned <= deadline + MARGIN
        assert lingering(before, server.threads) == []


def test_checks_of_a_drip_target_do_not_pile_up_connections_or_threads():
    before = set(threading.enumerate())
    with DripServer() as server:
        service("drip", server.url, timeout=1.0)
        for _ in range(3):  # three runs of beat's checks
            [recorded] = services.checks_run_due(all_services=True)
            assert (recorded.status, recorded.error) == ("unhealthy", "timed out")
        wait = time.monotonic() + MARGIN + 1
        while len(server.closed_by_client_at) < 3 and time.monotonic() < wait:
            time.sleep(0.05)
        # Every connection the checks opened is closed; none is still being read.
        assert len(server.accepted_at) == 3
        assert len(server.closed_by_client_at) == 3
        assert lingering(before, server.threads) == []
    assert HealthCheck.objects.filter(error="timed out").count() == 3


def test_a_tcp_check_that_cannot_connect_ends_at_its_deadline():
    # A listener whose accept queue is full: a new connection's SYN is dropped, so the
    # connect hangs (as towards a host behind a firewall that drops packets).
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.2)
        before = set(threading.enumerate())
        svc = service("firewalled", f"127.0.0.1:{port}", timeout=1.0, check_type="tcp")
        started = time.monotonic()
        result = checks.run(svc, timezone.now())

        assert (result.status, result.error) == ("unhealthy", "timed out")
        assert time.monotonic() - started <= 1.0 + MARGIN
        assert lingering(before, set()) == []
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_an_http_check_still_reads_a_normal_answer_and_its_status():
    with Receiver(200, 302, 503) as target:
        svc = service("api", target.url)
        assert checks.run(svc, timezone.now()).status == "healthy"
        redirected = checks.run(svc, timezone.now())  # not followed: a 302 is not a 200
        assert (redirected.status, redirected.error) == (
            "unhealthy",
            "ValueError: HTTP 302, expected 200",
        )
        failed = checks.run(svc, timezone.now())
        assert failed.error == "ValueError: HTTP 503, expected 200"


def test_a_check_cut_by_its_deadline_is_recorded_once_as_timed_out():
    with DripServer() as server:
        svc = service("drip", server.url, timeout=1.0)
        services.checks_run_due(all_services=True, now=timezone.now() - timedelta(seconds=1))
        svc.refresh_from_db()
        assert (svc.status, svc.last_error) == ("unhealthy", "timed out")
        assert svc.checks.count() == 1
