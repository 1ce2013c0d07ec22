from django.contrib import admin

from apps.core.admin import RecordAdmin

from .models import Event, UserActivity


@admin.register(UserActivity)
class UserActivityAdmin(RecordAdmin):
    list_display = ["timestamp", "activity_type", "user_id", "page_url", "session_id"]
    list_filter = ["activity_type"]
    search_fields = ["user_id", "page_url", "search_query", "session_id", "=event_id"]


@admin.register(Event)
class EventAdmin(RecordAdmin):
    list_display = ["timestamp", "event_type", "user_id", "family_unit_id", "session_id"]
    list_filter = ["event_type"]
    search_fields = ["=event_type", "=user_id", "=family_unit_id", "=session_id", "=event_id"]
