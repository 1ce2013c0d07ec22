from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.params import NonEmptyQuery
from apps.core.query import hours_query
from apps.ingest.api import IngestView, ingest_schema

from . import selectors
from . import serializers as out
from .schemas import RequestLogIn


class ApiPerformanceQuery(
    NonEmptyQuery,
    hours_query(
        endpoint=serializers.CharField(
            required=False, max_length=500, help_text="Only this endpoint (exact path)."
        )
    ),
):
    pass


class RequestLogIngestView(IngestView):
    kind = "request_log"

    @ingest_schema(RequestLogIn, "Ship request logs from another service")
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class ApiPerformanceView(APIView):
    @extend_schema(
        summary="API performance per endpoint",
        parameters=[ApiPerformanceQuery],
        responses={200: out.ApiPerformanceOut},
        tags=["metrics"],
    )
    def get(self, request):
        query = ApiPerformanceQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.api_performance(**query.validated_data))
