"""One pooled Redis client per process, with short timeouts (Redis trouble must fail fast),
and the one namespace every Redis name of this deployment lives under.

Two deployments may share one Redis server (staging on db 1 beside production on db 0,
or one db with different REDIS_KEY_PREFIX). Keys are kept apart by the db number, but
pub/sub channels are not (Redis ignores the db for them), so every name the service
uses, keys and channels alike, starts with `<REDIS_KEY_PREFIX or "analytics">:<db>`:
the live feed's channels, its broadcaster lock, rate limits, smart-filter state,
heartbeats, counters, the cache and Celery's queues and pidbox channels.
"""

import itertools
import os
import re
import socket
import uuid
from functools import lru_cache
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_KEY_PREFIX = "analytics"
# Printable and free of the glob characters SCAN/KEYS patterns and Celery's names use.
_PREFIX_CHARS = re.compile(r"[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)*")


def redis_namespace(redis_url: str, key_prefix: str = "") -> str:
    """`<key_prefix or "analytics">:<db of redis_url>`: what settings derive every Redis
    name from. Reads no Django setting, so settings.py, bench/stack and the tests call it
    for any deployment. ImproperlyConfigured for a prefix that is not plain text."""
    prefix = key_prefix or DEFAULT_KEY_PREFIX
    if not _PREFIX_CHARS.fullmatch(prefix):
        raise ImproperlyConfigured(
            f"REDIS_KEY_PREFIX={key_prefix!r} must be letters, digits, '_', '.', '-' "
            "in parts separated by single ':'."
        )
    parts = urlsplit(redis_url)
    # As redis-py reads it: ?db= first, else the path (a socket's path for unix://), else 0.
    path = "" if parts.scheme == "unix" else parts.path.strip("/")
    query = dict(pair.partition("=")[::2] for pair in parts.query.split("&") if pair)
    db = query.get("db") or path or "0"
    if not db.isdigit():
        raise ImproperlyConfigured(f"the Redis URL {redis_url!r} names no database number.")
    return f"{prefix}:{int(db)}"


def celery_keyprefix(namespace: str) -> str:
    """kombu's `global_keyprefix` for the namespace: Celery's queues, bindings and pidbox
    channels (ping, inspect) of one deployment, apart from every other's."""
    return f"{namespace}:celery:"


def redis_key(*parts: str) -> str:
    """A Redis key or channel name of this deployment: the namespace, then `parts`."""
    return ":".join((settings.REDIS_NAMESPACE, *parts))


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=1,
        socket_timeout=1,
        health_check_interval=30,
    )


# Members of sorted sets counting requests (rate limits, read slots) must be unique per
# request across processes: the caller's time, the process id and a counter.
_pid = os.getpid()
_sequence = itertools.count()


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork)


def unique_member(stamp: int) -> str:
    """`<stamp>:<pid>:<n>`: no other request of any process of this host has it."""
    return f"{stamp}:{_pid}:{next(_sequence)}"


# A lock one process of the deployment holds at a time (the live feed's broadcaster,
# beat's schedule): its token in a key that expires unless the holder renews it.
# KEYS: lock. ARGV: token, lock ms. 1 when this token holds the lock (now renewed).
LOCK_HOLD_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# KEYS: lock. ARGV: token. Deletes the lock only for its holder.
LOCK_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def lock_token() -> str:
    """`<host>:<pid>:<random>`: names a lock's holder in logs and in Redis."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def hold_lock(key: str, token: str, ms: int) -> bool:
    """Take or renew the lock `key` for `token` for `ms`; whether `token` holds it.
    RedisError when Redis cannot say."""
    return bool(get_redis().eval(LOCK_HOLD_LUA, 1, key, token, ms))


def release_lock(key: str, token: str) -> None:
    """Let go of the lock if `token` holds it (RedisError when Redis cannot be asked)."""
    get_redis().eval(LOCK_RELEASE_LUA, 1, key, token)
