"""gunicorn worker for this service: threads that never wait on a slow client.

gunicorn's gthread worker hands a connection to a thread as soon as its first
byte arrives; a client trickling its headers or body at 1 byte/s then holds
that thread for as long as it likes, and a few dozen of them stall the
service. `BufferedThreadWorker` reads each request (headers and body) in the
worker's event loop, without a thread, under two deadlines (headers, then
body), and gives it to a thread only once all of it is in memory: the thread
runs Django and never waits for the client's bytes. A request that is too
slow is answered 408, a body over the ingest limit 413, before any thread or
Django code is involved.

API reads (GET/HEAD under /api/v1/, health excepted: apps/core/readcost.py) run on at
most API_READS_PER_PROCESS threads (the threads less one by default); more wait in the
event loop, without a thread, until one of them has answered. So health and ingest
always find a free thread, however many costly reads arrive, and no read is refused
for being one too many.

The errors gunicorn answers itself (a malformed request line, too many or too
large headers, ...) are JSON in the API's error shape instead of HTML.

Settings (environment): WEB_HEADER_TIMEOUT (s, default 10), WEB_BODY_TIMEOUT
(s, default 30), WEB_WRITE_TIMEOUT (s, default 30), INGEST_MAX_BODY_BYTES.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections import deque
from functools import partial

import orjson
from gunicorn import http, util
from gunicorn.workers.gthread import TConn, ThreadWorker

from .env import env_int

ERROR_CODES = {
    400: "bad_request",
    403: "permission_denied",
    404: "not_found",
    408: "request_timeout",
    413: "payload_too_large",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    500: "server_error",
    501: "not_implemented",
    503: "service_unavailable",
}
REASONS = {
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
}
CLOSE_LINGER_SECONDS = 2.0  # how long a closing connection may still send us bytes
CLOSE_DRAIN_MAX = 64 * 1024
MAX_CHUNK_LINE = 4096
RECV_SIZE = 256 * 1024


def json_error(status: int, reason: str, detail: str) -> bytes:
    """A complete HTTP/1.1 error response in the API's shape; the connection closes after it."""
    body = orjson.dumps({"error": ERROR_CODES.get(status, "error"), "detail": detail[:300]})
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Stands in for gunicorn.util.write_error, which answers in HTML."""
    detail = mesg or reason
    if status_int == 500:
        detail = "The server could not handle this request."  # never an exception's text
    util.write_nonblock(sock, json_error(status_int, reason, detail))


class WriteBoundSocket(socket.socket):
    """A socket whose "blocking" mode has a timeout.

    gthread puts sockets in blocking mode (no timeout) while a thread writes
    the response; a client that stops reading would then hold the thread for
    good. With this, a stalled write fails after WEB_WRITE_TIMEOUT seconds.
    """

    __slots__ = ()
    io_timeout: float = 30.0

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(self.io_timeout)
        else:
            super().setblocking(False)


class _Request:
    """What the event loop knows about a request it is still reading."""

    __slots__ = (
        "body_size",
        "buf",
        "chunk_pos",
        "closing",
        "deadline",
        "got",
        "head_end",
        "need",
        "registered",
        "sock",
    )

    def __init__(self, sock: socket.socket, buf: bytes, deadline: float):
        self.sock = sock
        self.buf = bytearray(buf)
        self.deadline = deadline
        self.head_end = -1  # index just past the blank line that ends the head
        self.need: int | None = None  # total bytes, when the body's length is known
        self.chunk_pos = -1  # next chunk-size line, for a chunked body
        self.body_size = 0
        self.closing = False  # error sent: draining what the client still sends
        self.got = len(buf)
        self.registered = False

    def send(self, data: bytes) -> None:
        try:
            self.sock.send(data)  # small; a socket's send buffer takes it at once
        except OSError:
            pass


class BufferedThreadWorker(ThreadWorker):
    """gthread whose threads only ever see complete requests (see module docstring)."""

    def init_process(self) -> None:
        util.write_error = write_json_error  # every error gunicorn writes itself, in JSON
        self.header_timeout = float(env_int("WEB_HEADER_TIMEOUT", 10, minimum=1))
        self.body_timeout = float(env_int("WEB_BODY_TIMEOUT", 30, minimum=1))
        WriteBoundSocket.io_timeout = float(env_int("WEB_WRITE_TIMEOUT", 30, minimum=1))
        self.max_body = env_int("INGEST_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
        cfg = self.cfg
        # A request line longer than this: gunicorn's parser answers 414 from what is
        # buffered. A head longer than the other: no header limit lets it through.
        self.max_line = (cfg.limit_request_line or 8190) + 2
        field = cfg.limit_request_field_size or 8190
        self.max_head = self.max_line + (cfg.limit_request_fields or 100) * (field + 2) + 4
        # TLS, HTTP/2 or PROXY-protocol bytes are not HTTP/1 text: leave those to gthread.
        self.buffering = (
            not cfg.is_ssl
            and getattr(cfg, "protocol", "http") == "http"
            and getattr(cfg, "http2_cleartext", "off") == "off"
            and getattr(cfg, "proxy_protocol", "off") == "off"
        )
        self.reading: dict[TConn, _Request] = {}
        self.next_sweep = 0.0
        self.reads_running: set[TConn] = set()
        self.reads_waiting: deque[TConn] = deque()
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # Django's settings are loaded now: the same limit and rule as apps/core/readcost.
        from django.conf import settings

        from apps.core.readcost import is_api_read_target

        self.read_threads = max(1, min(settings.API_READS_PER_PROCESS, self.cfg.threads))
        self.is_api_read = is_api_read_target

    # --- connections enter here: new, kept alive, or with a pipelined request
    def accept(self, listener) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        sock = WriteBoundSocket(
            client_sock.family, client_sock.type, client_sock.proto, fileno=client_sock.detach()
        )
        self.enqueue_req(TConn(self.cfg, sock, client_addr, listener.getsockname()))

    def enqueue_req(self, conn: TConn) -> None:
        if not self.buffering or getattr(conn, "complete", False):
            conn.complete = False
            super().enqueue_req(conn)
            return
        leftover = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.sock.setblocking(False)
        req = _Request(conn.sock, leftover, time.monotonic() + self.header_timeout)
        self.reading[conn] = req
        if not self._progress(conn, req):
            self._watch(conn, req)

    def _watch(self, conn: TConn, req: _Request) -> None:
        if not req.registered:
            self.poller.register(req.sock, selectors.EVENT_READ, partial(self._readable, conn))
            req.registered = True

    def _readable(self, conn: TConn, _fileobj) -> None:
        self._progress(conn, self.reading[conn])

    def _progress(self, conn: TConn, req: _Request) -> bool:
        """Read what has arrived; True once the connection has left the reading state."""
        eof = False
        while True:
            try:
                data = req.sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                eof = True
                break
            if not data:
                eof = True
                break
            req.got += len(data)
            if req.closing:
                eof = req.got > CLOSE_DRAIN_MAX
                if eof:
                    break
                continue
            req.buf += data
        if not req.closing and req.buf:
            outcome = self._check(req)
            if outcome is True:
                self._dispatch(conn, req)
                return True
            if outcome:
                self._refuse(conn, req, *outcome)
        if eof:
            self._close(conn)
            return True
        return False

    def _check(self, req: _Request):
        """True: complete (or for gunicorn's parser to reject); False: wait; else an error."""
        buf = req.buf
        if req.head_end < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self.max_head:
                    return 431, "The request headers are too large."
                # A bare LF, or a request line too long: gunicorn's parser answers 400/414.
                too_long = len(buf) > self.max_line and buf.find(b"\r\n", 0, self.max_line) < 0
                return too_long or buf.count(b"\n") != buf.count(b"\r\n")
            req.head_end = end + 4
            outcome = self._frame(req)
            if outcome is not False:
                return outcome
            req.deadline = time.monotonic() + self.body_timeout
        if req.need is not None:
            return len(buf) >= req.need
        return self._chunked(req)

    def _frame(self, req: _Request):
        """How the body ends, from the head just read: True (no body), False (read on), error."""
        lines = bytes(req.buf[: req.head_end - 4]).split(b"\r\n")
        lengths, codings, expect = [], [], False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                lengths.append(value.strip())
            elif name == b"transfer-encoding":
                codings += [c.strip().lower() for c in value.split(b",")]
            elif name == b"expect":
                expect = value.strip().lower() == b"100-continue"
        if codings:
            if codings[-1] != b"chunked":
                return True  # gunicorn answers 501 without reading a body
            req.chunk_pos = req.head_end
        elif lengths:
            if len(set(lengths)) != 1 or not lengths[0].isdigit():
                return True  # gunicorn answers 400 without reading a body
            size = int(lengths[0])
            if size > self.max_body:
                return 413, f"Request body is larger than {self.max_body} bytes."
            req.need = req.head_end + size
        else:
            req.need = req.head_end
            return True
        if expect and lines[0].endswith(b"HTTP/1.1") and self._missing_body(req):
            # The client waits for this before it sends the body. gunicorn sends one
            # more when the request reaches it; clients take both (RFC 9110 15.2).
            req.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        return False

    def _missing_body(self, req: _Request) -> bool:
        if req.need is not None:
            return len(req.buf) < req.need
        return self._chunked(req) is False

    def _chunked(self, req: _Request):
        buf, pos = req.buf, req.chunk_pos
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                req.chunk_pos = pos
                return len(buf) - pos > MAX_CHUNK_LINE  # too long: gunicorn answers 400
            try:
                size = int(bytes(buf[pos:eol]).split(b";", 1)[0].strip(), 16)
            except ValueError:
                return True  # gunicorn answers 400
            if size == 0:
                req.chunk_pos = pos
                if buf[eol + 2 : eol + 4] == b"\r\n" or buf.find(b"\r\n\r\n", eol) >= 0:
                    return True  # the last chunk, then no trailers or the trailers' end
                return len(buf) - eol > self.max_head
            if req.body_size + size > self.max_body:
                return 413, f"Request body is larger than {self.max_body} bytes."
            if len(buf) < eol + 2 + size + 2:
                req.chunk_pos = pos
                return False
            req.body_size += size
            pos = eol + 2 + size + 2

    def _dispatch(self, conn: TConn, req: _Request) -> None:
        self._forget(conn, req)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(bytes(req.buf))
        conn.data_ready = True  # gthread must not wait for more bytes
        conn.complete = True
        if self._is_read(req.buf):
            if len(self.reads_running) >= self.read_threads:
                self.reads_waiting.append(conn)  # a thread is kept for health and ingest
                return
            self.reads_running.add(conn)
        self.enqueue_req(conn)

    def _is_read(self, buf: bytearray) -> bool:
        method, _, rest = bytes(buf[: buf.find(b"\r\n")]).partition(b" ")
        target = rest.partition(b" ")[0].partition(b"?")[0]
        return self.is_api_read(method.decode("latin-1"), target.decode("latin-1"))

    def finish_request(self, conn: TConn, fs) -> None:
        if conn in self.reads_running:
            self.reads_running.discard(conn)
            while self.reads_waiting and len(self.reads_running) < self.read_threads:
                waiting = self.reads_waiting.popleft()
                self.reads_running.add(waiting)
                self.enqueue_req(waiting)
        super().finish_request(conn, fs)

    def _refuse(self, conn: TConn, req: _Request, status: int, detail: str) -> None:
        """Answer from the event loop, then drain what the client still sends, then close.

        Closing at once with unread bytes would reset the connection, and the
        client would likely never see the answer.
        """
        req.send(json_error(status, REASONS.get(status, "Error"), detail))
        try:
            req.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        req.closing = True
        req.buf = bytearray()
        req.got = 0
        req.deadline = time.monotonic() + CLOSE_LINGER_SECONDS
        self.log.info("Refused request from %s: %s %s", conn.client, status, detail)
        self._watch(conn, req)

    def _forget(self, conn: TConn, req: _Request) -> None:
        del self.reading[conn]
        if req.registered:
            req.registered = False
            try:
                self.poller.unregister(req.sock)
            except (KeyError, ValueError, OSError):
                pass

    def _close(self, conn: TConn) -> None:
        req = self.reading.get(conn)
        if req is not None:
            self._forget(conn, req)
        self.nr_conns -= 1
        conn.close()

    # --- deadlines, checked after gthread's own, at most 4 times a second
    def murder_pending(self) -> None:
        super().murder_pending()
        while not self.alive and self.reads_waiting:
            self.nr_conns -= 1
            self.reads_waiting.popleft().close()  # stopping: a read not begun is not run
        now = time.monotonic()
        if now < self.next_sweep or not self.reading:
            return
        self.next_sweep = now + 0.25
        for conn, req in list(self.reading.items()):
            if not self.alive and not req.got:
                self._close(conn)  # stopping: a request not even begun is not waited for
                continue
            if req.deadline > now:
                continue
            if req.closing or not req.got:
                self._close(conn)  # has been answered, or never sent a byte
                continue
            if req.head_end < 0:
                detail = f"The request headers did not arrive within {self.header_timeout:g} s."
            else:
                detail = f"The request body did not arrive within {self.body_timeout:g} s."
            self._refuse(conn, req, 408, detail)
