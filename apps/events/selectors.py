from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Avg, Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, TruncDay, TruncHour, TruncWeek

from apps.core.aggregates import Percentile
from apps.core.db import json_number, union_all

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


def _since(records: QuerySet, since: datetime | None, until: datetime | None = None) -> QuerySet:
    if since is not None:
        records = records.filter(timestamp__gte=since)
    return records if until is None else records.filter(timestamp__lt=until)


def per_user(records: QuerySet) -> QuerySet:
    """`user_id`, `n` records, `first` and `last` times: the shape every app's per-user
    counts share, so apps.core.db.union_all can add them up."""
    return (
        records.exclude(user_id="")
        .values("user_id")
        .annotate(n=Count("id"), first=Min("timestamp"), last=Max("timestamp"))
        .order_by()
    )


def per_user_bucket(records: QuerySet, bucket: str) -> QuerySet:
    """Distinct (`user_id`, `bucket_start`) pairs, `bucket` "day" or "week" (ISO, UTC):
    when each user was active, in the shape apps.core.db.union_all adds up."""
    trunc = {"day": TruncDay, "week": TruncWeek}[bucket]
    return (
        records.exclude(user_id="")
        .annotate(bucket_start=trunc("timestamp", tzinfo=UTC))
        .values("user_id", "bucket_start")
        .distinct()
        .order_by()
    )


def user_event_buckets(*, since: datetime, until: datetime, bucket: str) -> QuerySet:
    return per_user_bucket(_since(Event.objects.all(), since, until), bucket)


def user_activity_buckets(*, since: datetime, until: datetime, bucket: str) -> QuerySet:
    return per_user_bucket(_since(UserActivity.objects.all(), since, until), bucket)


def user_event_counts(*, since: datetime | None = None, until: datetime | None = None) -> QuerySet:
    """per_user() over events of [since, until)."""
    return per_user(_since(Event.objects.all(), since, until))


def user_activity_counts(
    *, since: datetime | None = None, until: datetime | None = None
) -> QuerySet:
    """per_user() over user activity (page views, clicks, searches...)."""
    return per_user(_since(UserActivity.objects.all(), since, until))


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


@dataclass(frozen=True)
class Figure:
    """One figure of a grouped read: `how` over the events of `types` (None: every type),
    reading `metadata[key]` where it needs a value. Kinds: count, false (events whose
    `key` is JSON false), sum, avg, p50, p95, p99 (JSON numbers only), distinct (different
    values of `key`)."""

    name: str
    types: tuple[str, ...] | None
    how: str = "count"
    key: str | None = None


_PERCENTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def _aggregate(figure: Figure):
    where = Q() if figure.types is None else Q(event_type__in=figure.types)
    if figure.how == "count":
        return Count("id", filter=where)
    if figure.how == "false":
        return Count("id", filter=where & Q(**{f"metadata__{figure.key}": False}))
    if figure.how == "distinct":
        return Count(KeyTextTransform(figure.key, "metadata"), filter=where, distinct=True)
    number = json_number("metadata", figure.key)
    if figure.how == "sum":
        return Sum(number, filter=where)
    if figure.how == "avg":
        return Avg(number, filter=where)
    return Percentile(number, _PERCENTILES[figure.how], filter=where)


def _grouped(events: QuerySet, group_by: str) -> QuerySet:
    if group_by == "user_id":
        return events.exclude(user_id="").annotate(group=F("user_id"))
    return events.filter(**{f"metadata__{group_by}__isnull": False}).annotate(
        group=KeyTextTransform(group_by, "metadata")
    )


def _of_types(events: QuerySet, figures: list[Figure]) -> QuerySet:
    if all(figure.types is not None for figure in figures):
        return events.filter(event_type__in={t for f in figures for t in f.types})
    return events


def event_figures(
    *, since: datetime | None, until: datetime, figures: list[Figure], group_by: str | None = None
) -> dict:
    """Figures over the events of [since, until) (since None: everything before `until`).
    Without `group_by`, one {figure: value}; with it, {group: {figure: value}}, `group_by`
    being `user_id` (anonymous events left out) or a metadata key such as `agent_id`
    (events without it left out).

    Grouped: counts, sums, averages and percentiles in one hashed pass over the events
    (_hashed_figures), each distinct count in a pass over narrow pairs. A plain GROUP BY
    with percentile_cont or COUNT(DISTINCT) sorts every row, metadata and all, by its
    group: five times slower over a day of a million events."""
    events = Event.objects.filter(timestamp__lt=until)
    if since is not None:
        events = events.filter(timestamp__gte=since)
    if group_by is None:
        aggregates = {figure.name: _aggregate(figure) for figure in figures}
        return _of_types(events, figures).aggregate(**aggregates)
    hashed = [f for f in figures if f.how != "distinct"]
    found: dict[str, dict] = {}
    if hashed:
        found = _hashed_figures(_grouped(_of_types(events, hashed), group_by), hashed)
    for figure in figures:
        if figure.how != "distinct":
            continue
        counted = _distinct_counts(_grouped(_of_types(events, [figure]), group_by), figure.key)
        for group, n in counted.items():
            found.setdefault(group, _nothing(hashed))[figure.name] = n
        for row in found.values():
            row.setdefault(figure.name, 0)
    return found


