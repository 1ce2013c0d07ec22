"""Response shapes: the views answer through them and the OpenAPI document is built
from them, so the two cannot drift."""

from rest_framework import serializers


class HourCount(serializers.Serializer):
    hour = serializers.DateTimeField()
    count = serializers.IntegerField()


class ErrorTrendsOut(serializers.Serializer):
    period_hours = serializers.IntegerField()
    since = serializers.DateTimeField()
    category = serializers.CharField(allow_null=True)
    total_errors = serializers.IntegerField()
    unresolved_count = serializers.IntegerField()
    by_category = serializers.DictField(child=serializers.IntegerField())
    by_severity = serializers.DictField(child=serializers.IntegerField())
    by_category_severity = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="Counts per category, then per severity (every pair, zeros included).",
    )
    hourly = HourCount(many=True)
