"""Response shapes: the views answer through them and the OpenAPI document is built
from them, so the two cannot drift."""

from rest_framework import serializers


class _Timing(serializers.Serializer):
    avg_response_time_ms = serializers.FloatField(allow_null=True)
    min_response_time_ms = serializers.FloatField(allow_null=True)
    max_response_time_ms = serializers.FloatField(allow_null=True)
    p95_response_time_ms = serializers.FloatField(allow_null=True)
    error_count = serializers.IntegerField(help_text="Responses with status >= 400.")
    server_error_count = serializers.IntegerField(help_text="Responses with status >= 500.")
    error_rate = serializers.FloatField(help_text="error_count / request count, 0..1.")


class EndpointPerformance(_Timing):
    endpoint = serializers.CharField()
    request_count = serializers.IntegerField()


class ApiPerformanceOut(_Timing):
    period_hours = serializers.IntegerField()
    since = serializers.DateTimeField()
    endpoint = serializers.CharField(allow_null=True)
    total_requests = serializers.IntegerField()
    endpoints = EndpointPerformance(many=True)
