"""Triage in the admin: the on-call screen is the incident list.

Every action goes through the services, as `user:<username>`, so the timeline
says who did what, exactly as for API changes.
"""

from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import Case, When
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from apps.keys.permissions import request_actor

from . import evaluation, services
from .models import (
    RULE_READ_ONLY_FIELDS,
    AlertChannel,
    AlertIncident,
    AlertRule,
    ConfigChange,
    Delivery,
    DeliveryAttempt,
    IncidentEvent,
    Silence,
)

SEVERITY_COLORS = {
    "info": "#417690",
    "warning": "#b7791f",
    "error": "#c05621",
    "critical": "#c53030",
}
SILENCES = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(hours=24)}


class AuditedAdmin(admin.ModelAdmin):
    """Admin saves and deletions go to the same configuration trail as API changes."""

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        data = {name: form.cleaned_data.get(name) for name in form.changed_data}
        action = "changed" if change else "created"
        services.config_change_record(request_actor(request), action, obj, data)

    def delete_model(self, request, obj) -> None:
        services.config_change_record(request_actor(request), "deleted", obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            services.config_change_record(request_actor(request), "deleted", obj)
        super().delete_queryset(request, queryset)


class TimelineInline(admin.TabularInline):
    model = IncidentEvent
    fields = ["at", "kind", "actor", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "timeline"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ["created_at", "channel_name", "event", "status", "attempts", "attempt_log_text"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "delivery log"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="attempts (time, result, ms)")
    def attempt_log_text(self, delivery: Delivery) -> str:
        lines = [
            f"{a.at:%H:%M:%S} {'ok' if a.ok else 'failed'} "
            f"{a.status_code or ''} {a.error[:80]} ({a.duration_ms:.0f} ms)"
            for a in DeliveryAttempt.objects.filter(delivery=delivery).order_by("at", "id")
        ]
        return format_html("<br>".join(["{}"] * len(lines)), *lines) if lines else "-"


@admin.register(AlertIncident)
class AlertIncidentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "severity_badge",
        "status",
        "rule_name",
        "value_vs_threshold",
        "age",
        "acknowledged_by",
    ]
    list_display_links = ["id", "rule_name"]
    list_filter = ["status", "severity", "auto_resolved", "triggered_at"]
    search_fields = ["rule_name", "resolution_notes", "acknowledged_by", "resolved_by"]
    date_hierarchy = "triggered_at"
    # Unresolved first (the ones to act on), newest first within each.
    ordering = [Case(When(status="resolved", then=1), default=0), "-triggered_at", "-id"]
    actions = ["acknowledge", "resolve", "silence_1h", "silence_4h", "silence_24h"]
    inlines = [TimelineInline, DeliveryInline]
    readonly_fields = [
        "rule",
        "rule_name",
        "status",
        "severity",
        "metric_value",
        "last_value",
        "condition_operator",
        "threshold",
        "triggered_at",
        "acknowledged_by",
        "acknowledged_at",
        "resolved_by",
        "resolved_at",
        "auto_resolved",
        "previous",
        "last_notified_at",
    ]
    fields = [*readonly_fields, "resolution_notes"]

    def has_add_permission(self, request) -> bool:
        return False  # incidents are opened by rules

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # history is kept

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, incident: AlertIncident) -> str:
        return format_html(
            '<strong style="color:{}">{}</strong>',
            SEVERITY_COLORS.get(incident.severity, "inherit"),
            incident.severity.upper(),
        )

    @admin.display(description="value vs threshold")
    def value_vs_threshold(self, incident: AlertIncident) -> str:
        symbol = incident.get_condition_operator_display()
        return f"{_short(incident.metric_value)} {symbol} {_short(incident.threshold)}"

    @admin.display(description="age", ordering="triggered_at")
    def age(self, incident: AlertIncident) -> str:
        return timesince(incident.triggered_at, timezone.now())

    def save_model(self, request, obj, form, change) -> None:
        # Only the resolution notes are editable here; status changes are the actions'.
        AlertIncident.objects.filter(pk=obj.pk).update(resolution_notes=obj.resolution_notes)

    def _each(self, request, queryset, change, verb: str) -> None:
        done, refused = 0, []
        for incident in queryset:
            try:
                change(incident)
                done += 1
            except services.TransitionError as exc:
                refused.append(f"#{incident.pk}: {exc}")
        if done:
            self.message_user(request, f"{done} incident(s) {verb}.", messages.SUCCESS)
        if refused:
            self.message_user(request, " ".join(refused), messages.WARNING)

    @admin.action(description="Acknowledge", permissions=["change"])
    def acknowledge(self, request, queryset) -> None:
        actor = request_actor(request)
        self._each(
            request,
            queryset,
            lambda i: services.incident_acknowledge(incident_id=i.pk, actor=actor),
            "acknowledged",
        )

    @admin.action(description="Resolve", permissions=["change"])
    def resolve(self, request, queryset) -> None:
        actor = request_actor(request)
        self._each(
            request,
            queryset,
            lambda i: services.incident_resolve(
                incident_id=i.pk, actor=actor, note="from the admin"
            ),
            "resolved",
        )

    def _silence(self, request, queryset, key: str) -> None:
        actor = request_actor(request)
        self._each(
            request,
            queryset,
            lambda i: services.incident_silence(
                incident_id=i.pk, actor=actor, duration=SILENCES[key]
            ),
            f"silenced for {key}",
        )

    @admin.action(description="Silence 1 h", permissions=["change"])
    def silence_1h(self, request, queryset) -> None:
        self._silence(request, queryset, "1h")

    @admin.action(description="Silence 4 h", permissions=["change"])
    def silence_4h(self, request, queryset) -> None:
        self._silence(request, queryset, "4h")

    @admin.action(description="Silence 24 h", permissions=["change"])
    def silence_24h(self, request, queryset) -> None:
        self._silence(request, queryset, "24h")


