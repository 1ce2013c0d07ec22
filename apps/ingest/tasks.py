from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import outbox, partitions, retention

# A task that moves outbox rows: redelivered if its worker dies, retried while the
# database is unreachable.
MOVES_ROWS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 8,
}


@shared_task(name="ingest.drain_outbox", **MOVES_ROWS)
def drain_outbox() -> None:
    outbox.outbox_drain()


@shared_task(name="ingest.process_outbox", **MOVES_ROWS)
def process_outbox(outbox_id: int) -> None:
    """One row's task, as queued before drains (kept for messages still queued)."""
    outbox.outbox_process(outbox_id=outbox_id)


@shared_task(name="ingest.sweep_outbox", ignore_result=True, expires=60)
def sweep_outbox() -> None:
    outbox.outbox_sweep()


@shared_task(name="ingest.purge_expired", ignore_result=True, expires=3600)
def purge_expired() -> None:
    retention.retention_purge()
    partitions.partitions_compact()


@shared_task(name="ingest.maintain_partitions", ignore_result=True, expires=3600)
def maintain_partitions() -> None:
    partitions.partitions_maintain()
