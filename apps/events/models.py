from django.contrib.postgres.indexes import BrinIndex
from django.db import models

from apps.ingest.models import PartitionedRecord


class ActivityType(models.TextChoices):
    PAGE_VIEW = "page_view"
    CLICK = "click"
    SEARCH = "search"
    INTERACTION = "interaction"


class UserActivity(PartitionedRecord):
    """What a user did in a frontend: page views, clicks, searches, interactions (a
    partition a day, apps/ingest/partitions.py)."""

    user_id = models.CharField(max_length=255, blank=True, default="")
    activity_type = models.CharField(max_length=20, choices=ActivityType.choices)
    page_url = models.CharField(max_length=2000, blank=True, default="")
    element_id = models.CharField(max_length=255, blank=True, default="")
    search_query = models.CharField(max_length=1000, blank=True, default="")
    session_id = models.CharField(max_length=255, blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    extra_data = models.JSONField(default=dict, blank=True)

    class Meta(PartitionedRecord.Meta):
        verbose_name = "user activity"
        verbose_name_plural = "user activities"
        indexes = [
            models.Index(fields=["timestamp"], name="activity_ts"),  # time ranges, retention
            models.Index(fields=["user_id", "timestamp"], name="activity_user_ts"),  # per user
            models.Index(fields=["session_id"], name="activity_session"),  # one session
            BrinIndex(fields=["received_at"], name="activity_received"),  # late arrivals
        ]


# The standard event types the replaced system emitted; any snake_case
# type is accepted, these are documented so clients agree on names.
STANDARD_EVENT_TYPES = {
    "authentication": ["user_registered", "user_logged_in", "user_logged_out"],
    "memories": ["memory_posted", "memory_updated", "memory_deleted", "memory_viewed"],
    "interactions": [
        "reaction_created",
        "reaction_deleted",
        "comment_created",
        "comment_updated",
        "comment_deleted",
    ],
    "feed": ["feed_viewed"],
    "family_management": ["invite_created", "invite_accepted", "child_provisioned", "pet_created"],
}


class Event(PartitionedRecord):
    """A discrete product or system event (the replaced system's analytics_events; a
    partition a day, apps/ingest/partitions.py)."""

    event_type = models.CharField(max_length=100)
    user_id = models.CharField(max_length=255, blank=True, default="")
    family_unit_id = models.CharField(max_length=255, blank=True, default="")
    session_id = models.CharField(max_length=255, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_default=models.functions.Now())

    class Meta(PartitionedRecord.Meta):
        indexes = [
            models.Index(fields=["timestamp"], name="event_ts"),  # time ranges, retention
            models.Index(fields=["event_type", "timestamp"], name="event_type_ts"),
            models.Index(fields=["user_id", "timestamp"], name="event_user_ts"),
            models.Index(fields=["family_unit_id", "timestamp"], name="event_group_ts"),
            # What arrived since a moment (the dashboard rollup's late items): rows are
            # appended in received order, so a BRIN range is a few pages, not a scan.
            BrinIndex(fields=["received_at"], name="event_received"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.timestamp:%Y-%m-%d %H:%M:%S}"
