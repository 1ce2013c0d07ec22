from django.contrib.postgres.indexes import BrinIndex
from django.db import models

from apps.ingest.models import PartitionedRecord


class APIRequestLog(PartitionedRecord):
    """One HTTP request, to this service (middleware) or shipped by another service (a
    partition a day, apps/ingest/partitions.py)."""

    service = models.CharField(max_length=100, blank=True, default="")
    endpoint = models.CharField(max_length=500)
    # The URL pattern that served it (`/api/v1/items/<int:pk>`) when known: the
    # endpoint tag of its metric points, so one route is one series.
    route = models.CharField(max_length=500, blank=True, default="", db_default="")
    method = models.CharField(max_length=10)
    status_code = models.PositiveSmallIntegerField()
    response_time_ms = models.FloatField()
    user_id = models.CharField(max_length=255, blank=True, default="")
    api_key_prefix = models.CharField(max_length=16, blank=True, default="")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True, default="")
    request_size = models.PositiveIntegerField(default=0)
    response_size = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")

    class Meta(PartitionedRecord.Meta):
        verbose_name = "API request log"
        indexes = [
            # api-performance over a window, all endpoints; retention deletes.
            models.Index(fields=["timestamp"], name="reqlog_ts"),
            # api-performance filtered by endpoint.
            models.Index(fields=["endpoint", "timestamp"], name="reqlog_endpoint_ts"),
            BrinIndex(fields=["received_at"], name="reqlog_received"),  # late arrivals
        ]
