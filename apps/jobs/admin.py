from django.contrib import admin

from apps.core.admin import RecordAdmin

from .models import JobOutcome


@admin.register(JobOutcome)
class JobOutcomeAdmin(RecordAdmin):
    list_display = ["timestamp", "job_type", "status", "duration_ms", "retry_count", "device_id"]
    list_filter = ["status", "job_type"]
    search_fields = ["=job_id", "job_type", "=device_id", "error_code", "=event_id"]
