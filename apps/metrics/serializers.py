"""Response shapes: the views render through them, so the OpenAPI document and the
answers cannot drift. Fields marked required=False appear only with the
parameters that produce them (`from`/`to`, `group_by`), so old clients see
the old shape."""

from datetime import datetime

from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from .selectors import MAX_GROUPS


class Number(serializers.FloatField):
    """A JSON number as computed: an integer stays an integer (a count, whole hours)."""

    def to_representation(self, value):
        return value if isinstance(value, int) else float(value)


def _percentile(q: int) -> serializers.FloatField:
    return serializers.FloatField(
        allow_null=True,
        help_text=f"p{q}: linear between the closest ranks (percentile_cont); exact up to "
        "METRICS_EXACT_PERCENTILE_POINTS points in the window, within 1% (DDSketch) beyond.",
    )


class GroupFigures(serializers.Serializer):
    value = serializers.CharField(
        allow_null=True, help_text="The group_by tag's value; null for series without that tag."
    )
    count = serializers.IntegerField()
    sum = serializers.FloatField()
    avg = serializers.FloatField(allow_null=True)
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    p50 = _percentile(50)
    p95 = _percentile(95)
    p99 = _percentile(99)


# Factories, not shared instances: DRF orders fields by when they were created.
def _period_hours() -> Number:
    return Number(
        help_text="The window's length in hours (`hours`, or to - from: fractional if not whole)."
    )


def _until() -> serializers.DateTimeField:
    return serializers.DateTimeField(
        required=False, help_text="The window's end (only with from/to)."
    )


def _group_by() -> serializers.CharField:
    return serializers.CharField(
        required=False, help_text="The tag the groups split by (only with group_by)."
    )


def _group_count() -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False, help_text="Groups with points in the window, before truncation."
    )


def _groups_truncated() -> serializers.BooleanField:
    return serializers.BooleanField(
        required=False,
        help_text=f"Whether only the {MAX_GROUPS} biggest groups (by count) are listed; "
        "the totals still count every group.",
    )


class StatisticsOut(serializers.Serializer):
    metric_name = serializers.CharField()
    period_hours = _period_hours()
    since = serializers.DateTimeField()
    until = _until()
    tags = serializers.DictField(child=serializers.CharField())
    count = serializers.IntegerField()
    sum = serializers.FloatField()
    avg = serializers.FloatField(allow_null=True)
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    p50 = _percentile(50)
    p95 = _percentile(95)
    p99 = _percentile(99)
    group_by = _group_by()
    group_count = _group_count()
    groups_truncated = _groups_truncated()
    groups = GroupFigures(
        many=True,
        required=False,
        help_text="With group_by: the figures per tag value, biggest count first.",
    )


class BucketList(serializers.ListSerializer):
    """Many buckets (a series grouped by a busy tag holds ~30,000) in the JSON the bucket
    serializer gives, each field by the same field, without a serializer call per bucket
    (DRF's took ~0.4 s for 30,000, longer than the read)."""

    def to_representation(self, data) -> list[dict]:
        fields = [(name, _shown_by(field)) for name, field in self.child.fields.items()]
        return [
            {name: None if (v := bucket[name]) is None else show(v) for name, show in fields}
            for bucket in data
        ]


def _shown_by(field: serializers.Field):
    """The field's to_representation; for a date-time, the same text with the time zone
    looked up once per list (DRF looks it up per value, most of its cost here)."""
    iso_text = getattr(field, "format", api_settings.DATETIME_FORMAT) == ISO_8601
    if not isinstance(field, serializers.DateTimeField) or not iso_text:
        return field.to_representation
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()

    def iso(value: datetime) -> str:
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return iso


class Bucket(serializers.Serializer):
    start = serializers.DateTimeField()
    count = serializers.IntegerField()
    value = Number(allow_null=True)

    class Meta:
        list_serializer_class = BucketList


class GroupBuckets(serializers.Serializer):
    value = serializers.CharField(
        allow_null=True, help_text="The group_by tag's value; null for series without that tag."
    )
    buckets = Bucket(many=True)


class TimeSeriesOut(serializers.Serializer):
    metric_name = serializers.CharField()
    period_hours = _period_hours()
    interval = serializers.CharField()
    agg = serializers.CharField()
    since = serializers.DateTimeField()
    until = _until()
    tags = serializers.DictField(child=serializers.CharField())
    buckets = Bucket(many=True, help_text="Every matching series together.")
    group_by = _group_by()
    group_count = _group_count()
    groups_truncated = _groups_truncated()
    groups = GroupBuckets(
        many=True, required=False, help_text="With group_by: one bucket list per tag value."
    )


class EndpointLatency(serializers.Serializer):
    endpoint = serializers.CharField()
    request_count = serializers.IntegerField()
    p95_response_time_ms = serializers.FloatField(allow_null=True)


class ApiSummary(serializers.Serializer):
    total_requests = serializers.IntegerField()
    requests_per_minute = serializers.FloatField()
    avg_response_time_ms = serializers.FloatField(allow_null=True)
    p50_response_time_ms = serializers.FloatField(allow_null=True)
    p95_response_time_ms = serializers.FloatField(allow_null=True)
    p99_response_time_ms = serializers.FloatField(allow_null=True)
    error_rate = serializers.FloatField(help_text="Share of responses with status >= 400.")
    server_error_rate = serializers.FloatField(help_text="Share of responses with status >= 500.")
    slowest_endpoints = EndpointLatency(many=True)


class MetricVolume(serializers.Serializer):
    metric_name = serializers.CharField()
    count = serializers.IntegerField()


class PerformanceOut(serializers.Serializer):
    period_hours = serializers.IntegerField()
    since = serializers.DateTimeField()
    api = ApiSummary()
    metrics = MetricVolume(many=True, help_text="Points recorded per metric (whole hours).")


class MetricListed(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="counter, gauge, histogram or timer (most series').")
    unit = serializers.CharField()
    series = serializers.IntegerField(help_text="Label sets recorded under this name.")
    tag_keys = serializers.ListField(child=serializers.CharField())


class MetricNamesOut(serializers.Serializer):
    metrics = MetricListed(many=True)
    truncated = serializers.BooleanField(help_text="More metrics match than `limit`.")


class TagValue(serializers.Serializer):
    value = serializers.CharField()
    series = serializers.IntegerField(help_text="Label sets with this value.")


class TagValuesOut(serializers.Serializer):
    metric_name = serializers.CharField()
    tag_key = serializers.CharField()
    values = TagValue(many=True)
    truncated = serializers.BooleanField(help_text="More values match than `limit`.")
