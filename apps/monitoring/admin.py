from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from rest_framework.exceptions import ValidationError

from apps.alerts.admin import WriteThroughAdmin

from . import serializers as io
from . import services
from .models import SERVICE_READ_ONLY_FIELDS, Downtime, HealthCheck, MonitoredService

STATUS_COLORS = {"healthy": "#2f855a", "degraded": "#b7791f", "unhealthy": "#c53030"}


@admin.action(permissions=["delete"], description="Delete selected monitored services")
def delete_selected(modeladmin, request, queryset):
    """Django's bulk delete (its confirmation page), refused up front if the selection
    holds a service the services refuse to delete; each deletion goes through them."""
    for service in queryset:
        try:
            services.service_delete_guard(service)
        except services.ServiceProtectedError as exc:
            modeladmin.message_user(request, f"{exc} ({service.name})", messages.ERROR)
            return None
    return django_delete_selected(modeladmin, request, queryset)


class ServiceForm(forms.ModelForm):
    def clean(self) -> dict:
        """The API's rules for a target and a timeout, so both refuse the same services."""
        cleaned = super().clean()
        instance = self.instance if self.instance.pk else None
        try:
            io.ServiceSerializer(instance=instance).validate(dict(cleaned))
        except ValidationError as exc:
            for field, errors in exc.detail.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(MonitoredService)
class MonitoredServiceAdmin(WriteThroughAdmin):
    """Saves and deletes go through services.py, like the API's: a service made here gets
    its alert rule, a deleted one takes its rule along, built-in checks stay."""

    list_display = [
        "name",
        "status_badge",
        "check_type",
        "masked_target",
        "interval_seconds",
        "consecutive_failures",
        "last_response_time_ms",
        "last_checked_at",
        "enabled",
        "public",
        "health_key",
    ]
    list_filter = ["status", "check_type", "enabled", "public"]
    # Not the target: it is encrypted at rest (apps/core/secrets.py), SQL cannot search it.
    search_fields = ["name"]
    secret_field = "target"  # masked in the list, and for a user who may only view
    readonly_fields = [*SERVICE_READ_ONLY_FIELDS, "ping_token", "next_check_at"]
    form = ServiceForm
    actions = [delete_selected]

    @admin.display(description="status", ordering="status")
    def status_badge(self, service: MonitoredService) -> str:
        return format_html(
            '<strong style="color:{}">{}</strong>',
            STATUS_COLORS.get(service.status, "inherit"),
            service.status,
        )

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Ours replaces Django's under the same name (the site-wide action is added first).
        actions["delete_selected"] = self.get_action(delete_selected)
        return actions

    def service_create(self, data: dict, actor: str) -> MonitoredService:
        return services.service_create(data=data, actor=actor)

    def service_update(self, obj: MonitoredService, data: dict, actor: str) -> MonitoredService:
        return services.service_update(service=obj, data=data, actor=actor)

    def service_delete(self, obj: MonitoredService, actor: str) -> None:
        services.service_delete(service=obj, actor=actor)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # A service's checks and downtimes are its own: whoever may delete the service
        # deletes them with it (service_delete), without a permission on those tables.
        own = {HealthCheck._meta.verbose_name, Downtime._meta.verbose_name}
        return deleted, counts, perms_needed - own, protected

    def delete_view(self, request, object_id, extra_context=None):
        service = self.get_object(request, object_id)
        if service is not None:
            try:
                services.service_delete_guard(service)
            except services.ServiceProtectedError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                url = reverse("admin:monitoring_monitoredservice_change", args=[service.pk])
                return HttpResponseRedirect(url)
        return super().delete_view(request, object_id, extra_context)


@admin.register(HealthCheck)
class HealthCheckAdmin(admin.ModelAdmin):
    list_display = ["checked_at", "service", "status", "response_time_ms", "error"]
    list_filter = ["status", "service"]
    date_hierarchy = "checked_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
