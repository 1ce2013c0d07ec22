"""The live feed's messages; each push goes through one of these."""

from rest_framework import serializers

from apps.core.serializers import UtcDateTimeField
from apps.monitoring.serializers import SystemHealthOut


class DashboardStatsOut(serializers.Serializer):
    ingest_rate = serializers.FloatField(
        allow_null=True,
        help_text="Items accepted per second since the previous push; null on the first "
        "push of a broadcaster, or after Redis lost its counts.",
    )
    rejected_rate = serializers.FloatField(
        allow_null=True, help_text="Items refused per second, over the same span."
    )
    requests_per_minute = serializers.FloatField(help_text="Over the last 5 minutes.")
    error_rate = serializers.FloatField(
        help_text="Share (0-1) of the requests of the last 5 minutes answered >= 400."
    )
    server_error_rate = serializers.FloatField(help_text="Share (0-1) answered >= 500.")
    open_incidents = serializers.IntegerField(help_text="Unresolved incidents.")
    open_incidents_by_severity = serializers.DictField(child=serializers.IntegerField())
    health = SystemHealthOut(help_text="As GET /api/v1/analytics/health answers it.")
    generated_at = UtcDateTimeField()


class LiveMessage(serializers.Serializer):
    """The envelope of every push."""

    type = serializers.ChoiceField(choices=["ADVANCED_ANALYTICS_STATS", "DASHBOARD_STATS"])
    data = serializers.DictField()
