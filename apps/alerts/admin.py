"""Triage in the admin: the on-call screen is the incident list.

Every action goes through the services, as `user:<username>`, so the timeline
says who did what, exactly as for API changes.
"""

import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Case, When
from django.http import Http404, HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST, require_safe

from apps.core.secrets import mask_credentials
from apps.ingest.privacy import scrub, scrub_text
from apps.keys.permissions import request_actor

from . import selectors, services
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


class WriteThroughAdmin(admin.ModelAdmin):
    """A ModelAdmin whose saves and deletions are the app's services, as `user:<name>`:
    the rules the API follows (the trail, a rule's restart, resolving a deleted rule's
    incidents, the channel target check, a monitored service's rule) hold for the admin
    too, written once. The alerting's admins and the monitoring's use it.

    Subclasses give `service_create(data, actor)`, `service_update(obj, data, actor)`
    and `service_delete(obj, actor)`. The form's cleaned values go to them: every field on an add,
    the changed ones on a change; many-to-many fields too (the service sets them).
    A form checks its input first (a channel's target in `AlertChannel.clean`, with
    the services' own check), so a refusal is a message on the form, not a 500.
    """

    # A field holding credentials (a target URL's token or password): a list shows it
    # masked (`masked_target`), and so does the page of a user who may only view it.
    secret_field: str | None = None

    @admin.display(description="target")
    def masked_target(self, obj: models.Model) -> str:
        return mask_credentials(getattr(obj, self.secret_field or "", "") or "")

    def _masks(self, request, obj) -> bool:
        return self.secret_field is not None and not self.has_change_permission(request, obj)

    def get_fields(self, request, obj=None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if self._masks(request, obj):
            fields = ["masked_target" if f == self.secret_field else f for f in fields]
        return fields

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if self._masks(request, obj):
            fields.append("masked_target")
        return fields

    def service_create(self, data: dict, actor: str) -> models.Model:
        raise NotImplementedError

    def service_update(self, obj: models.Model, data: dict, actor: str) -> models.Model:
        raise NotImplementedError

    def service_delete(self, obj: models.Model, actor: str) -> None:
        raise NotImplementedError

    def save_model(self, request, obj, form, change) -> None:
        actor = request_actor(request)
        fields = form.changed_data if change else list(form.fields)
        data = {name: form.cleaned_data[name] for name in fields if name in form.cleaned_data}
        if change:
            current = type(obj).objects.get(pk=obj.pk)
            # What a form counts as changed may be equal in value (`{}` typed again).
            plain = {f.name for f in current._meta.concrete_fields}
            data = {
                name: value
                for name, value in data.items()
                if name not in plain or getattr(current, name) != value
            }
            saved = self.service_update(current, data, actor) if data else current
        else:
            saved = self.service_create(data, actor)
        # The admin goes on with `obj` (its messages, its redirect): make it the saved row.
        for field in saved._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def save_related(self, request, form, formsets, change) -> None:
        # Many-to-many fields were the service's to set (form.save_m2m would redo them
        # behind its back); inlines, if any, are saved as usual.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj) -> None:
        self.service_delete(obj, request_actor(request))

    def delete_queryset(self, request, queryset) -> None:
        actor = request_actor(request)
        for obj in queryset:
            self.service_delete(obj, actor)


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
    # The page: the rule's metric around the incident and the triage buttons; the list
    # reads itself again every `list_refresh_seconds` while nothing on it is selected.
    change_form_template = "admin/alerts/alertincident/change_form.html"
    change_list_template = "admin/alerts/alertincident/change_list.html"
    list_refresh_seconds = 30
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
        # Free text: secrets pasted in are redacted, as everywhere.
        obj.resolution_notes = scrub_text(obj.resolution_notes)
        AlertIncident.objects.filter(pk=obj.pk).update(resolution_notes=obj.resolution_notes)

    def changelist_view(self, request, extra_context=None):
        extra = {"refresh_seconds": self.list_refresh_seconds, **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def get_urls(self):
        # The buttons change state: POST with the CSRF token that admin_view checks; a GET
        # (a link, a prefetch, an image) is a 405 and changes nothing.
        def post(view, name: str):
            return path(
                f"<int:pk>/{name}/",
                self.admin_site.admin_view(require_POST(view)),
                name=f"alerts_alertincident_{name}",
            )

        own = [
            path(
                "<int:pk>/chart/",
                self.admin_site.admin_view(require_safe(self.chart_view)),
                name="alerts_alertincident_chart",
            ),
            post(self.acknowledge_view, "acknowledge"),
            post(self.resolve_view, "resolve"),
            post(self.silence_view, "silence"),
        ]
        return own + super().get_urls()

    def _incident(self, request, pk: int, allowed) -> AlertIncident:
        incident = self.get_object(request, str(pk))
        if incident is None:
            raise Http404("No such incident.")
        if not allowed(request, incident):
            raise PermissionDenied
        return incident

    def chart_view(self, request, pk: int) -> JsonResponse:
        """The incident page's chart as JSON (selectors.incident_chart)."""
        incident = self._incident(request, pk, self.has_view_permission)
        return JsonResponse(selectors.incident_chart(incident=incident), encoder=DjangoJSONEncoder)

    def _act(self, request, pk: int, change, done: str) -> HttpResponseRedirect:
        incident = self._incident(request, pk, self.has_change_permission)
        try:
            change(incident, request_actor(request))
        except services.TransitionError as exc:
            self.message_user(request, f"#{incident.pk}: {exc}", messages.WARNING)
        else:
            self.message_user(request, f"Incident #{incident.pk} {done}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:alerts_alertincident_change", args=[pk]))

    def acknowledge_view(self, request, pk: int) -> HttpResponseRedirect:
        return self._act(
            request,
            pk,
            lambda i, actor: services.incident_acknowledge(incident_id=i.pk, actor=actor),
            "acknowledged",
        )

    def resolve_view(self, request, pk: int) -> HttpResponseRedirect:
        note = request.POST.get("note", "").strip()[:2000] or "from the admin"
        return self._act(
            request,
            pk,
            lambda i, actor: services.incident_resolve(incident_id=i.pk, actor=actor, note=note),
            "resolved",
        )

    def silence_view(self, request, pk: int):
        key = request.POST.get("duration", "")
        if key not in SILENCES:
            self._incident(request, pk, self.has_change_permission)  # 404/403 come first
            return HttpResponseBadRequest(f"duration must be one of {', '.join(SILENCES)}.")
        return self._act(
            request,
            pk,
            lambda i, actor: services.incident_silence(
                incident_id=i.pk, actor=actor, duration=SILENCES[key]
            ),
            f"silenced for {key}",
        )

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


def _tags_scrubbed(data: dict) -> dict:
    # As the API's tags (serializers.TagsField): secrets redacted, as ingest stores labels.
    if isinstance(data.get("tags"), dict):
        data = {**data, "tags": scrub(data["tags"])}
    return data


@admin.register(AlertRule)
class AlertRuleAdmin(WriteThroughAdmin):
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

    def get_changeform_initial_data(self, request) -> dict:
        # The add form filled in from a link (the console's "Alert on this"): `tags` comes
        # as JSON text; given as is, the JSON field would show it as one quoted string.
        initial = super().get_changeform_initial_data(request)
        if isinstance(initial.get("tags"), str):
            try:
                tags = json.loads(initial["tags"])
            except ValueError:
                tags = None
            if isinstance(tags, dict):
                initial["tags"] = tags
            else:
                del initial["tags"]
        return initial

    def get_urls(self):
        # A state change (it may open an incident and notify): POST with the CSRF token
        # that admin_view checks; a GET, such as a cross-site link or image, is a 405.
        own = [
            path(
                "<int:pk>/evaluate/",
                self.admin_site.admin_view(require_POST(self.evaluate_view)),
                name="alerts_alertrule_evaluate",
            )
        ]
        return own + super().get_urls()

    def evaluate_view(self, request, pk: int):
        rule = self.get_object(request, str(pk))
        if rule is None or not self.has_change_permission(request, rule):
            return HttpResponseRedirect(reverse("admin:alerts_alertrule_changelist"))
        try:
            result = services.rule_evaluate_now(rule=rule)
        except services.RuleDisabledError:
            self.message_user(request, "The rule is disabled; enable it first.", messages.WARNING)
        else:
            self.message_user(
                request,
                f"{rule.name}: value {_short(result.value)}, state {result.state}"
                + (f", incident #{result.incident_id}" if result.incident_id else ""),
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:alerts_alertrule_change", args=[pk]))

    def service_create(self, data: dict, actor: str) -> AlertRule:
        return services.rule_create(data=_tags_scrubbed(data), actor=actor)

    def service_update(self, obj: AlertRule, data: dict, actor: str) -> AlertRule:
        return services.rule_update(rule=obj, data=_tags_scrubbed(data), actor=actor)

    def service_delete(self, obj: AlertRule, actor: str) -> None:
        services.rule_delete(rule=obj, actor=actor)


class WriteOnlySecretField(forms.CharField):
    """A secret typed in, never shown back: the page renders it empty, and an empty
    submit means "unchanged" (not "changed to empty"), so the history does not say so."""

    widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})

    def has_changed(self, initial, data) -> bool:
        return bool(data)


