"""Monitored services, every check run, and the downtimes their status changes make.

Downtime is measured from status changes (the first failed check to the first good
one), kept as Downtime rows: the SLA reads them, not a count of samples.
"""

import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.core.secrets import EncryptedTextField, lookup_digest
from apps.ingest.models import range_partitioned


class CheckType(models.TextChoices):
    HTTP = "http"
    TCP = "tcp"
    POSTGRES = "postgres", "postgres (a postgres:// URL; SELECT 1)"
    REDIS = "redis", "redis (a redis:// URL; PING)"
    HEARTBEAT = "heartbeat"
    CUSTOM = "custom", "custom (a function registered in code)"


class HealthStatus(models.TextChoices):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"


# Written by the checks and pings, never by a client or a form.
SERVICE_READ_ONLY_FIELDS = (
    "builtin",
    "status",
    "consecutive_failures",
    "last_checked_at",
    "last_response_time_ms",
    "last_error",
    "last_ping_at",
    "created_at",
    "created_by",
)


def new_ping_token() -> str:
    return secrets.token_urlsafe(24)


# The parts GET /api/v1/analytics/health reports of itself: a health_key cannot take them.
SYSTEM_HEALTH_PARTS = ("database", "redis", "celery", "celery_beat", "periodic_tasks")


def validate_health_key(value: str) -> None:
    if value in SYSTEM_HEALTH_PARTS:
        raise ValidationError(
            f"{value!r} is one of the health endpoint's own parts "
            f"({', '.join(SYSTEM_HEALTH_PARTS)}); choose another key."
        )


class MonitoredService(models.Model):
    name = models.CharField(max_length=100, unique=True)
    check_type = models.CharField(max_length=10, choices=CheckType.choices)
    # Encrypted at rest (`http://user:pass@host/?token=` holds credentials the check
    # needs); clear in Python, masked for read keys (apps/core/secrets.py).
    target = EncryptedTextField(
        max_length=2000, blank=True, help_text="A URL (http), host:port (tcp), a function name."
    )
    interval_seconds = models.PositiveIntegerField(default=60)
    timeout_seconds = models.FloatField(default=10)
    expected_status = models.PositiveIntegerField(default=200)
    degraded_above_ms = models.FloatField(null=True, blank=True)
    failure_threshold = models.PositiveIntegerField(default=3)
    sla_target = models.FloatField(default=99.9)
    grace_seconds = models.PositiveIntegerField(default=60, help_text="Heartbeats only.")
    # Whoever has it can ping: encrypted at rest, found by its digest (set on save).
    ping_token = EncryptedTextField(max_length=64, default=new_ping_token)
    ping_digest = models.CharField(max_length=64, unique=True, editable=False)
    enabled = models.BooleanField(default=True)
    health_key = models.SlugField(
        max_length=50,
        blank=True,
        default="",
        validators=[validate_health_key],
        help_text=(
            "Set to list this service in GET /api/v1/analytics/health under services.<key> "
            "(true while it is up), e.g. ollama. Blank: not listed. Unique."
        ),
    )
    # The public status page (/status/) lists a public service under its public name,
    # with its status, uptime and open incidents; never its target, host or errors.
    public = models.BooleanField(
        default=False,
        help_text="Show this service on the public status page /status/ (no sign-in): its "
        "public name, status, daily uptime and open incidents; never its target or errors.",
    )
    public_name = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="The name the status page shows (e.g. API); blank: the service's name.",
    )
    builtin = models.BooleanField(default=False, editable=False)
    # Written by the checks.
    status = models.CharField(max_length=10, choices=HealthStatus.choices, default="unknown")
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_response_time_ms = models.FloatField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_ping_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_seconds__gte=5), name="monitoredservice_interval_min_5"
            ),
            models.UniqueConstraint(
                fields=["health_key"],
                condition=~Q(health_key=""),
                name="monitoredservice_health_key_unique",
                violation_error_message="Another service already has this health_key.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.ping_digest = lookup_digest(self.ping_token)
        if kwargs.get("update_fields") is not None and "ping_token" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "ping_digest"}
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        """The name the public status page shows."""
        return self.public_name or self.name


class HealthCheck(models.Model):
    """One check's outcome (or a heartbeat's ping). The table is partitioned by week of
    `checked_at` (apps/ingest/partitions.py): the daily purge drops whole weeks."""

    service = models.ForeignKey(MonitoredService, on_delete=models.CASCADE, related_name="checks")
    status = models.CharField(max_length=10, choices=HealthStatus.choices)
    response_time_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    checked_at = models.DateTimeField()
    # A heartbeat's ping (recorded as a healthy check), not a check the scheduler ran.
    ping = models.BooleanField(default=False)

    _partitioning_meta = range_partitioned("checked_at")
    partition_period = "week"  # ~1,440 checks a day a service checked every minute

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [
            # One service's recent checks, its SLA window's and its response-time chart's
            # figures, its days with a check (uptime bars): covering, so these read no heap
            # page (the checks of many services interleave: one row per page). 30 days of
            # one service per hour: 45 ms instead of 284 (bench/uptime.py, 100 services).
            models.Index(
                fields=["service", "-checked_at"],
                include=["status", "response_time_ms", "ping"],
                name="healthcheck_service_recent",
            ),
            # The purge of the legacy and default partitions' checks past retention.
            models.Index(fields=["checked_at"], name="healthcheck_checked_at"),
        ]

    def __str__(self) -> str:
        return f"{self.service_id} {self.status} at {self.checked_at:%Y-%m-%d %H:%M:%S}"


class Downtime(models.Model):
    """From the first failed check to the first good one after it (open while down).

    Kept without retention, unlike the checks: one row per outage, and the SLA's uptime
    of any past window is computed from them."""

    service = models.ForeignKey(
        MonitoredService, on_delete=models.CASCADE, related_name="downtimes"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["service"],
                condition=Q(ended_at__isnull=True),
                name="downtime_one_open_per_service",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_id} down from {self.started_at:%Y-%m-%d %H:%M:%S}"
