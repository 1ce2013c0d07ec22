from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.query import hours_query
from apps.ingest.api import IngestView, ingest_schema

from . import selectors
from . import serializers as out
from .schemas import DeviceStateChangeIn

DeviceHistoryQuery = hours_query(max_hours=720)


class DeviceStateChangeIngestView(IngestView):
    kind = "device_state"

    @ingest_schema(DeviceStateChangeIn, "Log device state changes")
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class DeviceStateHistoryView(APIView):
    @extend_schema(
        summary="A device's state timeline and time spent in each state",
        parameters=[DeviceHistoryQuery],
        responses={200: out.DeviceHistoryOut},
        tags=["metrics"],
    )
    def get(self, request, device_id: str):
        query = DeviceHistoryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.device_state_history(device_id=device_id, **query.validated_data))


class DeviceMetricsIngestView(IngestView):
    """Placeholder until the smart filter lands (being written in this module)."""

    kind = "device_metric"
