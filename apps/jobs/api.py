from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.params import hours_query
from apps.ingest.api import IngestView

from . import selectors
from . import serializers as out

JobOutcomesQuery = hours_query(
    job_type=serializers.CharField(required=False, max_length=255, help_text="Only this job type.")
)


class JobOutcomeIngestView(IngestView):
    kind = "job_outcome"
    summary = "Log job outcomes"


class JobOutcomesView(APIView):
    @extend_schema(
        summary="Job execution statistics",
        parameters=[JobOutcomesQuery],
        responses={200: out.JobOutcomesOut},
        tags=["metrics"],
    )
    def get(self, request):
        query = JobOutcomesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(
            out.JobOutcomesOut(selectors.job_outcome_stats(**query.validated_data)).data
        )
