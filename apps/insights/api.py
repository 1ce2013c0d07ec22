from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import selector_view, validated
from apps.keys.permissions import CanAdminister

from . import selectors, services
from . import serializers as io

TAGS = ["insights"]


class BatchTrackView(APIView):
    permission_classes = [CanAdminister]
    change_permission = "insights.change_platformmetrics"

    @extend_schema(
        summary="Track a period: every user, agent and the platform, once each",
        request=io.BatchTrackIn,
        responses={200: io.BatchTrackOut},
        tags=TAGS,
    )
    def post(self, request):
        asked = validated(io.BatchTrackIn, request.data)
        try:
            period = services.period_for(asked["period_type"], asked.get("period_start"))
        except services.UntrackablePeriodError as exc:
            raise serializers.ValidationError({"period_start": [str(exc)]}) from None
        tracked = services.period_track(period=period, force=asked["force"])
        return Response(io.BatchTrackOut(tracked).data)


def _entity_views(kind: str, select, known, answer, key: str) -> tuple[type, type]:
    """The latest period of one user or agent, and its trend: 404 for an id never tracked."""

    def periods(request, entity_id: str, query) -> list:
        asked = validated(query, request.query_params)
        if not known(entity_id):
            raise NotFound(f"No {kind} {entity_id!r} has been tracked.")
        return select(**{key: entity_id}, **asked)

    class LatestView(APIView):
        @extend_schema(
            summary=f"The latest tracked period of one {kind}",
            parameters=[io.PeriodQuery],
            responses={200: answer},
            tags=TAGS,
        )
        def get(self, request, **ids: str):
            entity_id = ids[key]
            found = periods(request, entity_id, io.PeriodQuery)
            if not found:
                raise NotFound(f"No tracked period of this type for {kind} {entity_id!r}.")
            return Response(answer(found[-1]).data)

    class TrendsView(APIView):
        @extend_schema(
            summary=f"One {kind}'s latest tracked periods, oldest first",
            parameters=[io.TrendsQuery],
            responses={200: answer(many=True)},
            tags=TAGS,
        )
        def get(self, request, **ids: str):
            found = periods(request, ids[key], io.TrendsQuery)
            return Response(answer(found, many=True).data)

    name = kind.title()
    LatestView.__name__, TrendsView.__name__ = f"{name}AnalyticsView", f"{name}TrendsView"
    return LatestView, TrendsView


UserView, UserTrendsView = _entity_views(
    "user", selectors.user_periods, selectors.user_known, io.UserAnalyticsOut, "user_id"
)
AgentView, AgentTrendsView = _entity_views(
    "agent", selectors.agent_periods, selectors.agent_known, io.AgentAnalyticsOut, "agent_id"
)


class PlatformTrendsView(APIView):
    @extend_schema(
        summary="The platform's latest tracked periods, oldest first",
        parameters=[io.TrendsQuery],
        responses={200: io.PlatformMetricsOut(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        asked = validated(io.TrendsQuery, request.query_params)
        return Response(io.PlatformMetricsOut(selectors.platform_periods(**asked), many=True).data)


urls = [
    path(
        "dashboard",
        selector_view(
            selectors.dashboard,
            query=io.DashboardQuery,
            answer=io.DashboardOut,
            summary="The platform dashboard: users, agents, contracts, money, daily trends, "
            "API performance, health and open incidents",
            tags=TAGS,
        ).as_view(),
        name="insights-dashboard",
    ),
    path("batch-track", BatchTrackView.as_view(), name="insights-batch-track"),
    path("user/<str:user_id>", UserView.as_view(), name="insights-user"),
    path("user/<str:user_id>/trends", UserTrendsView.as_view(), name="insights-user-trends"),
    path("agent/<str:agent_id>", AgentView.as_view(), name="insights-agent"),
    path("agent/<str:agent_id>/trends", AgentTrendsView.as_view(), name="insights-agent-trends"),
    path("platform/trends", PlatformTrendsView.as_view(), name="insights-platform-trends"),
]
