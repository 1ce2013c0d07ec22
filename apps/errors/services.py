from django.db.models import QuerySet
from django.utils import timezone

from .models import ErrorLog


def errors_resolve(*, errors: QuerySet[ErrorLog], resolved_by: str, notes: str = "") -> int:
    """Mark errors resolved by someone, now. Already resolved ones keep their first resolution."""
    return errors.filter(resolved=False).update(
        resolved=True, resolved_by=resolved_by, resolved_at=timezone.now(), resolution_notes=notes
    )


def errors_reopen(*, errors: QuerySet[ErrorLog]) -> int:
    return errors.filter(resolved=True).update(
        resolved=False, resolved_by="", resolved_at=None, resolution_notes=""
    )
