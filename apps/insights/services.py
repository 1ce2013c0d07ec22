"""Tracking a period: every user, agent and the platform, each computed with a few
set-based queries for the whole period (not a query per entity), stored once per period
by the tables' unique constraints."""

from bisect import bisect_left
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from apps.ai.selectors import hours_received as ai_hours_received
from apps.core.db import insert_new, work_mem
from apps.core.windows import longest_retention_days
from apps.events.selectors import (
    event_figures,
    metadata_value_counts,
    user_period_activity,
)
from apps.events.selectors import hours_received as event_hours_received
from apps.ingest.selectors import outbox_oldest_age_seconds
from apps.monitoring.selectors import uptime_by_name
from apps.requestlog.selectors import hours_received as request_hours_received
from apps.requestlog.selectors import request_period_figures, request_sketches
from apps.usage.selectors import user_days_span, user_period_counts
from apps.usage.services import next_midnight, user_days_forget, user_days_record

from . import figures
from .models import (
    AgentAnalytics,
    PlatformMetrics,
    RequestRollup,
    RollupChunk,
    RollupWatermark,
    SeenKey,
    SeenKind,
    UserAnalytics,
)
from .periods import PeriodType, last_complete, period_end, period_start, previous_start
from .selectors import event_types, keys_seen

# A day of a million events groups in memory with this; the default 4 MB sorts on disk.
TRACKING_WORK_MEM_MB = 64


# What the platform keeps of the period's request logs.
REQUEST_FIGURES = ("api_calls", "avg_response_time_ms", "error_rate", "throughput_per_minute")


class UntrackablePeriodError(ValueError):
    """The period has not ended (tracking it would freeze half of it), or began before
    any data kept."""


@dataclass(frozen=True)
class Period:
    period_type: str
    start: datetime
    end: datetime

    @property
    def fields(self) -> dict:
        return {"period_type": self.period_type, "period_start": self.start, "period_end": self.end}


def period_for(
    period_type: str, moment: datetime | None = None, *, now: datetime | None = None
) -> Period:
    """The period holding `moment` (default: the last complete one); UntrackablePeriodError
    if it has not ended by `now`, or holds nothing the retention still keeps."""
    now = now or timezone.now()
    days = longest_retention_days()
    if moment is not None and moment < now - timedelta(days=days):
        raise UntrackablePeriodError(f"Before the data kept ({days} days): nothing to track.")
    start = period_start(period_type, moment) if moment else last_complete(period_type, now)
    if start >= now:  # before computing its end, which far enough ahead is no date at all
        raise UntrackablePeriodError(f"This {period_type} has not begun yet.")
    period = Period(period_type, start, period_end(period_type, start))
    if period.end > now:
        raise UntrackablePeriodError(
            f"This {period_type} ends at {period.end.isoformat()}; not yet over."
        )
    return period


def _users(period: Period, types: dict) -> list[UserAnalytics]:
    window = {"since": period.start, "until": period.end}
    counted = event_figures(**window, figures=figures.user_figures(types), group_by="user_id")
    activity = user_period_activity(**window)
    rows = []
    for user_id in counted.keys() | activity.keys():
        events = counted.get(user_id, {})
        seen = activity.get(user_id, {})
        rows.append(
            UserAnalytics(
                user_id=user_id,
                **period.fields,
                sessions=seen.get("sessions", 0),
                page_views=seen.get("page_views", 0),
                actions=seen.get("other_activity", 0) + events.get("events", 0),
                active_time_seconds=seen.get("active_ms", 0) / 1000,
                contracts_created=events.get("contracts_created", 0),
                contracts_completed=events.get("contracts_completed", 0),
                contracts_cancelled=events.get("contracts_cancelled", 0),
                credits_purchased=events.get("credits_purchased") or 0,
                credits_spent=events.get("credits_spent") or 0,
                total_spent=events.get("total_spent") or 0,
                agents_used=events.get("agents_used", 0),
                orchestrations_run=events.get("orchestrations_run", 0),
            )
        )
    return rows


