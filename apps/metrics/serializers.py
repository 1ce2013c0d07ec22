"""Response shapes, for the OpenAPI document."""

from rest_framework import serializers


class StatisticsOut(serializers.Serializer):
    metric_name = serializers.CharField()
    period_hours = serializers.IntegerField()
    since = serializers.DateTimeField()
    tags = serializers.DictField(child=serializers.CharField())
    count = serializers.IntegerField()
    sum = serializers.FloatField()
    avg = serializers.FloatField(allow_null=True)
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    p50 = serializers.FloatField(allow_null=True, help_text="Within 1% (DDSketch).")
    p95 = serializers.FloatField(allow_null=True, help_text="Within 1% (DDSketch).")
    p99 = serializers.FloatField(allow_null=True, help_text="Within 1% (DDSketch).")


class Bucket(serializers.Serializer):
    start = serializers.DateTimeField()
    count = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)


class TimeSeriesOut(serializers.Serializer):
    metric_name = serializers.CharField()
    period_hours = serializers.IntegerField()
    interval = serializers.CharField()
    agg = serializers.CharField()
    since = serializers.DateTimeField()
    tags = serializers.DictField(child=serializers.CharField())
    buckets = Bucket(many=True)
