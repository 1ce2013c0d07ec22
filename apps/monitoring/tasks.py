from celery import shared_task

from . import services, system


@shared_task(name="monitoring.run_checks", ignore_result=True, expires=30)
def run_checks() -> None:
    services.checks_run_due()


@shared_task(name="monitoring.record_system_metrics", ignore_result=True, expires=60)
def record_system_metrics() -> None:
    system.system_metrics_record()
