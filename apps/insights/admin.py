from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin

from .models import AgentAnalytics, EventMeaning, PlatformMetrics, UserAnalytics


@admin.register(EventMeaning)
class EventMeaningAdmin(admin.ModelAdmin):
    """Which event types mean what, beyond INSIGHTS_EVENT_TYPES; applies from the next
    tracked period (or a forced `batch-track`)."""

    list_display = ["meaning", "event_types", "updated_at"]


class TrackedAdmin(ReadOnlyAdmin):
    """Tracked periods are computed: `batch-track` with `force` computes them again."""

    date_hierarchy = "period_start"
    list_filter = ["period_type"]
    ordering = ["-period_start"]


@admin.register(UserAnalytics)
class UserAnalyticsAdmin(TrackedAdmin):
    list_display = ["user_id", "period_type", "period_start", "sessions", "actions"]
    search_fields = ["=user_id"]


@admin.register(AgentAnalytics)
class AgentAnalyticsAdmin(TrackedAdmin):
    list_display = ["agent_id", "period_type", "period_start", "total_calls", "success_rate"]
    search_fields = ["=agent_id"]


@admin.register(PlatformMetrics)
class PlatformMetricsAdmin(TrackedAdmin):
    list_display = ["period_type", "period_start", "active_users", "revenue", "api_calls"]
