from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .selectors import health_probe


class Health(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    database = serializers.ChoiceField(choices=["ok", "unavailable"])
    redis = serializers.ChoiceField(choices=["ok", "unavailable"])


class HealthView(APIView):
    """Liveness and readiness: public, never logged, never throttled."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        summary="Service health (public)",
        description="200 when the database and Redis answer; 503 (same body) when either does not.",
        responses={
            200: OpenApiResponse(Health, description="The database and Redis answer."),
            503: OpenApiResponse(Health, description="The database or Redis does not answer."),
        },
        tags=["health"],
    )
    def get(self, request):
        health = health_probe()
        healthy = health["status"] == "ok"
        response = Response(Health(health).data, status=200 if healthy else 503)
        if not healthy:  # like every 503 of this service
            response["Retry-After"] = str(settings.RETRY_AFTER_SECONDS)
        return response
