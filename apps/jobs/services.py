import time
import uuid
from datetime import UTC, datetime

from apps.core.redis import get_redis
from apps.ingest.outbox import records_insert
from apps.metrics.services import record_gauge

from . import periodic
from .schemas import JobOutcomeIn

# Failures in a row of one of beat's entries, labelled `entry` (see periodic_outcome_record).
PERIODIC_FAILURES_METRIC = "jobs.periodic_consecutive_failures"

_NAMESPACE = uuid.UUID("7d1f3f0e-8f0a-4a57-9a57-6b1d2c0f4a10")
_started: dict[str, float] = {}


def job_started(*, task_id: str) -> None:
    _started[task_id] = time.monotonic()


def job_outcome_record(
    *,
    task_id: str,
    task_name: str,
    status: str,
    retries: int = 0,
    error: BaseException | None = None,
) -> None:
    """Record how one of our own Celery task runs ended.

    The event_id derives from the task id and attempt, so a redelivered
    message records its outcome once.
    """
    started = _started.pop(task_id, None)
    duration_ms = int((time.monotonic() - started) * 1000) if started is not None else None
    now = datetime.now(UTC).isoformat()
    row = JobOutcomeIn(
        job_id=task_id,
        job_type=task_name[:255],
        status=status,
        duration_ms=duration_ms,
        error_code=type(error).__name__[:100] if error else "",
        error_message=str(error)[:2000] if error else "",
        retry_count=retries,
        initiated_by="celery",
    ).model_dump(mode="json")
    row.update(
        event_id=str(uuid.uuid5(_NAMESPACE, f"{task_id}:{retries}:{status}")),
        timestamp=now,
        received_at=now,
    )
    records_insert(kind_name="job_outcome", rows=[row])


def periodic_outcome_record(*, entry: str, succeeded: bool, error: str = "") -> int:
    """Count one run of beat's `entry`; returns its failures in a row now (0 on success).

    A run that fails after failures records its count as the gauge
    `jobs.periodic_consecutive_failures{entry}`, and so does the first success after
    them (0), so rules and charts follow the streak without a point per healthy run.
    """
    outcome = "succeeded" if succeeded else "failed"
    pipe = get_redis().pipeline(transaction=True)
    pipe.hincrby(periodic.runs_key(), f"{entry}|{outcome}", 1)
    if succeeded:
        pipe.hdel(periodic.failing_key(), entry)
    else:
        pipe.hincrby(periodic.failing_key(), entry, 1)
        pipe.hset(periodic.errors_key(), entry, " ".join(error.split())[:300])
    streak = pipe.execute()[1]
    failures = 0 if succeeded else int(streak)
    if failures or streak:  # a failure, or the success that ended a streak
        record_gauge(PERIODIC_FAILURES_METRIC, failures, labels={"entry": entry})
    return failures
