"""Response shapes: the views answer through them and the OpenAPI document is built
from them, so the two cannot drift."""

from rest_framework import serializers

from apps.core.serializers import RowSerializer, UtcDateTimeField


class StateChange(RowSerializer):
    event_id = serializers.UUIDField()
    timestamp = UtcDateTimeField()
    previous_state = serializers.CharField()
    new_state = serializers.CharField()
    changed_by = serializers.CharField()
    reason = serializers.CharField()
    extra_data = serializers.DictField()


class DeviceHistoryOut(serializers.Serializer):
    device_id = serializers.CharField()
    period_hours = serializers.IntegerField()
    since = serializers.DateTimeField()
    state_at_start = serializers.CharField(allow_null=True)
    current_state = serializers.CharField(allow_null=True)
    total_changes = serializers.IntegerField()
    truncated = serializers.BooleanField(
        help_text="More than 5000 changes: the timeline holds the newest 5000."
    )
    time_in_state_seconds = serializers.DictField(child=serializers.FloatField())
    timeline = StateChange(many=True)
