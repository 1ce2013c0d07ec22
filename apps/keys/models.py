from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class Scope(models.TextChoices):
    INGEST = "ingest", "ingest (write-only, safe in a frontend)"
    READ = "read", "read"
    ADMIN = "admin", "admin (configuration and triage; reads too)"


class APIKey(AbstractAPIKey):
    """A client key; only its hash is stored (djangorestframework-api-key)."""

    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.INGEST)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
