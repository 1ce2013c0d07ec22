"""Request and response shapes of the alerting API; the views answer through these."""

import math
import re

from rest_framework import serializers

from apps.core.booleans import BooleansAreNotValuesMixin
from apps.core.params import NonEmptyQuery
from apps.core.secrets import mask_credentials
from apps.core.serializers import StrictSerializerMixin
from apps.ingest.privacy import scrub
from apps.keys.permissions import may_see_secrets
from apps.metrics.schemas import NAME_PATTERN

from . import senders
from .models import (
    RULE_READ_ONLY_FIELDS,
    AlertChannel,
    AlertIncident,
    AlertRule,
    ConfigChange,
    Delivery,
    DeliveryAttempt,
    IncidentEvent,
    IncidentStatus,
    Severity,
    Silence,
)

MAX_ABS_THRESHOLD = 1e18  # the metric value range: a threshold outside it never matches
MAX_WINDOW_SECONDS = 30 * 86400
MAX_DURATION_SECONDS = 7 * 86400
TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")
# Free text a person writes about a rule or a silence: a paragraph, not a document
# (a 100 kB description was stored; every list of rules carried it).
MAX_NOTE = 2000


def finite(value: float) -> float:
    if not math.isfinite(value) or abs(value) > MAX_ABS_THRESHOLD:
        raise serializers.ValidationError("Must be a finite number within -1e18..1e18.")
    return value


