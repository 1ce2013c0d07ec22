"""Hook Celery's task events into job_outcome_record: our own jobs are tracked too."""

import logging

from celery import signals
from django.conf import settings

from . import services

logger = logging.getLogger(__name__)


def _skip(task) -> bool:
    return task is None or task.name in settings.JOB_OUTCOME_SKIP_TASKS


@signals.task_prerun.connect
def on_prerun(task_id=None, task=None, **kwargs):
    if not _skip(task):
        services.job_started(task_id=task_id)


@signals.task_postrun.connect
def on_postrun(task_id=None, task=None, state=None, retval=None, **kwargs):
    if _skip(task) or state not in {"SUCCESS", "FAILURE", "RETRY"}:
        return
    status = {"SUCCESS": "success", "FAILURE": "failed", "RETRY": "retry"}[state]
    error = retval if isinstance(retval, BaseException) else None
    try:
        services.job_outcome_record(
            task_id=task_id,
            task_name=task.name,
            status=status,
            retries=task.request.retries or 0,
            error=error,
        )
    except Exception:  # tracking must never break the task
        logger.warning("could not record outcome of %s", task.name, exc_info=True)