class AlertChannelForm(forms.ModelForm):
    secret = WriteOnlySecretField(
        required=False,
        max_length=AlertChannel._meta.get_field("secret").max_length,
        help_text="Signs webhook bodies (HMAC-SHA256). Never shown; leave empty to keep "
        "the stored one.",
    )
    clear_secret = forms.BooleanField(
        required=False, label="Remove the secret", help_text="Stop signing webhook bodies."
    )

    class Meta:
        model = AlertChannel
        fields = ["name", "type", "target", "secret"]

    @cached_property
    def changed_data(self) -> list[str]:
        # Removing the secret changes it, though nothing was typed in its field.
        names = super().changed_data
        if "clear_secret" in names and "secret" not in names:
            names = [*names, "secret"]
        return names

    def clean(self) -> dict:
        cleaned = super().clean()
        clear = cleaned.pop("clear_secret", False)
        if clear and cleaned.get("secret"):
            raise forms.ValidationError("Type a new secret or remove it, not both.")
        if clear:
            cleaned["secret"] = ""
        elif not cleaned.get("secret"):
            # Not typed: the stored secret stays (absent from cleaned_data, so neither
            # the instance nor the service's data gets it).
            cleaned.pop("secret", None)
        return cleaned


@admin.register(AlertChannel)
class AlertChannelAdmin(WriteThroughAdmin):
    form = AlertChannelForm
    secret_field = "target"
    list_display = ["name", "type", "masked_target", "created_by", "created_at"]
    list_filter = ["type"]
    # Not the target: it is encrypted at rest (apps/core/secrets.py), SQL cannot search it.
    search_fields = ["name"]
    readonly_fields = ["created_at", "created_by"]
    actions = ["send_test"]

    def service_create(self, data: dict, actor: str) -> AlertChannel:
        return services.channel_create(data=data, actor=actor)

    def service_update(self, obj: AlertChannel, data: dict, actor: str) -> AlertChannel:
        return services.channel_update(channel=obj, data=data, actor=actor)

    def service_delete(self, obj: AlertChannel, actor: str) -> None:
        services.channel_delete(channel=obj, actor=actor)

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
class SilenceAdmin(WriteThroughAdmin):
    list_display = ["id", "matchers", "starts_at", "ends_at", "active", "created_by", "comment"]
    search_fields = ["comment", "created_by"]
    readonly_fields = ["created_by", "created_at"]
    actions = ["expire"]

    @admin.display(boolean=True)
    def active(self, silence: Silence) -> bool:
        return silence.starts_at <= timezone.now() < silence.ends_at

    def service_create(self, data: dict, actor: str) -> Silence:
        return services.silence_create(
            matchers=data["matchers"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            comment=data.get("comment", ""),
            actor=actor,
        )

    def service_update(self, obj: Silence, data: dict, actor: str) -> Silence:
        return services.silence_update(silence=obj, data=data, actor=actor)

    def service_delete(self, obj: Silence, actor: str) -> None:
        # As the API's DELETE: a silence is kept for the record, ended now.
        services.silence_expire(silence=obj, actor=actor)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # silences are kept: "Expire now" ends one (as the API's DELETE)

    @admin.action(description="Expire now (end the silence; it is kept)", permissions=["change"])
    def expire(self, request, queryset) -> None:
        for silence in queryset:
            self.service_delete(silence, request_actor(request))
        self.message_user(request, f"{len(queryset)} silence(s) expired.", messages.SUCCESS)


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
