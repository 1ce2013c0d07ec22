from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform

from .models import Event, UserActivity


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


def _since(records: QuerySet, since: datetime | None) -> QuerySet:
    return records if since is None else records.filter(timestamp__gte=since)


def user_event_counts(*, since: datetime | None = None) -> QuerySet:
    """Per user: events and the latest one's time (`user_id`, `n`, `last`), unordered; a
    subquery other apps' counts can be added to (apps.core.db.union_all)."""
    events = _since(Event.objects.exclude(user_id=""), since)
    return events.values("user_id").annotate(n=Count("id"), last=Max("timestamp")).order_by()


def user_activity_counts(*, since: datetime | None = None) -> QuerySet:
    """user_event_counts() over user activity (page views, clicks, searches...)."""
    activity = _since(UserActivity.objects.exclude(user_id=""), since)
    return activity.values("user_id").annotate(n=Count("id"), last=Max("timestamp")).order_by()


def user_emails(user_ids: list[str]) -> dict[str, str]:
    """Each user's email as their latest event (metadata) or activity (extra_data) said."""
    found: dict[str, tuple[datetime, str]] = {}
    for model, field in ((Event, "metadata"), (UserActivity, "extra_data")):
        rows = (
            model.objects.filter(user_id__in=user_ids, **{f"{field}__has_key": "email"})
            .annotate(email=KeyTextTransform("email", field))
            .order_by("user_id", "-timestamp")
            .distinct("user_id")
            .values_list("user_id", "timestamp", "email")
        )
        for user_id, at, email in rows:
            if email and (user_id not in found or found[user_id][0] < at):
                found[user_id] = (at, email)
    return {user_id: email for user_id, (_at, email) in found.items()}


def event_type_count(event_types: list[str], *, since: datetime | None = None) -> int:
    return _since(Event.objects.filter(event_type__in=event_types), since).count()


def _scenario_events(event_types: list[str], since: datetime | None) -> QuerySet:
    events = Event.objects.filter(event_type__in=event_types, metadata__has_key="scenario_id")
    return _since(events, since).annotate(scenario=KeyTextTransform("scenario_id", "metadata"))


def scenario_count(*, started: list[str]) -> int:
    """How many different scenarios were ever started."""
    return _scenario_events(started, None).values("scenario").distinct().count()


def scenario_popularity(
    *, started: list[str], completed: list[str], limit: int, since: datetime | None = None
) -> list[dict]:
    """The most started scenarios (`metadata.scenario_id`): starts, completions, and the
    name their latest event gave (`metadata.scenario_name`)."""
    rows = list(
        _scenario_events([*started, *completed], since)
        .values("scenario")
        .annotate(
            starts=Count("id", filter=Q(event_type__in=started)),
            completions=Count("id", filter=Q(event_type__in=completed)),
        )
        .filter(starts__gt=0)
        .order_by("-starts", "-completions", "scenario")[:limit]
    )
    names = dict(
        _scenario_events([*started, *completed], since)
        .filter(scenario__in=[row["scenario"] for row in rows], metadata__has_key="scenario_name")
        .annotate(name=KeyTextTransform("scenario_name", "metadata"))
        .order_by("scenario", "-timestamp")
        .distinct("scenario")
        .values_list("scenario", "name")
    )
    return [
        {
            "scenario_id": row["scenario"],
            "name": names.get(row["scenario"]) or row["scenario"],
            "start_count": row["starts"],
            "completion_count": row["completions"],
        }
        for row in rows
    ]
