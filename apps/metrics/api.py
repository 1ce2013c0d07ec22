from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.query import hours_query
from apps.ingest.api import IngestView, ingest_schema

from . import exposition, selectors
from . import serializers as out
from .schemas import MetricIn


def parse_tags(values: list[str]) -> dict[str, str]:
    """`?tag=key:value`, repeatable; all must match."""
    tags: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition(":")
        if not sep or not key:
            raise serializers.ValidationError({"tag": [f"{raw!r} is not key:value."]})
        tags[key] = value
    return tags


TAG_PARAMETER = OpenApiParameter(
    "tag",
    str,
    many=True,
    explode=True,
    description="key:value; repeat the parameter for more tags (all must match).",
)
StatisticsQuery = hours_query()
TimeSeriesQuery = hours_query(
    interval=serializers.ChoiceField(choices=list(selectors.INTERVALS), default="1h"),
    agg=serializers.ChoiceField(choices=selectors.AGGREGATES, default="avg"),
)


class MetricRecordView(IngestView):
    kind = "metric"

    @ingest_schema(MetricIn, "Record custom metrics (counter, gauge, histogram, timer)")
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class MetricStatisticsView(APIView):
    @extend_schema(
        summary="Statistics of one metric over a window",
        parameters=[StatisticsQuery, TAG_PARAMETER],
        responses={200: out.StatisticsOut},
        tags=["metrics"],
    )
    def get(self, request, name: str):
        query = StatisticsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        tags = parse_tags(request.query_params.getlist("tag"))
        return Response(selectors.metric_statistics(name=name, tags=tags, **query.validated_data))


class MetricTimeSeriesView(APIView):
    @extend_schema(
        summary="Time series of one metric: aligned buckets with count and the aggregate",
        parameters=[TimeSeriesQuery, TAG_PARAMETER],
        responses={200: out.TimeSeriesOut},
        tags=["metrics"],
    )
    def get(self, request, name: str):
        query = TimeSeriesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        tags = parse_tags(request.query_params.getlist("tag"))
        return Response(selectors.metric_time_series(name=name, tags=tags, **query.validated_data))


class FirstRendererNegotiation(BaseContentNegotiation):
    """Errors are always JSON, whatever a scraper's Accept header asks for."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class PrometheusView(APIView):
    """`/metrics` in the Prometheus text format (read key or staff)."""

    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        summary="Prometheus exposition of recorded metrics and this service's own figures",
        responses={(200, "text/plain"): str},
        tags=["metrics"],
    )
    def get(self, request):
        return HttpResponse(exposition.render(), content_type=CONTENT_TYPE_LATEST)


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
        return Response(selectors.performance_summary(**query.validated_data))
