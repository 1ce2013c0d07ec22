from datetime import datetime, timedelta

from django.db.models import Count, DateTimeField, Exists, Func, Max, OuterRef, Q, QuerySet

from apps.core.windows import Interval, filled, parse_interval, window_start

from .models import (
    ActivityKind,
    ErrorCategory,
    ErrorLog,
    Issue,
    IssueActivity,
    IssueRelease,
    Severity,
)

HOUR = parse_interval("1h")


def _bucket_counts(
    errors, interval: Interval, since: datetime, until: datetime, fill: str
) -> list[dict]:
    """{start, count} per `interval` bucket from since to until (the bucket holding
    `until` included, as the hourly series always did), empty ones as `fill` says."""
    past_last = interval.bucket_of(until) + interval.step  # no bucket after now's, as hourly
    counts = (
        errors.filter(timestamp__lt=past_last)
        .annotate(start=interval.date_bin("timestamp"))
        .values_list("start")
        .annotate(n=Count("id"))
        .order_by("start")
    )
    return _filled(counts, interval, since, until, fill)


def _filled(counts, interval: Interval, since: datetime, until: datetime, fill: str) -> list[dict]:
    """(start, count) pairs in start order as {start, count} buckets from since to until
    (the bucket holding `until` included), empty ones as `fill` says."""
    return filled(
        ({"start": start, "count": n} for start, n in counts),
        start=since,
        end=until + timedelta(microseconds=1),
        interval=interval,
        fill=fill,
        key=lambda row: row["start"],
        empty=lambda start, how: {"start": start, "count": 0 if how == "zero" else None},
    )


def _totals(matrix: dict[str, dict[str, int]]) -> dict:
    """Counts by category and by severity from the (category, severity) matrix."""
    by_category = {c: sum(row.values()) for c, row in matrix.items()}
    by_severity = {s: sum(row.get(s, 0) for row in matrix.values()) for s in Severity.values}
    return {
        "total_errors": sum(by_category.values()),
        "by_category": by_category,
        "by_severity": by_severity,
    }


def _window(hours: int, category: str | None, severity: str | None, now: datetime | None):
    """The window's start and end, and its errors with the filters given."""
    since = window_start(hours, now=now)
    errors = ErrorLog.objects.filter(timestamp__gte=since)
    if category:
        errors = errors.filter(category=category)
    if severity:
        errors = errors.filter(severity=severity)
    return since, since + timedelta(hours=hours), errors


def error_trends(
    *,
    hours: int,
    category: str | None = None,
    severity: str | None = None,
    interval: Interval | None = None,
    fill: str = "zero",
    now: datetime | None = None,
) -> dict:
    """Counts by category and severity, an hourly series (zeros included), unresolved count;
    with `interval`, also `series`: buckets of that width, empty ones as `fill` says."""
    since, until, errors = _window(hours, category, severity, now)
    matrix = {c: dict.fromkeys(Severity.values, 0) for c in ErrorCategory.values}
    for cat, severity, n in (
        errors.values_list("category", "severity").annotate(n=Count("id")).order_by()
    ):
        matrix.setdefault(cat, dict.fromkeys(Severity.values, 0))[severity] = n
    totals = _totals(matrix)
    hourly = [
        {"hour": row["start"], "count": row["count"]}
        for row in _bucket_counts(errors, HOUR, since, until, "zero")
    ]
    answer = {
        "period_hours": hours,
        "since": since,
        "category": category,
        **({"severity": severity} if severity else {}),
        "total_errors": totals["total_errors"],
        "unresolved_count": errors.filter(resolved=False).count(),
        "by_category": totals["by_category"],
        "by_severity": totals["by_severity"],
        "by_category_severity": matrix,
        "hourly": hourly,
    }
    if interval is not None:
        answer["interval"] = interval.text
        answer["fill"] = fill
        answer["series"] = _bucket_counts(errors, interval, since, until, fill)
    return answer


LATEST_LIMIT = 50


def latest_errors(
    *,
    hours: int,
    category: str | None = None,
    severity: str | None = None,
    limit: int = LATEST_LIMIT,
    now: datetime | None = None,
) -> list[dict]:
    """The newest errors of the window (newest first), with their context and triage."""
    errors = ErrorLog.objects.filter(timestamp__gte=window_start(hours, now=now))
    if category:
        errors = errors.filter(category=category)
    if severity:
        errors = errors.filter(severity=severity)
    fields = (
        "id",
        "event_id",
        "timestamp",
        "category",
        "severity",
        "error_message",
        "error_code",
        "endpoint",
        "user_id",
        "device_id",
        "stack_trace",
        "context",
        "resolved",
        "resolved_by",
        "resolved_at",
        "resolution_notes",
    )
    return list(errors.order_by("-timestamp", "-id").values(*fields)[:limit])


def errors_with_ids(ids: list[int]) -> QuerySet[ErrorLog]:
    """The errors named by id, for the triage services (resolve, reopen)."""
    return ErrorLog.objects.filter(pk__in=ids)


