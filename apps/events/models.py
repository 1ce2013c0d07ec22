from django.db import models

from apps.core.models import IngestedRecord


class ActivityType(models.TextChoices):
    PAGE_VIEW = "page_view"
    CLICK = "click"
    SEARCH = "search"
    INTERACTION = "interaction"


class UserActivity(IngestedRecord):
    """What a user did in a frontend: page views, clicks, searches, interactions."""

    user_id = models.CharField(max_length=255, blank=True, default="")
    activity_type = models.CharField(max_length=20, choices=ActivityType.choices)
    page_url = models.CharField(max_length=2000, blank=True, default="")
    element_id = models.CharField(max_length=255, blank=True, default="")
    search_query = models.CharField(max_length=1000, blank=True, default="")
    session_id = models.CharField(max_length=255, blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    extra_data = models.JSONField(default=dict, blank=True)

    class Meta(IngestedRecord.Meta):
        verbose_name = "user activity"
        verbose_name_plural = "user activities"
        indexes = [
            models.Index(fields=["timestamp"], name="activity_ts"),  # time ranges, retention
            models.Index(fields=["user_id", "timestamp"], name="activity_user_ts"),  # per user
            models.Index(fields=["session_id"], name="activity_session"),  # one session
        ]
