from celery import shared_task

from . import services


@shared_task(name="monitoring.run_checks", ignore_result=True, expires=30)
def run_checks() -> None:
    services.checks_run_due()
