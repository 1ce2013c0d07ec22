"""The overview's shape; the view answers through it."""

from rest_framework import serializers

from apps.core.serializers import UtcDateTimeField
from apps.usage.serializers import UsageOut


class SystemOut(serializers.Serializer):
    host = serializers.CharField(help_text="The machine that answered.")
    cpu_percent = serializers.FloatField(help_text="Since this process's previous reading.")
    memory_percent = serializers.FloatField()
    memory_used_gb = serializers.FloatField()
    memory_total_gb = serializers.FloatField()
    disk_percent = serializers.FloatField(help_text="Of the root filesystem.")
    uptime_seconds = serializers.FloatField(help_text="Since the machine booted.")
    load_1m = serializers.FloatField()


class AiOut(serializers.Serializer):
    model = serializers.CharField(allow_null=True, help_text="The most used over 24 hours.")
    is_available = serializers.BooleanField(
        allow_null=True,
        help_text="Whether the monitored service of the model (AI_MODEL_SERVICE, or the one "
        "named like the model) is up; null without one.",
    )
    total_requests = serializers.IntegerField()
    avg_response_time = serializers.FloatField(allow_null=True, help_text="Seconds.")
    cache_hit_rate = serializers.FloatField(help_text="Percent of the requests that said.")


class OverviewOut(serializers.Serializer):
    system = SystemOut()
    ai = AiOut()
    usage = UsageOut()
    timestamp = UtcDateTimeField()
