from django.contrib import admin

from apps.core.admin import RecordAdmin

from .models import DeviceMetric, DeviceStateHistory


@admin.register(DeviceStateHistory)
class DeviceStateHistoryAdmin(RecordAdmin):
    list_display = ["timestamp", "device_id", "previous_state", "new_state", "changed_by"]
    list_filter = ["new_state", "changed_by"]
    search_fields = ["=device_id", "reason", "=event_id"]


@admin.register(DeviceMetric)
class DeviceMetricAdmin(RecordAdmin):
    list_display = ["timestamp", "device_id", "stored_reason"]
    list_filter = ["stored_reason"]
    search_fields = ["=device_id", "=event_id"]
