"""Request and response shapes of the monitoring API; the views answer through these."""

import re
from urllib.parse import urlsplit

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.params import NonEmptyQuery, StrictIntegerField
from apps.core.secrets import mask_credentials
from apps.core.serializers import StrictSerializerMixin, UtcDateTimeField
from apps.keys.permissions import may_see_secrets

from .checks import custom_check_names
from .models import SERVICE_READ_ONLY_FIELDS, CheckType, HealthCheck, MonitoredService
from .selectors import UPTIME_DAYS, UPTIME_WINDOWS, Outage

DB_SCHEMES = {CheckType.POSTGRES: ("postgres", "postgresql"), CheckType.REDIS: ("redis", "rediss")}
DB_EXAMPLES = {
    CheckType.POSTGRES: "postgres://monitor:password@db.internal:5432/app",
    CheckType.REDIS: "redis://:password@cache.internal:6379/0",
}
HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(\d{1,5})$")
# A name is a segment of its URLs (`.../health/{name}`, `.../sla/{name}`), so it holds only
# what a path segment carries and decodes back the same: letters, digits, spaces (sent as
# %20) and RFC 3986's unencoded segment characters. Not `/` (a server decodes %2F into a
# separator), `?`, `#`, `%`, `\` (a browser turns it into `/`), quotes, brackets or
# control characters; and not only dots (`.` and `..` are removed from a path by clients).
SERVICE_NAME = re.compile(r"[\w \-.~!$&'()*+,;=:@]+")
SERVICE_NAME_HELP = (
    "Letters, digits, spaces and - . _ ~ ! $ & ' ( ) * + , ; = : @ (not only dots): "
    "the name is part of its health and SLA URLs."
)


class ServiceSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    interval_seconds = serializers.IntegerField(required=False, min_value=5, max_value=86400)
    timeout_seconds = serializers.FloatField(required=False, min_value=0.1, max_value=120)
    expected_status = serializers.IntegerField(required=False, min_value=100, max_value=599)
    degraded_above_ms = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=600_000
    )
    failure_threshold = serializers.IntegerField(required=False, min_value=1, max_value=100)
    sla_target = serializers.FloatField(required=False, min_value=0, max_value=100)
    grace_seconds = serializers.IntegerField(required=False, min_value=0, max_value=86400)
    ping_url = serializers.SerializerMethodField()

    class Meta:
        model = MonitoredService
        fields = [
            "id",
            "name",
            "check_type",
            "target",
            "interval_seconds",
            "timeout_seconds",
            "expected_status",
            "degraded_above_ms",
            "failure_threshold",
            "sla_target",
            "grace_seconds",
            "enabled",
            "health_key",
            "public",
            "public_name",
            "ping_url",
            *SERVICE_READ_ONLY_FIELDS,
        ]
        read_only_fields = SERVICE_READ_ONLY_FIELDS
        extra_kwargs = {"name": {"help_text": SERVICE_NAME_HELP}}

    def get_ping_url(self, service: MonitoredService) -> str | None:
        """Heartbeats: where the watched job calls in (GET or POST, no key)."""
        if service.check_type != CheckType.HEARTBEAT:
            return None
        path = reverse("monitoring-ping", args=[service.ping_token])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def to_representation(self, service: MonitoredService) -> dict:
        """The target's credentials and the heartbeat's ping token (whoever has it can
        ping) in full for an admin key or a staff user who may change services; masked
        for the rest (a read key)."""
        data = super().to_representation(service)
        if not may_see_secrets(self.context.get("request"), "monitoring.change_monitoredservice"):
            data["target"] = mask_credentials(data["target"])
            if data.get("ping_url"):
                data["ping_url"] = mask_credentials(data["ping_url"], secrets=[service.ping_token])
        return data

    def validate(self, attrs: dict) -> dict:
        # Here, not in validate_name: the admin's form runs this method alone.
        name = attrs.get("name")
        if name is not None and name != getattr(self.instance, "name", None):
            if not SERVICE_NAME.fullmatch(name) or not name.strip("."):
                raise serializers.ValidationError({"name": SERVICE_NAME_HELP})
        kind = attrs.get("check_type", getattr(self.instance, "check_type", None))
        target = attrs.get("target", getattr(self.instance, "target", ""))
        timeout = attrs.get("timeout_seconds", getattr(self.instance, "timeout_seconds", 10))
        interval = attrs.get("interval_seconds", getattr(self.instance, "interval_seconds", 60))
        if kind == CheckType.HTTP:
            parts = urlsplit(target)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise serializers.ValidationError({"target": "An http:// or https:// URL."})
        elif kind == CheckType.TCP:
            match = HOST_PORT.match(target)
            if not match or not 0 < int(match[2]) < 65536:
                raise serializers.ValidationError({"target": "host:port, e.g. db.internal:5432."})
        elif kind in (CheckType.POSTGRES, CheckType.REDIS):
            schemes = DB_SCHEMES[kind]
            try:
                parts = urlsplit(target)
                valid = parts.scheme in schemes and bool(parts.hostname) and parts.port != 0
            except ValueError:  # a bad port, say; never echo the URL (it may hold a password)
                valid = False
            if not valid:
                shown = " or ".join(f"{scheme}://" for scheme in schemes)
                raise serializers.ValidationError(
                    {"target": f"A {shown} URL with a host, e.g. {DB_EXAMPLES[kind]}."}
                )
        elif kind == CheckType.CUSTOM and target not in custom_check_names():
            names = ", ".join(custom_check_names()) or "none registered"
            raise serializers.ValidationError({"target": f"A custom check's name: {names}."})
        if kind != CheckType.HEARTBEAT and timeout >= interval:
            raise serializers.ValidationError(
                {"timeout_seconds": "Must be shorter than interval_seconds."}
            )
        return attrs


class PingOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "disabled"])
    detail = serializers.CharField(required=False, help_text="Why the ping was not counted.")


class HealthCheckOut(serializers.ModelSerializer):
    class Meta:
        model = HealthCheck
        fields = ["status", "response_time_ms", "error", "consecutive_failures", "checked_at"]


class ServiceHealthOut(serializers.Serializer):
    service_name = serializers.CharField()
    check_type = serializers.CharField()
    status = serializers.CharField()
    response_time_ms = serializers.FloatField(allow_null=True)
    consecutive_failures = serializers.IntegerField()
    last_checked = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class ServiceHealthDetailOut(ServiceHealthOut):
    recent_checks = HealthCheckOut(many=True)


class HealthSummaryOut(serializers.Serializer):
    overall_status = serializers.CharField()
    total_services = serializers.IntegerField()
    healthy = serializers.IntegerField()
    degraded = serializers.IntegerField()
    unhealthy = serializers.IntegerField()
    unknown = serializers.IntegerField()
    services = ServiceHealthOut(many=True)
    checked_at = serializers.DateTimeField()


class OutageOut(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(allow_null=True, help_text="null: still down.")
    duration_seconds = serializers.FloatField()


class SlaOut(serializers.Serializer):
    service_name = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["ok", "no_data"],
        help_text="no_data: the service was not checked in the window; uptime, compliant "
        "and the error budget are then null.",
    )
    detail = serializers.CharField(allow_blank=True, help_text="Why there is no data.")
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    uptime_percentage = serializers.FloatField(allow_null=True)
    target = serializers.FloatField()
    compliant = serializers.BooleanField(allow_null=True)
    avg_response_time_ms = serializers.FloatField(allow_null=True)
    p95_response_time_ms = serializers.FloatField(allow_null=True)
    downtime_count = serializers.IntegerField()
    downtime_seconds = serializers.FloatField()
    downtimes = OutageOut(many=True)
    error_budget_remaining_seconds = serializers.FloatField(allow_null=True)


class SlaQuery(NonEmptyQuery):
    hours = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=8760,
        help_text="Window length, 1-8760 (default 720).",
    )
    to = serializers.DateTimeField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict) -> dict:
        if ("from" in attrs) != ("to" in attrs):
            raise serializers.ValidationError({"from": "Give both from and to, or neither."})
        if "from" in attrs:
            if "hours" in attrs:
                raise serializers.ValidationError({"hours": "Give hours, or from and to."})
            if attrs["to"] <= attrs["from"]:
                raise serializers.ValidationError({"to": "Must be after from."})
        return attrs


class SystemPartsOut(serializers.Serializer):
    database = serializers.BooleanField(help_text="A query answered.")
    redis = serializers.BooleanField(help_text="Redis answered.")
    celery = serializers.BooleanField(help_text="At least one worker gave a sign of life.")
    celery_beat = serializers.BooleanField(help_text="Beat gave a sign of life.")
    periodic_tasks = serializers.BooleanField(
        help_text="No periodic job has failed PERIODIC_TASK_FAILURES_ALERT runs in a row."
    )

    def to_representation(self, instance: dict) -> dict:
        # Then one boolean per monitored service with a health_key (`ollama`, say).
        data = super().to_representation(instance)
        for key, up in instance.items():
            data.setdefault(key, bool(up))
        return data


class SystemHealthOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy"])
    services = SystemPartsOut(
        help_text="These parts, then one boolean per enabled monitored service with a "
        "health_key (e.g. `ollama`): true while its checks find it up."
    )
    timestamp = UtcDateTimeField()


# --- uptime -------------------------------------------------------------------------


class UptimeQuery(NonEmptyQuery):
    days = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=UPTIME_DAYS,
        help_text=f"Daily uptime of the last `days` UTC days, today included, 1-{UPTIME_DAYS} "
        f"(default {UPTIME_DAYS}).",
    )


class UptimeWindowsOut(serializers.Serializer):
    """Uptime percentage over the last 24 h, 7 d and 30 d; null: no data then."""

    def get_fields(self) -> dict:
        return {
            label: serializers.FloatField(allow_null=True, help_text=f"Uptime % over {label}.")
            for label in UPTIME_WINDOWS
        }


class UptimeDayOut(serializers.Serializer):
    date = serializers.DateField(help_text="A UTC day.")
    uptime_percentage = serializers.FloatField(
        allow_null=True,
        help_text="null: no data (not monitored yet, or no check that day), not 100 %.",
    )
    downtime_seconds = serializers.FloatField()
    downtime_count = serializers.IntegerField(help_text="Downtimes that overlap the day.")
    monitored_seconds = serializers.FloatField(
        help_text="The part of the day the uptime is over (today: so far; 0 with no data)."
    )


class DowntimeOut(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.SerializerMethodField(help_text="null: still down.")
    ongoing = serializers.BooleanField()
    duration_seconds = serializers.SerializerMethodField(help_text="So far, while ongoing.")
    error = serializers.CharField(help_text="The first failed check's error.")

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_end(self, outage: Outage) -> str | None:
        return None if outage.ongoing else serializers.DateTimeField().to_representation(outage.end)

    def get_duration_seconds(self, outage: Outage) -> float:
        return round(outage.seconds, 3)


class ServiceUptimeOut(serializers.Serializer):
    service_id = serializers.IntegerField()
    service = ServiceHealthOut(help_text="Its status now.")
    sla_target = serializers.FloatField()
    uptime = UptimeWindowsOut()
    days = UptimeDayOut(many=True, help_text="Oldest first, today last.")
    downtimes = DowntimeOut(many=True, help_text="Over the days asked, newest first.")
    sla = SlaOut(help_text="The SLA report over the last 30 days (as GET .../sla/{name}).")


class UptimeSummaryOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField(help_text="Now (unknown: checks stopped or none yet).")
    enabled = serializers.BooleanField()
    public = serializers.BooleanField()
    sla_target = serializers.FloatField()
    uptime = UptimeWindowsOut()


class ResponseTimeQuery(NonEmptyQuery):
    hours = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=24 * UPTIME_DAYS,
        help_text=f"The last `hours`, 1-{24 * UPTIME_DAYS} (default 24). Checks are kept "
        "MONITORING_CHECK_RETENTION_DAYS: older buckets are missing.",
    )
    interval_seconds = StrictIntegerField(
        required=False,
        min_value=60,
        max_value=86400,
        help_text="Bucket length, 60-86400; default: about 300 buckets over the window.",
    )

    def validate(self, attrs: dict) -> dict:
        hours = attrs.setdefault("hours", 24)
        if "interval_seconds" not in attrs:  # a whole number of minutes, ~300 buckets
            attrs["interval_seconds"] = max(60, -(-hours * 3600 // 300 // 60) * 60)
        if hours * 3600 // attrs["interval_seconds"] > 10_000:
            raise serializers.ValidationError(
                {"interval_seconds": "At most 10,000 buckets: choose a longer interval."}
            )
        return attrs


class ResponseTimeBucketOut(serializers.Serializer):
    start = serializers.DateTimeField()
    checks = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Checks that found it unhealthy.")
    avg_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(allow_null=True)
    max_ms = serializers.FloatField(allow_null=True)


class ResponseTimesOut(serializers.Serializer):
    service_id = serializers.IntegerField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    interval_seconds = serializers.IntegerField()
    points = ResponseTimeBucketOut(
        many=True, help_text="Oldest first; buckets without a check are left out."
    )


class PingsQuery(NonEmptyQuery):
    limit = StrictIntegerField(
        required=False, min_value=1, max_value=500, help_text="1-500 (default 50)."
    )


class PingsOut(serializers.Serializer):
    service_id = serializers.IntegerField()
    last_ping_at = serializers.DateTimeField(allow_null=True)
    pings = serializers.ListField(
        child=serializers.DateTimeField(), help_text="Newest first (heartbeats only)."
    )