def _nothing(figures: list[Figure]) -> dict:
    """A group's figures when it has none of their events: no count, no value."""
    return {f.name: 0 if f.how in ("count", "false") else None for f in figures}


def _hashed_figures(events: QuerySet, figures: list[Figure]) -> dict[str, dict]:
    """{group: {figure: value}} in one hashed pass. A percentile's numbers are gathered
    per group there (array_agg) and ordered per group afterwards, in the database:
    percentile_cont itself would first sort every row, metadata and all, by its group."""
    aggregates = {}
    for figure in figures:
        if figure.how in _PERCENTILES:
            where = None if figure.types is None else Q(event_type__in=figure.types)
            number = json_number("metadata", figure.key)
            aggregates[f"values_{figure.name}"] = ArrayAgg(number, filter=where)
        else:
            aggregates[figure.name] = _aggregate(figure)
    sql, params = events.values("group").annotate(**aggregates).order_by().query.sql_with_params()
    quote = connection.ops.quote_name
    columns = [  # fractions and names are this module's own, never a client's
        f"(SELECT percentile_cont({_PERCENTILES[f.how]}) WITHIN GROUP (ORDER BY v) "  # noqa: S608
        f"FROM unnest(g.{quote('values_' + f.name)}) AS v) AS {quote(f.name)}"
        if f.how in _PERCENTILES
        else f"g.{quote(f.name)}"
        for f in figures
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT g.{quote('group')}, {', '.join(columns)} FROM ({sql}) g",  # noqa: S608
            params,
        )
        names = [f.name for f in figures]
        return {
            group: dict(zip(names, values, strict=True))
            for group, *values in cursor.fetchall()
            if group not in (None, "")
        }


def _distinct_counts(events: QuerySet, key: str) -> dict[str, int]:
    """Different values of `metadata[key]` per group, from the distinct pairs (narrow,
    hashed; COUNT(DISTINCT) would sort every row)."""
    pairs = (
        events.filter(**{f"metadata__{key}__isnull": False})
        .annotate(value=KeyTextTransform(key, "metadata"))
        .values_list("group", "value")
        .distinct()
        .order_by()
    )
    counted: dict[str, int] = {}
    for group, _value in pairs:
        counted[group] = counted.get(group, 0) + 1
    return counted


def metadata_value_counts(*, key: str, since: datetime, until: datetime) -> dict[str, int]:
    """Different values of `metadata[key]` (agents, say): `total` seen before `until`,
    `active` in [since, until), `new` first seen in [since, until)."""
    firsts = (
        Event.objects.filter(timestamp__lt=until, **{f"metadata__{key}__isnull": False})
        .annotate(value=KeyTextTransform(key, "metadata"))
        .exclude(value="")
        .values("value")
        .annotate(first=Min("timestamp"), last=Max("timestamp"))
        .order_by()
    )
    sql, params = firsts.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE first >= %s), "  # noqa: S608
            f"COUNT(*) FILTER (WHERE last >= %s) FROM ({sql}) v",
            [since, since, *params],
        )
        # Every event is before `until`: a last one after `since` is one in the period.
        total, new, active = cursor.fetchone()
    return {"total": total, "active": active, "new": new}


def user_period_activity(*, since: datetime, until: datetime) -> dict[str, dict]:
    """Per user over [since, until): `sessions` (different session ids in activity and
    events), `page_views`, `other_activity` (clicks, searches...), `active_ms` (the
    activity's durations)."""
    window = {"timestamp__gte": since, "timestamp__lt": until}
    activity = (
        UserActivity.objects.filter(**window)
        .exclude(user_id="")
        .values("user_id")
        .annotate(
            page_views=Count("id", filter=Q(activity_type="page_view")),
            other_activity=Count("id", filter=~Q(activity_type="page_view")),
            active_ms=Coalesce(Sum("duration_ms"), 0),
        )
        .order_by()
    )
    found = {row["user_id"]: {**row, "sessions": 0} for row in activity}
    sessions_sql, params = union_all(
        [
            model.objects.filter(**window)
            .exclude(user_id="")
            .exclude(session_id="")
            .values("user_id", "session_id")
            .order_by()
            for model in (UserActivity, Event)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(  # DISTINCT first: hashed; COUNT(DISTINCT) would sort every row
            "SELECT user_id, COUNT(*) FROM (SELECT DISTINCT user_id, session_id "  # noqa: S608
            f"FROM ({sessions_sql}) s) pairs GROUP BY user_id",
            params,
        )
        for user_id, sessions in cursor.fetchall():
            row = found.setdefault(
                user_id,
                {"user_id": user_id, "page_views": 0, "other_activity": 0, "active_ms": 0},
            )
            row["sessions"] = sessions
    return found


def hours_received(*, since: datetime, before: datetime) -> set[datetime]:
    """The hours (UTC) of the timestamps before `before` of the events and user activity
    received from `since` on: where items arriving late landed (a rollup re-reads them)."""
    hours: set[datetime] = set()
    for model in (Event, UserActivity):
        late = model.objects.filter(received_at__gte=since, timestamp__lt=before)
        hours.update(
            late.annotate(hour=TruncHour("timestamp", tzinfo=UTC))
            .order_by()
            .values_list("hour", flat=True)
            .distinct()
        )
    return hours
