"""Clients of a started stack: its health check, and clients that misbehave on purpose."""

import http.client
import socket
import ssl
import threading
import time
from collections import Counter

HEALTH_PATH = "/api/v1/analytics/health"
INGEST_PATH = "/api/v1/analytics/job-outcome"


def http_get(
    address: str,
    port: int,
    path: str,
    *,
    tls: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5,
) -> tuple[int, bytes]:
    """(status, body) of one GET (over TLS with `tls`); (0, b"") when nothing answered."""
    if tls is None:
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
    else:
        connection = http.client.HTTPSConnection(address, port, timeout=timeout, context=tls)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        connection.close()


def health_ok(port: int, path: str = HEALTH_PATH) -> bool:
    """True when the server on 127.0.0.1:port answers its health check with 200."""
    return http_get("127.0.0.1", port, path, timeout=2)[0] == 200


class SlowClients:
    """`count` connections over raw sockets trickling one byte per `interval` s, from one thread.

    Even-numbered clients send a request line and then one header byte at a time,
    forever; odd-numbered ones send complete headers of an ingest POST (Content-Length
    4096) and then the body one byte at a time. When the server answers or closes one,
    the first line of its answer is counted in `answers` and the client is closed; with
    `reconnect` it opens again at the next tick, as an attacker would.

    `start()`/`stop()` (the bench) open the connections in the background and count the
    ones that fail; as a context manager (the tests) every connection must open first.
    """

    def __init__(
        self,
        port: int,
        count: int,
        key: str,
        interval: float = 1.0,
        *,
        reconnect: bool = False,
        connect_timeout: float = 5.0,
    ):
        self.port = port
        self.count = count
        self.key = key
        self.interval = interval
        self.reconnect = reconnect
        self.connect_timeout = connect_timeout
        self.socks: dict[int, socket.socket] = {}
        self.opened = 0
        self.failed_connects = 0
        self.ticks = 0
        self.answers: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def _head(self, index: int) -> bytes:
        if index % 2 == 0:
            return f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode()
        return (
            f"POST {INGEST_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {self.key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n"
        ).encode()

    def _open(self, index: int, *, strict: bool = False) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.connect_timeout)
            sock.sendall(self._head(index))
        except OSError:
            if strict:
                raise
            self.failed_connects += 1
            return
        sock.setblocking(False)
        self.socks[index] = sock
        self.opened += 1

    def _drop(self, index: int, what: str) -> None:
        self.answers[what] += 1
        self.socks.pop(index).close()

    def _tick(self) -> None:
        for index in range(self.count):
            sock = self.socks.get(index)
            if sock is None:
                if self.reconnect:
                    self._open(index)
                continue
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                data = None
            except OSError as exc:
                self._drop(index, type(exc).__name__)
                continue
            if data is not None:
                first = data.split(b"\r\n", 1)[0].decode(errors="replace")
                self._drop(index, first or "closed without an answer")
                continue
            try:
                sock.send(b"a" if index % 2 == 0 else b" ")
            except BlockingIOError:  # full: never, at a byte a tick
                pass
            except OSError as exc:
                self._drop(index, type(exc).__name__)
        self.ticks += 1

    def _run(self) -> None:
        for index in range(self.count):
            if index not in self.socks:
                self._open(index)
        while not self._stop.wait(self.interval):
            self._tick()

    @property
    def connected(self) -> int:
        return len(self.socks)

    def still_open(self) -> int:
        """How many the server has neither answered nor closed (peeks, consumes nothing)."""
        count = 0
        for sock in list(self.socks.values()):
            try:
                sock.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                count += 1
            except OSError:
                pass
        return count

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in list(self.socks.values()):
            sock.close()

    def __enter__(self) -> "SlowClients":
        for index in range(self.count):
            self._open(index, strict=True)
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def raw_request(port: int, data: bytes, *, timeout: float = 10) -> tuple[int, dict, bytes]:
    """Send bytes as they are, read the answer until the server closes: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/") else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body