def _agents(period: Period, types: dict) -> list[AgentAnalytics]:
    counted = event_figures(
        since=period.start, until=period.end, figures=figures.agent_figures(types),
        group_by="agent_id",
    )  # fmt: skip
    uptime = uptime_by_name(list(counted), since=period.start, until=period.end)
    rows = []
    for agent_id, found in counted.items():
        calls, failed = found.pop("total_calls"), found.pop("failed_calls")
        rows.append(
            AgentAnalytics(
                agent_id=agent_id,
                **period.fields,
                total_calls=calls,
                successful_calls=calls - failed,
                failed_calls=failed,
                success_rate=round(100 * (calls - failed) / calls, 2) if calls else None,
                uptime_percentage=uptime.get(agent_id),
                **{**found, "revenue": found["revenue"] or 0},
            )
        )
    return rows


def _platform(period: Period, types: dict) -> PlatformMetrics:
    window = {"since": period.start, "until": period.end}
    users = user_period_counts(**window, previous=previous_start(period.period_type, period.start))
    agents = metadata_value_counts(key="agent_id", **window)
    inside = event_figures(**window, figures=figures.platform_period_figures(types))
    totals = event_figures(since=None, until=period.end, figures=figures.contract_totals(types))
    requests = request_period_figures(**window)
    return PlatformMetrics(
        **period.fields,
        total_users=users["total"],
        active_users=users["active"],
        new_users=users["new"],
        churned_users=users["churned"],
        total_agents=agents["total"],
        active_agents=agents["active"],
        new_agents=agents["new"],
        total_contracts=totals["created"],
        active_contracts=max(totals["created"] - totals["closed"], 0),
        **{name: value or 0 for name, value in inside.items()},
        **{name: requests[name] for name in REQUEST_FIGURES},
    )


def _part(compute: Callable, period: Period, types: dict):
    with work_mem(TRACKING_WORK_MEM_MB):
        return compute(period, types)


def _in_own_connection(compute: Callable, period: Period, types: dict):
    try:
        return _part(compute, period, types)
    finally:
        connections.close_all()  # this thread's own


def _computed(period: Period, types: dict) -> tuple[list, list, PlatformMetrics]:
    """Users, agents and the platform: independent reads, so with
    INSIGHTS_TRACKING_THREADS > 1 each runs on a connection of its own at once (each
    then reads its own snapshot; the period is over, so they agree)."""
    parts = (_users, _agents, _platform)
    if settings.INSIGHTS_TRACKING_THREADS <= 1:
        return tuple(_part(compute, period, types) for compute in parts)
    workers = min(settings.INSIGHTS_TRACKING_THREADS, len(parts))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="insights") as pool:
        running = [pool.submit(_in_own_connection, c, period, types) for c in parts]
        return tuple(future.result() for future in running)


def _store(rows: list, *, force: bool, unique: list[str]) -> int:
    if not rows:
        return 0
    if not force:
        return insert_new(rows)
    model = type(rows[0])
    kept = {"id", *unique}
    update = [f.name for f in model._meta.concrete_fields if f.name not in kept]
    model.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=unique, update_fields=update
    )
    return len(rows)


def period_track(*, period: Period, force: bool = False) -> dict:
    """Track every user, agent and the platform for `period`. Rows already tracked are
    kept (`skipped_existing`) unless `force`, which computes them again."""
    users, agents, platform = _computed(period, event_types())
    with transaction.atomic():
        users_tracked = _store(
            users, force=force, unique=["user_id", "period_type", "period_start"]
        )
        agents_tracked = _store(
            agents, force=force, unique=["agent_id", "period_type", "period_start"]
        )
        platform_tracked = _store([platform], force=force, unique=["period_type", "period_start"])
    return {
        "period_type": period.period_type,
        "period_start": period.start,
        "period_end": period.end,
        "users_tracked": users_tracked,
        "agents_tracked": agents_tracked,
        "platform_tracked": bool(platform_tracked),
        "skipped_existing": len(users)
        + len(agents)
        + 1
        - users_tracked
        - agents_tracked
        - platform_tracked,
    }