class TagsField(serializers.DictField):
    """A tag filter as in the statistics API: every tag must match exactly."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(max_length=200), **kwargs)

    def to_internal_value(self, data):
        tags = super().to_internal_value(data)
        if len(tags) > 20:
            raise serializers.ValidationError("At most 20 tags.")
        bad = [key for key in tags if not TAG.match(key)]
        if bad:
            raise serializers.ValidationError(f"Invalid tag name {bad[0]!r}.")
        # As ingest stores labels: a secret-looking tag's value and the credentials in
        # any value are redacted, so the rule still matches the series they name.
        return scrub(tags)


def metric_name(name: str) -> str:
    # The pattern ingest records names by: a rule on any other name never sees a point.
    if not NAME_PATTERN.fullmatch(name):
        raise serializers.ValidationError(
            "Must start with a letter, _ or :, then letters, digits, _ : . - (max 200), "
            "as recorded metric names do."
        )
    return name


class RuleSerializer(BooleansAreNotValuesMixin, StrictSerializerMixin, serializers.ModelSerializer):
    description = serializers.CharField(required=False, allow_blank=True, max_length=MAX_NOTE)
    metric_name = serializers.CharField(
        max_length=200,
        trim_whitespace=False,  # ingest keeps `cpu\n` as sent, and refuses it
        validators=[metric_name],
        help_text=f"Pattern: ^{NAME_PATTERN.pattern}$",
    )
    tags = TagsField(required=False)
    channels = serializers.SlugRelatedField(
        slug_field="name", many=True, required=False, queryset=AlertChannel.objects.all()
    )
    threshold = serializers.FloatField(validators=[finite])
    resolve_threshold = serializers.FloatField(required=False, allow_null=True, validators=[finite])
    duration_seconds = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_DURATION_SECONDS
    )
    window_seconds = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_WINDOW_SECONDS
    )
    repeat_interval_seconds = serializers.IntegerField(
        required=False, min_value=60, max_value=MAX_DURATION_SECONDS
    )

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "description",
            "metric_name",
            "tags",
            "aggregation",
            "condition_operator",
            "threshold",
            "resolve_threshold",
            "severity",
            "duration_seconds",
            "window_seconds",
            "repeat_interval_seconds",
            "no_data",
            "channels",
            "enabled",
            *RULE_READ_ONLY_FIELDS,
        ]
        read_only_fields = RULE_READ_ONLY_FIELDS

    def validate(self, attrs: dict) -> dict:
        operator = attrs.get("condition_operator", getattr(self.instance, "condition_operator", ""))
        threshold = attrs.get("threshold", getattr(self.instance, "threshold", None))
        resolve = attrs.get("resolve_threshold", getattr(self.instance, "resolve_threshold", None))
        if resolve is not None and threshold is not None:
            # Hysteresis means resolving further from the alerting side, never nearer.
            wrong = (operator in ("gt", "gte") and resolve > threshold) or (
                operator in ("lt", "lte") and resolve < threshold
            )
            if wrong or operator == "eq":
                raise serializers.ValidationError(
                    {
                        "resolve_threshold": (
                            "Must be at or below the threshold for gt/gte, at or above it "
                            "for lt/lte, and is not allowed with eq."
                        )
                    }
                )
        return attrs


class ChannelSerializer(
    BooleansAreNotValuesMixin, StrictSerializerMixin, serializers.ModelSerializer
):
    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=200
    )
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = AlertChannel
        fields = [
            "id",
            "name",
            "type",
            "target",
            "secret",
            "has_secret",
            "created_at",
            "created_by",
        ]
        read_only_fields = ["created_at", "created_by"]

    def get_has_secret(self, channel: AlertChannel) -> bool:
        return bool(channel.secret)

    def to_representation(self, channel: AlertChannel) -> dict:
        """The target's credentials (a webhook URL's token, a Slack hook's path) in full
        for an admin key or a staff user who may change channels; masked for the rest."""
        data = super().to_representation(channel)
        request = self.context.get("request")
        if not may_see_secrets(request, "alerts.change_alertchannel"):
            data["target"] = mask_credentials(data["target"])
        return data

    def validate(self, attrs: dict) -> dict:
        kind = attrs.get("type", getattr(self.instance, "type", None))
        target = attrs.get("target", getattr(self.instance, "target", ""))
        try:
            senders.check_target(kind, target)
        except ValueError as exc:
            raise serializers.ValidationError({"target": str(exc)}) from None
        return attrs


class SilenceSerializer(
    BooleansAreNotValuesMixin, StrictSerializerMixin, serializers.ModelSerializer
):
    matchers = serializers.DictField()
    starts_at = serializers.DateTimeField(required=False)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=MAX_NOTE)
    active = serializers.SerializerMethodField()

    class Meta:
        model = Silence
        fields = ["id", "matchers", "starts_at", "ends_at", "comment", "created_by", "active"]
        read_only_fields = ["created_by"]

    def get_active(self, silence: Silence) -> bool:
        from django.utils import timezone

        now = timezone.now()
        return silence.starts_at <= now < silence.ends_at

    def validate_matchers(self, matchers: dict) -> dict:
        unknown = set(matchers) - {"rule_name", "severity", "tags"}
        if unknown:
            raise serializers.ValidationError(
                f"Unknown matcher {sorted(unknown)[0]!r}: use rule_name, severity or tags."
            )
        if not matchers:
            raise serializers.ValidationError("Name at least one of rule_name, severity, tags.")
        if "rule_name" in matchers and not (
            isinstance(matchers["rule_name"], str) and 0 < len(matchers["rule_name"]) <= 200
        ):
            raise serializers.ValidationError("rule_name must be a rule's name.")
        if "severity" in matchers and matchers["severity"] not in Severity.values:
            raise serializers.ValidationError(
                f"severity must be one of {', '.join(Severity.values)}."
            )
        if "tags" in matchers:
            matchers["tags"] = TagsField().run_validation(matchers["tags"])
        return matchers

    def validate(self, attrs: dict) -> dict:
        from django.utils import timezone

        starts = attrs.setdefault("starts_at", timezone.now())
        if attrs["ends_at"] <= starts:
            raise serializers.ValidationError({"ends_at": "Must be after starts_at."})
        return attrs


class TimelineEntry(serializers.ModelSerializer):
    class Meta:
        model = IncidentEvent
        fields = ["kind", "at", "actor", "detail"]


class AttemptOut(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["at", "ok", "status_code", "error", "duration_ms"]


class DeliveryOut(serializers.ModelSerializer):
    delivery_id = serializers.UUIDField(source="id")
    channel = serializers.CharField(source="channel_name")
    attempts = AttemptOut(source="attempt_log", many=True)

    class Meta:
        model = Delivery
        fields = [
            "delivery_id",
            "channel",
            "event",
            "status",
            "error",
            "attempts",
            "created_at",
            "next_attempt_at",
            "delivered_at",
        ]


class IncidentOut(serializers.ModelSerializer):
    previous_incident = serializers.PrimaryKeyRelatedField(source="previous", read_only=True)

    class Meta:
        model = AlertIncident
        fields = [
            "id",
            "rule",
            "rule_name",
            "status",
            "severity",
            "metric_value",
            "last_value",
            "threshold",
            "condition_operator",
            "triggered_at",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "resolution_notes",
            "auto_resolved",
            "previous_incident",
        ]


class RuleRefOut(serializers.ModelSerializer):
    """The rule in a notification (the webhook body's `rule`)."""

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "metric_name",
            "tags",
            "aggregation",
            "window_seconds",
            "condition_operator",
            "threshold",
            "severity",
        ]


class IncidentDetailOut(IncidentOut):
    timeline = TimelineEntry(many=True)
    deliveries = DeliveryOut(many=True)

    class Meta(IncidentOut.Meta):
        fields = [*IncidentOut.Meta.fields, "timeline", "deliveries"]


class IncidentQuery(NonEmptyQuery):
    status = serializers.ListField(
        child=serializers.ChoiceField(choices=IncidentStatus.values), required=False
    )
    severity = serializers.ListField(
        child=serializers.ChoiceField(choices=Severity.values), required=False
    )
    rule = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class ResolveIn(StrictSerializerMixin, serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class EvaluationOut(serializers.Serializer):
    rule_id = serializers.IntegerField()
    rule_name = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    state = serializers.CharField()
    action = serializers.CharField()
    incident_id = serializers.IntegerField(allow_null=True)


class ConfigChangeOut(serializers.ModelSerializer):
    class Meta:
        model = ConfigChange
        fields = ["at", "actor", "action", "object_type", "object_id", "object_name", "changes"]


class ConfigChangeQuery(NonEmptyQuery):
    object_type = serializers.ChoiceField(choices=["rule", "channel", "silence"], required=False)
    object_id = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
