from datetime import timedelta

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.params import hours_query
from apps.core.windows import IntervalField, fill_field, too_many_buckets
from apps.ingest.api import IngestView

from . import selectors
from . import serializers as out
from .models import ErrorCategory, Severity


class ErrorTrendsQuery(
    hours_query(
        category=serializers.ChoiceField(
            choices=ErrorCategory.choices, required=False, help_text="Only this category."
        ),
        severity=serializers.ChoiceField(
            choices=Severity.choices, required=False, help_text="Only this severity."
        ),
        interval=IntervalField(
            required=False,
            help_text="Also answer `series`: error counts in buckets of this width (the "
            "hourly series is always there). <n>m, <n>h, <n>d or <n>w, whole minutes up to "
            "7 days; buckets counted from Monday 2000-01-03 00:00 UTC, as metric time series.",
        ),
        fill=fill_field("zero", zero="count 0", null="count null"),
    )
):
    def validate(self, attrs: dict) -> dict:
        if "interval" in attrs:
            refused = too_many_buckets(timedelta(hours=attrs["hours"]), attrs["interval"])
            if refused:
                raise serializers.ValidationError({"interval": [refused]})
        return attrs


class ErrorIngestView(IngestView):
    kind = "error"
    summary = "Log errors (frontend or backend)"


class ErrorTrendsView(APIView):
    @extend_schema(
        summary="Error trend analysis",
        parameters=[ErrorTrendsQuery],
        responses={200: out.ErrorTrendsOut},
        tags=["metrics"],
    )
    def get(self, request):
        query = ErrorTrendsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(out.ErrorTrendsOut(selectors.error_trends(**query.validated_data)).data)
