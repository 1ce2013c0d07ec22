from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.params import hours_query
from apps.ingest.api import IngestView

from . import selectors
from . import serializers as out
from .models import ErrorCategory

ErrorTrendsQuery = hours_query(
    category=serializers.ChoiceField(
        choices=ErrorCategory.choices, required=False, help_text="Only this category."
    )
)


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
