from celery import shared_task

from . import services


@shared_task(name="core.purge_expired", ignore_result=True, expires=3600)
def purge_expired() -> None:
    services.analytics_purge()
