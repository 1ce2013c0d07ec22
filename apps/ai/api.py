"""The AI API: usage ingest, model prices, knowledge documents, and the reads."""

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import get_or_404, validated
from apps.ingest.api import IngestView
from apps.keys.permissions import CanAdminister, CanIngest, request_actor

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


class DocumentsView(APIView):
    permission_classes = [CanIngest]

    @extend_schema(
        summary="Record knowledge documents (one object or a list; upsert by document_id)",
        request=io.DocumentIn(many=True),
        responses={200: io.DocumentsOut},
        tags=TAGS,
    )
    def post(self, request):
        items = request.data if isinstance(request.data, list) else [request.data]
        documents = validated(
            io.DocumentIn, items, many=True, allow_empty=False, max_length=MAX_DOCUMENTS
        )
        return Response(io.DocumentsOut(services.documents_upsert(documents=documents)).data)


class TtftView(APIView):
    @extend_schema(
        summary="Time to first token: p50, p95, p99 (ms); zeros without data",
        parameters=[io.HoursQuery],
        responses={200: io.TtftOut},
        tags=TAGS,
    )
    def get(self, request):
        query = validated(io.HoursQuery, request.query_params)
        return Response(io.TtftOut(selectors.ttft_percentiles(**query)).data)


class CostsView(APIView):
    @extend_schema(
        summary="Tokens and estimated cost per assistant, dearest first",
        parameters=[io.HoursQuery],
        responses={200: io.AssistantCostOut(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        query = validated(io.HoursQuery, request.query_params)
        return Response(io.AssistantCostOut(selectors.assistant_costs(**query), many=True).data)


class FreshnessView(APIView):
    @extend_schema(
        summary="Knowledge documents by age: fresh, aging, stale",
        parameters=[io.AssistantQuery],
        responses={200: io.FreshnessOut(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        query = validated(io.AssistantQuery, request.query_params)
        return Response(io.FreshnessOut(selectors.document_freshness(**query), many=True).data)


class TrendingView(APIView):
    @extend_schema(
        summary="Trending questions, however they were worded; most asked first",
        parameters=[io.TrendingQuery],
        responses={200: io.TrendingTopicOut(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        query = validated(io.TrendingQuery, request.query_params)
        return Response(io.TrendingTopicOut(selectors.trending_topics(**query), many=True).data)


class AdvancedView(APIView):
    @extend_schema(
        summary="The assistant dashboard in one answer: TTFT, steps, cache, trending, "
        "diversity, costs, freshness",
        parameters=[io.AdvancedQuery],
        responses={200: io.AdvancedOut},
        tags=TAGS,
    )
    def get(self, request):
        query = validated(io.AdvancedQuery, request.query_params)
        return Response(io.AdvancedOut(selectors.advanced_analytics(**query)).data)


class FeaturesView(APIView):
    @extend_schema(
        summary="Per AI feature: requests, success rate, response time, cache hit rate",
        parameters=[io.HoursQuery],
        responses={200: io.FeatureOut(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        query = validated(io.HoursQuery, request.query_params)
        return Response(io.FeatureOut(selectors.feature_stats(**query), many=True).data)


urls = [
    path("log-ai-usage", AiUsageIngestView.as_view(), name="ingest-ai-usage"),
    path("ttft", TtftView.as_view(), name="ai-ttft"),
    path("costs", CostsView.as_view(), name="ai-costs"),
    path("freshness", FreshnessView.as_view(), name="ai-freshness"),
    path("trending", TrendingView.as_view(), name="ai-trending"),
    path("advanced", AdvancedView.as_view(), name="ai-advanced"),
    path("ai-features", FeaturesView.as_view(), name="ai-features"),
    path("ai/prices", PriceListView.as_view(), name="ai-prices"),
    path("ai/prices/<int:pk>", PriceDetailView.as_view(), name="ai-price"),
    path("ai/documents", DocumentsView.as_view(), name="ai-documents"),
]
