"""Reads: the health summary, one service's recent checks, SLA reports."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, ProgrammingError, connection
from django.db.models import Avg, Count, DateTimeField, F, Func, Max, Q, QuerySet, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from redis import RedisError

from apps.core.aggregates import Percentile, rounded
from apps.core.replica import replica_configured, replica_usable
from apps.jobs.selectors import periodic_failing

from .heartbeats import heartbeats_read, stale_after_seconds
from .models import Downtime, HealthCheck, HealthStatus, MonitoredService
from .system import host_name, system_figures

RECENT_CHECKS = 50


def system_health() -> dict:
    """This service's own parts, cheaply enough for a load balancer to ask every second:
    one statement (the database answers, and names the keyed services below), one Redis
    round trip that also reads the workers' and beat's signs
    of life, and one for the periodic jobs' failures. Without the database or Redis
    nothing is accepted: unhealthy. Without a worker or beat, or with a periodic job that
    failed PERIODIC_TASK_FAILURES_ALERT times in a row, writes are still accepted and
    wait in the outbox: degraded.

    Beside them, each enabled monitored service with a `health_key` (the AI model's
    server, say: `ollama`), read from the row its checks keep (only when there are some):
    true while it is up (its last check healthy or degraded, and checks still running),
    false otherwise; one that is down makes the answer degraded, not unhealthy.

    With DATABASE_REPLICA_URL, `database_replica`: whether reads run on the replica now
    (it answers, at most DATABASE_REPLICA_MAX_LAG_SECONDS behind; asked at most every
    5 s a process). Without it the primary answers the reads: degraded, not down."""
    keyed: list[int] = []
    try:
        with connection.cursor() as cursor:
            # The database's check and the keyed services' ids, in one round trip.
            cursor.execute(_KEYED_SERVICES_SQL)
            keyed = [row[0] for row in cursor.fetchall()]
        database = True
    except ProgrammingError:  # it answered, but is not migrated yet: nothing is keyed
        database = True
    except DatabaseError:
        database = False
    try:
        workers, beat_age = heartbeats_read()
        failing = periodic_failing(at_least=settings.PERIODIC_TASK_FAILURES_ALERT)
        redis = True
    except (RedisError, OSError):
        redis, workers, beat_age, failing = False, 0, None, 0
    parts = {
        "database": database,
        "redis": redis,
        "celery": workers > 0,
        "celery_beat": beat_age is not None and beat_age <= stale_after_seconds(),
        "periodic_tasks": redis and not failing,
    }
    if replica_configured():
        parts["database_replica"] = replica_usable()
    if keyed:
        parts |= _keyed_services_up(keyed)
    if not (database and redis):
        status = "unhealthy"
    else:
        status = "healthy" if all(parts.values()) else "degraded"
    return {"status": status, "services": parts, "timestamp": timezone.now()}


_KEYED_SERVICES_SQL = (
    f"SELECT id FROM {MonitoredService._meta.db_table} "  # noqa: S608 - our table's name
    "WHERE enabled AND health_key <> ''"
)


def _keyed_services_up(ids: list[int]) -> dict[str, bool]:
    """{health_key: up} of these services (enabled, with a key: see system_health)."""
    now = timezone.now()
    try:
        keyed = list(MonitoredService.objects.filter(pk__in=ids))
    except DatabaseError:
        return {}
    up = (HealthStatus.HEALTHY, HealthStatus.DEGRADED)
    return {s.health_key: _service_health(s, now)["status"] in up for s in keyed}


def host_figures() -> dict:
    """This machine's figures now, without waiting: CPU since the previous reading."""
    return {"host": host_name(), **system_figures(cpu_interval=None)}


