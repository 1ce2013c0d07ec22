from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.params import hours_query
from apps.ingest.api import IngestView

from . import selectors
from . import serializers as out

DeviceHistoryQuery = hours_query(max_hours=720)


class DeviceStateChangeIngestView(IngestView):
    kind = "device_state"
    summary = "Log device state changes"


class DeviceMetricsIngestView(IngestView):
    """Device metrics through the Smart Data Filter: only significant points get a row."""

    kind = "device_metric"
    summary = "Report device metrics (Smart Data Filter)"
    description = (
        "A point is stored on first contact (its device's first since this service "
        "started), when a metric moved more than the threshold (5 %) from the last stored "
        "value, or when the snapshot interval (300 s, by the items' timestamps) passed (the "
        "device's full set of last-known metrics is stored then); other valid points are "
        "counted as `filtered`. `results` gives each valid item's decision by index."
    )


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
        history = selectors.device_state_history(device_id=device_id, **query.validated_data)
        return Response(out.DeviceHistoryOut(history).data)
