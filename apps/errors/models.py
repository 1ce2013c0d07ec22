from django.db import models

from apps.ingest.models import IngestedRecord


class ErrorCategory(models.TextChoices):
    API = "api"
    DATABASE = "database"
    EXTERNAL_SERVICE = "external_service"
    VALIDATION = "validation"
    FRONTEND = "frontend"


class Severity(models.TextChoices):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class ErrorLog(IngestedRecord):
    """A categorised error, triaged to resolved by staff."""

    category = models.CharField(max_length=32, choices=ErrorCategory.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.ERROR)
    error_message = models.TextField()
    error_code = models.CharField(max_length=100, blank=True, default="")
    endpoint = models.CharField(max_length=500, blank=True, default="")
    user_id = models.CharField(max_length=255, blank=True, default="")
    device_id = models.CharField(max_length=255, blank=True, default="")
    stack_trace = models.TextField(blank=True, default="")
    context = models.JSONField(default=dict, blank=True)
    resolved = models.BooleanField(default=False, db_default=False)
    resolved_by = models.CharField(max_length=255, blank=True, default="", db_default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_notes = models.TextField(blank=True, default="", db_default="")

    class Meta(IngestedRecord.Meta):
        verbose_name = "error"
        indexes = [
            models.Index(fields=["timestamp"], name="error_ts"),  # error-trends, retention
            models.Index(fields=["category", "timestamp"], name="error_category_ts"),
            # unresolved count on error-trends and the admin's default triage view.
            models.Index(
                fields=["timestamp"],
                name="error_unresolved_ts",
                condition=models.Q(resolved=False),
            ),
        ]
