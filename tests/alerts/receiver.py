"""A real HTTP receiver for alert tests: a threaded http.server on 127.0.0.1, on a free port.

    with Receiver() as hook:                     # answers 200 to every request
        send_webhook(hook.url, body, delivery_id="d1", secret="s3cret")
        [request] = hook.requests                # method, path, headers, exact body bytes
        assert request.body == body and hook.verify_signature("s3cret")

    Receiver(500, 500, 200)                      # one reply per request; the last repeats
    Receiver(Reply(200, delay=30))               # waits 30 s (or until stop) before answering
    Receiver(Reply(307, location="/next"), 200)  # redirects, then answers
    hook.script(...)                             # a new script (once the port is known, say)
    hook.wait(2)                                 # blocks until 2 requests came (async senders)

As a pytest fixture:

    @pytest.fixture
    def hook():
        with Receiver() as receiver:
            yield receiver

A request is recorded as it arrives, before any delay, so a sender that gave up is still
seen to have sent. Bodies need a Content-Length (chunked uploads are not read). With `tls`
(a server-side ssl.SSLContext) it serves https.
"""

import hashlib
import hmac
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNATURE_HEADER = "X-Analytics-Signature"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    delay: float = 0.0  # seconds before answering; stop() cuts it short
    location: str | None = None  # a Location header, for redirects
    body: bytes = b"ok"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Message  # case-insensitive; headers["X-Missing"] is None
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def verify_signature(self, secret: str) -> bool:
        """What a real receiver does: HMAC the bytes received, compare in constant time."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(
            self.headers.get(SIGNATURE_HEADER, "").encode(), expected.encode()
        )


class Receiver:
    def __init__(self, *replies: int | Reply, tls: ssl.SSLContext | None = None) -> None:
        self._lock = threading.Condition()
        self._requests: list[Request] = []
        self._replies: list[Reply] = []
        self._stopping = threading.Event()
        self._tls = tls
        self._server: _Server | None = None
        self.script(*replies)

    def script(self, *replies: int | Reply) -> None:
        """Replies for the next requests, in order; the last one repeats (default: 200)."""
        with self._lock:
            self._replies = [r if isinstance(r, Reply) else Reply(r) for r in replies] or [Reply()]

    @property
    def port(self) -> int:
        assert self._server is not None, "start the receiver first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The root URL, e.g. http://127.0.0.1:40123/ (append a path as you like)."""
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}/"

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[Request]:
        """The requests, once at least `count` have come; AssertionError after `timeout`."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(f"expected {count} requests, got {len(self._requests)}")
            return list(self._requests)

    def verify_signature(self, secret: str, request: Request | None = None) -> bool:
        """Whether `request` (default: the last one) is signed with `secret`."""
        request = request or self.requests[-1]
        return request.verify_signature(secret)

    def start(self) -> "Receiver":
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        if self._tls is not None:
            self._server.socket = self._tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="receiver", daemon=True
        ).start()  # a short poll interval: stop() waits for one
        return self

    def stop(self) -> None:
        self._stopping.set()  # delayed replies give up at once
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _arrived(self, request: Request) -> Reply:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()
            return self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many checks connect at once (socketserver's default is 5)
    receiver: Receiver

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up (a sender's timeout) or stop(): nothing to report


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        receiver = self.server.receiver
        reply = receiver._arrived(Request(self.command, self.path, self.headers, body))
        if reply.delay and receiver._stopping.wait(reply.delay):
            return
        self.send_response(reply.status)
        if reply.location is not None:
            self.send_header("Location", reply.location)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)
        self.close_connection = True

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        self._answer()

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()  # here, not in the accepting thread

    def log_message(self, format: str, *args: object) -> None:
        pass


def free_port() -> int:
    """A port nothing listens on (for "connection refused")."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