def health_summary() -> dict:
    """Every enabled service's last status; overall: the worst of them, where `unknown`
    (never checked yet, or no longer checked) is worse than `healthy`: all is not known
    to be well while one service's state is not known."""
    now = timezone.now()
    services = [_service_health(s, now) for s in MonitoredService.objects.filter(enabled=True)]
    counts = {status: 0 for status in HealthStatus.values}
    for service in services:
        counts[service["status"]] += 1
    if counts["unhealthy"]:
        overall = "unhealthy"
    elif counts["degraded"]:
        overall = "degraded"
    elif counts["unknown"]:
        overall = "unknown"
    else:
        overall = "healthy"
    return {
        "overall_status": overall,
        "total_services": len(services),
        "healthy": counts["healthy"],
        "degraded": counts["degraded"],
        "unhealthy": counts["unhealthy"],
        "unknown": counts["unknown"],
        "services": services,
        "checked_at": now,
    }


def _service_health(service: MonitoredService, now: datetime | None = None) -> dict:
    status, error = service.status, service.last_error
    overdue = _overdue_seconds(service, now or timezone.now())
    if overdue is not None:  # checks stopped: the last status is no longer known to hold
        status = HealthStatus.UNKNOWN
        error = f"not checked for {overdue:.0f} s: are beat and a Celery worker running?"
    return {
        "service_name": service.name,
        "check_type": service.check_type,
        "status": status,
        "response_time_ms": service.last_response_time_ms,
        "consecutive_failures": service.consecutive_failures,
        "last_checked": service.last_checked_at,
        "error": error,
    }


def _overdue_seconds(service: MonitoredService, now: datetime) -> float | None:
    """Seconds since the last check when two runs were missed, else None."""
    if not service.enabled:
        return None
    since = service.last_checked_at or service.created_at
    waited = (now - since).total_seconds()
    return waited if waited > 2 * service.interval_seconds + service.timeout_seconds else None


def service_health(service: MonitoredService) -> dict:
    recent = list(
        HealthCheck.objects.filter(service=service).order_by("-checked_at", "-id")[:RECENT_CHECKS]
    )
    return {**_service_health(service), "recent_checks": recent}


def service_available(name: str) -> bool | None:
    """Whether the monitored service called `name` is up (healthy or degraded); None when
    there is no such enabled service or nothing is known of it yet."""
    service = MonitoredService.objects.filter(name=name, enabled=True).first()
    if service is None:
        return None
    status = _service_health(service)["status"]
    return None if status == HealthStatus.UNKNOWN else status != HealthStatus.UNHEALTHY


def service_by_name(name: str) -> MonitoredService:
    """MonitoredService.DoesNotExist when there is none."""
    return MonitoredService.objects.get(name=name)


def service_list() -> QuerySet[MonitoredService]:
    return MonitoredService.objects.all()


@dataclass(frozen=True)
class Outage:
    """A downtime, or its part inside a window: `end` is the window's end while ongoing."""

    start: datetime
    end: datetime
    ongoing: bool
    error: str = ""

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def checks_retention_cutoff(*, now: datetime | None = None) -> datetime:
    """Checks older than this are purged (MONITORING_CHECK_RETENTION_DAYS); downtimes stay."""
    return (now or timezone.now()) - timedelta(days=settings.MONITORING_CHECK_RETENTION_DAYS)


def _observed(service: MonitoredService, start: datetime, end: datetime) -> bool:
    """Whether the service was checked in [start, end). Before the checks' retention cutoff
    the checks are gone: there, having been checked since is enough (the downtimes, kept,
    still tell its outages)."""
    if service.last_checked_at is None or service.last_checked_at < start or start >= end:
        return False
    checks = HealthCheck.objects.filter(service=service, checked_at__gte=start, checked_at__lt=end)
    if checks.exists():
        return True
    return start < checks_retention_cutoff()


def _clipped(downtimes: Iterable[Downtime], start: datetime, end: datetime) -> list[Outage]:
    """The downtimes' parts inside [start, end), oldest first (an open one lasts to `end`)."""
    return [
        Outage(max(d.started_at, start), min(d.ended_at or end, end), d.ended_at is None, d.error)
        for d in sorted(downtimes, key=lambda d: d.started_at)
        if d.started_at < end and (d.ended_at is None or d.ended_at > start)
    ]


def _uptime_percentage(down_seconds: float, period_seconds: float) -> float:
    """The one uptime formula (SLA reports, daily bars, the 24 h / 7 d / 30 d figures):
    the share of the period not inside a downtime."""
    if period_seconds <= 0:
        return 100.0
    return max(0.0, 100.0 * (1 - down_seconds / period_seconds))


