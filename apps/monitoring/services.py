"""Running checks and recording what they found; changes to monitored services.

A due service is claimed by moving its `next_check_at` in one conditional update,
so two runners at once (beat, `run_health_checks`) never check it twice; the checks
run in threads, each bounded by its own timeout, and each result is stored as it
comes in (one transaction per service), so one hanging service delays nobody.
Storing a check also moves the service's incident (alerting.py). Every write to a
service, from the API, the admin, a command or a task, goes through the functions
at the end, which hold the guards (a built-in check cannot be deleted).
"""

import logging
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from apps.core.secrets import lookup_digest
from apps.ingest.partitions import partitions_expired_drop, time_table
from apps.ingest.retention import RetentionTarget, expired_purge

from . import alerting, checks
from .models import Downtime, HealthCheck, HealthStatus, MonitoredService
from .selectors import checks_retention_cutoff

logger = logging.getLogger(__name__)

MAX_PARALLEL_CHECKS = 64
FAILED = (HealthStatus.UNHEALTHY,)


def checks_run_due(*, now: datetime | None = None, all_services: bool = False) -> list[HealthCheck]:
    """Check every service that is due (or, with `all_services`, every enabled one)."""
    now = now or timezone.now()
    services = _claim(now, all_services)
    if not services:
        return []
    recorded: list[HealthCheck] = []
    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_CHECKS, len(services)))
    try:
        futures = {pool.submit(_run_in_thread, service, now): service for service in services}
        pending = set(futures)
        longest = max(service.timeout_seconds for service in services)
        try:  # each result is stored as it comes: nobody waits for the slowest
            for future in as_completed(futures, timeout=longest + 1):
                pending.discard(future)
                _record(recorded, futures[future], future.result(), now)
        except TimeoutError:
            pass
        for future in pending:  # a check that ignored its timeout: unhealthy, not waited for
            late = checks.Result(
                HealthStatus.UNHEALTHY, None, "timed out (the check overran its timeout)"
            )
            _record(recorded, futures[future], late, now)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    alerting.services_down_record()
    return recorded


def _record(
    recorded: list[HealthCheck], service: MonitoredService, result: checks.Result, now: datetime
) -> None:
    try:
        recorded.append(check_record(service.pk, result, at=now))
    except Exception:
        logger.exception("monitoring: the check of %s could not be recorded", service.name)


def _run_in_thread(service: MonitoredService, now: datetime) -> checks.Result:
    try:
        return checks.run(service, now)
    finally:
        connections.close_all()  # what a custom check opened in this thread dies with it


def _claim(now: datetime, all_services: bool) -> list[MonitoredService]:
    """Move the due services' next check one interval on, in one statement, and return
    them: a row another runner moved first no longer matches, so it is checked once."""
    table = MonitoredService._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} SET next_check_at = %s + make_interval(secs => interval_seconds)
            WHERE enabled AND (%s OR next_check_at IS NULL OR next_check_at <= %s)
            RETURNING id
            """,
            [now, all_services, now],
        )
        claimed = [row[0] for row in cursor.fetchall()]
    return list(MonitoredService.objects.filter(pk__in=claimed).order_by("pk"))


def check_record(
    service_id: int, result: checks.Result, *, at: datetime, ping: bool = False
) -> HealthCheck:
    """Store one check and move the service's state and downtimes with it (`ping`: the
    check is a heartbeat's ping, listed by selectors.heartbeat_pings)."""
    with transaction.atomic():
        service = MonitoredService.objects.select_for_update().get(pk=service_id)
        failed = result.status in FAILED
        failures = service.consecutive_failures + 1 if failed else 0
        check = HealthCheck.objects.create(
            service=service,
            status=result.status,
            response_time_ms=result.response_time_ms,
            error=result.error,
            consecutive_failures=failures,
            checked_at=at,
            ping=ping,
        )
        if result.status != HealthStatus.UNKNOWN:
            _downtime(service, failed, at, result.error)
        service.status = result.status
        service.consecutive_failures = failures
        service.last_checked_at = at
        service.last_response_time_ms = result.response_time_ms
        service.last_error = result.error
        service.save(
            update_fields=[
                "status",
                "consecutive_failures",
                "last_checked_at",
                "last_response_time_ms",
                "last_error",
            ]
        )
        alerting.service_incident_follow(service, failures=failures, error=result.error, at=at)
    alerting.services_down_follow(at=at)
    alerting.check_figures_record(service, failures, result.response_time_ms)
    return check


