"""Time windows that reads cover."""

from datetime import datetime, timedelta

from django.utils import timezone


def window_start(hours: int, *, now: datetime | None = None) -> datetime:
    """The start of the window of `hours` ending now (or at `now`)."""
    return (now or timezone.now()) - timedelta(hours=hours)