def sla_report(service: MonitoredService, *, since: datetime, until: datetime) -> dict:
    """Uptime from the downtimes (first failed check to first good one) in the window,
    which starts no earlier than the service's monitoring did. With no check in the
    window there is nothing to report: `status` "no_data", uptime and compliance None."""
    now = timezone.now()
    end = min(until, now)
    start = min(max(since, service.created_at), end)
    period = (end - start).total_seconds()
    outages = _clipped(
        Downtime.objects.filter(service=service, started_at__lt=end).exclude(ended_at__lte=start),
        start,
        end,
    )
    # A downtime in the window is an observation too: checks saw it start.
    if not outages and not _observed(service, start, end):
        return _no_data(service, start, end)
    down = sum(outage.seconds for outage in outages)
    uptime = _uptime_percentage(down, period)
    # In SQL: percentile_cont is the project's one percentile definition (core.aggregates).
    times = HealthCheck.objects.filter(
        service=service, checked_at__gte=start, checked_at__lt=end
    ).aggregate(avg=Avg("response_time_ms"), p95=Percentile("response_time_ms", 0.95))
    budget = period * (1 - service.sla_target / 100)
    return {
        "service_name": service.name,
        "status": "ok",
        "detail": "",
        "period_start": start,
        "period_end": end,
        "uptime_percentage": round(uptime, 4),
        "target": service.sla_target,
        "compliant": uptime >= service.sla_target,
        "avg_response_time_ms": times["avg"],
        "p95_response_time_ms": times["p95"],
        "downtime_count": len(outages),
        "downtime_seconds": round(down, 3),
        "downtimes": [
            {
                "start": o.start,
                "end": None if o.ongoing else o.end,
                "duration_seconds": round(o.seconds, 3),
            }
            for o in outages
        ],
        "error_budget_remaining_seconds": round(budget - down, 3),
    }


def _no_data(service: MonitoredService, start: datetime, end: datetime) -> dict:
    return {
        "service_name": service.name,
        "status": "no_data",
        "detail": (
            f"{service.name} was not checked between {start.isoformat()} and "
            f"{end.isoformat()}: no uptime to report (are beat and a worker running?)"
        ),
        "period_start": start,
        "period_end": end,
        "uptime_percentage": None,
        "target": service.sla_target,
        "compliant": None,
        "avg_response_time_ms": None,
        "p95_response_time_ms": None,
        "downtime_count": 0,
        "downtime_seconds": 0.0,
        "downtimes": [],
        "error_budget_remaining_seconds": None,
    }


def uptime_by_name(
    names: list[str], *, since: datetime, until: datetime
) -> dict[str, float | None]:
    """Uptime percentage over [since, until) of each monitored service named in `names`
    (an agent's, say); names without a service are left out, None: not checked then."""
    return {
        service.name: sla_report(service, since=since, until=until)["uptime_percentage"]
        for service in MonitoredService.objects.filter(name__in=names)
    }


# --- uptime: the console's uptime pages and the public status page draw these --------
#
# Everything is computed from the downtimes with the SLA's formula (`_uptime_percentage`),
# so a bar, a 30-day figure and the SLA report never disagree. What touches the checks
# (many rows: one a minute per service) is asked of PostgreSQL per day or per bucket,
# never fetched row by row.

UPTIME_DAYS = 90
UPTIME_WINDOWS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DAY = timedelta(days=1)


class UptimeDay(NamedTuple):
    """One UTC day of one service. `uptime_percentage` None: no data (not monitored yet,
    or not checked that day), which is not 100 %. (A tuple: 9,000 of them are made for
    100 services' bars, and a frozen dataclass is four times as slow to make.)"""

    date: date
    uptime_percentage: float | None
    downtime_seconds: float
    downtime_count: int
    # The part of the day the service was monitored (0 with no data; today: so far).
    monitored_seconds: float

    @property
    def no_data(self) -> bool:
        return self.uptime_percentage is None


