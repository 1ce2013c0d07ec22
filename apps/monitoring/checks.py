"""What one check of one service does, bounded by its timeout; never raises.

HTTP: a GET that must answer `expected_status` (redirects are not followed: a
login page answering 200 would hide an outage). TCP: a connect. Heartbeat: the
last ping is no older than interval + grace. Custom: a function registered in code
with `@custom_check("name")`: returning None is healthy, returning a sentence is
degraded (the sentence says why), raising is unhealthy.
"""

import http.client
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from .models import HealthStatus, MonitoredService

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
    try:
        if service.check_type == "heartbeat":
            return _heartbeat(service, now)
        if service.check_type == "http":
            _http(service.target, service.timeout_seconds, service.expected_status)
        elif service.check_type == "tcp":
            _tcp(service.target, service.timeout_seconds)
        else:
            function = _custom.get(service.target)
            if function is None:
                raise LookupError(f"no custom check named {service.target!r} is registered")
            warning = function(service.timeout_seconds)
    except Exception as exc:  # every failure is a result: the service is unhealthy
        elapsed = (time.monotonic() - started) * 1000
        return Result(HealthStatus.UNHEALTHY, elapsed, _describe(exc))
    elapsed = (time.monotonic() - started) * 1000
    if warning:
        return Result(HealthStatus.DEGRADED, elapsed, str(warning)[:500])
    slow = service.degraded_above_ms is not None and elapsed > service.degraded_above_ms
    status = HealthStatus.DEGRADED if slow else HealthStatus.HEALTHY
    error = f"answered in {elapsed:.0f} ms (> {service.degraded_above_ms:g} ms)" if slow else ""
    return Result(status, elapsed, error)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"[:500]


def _http(url: str, timeout: float, expected: int) -> None:
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    deadline = time.monotonic() + timeout
    conn = connection_class(parts.hostname, parts.port, timeout=timeout)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", path, headers={"User-Agent": "analytics-health-check/1.0"})
        conn.sock.settimeout(max(0.001, deadline - time.monotonic()))
        response = conn.getresponse()
        response.read(65536)
    finally:
        conn.close()
    if time.monotonic() > deadline:
        raise TimeoutError
    if response.status != expected:
        raise ValueError(f"HTTP {response.status}, expected {expected}")


def _tcp(target: str, timeout: float) -> None:
    host, _, port = target.rpartition(":")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
        pass


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
