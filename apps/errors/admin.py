from django.contrib import admin

from apps.core.admin import RecordAdmin

from . import services
from .models import ErrorLog


@admin.register(ErrorLog)
class ErrorLogAdmin(RecordAdmin):
    list_display = ["timestamp", "severity", "category", "short_message", "resolved", "resolved_by"]
    list_filter = ["resolved", "severity", "category"]
    search_fields = [
        "error_message",
        "error_code",
        "endpoint",
        "=user_id",
        "=device_id",
        "=event_id",
    ]
    actions = ["mark_resolved", "reopen"]

    @admin.display(description="message")
    def short_message(self, obj: ErrorLog) -> str:
        return obj.error_message[:120]

    @admin.action(description="Mark selected errors resolved", permissions=["resolve"])
    def mark_resolved(self, request, queryset):
        n = services.errors_resolve(errors=queryset, resolved_by=request.user.get_username())
        self.message_user(request, f"{n} error(s) marked resolved.")

    @admin.action(description="Reopen selected errors", permissions=["resolve"])
    def reopen(self, request, queryset):
        n = services.errors_reopen(errors=queryset)
        self.message_user(request, f"{n} error(s) reopened.")

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("errors.change_errorlog")