# --- The dashboard's rollup ---------------------------------------------------------
# Chunks of at most a day, contiguous from two days before the oldest data any kind keeps
# (older rows are purged, and newer items older than that are refused at ingest).
ROLLUP_CHUNK = timedelta(days=1)
ROLLUP_MARGIN = timedelta(days=2)


# received_at is stamped when an item is accepted; its row lands in its table a moment
# later (the outbox's task, the in-process buffer's flush): a run re-reads what was
# received from this long before it began, or before the oldest batch still waiting.
ROLLUP_RECEIVED_LAG = timedelta(minutes=5)
SEEN_BATCH = 5000


def _chunk_seen(kind: str, keys: set[str], start: datetime, end: datetime) -> None:
    """Remember `keys` as seen in [start, end): the earliest chunk of each key's first
    sighting and the latest of its last, whatever order chunks are rolled up in (a chunk
    re-rolled for items arriving late never moves a first later nor a last earlier)."""
    table = connection.ops.quote_name(SeenKey._meta.db_table)
    ordered = sorted(keys)
    with connection.cursor() as cursor:
        for at in range(0, len(ordered), SEEN_BATCH):
            cursor.execute(
                f"INSERT INTO {table} AS t (kind, key, first_from, first_until, last_from, "  # noqa: S608
                "last_until) SELECT %s, k, %s, %s, %s, %s FROM unnest(%s::varchar[]) AS k "
                "ON CONFLICT (kind, key) DO UPDATE SET "
                "first_from = LEAST(t.first_from, EXCLUDED.first_from), "
                "first_until = CASE WHEN EXCLUDED.first_from < t.first_from "
                "THEN EXCLUDED.first_until ELSE t.first_until END, "
                "last_from = GREATEST(t.last_from, EXCLUDED.last_from), "
                "last_until = CASE WHEN EXCLUDED.last_from > t.last_from "
                "THEN EXCLUDED.last_until ELSE t.last_until END",
                [kind, start, end, start, end, ordered[at : at + SEEN_BATCH]],
            )


def _roll_chunk(
    start: datetime, end: datetime, types: dict, *, chunk: RollupChunk | None = None
) -> RollupChunk:
    """Roll up [start, end) as a new chunk, or again into `chunk` (its figures and request
    rows replaced, in one transaction)."""
    window = {"since": start, "until": end}
    counted = event_figures(**window, figures=figures.rollup_figures(types))
    requests = request_sketches(**window)
    users, agents = keys_seen(SeenKind.USER, **window), keys_seen(SeenKind.AGENT, **window)
    found = {
        "contracts_created": counted["created"],
        "contracts_closed": counted["closed"],
        "completed_contracts": counted["completed"],
        "revenue": counted["revenue"] or 0.0,
        "platform_fees": counted["platform_fees"] or 0.0,
        "requests": sum(row["requests"] for row in requests),
    }
    with transaction.atomic():
        if chunk is None:
            chunk = RollupChunk.objects.create(start=start, end=end, **found)
        else:  # two runs at once (beat, the command) replace its rows one after the other
            chunk = RollupChunk.objects.select_for_update().get(pk=chunk.pk)
            for name, value in found.items():
                setattr(chunk, name, value)
            chunk.save()
            chunk.request_rollups.all().delete()
        RequestRollup.objects.bulk_create(
            RequestRollup(
                chunk=chunk, endpoint=row["endpoint"], requests=row["requests"],
                ms_sum=row["ms_sum"], errors=row["errors"], server_errors=row["server_errors"],
                min_ms=row["min_ms"], max_ms=row["max_ms"], sketch_keys=row["keys"],
                sketch_counts=row["counts"],
            )
            for row in requests
        )  # fmt: skip
        _chunk_seen(SeenKind.USER, users, start, end)
        _chunk_seen(SeenKind.AGENT, agents, start, end)
        _user_days(users, start, end)
    return chunk


