from datetime import datetime

from django.db.models import QuerySet

from .models import Event


def event_list(
    *,
    event_type: str | None = None,
    user_id: str | None = None,
    family_unit_id: str | None = None,
    session_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Event]:
    """Events matching every given filter, newest first."""
    events = Event.objects.all()
    filters = {
        "event_type": event_type,
        "user_id": user_id,
        "family_unit_id": family_unit_id,
        "session_id": session_id,
        "timestamp__gte": since,
        "timestamp__lt": until,
    }
    return events.filter(**{k: v for k, v in filters.items() if v not in (None, "")})
