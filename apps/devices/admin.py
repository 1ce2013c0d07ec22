from django.contrib import admin

from apps.core.admin import RecordAdmin

from .models import DeviceStateHistory


@admin.register(DeviceStateHistory)
class DeviceStateHistoryAdmin(RecordAdmin):
    list_display = ["timestamp", "device_id", "previous_state", "new_state", "changed_by"]
    list_filter = ["new_state", "changed_by"]
    search_fields = ["=device_id", "reason", "=event_id"]
