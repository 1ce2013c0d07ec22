"""Response shapes: the views answer through them and the OpenAPI document is built
from them, so the two cannot drift."""

from rest_framework import serializers


class HourCount(serializers.Serializer):
    hour = serializers.DateTimeField()
    count = serializers.IntegerField()


class BucketCount(serializers.Serializer):
    start = serializers.DateTimeField()
    count = serializers.IntegerField(
        allow_null=True, help_text="Errors in the bucket; null for an empty one with fill=null."
    )


class ErrorTrendsOut(serializers.Serializer):
    period_hours = serializers.IntegerField()
    since = serializers.DateTimeField()
    category = serializers.CharField(allow_null=True)
    severity = serializers.CharField(required=False, help_text="Only with `severity`.")
    total_errors = serializers.IntegerField()
    unresolved_count = serializers.IntegerField()
    by_category = serializers.DictField(child=serializers.IntegerField())
    by_severity = serializers.DictField(child=serializers.IntegerField())
    by_category_severity = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="Counts per category, then per severity (every pair, zeros included).",
    )
    hourly = HourCount(many=True)
    interval = serializers.CharField(required=False, help_text="Only with `interval`.")
    fill = serializers.CharField(required=False, help_text="Only with `interval`.")
    series = BucketCount(
        many=True,
        required=False,
        help_text="Only with `interval`: every bucket from the one holding `since` to the "
        "one holding now (fill=none: only those with errors).",
    )
