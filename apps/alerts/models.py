"""Alert rules, the incidents they open, silences, channels and the notifications sent.

Uniqueness that matters is the database's: one unresolved incident per rule (a
partial unique constraint), one delivery per (incident, channel, notification).
"""

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.core.secrets import EncryptedTextField

from .senders import check_target


class Operator(models.TextChoices):
    GT = "gt", ">"
    GTE = "gte", ">="
    LT = "lt", "<"
    LTE = "lte", "<="
    EQ = "eq", "="


class Severity(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class Aggregation(models.TextChoices):
    AVG = "avg"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    COUNT = "count"
    RATE = "rate", "rate (sum per second)"
    P50 = "p50"
    P95 = "p95"
    P99 = "p99"


class NoData(models.TextChoices):
    KEEP_STATE = "keep_state", "keep the state it had"
    ALERT = "alert", "alert (the condition counts as true)"
    RESOLVE = "resolve", "resolve (the condition counts as false)"


class RuleState(models.TextChoices):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


class ChannelType(models.TextChoices):
    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"


class AlertChannel(models.Model):
    name = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=16, choices=ChannelType.choices)
    # Encrypted at rest (a webhook URL's token, a Slack hook's path are credentials);
    # clear in Python for the senders, masked for read keys (apps/core/secrets.py).
    target = EncryptedTextField(max_length=2000, help_text="An email address or a URL.")
    # Signs webhook bodies (HMAC-SHA256); never shown back by the API; encrypted at rest.
    secret = EncryptedTextField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"

    def clean(self) -> None:
        """The admin's forms check the target as the API does (SSRF guard included)."""
        try:
            check_target(self.type, self.target)
        except ValueError as exc:
            raise ValidationError({"target": str(exc)}) from None


class AlertRule(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    metric_name = models.CharField(max_length=200)
    tags = models.JSONField(default=dict, blank=True)
    aggregation = models.CharField(max_length=8, choices=Aggregation.choices, default="avg")
    condition_operator = models.CharField(max_length=3, choices=Operator.choices)
    threshold = models.FloatField()
    # Once firing, the rule resolves only past this value (hysteresis); None: the threshold.
    resolve_threshold = models.FloatField(null=True, blank=True)
    severity = models.CharField(max_length=8, choices=Severity.choices, default="warning")
    duration_seconds = models.PositiveIntegerField(default=0)
    window_seconds = models.PositiveIntegerField(default=300)
    repeat_interval_seconds = models.PositiveIntegerField(default=4 * 3600)
    no_data = models.CharField(max_length=10, choices=NoData.choices, default="keep_state")
    channels = models.ManyToManyField(AlertChannel, blank=True, related_name="rules")
    enabled = models.BooleanField(default=True)
    builtin = models.BooleanField(default=False, editable=False)
    # Evaluation state, written only by the evaluator (under the rule's row lock).
    state = models.CharField(max_length=8, choices=RuleState.choices, default="inactive")
    pending_since = models.DateTimeField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    trigger_count = models.PositiveIntegerField(default=0)
    last_triggered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_seconds__gte=1), name="alertrule_window_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


# Written by the evaluator only (under the rule's row lock).
RULE_STATE_FIELDS = (
    "state",
    "pending_since",
    "last_value",
    "last_evaluated_at",
    "trigger_count",
    "last_triggered_at",
)
# Written by the evaluator and the audit trail, never by a client or a form.
RULE_READ_ONLY_FIELDS = (
    "builtin",
    *RULE_STATE_FIELDS,
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
)