def _user_days_backfill(start: datetime, end: datetime) -> None:
    """The users seen each day of the span already rolled up, a day at a time."""
    while start < end:
        until = min(next_midnight(start), end)
        _user_days(keys_seen(SeenKind.USER, since=start, until=until), start, until)
        start = until


def _user_days(users: set[str], start: datetime, end: datetime) -> None:
    """The users seen each UTC day of [start, end), for DAU/WAU/MAU and retention (a chunk
    made after a pause may span a midnight: each day's users read apart)."""
    if end <= next_midnight(start):
        user_days_record(users=users, start=start, end=end)
        return
    while start < end:
        until = min(next_midnight(start), end)
        user_days_record(
            users=keys_seen(SeenKind.USER, since=start, until=until), start=start, end=until
        )
        start = until


def _received_mark() -> datetime:
    """From when the next run re-reads received rows: before this run reads anything,
    less the time a received item may take to reach its table (ROLLUP_RECEIVED_LAG, or
    the age of the oldest outbox batch still waiting, whichever is longer)."""
    clock = timezone.now()
    waiting = timedelta(seconds=outbox_oldest_age_seconds() or 0)
    return clock - max(waiting, ROLLUP_RECEIVED_LAG)


def _late_chunks(since: datetime, before: datetime) -> list[RollupChunk]:
    """The chunks (ending by `before`) holding the timestamp of any row the rollup reads
    (events, user activity, AI usage, request logs) received from `since` on, oldest
    first; each app answers for its own rows."""
    found: set[datetime] = set()
    for received in (event_hours_received, ai_hours_received, request_hours_received):
        found |= received(since=since, before=before)
    if not found:
        return []
    hours = sorted(found)
    chunks = RollupChunk.objects.filter(
        start__lte=hours[-1], end__gt=hours[0], end__lte=before
    ).order_by("start")
    late = []
    for chunk in chunks:  # the first hour from its start on, if before its end
        at = bisect_left(hours, chunk.start)
        if at < len(hours) and hours[at] < chunk.end:
            late.append(chunk)
    return late


def dashboard_rollup(*, now: datetime | None = None, rebuild: bool = False) -> int:
    """Roll up every complete hour not rolled up yet (the first time, everything kept, a
    day a chunk), and roll up again each chunk holding the timestamp of a row received
    since the previous run (items arriving late: an offline client, a retried batch), so
    after each run the rollup answers what the raw rows do. Returns the chunks made or
    rolled again; `rebuild` forgets the rollup first."""
    now = now or timezone.now()
    if rebuild:
        with transaction.atomic():
            RollupChunk.objects.all().delete()
            SeenKey.objects.all().delete()
            RollupWatermark.objects.all().delete()
            user_days_forget()
    received = _received_mark()  # before reading: what arrives meanwhile is read next time
    until = period_start(PeriodType.HOUR, now)
    latest = RollupChunk.objects.order_by("-end").first()
    watermark = RollupWatermark.objects.first()
    if latest is not None:
        mark = latest.end
        if watermark is not None:
            since = watermark.received_since
        else:  # rolled up before late items were: from the last run on
            since = RollupChunk.objects.order_by("-rolled_at").first().rolled_at
            since -= ROLLUP_RECEIVED_LAG
    else:
        oldest = now - timedelta(days=longest_retention_days()) - ROLLUP_MARGIN
        mark = period_start(PeriodType.DAY, oldest)
    types = event_types()
    made = 0
    with work_mem(TRACKING_WORK_MEM_MB):
        if latest is not None and user_days_span() is None:  # rolled up before user-days were
            oldest = RollupChunk.objects.order_by("start").first()
            _user_days_backfill(oldest.start, latest.end)
        if latest is not None:
            for chunk in _late_chunks(since, mark):
                _roll_chunk(chunk.start, chunk.end, types, chunk=chunk)
                made += 1
        while mark < until:
            end = min(mark + ROLLUP_CHUNK, until)
            _roll_chunk(mark, end, types)
            mark, made = end, made + 1
    RollupWatermark.objects.update_or_create(pk=1, defaults={"received_since": received})
    return made
