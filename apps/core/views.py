from django.conf import settings
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

Health = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["ok", "degraded"]),
        "database": serializers.ChoiceField(choices=["ok", "unavailable"]),
        "redis": serializers.ChoiceField(choices=["ok", "unavailable"]),
    },
)


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
        from django.core.cache import cache

        checks = {"database": "ok", "redis": "ok"}
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception:
            checks["database"] = "unavailable"
        try:
            cache.get("health-probe")
        except Exception:
            checks["redis"] = "unavailable"
        healthy = all(v == "ok" for v in checks.values())
        response = Response(
            {"status": "ok" if healthy else "degraded", **checks},
            status=200 if healthy else 503,
        )
        if not healthy:  # like every 503 of this service
            response["Retry-After"] = str(settings.RETRY_AFTER_SECONDS)
        return response