def _day_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _downtimes_since(ids: list[int], start: datetime, end: datetime) -> dict[int, list[Downtime]]:
    """The services' downtimes overlapping [start, end), by service id (one query)."""
    found: dict[int, list[Downtime]] = {pk: [] for pk in ids}
    downtimes = (
        Downtime.objects.filter(service_id__in=ids, started_at__lt=end)
        .exclude(ended_at__lte=start)
        .order_by("started_at")
    )
    for downtime in downtimes:
        found[downtime.service_id].append(downtime)
    return found


_CHECKED_DAYS_SQL = f"""
    SELECT s.id, d.i
    FROM unnest(%(ids)s::bigint[]) AS s(id)
    CROSS JOIN generate_series(%(low)s::int, %(high)s::int) AS d(i)
    WHERE (
        SELECT 1 FROM {HealthCheck._meta.db_table} h
        WHERE h.service_id = s.id
          AND h.checked_at >= %(first)s::timestamptz + d.i * interval '1 day'
          AND h.checked_at < %(first)s::timestamptz + (d.i + 1) * interval '1 day'
        LIMIT 1
    ) IS NOT NULL
"""  # noqa: S608 - our table's name
# One index probe (healthcheck_service_recent) per service and day: 31 days of 100
# services is 3,100 probes, 19-26 ms, however many checks there are (counting them per day
# read all 4.5 million). A subquery with LIMIT, never made a join: as an EXISTS over the
# checks' weekly partitions the planner costed each probe as one per partition and hashed
# all 4.5 million checks instead (19 s). Days come back as numbers: no timestamp to parse.

_DOWN_DAYS_SQL = f"""
    WITH spans AS (
        SELECT service_id, greatest(started_at, %(first)s) AS s,
               least(coalesce(ended_at, %(now)s), %(now)s) AS e
        FROM {Downtime._meta.db_table}
        WHERE service_id = ANY(%(ids)s::bigint[]) AND started_at < %(now)s
          AND (ended_at IS NULL OR ended_at > %(first)s)
    )
    SELECT service_id, d.i, count(*),
           sum(extract(epoch FROM
               least(e, %(first)s::timestamptz + (d.i + 1) * interval '1 day')
               - greatest(s, %(first)s::timestamptz + d.i * interval '1 day')))
    FROM spans
    CROSS JOIN LATERAL generate_series(
        floor(extract(epoch FROM s - %(first)s) / 86400)::int,
        floor(extract(epoch FROM e - %(first)s - interval '1 microsecond') / 86400)::int
    ) AS d(i)
    WHERE e > s
    GROUP BY 1, 2
"""  # noqa: S608 - our table's name
# Each downtime's seconds in each UTC day it covers, summed per service and day: the
# same clipping as `_clipped`, in the database (3,000 downtimes' timestamps parsed one by
# one in Python took 100 ms).


def _days_with_checks(ids: list[int], first: datetime, low: int, high: int) -> set[tuple[int, int]]:
    """(service id, day number from `first`) of the days from `low` to `high` with a check."""
    if not ids or low > high:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(_CHECKED_DAYS_SQL, {"ids": ids, "low": low, "high": high, "first": first})
        return set(cursor.fetchall())


def _downtime_by_day(
    ids: list[int], first: datetime, now: datetime
) -> dict[tuple[int, int], tuple[int, float]]:
    """{(service id, day number from `first`): (downtimes, seconds down)} up to `now`."""
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_DOWN_DAYS_SQL, {"ids": ids, "first": first, "now": now})
        return {(pk, i): (n, float(seconds)) for pk, i, n, seconds in cursor.fetchall()}


def _seen_since(service: MonitoredService, start: datetime) -> bool:
    return service.last_checked_at is not None and service.last_checked_at >= start


