"""The users seen each UTC day, rolled up from events, user activity and AI usage, so
DAU/WAU/MAU and retention read a row per user and day instead of every raw row.

Written by the insights rollup (apps.insights.services.dashboard_rollup) as it rolls up
each span, late items included; `UserDaysCovered` says which span the rows answer for,
and the reads take the rest (a fresh deployment, the hour not rolled up yet) from the raw
rows."""

from django.db import models

USER_ID_LENGTH = 255


class UserDay(models.Model):
    """`user_id` was seen on `day` (UTC), in events, user activity or AI usage."""

    day = models.DateField()
    user_id = models.CharField(max_length=USER_ID_LENGTH)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "user_id"], name="user_day_once")]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.day}"


class UserDaysCovered(models.Model):
    """The one row: UserDay holds every user seen in [start, end)."""

    start = models.DateTimeField()
    end = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"user-days from {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"
