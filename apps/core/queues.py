"""Celery queues, named once: task routes, the Prometheus exposition and the benches use these."""

from enum import StrEnum


class Queue(StrEnum):
    INGEST = "ingest"  # high volume: one task per outbox batch
    DEFAULT = "default"  # rollups, sweeps, retention, everything else
    ALERTS = "alerts"  # latency-sensitive: a backlog of ingest must not delay it


def queue_depths() -> dict[str, int]:
    """Messages waiting in each queue of the Redis broker; {} when it cannot be reached."""
    # Imported here: settings.py imports this module before Django is set up.
    import redis
    from django.conf import settings

    try:
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1)
        # The deployment's queues carry its namespace (kombu's global_keyprefix).
        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
        return {queue.value: broker.llen(f"{prefix}{queue.value}") for queue in Queue}
    except redis.RedisError:
        return {}
