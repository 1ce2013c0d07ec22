"""Request and response shapes of the insights API; the views answer through these."""

from rest_framework import serializers

from apps.core.params import NonEmptyQuery, bounded_int
from apps.core.serializers import StrictSerializerMixin, UtcDateTimeField

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