def _short(value: float | None) -> str:
    return "no data" if value is None else f"{value:.6g}"


@admin.register(AlertRule)
class AlertRuleAdmin(AuditedAdmin):
    list_display = [
        "name",
        "enabled",
        "state",
        "severity",
        "condition",
        "last_value",
        "last_evaluated_at",
        "trigger_count",
    ]
    list_filter = ["enabled", "state", "severity", "builtin"]
    search_fields = ["name", "metric_name", "description"]
    filter_horizontal = ["channels"]
    readonly_fields = RULE_READ_ONLY_FIELDS
    change_form_template = "admin/alerts/alertrule/change_form.html"

    @admin.display(description="condition")
    def condition(self, rule: AlertRule) -> str:
        return (
            f"{rule.aggregation}({rule.metric_name}, {rule.window_seconds}s) "
            f"{rule.get_condition_operator_display()} {rule.threshold:g}"
        )

    def get_urls(self):
        own = [
            path(
                "<int:pk>/evaluate/",
                self.admin_site.admin_view(self.evaluate_view),
                name="alerts_alertrule_evaluate",
            )
        ]
        return own + super().get_urls()

    def evaluate_view(self, request, pk: int):
        rule = self.get_object(request, str(pk))
        if rule is None or not self.has_change_permission(request, rule):
            return HttpResponseRedirect(reverse("admin:alerts_alertrule_changelist"))
        if not rule.enabled:
            self.message_user(request, "The rule is disabled; enable it first.", messages.WARNING)
        else:
            result = evaluation.rule_evaluate(rule.pk)
            self.message_user(
                request,
                f"{rule.name}: value {_short(result.value)}, state {result.state}"
                + (f", incident #{result.incident_id}" if result.incident_id else ""),
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:alerts_alertrule_change", args=[pk]))

    def save_model(self, request, obj, form, change) -> None:
        obj.updated_by = request_actor(request)
        if not change:
            obj.created_by = obj.updated_by
        super().save_model(request, obj, form, change)


@admin.register(AlertChannel)
class AlertChannelAdmin(AuditedAdmin):
    list_display = ["name", "type", "target", "created_by", "created_at"]
    list_filter = ["type"]
    search_fields = ["name", "target"]
    readonly_fields = ["created_at", "created_by"]
    actions = ["send_test"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request_actor(request)
        super().save_model(request, obj, form, change)

    @admin.action(description="Send test notification", permissions=["change"])
    def send_test(self, request, queryset) -> None:
        for channel in queryset:
            delivery = services.channel_test(channel=channel, actor=request_actor(request))
            attempt = delivery.attempt_log.last()
            if delivery.status == "delivered":
                self.message_user(request, f"{channel.name}: delivered.", messages.SUCCESS)
            else:
                detail = attempt.error or f"HTTP {attempt.status_code}" if attempt else "not sent"
                self.message_user(request, f"{channel.name}: failed ({detail}).", messages.ERROR)


@admin.register(Silence)
class SilenceAdmin(AuditedAdmin):
    list_display = ["id", "matchers", "starts_at", "ends_at", "active", "created_by", "comment"]
    search_fields = ["comment", "created_by"]
    readonly_fields = ["created_by", "created_at"]

    @admin.display(boolean=True)
    def active(self, silence: Silence) -> bool:
        return silence.starts_at <= timezone.now() < silence.ends_at

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request_actor(request)
        super().save_model(request, obj, form, change)


@admin.register(ConfigChange)
class ConfigChangeAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "object_type", "object_name", "changes"]
    list_filter = ["object_type", "action"]
    search_fields = ["actor", "object_name"]
    readonly_fields = [f.name for f in ConfigChange._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
