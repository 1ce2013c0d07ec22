from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Health checks and SLA"

    def ready(self) -> None:
        from apps.alerts.evaluation import measured_elsewhere_register
        from apps.ingest.retention import purge_register

        from . import alerting, builtin, services  # noqa: F401 - builtin registers its checks

        purge_register("monitoring", services.retention_purge)

        # The checks evaluate these rules as they are stored; the alert cycle leaves them.
        measured_elsewhere_register(alerting.is_service_rule, alerting.service_failures_now)
        measured_elsewhere_register(alerting.is_services_down_rule, alerting.services_down_now)
