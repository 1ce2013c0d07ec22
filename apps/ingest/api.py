"""The one write endpoint shape every kind shares."""

from functools import cache
from typing import Literal

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiExample,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from pydantic import BaseModel, Field, create_model
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.openapi import human_size
from apps.keys.models import Scope
from apps.keys.permissions import CanIngest

from .fields import MAX_NESTING
from .pipeline import (
    NDJSON_TYPES,
    SESSION_KINDS_DETAIL,
    media_type,
    parse_items,
    read_body,
    session_user,
    validate_items,
)
from .registry import all_kinds, get_kind
from .services import ingest_counts_add, outbox_write


class RejectedItem(serializers.Serializer):
    index = serializers.IntegerField(min_value=0, help_text="The item's position in the body.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field (dotted path for nested ones; `item` for the whole item, `kind` for "
        "its kind) -> its messages.",
    )


IngestResponse = inline_serializer(
    "IngestResponse",
    {
        "accepted": serializers.IntegerField(min_value=0),
        "duplicates": serializers.IntegerField(
            min_value=0,
            help_text="Items whose event_id appeared earlier in the same request (stored once).",
        ),
        "rejected": RejectedItem(many=True),
    },
)

# The 400 when no item was valid; apps.core.openapi documents a write endpoint's 400 as
# this or the error shape (a body that is not JSON, empty, too deep ...).
IngestRejection = inline_serializer(
    "IngestRejection",
    {
        "error": serializers.ChoiceField(choices=["invalid"]),
        "detail": serializers.CharField(),
        "accepted": serializers.IntegerField(min_value=0, max_value=0),
        "duplicates": serializers.IntegerField(min_value=0, max_value=0),
        "rejected": RejectedItem(many=True, help_text="Every item, by index, with its errors."),
    },
)


# The limits as configured (INGEST_MAX_*), so the document says what this server enforces.
INGEST_DESCRIPTION = (
    'Body: one object, a JSON list, or `{"batch": [...]}` with `Content-Type: '
    "application/json`, or one object per line with `application/x-ndjson`; optionally "
    "`Content-Encoding: gzip`, or chunked. Limits: body "
    f"{human_size(settings.INGEST_MAX_BODY_BYTES)} (inflated; more is a 413), "
    f"{settings.INGEST_MAX_ITEMS} items (413), {human_size(settings.INGEST_MAX_ITEM_BYTES)} per "
    f"item, JSON objects nested at most {MAX_NESTING} deep. Every item may carry `event_id` "
    "(UUID, the idempotency key: the same id again is stored once, the first one wins, and "
    "counts as `duplicates` within one request) and `timestamp` (ISO 8601, UTC unless an "
    f"offset is given; not more than {settings.INGEST_FUTURE_TOLERANCE_SECONDS // 60} minutes "
    "ahead nor older than the kind's retention). Unknown fields, and strings holding a NUL "
    "character, are refused per item. 202 means committed; invalid items are listed by "
    "index. 400 when no item was valid."
)


def ingest_schema(schema, summary: str):
    return extend_schema(
        summary=summary,
        description=INGEST_DESCRIPTION,
        request=schema,
        responses={202: IngestResponse},
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
    # For the OpenAPI document (apps.core.openapi): a 400 may also be this answer.
    openapi_rejection = IngestRejection

    def openapi_kinds(self) -> list[str]:
        return [self.kind] if self.kind else []

    def openapi_notes(self) -> str:
        """The retention window `timestamp` must fall in, for this view's kinds."""
        retention = settings.ANALYTICS_RETENTION_BY_KIND
        days = {
            retention.get(name, settings.ANALYTICS_RETENTION_DAYS) for name in self.openapi_kinds()
        }
        window = f"{min(days)}-{max(days)} days by kind" if len(days) > 1 else f"{days.pop()} days"
        return f"Retention (the oldest `timestamp` accepted): {window}."

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

    def openapi_kinds(self) -> list[str]:
        return [kind.name for kind in all_kinds() if kind.name not in self.refused_kinds]

    @extend_schema(
        summary="Ingest items of mixed kinds, each with `kind`",
        description=INGEST_DESCRIPTION
        + " Each item names its `kind` (a kind or its endpoint's name, e.g. `job_outcome` or "
        "`job-outcome`) and is validated as that kind's endpoint would.",
        request=PolymorphicProxySerializer(
            "BatchItem",
            serializers=lambda: list(batch_item_schemas().values()),
            resource_type_field_name=None,
        ),
        responses={202: IngestResponse},
        tags=["ingest"],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


@cache
def batch_item_schemas() -> dict[str, type[BaseModel]]:
    """For the document: each accepted kind's item schema plus `kind` (its name or aliases)."""
    aliases: dict[str, list[str]] = {}
    for alias, name in KIND_ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    schemas = {}
    for name in MixedBatchIngestView().openapi_kinds():
        schema = get_kind(name).schema
        names = (name, *aliases.get(name, []))
        schemas[name] = create_model(
            f"Batch{schema.__name__}",
            __base__=schema,
            kind=(Literal[names], Field(description="Which kind this item is.")),
        )
    return schemas
