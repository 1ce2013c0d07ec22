"""Outbound connections of this service, one client for all: HTTP requests (alert
notifications, health checks) and TCP connects, each bounded by a total deadline.

Socket timeouts bound one connect or one read; a peer that answers one byte a second
never trips them. So every request also has a watchdog that shuts its socket down at the
deadline: the call returns then (a timeout), its socket is closed, and no thread of it
is left reading. DNS has no timeout of its own either: it runs in a thread that is waited
for until the deadline only.

Where a request may go is the caller's policy, given as `allow_private`:

- always: http:// or https://, no credentials in the URL;
- unless `allow_private`: the host must resolve only to global unicast addresses: no
  loopback, private, link-local, unspecified, multicast, reserved or shared (CGNAT)
  address, IPv4 or IPv6, nor one embedded in IPv6 (::ffff:127.0.0.1, 6to4, NAT64). One
  bad answer among good ones refuses the whole host (an SSRF guard for user-given URLs,
  such as alert webhooks). `private_hint` is added to that refusal (how to lift it).

The rules are applied after DNS and on every redirect hop, and the connection goes to the
very address that was checked (the Host header, TLS SNI and certificate check still use
the host name), so a DNS answer that changes between check and connect (rebinding)
cannot move it. This module reads no setting: callers pass their policy and timeouts.
"""

import http.client
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CONNECT_TIMEOUT = 5.0  # seconds, per address tried
TIMEOUT = 10.0  # seconds, for the whole request: DNS, connect, TLS, redirects, response
MAX_REDIRECTS = 3
MAX_RESPONSE_BYTES = 64 * 1024  # read of a response body; the rest is dropped

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# With a body, 307/308 repeat the request with it; 301/302/303 would turn it into a
# body-less GET (which a receiver may well answer 200), so they are reported instead.
_KEEP_BODY = frozenset({307, 308})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeTarget(ValueError):  # noqa: N818 - the name callers use
    """The target may not be requested; the message says why and what to change."""


class EgressError(Exception):
    """The request failed (DNS, connect, TLS, timeout, bad response); the message says
    which. `timed_out`: the total deadline (or a connect timeout) cut it. `permanent`:
    the same request would fail the same way (a redirect this client will not follow)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        timed_out: bool = False,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.timed_out = timed_out
        self.permanent = permanent


@dataclass(frozen=True)
class Target:
    """A checked URL: the addresses to connect to and what to ask them for."""

    url: str
    scheme: str
    host: str  # lowercased, an IPv6 literal without brackets
    port: int
    path: str  # path and query, as sent on the request line
    addresses: tuple[IPAddress, ...]

    @property
    def origin(self) -> str:
        return _origin(self.scheme, self.host, self.port)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes  # at most MAX_RESPONSE_BYTES
    url: str  # of the last hop
    location: str | None = None  # of a redirect that was not followed
    # The body was still arriving at the deadline (the status and headers had come):
    # what `body` holds is what came in time.
    body_timed_out: bool = False


def check_url(
    url: str, *, allow_private: bool, private_hint: str = "", timeout: float = CONNECT_TIMEOUT
) -> None:
    """Raise UnsafeTarget unless `url` may be requested under the policy: for saving it.

    The host is resolved (within `timeout`) only while the address rule applies: a host
    that does not resolve is refused too, as the likely typo it is.
    """
    try:
        parsed = parse_url(url)
        if not allow_private:
            resolve_host(
                parsed.host,
                parsed.port,
                allow_private=False,
                private_hint=private_hint,
                timeout=timeout,
            )
    except EgressError as exc:
        raise UnsafeTarget(str(exc)) from None


def parse_url(url: str) -> Target:
    """The URL's parts, checked for syntax, scheme and credentials; not yet resolved."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeTarget("the URL is empty")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise UnsafeTarget("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        got = f"{scheme}://" if scheme else "a URL without a scheme"
        raise UnsafeTarget(f"only http:// and https:// URLs can be requested, not {got}")
    if "@" in parts.netloc:
        # Never sent, never shown: the message does not repeat the URL.
        raise UnsafeTarget("the URL carries credentials (user:password@); remove them")
    host = parts.hostname
    if not host:
        raise UnsafeTarget("the URL has no host")
    path = quote(parts.path or "/", safe="/%!$&'()*+,;=:@~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%!$&'()*+,;=:@~?")
    port = port or (443 if scheme == "https" else 80)
    return Target(url=url, scheme=scheme, host=host, port=port, path=path, addresses=())