class IncidentStatus(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"
    RESOLVED = "resolved"


UNRESOLVED = (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED, IncidentStatus.SILENCED)


class AlertIncident(models.Model):
    rule = models.ForeignKey(
        AlertRule, null=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    rule_name = models.CharField(max_length=200)  # kept when the rule is deleted
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="later"
    )
    status = models.CharField(max_length=12, choices=IncidentStatus.choices, default="open")
    severity = models.CharField(max_length=8, choices=Severity.choices)
    metric_value = models.FloatField(null=True, help_text="The value when it fired.")
    threshold = models.FloatField()
    condition_operator = models.CharField(max_length=3, choices=Operator.choices)
    last_value = models.FloatField(null=True, blank=True)
    triggered_at = models.DateTimeField()
    acknowledged_by = models.CharField(max_length=200, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=200, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_notes = models.TextField(blank=True)
    auto_resolved = models.BooleanField(default=False)
    # When firing (or repeat) notifications last went out: the next repeat counts from it.
    last_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-triggered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule"],
                condition=~Q(status="resolved"),
                name="alertincident_one_unresolved_per_rule",
            ),
        ]
        indexes = [models.Index(fields=["status", "-triggered_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.rule_name} ({self.status})"


class TimelineKind(models.TextChoices):
    FIRED = "fired"
    REFIRED = "refired", "re-fired"
    NOTIFIED = "notified"
    NOTIFICATION_FAILED = "notification_failed", "notification failed"
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"
    UNSILENCED = "unsilenced"
    RESOLVED = "resolved"


class IncidentEvent(models.Model):
    """One line of an incident's timeline, kept as long as the incident."""

    incident = models.ForeignKey(AlertIncident, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=20, choices=TimelineKind.choices)
    at = models.DateTimeField()
    actor = models.CharField(max_length=200, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}"


class Silence(models.Model):
    """While it lasts, incidents it matches are opened as silenced and nothing is sent."""

    matchers = models.JSONField(
        default=dict, help_text='{"rule_name"?, "severity"?, "tags"?: {...}}: all must match.'
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    comment = models.TextField(blank=True)
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="silence_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"silence #{self.pk} until {self.ends_at:%Y-%m-%d %H:%M}"


class NotificationEvent(models.TextChoices):
    FIRING = "firing"
    REPEAT = "repeat"
    RESOLVED = "resolved"
    TEST = "test"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    # Claimed by one worker, whose request is in flight (no row lock is held meanwhile).
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed", "failed (gave up)"


class Delivery(models.Model):
    """One notification to one channel: its body is fixed when it is made, so every retry
    sends the same bytes and the same delivery id."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(
        AlertIncident, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.ForeignKey(AlertChannel, null=True, on_delete=models.SET_NULL)
    channel_name = models.CharField(max_length=100)
    event = models.CharField(max_length=10, choices=NotificationEvent.choices)
    # Repeats of one incident are numbered, so each is made once (see the constraint).
    sequence = models.PositiveIntegerField(default=0)
    body = models.BinaryField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default="pending")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    # The claim of the worker sending it now: only that worker records the outcome, and
    # the sweeper frees a claim older than the send timeout plus a margin (a dead worker).
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_id = models.UUIDField(null=True, blank=True, editable=False)
    # Why it was given up: the last answer, and whether it was a permanent one.
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "channel_name", "event", "sequence"],
                condition=Q(incident__isnull=False),
                name="delivery_once_per_incident_channel_event",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="delivery_pending_due",
            ),
            # The sweeper's look for claims left by a dead worker (few rows at any time).
            models.Index(
                fields=["claimed_at"],
                condition=Q(status="sending"),
                name="delivery_sending_claimed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.channel_name} ({self.status})"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField()
    ok = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.FloatField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {'ok' if self.ok else 'failed'}"


class BuiltinRuleInstalled(models.Model):
    """A built-in rule installed once here: never again, even after it is deleted."""

    name = models.CharField(max_length=200, unique=True)
    installed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class ConfigChange(models.Model):
    """Who changed which rule, channel or silence, when and how (kept after a deletion).
    Incident changes are on the incident's own timeline."""

    at = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=10)  # created, changed, deleted, expired, tested
    object_type = models.CharField(max_length=10)  # rule, channel, silence
    object_id = models.BigIntegerField()
    object_name = models.CharField(max_length=200)
    changes = models.JSONField(default=dict, blank=True)  # field -> new value

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.object_type} {self.object_name}"
