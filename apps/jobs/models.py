from django.db import models

from apps.ingest.models import PartitionedRecord


class JobStatus(models.TextChoices):
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    RETRY = "retry"
    RUNNING = "running"


class JobOutcome(PartitionedRecord):
    """How one execution of a job ended (a partition a day, apps/ingest/partitions.py)."""

    job_id = models.CharField(max_length=255, blank=True, default="")
    job_type = models.CharField(max_length=255)
    device_id = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=20, choices=JobStatus.choices)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=100, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    retry_count = models.PositiveIntegerField(default=0)
    initiated_by = models.CharField(max_length=255, blank=True, default="")
    extra_data = models.JSONField(default=dict, blank=True)

    class Meta(PartitionedRecord.Meta):
        verbose_name = "job outcome"
        indexes = [
            models.Index(fields=["timestamp"], name="job_ts"),  # job-outcomes, retention
            models.Index(fields=["job_type", "timestamp"], name="job_type_ts"),  # by job_type
            models.Index(fields=["device_id", "timestamp"], name="job_device_ts"),
        ]
