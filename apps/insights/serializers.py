"""Request and response shapes of the insights API; the views answer through these."""

from rest_framework import serializers

from apps.core.params import NonEmptyQuery, bounded_int
from apps.core.serializers import StrictSerializerMixin, UtcDateTimeField
from apps.metrics.serializers import ApiSummary
from apps.monitoring.serializers import HealthSummaryOut

from .models import AgentAnalytics, PlatformMetrics, UserAnalytics
from .periods import PeriodType

PERIOD_HELP = "hour, day, week (ISO, from Monday) or month; UTC."


class BatchTrackIn(StrictSerializerMixin, serializers.Serializer):
    period_type = serializers.ChoiceField(choices=PeriodType.choices, help_text=PERIOD_HELP)
    period_start = serializers.DateTimeField(
        required=False,
        help_text="Any moment of the period to track (default: the last complete one).",
    )
    force = serializers.BooleanField(
        default=False, help_text="Compute again what is already tracked."
    )


class BatchTrackOut(serializers.Serializer):
    period_type = serializers.CharField()
    period_start = UtcDateTimeField()
    period_end = UtcDateTimeField()
    users_tracked = serializers.IntegerField()
    agents_tracked = serializers.IntegerField()
    platform_tracked = serializers.BooleanField()
    skipped_existing = serializers.IntegerField(help_text="Already tracked: left as they were.")


class PeriodQuery(NonEmptyQuery):
    period_type = serializers.ChoiceField(
        choices=PeriodType.choices, default=PeriodType.DAY, help_text=PERIOD_HELP
    )


class TrendsQuery(PeriodQuery):
    periods = bounded_int(1, 366, 30, "The latest tracked periods to return")


class _TrackedOut(serializers.ModelSerializer):
    period_start = UtcDateTimeField()
    period_end = UtcDateTimeField()


class UserAnalyticsOut(_TrackedOut):
    class Meta:
        model = UserAnalytics
        exclude = ["id", "tracked_at"]


class AgentAnalyticsOut(_TrackedOut):
    class Meta:
        model = AgentAnalytics
        exclude = ["id", "tracked_at"]


class PlatformMetricsOut(_TrackedOut):
    class Meta:
        model = PlatformMetrics
        exclude = ["id", "tracked_at"]


class DashboardQuery(NonEmptyQuery):
    days = bounded_int(1, 365, 30, "Days the window covers, ending now")


class CountsOut(serializers.Serializer):
    total = serializers.IntegerField(help_text="Ever seen, up to now.")
    active = serializers.IntegerField(help_text="Seen in the window.")
    new = serializers.IntegerField(help_text="First seen in the window.")


class ContractsOut(serializers.Serializer):
    total = serializers.IntegerField(help_text="Created, up to now.")
    active = serializers.IntegerField(help_text="Created and not completed, cancelled or failed.")
    completed = serializers.IntegerField(help_text="In the window.")


class FinancialOut(serializers.Serializer):
    revenue = serializers.FloatField(help_text="Completed contracts' `amount`, in the window.")
    platform_fees = serializers.FloatField(help_text="Their `platform_fee`.")


class CurrentMetricsOut(serializers.Serializer):
    users = CountsOut()
    agents = CountsOut()
    contracts = ContractsOut()
    financial = FinancialOut()


class MonitoringOut(serializers.Serializer):
    health = HealthSummaryOut()
    open_incidents = serializers.IntegerField()
    open_incidents_by_severity = serializers.DictField(child=serializers.IntegerField())


class DashboardOut(serializers.Serializer):
    current_metrics = CurrentMetricsOut()
    trends = PlatformMetricsOut(many=True, help_text="Tracked days in the window, oldest first.")
    performance = ApiSummary(help_text="This service's and shipped request logs, in the window.")
    monitoring = MonitoringOut()
    days = serializers.IntegerField()
    generated_at = UtcDateTimeField()
