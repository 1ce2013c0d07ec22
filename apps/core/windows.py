"""Time windows that reads cover."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone


def window_start(hours: int, *, now: datetime | None = None) -> datetime:
    """The start of the window of `hours` ending now (or at `now`)."""
    return (now or timezone.now()) - timedelta(hours=hours)


def longest_retention_days() -> int:
    """No kind keeps data longer: a window reaching further back finds nothing more."""
    return max([settings.ANALYTICS_RETENTION_DAYS, *settings.ANALYTICS_RETENTION_BY_KIND.values()])
