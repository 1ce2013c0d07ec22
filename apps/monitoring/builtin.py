"""Checks of this service's own parts, installed as monitored services by `make run`
(`install_monitoring_checks`): the database, Redis, the Celery workers, beat and the
outbox. They cannot be deleted (disable one instead)."""

from celery import current_app
from django.conf import settings
from django.db import connections

from apps.core.redis import get_redis
from apps.ingest.selectors import outbox_oldest_age_seconds

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
    age = outbox_oldest_age_seconds()
    limit = settings.INGEST_OUTBOX_STALE_SECONDS
    if age is not None and age > limit:
        return f"the oldest accepted batch has waited {age:.0f} s (> {limit} s)"
    return None


BUILTIN_SERVICES = [
    {"name": "database", "interval_seconds": 30, "timeout_seconds": 5},
    {"name": "redis", "interval_seconds": 30, "timeout_seconds": 5},
    {"name": "celery-workers", "interval_seconds": 30, "timeout_seconds": 5},
    {"name": "celery-beat", "interval_seconds": 30, "timeout_seconds": 5},
    {"name": "outbox-lag", "interval_seconds": 60, "timeout_seconds": 5},
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
