import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.negotiation import FirstRendererNegotiation
from apps.core.params import NonEmptyQuery, StrictIntegerField, bounded_int, hours_query
from apps.core.replica import on_replica
from apps.core.windows import (
    IntervalField,
    fill_field,
    parse_interval,
    too_many_buckets,
)
from apps.ingest.api import IngestView

from . import exposition, selectors
from . import serializers as out
from .retention import longest_kept_days
from .schemas import LABEL_PATTERN, MAX_TAG_VALUE

# A tag filter as the series store it: a valid tag name, a colon, a value of <= 200 chars.
TAG_FILTER_PATTERN = rf"^{LABEL_PATTERN.pattern}:[\s\S]{{0,{MAX_TAG_VALUE}}}$"


def parse_tags(values: list[str]) -> dict[str, str]:
    """`?tag=key:value`, repeatable; all must match."""
    tags: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition(":")
        if not sep or not LABEL_PATTERN.fullmatch(key) or len(value) > MAX_TAG_VALUE:
            raise serializers.ValidationError(
                {
                    "tag": [
                        f"{raw!r} is not key:value (a tag name, then a value of at most "
                        f"{MAX_TAG_VALUE} characters)."
                    ]
                }
            )
        tags[key] = value
    return tags


TAG_PARAMETER = OpenApiParameter(
    "tag",
    str,
    many=True,
    explode=True,
    pattern=TAG_FILTER_PATTERN,
    description="key:value; repeat the parameter for more tags (all must match).",
)

# `+01:00` sent unencoded in a query string arrives as ` 01:00`.
_UNENCODED_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")


class QueryDateTimeField(serializers.DateTimeField):
    """ISO 8601 in a query string; UTC unless an offset is given."""

    def to_internal_value(self, value):
        if isinstance(value, str):
            value = _UNENCODED_OFFSET.sub(r"\1+\2", value.strip())
        return super().to_internal_value(value)


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class WindowQuery(serializers.Serializer):
    """`hours` or `from`/`to`, and `group_by`. A parameter given empty is an error."""

    def to_internal_value(self, data):
        blank = {
            name: ["May not be empty."]
            for name in self.fields
            if hasattr(data, "get") and data.get(name) == ""
        }
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)

    def validate(self, attrs: dict) -> dict:
        since, until = attrs.get("from"), attrs.get("to")
        if since is None and until is None:
            return attrs
        if "hours" in attrs:
            raise serializers.ValidationError({"hours": ["Give either hours or from/to."]})
        if since is None or until is None:
            missing = "from" if since is None else "to"
            raise serializers.ValidationError({missing: ["from and to go together."]})
        for field, moment in (("from", since), ("to", until)):
            if not EARLIEST <= moment <= LATEST:  # keeps bucket arithmetic inside datetime
                raise serializers.ValidationError(
                    {field: [f"Must be within {EARLIEST:%Y-%m-%d} .. {LATEST:%Y-%m-%d} UTC."]}
                )
        if since >= until:
            raise serializers.ValidationError({"to": ["Must be later than from."]})
        days = longest_kept_days()
        if until - since > timedelta(days=days):
            raise serializers.ValidationError(
                {"from": [f"from..to may span at most {days} days (the longest retention)."]}
            )
        return attrs

    def selector_kwargs(self) -> dict:
        data = dict(self.validated_data)
        return {
            "hours": data.pop("hours", None),
            "since": data.pop("from", None),
            "until": data.pop("to", None),
            "group_by": data.pop("group_by", None),
            **data,
        }


def window_query(name: str, base: type[WindowQuery] = WindowQuery, **extra_fields) -> type:
    fields = {
        "hours": StrictIntegerField(
            min_value=1,
            max_value=selectors.MAX_HOURS,
            required=False,
            help_text=f"Window length in hours, 1-{selectors.MAX_HOURS}, ending now (default "
            f"{selectors.DEFAULT_HOURS}). Or give from and to instead.",
        ),
        "from": QueryDateTimeField(
            required=False,
            help_text="Window start, ISO 8601 (UTC unless an offset is given), with `to`; "
            "from..to spans at most the longest retention (ANALYTICS_RETENTION_DAYS*, 90 days "
            "by default).",
        ),
        "to": QueryDateTimeField(
            required=False, help_text="Window end (exclusive), ISO 8601, later than `from`."
        ),
        "group_by": serializers.RegexField(
            f"^{LABEL_PATTERN.pattern}$",
            required=False,
            help_text="A tag name: the answer also splits per value of that tag (series "
            f"without it under null), the {selectors.MAX_GROUPS} biggest groups by count.",
        ),
        **extra_fields,
    }
    return type(name, (base,), fields)


StatisticsQuery = window_query("MetricStatisticsQuery")


class TimeSeriesWindowQuery(WindowQuery):
    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        if "from" in attrs:
            length = attrs["to"] - attrs["from"]
        else:
            length = timedelta(hours=attrs.get("hours", selectors.DEFAULT_HOURS))
        grouped = "group_by" in attrs
        limit = selectors.MAX_GROUPED_BUCKETS if grouped else selectors.MAX_BUCKETS
        per = " per group (with group_by)" if grouped else ""
        refused = too_many_buckets(length, attrs["interval"], limit, what=per)
        if refused:
            raise serializers.ValidationError({"interval": [refused]})
        return attrs


