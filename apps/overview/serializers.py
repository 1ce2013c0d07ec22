"""The overview's shape; the view answers through it."""

from rest_framework import serializers

from apps.core.serializers import UtcDateTimeField


class SystemOut(serializers.Serializer):
    host = serializers.CharField(help_text="The machine that answered.")
    cpu_percent = serializers.FloatField(help_text="Since this process's previous reading.")
    memory_percent = serializers.FloatField()
    memory_used_gb = serializers.FloatField()
    memory_total_gb = serializers.FloatField()
    disk_percent = serializers.FloatField(help_text="Of the root filesystem.")
    uptime_seconds = serializers.FloatField(help_text="Since the machine booted.")
    load_1m = serializers.FloatField()


class OverviewOut(serializers.Serializer):
    system = SystemOut()
    ai = serializers.DictField(help_text="AI usage: empty until AI usage is recorded.")
    usage = serializers.DictField(help_text="Product usage: empty until it is recorded.")
    timestamp = UtcDateTimeField()
