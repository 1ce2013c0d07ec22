"""The alerting API: rules, channels, silences, incidents and their triage.

Read keys (and admin keys, and staff) read everything; changes take an admin key
or a staff session with the model's change permission; every change records who.
"""

from contextlib import contextmanager

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import get_or_404, validated
from apps.core.errors import Conflict
from apps.core.pagination import TimeCursorPagination
from apps.core.params import listed_params
from apps.keys.permissions import CanAdminister, request_actor

from . import selectors, services
from . import serializers as io
from .models import AlertChannel, AlertIncident, AlertRule, Silence

TAGS = ["alerts"]


@contextmanager
def target_refused_as_400():
    """The services check the target again (its host may resolve otherwise by now): a
    refusal there is the client's 400 too, never a 500."""
    try:
        yield
    except ValueError as exc:
        raise serializers.ValidationError({"target": [str(exc)]}) from None


class AlertsView(APIView):
    permission_classes = [CanAdminister]
    change_permission = "alerts.change_alertrule"


# --- rules -------------------------------------------------------------------------


class RuleListView(AlertsView):
    @extend_schema(
        summary="List alert rules", responses={200: io.RuleSerializer(many=True)}, tags=TAGS
    )
    def get(self, request):
        return Response(io.RuleSerializer(selectors.rule_list(), many=True).data)

    @extend_schema(
        summary="Create an alert rule",
        request=io.RuleSerializer,
        responses={201: io.RuleSerializer},
        tags=TAGS,
    )
    def post(self, request):
        data = validated(io.RuleSerializer, request.data)
        rule = services.rule_create(data=dict(data), actor=request_actor(request))
        return Response(io.RuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailView(AlertsView):
    @extend_schema(summary="One alert rule", responses={200: io.RuleSerializer}, tags=TAGS)
    def get(self, request, pk: int):
        return Response(io.RuleSerializer(get_or_404(selectors.rule_list(), pk)).data)

    @extend_schema(
        summary="Change an alert rule",
        request=io.RuleSerializer(partial=True),
        responses={200: io.RuleSerializer},
        tags=TAGS,
    )
    def patch(self, request, pk: int):
        rule = get_or_404(AlertRule.objects.all(), pk)
        data = validated(io.RuleSerializer, request.data, instance=rule, partial=True)
        rule = services.rule_update(rule=rule, data=dict(data), actor=request_actor(request))
        return Response(io.RuleSerializer(rule).data)

    @extend_schema(
        summary="Delete an alert rule (its incidents stay)", responses={204: None}, tags=TAGS
    )
    def delete(self, request, pk: int):
        services.rule_delete(
            rule=get_or_404(AlertRule.objects.all(), pk), actor=request_actor(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleEvaluateView(AlertsView):
    @extend_schema(
        summary="Evaluate a rule now",
        request=None,
        responses={200: io.EvaluationOut},
        tags=TAGS,
    )
    def post(self, request, pk: int):
        rule = get_or_404(AlertRule.objects.all(), pk)
        try:
            result = services.rule_evaluate_now(rule=rule)
        except services.RuleDisabledError as exc:
            raise Conflict(str(exc)) from None
        return Response(io.EvaluationOut(result).data)


# --- channels ----------------------------------------------------------------------


class ChannelListView(AlertsView):
    change_permission = "alerts.change_alertchannel"

    @extend_schema(
        summary="List notification channels",
        responses={200: io.ChannelSerializer(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        channels = AlertChannel.objects.all()
        # The request decides what of the targets is shown (masked for read keys).
        return Response(
            io.ChannelSerializer(channels, many=True, context={"request": request}).data
        )

    @extend_schema(
        summary="Create a notification channel",
        request=io.ChannelSerializer,
        responses={201: io.ChannelSerializer},
        tags=TAGS,
    )
    def post(self, request):
        data = validated(io.ChannelSerializer, request.data)
        with target_refused_as_400():
            channel = services.channel_create(data=dict(data), actor=request_actor(request))
        return Response(
            io.ChannelSerializer(channel, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class ChannelDetailView(AlertsView):
    change_permission = "alerts.change_alertchannel"

    @extend_schema(
        summary="One notification channel", responses={200: io.ChannelSerializer}, tags=TAGS
    )
    def get(self, request, pk: int):
        channel = get_or_404(AlertChannel.objects.all(), pk)
        return Response(io.ChannelSerializer(channel, context={"request": request}).data)

    @extend_schema(
        summary="Change a notification channel",
        request=io.ChannelSerializer(partial=True),
        responses={200: io.ChannelSerializer},
        tags=TAGS,
    )
    def patch(self, request, pk: int):
        channel = get_or_404(AlertChannel.objects.all(), pk)
        data = validated(io.ChannelSerializer, request.data, instance=channel, partial=True)
        with target_refused_as_400():
            channel = services.channel_update(
                channel=channel, data=dict(data), actor=request_actor(request)
            )
        return Response(io.ChannelSerializer(channel, context={"request": request}).data)

    @extend_schema(summary="Delete a notification channel", responses={204: None}, tags=TAGS)
    def delete(self, request, pk: int):
        services.channel_delete(
            channel=get_or_404(AlertChannel.objects.all(), pk), actor=request_actor(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelTestView(AlertsView):
    change_permission = "alerts.change_alertchannel"

    @extend_schema(
        summary="Send a test notification now",
        request=None,
        responses={200: io.DeliveryOut},
        tags=TAGS,
    )
    def post(self, request, pk: int):
        delivery = services.channel_test(
            channel=get_or_404(AlertChannel.objects.all(), pk), actor=request_actor(request)
        )
        return Response(io.DeliveryOut(delivery).data)


# --- silences ----------------------------------------------------------------------


class SilenceQuery(serializers.Serializer):
    include_expired = serializers.BooleanField(required=False, default=False)


class SilenceListView(AlertsView):
    change_permission = "alerts.change_silence"

    @extend_schema(
        summary="List silences (active and future; ?include_expired=true for all)",
        parameters=[SilenceQuery],
        responses={200: io.SilenceSerializer(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        query = validated(SilenceQuery, request.query_params)
        return Response(io.SilenceSerializer(selectors.silence_list(**query), many=True).data)

    @extend_schema(
        summary="Create a silence",
        request=io.SilenceSerializer,
        responses={201: io.SilenceSerializer},
        tags=TAGS,
    )
    def post(self, request):
        data = validated(io.SilenceSerializer, request.data)
        silence = services.silence_create(
            matchers=data["matchers"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            comment=data.get("comment", ""),
            actor=request_actor(request),
        )
        return Response(io.SilenceSerializer(silence).data, status=status.HTTP_201_CREATED)


class SilenceDetailView(AlertsView):
    change_permission = "alerts.change_silence"

    @extend_schema(summary="One silence", responses={200: io.SilenceSerializer}, tags=TAGS)
    def get(self, request, pk: int):
        return Response(io.SilenceSerializer(get_or_404(Silence.objects.all(), pk)).data)

    @extend_schema(
        summary="Expire a silence now (it is kept, ended)",
        responses={200: io.SilenceSerializer},
        tags=TAGS,
    )
    def delete(self, request, pk: int):
        silence = services.silence_expire(
            silence=get_or_404(Silence.objects.all(), pk), actor=request_actor(request)
        )
        return Response(io.SilenceSerializer(silence).data)


# --- incidents ---------------------------------------------------------------------


class IncidentPagination(TimeCursorPagination):
    ordering = ("-triggered_at", "-id")


class IncidentListView(AlertsView):
    change_permission = "alerts.change_alertincident"
    pagination_class = IncidentPagination

    @extend_schema(
        summary="List incidents (open and acknowledged unless ?status= says otherwise)",
        parameters=[io.IncidentQuery],
        responses={200: io.IncidentOut(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        query = validated(
            io.IncidentQuery,
            listed_params(
                request.query_params,
                lists=("status", "severity"),
                singles=("rule", "since", "until"),
            ),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.incident_list(**query), request, view=self)
        return paginator.get_paginated_response(io.IncidentOut(page, many=True).data)


class IncidentDetailView(AlertsView):
    change_permission = "alerts.change_alertincident"

    @extend_schema(
        summary="One incident, with its timeline and delivery log",
        responses={200: io.IncidentDetailOut},
        tags=TAGS,
    )
    def get(self, request, pk: int):
        return Response(io.IncidentDetailOut(_detail(pk)).data)


def _detail(pk: int) -> AlertIncident:
    return get_or_404(selectors.incidents_with_history(), pk)


TRANSITION_RESPONSES = {
    200: io.IncidentDetailOut,
    404: OpenApiResponse(description="No such incident."),
    409: OpenApiResponse(description="The incident's status does not allow it (e.g. resolved)."),
}


class IncidentAcknowledgeView(AlertsView):
    change_permission = "alerts.change_alertincident"

    @extend_schema(
        summary="Acknowledge an incident (stops repeat notifications)",
        request=None,
        responses=TRANSITION_RESPONSES,
        tags=TAGS,
    )
    def post(self, request, pk: int):
        _detail(pk)
        try:
            services.incident_acknowledge(incident_id=pk, actor=request_actor(request))
        except services.TransitionError as exc:
            raise Conflict(str(exc)) from None
        return Response(io.IncidentDetailOut(_detail(pk)).data)


class IncidentResolveView(AlertsView):
    change_permission = "alerts.change_alertincident"

    @extend_schema(
        summary="Resolve an incident, with an optional note",
        request=io.ResolveIn,
        responses=TRANSITION_RESPONSES,
        tags=TAGS,
    )
    def post(self, request, pk: int):
        _detail(pk)
        note = validated(io.ResolveIn, request.data)["note"]
        try:
            services.incident_resolve(incident_id=pk, actor=request_actor(request), note=note)
        except services.TransitionError as exc:
            raise Conflict(str(exc)) from None
        return Response(io.IncidentDetailOut(_detail(pk)).data)


class ChangePagination(TimeCursorPagination):
    ordering = ("-at", "-id")


class ConfigChangeListView(AlertsView):
    pagination_class = ChangePagination

    @extend_schema(
        summary="Who changed which rule, channel or silence, newest first",
        parameters=[io.ConfigChangeQuery],
        responses={200: io.ConfigChangeOut(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        query = validated(io.ConfigChangeQuery, request.query_params)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.config_changes(**query), request, view=self)
        return paginator.get_paginated_response(io.ConfigChangeOut(page, many=True).data)


urls = [
    path("rules", RuleListView.as_view(), name="alert-rules"),
    path("rules/<int:pk>", RuleDetailView.as_view(), name="alert-rule"),
    path("rules/<int:pk>/evaluate", RuleEvaluateView.as_view(), name="alert-rule-evaluate"),
    path("channels", ChannelListView.as_view(), name="alert-channels"),
    path("channels/<int:pk>", ChannelDetailView.as_view(), name="alert-channel"),
    path("channels/<int:pk>/test", ChannelTestView.as_view(), name="alert-channel-test"),
    path("silences", SilenceListView.as_view(), name="alert-silences"),
    path("silences/<int:pk>", SilenceDetailView.as_view(), name="alert-silence"),
    path("incidents", IncidentListView.as_view(), name="alert-incidents"),
    path("changes", ConfigChangeListView.as_view(), name="alert-config-changes"),
    path("incidents/<int:pk>", IncidentDetailView.as_view(), name="alert-incident"),
    path(
        "incidents/<int:pk>/acknowledge",
        IncidentAcknowledgeView.as_view(),
        name="alert-incident-acknowledge",
    ),
    path(
        "incidents/<int:pk>/resolve", IncidentResolveView.as_view(), name="alert-incident-resolve"
    ),
]
