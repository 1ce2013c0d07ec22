from celery import shared_task

from . import rollups


@shared_task(name="metrics.rollup_pending", ignore_result=True, expires=30)
def rollup_pending() -> None:
    rollups.rollup_pending()