def _downtime(service: MonitoredService, failed: bool, at: datetime, error: str) -> None:
    open_downtime = Downtime.objects.filter(service=service, ended_at__isnull=True)
    if failed:
        if not open_downtime.exists():
            try:
                with transaction.atomic():
                    Downtime.objects.create(service=service, started_at=at, error=error)
            except IntegrityError:
                pass  # opened by another runner: one downtime per outage
    else:
        open_downtime.update(ended_at=at)


def heartbeat_ping(*, token: str, now: datetime | None = None) -> MonitoredService | None:
    """A ping from the job a heartbeat watches: a healthy check now; None if no such token.
    A disabled service's ping is not recorded (as Healthchecks.io answers, and ignores, a
    ping to a check paused until resumed by hand): the service is returned unchanged."""
    now = now or timezone.now()
    service = MonitoredService.objects.filter(
        ping_digest=lookup_digest(token), check_type="heartbeat"
    ).first()
    if service is None or not service.enabled:
        return service
    MonitoredService.objects.filter(pk=service.pk).update(
        last_ping_at=now,
        next_check_at=now + timedelta(seconds=service.interval_seconds + service.grace_seconds),
    )
    check_record(service.pk, checks.Result(HealthStatus.HEALTHY, None), at=now, ping=True)
    return service


class ServiceProtectedError(Exception):
    """A change refused for what the service is (deleting a built-in check): the API
    answers 409, the admin shows the sentence."""


def service_create(*, data: dict, actor: str) -> MonitoredService:
    """Monitor a service, with its rule in the alerting (see alerting.py)."""
    with transaction.atomic():
        service = MonitoredService.objects.create(**data, created_by=actor)
        alerting.service_rule_ensure(service, actor=actor)
    return service


def service_update(*, service: MonitoredService, data: dict, actor: str) -> MonitoredService:
    """Change a service; its rule follows a new name, threshold or interval (other edits
    made to the rule in the alerting stay)."""
    old_name = service.name
    with transaction.atomic():
        for field, value in data.items():
            setattr(service, field, value)
        if "interval_seconds" in data:
            service.next_check_at = None  # check soon, then at the new interval
        service.save()
        if service.name != old_name:
            alerting.service_rule_rename(old_name, service, actor=actor)
        if {"name", "failure_threshold", "interval_seconds"} & set(data):
            alerting.service_rule_ensure(service, actor=actor)
    if data.get("enabled") is False:  # no check will resolve its incident: this does
        alerting.service_incident_follow(
            service, failures=0, error="", at=timezone.now(), note=f"{service.name} was disabled"
        )
    if {"enabled", "failure_threshold"} & set(data):  # it may count as down no more, or now
        alerting.services_down_follow(at=timezone.now())
    return service


def service_delete_guard(service: MonitoredService) -> None:
    """ServiceProtectedError if the service may not be deleted (the one place that says so)."""
    if service.builtin:
        raise ServiceProtectedError("A built-in check cannot be deleted; set enabled to false.")


def service_delete(*, service: MonitoredService, actor: str) -> None:
    """Stop monitoring it: its rule is deleted (its open incident resolved, the incidents
    kept) and so are its checks and downtimes. ServiceProtectedError for a built-in check."""
    service_delete_guard(service)
    with transaction.atomic():
        # The service's row first, as a check being stored takes it (then the rule's).
        MonitoredService.objects.select_for_update().filter(pk=service.pk).first()
        alerting.service_rule_delete(service, actor=actor)
        service.delete()
    alerting.services_down_follow(at=timezone.now())


def checks_purge(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Drop the weeks of checks that ended a day before MONITORING_CHECK_RETENTION_DAYS'
    cutoff, and delete the expired checks of the legacy and default partitions in bounded
    batches (PURGE_BATCH_SIZE rows per statement); the number of checks gone. Downtimes
    are kept (one row per outage): the SLA's uptime comes from them, so it outlives the
    checks."""
    now = now or timezone.now()
    target = RetentionTarget("health_check", "health_check", HealthCheck, "checked_at")
    cutoff = checks_retention_cutoff(now=now)
    return partitions_expired_drop(
        table=time_table("health_check"),
        now=now,
        batch=lambda name: expired_purge(
            target=target, cutoff=cutoff, batch_size=batch_size, table=name
        ),
    )


def retention_purge(*, now: datetime) -> dict[str, tuple[int, datetime]]:
    """This app's part of the daily purge (registered with the ingest retention)."""
    return {"monitoring:healthcheck": (checks_purge(now=now), checks_retention_cutoff(now=now))}
