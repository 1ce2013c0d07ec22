from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin

from .models import APIKey
from .services import api_key_revoke


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
