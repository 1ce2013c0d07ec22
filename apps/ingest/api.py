"""The one write endpoint shape every kind shares: a view names its kind, nothing more.

Its OpenAPI description comes from the registry (the kind's item schema, and
the per-item results when the kind has a gate), so a view declares it once.
"""

from functools import cache
from typing import Literal

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, inline_serializer
from pydantic import BaseModel, Field, create_model
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.openapi import AutoSchema, human_size
from apps.keys.models import Scope
from apps.keys.permissions import CanIngest

from .fields import MAX_NESTING
from .pipeline import items_ingest
from .registry import RecordKind, all_kinds, get_kind
from .retention import retention_days


class RejectedItem(serializers.Serializer):
    index = serializers.IntegerField(min_value=0, help_text="The item's position in the body.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field (dotted path for nested ones; `item` for the whole item, `kind` for "
        "its kind) -> its messages.",
    )


class IngestResponse(serializers.Serializer):
    accepted = serializers.IntegerField(min_value=0)
    duplicates = serializers.IntegerField(
        min_value=0,
        help_text="Items whose event_id appeared earlier in the same request (stored once).",
    )
    rejected = RejectedItem(many=True)


class GateResult(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position in the request body.")
    stored = serializers.BooleanField()
    reason = serializers.CharField(
        help_text="Why: for device metrics first, changed, snapshot, filter_unavailable "
        "(stored) or filtered."
    )


class GatedIngestResponse(IngestResponse):
    """The answer when a kind decides per item what is stored (device metrics)."""

    stored = serializers.IntegerField(required=False)
    filtered = serializers.IntegerField(required=False)
    results = GateResult(many=True, required=False, help_text="Each gated item's decision.")


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


class IngestSchema(AutoSchema):
    """An ingest operation's (a POST's) document, from its view's kinds in the registry."""

    def _ingesting(self) -> bool:
        return self.method == "POST"

    def get_request_serializer(self):
        if not self._ingesting():
            return super().get_request_serializer()
        if self.view.kind is not None:
            return get_kind(self.view.kind).schema
        return PolymorphicProxySerializer(
            "BatchItem",
            serializers=lambda: list(batch_item_schemas().values()),
            resource_type_field_name=None,
        )

    def get_response_serializers(self):
        if not self._ingesting():
            return super().get_response_serializers()
        gated = any(kind.gate is not None for kind in self.view.openapi_kinds())
        return {202: GatedIngestResponse if gated else IngestResponse}

    def get_summary(self) -> str | None:
        return self.view.summary if self._ingesting() else super().get_summary()

    def get_description(self) -> str:
        if not self._ingesting():
            return super().get_description()
        return f"{INGEST_DESCRIPTION} {self.view.description}".strip()

    def get_tags(self) -> list[str]:
        return ["ingest"] if self._ingesting() else super().get_tags()

    def get_examples(self) -> list[OpenApiExample]:
        if not self._ingesting():
            return super().get_examples()
        return [
            OpenApiExample(
                "accepted",
                value={"accepted": 1, "duplicates": 0, "rejected": []},
                response_only=True,
                status_codes=["202"],
            )
        ]


class IngestView(APIView):
    """POST items of one kind (subclasses set `kind`) or mixed kinds (`kind` per item)."""

    required_scope = Scope.INGEST
    permission_classes = [CanIngest]
    # Declared for the OpenAPI document only: the pipeline reads the body itself,
    # once and within limits, and request.data is never touched.
    parser_classes = [JSONParser]
    schema = IngestSchema()
    kind: str | None = None
    # The item field that routes a mixed batch's items; not part of the item.
    kind_key: str | None = None
    summary = ""
    description = ""  # what this endpoint adds to the common ingest description
    # For the OpenAPI document (apps.core.openapi): a 400 may also be this answer.
    openapi_rejection = IngestRejection

    def post(self, request, *args, **kwargs):
        answer = items_ingest(request=request, kind=self.kind, kind_key=self.kind_key)
        return Response(answer.body, status=answer.status)

    def openapi_kinds(self) -> list[RecordKind]:
        return [get_kind(self.kind)] if self.kind else all_kinds()

    def openapi_notes(self) -> str:
        """The retention window `timestamp` must fall in, for this view's kinds."""
        days = {retention_days(kind.name) for kind in self.openapi_kinds()}
        window = f"{min(days)}-{max(days)} days by kind" if len(days) > 1 else f"{days.pop()} days"
        return f"Retention (the oldest `timestamp` accepted): {window}."


class MixedBatchIngestView(IngestView):
    kind_key = "kind"
    summary = "Ingest items of mixed kinds, each with `kind`"
    description = (
        "Each item names its `kind` (a kind or its endpoint's name, e.g. `job_outcome` or "
        "`job-outcome`) and is validated, and for device metrics filtered, as that kind's "
        "endpoint would."
    )


@cache
def batch_item_schemas() -> dict[str, type[BaseModel]]:
    """For the document: each kind's item schema plus `kind` (its name or aliases)."""
    schemas = {}
    for kind in all_kinds():
        names = (kind.name, *kind.aliases)
        schemas[kind.name] = create_model(
            f"Batch{kind.schema.__name__}",
            __base__=kind.schema,
            kind=(Literal[names], Field(description="Which kind this item is.")),
        )
    return schemas
