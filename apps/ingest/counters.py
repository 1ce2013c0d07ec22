"""Item counts per kind and outcome (accepted, rejected, duplicate), for /metrics.

Requests count in process; a background thread adds the counts to one Redis
hash about once a second, so a request spends no Redis round trip on them.
"""

import logging
import threading

from django.conf import settings
from redis import RedisError

from apps.core.redis import get_redis, redis_key

from .background import Periodic

logger = logging.getLogger(__name__)


def counts_key() -> str:
    """The Redis hash of item counts, in the deployment's namespace."""
    return redis_key("ingest", "items")


class Counts:
    def __init__(self, seconds: float):
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.flusher = Periodic("ingest-counts-flusher", seconds, self.push, reset=self._reset)

    def _reset(self) -> None:
        self._counts = {}  # the parent process pushes its own

    def add(self, kind: str, outcome: str, n: int) -> None:
        if not n:
            return
        self.flusher.ensure_started()
        field = f"{kind}:{outcome}"
        with self._lock:
            self._counts[field] = self._counts.get(field, 0) + n

    def push(self) -> None:
        """Add the counts to Redis; kept for the next push if Redis is down."""
        with self._lock:
            counts, self._counts = self._counts, {}
        if not counts:
            return
        try:
            pipe = get_redis().pipeline(transaction=False)
            for field, n in counts.items():
                pipe.hincrby(counts_key(), field, n)
            pipe.execute()
        except RedisError:
            logger.debug("ingest counters unavailable; keeping them", exc_info=True)
            with self._lock:
                for field, n in counts.items():
                    self._counts[field] = self._counts.get(field, 0) + n


counts = Counts(settings.ANALYTICS_LOG_FLUSH_SECONDS)


def duplicates_count(*, kind_name: str, n: int) -> None:
    """Count items the worker dropped as already stored; Redis down only loses the count."""
    if not n:
        return
    try:
        get_redis().hincrby(counts_key(), f"{kind_name}:duplicate", n)
    except RedisError:
        logger.warning("ingest counters unavailable; %d duplicate(s) not counted", n)
