"""The one write endpoint shape every kind shares."""

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.keys.models import Scope
from apps.keys.permissions import CanIngest

from .pipeline import (
    NDJSON_TYPES,
    SESSION_KINDS_DETAIL,
    media_type,
    parse_items,
    read_body,
    session_user,
    validate_items,
)
from .registry import get_kind
from .services import ingest_counts_add, outbox_write

IngestResponse = inline_serializer(
    "IngestResponse",
    {
        "accepted": serializers.IntegerField(),
        "duplicates": serializers.IntegerField(
            help_text="Items whose event_id appeared earlier in the same request (stored once)."
        ),
        "rejected": serializers.ListField(
            child=inline_serializer(
                "RejectedItem",
                {"index": serializers.IntegerField(), "errors": serializers.DictField()},
            )
        ),
    },
)

INGEST_DESCRIPTION = (
    'Body: one object, a JSON list, or `{"batch": [...]}` with `Content-Type: '
    "application/json`, or one object per line with `application/x-ndjson`; optionally "
    "`Content-Encoding: gzip`, or chunked. Limits: body 1 MiB (inflated), 1000 items, "
    "32 KiB per item, JSON objects nested at most 32 deep. Every item may carry `event_id` "
    "(UUID, the idempotency key: the same id again is stored once, the first one wins, and "
    "counts as `duplicates` within one request) and `timestamp` (ISO 8601, UTC; not more "
    "than 1 h ahead nor older than retention). Unknown fields are refused per item. 202 "
    "means committed; invalid items are listed by index."
)


def ingest_schema(schema, summary: str):
    return extend_schema(
        summary=summary,
        description=INGEST_DESCRIPTION,
        request=schema,
        responses={202: IngestResponse, 400: IngestResponse},
        examples=[
            OpenApiExample(
                "accepted",
                value={"accepted": 1, "duplicates": 0, "rejected": []},
                response_only=True,
                status_codes=["202"],
            )
        ],
        tags=["ingest"],
    )


class IngestView(APIView):
    """POST items of one kind (subclasses set `kind`) or mixed kinds (`kind` per item)."""

    required_scope = Scope.INGEST
    permission_classes = [CanIngest]
    # Declared for the OpenAPI document only: the pipeline reads the body itself,
    # once and within limits, and request.data is never touched.
    parser_classes = [JSONParser]
    kind: str | None = None

    def resolve_kind(self, item: dict):
        return get_kind(self.kind)

    # The item field that routes a mixed batch's items; not part of the item.
    kind_key: str | None = None

    def check_session_may_write(self, request) -> None:
        if self.kind and session_user(request) and not get_kind(self.kind).session_writable:
            raise exceptions.PermissionDenied(SESSION_KINDS_DETAIL)

    def read_items(self, request) -> list:
        self.check_session_may_write(request)
        return parse_items(read_body(request), ndjson=media_type(request) in NDJSON_TYPES)

    def post(self, request, *args, **kwargs):
        items = self.read_items(request)
        outcome = validate_items(
            items, resolve_kind=self.resolve_kind, request=request, kind_key=self.kind_key
        )
        ingest_counts_add(outcome=outcome, label=self.kind or "batch")
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
        outbox_write(batches=outcome.accepted)
        return Response(
            {
                "accepted": outcome.accepted_count,
                "duplicates": outcome.duplicates,
                "rejected": outcome.rejected,
            },
            status=status.HTTP_202_ACCEPTED,
        )


# Names a mixed batch may use for `kind`: the kind itself or its endpoint's name.
KIND_ALIASES = {
    "user-activity": "user_activity",
    "device-state-change": "device_state",
    "device_state_change": "device_state",
    "job-outcome": "job_outcome",
    "requests": "request_log",
    "request": "request_log",
}


class MixedBatchIngestView(IngestView):
    kind_key = "kind"
    # Kinds with per-item server decisions have their own endpoint.
    refused_kinds = {
        "device_metric": "Send device metrics to /api/v1/analytics/device-metrics "
        "(the smart filter decides what is stored)."
    }

    def resolve_kind(self, item: dict):
        name = item.get("kind")
        if not isinstance(name, str):
            raise KeyError("Each item needs a string `kind`.")
        name = KIND_ALIASES.get(name, name)
        if name in self.refused_kinds:
            raise KeyError(self.refused_kinds[name])
        try:
            return get_kind(name)
        except KeyError:
            raise KeyError(f"Unknown kind {name!r}.") from None

    @extend_schema(
        summary="Ingest items of mixed kinds, each with `kind`",
        description=INGEST_DESCRIPTION,
        request=dict,
        responses={202: IngestResponse, 400: IngestResponse},
        tags=["ingest"],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
