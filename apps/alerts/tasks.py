from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import evaluation, notifications


@shared_task(name="alerts.evaluate", ignore_result=True, expires=120)
def evaluate() -> None:
    evaluation.rules_evaluate()


@shared_task(
    name="alerts.deliver",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    max_retries=8,
)
def deliver(self, delivery_id: str) -> None:
    wait = notifications.delivery_send(delivery_id)
    if wait is not None:
        deliver.apply_async((delivery_id,), countdown=wait.total_seconds())


@shared_task(name="alerts.sweep_deliveries", ignore_result=True, expires=60)
def sweep_deliveries() -> None:
    notifications.deliveries_sweep()
