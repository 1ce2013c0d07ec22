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


class EndpointLatency(serializers.Serializer):
    endpoint = serializers.CharField()
    request_count = serializers.IntegerField()
    p95_response_time_ms = serializers.FloatField(allow_null=True)


class ApiSummary(serializers.Serializer):
    total_requests = serializers.IntegerField()
    requests_per_minute = serializers.FloatField()
    avg_response_time_ms = serializers.FloatField(allow_null=True)
    p50_response_time_ms = serializers.FloatField(allow_null=True)
    p95_response_time_ms = serializers.FloatField(allow_null=True)
    p99_response_time_ms = serializers.FloatField(allow_null=True)
    error_rate = serializers.FloatField(help_text="Share of responses with status >= 400.")
    server_error_rate = serializers.FloatField(help_text="Share of responses with status >= 500.")
    slowest_endpoints = EndpointLatency(many=True)


class MetricVolume(serializers.Serializer):
    metric_name = serializers.CharField()
    count = serializers.IntegerField()


class PerformanceOut(serializers.Serializer):
    period_hours = serializers.IntegerField()
    since = serializers.DateTimeField()
    api = ApiSummary()
    metrics = MetricVolume(many=True, help_text="Points recorded per metric (whole hours).")