def error_breakdown(
    *,
    hours: int,
    interval: Interval,
    category: str | None = None,
    severity: str | None = None,
    fill: str = "zero",
    now: datetime | None = None,
) -> dict:
    """In one read of the window's errors: error_trends' `total_errors`,
    `unresolved_count`, `by_category` and `by_severity`, and `series`: for "category"
    and "severity", {value: buckets} for the values with errors in the window, each
    exactly what error_trends(<field>=value, interval, fill) answers as `series`."""
    since, until, errors = _window(hours, category, severity, now)
    past_last = interval.bucket_of(until) + interval.step
    rows = (
        errors.annotate(start=interval.date_bin("timestamp"))
        .values_list("category", "severity", "start")
        .annotate(n=Count("id"), unresolved=Count("id", filter=Q(resolved=False)))
        .order_by()
    )
    matrix = {c: dict.fromkeys(Severity.values, 0) for c in ErrorCategory.values}
    unresolved = 0
    counted: dict[str, dict[str, dict[datetime, int]]] = {"category": {}, "severity": {}}
    for cat, sev, start, n, open_ in rows:
        row = matrix.setdefault(cat, dict.fromkeys(Severity.values, 0))
        row[sev] = row.get(sev, 0) + n
        unresolved += open_
        if start < past_last:  # a clock ahead of ours: counted, not drawn (as error_trends)
            for field, value in (("category", cat), ("severity", sev)):
                per = counted[field].setdefault(value, {})
                per[start] = per.get(start, 0) + n
    series = {
        field: {
            value: _filled(sorted(per.items()), interval, since, until, fill)
            for value, per in sorted(values.items())
        }
        for field, values in counted.items()
    }
    return {**_totals(matrix), "unresolved_count": unresolved, "series": series}


# --- issues -------------------------------------------------------------------------


def issue_list(
    *,
    status: list[str] | None = None,
    category: list[str] | None = None,
    severity: list[str] | None = None,
    release: str | None = None,
) -> QuerySet[Issue]:
    """Issues, the last seen first, with the filters given (a release matches an issue
    seen in it, see seen_in_release)."""
    issues = Issue.objects.all()
    if status:
        issues = issues.filter(status__in=status)
    if category:
        issues = issues.filter(category__in=category)
    if severity:
        issues = issues.filter(severity__in=severity)
    if release:
        issues = issues.filter(seen_in_release(release))
    return issues.order_by("-last_seen", "-id")


def seen_in_release(release: str) -> Q:
    """Issues with events in `release` (any of their releases, not only the first or the
    last; an EXISTS, so an issue is listed once): the API's and the admin's filter."""
    seen = IssueRelease.objects.filter(fingerprint=OuterRef("fingerprint"), release=release)
    # Its first and last release too, in case retention forgot the row.
    return Q(Exists(seen)) | Q(first_release=release) | Q(last_release=release)


RELEASES_LIMIT = 50


def issue_releases(fingerprint: str, *, limit: int = RELEASES_LIMIT) -> tuple[list, bool]:
    """The releases an issue was seen in, the last seen first (at most `limit`), and
    whether there were more."""
    rows = list(
        IssueRelease.objects.filter(fingerprint=fingerprint).order_by("-last_seen", "release")[
            : limit + 1
        ]
    )
    return rows[:limit], len(rows) > limit


def releases_last_seen(limit: int = 30) -> list[str]:
    """The releases issues were seen in, the last seen first (the admin's filter)."""
    rows = (
        IssueRelease.objects.values_list("release")
        .annotate(seen=Max("last_seen"))
        .order_by("-seen", "release")[:limit]
    )
    return [release for release, _ in rows]


def issues_with_ids(ids: list[int]) -> QuerySet[Issue]:
    return Issue.objects.filter(pk__in=ids)


def issue_counts_since(
    fingerprints: list[str], *, hours: int = 24, now: datetime | None = None
) -> dict[str, int]:
    """Events of each issue over the last `hours` (read from the errors' fingerprint
    index), by fingerprint; issues without any are left out."""
    since = window_start(hours, now=now)
    rows = (
        ErrorLog.objects.filter(fingerprint__in=fingerprints, timestamp__gte=since)
        .values_list("fingerprint")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(rows)


def issue_events(fingerprint: str) -> QuerySet[ErrorLog]:
    """An issue's events, newest first."""
    return ErrorLog.objects.filter(fingerprint=fingerprint).order_by("-timestamp", "-id")


def issue_sample_event(fingerprint: str) -> ErrorLog | None:
    """Its latest event."""
    return issue_events(fingerprint).first()


def issue_series(
    fingerprint: str, *, hours: int = 24, interval: Interval = HOUR, now: datetime | None = None
) -> list[dict]:
    """{start, count} per `interval` over the last `hours`, zeros included."""
    since = window_start(hours, now=now)
    errors = ErrorLog.objects.filter(fingerprint=fingerprint, timestamp__gte=since)
    return _bucket_counts(errors, interval, since, since + timedelta(hours=hours), "zero")


def issue_timeline(issue: Issue) -> QuerySet[IssueActivity]:
    return IssueActivity.objects.filter(issue=issue).order_by("at", "id")


def openings_by_events(event_ids: list) -> list[dict]:
    """The timeline's `first_seen` and `regressed` entries this transaction wrote that
    name one of these events, with their issue's category and severity.

    Read by the time they were written (not by a 1,000-id list: measured 18 ms a
    batch): the statement storing errors stamps them with its own time, never earlier
    than its transaction's start."""
    wanted = {str(event_id) for event_id in event_ids}
    since = Func(template="transaction_timestamp()", output_field=DateTimeField())
    entries = IssueActivity.objects.filter(
        at__gte=since, kind__in=[ActivityKind.FIRST_SEEN, ActivityKind.REGRESSED]
    ).values("id", "at", "kind", "event_id", "issue__category", "issue__severity")
    return [entry for entry in entries if str(entry["event_id"]) in wanted]
