from django.apps import AppConfig


class SentryIngestConfig(AppConfig):
    """The endpoints the Sentry SDKs post to; events land as errors (apps.errors' kind)."""

    name = "apps.sentry_ingest"
    label = "sentry_ingest"
