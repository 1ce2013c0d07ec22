"""Response shapes: the views answer through them and the OpenAPI document is built
from them, so the two cannot drift."""

from rest_framework import serializers

from .models import Event


class EventOut(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "id",
            "event_id",
            "event_type",
            "timestamp",
            "user_id",
            "family_unit_id",
            "session_id",
            "metadata",
            "created_at",
        ]
