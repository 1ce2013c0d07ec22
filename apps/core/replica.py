"""Reads on a streaming replica: with DATABASE_REPLICA_URL set, the API's reads, the
console's sources and the Prometheus exposition run on the replica (the `replica`
database), inside `on_replica()`. Nothing else does: ingest, the pipeline's tasks, the
claims and every write stay on the primary, and so does anything that must read what
it has just written.

A replica is used while it answers and its replay is at most
DATABASE_REPLICA_MAX_LAG_SECONDS behind (asked at most every REPLICA_CHECK_SECONDS per
process); else the reads run on the primary and a warning says why, once per change.
"""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

REPLICA = "replica"
REPLICA_CHECK_SECONDS = 5.0
# Caught up (it replayed all it received): 0; else how old the last replayed change is.
LAG_SQL = (
    "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
    "THEN 0 ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"
)

_lock = threading.Lock()
_state = {"checked": 0.0, "usable": None}


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def replica_lag_seconds() -> float | None:
    """How far the replica's replay is behind the primary, in seconds (0: caught up, or
    not a standby at all); None when it does not answer."""
    connection = connections[REPLICA]
    try:
        with connection.cursor() as cursor:
            cursor.execute(LAG_SQL)
            recovering, lag = cursor.fetchone()
    except DatabaseError:
        connection.close()
        return None
    return max(0.0, float(lag or 0)) if recovering else 0.0


def replica_usable() -> bool:
    """Whether reads may run on the replica now (cached REPLICA_CHECK_SECONDS)."""
    now = time.monotonic()
    with _lock:
        if _state["usable"] is not None and now - _state["checked"] < REPLICA_CHECK_SECONDS:
            return _state["usable"]
        _state["checked"] = now
    lag = replica_lag_seconds()
    if lag is None:
        return _judged(False, "it does not answer")
    if lag > settings.DATABASE_REPLICA_MAX_LAG_SECONDS:
        return _judged(False, f"it is {lag:.1f} s behind")
    return _judged(True, f"{lag:.1f} s behind")


def _judged(usable: bool, why: str) -> bool:
    """Keep the verdict; a warning when it changed (the first verdict only if negative)."""
    with _lock:
        before, _state["usable"] = _state["usable"], usable
        _state["checked"] = time.monotonic()
    if usable and before is False:
        logger.warning("reads run on the replica again (%s)", why)
    elif not usable and before is not False:
        logger.warning(
            "reads run on the primary: the replica is not used while %s (at most %s s)",
            why,
            settings.DATABASE_REPLICA_MAX_LAG_SECONDS,
        )
    return usable


@contextmanager
def on_replica() -> Iterator[bool]:
    """In this thread, the default database is the replica while it is usable (yields
    whether it is): the ORM and raw SQL of the code inside read there, unchanged. A read
    that lost its replica connection (the replica stopped) is answered as any database
    outage is (503, retry); the reads after it run on the primary at once."""
    if not replica_configured() or not replica_usable():
        yield False
        return
    handler = connections._connections  # this thread's (asgiref Local) connections
    primary = getattr(handler, DEFAULT_DB_ALIAS, None)
    replica = connections[REPLICA]
    setattr(handler, DEFAULT_DB_ALIAS, replica)
    try:
        yield True
    finally:
        if primary is None:
            delattr(handler, DEFAULT_DB_ALIAS)
        else:
            setattr(handler, DEFAULT_DB_ALIAS, primary)
        if replica.errors_occurred and (replica.connection is None or not replica.is_usable()):
            replica.close()
            _judged(False, "it does not answer")
