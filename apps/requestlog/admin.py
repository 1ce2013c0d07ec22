from django.contrib import admin

from apps.core.admin import RecordAdmin

from .models import APIRequestLog


@admin.register(APIRequestLog)
class APIRequestLogAdmin(RecordAdmin):
    list_display = [
        "timestamp",
        "method",
        "endpoint",
        "status_code",
        "response_time_ms",
        "service",
        "user_id",
    ]
    list_filter = ["method", "status_code", "service"]
    search_fields = ["endpoint", "request_id", "user_id", "=event_id"]