def resolve_url(
    url: str, *, allow_private: bool, private_hint: str = "", timeout: float = TIMEOUT
) -> Target:
    """`parse_url`, then `resolve_host`: a target ready to connect to."""
    target = parse_url(url)
    addresses = resolve_host(
        target.host,
        target.port,
        allow_private=allow_private,
        private_hint=private_hint,
        timeout=timeout,
    )
    return replace(target, addresses=addresses)


def resolve_host(
    host: str, port: int, *, allow_private: bool, private_hint: str = "", timeout: float = TIMEOUT
) -> tuple[IPAddress, ...]:
    """The addresses `host` resolves to, every one checked: the only DNS lookup a request
    or connect makes.

    Raises UnsafeTarget for a non-public address (unless allowed), EgressError when the
    host does not resolve within `timeout`.
    """
    try:
        addresses: tuple[IPAddress, ...] = (ipaddress.ip_address(host.strip("[]")),)
        literal = True
    except ValueError:
        addresses = _lookup(host, port, timeout)
        literal = False
    if not allow_private:
        for address in addresses:
            problem = address_problem(address)
            if problem:
                where = f"{host} is" if literal else f"{host} resolves to {address},"
                hint = f"; {private_hint}" if private_hint else ""
                raise UnsafeTarget(f"{where} {problem}{hint}")
    return addresses


