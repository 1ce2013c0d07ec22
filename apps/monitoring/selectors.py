"""Reads: the health summary, one service's recent checks, SLA reports."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, ProgrammingError, connection
from django.db.models import Avg, QuerySet
from django.utils import timezone
from redis import RedisError

from apps.core.aggregates import interpolated
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
    false otherwise; one that is down makes the answer degraded, not unhealthy."""
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
    start: datetime
    end: datetime
    ongoing: bool

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


def sla_report(service: MonitoredService, *, since: datetime, until: datetime) -> dict:
    """Uptime from the downtimes (first failed check to first good one) in the window,
    which starts no earlier than the service's monitoring did. With no check in the
    window there is nothing to report: `status` "no_data", uptime and compliance None."""
    now = timezone.now()
    end = min(until, now)
    start = min(max(since, service.created_at), end)
    period = (end - start).total_seconds()
    outages = [
        Outage(max(d.started_at, start), min(d.ended_at or end, end), d.ended_at is None)
        for d in Downtime.objects.filter(service=service, started_at__lt=end)
        .exclude(ended_at__lte=start)
        .order_by("started_at")
    ]
    # A downtime in the window is an observation too: checks saw it start.
    if not outages and not _observed(service, start, end):
        return _no_data(service, start, end)
    down = sum(outage.seconds for outage in outages)
    uptime = 100.0 if period <= 0 else max(0.0, 100.0 * (1 - down / period))
    times = list(
        HealthCheck.objects.filter(
            service=service,
            checked_at__gte=start,
            checked_at__lt=end,
            response_time_ms__isnull=False,
        )
        .order_by("response_time_ms")
        .values_list("response_time_ms", flat=True)
    )
    average = HealthCheck.objects.filter(
        service=service, checked_at__gte=start, checked_at__lt=end
    ).aggregate(avg=Avg("response_time_ms"))["avg"]
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
        "avg_response_time_ms": average,
        "p95_response_time_ms": interpolated(times, 0.95),
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
