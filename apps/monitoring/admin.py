from django.contrib import admin
from django.utils.html import format_html

from apps.keys.permissions import request_actor

from .models import SERVICE_READ_ONLY_FIELDS, HealthCheck, MonitoredService

STATUS_COLORS = {"healthy": "#2f855a", "degraded": "#b7791f", "unhealthy": "#c53030"}


@admin.register(MonitoredService)
class MonitoredServiceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "status_badge",
        "check_type",
        "target",
        "interval_seconds",
        "consecutive_failures",
        "last_response_time_ms",
        "last_checked_at",
        "enabled",
    ]
    list_filter = ["status", "check_type", "enabled"]
    search_fields = ["name", "target"]
    readonly_fields = [*SERVICE_READ_ONLY_FIELDS, "ping_token", "next_check_at"]

    @admin.display(description="status", ordering="status")
    def status_badge(self, service: MonitoredService) -> str:
        return format_html(
            '<strong style="color:{}">{}</strong>',
            STATUS_COLORS.get(service.status, "inherit"),
            service.status,
        )

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request_actor(request)
        super().save_model(request, obj, form, change)


@admin.register(HealthCheck)
class HealthCheckAdmin(admin.ModelAdmin):
    list_display = ["checked_at", "service", "status", "response_time_ms", "error"]
    list_filter = ["status", "service"]
    date_hierarchy = "checked_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
