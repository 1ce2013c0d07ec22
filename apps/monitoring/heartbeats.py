"""Signs of life of the Celery workers and of beat, written to Redis by those processes
themselves every MONITORING_HEARTBEAT_SECONDS: the public health answer reads them in
one round trip, and a part whose sign is older than two intervals counts as down.

This module loads no model: the Celery app imports it to register the worker's step.
"""

import logging
import time

from celery import bootsteps
from django.conf import settings
from redis import RedisError

from apps.core.redis import get_redis, redis_key

logger = logging.getLogger(__name__)

FORGET_AFTER_SECONDS = 3600  # a worker silent for an hour leaves the set


def workers_key() -> str:
    """A sorted set: worker hostname -> its last sign (epoch s)."""
    return redis_key("monitoring", "workers")


def beat_key() -> str:
    return redis_key("monitoring", "beat")


def heartbeat_seconds() -> float:
    return float(settings.MONITORING_HEARTBEAT_SECONDS)


def stale_after_seconds() -> float:
    """A sign older than this means the part is down: two missed intervals."""
    return 2 * heartbeat_seconds()


def worker_heartbeat(hostname: str) -> None:
    now = time.time()
    pipe = get_redis().pipeline(transaction=False)
    pipe.zadd(workers_key(), {hostname: now})
    pipe.zremrangebyscore(workers_key(), "-inf", now - FORGET_AFTER_SECONDS)
    pipe.execute()


def worker_gone(hostname: str) -> None:
    get_redis().zrem(workers_key(), hostname)


def beat_heartbeat() -> None:
    get_redis().set(beat_key(), time.time(), ex=FORGET_AFTER_SECONDS)


def beat_heartbeat_age() -> float | None:
    raw = get_redis().get(beat_key())
    return None if raw is None else time.time() - float(raw)


def live_workers() -> list[str]:
    """Hostnames of the workers whose sign is fresh."""
    fresh = time.time() - stale_after_seconds()
    return [name.decode() for name in get_redis().zrangebyscore(workers_key(), fresh, "+inf")]


def heartbeats_read() -> tuple[int, float | None]:
    """(live workers, beat's sign age in s or None) in one Redis round trip; RedisError
    when Redis does not answer."""
    now = time.time()
    pipe = get_redis().pipeline(transaction=False)
    pipe.zcount(workers_key(), now - stale_after_seconds(), "+inf")
    pipe.get(beat_key())
    workers, beat = pipe.execute()
    return workers, None if beat is None else now - float(beat)


def write_logged(write, *args) -> None:
    try:
        write(*args)
    except (RedisError, OSError) as exc:  # never let Redis trouble stop a worker or beat
        logger.warning("heartbeat not written: %s", exc)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A consumer step, like Celery's own event heartbeat: it runs on the consumer's timer,
    so the sign stops when the worker stops consuming (killed, stopped, or cut from the
    broker), and a clean shutdown removes it at once."""

    def start(self, c) -> None:
        self.hostname = c.hostname
        write_logged(worker_heartbeat, self.hostname)
        self.timer = c.timer.call_repeatedly(
            heartbeat_seconds(), write_logged, (worker_heartbeat, self.hostname), priority=10
        )

    def stop(self, c) -> None:
        timer = getattr(self, "timer", None)
        if timer is not None:
            timer.cancel()
            self.timer = None
            write_logged(worker_gone, self.hostname)

    shutdown = stop
