"""The one write endpoint shape every kind shares."""

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.keys.models import Scope
from apps.keys.permissions import CanIngest

from .pipeline import parse_items, read_body, validate_items
from .registry import get_kind
from .services import ingest_counts_add, outbox_write

IngestResponse = inline_serializer(
    "IngestResponse",
    {
        "accepted": serializers.IntegerField(),
        "rejected": serializers.ListField(
            child=inline_serializer(
                "RejectedItem",
                {"index": serializers.IntegerField(), "errors": serializers.DictField()},
            )
        ),
    },
)

INGEST_DESCRIPTION = (
    'Body: one object, a JSON list, or `{"batch": [...]}`; `Content-Type: '
    "application/json`, optionally `Content-Encoding: gzip`. Limits: body 1 MiB "
    "(inflated), 1000 items, 32 KiB per item. Every item may carry `event_id` (UUID, "
    "the idempotency key) and `timestamp` (ISO 8601, UTC; not more than 1 h ahead "
    "nor older than retention). 202 means committed; invalid items are listed by index."
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
                value={"accepted": 1, "rejected": []},
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

    def post(self, request, *args, **kwargs):
        items = parse_items(read_body(request))
        outcome = validate_items(items, resolve_kind=self.resolve_kind, request=request)
        ingest_counts_add(
            accepted={kind: len(rows) for kind, rows in outcome.accepted.items()},
            rejected={self.kind or "batch": len(outcome.rejected)} if outcome.rejected else {},
        )
        if not outcome.accepted:
            return Response(
                {
                    "error": "invalid",
                    "detail": "No item was accepted.",
                    "accepted": 0,
                    "rejected": outcome.rejected,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        outbox_write(batches=outcome.accepted)
        return Response(
            {"accepted": outcome.accepted_count, "rejected": outcome.rejected},
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
