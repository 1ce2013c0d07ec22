from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "apps.ingest"
    label = "ingest"

    def ready(self) -> None:
        from django.core import checks

        from .retention import retention_overrides_check

        checks.register(retention_overrides_check)
