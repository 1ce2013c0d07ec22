"""Response shapes: the views answer through them and the OpenAPI document is built
from them, so the two cannot drift."""

from rest_framework import serializers


class JobTypeStats(serializers.Serializer):
    job_type = serializers.CharField()
    total = serializers.IntegerField()
    success_count = serializers.IntegerField()
    success_rate = serializers.FloatField()
    avg_duration_ms = serializers.FloatField(allow_null=True)
    total_retries = serializers.IntegerField()


class JobOutcomesOut(serializers.Serializer):
    period_hours = serializers.IntegerField()
    since = serializers.DateTimeField()
    job_type = serializers.CharField(allow_null=True)
    total_jobs = serializers.IntegerField()
    status_counts = serializers.DictField(child=serializers.IntegerField())
    success_rate = serializers.FloatField()
    avg_duration_ms = serializers.FloatField(allow_null=True)
    total_retries = serializers.IntegerField()
    by_job_type = JobTypeStats(many=True)
