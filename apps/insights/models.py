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