TimeSeriesQuery = window_query(
    "MetricTimeSeriesQuery",
    base=TimeSeriesWindowQuery,
    interval=IntervalField(
        default=parse_interval(selectors.DEFAULT_INTERVAL),
        help_text="Bucket width: <n>m, <n>h, <n>d or <n>w, a whole number of minutes > 0 "
        "and at most 7 days (1m, 5m, 15m, 2h, 6h, 1d, 1w ...; default "
        f"{selectors.DEFAULT_INTERVAL}). Buckets are aligned to multiples of the width "
        "counted from Monday 2000-01-03 00:00 UTC: 15m, 2h, 6h and 1d start at midnight UTC "
        "and its multiples, 1w on Monday 00:00 UTC. Whole days read day rollups, whole hours "
        "hour rollups, other widths minute rollups. Window length / interval at most "
        f"{selectors.MAX_BUCKETS} ({selectors.MAX_GROUPED_BUCKETS} with group_by), else 400.",
    ),
    agg=serializers.ChoiceField(choices=selectors.AGGREGATES, default="avg"),
    fill=fill_field("none"),
)


class NotComputable(APIException):
    # 409: the stored points (not the request) are in a state that cannot be summed;
    # only rows written past the value range's CHECK constraint can cause it.
    status_code = 409
    default_detail = "The answer cannot be computed from the stored points."
    default_code = "not_computable"


def _computed(selector: Callable[..., dict], **kwargs) -> dict:
    try:
        return selector(**kwargs)
    except selectors.NotComputableError as exc:
        raise NotComputable(str(exc)) from exc


ERRORS = {
    400: OpenApiResponse(description="A parameter is invalid: `fields` names it."),
    409: OpenApiResponse(
        description="The window's points cannot be aggregated (error `not_computable`)."
    ),
}
WINDOW_DESCRIPTION = (
    "Served from minute/hour/day rollups plus raw points at the edges: count, sum, min and "
    "max exact; percentiles (percentile_cont) exact up to 10,000 points in the window, "
    "within 1% beyond. The window is `hours` (ending now) or `from`/`to`. "
    "With `group_by=<tag>` the answer also holds `groups`, one per value of that tag."
)


class MetricRecordView(IngestView):
    kind = "metric"
    summary = "Record custom metrics (counter, gauge, histogram, timer)"


class MetricStatisticsView(APIView):
    @extend_schema(
        summary="Statistics of one metric over a window",
        description=WINDOW_DESCRIPTION,
        parameters=[StatisticsQuery, TAG_PARAMETER],
        responses={200: out.StatisticsOut, **ERRORS},
        tags=["metrics"],
    )
    def get(self, request, name: str):
        query = StatisticsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        tags = parse_tags(request.query_params.getlist("tag"))
        answer = _computed(
            selectors.metric_statistics, name=name, tags=tags, **query.selector_kwargs()
        )
        return Response(out.StatisticsOut(answer).data)


class MetricTimeSeriesView(APIView):
    @extend_schema(
        summary="Time series of one metric: aligned buckets with count and the aggregate",
        description=WINDOW_DESCRIPTION,
        parameters=[TimeSeriesQuery, TAG_PARAMETER],
        responses={200: out.TimeSeriesOut, **ERRORS},
        tags=["metrics"],
    )
    def get(self, request, name: str):
        query = TimeSeriesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        tags = parse_tags(request.query_params.getlist("tag"))
        answer = _computed(
            selectors.metric_time_series, name=name, tags=tags, **query.selector_kwargs()
        )
        return Response(out.TimeSeriesOut(answer).data)


class PrometheusView(APIView):
    """`/metrics` in the Prometheus text format (read key or staff)."""

    content_negotiation_class = FirstRendererNegotiation
    renderer_classes = [JSONRenderer]  # errors; its answer is text, never CSV

    @extend_schema(
        summary="Prometheus exposition of recorded metrics and this service's own figures",
        responses={(200, "text/plain"): str},
        tags=["metrics"],
    )
    def get(self, request):
        with on_replica():  # DATABASE_REPLICA_URL: scraped there
            body = exposition.render()
        return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


PerformanceQuery = hours_query()


class PerformanceView(APIView):
    @extend_schema(
        summary="Performance summary: response times, error rate, throughput",
        parameters=[PerformanceQuery],
        responses={200: out.PerformanceOut},
        tags=["metrics"],
    )
    def get(self, request):
        query = PerformanceQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(
            out.PerformanceOut(selectors.performance_summary(**query.validated_data)).data
        )


class CatalogQuery(NonEmptyQuery):
    search = serializers.CharField(
        required=False, max_length=200, help_text="Part of the name, any case."
    )
    limit = bounded_int(1, selectors.MAX_LISTED, 100, "How many to list")


class MetricNamesView(APIView):
    @extend_schema(
        summary="Recorded metric names with their type, unit, series count and tag keys",
        description="For choosing a metric (autocomplete): names in order, those containing "
        "`search`; each with the tag keys its series have (for `tag` and `group_by`).",
        parameters=[CatalogQuery],
        responses={200: out.MetricNamesOut, 400: ERRORS[400]},
        tags=["metrics"],
    )
    def get(self, request):
        query = CatalogQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(out.MetricNamesOut(selectors.metric_names(**query.validated_data)).data)


class TagValuesView(APIView):
    @extend_schema(
        summary="Values of one tag of a metric, the most used first",
        description="For a tag filter's choices: the values of tag `key` among the metric's "
        "label sets (those containing `search`), by how many label sets have each.",
        parameters=[CatalogQuery],
        responses={200: out.TagValuesOut, 400: ERRORS[400]},
        tags=["metrics"],
    )
    def get(self, request, name: str, key: str):
        if not LABEL_PATTERN.fullmatch(key):
            raise serializers.ValidationError({"key": ["Not a tag name."]})
        query = CatalogQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        answer = selectors.tag_values(name=name, key=key, **query.validated_data)
        return Response(out.TagValuesOut(answer).data)
