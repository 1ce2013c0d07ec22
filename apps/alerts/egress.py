"""Where alert notifications may be sent, and sending them there: public addresses only.

A webhook or Slack URL is user input: unguarded, the worker would POST wherever it points,
e.g. the cloud metadata service (169.254.169.254), Redis or PostgreSQL on localhost, or the
office network (SSRF). So a target must:

- be http:// or https://, with no credentials in it (a channel's `secret` signs instead);
- resolve only to global unicast addresses: no loopback, private, link-local, unspecified,
  multicast, reserved or shared (CGNAT) address, IPv4 or IPv6, nor one embedded in IPv6
  (::ffff:127.0.0.1, 6to4, NAT64). One bad answer among good ones refuses the whole host.

`check_url` applies these rules when a channel is saved; `post` applies them again on
every request, after DNS and on every redirect hop, and then connects to the very address
it checked (the Host header, TLS SNI and certificate check still use the host name), so
a DNS answer that changes between check and connect (rebinding) cannot move it.

ALERTS_ALLOW_PRIVATE_WEBHOOKS=true lifts the address rule (a receiver on this machine or
the private network, tests); the other rules stay.
"""

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from functools import lru_cache
from urllib.parse import quote, urljoin, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_PRIVATE_SETTING = "ALERTS_ALLOW_PRIVATE_WEBHOOKS"
CONNECT_TIMEOUT = 5.0  # seconds, per address tried
TIMEOUT = 10.0  # seconds, for the whole request: DNS, connect, TLS, redirects, response
MAX_REDIRECTS = 3
MAX_RESPONSE_BYTES = 64 * 1024  # read of a response body; the rest is dropped

# 307/308 repeat the POST with its body; 301/302/303 would turn it into a body-less GET
# (which a receiver may well answer 200), so they are reported instead of followed.
_FOLLOWED = frozenset({307, 308})
_NOT_FOLLOWED = frozenset({301, 302, 303})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeTarget(ValueError):  # noqa: N818 - the name callers use
    """The target may not receive notifications; the message says why and what to change."""


