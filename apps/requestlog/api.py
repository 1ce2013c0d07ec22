from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.params import hours_query
from apps.ingest.api import IngestView

from . import selectors
from . import serializers as out

ApiPerformanceQuery = hours_query(
    endpoint=serializers.CharField(
        required=False, max_length=500, help_text="Only this endpoint (exact path)."
    )
)


class RequestLogIngestView(IngestView):
    kind = "request_log"
    summary = "Ship request logs from another service"


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
        return Response(
            out.ApiPerformanceOut(selectors.api_performance(**query.validated_data)).data
        )
