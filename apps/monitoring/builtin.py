"""Checks of this service's own parts, installed as monitored services by `make run`
(`install_monitoring_checks`): the database, Redis, the Celery workers, beat and the
outbox. They cannot be deleted (disable one instead)."""

from celery import current_app
from django.conf import settings
from django.db import connections

from apps.core.redis import get_redis
from apps.ingest.selectors import outbox_oldest_age_seconds
from apps.jobs.selectors import periodic_entries

from .checks import custom_check
from .heartbeats import beat_heartbeat_age, live_workers, stale_after_seconds
from .models import MonitoredService
from .services import service_create


@custom_check("database")
def database(timeout: float) -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = %s", [int(timeout * 1000)])
        cursor.execute("SELECT 1")


@custom_check("redis")
def redis(timeout: float) -> None:
    get_redis().ping()


@custom_check("celery-workers")
def celery_workers(timeout: float) -> str | None:
    replies = current_app.control.ping(timeout=min(timeout, 2.0))
    if not replies:
        raise RuntimeError("no Celery worker answered a ping")
    answered = {name for reply in replies for name in reply}
    silent = set(live_workers()) - answered
    if silent:  # alive by their sign, but deaf to the broker: stuck or cut off
        return f"{len(silent)} worker(s) did not answer a ping: {', '.join(sorted(silent))}"
    return None


@custom_check("celery-beat")
def celery_beat(timeout: float) -> None:
    age = beat_heartbeat_age()
    if age is None or age > stale_after_seconds():
        seen = "never" if age is None else f"{age:.0f} s ago"
        raise RuntimeError(f"beat last gave a sign of life {seen}: is it running?")


@custom_check("outbox-lag")
def outbox_lag(timeout: float) -> str | None:
    """Degraded once a batch waits past the sweeper's stale time; down (an incident, as
    for any service) once it waits past INGEST_OUTBOX_ALERT_SECONDS: accepted data is
    not reaching its tables."""
    age = outbox_oldest_age_seconds()
    if age is None or age <= settings.INGEST_OUTBOX_STALE_SECONDS:
        return None
    waited = f"the oldest accepted batch has waited {age:.0f} s"
    if age > settings.INGEST_OUTBOX_ALERT_SECONDS:
        raise RuntimeError(f"{waited} (> {settings.INGEST_OUTBOX_ALERT_SECONDS} s)")
    return f"{waited} (> {settings.INGEST_OUTBOX_STALE_SECONDS} s)"


@custom_check("periodic-tasks")
def periodic_tasks(timeout: float) -> str | None:
    """Down while a periodic task has failed PERIODIC_TASK_FAILURES_ALERT times in a row
    (naming it and its error), degraded while one fails fewer times than that."""
    limit = settings.PERIODIC_TASK_FAILURES_ALERT
    failing = [entry for entry in periodic_entries() if entry.failures_in_a_row]
    said = "; ".join(
        f"{entry.name} failed {entry.failures_in_a_row} time(s) in a row: {entry.last_error}"
        for entry in failing
    )
    if any(entry.failures_in_a_row >= limit for entry in failing):
        raise RuntimeError(said)
    return said or None


BUILTIN_SERVICES = [
    {"name": "database", "interval_seconds": 30, "timeout_seconds": 5},
    {"name": "redis", "interval_seconds": 30, "timeout_seconds": 5},
    {"name": "celery-workers", "interval_seconds": 30, "timeout_seconds": 5},
    {"name": "celery-beat", "interval_seconds": 30, "timeout_seconds": 5},
    # Their failures are sustained already (a batch waiting 5 minutes, a job failing 3 runs
    # in a row): the first failed check opens the incident.
    {"name": "outbox-lag", "interval_seconds": 60, "timeout_seconds": 5, "failure_threshold": 1},
    {
        "name": "periodic-tasks",
        "interval_seconds": 30,
        "timeout_seconds": 5,
        "failure_threshold": 1,
    },
]


def builtin_services_install() -> list[str]:
    """Create the built-in checks that are missing; the names of those created."""
    created = []
    for spec in BUILTIN_SERVICES:
        if MonitoredService.objects.filter(name=spec["name"]).exists():
            continue
        service = service_create(
            data={**spec, "check_type": "custom", "target": spec["name"], "builtin": True},
            actor="system",
        )
        created.append(service.name)
    return created
