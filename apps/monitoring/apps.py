from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Health checks and SLA"

    def ready(self) -> None:
        from apps.alerts.evaluation import measured_elsewhere_register
        from apps.ingest.partitions import time_table_register
        from apps.ingest.retention import purge_register

        from . import alerting, builtin, services  # noqa: F401 - builtin registers its checks
        from .models import HealthCheck
        from .selectors import checks_retention_cutoff

        purge_register("monitoring", services.retention_purge)
        time_table_register(
            "health_check",
            HealthCheck,
            column="checked_at",
            cutoff=lambda now: checks_retention_cutoff(now=now),
        )

        # The checks evaluate these rules as they are stored; the alert cycle leaves them.
        measured_elsewhere_register(alerting.is_service_rule, alerting.service_failures_now)
        measured_elsewhere_register(alerting.is_services_down_rule, alerting.services_down_now)
