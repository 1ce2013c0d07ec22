from django.apps import AppConfig


class AlertsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.alerts"
    label = "alerts"
    verbose_name = "Alerts and incidents"

    def ready(self) -> None:
        from apps.ingest.retention import purge_register
        from apps.metrics.exposition import add_collector

        from .exposition import AlertingCollector
        from .services import retention_purge

        add_collector(AlertingCollector)
        purge_register("alerts", retention_purge)  # deliveries and timelines, daily
