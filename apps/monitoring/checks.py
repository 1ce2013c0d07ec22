"""What one check of one service does, bounded by its timeout; never raises.

Every check has a total deadline (the service's `timeout_seconds`): when it passes, the
check returns "timed out" and its socket is shut down and closed, so no thread is left
behind reading from a target that answers one byte at a time.

HTTP: a GET that must answer `expected_status` (redirects are not followed: a login page
answering 200 would hide an outage), through the one outbound client, `apps.core.egress`
(private and loopback targets allowed: monitored services usually are); `user:password@`
in the URL is sent as HTTP Basic auth. TCP: a connect.
PostgreSQL: a connection from a `postgres://` URL and `SELECT 1`. Redis: a connection
from a `redis://` URL and PING. Heartbeat: the last ping is no older than interval +
grace. Custom: a function registered in code with `@custom_check("name")`: returning None
is healthy, returning a sentence is degraded (the sentence says why), raising is
unhealthy.

Errors are stored and shown: they never carry a password from the target's URL (a
driver's message may quote it), see `_scrub`.
"""

import socket
import time
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from apps.core import egress
from apps.ingest.privacy import REDACTED, scrub_text

from .models import HealthStatus, MonitoredService

USER_AGENT = "analytics-health-check/1.0"
_ERROR_CHARS = 500
_custom: dict[str, Callable[[float], str | None]] = {}


@dataclass(frozen=True)
class Result:
    status: str
    response_time_ms: float | None
    error: str = ""


def custom_check(name: str):
    """Register `function(timeout_seconds)` as the check a `custom` service names."""

    def register(function: Callable[[float], str | None]) -> Callable[[float], str | None]:
        _custom[name] = function
        return function

    return register


def custom_check_names() -> list[str]:
    return sorted(_custom)


def run(service: MonitoredService, now: datetime) -> Result:
    started = time.monotonic()
    warning = None
    target, timeout = service.target, service.timeout_seconds
    try:
        if service.check_type == "heartbeat":
            return _heartbeat(service, now)
        if service.check_type == "http":
            _http(target, timeout, service.expected_status)
        elif service.check_type == "tcp":
            _tcp(target, timeout)
        elif service.check_type == "postgres":
            _postgres(target, timeout)
        elif service.check_type == "redis":
            _redis(target, timeout)
        else:
            function = _custom.get(target)
            if function is None:
                raise LookupError(f"no custom check named {target!r} is registered")
            warning = function(timeout)
    except Exception as exc:  # every failure is a result: the service is unhealthy
        elapsed = (time.monotonic() - started) * 1000
        return Result(HealthStatus.UNHEALTHY, elapsed, _scrub(_describe(exc), target))
    elapsed = (time.monotonic() - started) * 1000
    if warning:
        return Result(HealthStatus.DEGRADED, elapsed, _scrub(str(warning), target))
    slow = service.degraded_above_ms is not None and elapsed > service.degraded_above_ms
    status = HealthStatus.DEGRADED if slow else HealthStatus.HEALTHY
    error = f"answered in {elapsed:.0f} ms (> {service.degraded_above_ms:g} ms)" if slow else ""
    return Result(status, elapsed, error)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout | redis.TimeoutError):
        return "timed out"
    if isinstance(exc, egress.EgressError) and exc.timed_out:
        return "timed out"
    if isinstance(exc, egress.EgressError | egress.UnsafeTarget):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _scrub(text: str, target: str) -> str:
    """`text` without secrets: the target URL's password (and `password=` query value)
    wherever it appears, then what scrub_text recognises (URL credentials, key=value
    pairs, tokens); cut to 500 characters after scrubbing, so no half secret survives."""
    for secret in _url_secrets(target):
        text = text.replace(secret, REDACTED)
    return scrub_text(text)[:_ERROR_CHARS]


