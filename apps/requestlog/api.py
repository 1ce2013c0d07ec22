from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.query import hours_parameter, hours_query
from apps.ingest.api import IngestView, ingest_schema

from . import selectors
from .schemas import RequestLogIn

ApiPerformanceQuery = hours_query(
    endpoint=serializers.CharField(required=False, max_length=500, allow_blank=True)
)


class RequestLogIngestView(IngestView):
    kind = "request_log"

    @ingest_schema(RequestLogIn, "Ship request logs from another service")
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class ApiPerformanceView(APIView):
    @extend_schema(
        summary="API performance per endpoint",
        parameters=[
            hours_parameter(),
            OpenApiParameter("endpoint", str, description="Only this endpoint path."),
        ],
        tags=["metrics"],
    )
    def get(self, request):
        query = ApiPerformanceQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.api_performance(**query.validated_data))
