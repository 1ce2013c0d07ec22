from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services


@shared_task(
    name="ingest.process_outbox",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=8,
)
def process_outbox(outbox_id: int) -> None:
    services.outbox_process(outbox_id=outbox_id)


@shared_task(name="ingest.sweep_outbox", ignore_result=True, expires=60)
def sweep_outbox() -> None:
    services.outbox_sweep()
