from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.params import NonEmptyQuery
from apps.core.query import hours_query
from apps.ingest.api import IngestView, ingest_schema

from . import selectors
from . import serializers as out
from .models import ErrorCategory
from .schemas import ErrorIn


class ErrorTrendsQuery(
    NonEmptyQuery,
    hours_query(
        category=serializers.ChoiceField(
            choices=ErrorCategory.choices, required=False, help_text="Only this category."
        )
    ),
):
    pass


class ErrorIngestView(IngestView):
    kind = "error"

    @ingest_schema(ErrorIn, "Log errors (frontend or backend)")
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


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
        return Response(selectors.error_trends(**query.validated_data))
