"""What one API read may cost: its time in the database, and how many run at once.

Every API read (GET or HEAD under /api/v1/, health excepted) passes ReadCostMiddleware:

- It runs in a read transaction with `SET LOCAL statement_timeout` =
  API_READ_STATEMENT_TIMEOUT_MS and no parallel query workers (one read, one core),
  and no new statement starts once the read has spent that long in all (so a view of
  many queries stops too). A read stopped so answers
  503 `read_too_costly` (JSON, Retry-After), saying to narrow its window: never a
  worker held for a minute, never a 500. Writes and ingest (POST, PUT, ...) are not in
  that transaction and keep no timeout.
- At most API_READS_PER_KEY of them run at once for one API key (or session user, or
  address), across every process: a Redis sorted set of the slots held, under the
  deployment's namespace. One more waits up to API_READ_KEY_WAIT_MS for a slot (a
  dashboard's burst of quick reads is served), then is answered 429 with Retry-After.
  Redis unavailable: reads are let through (the other two bounds still hold).
- At most API_READS_PER_PROCESS of them run at once in one web process (the thread
  count less one): the gunicorn worker (analytics_project/serving.py) keeps the others
  waiting in its event loop, without a thread, so a thread is always free for health
  and ingest. A cap across processes could not promise that: all its reads may land in
  the same process.

The reader is only known once DRF has authenticated the request, so
apps.keys.throttling calls read_start(), which takes the key's slot and begins the
budgeted transaction (a refused key costs no query more, and holds no slot); this
middleware ends them when the read has answered.

Expiry scores make a slot left by a killed worker free itself after
API_READ_SLOT_SECONDS.
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import lru_cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from psycopg.pq import TransactionStatus
from redis import RedisError
from redis.commands.core import Script
from rest_framework import exceptions

from . import errors  # the module: it imports DRF, whose settings import this one
from .redis import get_redis, redis_key, unique_member
from .replica import on_replica

logger = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD"})
_TRANSACTION_CONTROL = ("SAVEPOINT", "ROLLBACK", "RELEASE")
KEY_RETRY_SECONDS = 1  # a read of the same key usually answers within it
KEY_WAIT_POLL_SECONDS = 0.02  # how often a read waiting for its key's slot looks again
REDIS_RETRY_SECONDS = 1.0  # after a Redis error, key slots are skipped this long

_SLOT_LUA = """
-- KEYS[1]: sorted set of held slots, member -> expiry (ms). ARGV: now, hold, limit, member.
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[4])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
"""


def too_costly_response() -> JsonResponse:
    exc = errors.ReadTooCostly()
    response = JsonResponse(
        errors.error_body(exc.status_code, str(exc.detail), code=exc.default_code),
        status=exc.status_code,
    )
    response["Retry-After"] = str(settings.RETRY_AFTER_SECONDS)
    return response


def is_api_read_target(method: str, path: str) -> bool:
    """Whether a request of `method` for `path` is an API read these bounds apply to."""
    return (
        method in READ_METHODS
        and path.startswith(settings.API_READ_PATH_PREFIX)
        and not path.startswith(settings.API_READ_EXEMPT_PREFIXES)
    )


def is_api_read(request: HttpRequest) -> bool:
    return is_api_read_target(request.method, request.path_info)


# --- per key (Redis) ----------------------------------------------------------------
_redis_paused_until = 0.0


@lru_cache(maxsize=1)
def _slot_script() -> Script:
    # Registered once (EVALSHA after); each call passes the current client.
    return get_redis().register_script(_SLOT_LUA)


def _slot_hold_ms() -> int:
    return int(settings.API_READ_SLOT_SECONDS * 1000)


def _slots_key(ident: str) -> str:
    return redis_key("readslots", ident)


def read_start(request: HttpRequest, ident: str, *, key_slot: bool = True) -> None:
    """Called once the reader is known (apps.keys.throttling, after authentication): take
    one of the API_READS_PER_KEY read slots of `ident` (Throttled, a 429, when all are
    held), then start the read's budgeted transaction. Both end when
    ReadCostMiddleware has the answer. A no-op for a request the middleware does not
    count (not an API read); a failed authentication so costs no query here.
    `key_slot=False` (the caller just found Redis unavailable) skips the key's slot."""
    ticket = getattr(request, "_read_cost", None)
    if ticket is None or ticket.started:
        return
    ticket.started = True
    ticket.slot = key_slot_take(ident) if key_slot else None
    ticket.budget.enter_context(on_replica())  # DATABASE_REPLICA_URL: read there
    ticket.budget.enter_context(read_budget(settings.API_READ_STATEMENT_TIMEOUT_MS))


