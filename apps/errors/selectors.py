from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import TruncHour

from apps.core.windows import window_start

from .models import ErrorCategory, ErrorLog, Severity


def error_trends(*, hours: int, category: str | None = None) -> dict:
    """Counts by category and severity, an hourly series (zeros included), unresolved count."""
    since = window_start(hours)
    errors = ErrorLog.objects.filter(timestamp__gte=since)
    if category:
        errors = errors.filter(category=category)
    matrix = {c: dict.fromkeys(Severity.values, 0) for c in ErrorCategory.values}
    for cat, severity, n in (
        errors.values_list("category", "severity").annotate(n=Count("id")).order_by()
    ):
        matrix.setdefault(cat, dict.fromkeys(Severity.values, 0))[severity] = n
    by_category = {c: sum(row.values()) for c, row in matrix.items()}
    by_severity = {s: sum(row.get(s, 0) for row in matrix.values()) for s in Severity.values}
    hourly = dict(
        errors.annotate(hour=TruncHour("timestamp"))
        .values_list("hour")
        .annotate(n=Count("id"))
        .order_by()
    )
    first_hour = since.replace(minute=0, second=0, microsecond=0)
    series = [
        {
            "hour": first_hour + timedelta(hours=i),
            "count": hourly.get(first_hour + timedelta(hours=i), 0),
        }
        for i in range(hours + 1)
    ]
    return {
        "period_hours": hours,
        "since": since,
        "category": category,
        "total_errors": sum(by_category.values()),
        "unresolved_count": errors.filter(resolved=False).count(),
        "by_category": by_category,
        "by_severity": by_severity,
        "by_category_severity": matrix,
        "hourly": series,
    }
