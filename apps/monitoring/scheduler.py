"""Beat's scheduler: django-celery-beat's, writing beat's sign of life at each tick, and
sending tasks only while it holds the deployment's beat lock.

Exactly one beat must send a deployment's periodic tasks. A second one started by
mistake (two hosts given the beat role, a restart that overlapped the old process)
finds the lock held, logs that it stands by, and sends nothing; it takes the schedule
over once the holder stops renewing the lock (stopped, killed, cut off from Redis) for
BEAT_LOCK_SECONDS (at once when the holder was a process of this host that is gone,
as after a beat killed and restarted here). With Redis unreachable no beat could send
anyway (it is the broker): each ticks as before and asks again at the next tick.
"""

import logging
import socket
import time

import psutil
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler
from redis import RedisError

from apps.core.redis import get_redis, hold_lock, lock_token, redis_key, release_lock

from .heartbeats import beat_heartbeat, heartbeat_seconds, write_logged

logger = logging.getLogger(__name__)


def beat_lock_key() -> str:
    return redis_key("beat", "lock")


def _gone_from_this_host(holder: str) -> bool:
    """Whether the lock's holder (`<host>:<pid>:<random>`) was a process of this host that
    no longer runs (a beat killed and restarted here takes the schedule back at once)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and not psutil.pid_exists(int(pid))


class HeartbeatScheduler(DatabaseScheduler):
    _last_heartbeat = 0.0
    _token = ""
    _leading: bool | None = None  # None: not asked yet

    def tick(self, *args, **kwargs) -> float:
        if not self._leads():
            # Stand by: ask again well within the lock's life, so a takeover is prompt.
            return min(heartbeat_seconds(), settings.BEAT_LOCK_SECONDS / 3)
        now = time.monotonic()
        if now - self._last_heartbeat >= heartbeat_seconds() / 2:
            write_logged(beat_heartbeat)
            self._last_heartbeat = now
        # Wake at least once an interval, so the sign is written and the lock renewed
        # even with nothing due.
        return min(
            super().tick(*args, **kwargs), heartbeat_seconds(), settings.BEAT_LOCK_SECONDS / 3
        )

    def _leads(self) -> bool:
        self._token = self._token or lock_token()
        lock_ms = int(settings.BEAT_LOCK_SECONDS * 1000)
        try:
            held = hold_lock(beat_lock_key(), self._token, lock_ms)
            holder = "" if held else self._holder()
            if not held and _gone_from_this_host(holder):  # killed here: no need to wait
                release_lock(beat_lock_key(), holder)
                held = hold_lock(beat_lock_key(), self._token, lock_ms)
        except RedisError as exc:
            logger.warning("beat %s: the beat lock cannot be asked (%s)", self._token, exc)
            return True
        if held != self._leading:
            if held:
                logger.warning("beat %s holds the beat lock: it sends the schedule", self._token)
            else:
                logger.warning(
                    "beat %s: another beat holds the beat lock (%s); this one stands by and "
                    "sends nothing until that one stops",
                    self._token,
                    holder or "unknown",
                )
            self._leading = held
        return held

    @staticmethod
    def _holder() -> str:
        holder = get_redis().get(beat_lock_key())
        return holder.decode() if holder else ""

    def close(self) -> None:
        super().close()
        if self._leading:
            self._leading = False
            try:
                release_lock(beat_lock_key(), self._token)
            except RedisError:
                logger.warning("beat %s could not release the beat lock; it expires", self._token)
