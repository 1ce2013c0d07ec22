"""Beat's scheduler: django-celery-beat's, writing beat's sign of life at each tick."""

import time

from django_celery_beat.schedulers import DatabaseScheduler

from .heartbeats import beat_heartbeat, heartbeat_seconds, write_logged


class HeartbeatScheduler(DatabaseScheduler):
    _last_heartbeat = 0.0

    def tick(self, *args, **kwargs) -> float:
        now = time.monotonic()
        if now - self._last_heartbeat >= heartbeat_seconds() / 2:
            write_logged(beat_heartbeat)
            self._last_heartbeat = now
        # Wake at least once an interval, so the sign is written even with nothing due.
        return min(super().tick(*args, **kwargs), heartbeat_seconds())
