from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.params import NonEmptyQuery
from apps.core.query import hours_query
from apps.ingest.api import IngestView, ingest_schema

from . import selectors
from . import serializers as out
from .schemas import JobOutcomeIn


class JobOutcomesQuery(
    NonEmptyQuery,
    hours_query(
        job_type=serializers.CharField(
            required=False, max_length=255, help_text="Only this job type."
        )
    ),
):
    pass


class JobOutcomeIngestView(IngestView):
    kind = "job_outcome"

    @ingest_schema(JobOutcomeIn, "Log job outcomes")
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


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
        return Response(selectors.job_outcome_stats(**query.validated_data))
