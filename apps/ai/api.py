"""The AI API: usage ingest, model prices, knowledge documents, and the reads."""

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import get_or_404, selector_urls, validated
from apps.ingest.api import IngestView
from apps.ingest.fields import null_means_absent
from apps.keys.permissions import CanAdminister, CanIngestWithKey, request_actor

from . import selectors, services
from . import serializers as io
from .models import ModelPrice

TAGS = ["ai"]
MAX_DOCUMENTS = 1000
TAKEN = OpenApiResponse(description="The model already has a price from that valid_from.")


class AiUsageIngestView(IngestView):
    kind = "ai_usage"
    summary = "Log AI usage"
    description = (
        "One request to an AI model each: feature, model, assistant, user, success, "
        "response time, time to first token, tokens (cached ones are part of tokens_in), "
        "pipeline steps and the user's question (for trending)."
    )


class PricesView(APIView):
    permission_classes = [CanAdminister]
    change_permission = "ai.change_modelprice"


class PriceListView(PricesView):
    @extend_schema(
        summary="Model prices", responses={200: io.PriceSerializer(many=True)}, tags=TAGS
    )
    def get(self, request):
        return Response(io.PriceSerializer(ModelPrice.objects.all(), many=True).data)

    @extend_schema(
        summary="Add a model price (409 if the model has one from that valid_from)",
        request=io.PriceSerializer,
        responses={201: io.PriceSerializer, 409: TAKEN},
        tags=TAGS,
    )
    def post(self, request):
        data = validated(io.PriceSerializer, request.data)
        price = services.price_create(data=dict(data), actor=request_actor(request))
        return Response(io.PriceSerializer(price).data, status=status.HTTP_201_CREATED)


class PriceDetailView(PricesView):
    @extend_schema(summary="One model price", responses={200: io.PriceSerializer}, tags=TAGS)
    def get(self, request, pk: int):
        return Response(io.PriceSerializer(get_or_404(ModelPrice.objects.all(), pk)).data)

    @extend_schema(
        summary="Change a model price",
        request=io.PriceSerializer(partial=True),
        responses={200: io.PriceSerializer, 409: TAKEN},
        tags=TAGS,
    )
    def patch(self, request, pk: int):
        price = get_or_404(ModelPrice.objects.all(), pk)
        data = validated(io.PriceSerializer, request.data, instance=price, partial=True)
        return Response(
            io.PriceSerializer(services.price_update(price=price, data=dict(data))).data
        )

    @extend_schema(summary="Delete a model price", responses={204: None}, tags=TAGS)
    def delete(self, request, pk: int):
        services.price_delete(price=get_or_404(ModelPrice.objects.all(), pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


_DOCUMENT_OPTIONAL = frozenset(
    name for name, field in io.DocumentIn().fields.items() if not field.required
)


def document_items(data: object) -> object:
    """One object, a list, or {"batch": [...]} as every other write takes; null for an
    optional field means absent, as on every ingest kind."""
    if isinstance(data, dict) and "batch" in data and len(data) == 1:
        data = data["batch"]  # not a list: the list serializer's 400 says so
        if not isinstance(data, list):
            return data
    items = data if isinstance(data, list) else [data]
    return [null_means_absent(item, _DOCUMENT_OPTIONAL) for item in items]


class DocumentsView(APIView):
    # Not CanIngest: a session may write activity, errors and events only.
    permission_classes = [CanIngestWithKey]

    @extend_schema(
        summary='Record knowledge documents (one object, a list or {"batch": [...]}; upsert by '
        "document_id)",
        request=io.DocumentIn(many=True),
        responses={200: io.DocumentsOut},
        tags=TAGS,
    )
    def post(self, request):
        items = document_items(request.data)
        documents = validated(
            io.DocumentIn, items, many=True, allow_empty=False, max_length=MAX_DOCUMENTS
        )
        return Response(io.DocumentsOut(services.documents_upsert(documents=documents)).data)


# The reads: route, selector, query, answer, whether a list, summary.
READS = [
    ("ttft", selectors.ttft_percentiles, io.HoursQuery, io.TtftOut, False,
     "Time to first token: p50, p95, p99 (ms); zeros without data"),
    ("costs", selectors.assistant_costs, io.HoursQuery, io.AssistantCostOut, True,
     "Tokens and estimated cost per assistant, dearest first"),
    ("freshness", selectors.document_freshness, io.AssistantQuery, io.FreshnessOut, True,
     "Knowledge documents by age: fresh, aging, stale"),
    ("trending", selectors.trending_topics, io.TrendingQuery, io.TrendingTopicOut, True,
     "Trending questions, however they were worded; most asked first"),
    ("advanced", selectors.advanced_analytics, io.AdvancedQuery, io.AdvancedOut, False,
     "The assistant dashboard in one answer: TTFT, steps, cache, trending, diversity, "
     "costs, freshness"),
    ("ai-features", selectors.feature_stats, io.HoursQuery, io.FeatureOut, True,
     "Per AI feature: requests, success rate, response time, cache hit rate"),
    ("generation-speed", selectors.generation_speed, io.AssistantHoursQuery,
     io.GenerationSpeedOut, True,
     "Per model: output tokens per second and time between tokens, from generation_ms"),
]  # fmt: skip

urls = [
    path("log-ai-usage", AiUsageIngestView.as_view(), name="ingest-ai-usage"),
    *selector_urls(READS, tags=TAGS, name_prefix="ai-read"),
    path("ai/prices", PriceListView.as_view(), name="ai-prices"),
    path("ai/prices/<int:pk>", PriceDetailView.as_view(), name="ai-price"),
    path("ai/documents", DocumentsView.as_view(), name="ai-documents"),
]
