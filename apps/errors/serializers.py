"""Response shapes: the views answer through them and the OpenAPI document is built
from them, so the two cannot drift."""

from django.urls import reverse
from rest_framework import serializers

from apps.core.pagination import MAX_PAGE_SIZE
from apps.core.params import NonEmptyQuery, StrictIntegerField
from apps.core.serializers import StrictSerializerMixin

from .models import (
    ErrorCategory,
    ErrorLog,
    Issue,
    IssueActivity,
    IssueRelease,
    IssueStatus,
    Severity,
)
from .selectors import RELEASES_LIMIT


class HourCount(serializers.Serializer):
    hour = serializers.DateTimeField()
    count = serializers.IntegerField()


class BucketCount(serializers.Serializer):
    start = serializers.DateTimeField()
    count = serializers.IntegerField(
        allow_null=True, help_text="Errors in the bucket; null for an empty one with fill=null."
    )


class ErrorTrendsOut(serializers.Serializer):
    period_hours = serializers.IntegerField()
    since = serializers.DateTimeField()
    category = serializers.CharField(allow_null=True)
    severity = serializers.CharField(required=False, help_text="Only with `severity`.")
    total_errors = serializers.IntegerField()
    unresolved_count = serializers.IntegerField()
    by_category = serializers.DictField(child=serializers.IntegerField())
    by_severity = serializers.DictField(child=serializers.IntegerField())
    by_category_severity = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="Counts per category, then per severity (every pair, zeros included).",
    )
    hourly = HourCount(many=True)
    interval = serializers.CharField(required=False, help_text="Only with `interval`.")
    fill = serializers.CharField(required=False, help_text="Only with `interval`.")
    series = BucketCount(
        many=True,
        required=False,
        help_text="Only with `interval`: every bucket from the one holding `since` to the "
        "one holding now (fill=none: only those with errors).",
    )


# --- issues -------------------------------------------------------------------------


class IssueQuery(NonEmptyQuery):
    status = serializers.ListField(
        child=serializers.ChoiceField(choices=IssueStatus.choices),
        required=False,
        max_length=3,
        help_text="Only these statuses (repeat it, or comma separated).",
    )
    category = serializers.ListField(
        child=serializers.ChoiceField(choices=ErrorCategory.choices),
        required=False,
        max_length=len(ErrorCategory.values),
        help_text="Only these categories.",
    )
    severity = serializers.ListField(
        child=serializers.ChoiceField(choices=Severity.choices),
        required=False,
        max_length=len(Severity.values),
        help_text="Only these severities.",
    )
    release = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Only issues seen in it: with events in this release (any of their "
        "releases, not only the first or the last).",
    )
    page_size = StrictIntegerField(
        required=False, min_value=1, max_value=MAX_PAGE_SIZE, help_text="1-1000 (100)."
    )
    cursor = serializers.CharField(
        required=False, max_length=1000, help_text="From the previous page's `next`."
    )


class PageQuery(NonEmptyQuery):
    page_size = StrictIntegerField(
        required=False, min_value=1, max_value=MAX_PAGE_SIZE, help_text="1-1000 (100)."
    )
    cursor = serializers.CharField(
        required=False, max_length=1000, help_text="From the previous page's `next`."
    )


class IssueOut(serializers.ModelSerializer):
    count_24h = serializers.IntegerField(help_text="Events over the last 24 hours.")
    events_url = serializers.SerializerMethodField()

    class Meta:
        model = Issue
        fields = [
            "id",
            "fingerprint",
            "title",
            "culprit",
            "error_code",
            "category",
            "severity",
            "status",
            "first_seen",
            "last_seen",
            "event_count",
            "count_24h",
            "users_affected",
            "first_release",
            "last_release",
            "regressions",
            "resolved_at",
            "resolved_by",
            "events_url",
        ]

    def get_events_url(self, issue: Issue) -> str:
        return reverse("issue-events", args=[issue.pk])


class ActivityOut(serializers.ModelSerializer):
    class Meta:
        model = IssueActivity
        fields = ["kind", "at", "actor", "event_id", "note"]


class IssueEventOut(serializers.ModelSerializer):
    class Meta:
        model = ErrorLog
        fields = [
            "id",
            "event_id",
            "timestamp",
            "received_at",
            "category",
            "severity",
            "error_message",
            "error_code",
            "endpoint",
            "culprit",
            "release",
            "user_id",
            "device_id",
            "stack_trace",
            "context",
            "resolved",
            "resolved_by",
            "resolved_at",
        ]


class IssueReleaseOut(serializers.ModelSerializer):
    events = serializers.IntegerField(help_text="Its events in this release.")

    class Meta:
        model = IssueRelease
        fields = ["release", "first_seen", "last_seen", "events"]


class IssueDetailOut(IssueOut):
    timeline = ActivityOut(many=True)
    sample_event = IssueEventOut(allow_null=True, help_text="Its latest event.")
    hourly = BucketCount(many=True, help_text="Events per hour over the last 24 hours.")
    releases = IssueReleaseOut(
        many=True,
        help_text="The releases it was seen in, the last seen first: at most "
        f"{RELEASES_LIMIT} "
        "(`releases_truncated` tells whether there are more). Events without a release "
        "are in none.",
    )
    releases_truncated = serializers.BooleanField(
        help_text="Whether it was seen in more releases than `releases` lists."
    )

    class Meta(IssueOut.Meta):
        fields = [
            *IssueOut.Meta.fields,
            "timeline",
            "sample_event",
            "hourly",
            "releases",
            "releases_truncated",
        ]


class IssueBulkIn(StrictSerializerMixin, serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=1000,
        help_text="The issues, 1 to 1000 ids.",
    )
    action = serializers.ChoiceField(choices=["resolve", "ignore", "unresolve"])
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class IssueBulkOut(serializers.Serializer):
    action = serializers.CharField()
    requested = serializers.IntegerField()
    changed = serializers.IntegerField(help_text="Issues whose status changed.")
