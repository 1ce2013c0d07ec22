from django.db.models import Avg, Count, Q, Sum

from apps.core.aggregates import ratio, rounded
from apps.core.windows import window_start

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