def _url_secrets(target: str) -> list[str]:
    if "://" not in target:
        return []
    try:
        parts = urlsplit(target)
        found = [parts.password or ""]
        found += [v for k, v in parse_qsl(parts.query) if k.lower() in ("password", "passfile")]
    except ValueError:
        return []
    found += [unquote(value) for value in found]
    return sorted({value for value in found if len(value) >= 3}, key=len, reverse=True)


def _http(url: str, timeout: float, expected: int) -> None:
    headers = {"User-Agent": USER_AGENT, "Connection": "close"}
    parts = urlsplit(url)
    if "@" in parts.netloc:  # user:password@ is sent as HTTP Basic auth, never in the URL
        credentials = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + b64encode(credentials.encode()).decode()
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    response = egress.get(
        url,
        headers,
        allow_private=True,
        timeout=timeout,
        connect_timeout=timeout,
        follow_redirects=False,
    )
    if response.body_timed_out:
        raise TimeoutError
    if response.status != expected:
        raise ValueError(f"HTTP {response.status}, expected {expected}")


def _tcp(target: str, timeout: float) -> None:
    host, _, port = target.rpartition(":")
    egress.tcp_connect(host.strip("[]"), int(port), allow_private=True, timeout=timeout)


def _postgres(url: str, timeout: float) -> None:
    """Connect and run `SELECT 1`. libpq counts its connect timeout in whole seconds, at
    least 2; from then on the watchdog holds the deadline, and the server is asked to
    stop the query at it too (statement_timeout)."""
    deadline = time.monotonic() + timeout
    connection: psycopg.Connection | None = None
    watchdog = egress.Watchdog(timeout)
    try:
        connection = psycopg.connect(
            url, connect_timeout=max(2, int(timeout + 0.999)), autocommit=True
        )
        watchdog.watch_fd(connection.pgconn.socket)
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            raise TimeoutError
        # SET LOCAL, in a transaction: a target behind a pooler in transaction mode hands
        # its server connection to another client afterwards, which must not inherit it.
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {left_ms}")
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except psycopg.Error:
        if watchdog.fired or time.monotonic() >= deadline:
            raise TimeoutError from None
        raise
    finally:
        watchdog.stop()
        if connection is not None:
            connection.close()
    if watchdog.fired:
        raise TimeoutError


def _redis(url: str, timeout: float) -> None:
    """Connect (AUTH and SELECT as the URL says) and PING, all within the deadline."""
    pool = redis.ConnectionPool.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    connection = pool.make_connection()
    # The connection's socket exists only once it connects: found at the deadline.
    watchdog = egress.Watchdog(timeout, on_fire=lambda: _shutdown(connection))
    try:
        connection.connect()
        connection.send_command("PING")
        reply = connection.read_response()
    except (redis.RedisError, OSError):
        if watchdog.fired:
            raise TimeoutError from None
        raise
    finally:
        watchdog.stop()
        connection.disconnect()
        pool.disconnect()
    if watchdog.fired:
        raise TimeoutError
    if reply not in (True, b"PONG", "PONG"):
        raise ValueError(f"PING answered {reply!r}")


def _shutdown(connection: redis.connection.AbstractConnection) -> None:
    sock = getattr(connection, "_sock", None)
    if sock is not None:
        egress.shutdown_socket(sock)


def _heartbeat(service: MonitoredService, now: datetime) -> Result:
    allowed = timedelta(seconds=service.interval_seconds + service.grace_seconds)
    last = service.last_ping_at
    if last is None:
        since = service.created_at
        if now - since <= allowed:
            return Result(HealthStatus.UNKNOWN, None, "no ping yet")
        return Result(HealthStatus.UNHEALTHY, None, "no ping since monitoring started")
    if now - last > allowed:
        late = (now - last).total_seconds()
        return Result(HealthStatus.UNHEALTHY, None, f"last ping {late:.0f} s ago")
    return Result(HealthStatus.HEALTHY, None)