class EgressError(Exception):
    """Sending failed (DNS, connect, TLS, timeout, bad response); the message says which."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


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


def check_email(address: str) -> None:
    """Raise ValueError unless `address` is one email address (Django's EmailValidator)."""
    try:
        validate_email(address)
    except ValidationError:
        raise ValueError(f"{address!r} is not a valid email address") from None


def check_target(channel_type: str, target: str) -> None:
    """Raise ValueError unless a channel of `channel_type` may send to `target`: an email
    address for email, a safe URL (`check_url`) for the others. The one check the
    services, the API's input and the admin's form all apply."""
    if channel_type == "email":
        check_email(target)
    else:
        check_url(target)


def check_url(
    url: str, *, allow_private: bool | None = None, timeout: float = CONNECT_TIMEOUT
) -> None:
    """Raise UnsafeTarget unless notifications may be sent to `url`: for saving a channel.

    The host is resolved (within `timeout`) only while the address rule applies: a host
    that does not resolve is refused too, as the likely typo it is.
    """
    try:
        parsed = parse_url(url)
        if not _allow_private(allow_private):
            resolve_host(parsed.host, parsed.port, allow_private=False, timeout=timeout)
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
        raise UnsafeTarget(f"only http:// and https:// URLs can receive notifications, not {got}")
    if "@" in parts.netloc:
        raise UnsafeTarget(
            "the URL carries credentials (user:password@); remove them and give the "
            "channel a secret instead (it signs each request)"
        )
    host = parts.hostname
    if not host:
        raise UnsafeTarget("the URL has no host")
    path = quote(parts.path or "/", safe="/%!$&'()*+,;=:@~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%!$&'()*+,;=:@~?")
    port = port or (443 if scheme == "https" else 80)
    return Target(url=url, scheme=scheme, host=host, port=port, path=path, addresses=())


def resolve_url(url: str, *, allow_private: bool | None = None, timeout: float = TIMEOUT) -> Target:
    """`parse_url`, then `resolve_host`: a target ready to connect to."""
    target = parse_url(url)
    addresses = resolve_host(target.host, target.port, allow_private=allow_private, timeout=timeout)
    return replace(target, addresses=addresses)


def resolve_host(
    host: str, port: int, *, allow_private: bool | None = None, timeout: float = TIMEOUT
) -> tuple[IPAddress, ...]:
    """The addresses `host` resolves to, every one checked: the only DNS lookup `post` makes.

    Raises UnsafeTarget for a non-public address (unless allowed), EgressError when the
    host does not resolve within `timeout`.
    """
    try:
        addresses: tuple[IPAddress, ...] = (ipaddress.ip_address(host),)
        literal = True
    except ValueError:
        addresses = _lookup(host, port, timeout)
        literal = False
    if not _allow_private(allow_private):
        for address in addresses:
            problem = address_problem(address)
            if problem:
                where = f"{host} is" if literal else f"{host} resolves to {address},"
                raise UnsafeTarget(f"{where} {problem}; set {ALLOW_PRIVATE_SETTING}=true to allow")
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


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_private: bool | None = None,
    timeout: float = TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
    max_redirects: int = MAX_REDIRECTS,
) -> Response:
    """POST `body` to `url` under the rules above and return the last hop's answer.

    `timeout` bounds the whole call, redirects included; `connect_timeout` each connect.
    307/308 redirects are followed (re-checked, body re-sent), never from https to http.
    Raises UnsafeTarget or EgressError, whose messages never show a URL's path or query
    (a Slack webhook's path is its secret).
    """
    deadline = time.monotonic() + timeout
    status = None
    for hop in range(max_redirects + 1):
        try:
            target = resolve_url(url, allow_private=allow_private, timeout=_left(deadline, timeout))
        except UnsafeTarget as exc:
            if hop == 0:
                raise
            raise UnsafeTarget(f"redirected (HTTP {status}) to an unsafe target: {exc}") from None
        status, location, answer = _post_once(
            target, body, headers, deadline, timeout, connect_timeout
        )
        if status not in _FOLLOWED | _NOT_FOLLOWED or not location:
            return Response(status=status, body=answer, url=url)
        next_url = urljoin(url, location)
        try:
            next_target = parse_url(next_url)
        except UnsafeTarget as exc:
            raise UnsafeTarget(f"redirected (HTTP {status}) to an unsafe target: {exc}") from None
        where = next_target.origin
        if status in _NOT_FOLLOWED:
            raise EgressError(
                f"HTTP {status}: redirected to {where}, not followed (it would turn the POST "
                "into a GET without the body); point the channel at the final URL",
                status_code=status,
            )
        if target.scheme == "https" and next_target.scheme == "http":
            raise EgressError(
                f"HTTP {status}: redirected from https to plain http ({where}), not followed",
                status_code=status,
            )
        url = next_url
    raise EgressError(f"more than {max_redirects} redirects", status_code=status)


def _post_once(
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
    deadline: float,
    timeout: float,
    connect_timeout: float,
) -> tuple[int, str | None, bytes]:
    """One request: (status, Location header, up to MAX_RESPONSE_BYTES of the body)."""
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    # Socket timeouts bound each connect and read; the watchdog bounds them all (a target
    # that answers one byte at a time), by shutting the socket down at the deadline.
    watchdog = _Watchdog(deadline - time.monotonic())
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
        connection.request("POST", target.path, body=body, headers=dict(headers))
        phase = "waiting for the response"
        _settimeout(sock, deadline)
        response = connection.getresponse()
        answer = b""
        with suppress(OSError, http.client.HTTPException):  # the status is what counts
            _settimeout(sock, deadline)
            answer = response.read(MAX_RESPONSE_BYTES)
        return response.status, response.getheader("Location"), answer
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
            return EgressError(f"connecting to {where} timed out after {connection.timeout:g} s")
        return EgressError(f"timed out after {timeout:g} s ({phase}, {where})")
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
        self, target: Target, *, connect_timeout: float, deadline: float, watchdog: "_Watchdog"
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


class _Watchdog:
    """Shuts the socket it watches down at a deadline, unless stopped first (and it is
    stopped before the socket is closed, so it never touches a closed one's successor)."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self._fired:
                self._shutdown()

    def stop(self) -> None:
        with self._lock:
            self._sock = None
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self._fired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            with suppress(OSError):
                # The plain socket's shutdown: on a TLS socket it makes a blocked read or
                # handshake return, where SSLSocket.shutdown would pull its state away.
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)


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
        raise EgressError(f"looking up {host} timed out after {timeout:g} s")
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


def _allow_private(allow_private: bool | None) -> bool:
    if allow_private is None:
        return bool(getattr(settings, ALLOW_PRIVATE_SETTING, False))
    return allow_private


def _left(deadline: float, timeout: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise EgressError(f"timed out after {timeout:g} s")
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
