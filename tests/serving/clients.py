"""Clients that misbehave on purpose, over raw sockets, for the serving tests."""

import socket
import threading
import time

HEALTH_PATH = "/api/v1/analytics/health"
INGEST_PATH = "/api/v1/analytics/job-outcome"


class SlowClients:
    """`count` connections sending one byte a second: even ones trickle their headers,
    odd ones the body of an ingest POST (headers complete, Content-Length 4096)."""

    def __init__(self, port: int, count: int, key: str):
        self.port = port
        self.count = count
        self.key = key
        self.socks: list[socket.socket] = []
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)

    def _head(self, index: int) -> bytes:
        if index % 2 == 0:
            return f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode()
        return (
            f"POST {INGEST_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {self.key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n"
        ).encode()

    def _trickle(self) -> None:
        while not self._stop.wait(1.0):
            for index, sock in enumerate(self.socks):
                try:
                    sock.send(b"a" if index % 2 == 0 else b" ")
                except OSError:  # full (never, at a byte a second) or closed by the server
                    pass
            self.ticks += 1

    def still_open(self) -> int:
        """How many the server has neither answered nor closed (peeks, consumes nothing)."""
        count = 0
        for sock in self.socks:
            try:
                sock.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                count += 1
            except OSError:
                pass
        return count

    def __enter__(self) -> "SlowClients":
        for index in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(self._head(index))
            sock.setblocking(False)
            self.socks.append(sock)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.socks:
            sock.close()


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