def uptime_days(
    *,
    services: Sequence[MonitoredService],
    days: int = UPTIME_DAYS,
    now: datetime | None = None,
) -> dict[int, list[UptimeDay]]:
    """Each service's uptime per UTC day, oldest first, `days` of them ending with today
    (so far): {service id: [UptimeDay, ...]}. A day's uptime is the SLA's (downtime from
    the first failed check to the first good one), over the part of the day the service
    was monitored. No data (None) for a day before the service existed, or with no check
    and no downtime; for days older than the checks' retention (the checks are purged,
    the downtimes kept) having been checked since counts, as in `sla_report`.

    Two queries whatever `days` and the number of services, both aggregated per day in
    PostgreSQL: the downtimes' seconds, and whether a check ran (one index probe each)."""
    now = now or timezone.now()
    first = _day_start(now) - (days - 1) * DAY
    ids = [service.pk for service in services]
    down = _downtime_by_day(ids, first, now)
    cutoff = checks_retention_cutoff(now=now)
    # Days before the cutoff's day hold no check any more: not asked.
    low = max(0, (_day_start(cutoff) - first).days)
    checked = _days_with_checks(ids, first, low, days - 1)
    # In seconds since the epoch: 9,000 service-days of datetime arithmetic cost 50 ms.
    first_s, now_s, cutoff_s = first.timestamp(), now.timestamp(), cutoff.timestamp()
    dates = [(first + i * DAY).date() for i in range(days)]
    answer: dict[int, list[UptimeDay]] = {}
    for service in services:
        pk, created = service.pk, service.created_at.timestamp()
        seen = service.last_checked_at.timestamp() if service.last_checked_at else None
        row: list[UptimeDay] = []
        for i in range(days):
            day_start = first_s + i * 86400
            start, end = max(day_start, created), min(day_start + 86400, now_s)
            key = (pk, i)
            hit = down.get(key)
            observed = start < end and (
                hit is not None
                or key in checked
                or (day_start < cutoff_s and seen is not None and seen >= start)
            )
            if not observed:
                row.append(UptimeDay(dates[i], None, 0.0, 0, 0.0))
            elif hit is None:  # most days: no downtime
                row.append(UptimeDay(dates[i], 100.0, 0.0, 0, round(end - start, 3)))
            else:
                count, seconds = hit
                uptime = round(_uptime_percentage(seconds, end - start), 4)
                row.append(
                    UptimeDay(dates[i], uptime, round(seconds, 3), count, round(end - start, 3))
                )
        answer[pk] = row
    return answer


def uptime_over_days(days: Sequence[UptimeDay]) -> float | None:
    """The uptime percentage over these days' monitored time (the days with data); None
    when none has data."""
    monitored = sum(day.monitored_seconds for day in days if not day.no_data)
    if not monitored:
        return None
    down = sum(day.downtime_seconds for day in days if not day.no_data)
    return round(_uptime_percentage(down, monitored), 4)


def uptime_windows(
    *, services: Sequence[MonitoredService], now: datetime | None = None
) -> dict[int, dict[str, float | None]]:
    """Each service's uptime percentage over the last 24 h, 7 d and 30 d (UPTIME_WINDOWS),
    as `sla_report` gives it for the same window: {service id: {"24h": 99.98, "7d": ...,
    "30d": None}}, None: no data then. One query (the downtimes) for all services."""
    now = now or timezone.now()
    longest = max(UPTIME_WINDOWS.values())
    ids = [service.pk for service in services]
    downtimes = _downtimes_since(ids, now - longest, now)
    answer: dict[int, dict[str, float | None]] = {}
    for service in services:
        figures: dict[str, float | None] = {}
        for label, length in UPTIME_WINDOWS.items():
            start = min(max(now - length, service.created_at), now)
            outages = _clipped(downtimes[service.pk], start, now)
            # Checked since the window began: a check in it (see _observed).
            if not outages and not (start < now and _seen_since(service, start)):
                figures[label] = None
                continue
            down = sum(outage.seconds for outage in outages)
            uptime = _uptime_percentage(down, (now - start).total_seconds())
            figures[label] = round(uptime, 4)
        answer[service.pk] = figures
    return answer


def service_downtimes(
    *, service: MonitoredService, since: datetime, until: datetime | None = None
) -> list[Outage]:
    """The service's downtimes overlapping [since, until) (until: now), newest first,
    clipped to the window; `ongoing` while still down (then `end` is the window's end).
    `error` is the first failed check's: for staff only, never for the status page."""
    until = until or timezone.now()
    downtimes = _downtimes_since([service.pk], since, until)[service.pk]
    return list(reversed(_clipped(downtimes, since, until)))


