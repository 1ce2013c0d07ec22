from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey as LibraryAPIKey

from .models import APIKey
from .services import api_key_revoke

# The library registers an admin for its own key model, a second "API keys" page
# whose keys have no scope and get 401 everywhere (only apps.keys.APIKey
# authenticates). Its app stays installed: its abstract model lives beside the
# concrete one. rest_framework_api_key precedes apps.keys in INSTALLED_APPS, so its
# admin is registered by the time this module runs.
if admin.site.is_registered(LibraryAPIKey):
    admin.site.unregister(LibraryAPIKey)


@admin.register(APIKey)
class ScopedAPIKeyAdmin(APIKeyModelAdmin):
    list_display = [*APIKeyModelAdmin.list_display, "scope", "last_used_at"]
    list_filter = [*APIKeyModelAdmin.list_filter, "scope"]
    actions = ["revoke_keys"]

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset):
        keys = list(queryset.filter(revoked=False))
        for key in keys:
            api_key_revoke(key=key)
        self.message_user(request, f"{len(keys)} key(s) revoked.")
