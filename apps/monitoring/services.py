"""Running checks and recording what they found; changes to monitored services.

A due service is claimed by moving its `next_check_at` in one conditional update,
so two runners at once (beat, `run_health_checks`) never check it twice; the checks
run in threads, each bounded by its own timeout, so one hanging service delays
nobody; results are written by the caller, one transaction per service.
"""

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import alerting, checks
from .models import Downtime, HealthCheck, HealthStatus, MonitoredService

logger = logging.getLogger(__name__)

MAX_PARALLEL_CHECKS = 64
FAILED = (HealthStatus.UNHEALTHY,)


def checks_run_due(*, now: datetime | None = None, all_services: bool = False) -> list[HealthCheck]:
    """Check every service that is due (or, with `all_services`, every enabled one)."""
    now = now or timezone.now()
    services = _claim(now, all_services)
    if not services:
        return []
    results: dict[int, checks.Result] = {}
    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_CHECKS, len(services)))
    try:
        futures = {pool.submit(checks.run, service, now): service for service in services}
        longest = max(service.timeout_seconds for service in services)
        done, late = wait(futures, timeout=longest + 1)
        for future in done:
            results[futures[future].pk] = future.result()
        for future in late:  # a check that ignored its timeout: unhealthy, not waited for
            results[futures[future].pk] = checks.Result(
                HealthStatus.UNHEALTHY, None, "timed out (the check overran its timeout)"
            )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    recorded = []
    for service in services:
        try:
            recorded.append(check_record(service.pk, results[service.pk], at=now))
        except Exception:
            logger.exception("monitoring: the check of %s could not be recorded", service.name)
    alerting.services_down_record()
    return recorded


def _claim(now: datetime, all_services: bool) -> list[MonitoredService]:
    candidates = MonitoredService.objects.filter(enabled=True)
    if not all_services:
        candidates = candidates.filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
    claimed = []
    for service in candidates:
        moved = MonitoredService.objects.filter(
            pk=service.pk, next_check_at=service.next_check_at
        ).update(next_check_at=now + timedelta(seconds=service.interval_seconds))
        if moved:
            claimed.append(service)
    return claimed


def check_record(service_id: int, result: checks.Result, *, at: datetime) -> HealthCheck:
    """Store one check and move the service's state and downtimes with it."""
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
    """A ping from the job a heartbeat watches: a healthy check now; None if no such token."""
    now = now or timezone.now()
    service = MonitoredService.objects.filter(ping_token=token, check_type="heartbeat").first()
    if service is None:
        return None
    MonitoredService.objects.filter(pk=service.pk).update(
        last_ping_at=now,
        next_check_at=now + timedelta(seconds=service.interval_seconds + service.grace_seconds),
    )
    check_record(service.pk, checks.Result(HealthStatus.HEALTHY, None), at=now)
    return service


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
    return service


def service_delete(*, service: MonitoredService, actor: str) -> None:
    with transaction.atomic():
        alerting.service_rule_delete(service, actor=actor)
        service.delete()