@dataclass(frozen=True)
class ResponseTimeBucket:
    """The checks in [start, start + interval): their count, failed ones, and response
    times (None when no check in it measured one: a heartbeat's, say)."""

    start: datetime
    checks: int
    failed: int
    avg_ms: float | None
    p95_ms: float | None
    max_ms: float | None


def response_time_series(
    *,
    service: MonitoredService,
    since: datetime,
    until: datetime | None = None,
    interval_seconds: int = 3600,
) -> list[ResponseTimeBucket]:
    """The service's checks in [since, until) per `interval_seconds` bucket (aligned on
    `since`), oldest first, aggregated in PostgreSQL; buckets without a check are left
    out. Checks are kept MONITORING_CHECK_RETENTION_DAYS: older buckets are missing."""
    until = until or timezone.now()
    bucket = Func(
        Value(timedelta(seconds=interval_seconds)),
        F("checked_at"),
        Value(since),
        function="date_bin",
        output_field=DateTimeField(),
    )
    rows = (
        HealthCheck.objects.filter(service=service, checked_at__gte=since, checked_at__lt=until)
        .annotate(bucket=bucket)
        .values("bucket")
        .annotate(
            checks=Count("*"),  # not Count("id"): id is not in the covering index
            failed=Count("status", filter=Q(status=HealthStatus.UNHEALTHY)),
            avg_ms=Avg("response_time_ms"),
            p95_ms=Percentile("response_time_ms", 0.95),
            max_ms=Max("response_time_ms"),
        )
        .order_by("bucket")
    )
    return [
        ResponseTimeBucket(
            start=row["bucket"],
            checks=row["checks"],
            failed=row["failed"],
            avg_ms=rounded(row["avg_ms"]),
            p95_ms=rounded(row["p95_ms"]),
            max_ms=rounded(row["max_ms"]),
        )
        for row in rows
    ]


def heartbeat_pings(*, service: MonitoredService, limit: int = 50) -> list[datetime]:
    """When the heartbeat's job last pinged, newest first (at most `limit`; pings are
    checks, kept MONITORING_CHECK_RETENTION_DAYS). Empty for another check type."""
    return list(
        HealthCheck.objects.filter(service=service, ping=True)
        .order_by("-checked_at", "-id")
        .values_list("checked_at", flat=True)[:limit]
    )


def service_uptime(
    *, service: MonitoredService, days: int = UPTIME_DAYS, now: datetime | None = None
) -> dict:
    """What a service's uptime page shows: its status now, uptime over 24 h / 7 d / 30 d,
    its daily uptime (`days`, oldest first), its downtimes over those days (newest
    first), and the SLA report over the last 30 days (target, compliance, error budget
    left: `sla_report`'s). Serialized by serializers.ServiceUptimeOut."""
    now = now or timezone.now()
    first = _day_start(now) - (days - 1) * DAY
    sla_start = now - UPTIME_WINDOWS["30d"]
    return {
        "service": _service_health(service, now),
        "service_id": service.pk,
        "sla_target": service.sla_target,
        "uptime": uptime_windows(services=[service], now=now)[service.pk],
        "days": uptime_days(services=[service], days=days, now=now)[service.pk],
        "downtimes": service_downtimes(service=service, since=first, until=now),
        "sla": sla_report(service, since=sla_start, until=now),
    }


def service_states(
    *, services: Sequence[MonitoredService], now: datetime | None = None
) -> dict[int, str]:
    """Each service's status now, by id: its last check's, or `unknown` when checks
    stopped (two runs missed) or none ran yet (as `health_summary` reports it)."""
    now = now or timezone.now()
    return {service.pk: _service_health(service, now)["status"] for service in services}


def public_services() -> QuerySet[MonitoredService]:
    """The enabled services staff marked public (the status page's), by public name."""
    return (
        MonitoredService.objects.filter(public=True, enabled=True)
        .annotate(shown=Coalesce(NullIf("public_name", Value("")), "name"))
        .order_by("shown", "pk")
    )