def key_slot_take(ident: str) -> tuple[str, str] | None:
    """One read slot of `ident` as (Redis key, member), to give back with key_slot_give;
    Throttled (429) when its API_READS_PER_KEY are still all held after
    API_READ_KEY_WAIT_MS; None when Redis is down."""
    global _redis_paused_until
    if _redis_paused_until and time.monotonic() < _redis_paused_until:
        return None
    member = unique_member(time.time_ns())
    key = _slots_key(ident)
    give_up = time.monotonic() + settings.API_READ_KEY_WAIT_MS / 1000
    while True:
        try:
            taken = _slot_script()(
                keys=[key],
                args=[
                    int(time.time() * 1000),
                    _slot_hold_ms(),
                    settings.API_READS_PER_KEY,
                    member,
                ],
                client=get_redis(),
            )
        except RedisError as exc:
            _redis_paused_until = time.monotonic() + REDIS_RETRY_SECONDS
            logger.warning("read slots unavailable (%s); allowing reads", exc)
            return None
        if taken or time.monotonic() >= give_up:
            break
        time.sleep(KEY_WAIT_POLL_SECONDS)
    if not taken:
        limit = settings.API_READS_PER_KEY
        raise exceptions.Throttled(
            wait=KEY_RETRY_SECONDS,
            detail=f"This key already has {limit} reads running (API_READS_PER_KEY); "
            "retry when one has answered.",
        )
    return key, member


def key_slots_held(ident: str) -> int:
    """How many read slots of `ident` are held now (for tests and operators)."""
    key = _slots_key(ident)
    get_redis().zremrangebyscore(key, "-inf", int(time.time() * 1000))
    return get_redis().zcard(key)


def key_slot_give(slot: tuple[str, str]) -> None:
    try:
        get_redis().zrem(*slot)
    except RedisError as exc:  # it expires by itself after API_READ_SLOT_SECONDS
        logger.warning("read slot not given back (%s)", exc)


# --- the read transaction -----------------------------------------------------------
class _Ticket:
    __slots__ = ("budget", "slot", "started")

    def __init__(self) -> None:
        self.started = False
        self.slot: tuple[str, str] | None = None
        self.budget = ExitStack()  # the read transaction, once read_start() began it


@contextmanager
def read_budget(timeout_ms: int) -> Iterator[None]:
    """A read transaction whose statements each stop after `timeout_ms` and that starts
    no statement once `timeout_ms` have passed in all (ReadTooCostly)."""
    if timeout_ms <= 0:
        yield
        return
    deadline = time.monotonic() + timeout_ms / 1000
    connection = connections[DEFAULT_DB_ALIAS]

    def guard(execute: Callable, sql, params, many, context):
        # Savepoint rollbacks and releases must still run, so the error can be answered.
        if time.monotonic() > deadline and not sql.startswith(_TRANSACTION_CONTROL):
            raise errors.ReadTooCostly()
        try:
            return execute(sql, params, many, context)
        except DatabaseError:
            # PostgreSQL has aborted the transaction: whatever the view answers, the
            # read's transaction (or the savepoint it runs in) can only be rolled back.
            connection.needs_rollback = True
            raise

    nested = connection.in_atomic_block  # the tests' transaction: put the timeout back
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true), "
                "set_config('max_parallel_workers_per_gather', '0', true)",
                [str(timeout_ms)],
            )
        with connection.execute_wrapper(guard):
            yield
        aborted = connection.connection.info.transaction_status == TransactionStatus.INERROR
        if nested and not connection.needs_rollback and not aborted:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout TO DEFAULT")


class ReadCostMiddleware:
    """Bounds every API read (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_read(request):
            return self.get_response(request)
        ticket = request._read_cost = _Ticket()
        try:
            with ticket.budget:
                return self.get_response(request)
        except errors.ReadTooCostly:  # outside a DRF view (DRF's handler answers it inside)
            return too_costly_response()
        except Exception as exc:
            if errors.is_statement_timeout(exc):
                return too_costly_response()
            raise
        finally:
            if ticket.slot is not None:
                key_slot_give(ticket.slot)
