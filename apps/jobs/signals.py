"""Hook Celery's task events into job_outcome_record: our own jobs are tracked too."""

import logging

from celery import signals
from django.conf import settings

from . import periodic, services

logger = logging.getLogger(__name__)


def _skip(task) -> bool:
    return task is None or task.name in settings.JOB_OUTCOME_SKIP_TASKS


@signals.task_prerun.connect
def on_prerun(task_id=None, task=None, **kwargs):
    if not _skip(task):
        services.job_started(task_id=task_id)


@signals.task_postrun.connect
def on_postrun(task_id=None, task=None, state=None, retval=None, **kwargs):
    _periodic_outcome(task, state, retval)
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


def _periodic_outcome(task, state: str | None, retval) -> None:
    """A run that beat sent (its `periodic_task_name` header) counts for its entry."""
    if task is None:
        return
    # A worker makes custom headers attributes of the request; `apply` keeps them apart.
    request = task.request
    header = getattr(request, "periodic_task_name", None) or (request.headers or {}).get(
        "periodic_task_name"
    )
    if not header or state not in {"SUCCESS", "FAILURE"}:
        return  # a retry is neither: the run goes on
    error = f"{type(retval).__name__}: {retval}" if isinstance(retval, BaseException) else ""
    try:
        services.periodic_outcome_record(
            entry=periodic.entry_name(header), succeeded=state == "SUCCESS", error=error
        )
    except Exception:  # counting must never break the task
        logger.warning("could not count the run of %s", header, exc_info=True)
