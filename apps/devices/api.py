import copy

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.query import hours_query
from apps.ingest.api import (
    INGEST_DESCRIPTION,
    IngestResponse,
    IngestView,
    RejectedItem,
    ingest_schema,
)
from apps.ingest.pipeline import validate_items
from apps.ingest.services import ingest_counts_add, outbox_write

from . import selectors, smartfilter
from . import serializers as out
from .schemas import DeviceMetricsIn, DeviceStateChangeIn

DeviceHistoryQuery = hours_query(max_hours=720)


class DeviceStateChangeIngestView(IngestView):
    kind = "device_state"

    @ingest_schema(DeviceStateChangeIn, "Log device state changes")
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


DeviceMetricsIngestResponse = inline_serializer(
    "DeviceMetricsIngestResponse",
    {
        "accepted": serializers.IntegerField(help_text="Valid items (stored + filtered)."),
        "duplicates": copy.deepcopy(IngestResponse.fields["duplicates"]),
        "rejected": RejectedItem(many=True),
        "stored": serializers.IntegerField(),
        "filtered": serializers.IntegerField(),
        "results": serializers.ListField(
            child=inline_serializer(
                "SmartFilterResult",
                {
                    "index": serializers.IntegerField(help_text="Position in the request body."),
                    "stored": serializers.BooleanField(),
                    "reason": serializers.ChoiceField(
                        choices=["first", "changed", "snapshot", "filtered", "filter_unavailable"]
                    ),
                },
            )
        ),
    },
)


class DeviceMetricsIngestView(IngestView):
    """Device metrics through the Smart Data Filter: only significant points get a row."""

    kind = "device_metric"

    @extend_schema(
        summary="Report device metrics (Smart Data Filter)",
        description=INGEST_DESCRIPTION
        + " A point is stored on first contact, when a metric moved more than the"
        " threshold (5 %) from the last stored value, or when the snapshot interval"
        " (300 s, by the items' timestamps) passed; other valid points are counted as"
        " `filtered`. `results` gives each valid item's decision by index.",
        request=DeviceMetricsIn,
        responses={202: DeviceMetricsIngestResponse},
        examples=[
            OpenApiExample(
                "stored",
                value={
                    "accepted": 1,
                    "duplicates": 0,
                    "rejected": [],
                    "stored": 1,
                    "filtered": 0,
                    "results": [{"index": 0, "stored": True, "reason": "first"}],
                },
                response_only=True,
                status_codes=["202"],
            )
        ],
        tags=["ingest"],
    )
    def post(self, request, *args, **kwargs):
        items = self.read_items(request)
        outcome = validate_items(items, resolve_kind=self.resolve_kind, request=request)
        ingest_counts_add(outcome=outcome, label=self.kind)
        if not outcome.accepted:
            return Response(
                {
                    "error": "invalid",
                    "detail": "No item was accepted.",
                    "accepted": 0,
                    "duplicates": 0,
                    "rejected": outcome.rejected,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        rows = outcome.accepted[self.kind]
        indices = outcome.accepted_indices[self.kind]
        reasons = smartfilter.decide(rows)
        keep = []
        for row, reason in zip(rows, reasons, strict=True):
            if reason != smartfilter.FILTERED:
                row["stored_reason"] = reason
                keep.append(row)
        if keep:
            try:
                outbox_write(batches={self.kind: keep})
            except BaseException:
                # The state now claims points that were never written: rebuild it
                # from the table on the next point instead of filtering against it.
                smartfilter.forget(row["device_id"] for row in keep)
                raise
        smartfilter.record_counts(reasons)
        return Response(
            {
                "accepted": len(rows),
                "duplicates": outcome.duplicates,
                "rejected": outcome.rejected,
                "stored": len(keep),
                "filtered": len(rows) - len(keep),
                "results": [
                    {"index": index, "stored": reason != smartfilter.FILTERED, "reason": reason}
                    for index, reason in zip(indices, reasons, strict=True)
                ],
            },
            status=status.HTTP_202_ACCEPTED,
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
        return Response(selectors.device_state_history(device_id=device_id, **query.validated_data))
