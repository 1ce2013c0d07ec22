"""The monitoring API: monitored services, heartbeat pings, health summary, SLA."""

from datetime import timedelta

from django.conf import settings
from django.http import Http404
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import get_or_404, validated
from apps.core.errors import Conflict
from apps.keys.permissions import CanAdminister, request_actor

from . import selectors, services
from . import serializers as io
from .models import MonitoredService
from .renderers import SlaCsvRenderer

TAGS = ["monitoring"]


DEFAULT_SLA_HOURS = 720
DISABLED_PING = "The service is disabled; its pings are not counted."


class MonitoringView(APIView):
    permission_classes = [CanAdminister]
    change_permission = "monitoring.change_monitoredservice"


def _service(pk: int) -> MonitoredService:
    return get_or_404(MonitoredService.objects.all(), pk)


def _named(name: str) -> MonitoredService:
    try:
        return selectors.service_by_name(name)
    except MonitoredService.DoesNotExist:
        raise Http404(f"No monitored service named {name!r}.") from None


class ServiceListView(MonitoringView):
    @extend_schema(
        summary="List monitored services",
        responses={200: io.ServiceSerializer(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        services_ = selectors.service_list()
        return Response(
            io.ServiceSerializer(services_, many=True, context={"request": request}).data
        )

    @extend_schema(
        summary="Monitor a service (http, tcp, heartbeat or custom check)",
        request=io.ServiceSerializer,
        responses={201: io.ServiceSerializer},
        tags=TAGS,
    )
    def post(self, request):
        data = validated(io.ServiceSerializer, request.data)
        service = services.service_create(data=dict(data), actor=request_actor(request))
        body = io.ServiceSerializer(service, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ServiceDetailView(MonitoringView):
    @extend_schema(
        summary="One monitored service", responses={200: io.ServiceSerializer}, tags=TAGS
    )
    def get(self, request, pk: int):
        return Response(io.ServiceSerializer(_service(pk), context={"request": request}).data)

    @extend_schema(
        summary="Change a monitored service",
        request=io.ServiceSerializer(partial=True),
        responses={200: io.ServiceSerializer},
        tags=TAGS,
    )
    def patch(self, request, pk: int):
        service = _service(pk)
        data = validated(io.ServiceSerializer, request.data, instance=service, partial=True)
        service = services.service_update(
            service=service, data=dict(data), actor=request_actor(request)
        )
        return Response(io.ServiceSerializer(service, context={"request": request}).data)

    @extend_schema(
        summary="Stop monitoring a service (built-in ones: 409, disable them instead)",
        responses={204: None, 409: OpenApiResponse(description="A built-in check.")},
        tags=TAGS,
    )
    def delete(self, request, pk: int):
        try:
            services.service_delete(service=_service(pk), actor=request_actor(request))
        except services.ServiceProtectedError as exc:
            raise Conflict(str(exc)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class PingView(APIView):
    """The heartbeat URL: the unguessable token is the credential, so no key."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Heartbeat ping (GET or POST, no key)",
        description=(
            '`{"status": "ok"}`: recorded as a healthy check. A disabled service\'s ping '
            "is not recorded: 200 too (a job's `curl -f` does not fail for it), with "
            '`{"status": "disabled", "detail": ...}`.'
        ),
        request=None,
        responses={
            200: OpenApiResponse(io.PingOut, description="Recorded, or ignored (disabled)."),
            404: None,
        },
        tags=TAGS,
    )
    def get(self, request, token: str):
        service = None if len(token) > 64 else services.heartbeat_ping(token=token)
        if service is None:
            raise Http404("No heartbeat has this ping URL.")
        if not service.enabled:
            return Response(io.PingOut({"status": "disabled", "detail": DISABLED_PING}).data)
        return Response(io.PingOut({"status": "ok"}).data)

    post = get


class SystemHealthView(APIView):
    """This service's own health: public, never logged, never throttled."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list = []

    @extend_schema(
        summary="This service's health (public, for probes and load balancers)",
        description=(
            "`healthy`: every part answers. `degraded` (200): no Celery worker or no beat "
            "gave a sign of life within two heartbeat intervals, or a monitored service "
            "listed by its `health_key` (e.g. `ollama`) is down; writes are still accepted "
            "and wait. `unhealthy` (503, same body): the database or Redis does not answer."
        ),
        responses={
            200: OpenApiResponse(io.SystemHealthOut, description="Healthy or degraded."),
            503: OpenApiResponse(io.SystemHealthOut, description="The database or Redis is down."),
        },
        tags=["health"],
    )
    def get(self, request):
        health = selectors.system_health()
        unhealthy = health["status"] == "unhealthy"
        response = Response(io.SystemHealthOut(health).data, status=503 if unhealthy else 200)
        if unhealthy:  # like every 503 of this service
            response["Retry-After"] = str(settings.RETRY_AFTER_SECONDS)
        return response


class HealthSummaryView(MonitoringView):
    @extend_schema(
        summary="Health of every monitored service", responses={200: io.HealthSummaryOut}, tags=TAGS
    )
    def get(self, request):
        return Response(io.HealthSummaryOut(selectors.health_summary()).data)


class ServiceHealthView(MonitoringView):
    @extend_schema(
        operation_id="api_v1_analytics_monitoring_service_health",
        summary="One service's health and its recent checks",
        responses={200: io.ServiceHealthDetailOut},
        tags=TAGS,
    )
    def get(self, request, name: str):
        return Response(io.ServiceHealthDetailOut(selectors.service_health(_named(name))).data)


class SlaView(MonitoringView):
    # Its own CSV layout; errors and OPTIONS are JSON (apps.core.renderers.CsvRenderer).
    renderer_classes = [JSONRenderer, SlaCsvRenderer]

    @extend_schema(
        summary="SLA report: uptime, downtimes, response times, error budget (?format=csv too)",
        description=(
            "`?format=json` (default) or `?format=csv`; another format is a 400 naming "
            "`format`. In the CSV, a text cell starting with `=`, `+`, `-`, `@`, a tab or a "
            "carriage return is prefixed with `'` so a spreadsheet shows it as text."
        ),
        parameters=[
            io.SlaQuery,
            OpenApiParameter(
                "format", str, enum=["json", "csv"], description="json (default) or csv."
            ),
        ],
        responses={(200, "application/json"): io.SlaOut, (200, "text/csv"): str},
        tags=TAGS,
    )
    def get(self, request, name: str):
        service = _named(name)
        query = validated(io.SlaQuery, request.query_params)
        now = timezone.now()
        if "from" in query:
            since, until = query["from"], query["to"]
        else:
            since, until = now - timedelta(hours=query.get("hours", DEFAULT_SLA_HOURS)), now
        return Response(io.SlaOut(selectors.sla_report(service, since=since, until=until)).data)


class UptimeSummaryView(MonitoringView):
    @extend_schema(
        summary="Every monitored service's uptime over the last 24 h, 7 d and 30 d",
        description="From the downtimes, as the SLA report computes it; null: no data then.",
        responses={200: io.UptimeSummaryOut(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        services_ = list(selectors.service_list())
        states = selectors.service_states(services=services_)
        windows = selectors.uptime_windows(services=services_)
        rows = [
            {
                "id": s.pk,
                "name": s.name,
                "status": states[s.pk],
                "enabled": s.enabled,
                "public": s.public,
                "sla_target": s.sla_target,
                "uptime": windows[s.pk],
            }
            for s in services_
        ]
        return Response(io.UptimeSummaryOut(rows, many=True).data)


class ServiceUptimeView(MonitoringView):
    @extend_schema(
        summary="One service's uptime: per day (bars), over 24 h / 7 d / 30 d, its "
        "downtimes and its 30-day SLA",
        description=(
            "Every figure comes from the downtimes (first failed check to first good one), "
            "as the SLA report computes it. A day's `uptime_percentage` is null when there "
            "is no data for it (not monitored yet, or not one check that UTC day), never "
            "100 %. Days older than the checks' retention count as monitored when the "
            "service was checked since (their downtimes are kept)."
        ),
        parameters=[io.UptimeQuery],
        responses={200: io.ServiceUptimeOut},
        tags=TAGS,
    )
    def get(self, request, pk: int):
        query = validated(io.UptimeQuery, request.query_params)
        uptime = selectors.service_uptime(
            service=_service(pk), days=query.get("days", selectors.UPTIME_DAYS)
        )
        return Response(io.ServiceUptimeOut(uptime).data)


class ServiceResponseTimesView(MonitoringView):
    @extend_schema(
        summary="One service's response times and failed checks per bucket",
        parameters=[io.ResponseTimeQuery],
        responses={200: io.ResponseTimesOut},
        tags=TAGS,
    )
    def get(self, request, pk: int):
        service = _service(pk)
        query = validated(io.ResponseTimeQuery, request.query_params)
        until = timezone.now()
        since = until - timedelta(hours=query["hours"])
        points = selectors.response_time_series(
            service=service, since=since, until=until, interval_seconds=query["interval_seconds"]
        )
        body = {
            "service_id": service.pk,
            "since": since,
            "until": until,
            "interval_seconds": query["interval_seconds"],
            "points": points,
        }
        return Response(io.ResponseTimesOut(body).data)


class ServicePingsView(MonitoringView):
    @extend_schema(
        summary="A heartbeat's latest pings (empty for another check type)",
        parameters=[io.PingsQuery],
        responses={200: io.PingsOut},
        tags=TAGS,
    )
    def get(self, request, pk: int):
        service = _service(pk)
        query = validated(io.PingsQuery, request.query_params)
        pings = selectors.heartbeat_pings(service=service, limit=query.get("limit", 50))
        body = {"service_id": service.pk, "last_ping_at": service.last_ping_at, "pings": pings}
        return Response(io.PingsOut(body).data)


urls = [
    path("uptime", UptimeSummaryView.as_view(), name="monitoring-uptime"),
    path("services/<int:pk>/uptime", ServiceUptimeView.as_view(), name="monitoring-service-uptime"),
    path(
        "services/<int:pk>/response-times",
        ServiceResponseTimesView.as_view(),
        name="monitoring-service-response-times",
    ),
    path("services/<int:pk>/pings", ServicePingsView.as_view(), name="monitoring-service-pings"),
    path("services", ServiceListView.as_view(), name="monitoring-services"),
    path("services/<int:pk>", ServiceDetailView.as_view(), name="monitoring-service"),
    path("ping/<str:token>", PingView.as_view(), name="monitoring-ping"),
    path("health", HealthSummaryView.as_view(), name="monitoring-health"),
    path("health/<str:name>", ServiceHealthView.as_view(), name="monitoring-service-health"),
    path("sla/<str:name>", SlaView.as_view(), name="monitoring-sla"),
]
