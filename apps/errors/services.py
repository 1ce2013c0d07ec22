from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .models import ActivityKind, ErrorLog, Issue, IssueActivity, IssueStatus

EVENTS_BATCH = 10_000  # an issue's events are resolved or reopened this many a statement


def errors_resolve(*, errors: QuerySet[ErrorLog], resolved_by: str, notes: str = "") -> int:
    """Mark errors resolved by someone, now. Already resolved ones keep their first resolution."""
    return errors.filter(resolved=False).update(
        resolved=True, resolved_by=resolved_by, resolved_at=timezone.now(), resolution_notes=notes
    )


def errors_reopen(*, errors: QuerySet[ErrorLog]) -> int:
    return errors.filter(resolved=True).update(
        resolved=False, resolved_by="", resolved_at=None, resolution_notes=""
    )


def _in_batches(update, errors: QuerySet[ErrorLog]) -> int:
    """Apply `update` to `errors` EVENTS_BATCH rows a statement (an issue may have many)."""
    total = 0
    while True:
        ids = list(errors.order_by().values_list("id", flat=True)[:EVENTS_BATCH])
        if not ids:
            return total
        done = update(ErrorLog.objects.filter(pk__in=ids))
        total += done
        if done < len(ids) or len(ids) < EVENTS_BATCH:
            return total


def _transition(
    *, issues: QuerySet[Issue], to: str, kind: str, actor: str, note: str
) -> list[Issue]:
    """Move the issues not already `to` there, each with its timeline entry; the moved.
    Rows are locked in fingerprint order, the order the statement storing errors locks
    them in, so the two cannot deadlock."""
    now = timezone.now()
    with transaction.atomic():
        locked = list(
            Issue.objects.select_for_update()
            .filter(pk__in=issues.values("pk"))
            .exclude(status=to)
            .order_by("fingerprint")
        )
        for issue in locked:
            issue.status = to
            if to == IssueStatus.RESOLVED:
                issue.resolved_at, issue.resolved_by = now, actor
            else:
                issue.resolved_at, issue.resolved_by = None, ""
        Issue.objects.bulk_update(locked, ["status", "resolved_at", "resolved_by"])
        IssueActivity.objects.bulk_create(
            IssueActivity(issue=issue, kind=kind, at=now, actor=actor, note=note)
            for issue in locked
        )
    return locked


def issues_resolve(*, issues: QuerySet[Issue], actor: str, note: str = "") -> int:
    """Resolve issues (for good, until a new event reopens one as a regression) and their
    stored events (ErrorLog.resolved, as error-trends counts them). Returns how many
    issues changed; already resolved ones keep their resolution."""
    moved = _transition(
        issues=issues, to=IssueStatus.RESOLVED, kind=ActivityKind.RESOLVED, actor=actor, note=note
    )
    for issue in moved:
        _in_batches(
            lambda rows: errors_resolve(errors=rows, resolved_by=actor, notes=note),
            ErrorLog.objects.filter(fingerprint=issue.fingerprint, resolved=False),
        )
    return len(moved)


def issues_ignore(*, issues: QuerySet[Issue], actor: str, note: str = "") -> int:
    """Ignore issues: new events count in them but never reopen them. Their events are
    left as they are. Returns how many changed."""
    moved = _transition(
        issues=issues, to=IssueStatus.IGNORED, kind=ActivityKind.IGNORED, actor=actor, note=note
    )
    return len(moved)


def issues_unresolve(*, issues: QuerySet[Issue], actor: str, note: str = "") -> int:
    """Reopen resolved or ignored issues; a resolved one's events are reopened too.
    Returns how many changed."""
    was_resolved = set(
        issues.filter(status=IssueStatus.RESOLVED).values_list("fingerprint", flat=True)
    )
    moved = _transition(
        issues=issues,
        to=IssueStatus.UNRESOLVED,
        kind=ActivityKind.UNRESOLVED,
        actor=actor,
        note=note,
    )
    for issue in moved:
        if issue.fingerprint in was_resolved:
            _in_batches(
                lambda rows: errors_reopen(errors=rows),
                ErrorLog.objects.filter(fingerprint=issue.fingerprint, resolved=True),
            )
    return len(moved)


ISSUE_ACTIONS = {
    "resolve": issues_resolve,
    "ignore": issues_ignore,
    "unresolve": issues_unresolve,
}
