"""Rate limits kept in Redis: one Lua call (one round trip) per check.

A sliding log: the times of the requests admitted during the last period are
kept in a sorted set per identity and scope, so no window of that length, wherever
its edges fall, ever admits more than the rate (a fixed window let 2x through
across its edge). Refused requests are not logged, so a client that keeps
hammering gets through again at the rate, not never. Redis being unavailable
lets traffic through, with one warning per outage.
"""

import ipaddress
import logging
import math
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from redis import RedisError
from redis.commands.core import Script
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from apps.core.readcost import read_start
from apps.core.redis import get_redis, redis_key, unique_member

from .models import APIKey, Scope

if TYPE_CHECKING:  # at run time it would import this module back, via the auth classes
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

# After a Redis error, requests skip Redis this long: a blackholed Redis would
# otherwise cost every request the client's 1 s timeout.
REDIS_RETRY_SECONDS = 1.0

_LUA = (Path(__file__).parent / "throttling.lua").read_text()

_clock = time.monotonic  # for the outage pause; tests replace it
_redis_paused_until = 0.0
_redis_failing = False


@lru_cache(maxsize=1)
def _script() -> Script:
    # Registered once; each call passes the current client (get_redis can be reset).
    return get_redis().register_script(_LUA)


@lru_cache(maxsize=32)
def parse_rate(rate: str) -> tuple[int, int]:
    """`"6000/min"` -> (6000, 60), DRF's syntax."""
    return SimpleRateThrottle.parse_rate(None, rate)


def hit(key: str, limit: int, period: int, *, record: bool = True) -> int:
    """Count one request under `key`: 0 if admitted, else whole seconds to wait (>= 1).

    `record=False` only looks (nothing is counted). Redis unavailable: 0.
    """
    global _redis_paused_until, _redis_failing
    if _redis_paused_until and _clock() < _redis_paused_until:
        return 0
    now_us = int(time.time() * 1_000_000)
    member = unique_member(now_us) if record else ""
    try:
        wait_us = _script()(
            keys=[redis_key("ratelimit", key)],
            args=[now_us, period * 1_000_000, limit, member],
            client=get_redis(),
        )
    except RedisError as exc:
        _redis_paused_until = _clock() + REDIS_RETRY_SECONDS
        if not _redis_failing:
            _redis_failing = True
            logger.warning("rate limits unavailable (%s); allowing requests", exc)
        return 0
    if _redis_failing:
        _redis_failing, _redis_paused_until = False, 0.0
        logger.warning("rate limits available again")
    return math.ceil(wait_us / 1_000_000) if wait_us else 0


@lru_cache(maxsize=4096)
def _address_bucket(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        # One host owns a whole /64; counting single addresses would let it rotate.
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_ip(request: Request) -> str:
    """The address limits are counted by: REMOTE_ADDR, or behind a trusted proxy
    (TRUST_X_FORWARDED_FOR) the last X-Forwarded-For entry, the one that proxy
    added; earlier entries are whatever the client sent. IPv6 counts per /64."""
    return client_address(
        request.META.get("REMOTE_ADDR") or "", request.META.get("HTTP_X_FORWARDED_FOR", "")
    )


def client_address(remote_addr: str, forwarded_for: str = "") -> str:
    """client_ip() for any transport (a WebSocket handshake has no Request)."""
    if settings.TRUST_X_FORWARDED_FOR:
        last = forwarded_for.rpartition(",")[2].strip()
        if last:
            remote_addr = last
    return _address_bucket(remote_addr)


def auth_failure_wait(address: str, *, record: bool) -> int:
    """Failed key authentications from `address` (client_ip() / client_address()), against
    THROTTLE_RATE_AUTH_FAILURES: 0 if within the budget, else seconds to wait;
    `record=True` counts one failure."""
    limit, period = parse_rate(settings.THROTTLE_RATE_AUTH_FAILURES)
    return hit(f"auth_failures:ip:{address}", limit, period, record=record)


class KeyRateThrottle(BaseThrottle):
    """Per key (per user for sessions, per IP otherwise), scope `ingest` or `read`."""

    THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES

    def __init__(self):
        self._wait: int | None = None
        self.scope = "read"

    def allow_request(self, request: Request, view: "APIView") -> bool:
        is_ingest = getattr(view, "required_scope", Scope.READ) == Scope.INGEST
        self.scope = "ingest" if is_ingest else "read"
        rate = self.THROTTLE_RATES.get(self.scope)
        if rate is None:
            return True
        limit, period = parse_rate(rate)
        key = self.get_cache_key(request, view)
        wait = hit(key, limit, period)
        if wait:
            self._wait = wait
            return False
        if not is_ingest:  # an API read: a slot of its reader's (or 429), then its budget
            redis_up = not (_redis_paused_until and _clock() < _redis_paused_until)
            read_start(request._request, key.partition(":")[2], key_slot=redis_up)
        return True

    def wait(self) -> int | None:
        return self._wait

    def get_ident(self, request: Request) -> str:
        # DRF's own get_ident believes any X-Forwarded-For unless NUM_PROXIES is set.
        return client_ip(request)

    def get_cache_key(self, request: Request, view: "APIView") -> str:
        if isinstance(request.auth, APIKey):
            ident = f"key:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return f"{self.scope}:{ident}"
