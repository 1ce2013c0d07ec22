from dataclasses import dataclass

from django.conf import settings
from django.db.models import Avg, Count, Q, Sum

from apps.core.aggregates import ratio, rounded
from apps.core.redis import get_redis
from apps.core.windows import window_start

from . import periodic
from .models import JobOutcome, JobStatus


def job_outcome_stats(*, hours: int, job_type: str | None = None) -> dict:
    """Counts per status, success rate, average duration and retries, overall and per job type."""
    since = window_start(hours)
    jobs = JobOutcome.objects.filter(timestamp__gte=since)
    if job_type:
        jobs = jobs.filter(job_type=job_type)
    stats = dict(
        total=Count("id"),
        succeeded=Count("id", filter=Q(status=JobStatus.SUCCESS)),
        avg_duration_ms=Avg("duration_ms"),
        total_retries=Sum("retry_count"),
    )
    total = jobs.aggregate(**stats)
    by_status = dict(jobs.values_list("status").annotate(n=Count("id")).order_by())
    per_type = jobs.values("job_type").annotate(**stats).order_by("-total")[:200]
    return {
        "period_hours": hours,
        "since": since,
        "job_type": job_type,
        "total_jobs": total["total"],
        "status_counts": {status: by_status.get(status, 0) for status in JobStatus.values},
        "success_rate": ratio(total["succeeded"], total["total"]),
        "avg_duration_ms": rounded(total["avg_duration_ms"]),
        "total_retries": total["total_retries"] or 0,
        "by_job_type": [
            {
                "job_type": row["job_type"],
                "total": row["total"],
                "success_count": row["succeeded"],
                "success_rate": ratio(row["succeeded"], row["total"]),
                "avg_duration_ms": rounded(row["avg_duration_ms"]),
                "total_retries": row["total_retries"] or 0,
            }
            for row in per_type
        ],
    }


@dataclass(frozen=True)
class PeriodicEntry:
    name: str  # the PERIODIC_TASKS name, e.g. "sweep-outbox"
    task: str
    succeeded: int  # runs since Redis last started
    failed: int
    failures_in_a_row: int
    last_error: str  # of the current streak's last failure, else ""


def periodic_entries() -> list[PeriodicEntry]:
    """Every entry of settings.PERIODIC_TASKS and how its runs went (one Redis round trip)."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.hgetall(periodic.runs_key())
    pipe.hgetall(periodic.failing_key())
    pipe.hgetall(periodic.errors_key())
    runs, failing, errors = (
        {k.decode(): v.decode() for k, v in found.items()} for found in pipe.execute()
    )
    entries = []
    for name, spec in settings.PERIODIC_TASKS.items():
        in_a_row = int(failing.get(name, 0))
        entries.append(
            PeriodicEntry(
                name=name,
                task=spec["task"],
                succeeded=int(runs.get(f"{name}|succeeded", 0)),
                failed=int(runs.get(f"{name}|failed", 0)),
                failures_in_a_row=in_a_row,
                last_error=errors.get(name, "") if in_a_row else "",
            )
        )
    return entries


def periodic_failing(*, at_least: int) -> int:
    """How many of beat's entries (those of PERIODIC_TASKS, as the `periodic-tasks` check
    reads them) have failed `at_least` times in a row; one round trip."""
    streaks = get_redis().hmget(periodic.failing_key(), list(settings.PERIODIC_TASKS))
    return sum(int(n) >= at_least for n in streaks if n is not None)