def address_problem(address: IPAddress) -> str | None:
    """What makes `address` non-public ("a private address"), or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4-mapped (a dual-stack socket) and NAT64 addresses reach the IPv4 address
        # inside: that one is judged. 6to4 ones must be public both inside and out.
        inner = address.ipv4_mapped
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            problem = _own_problem(inner)
            return f"{problem} (IPv4 {inner})" if problem else None
        if address.sixtofour is not None:
            problem = _own_problem(address.sixtofour)
            if problem:
                return f"{problem} (IPv4 {address.sixtofour})"
    return _own_problem(address)


def _own_problem(address: IPAddress) -> str | None:
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "an unspecified address (it reaches this machine)"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "a non-public address"
    return None


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    allow_private: bool,
    private_hint: str = "",
    timeout: float = TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
    follow_redirects: bool = True,
    max_redirects: int = MAX_REDIRECTS,
) -> Response:
    """Send one request under the rules above and return the last hop's answer.

    `timeout` bounds the whole call, redirects included: at the deadline the socket is
    shut down and closed, and EgressError(timed_out=True) raised; `connect_timeout` bounds
    each connect. With `follow_redirects`, a redirect is followed (its target re-checked),
    never from https to http; with a body only 307/308 are (they re-send it) and 301/302/
    303 are an error. Without it, a redirect is returned as it came (`location` set).
    Raises UnsafeTarget or EgressError, whose messages never show a URL's path or query
    (a Slack webhook's path is its secret).
    """
    deadline = time.monotonic() + timeout
    headers = dict(headers or {})
    status = None
    for hop in range(max_redirects + 1):
        try:
            target = resolve_url(
                url,
                allow_private=allow_private,
                private_hint=private_hint,
                timeout=_left(deadline, timeout),
            )
        except UnsafeTarget as exc:
            if hop == 0:
                raise
            raise UnsafeTarget(f"redirected (HTTP {status}) to an unsafe target: {exc}") from None
        response = _request_once(method, target, body, headers, deadline, timeout, connect_timeout)
        status, location = response.status, response.location
        if status not in _REDIRECTS or not location or not follow_redirects:
            return response
        next_url = urljoin(url, location)
        try:
            next_target = parse_url(next_url)
        except UnsafeTarget as exc:
            raise UnsafeTarget(f"redirected (HTTP {status}) to an unsafe target: {exc}") from None
        where = next_target.origin
        if body is not None and status not in _KEEP_BODY:
            raise EgressError(
                f"HTTP {status}: redirected to {where}, not followed (it would turn the "
                f"{method} into a GET without the body); point it at the final URL",
                status_code=status,
                permanent=True,
            )
        if target.scheme == "https" and next_target.scheme == "http":
            raise EgressError(
                f"HTTP {status}: redirected from https to plain http ({where}), not followed",
                status_code=status,
                permanent=True,
            )
        url = next_url
    raise EgressError(f"more than {max_redirects} redirects", status_code=status)


def post(url: str, body: bytes, headers: Mapping[str, str], **options: Any) -> Response:
    """`request("POST", ...)`: 307/308 redirects followed with the body."""
    return request("POST", url, body=body, headers=headers, **options)


def get(url: str, headers: Mapping[str, str] | None = None, **options: Any) -> Response:
    """`request("GET", ...)`."""
    return request("GET", url, headers=headers, **options)


def tcp_connect(
    host: str, port: int, *, allow_private: bool, timeout: float, private_hint: str = ""
) -> IPAddress:
    """Open a TCP connection to `host` (resolved and checked like a URL's), close it, and
    return the address that answered. `timeout` bounds it all, DNS and every address
    tried; raises UnsafeTarget, EgressError(timed_out=True) at the deadline, or the
    last address's OSError (ConnectionRefusedError, say)."""
    deadline = time.monotonic() + timeout
    addresses = resolve_host(
        host, port, allow_private=allow_private, private_hint=private_hint, timeout=timeout
    )
    error: OSError | None = None
    for address in addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            sock = socket.create_connection((str(address), port), timeout=left)
        except TimeoutError:
            error = None
            continue
        except OSError as exc:
            error = exc
            continue
        sock.close()
        return address
    if error is not None:
        raise error
    raise EgressError(f"connecting to {host}:{port} timed out after {timeout:g} s", timed_out=True)


def _request_once(
    method: str,
    target: Target,
    body: bytes | None,
    headers: Mapping[str, str],
    deadline: float,
    timeout: float,
    connect_timeout: float,
) -> Response:
    """One request: the status, Location and up to MAX_RESPONSE_BYTES of the body."""
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    # Socket timeouts bound each connect and read; the watchdog bounds them all (a target
    # that answers one byte at a time), by shutting the socket down at the deadline.
    watchdog = Watchdog(deadline - time.monotonic())
    connection = connection_class(
        target, connect_timeout=connect_timeout, deadline=deadline, watchdog=watchdog
    )
    response = None
    phase = "connecting"
    try:
        connection.connect()
        sock = connection.sock  # the connection lets go of it once a response says close
        phase = "sending"
        _settimeout(sock, deadline)
        connection.request(method, target.path, body=body, headers=dict(headers))
        phase = "waiting for the response"
        _settimeout(sock, deadline)
        response = connection.getresponse()
        answer = b""
        body_timed_out = False
        try:  # the status is what counts; the body is read while there is time
            _settimeout(sock, deadline)
            answer = response.read(MAX_RESPONSE_BYTES)
        except (OSError, http.client.HTTPException):
            body_timed_out = watchdog.fired or time.monotonic() >= deadline - 0.05
        else:
            body_timed_out = watchdog.fired
        return Response(
            status=response.status,
            body=answer,
            url=target.url,
            location=response.getheader("Location"),
            body_timed_out=body_timed_out,
        )
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _explain(exc, target, connection, phase, deadline, timeout) from None
    finally:
        watchdog.stop()  # before anything is closed
        if response is not None:
            response.close()
        connection.close()


def _explain(
    exc: OSError | http.client.HTTPException | ValueError,
    target: Target,
    connection: "_PinnedHTTPConnection",
    phase: str,
    deadline: float,
    timeout: float,
) -> EgressError:
    """What went wrong, in words; connection errors name the address that was tried."""
    where = target.origin
    if connection.tried is not None:
        where += f" ({connection.tried})"
    # The watchdog fires at the deadline (give or take a timer tick): whatever the read
    # then saw (end of stream, reset) was the timeout.
    past_deadline = time.monotonic() >= deadline - 0.05
    if isinstance(exc, TimeoutError) or past_deadline:
        if phase == "connecting" and not past_deadline:
            return EgressError(
                f"connecting to {where} timed out after {connection.timeout:g} s", timed_out=True
            )
        return EgressError(f"timed out after {timeout:g} s ({phase}, {where})", timed_out=True)
    if isinstance(exc, http.client.RemoteDisconnected):
        return EgressError(f"{where} closed the connection without a response")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return EgressError(f"TLS certificate of {target.host} not accepted: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return EgressError(f"TLS with {where} failed: {exc.reason or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return EgressError(f"connection refused by {where}")
    if isinstance(exc, http.client.HTTPException):
        return EgressError(f"invalid HTTP response from {where}: {type(exc).__name__} {exc}")
    if isinstance(exc, OSError):
        return EgressError(f"network error with {where}: {exc.strerror or exc}")
    return EgressError(f"request not sent: {exc}")  # a ValueError: a header value, say


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the target's checked addresses, never to what its host resolves to now;
    the Host header still names the host."""

    def __init__(
        self, target: Target, *, connect_timeout: float, deadline: float, watchdog: "Watchdog"
    ) -> None:
        super().__init__(target.host, target.port, timeout=connect_timeout)
        self.addresses = target.addresses
        self.deadline = deadline
        self.watchdog = watchdog
        self.tried: IPAddress | None = None

    def connect(self) -> None:
        self.sock = self._open()

    def _open(self) -> socket.socket:
        error: OSError = TimeoutError()
        for address in self.addresses:  # in resolver order, like a browser without racing
            left = self.deadline - time.monotonic()
            if left <= 0:
                break
            self.tried = address
            try:
                sock = socket.create_connection(
                    (str(address), self.port), timeout=min(self.timeout, left)
                )
            except OSError as exc:
                error = exc
                continue
            self.watchdog.watch(sock)
            return sock
        raise error


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """The same, with TLS: SNI and the certificate check use the host name."""

    default_port = 443  # the Host header leaves it out

    def connect(self) -> None:
        sock = self._open()
        try:
            tls = _tls_context().wrap_socket(
                sock, server_hostname=self.host, do_handshake_on_connect=False
            )
        except BaseException:
            sock.close()
            raise
        try:
            self.watchdog.watch(tls)  # wrapping took the plain socket's place
            _settimeout(tls, self.deadline)
            tls.do_handshake()
        except BaseException:
            tls.close()
            raise
        self.sock = tls


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class Watchdog:
    """Shuts the socket it watches down at a deadline, unless stopped first: a blocked
    connect, read or handshake on it returns then. Stop it before the socket is closed,
    so it never touches a closed one's successor. Its timer thread ends with `stop`.

    For a client library that owns its socket (a database driver), `watch_fd` takes the
    file descriptor, or `on_fire` a function that finds the socket at the deadline."""

    def __init__(self, seconds: float, *, on_fire: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | int | None = None
        self._on_fire = on_fire
        self.fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.name = "egress-watchdog"
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.fired:
                self._shutdown()

    def watch_fd(self, fd: int) -> None:
        """`watch` for a socket known by its file descriptor only."""
        with self._lock:
            self._sock = fd
            if self.fired:
                self._shutdown()

    def stop(self) -> None:
        with self._lock:
            self._sock = None
            self._on_fire = None
        self._timer.cancel()
        if self._timer is not threading.current_thread():
            self._timer.join()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shutdown()
            if self._on_fire is not None:
                with suppress(Exception):
                    self._on_fire()

    def _shutdown(self) -> None:
        if self._sock is not None:
            shutdown_socket(self._sock)


def shutdown_socket(sock: socket.socket | int) -> None:
    """Shut a socket (or a socket's file descriptor) down both ways: a read blocked on it
    returns. The plain socket's shutdown: on a TLS socket it makes a blocked read or
    handshake return, where SSLSocket.shutdown would pull its state away."""
    with suppress(OSError, ValueError):
        if isinstance(sock, int):
            with socket.socket(fileno=os.dup(sock)) as duplicate:
                duplicate.shutdown(socket.SHUT_RDWR)
        else:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _lookup(host: str, port: int, timeout: float) -> tuple[IPAddress, ...]:
    """getaddrinfo within `timeout`: it has no timeout of its own, so it runs in a thread
    that is left to finish on its own if it takes longer."""
    answers: list = []
    errors: list[Exception] = []

    def run() -> None:
        try:
            answers.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError, ValueError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"resolve {host}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise EgressError(f"looking up {host} timed out after {timeout:g} s", timed_out=True)
    if errors:
        reason = getattr(errors[0], "strerror", None) or errors[0]
        raise EgressError(f"{host} does not resolve ({reason})")
    addresses: dict[IPAddress, None] = {}  # in the resolver's order, without repeats
    for family, _, _, _, sockaddr in answers:
        if family in (socket.AF_INET, socket.AF_INET6):
            addresses[ipaddress.ip_address(sockaddr[0])] = None
    if not addresses:
        raise EgressError(f"{host} has no IPv4 or IPv6 address")
    return tuple(addresses)


def _left(deadline: float, timeout: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise EgressError(f"timed out after {timeout:g} s", timed_out=True)
    return left


def _settimeout(sock: socket.socket, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    sock.settimeout(left)


def _origin(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{shown}" + ("" if port == default else f":{port}")
