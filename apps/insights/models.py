"""Tracked periods: one row per user, agent or the platform and period, computed once the
period is over. The unique constraints make tracking a period twice a no-op."""

from django.contrib.postgres.fields import ArrayField
from django.db import models

from .periods import PeriodType


class Meaning(models.TextChoices):
    """What an event can mean to the insights; which event types do is configuration."""

    CONTRACT_CREATED = "contract_created"
    CONTRACT_COMPLETED = "contract_completed"
    CONTRACT_CANCELLED = "contract_cancelled"
    CONTRACT_FAILED = "contract_failed"
    CREDITS_PURCHASED = "credits_purchased"
    CREDITS_SPENT = "credits_spent"
    ORCHESTRATION_RUN = "orchestration_run"
    AGENT_CALLED = "agent_called"
    BID_PLACED = "bid_placed"
    CONTRACT_WON = "contract_won"
    VALIDATION_SCORED = "validation_scored"
    REPUTATION_SCORED = "reputation_scored"
    FRAUD_ALERT = "fraud_alert"
    SECURITY_EVENT = "security_event"


class EventMeaning(models.Model):
    """An override, from the admin, of which event types mean `meaning` (the default is
    the INSIGHTS_EVENT_TYPES setting)."""

    meaning = models.CharField(max_length=40, choices=Meaning.choices, unique=True)
    event_types = ArrayField(models.CharField(max_length=100), help_text="Comma separated.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.meaning}: {', '.join(self.event_types)}"


class TrackedPeriod(models.Model):
    period_type = models.CharField(max_length=5, choices=PeriodType.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    tracked_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class UserAnalytics(TrackedPeriod):
    user_id = models.CharField(max_length=255)
    sessions = models.PositiveIntegerField(default=0)
    page_views = models.PositiveIntegerField(default=0)
    actions = models.PositiveIntegerField(default=0)
    active_time_seconds = models.FloatField(default=0)
    contracts_created = models.PositiveIntegerField(default=0)
    contracts_completed = models.PositiveIntegerField(default=0)
    contracts_cancelled = models.PositiveIntegerField(default=0)
    credits_purchased = models.FloatField(default=0)
    credits_spent = models.FloatField(default=0)
    total_spent = models.FloatField(default=0)
    agents_used = models.PositiveIntegerField(default=0)
    orchestrations_run = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "user analytics"
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "period_type", "period_start"], name="user_period_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.period_type} {self.period_start:%Y-%m-%d %H:%M}"


class AgentAnalytics(TrackedPeriod):
    agent_id = models.CharField(max_length=255)
    total_calls = models.PositiveIntegerField(default=0)
    successful_calls = models.PositiveIntegerField(default=0)
    failed_calls = models.PositiveIntegerField(default=0)
    success_rate = models.FloatField(null=True, help_text="Percent; null without calls.")
    p50_response_time_ms = models.FloatField(null=True)
    p95_response_time_ms = models.FloatField(null=True)
    p99_response_time_ms = models.FloatField(null=True)
    uptime_percentage = models.FloatField(null=True, help_text="Of its monitored service.")
    bids_placed = models.PositiveIntegerField(default=0)
    contracts_won = models.PositiveIntegerField(default=0)
    contracts_completed = models.PositiveIntegerField(default=0)
    contracts_failed = models.PositiveIntegerField(default=0)
    revenue = models.FloatField(default=0)
    avg_bid_price = models.FloatField(null=True)
    validation_score = models.FloatField(null=True)
    reputation_score = models.FloatField(null=True)

    class Meta:
        verbose_name_plural = "agent analytics"
        constraints = [
            models.UniqueConstraint(
                fields=["agent_id", "period_type", "period_start"], name="agent_period_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.period_type} {self.period_start:%Y-%m-%d %H:%M}"


class PlatformMetrics(TrackedPeriod):
    total_users = models.PositiveIntegerField(default=0)
    active_users = models.PositiveIntegerField(default=0)
    new_users = models.PositiveIntegerField(default=0)
    churned_users = models.PositiveIntegerField(default=0)
    total_agents = models.PositiveIntegerField(default=0)
    active_agents = models.PositiveIntegerField(default=0)
    new_agents = models.PositiveIntegerField(default=0)
    total_contracts = models.PositiveIntegerField(default=0)
    active_contracts = models.PositiveIntegerField(default=0)
    completed_contracts = models.PositiveIntegerField(default=0)
    failed_contracts = models.PositiveIntegerField(default=0)
    revenue = models.FloatField(default=0)
    platform_fees = models.FloatField(default=0)
    credits_purchased = models.FloatField(default=0)
    credits_spent = models.FloatField(default=0)
    avg_response_time_ms = models.FloatField(null=True)
    error_rate = models.FloatField(default=0, help_text="Share (0-1) of requests >= 400.")
    throughput_per_minute = models.FloatField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    orchestrations = models.PositiveIntegerField(default=0)
    fraud_alerts = models.PositiveIntegerField(default=0)
    security_events = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "platform metrics"
        constraints = [
            models.UniqueConstraint(
                fields=["period_type", "period_start"], name="platform_period_once"
            )
        ]

    def __str__(self) -> str:
        return f"platform {self.period_type} {self.period_start:%Y-%m-%d %H:%M}"


class RollupChunk(models.Model):
    """What the dashboard adds up over [start, end), rolled up once that span is over:
    contiguous spans from the oldest data kept (a day each at first, an hour each after),
    so a window reads the spans inside it and only its edges from the raw rows."""

    start = models.DateTimeField(unique=True)
    end = models.DateTimeField(unique=True)
    contracts_created = models.PositiveIntegerField(default=0)
    contracts_closed = models.PositiveIntegerField(default=0)
    completed_contracts = models.PositiveIntegerField(default=0)
    revenue = models.FloatField(default=0)
    platform_fees = models.FloatField(default=0)
    requests = models.PositiveIntegerField(default=0, help_text="Request logs, every endpoint.")
    rolled_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"rollup {self.start:%Y-%m-%d %H:%M} - {self.end:%Y-%m-%d %H:%M}"


class RequestRollup(models.Model):
    """One endpoint's request logs in one chunk, with their response times' DDSketch
    (apps.metrics.sketch: each percentile read from it within 1%)."""

    chunk = models.ForeignKey(RollupChunk, on_delete=models.CASCADE, related_name="request_rollups")
    endpoint = models.CharField(max_length=500)
    requests = models.PositiveIntegerField()
    ms_sum = models.FloatField()
    errors = models.PositiveIntegerField()
    server_errors = models.PositiveIntegerField()
    min_ms = models.FloatField()
    max_ms = models.FloatField()
    sketch_keys = ArrayField(models.IntegerField())
    sketch_counts = ArrayField(models.BigIntegerField())

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chunk", "endpoint"], name="request_rollup_once")
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} in {self.chunk}"


SEEN_KEY_LENGTH = 255


class SeenKind(models.TextChoices):
    USER = "user"
    AGENT = "agent"


class SeenKey(models.Model):
    """A user or agent the rollup has seen: the chunks of its first and last sighting
    (a time inside a chunk is read from the raw rows when a window starts there)."""

    kind = models.CharField(max_length=5, choices=SeenKind.choices)
    key = models.CharField(max_length=SEEN_KEY_LENGTH)
    first_from = models.DateTimeField()
    first_until = models.DateTimeField()
    last_from = models.DateTimeField()
    last_until = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="seen_key_once")]
        indexes = [models.Index(fields=["kind", "last_until"], name="seen_key_last")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class RollupWatermark(models.Model):
    """The dashboard rollup's one row: the next run re-rolls the chunks holding the
    timestamps of rows received from `received_since` on (items arriving late)."""

    received_since = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"rollup re-reads rows received since {self.received_since:%Y-%m-%d %H:%M}"
